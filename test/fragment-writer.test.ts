/**
 * FragmentWriter and BufferPool over a real ws server: text split by its
 * UTF-8 size into fragments of one message, a text larger than a buffer,
 * buffers coming back once written and taken again, none back from a
 * failed write, and the pool's bound and idle release.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketServer, type WebSocket } from 'ws';
import { BufferPool } from '../src/buffer-pool.js';
import { FragmentWriter } from '../src/fragment-writer.js';
import { Opcode, rawUpgrade, type RawPeer } from './helpers/raw-ws.js';
import { waitFor } from './helpers/ws-client.js';

const writer = suite('FragmentWriter');

const BUFFER_BYTES = 1024;

/** A ws server socket and the raw peer on the other end. */
async function pair(): Promise<{ socket: WebSocket; peer: RawPeer; close(): Promise<void> }> {
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const peer = await rawUpgrade((server.address() as AddressInfo).port, '/');
  const socket = await accepted;
  return {
    socket,
    peer,
    async close() {
      peer.destroy();
      socket.terminate();
      wss.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The message's text from its frames, once the last has come. */
async function message(peer: RawPeer): Promise<string> {
  await waitFor(() => peer.frames.some((f) => f.fin), 3000, 'the last fragment');
  return Buffer.concat(peer.frames.map((f) => f.payload)).toString();
}

writer('fills buffers by UTF-8 size, one fragment each, and gives them back once written for the next message', async () => {
  const p = await pair();
  const pool = new BufferPool(BUFFER_BYTES, 16, 60_000);
  try {
    let written = 0;
    const out = new FragmentWriter(p.socket, pool, () => written++);
    // 3 bytes each: 200 of them (600 bytes) fit once in a buffer, not twice.
    const part = '€'.repeat(200);
    for (let i = 0; i < 5; i++) out.write(part);
    out.end();
    assert.is(await message(p.peer), part.repeat(5));
    assert.equal(p.peer.frames.map((f) => f.opcode), [Opcode.TEXT, Opcode.CONTINUATION, Opcode.CONTINUATION, Opcode.CONTINUATION, Opcode.CONTINUATION]);
    assert.equal(p.peer.frames.map((f) => f.payload.length), [600, 600, 600, 600, 600]);
    await waitFor(() => written === 1, 3000, 'written');
    assert.is(pool.kept, 5, 'every buffer back');

    p.peer.frames.length = 0;
    const again = new FragmentWriter(p.socket, pool, () => written++);
    again.write('a');
    assert.is(pool.kept, 4, 'the next message takes a kept buffer');
    again.end();
    assert.is(await message(p.peer), 'a');
    await waitFor(() => written === 2 && pool.kept === 5, 3000, 'back again');
  } finally {
    pool.clear();
    await p.close();
  }
});

writer('a text larger than a buffer goes out as a fragment of its own, between the buffered ones', async () => {
  const p = await pair();
  const pool = new BufferPool(BUFFER_BYTES, 16, 60_000);
  try {
    const out = new FragmentWriter(p.socket, pool, () => {});
    const big = 'b'.repeat(BUFFER_BYTES * 3);
    out.write('[');
    out.write(big);
    out.write(']');
    out.end();
    assert.is(await message(p.peer), `[${big}]`);
    assert.equal(p.peer.frames.map((f) => [f.opcode, f.payload.length, f.fin]), [[Opcode.TEXT, 1, false], [Opcode.CONTINUATION, BUFFER_BYTES * 3, false], [Opcode.CONTINUATION, 1, true]]);
  } finally {
    pool.clear();
    await p.close();
  }
});

writer('nothing written: end() still sends the final fragment', async () => {
  const p = await pair();
  const pool = new BufferPool(BUFFER_BYTES, 16, 60_000);
  try {
    new FragmentWriter(p.socket, pool, () => {}).end();
    assert.is(await message(p.peer), '');
    assert.equal(p.peer.frames.map((f) => [f.opcode, f.fin]), [[Opcode.TEXT, true]]);
  } finally {
    await p.close();
  }
});

writer('on a socket that fails, written() still runs and no buffer comes back, but another may be made', async () => {
  const p = await pair();
  const pool = new BufferPool(BUFFER_BYTES, 1, 60_000);
  try {
    let written = 0;
    p.socket.terminate();
    const out = new FragmentWriter(p.socket, pool, () => written++);
    out.write('x'.repeat(BUFFER_BYTES));
    out.end();
    await waitFor(() => written === 1, 3000, 'written() after the failure');
    assert.is(pool.kept, 0, 'ws may still refer to a buffer whose write failed');
    assert.ok(pool.take() !== undefined, 'the lost buffer does not count against the pool');
  } finally {
    await p.close();
  }
});

writer('once the pool has no buffer left, the rest of the message goes as text fragments of the same size', async () => {
  const p = await pair();
  const pool = new BufferPool(BUFFER_BYTES, 2, 60_000);
  try {
    let written = 0;
    const out = new FragmentWriter(p.socket, pool, () => written++);
    const row = 'é'.repeat(100); // 200 bytes
    for (let i = 0; i < 40; i++) out.write(row); // 8,000 bytes: 2 buffers, then text
    out.end();
    assert.is(await message(p.peer), row.repeat(40));
    const frames = p.peer.frames;
    assert.equal(frames.map((f) => f.opcode), [Opcode.TEXT, ...frames.slice(1).map(() => Opcode.CONTINUATION)]);
    assert.equal(frames.map((f) => f.fin), frames.map((_, i) => i === frames.length - 1));
    assert.equal(frames.slice(0, 2).map((f) => f.payload.length), [1000, 1000], 'the two buffers, five rows each');
    assert.ok(frames.length > 3, 'then text pieces');
    await waitFor(() => written === 1 && pool.kept === 2, 3000, 'the buffers back, no more made');
  } finally {
    pool.clear();
    await p.close();
  }
});

writer.run();

const pool = suite('BufferPool');

pool('makes at most max buffers, hands them out again, and lets them all go once idle', async () => {
  const p = new BufferPool(64, 2, 50);
  try {
    const taken = [p.take()!, p.take()!];
    assert.ok(taken.every((b) => b.length === 64));
    assert.is(p.take(), undefined, 'no third while two are out');
    for (const b of taken) p.give(b);
    assert.is(p.kept, 2);
    const again = p.take();
    assert.ok(again === taken[0] || again === taken[1], 'a kept buffer, not a new one');
    p.give(again!);
    // In use within each interval: kept; then two intervals without a take: let go.
    await waitFor(() => p.kept === 0, 3000, 'released when idle');
    const fresh = [p.take(), p.take()];
    assert.ok(fresh.every((b) => b !== undefined && !taken.includes(b)), 'new buffers after the release, as many as before');
  } finally {
    p.clear();
  }
});

pool.run();
