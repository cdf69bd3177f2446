/**
 * AdminChannel on its own, over a real ws server: the fragmented send
 * (sendInFragments) and what happens when a message fails halfway.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketServer } from 'ws';
import { AdminChannel, type AdminSession } from '../src/admin-channel.js';
import { AuthThrottle } from '../src/auth.js';
import { captureLogs } from './helpers/log-capture.js';
import { Opcode, rawUpgrade } from './helpers/raw-ws.js';
import { waitFor } from './helpers/ws-client.js';

const fragments = suite('AdminChannel.sendInFragments');

/** A channel whose every socket is accepted as authenticated and subscribed with `subscribe`. */
async function startChannel(subscribe: (channel: AdminChannel, admin: AdminSession) => void) {
  const logs = captureLogs('warn');
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const channel: AdminChannel = new AdminChannel({
    token: 'unused',
    maxAdmins: 50,
    authTimeoutMs: 5000,
    maxBufferedBytes: 1024 * 1024,
    throttle: new AuthThrottle(5, 1000),
    logger: logs.logger,
    subscribe: (admin) => subscribe(channel, admin),
    kick: () => false,
  });
  wss.on('connection', (socket) => channel.accept(socket, '127.0.0.1', true));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = async () => {
    channel.terminateAll();
    wss.close();
    await new Promise((resolve) => server.close(resolve));
  };
  return { channel, port, logs, close };
}

fragments('pieces go out as one message: a text frame, continuations, the last with FIN', async () => {
  const c = await startChannel((channel, admin) => {
    channel.sendInFragments(admin, (fragment) => {
      fragment('{"type":"snapshot",', false);
      fragment('"users":[]', false);
      fragment('}', true);
    });
    channel.join(admin);
  });
  try {
    const peer = await rawUpgrade(c.port, '/');
    await waitFor(() => peer.frames.some((f) => f.fin), 3000, 'the last fragment');
    assert.equal(peer.frames.map((f) => [f.opcode, f.fin]), [[Opcode.TEXT, false], [Opcode.CONTINUATION, false], [Opcode.CONTINUATION, true]]);
    assert.equal(JSON.parse(Buffer.concat(peer.frames.map((f) => f.payload)).toString()), { type: 'snapshot', users: [] });
    peer.destroy();
  } finally {
    await c.close();
  }
});

fragments('a message that fails after its first fragment ends that stream, logged, and the admin is forgotten', async () => {
  const c = await startChannel((channel, admin) => {
    channel.sendInFragments(admin, (fragment) => {
      fragment('{"type":"snapshot","users":[', false);
      throw new Error('serializer broke');
    });
    channel.join(admin);
  });
  try {
    const peer = await rawUpgrade(c.port, '/');
    const closed = await peer.closed;
    assert.is(closed.code, 1006, 'terminated: no close frame can follow half a message');
    assert.is(c.channel.size, 0);
    assert.is(c.channel.audienceSize, 0, 'not joined to the audience');
    assert.is(c.logs.find('admin message failed; closing its stream')[0]?.err?.message, 'serializer broke');
  } finally {
    await c.close();
  }
});

/** A snapshot of `pieces` × 256 KiB, as sendInFragments sends one, then the admin joins. */
function bigSnapshot(pieces: number) {
  const piece = 'x'.repeat(256 * 1024);
  return (channel: AdminChannel, admin: AdminSession) => {
    channel.sendInFragments(admin, (fragment) => {
      fragment('{"type":"snapshot","pad":"', false);
      for (let i = 0; i < pieces; i++) fragment(piece, false);
      fragment('"}', true);
    });
    channel.join(admin);
  };
}

const TOO_SLOW = 'admin too slow; closing';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

fragments('a snapshot larger than the buffer cap is not held against an admin that is still reading it', async () => {
  // 16 MiB against a 1 MiB cap: more than the kernel's buffers take, so
  // most of it waits in Node's, as a large snapshot does on a slow link.
  const c = await startChannel(bigSnapshot(64));
  try {
    const peer = await rawUpgrade(c.port, '/');
    peer.socket.pause(); // the link is slower than the server: it reads, later
    await waitFor(() => c.channel.audienceSize === 1, 3000, 'the admin to join');
    await sleep(20);
    for (let i = 0; i < 10; i++) c.channel.broadcast({ type: 'connected', i });
    assert.is(c.logs.find(TOO_SLOW).length, 0, 'cut off for its own snapshot');
    assert.is(c.channel.audienceSize, 1);
    peer.socket.resume();
    await waitFor(() => peer.frames.filter((f) => f.fin).length === 11, 10_000, 'the snapshot and every event');
    assert.is(c.logs.find(TOO_SLOW).length, 0);
    const events = peer.frames.filter((f) => f.fin).slice(1).map((f) => JSON.parse(f.payload.toString()).i);
    assert.equal(events, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    peer.destroy();
  } finally {
    await c.close();
  }
});

fragments('behind a large snapshot, events an admin does not read are still bounded by the cap', async () => {
  const c = await startChannel(bigSnapshot(64));
  try {
    const peer = await rawUpgrade(c.port, '/');
    peer.socket.pause(); // and never reads again
    await waitFor(() => c.channel.audienceSize === 1, 3000, 'the admin to join');
    await sleep(20);
    const event = { type: 'activity', pad: 'a'.repeat(1024) };
    let sent = 0;
    while (c.channel.audienceSize === 1) {
      assert.ok(sent < 2048, 'never closed: events behind the snapshot grew past the cap');
      c.channel.broadcast(event);
      sent++;
    }
    assert.ok(sent > 512, `closed after ${sent} events of 1 KiB, well under the 1 MiB cap`);
    assert.is(c.logs.find(TOO_SLOW).length, 1);
    peer.destroy();
  } finally {
    await c.close();
  }
});

fragments.run();
