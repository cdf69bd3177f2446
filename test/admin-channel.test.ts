/**
 * AdminChannel on its own, over a real ws server: the fragmented send
 * (sendSnapshot), what happens when a message fails halfway, the heartbeat
 * while a snapshot is written, and the budget all snapshots share.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketServer } from 'ws';
import { CloseCode, CloseReason, SnapshotBuffers } from '../src/constants.js';
import { AdminChannel, type AdminChannelOptions, type AdminSession } from '../src/admin-channel.js';
import { AuthThrottle } from '../src/auth.js';
import { captureLogs } from './helpers/log-capture.js';
import { Opcode, rawUpgrade } from './helpers/raw-ws.js';
import { waitFor } from './helpers/ws-client.js';

const fragments = suite('AdminChannel.sendSnapshot');

/** A channel whose every socket is accepted as authenticated and subscribed with `subscribe`. */
type SnapshotLimits = Partial<Pick<AdminChannelOptions, 'snapshotSendLimitMs' | 'snapshotBudgetBytes'>>;

async function startChannel(subscribe: (channel: AdminChannel, admin: AdminSession) => void, limits: SnapshotLimits = {}) {
  const logs = captureLogs('warn');
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const channel: AdminChannel = new AdminChannel({
    token: 'unused',
    maxAdmins: 50,
    authTimeoutMs: 5000,
    maxBufferedBytes: 1024 * 1024,
    snapshotSendLimitMs: 60_000,
    snapshotBudgetBytes: 1024 * 1024 * 1024,
    ...limits,
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

fragments('a snapshot goes out as one message, a fragment per filled buffer: a text frame, continuations, the last with FIN', async () => {
  // 40 KiB of UTF-8 in 20 K characters: a buffer (64 KiB) holds one part, not two.
  const part = 'é'.repeat(20 * 1024);
  const c = await startChannel((channel, admin) => {
    channel.sendSnapshot(admin, (sink) => {
      sink.write('{"type":"snapshot","pad":"');
      for (let i = 0; i < 3; i++) sink.write(part);
      sink.write('"}');
      sink.end();
    });
    channel.join(admin);
  });
  try {
    const peer = await rawUpgrade(c.port, '/');
    await waitFor(() => peer.frames.some((f) => f.fin), 3000, 'the last fragment');
    assert.equal(peer.frames.map((f) => [f.opcode, f.fin]), [[Opcode.TEXT, false], [Opcode.CONTINUATION, false], [Opcode.CONTINUATION, true]]);
    assert.ok(peer.frames.every((f) => f.payload.length <= SnapshotBuffers.bytes));
    assert.equal(JSON.parse(Buffer.concat(peer.frames.map((f) => f.payload)).toString()), { type: 'snapshot', pad: part.repeat(3) });
    peer.destroy();
  } finally {
    await c.close();
  }
});

fragments('a message that fails after its first fragment ends that stream, logged, and the admin is forgotten', async () => {
  const c = await startChannel((channel, admin) => {
    channel.sendSnapshot(admin, (sink) => {
      sink.write('{"type":"snapshot","users":[');
      sink.write('x'.repeat(SnapshotBuffers.bytes)); // the first buffer goes out
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

/** A snapshot of `pieces` × 256 KiB, written 1 KiB at a time as rows are, then the admin joins. */
function bigSnapshot(pieces: number) {
  const row = 'x'.repeat(1024);
  return (channel: AdminChannel, admin: AdminSession) => {
    channel.sendSnapshot(admin, (sink) => {
      sink.write('{"type":"snapshot","pad":"');
      for (let i = 0; i < pieces * 256; i++) sink.write(row);
      sink.write('"}');
      sink.end();
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

const heartbeat = suite('AdminChannel.heartbeat');

/** A paused raw peer that has joined with a 16 MiB snapshot, and its session. */
async function slowReader(limits?: SnapshotLimits) {
  let session: AdminSession | undefined;
  const send = bigSnapshot(64);
  const c = await startChannel((channel, admin) => {
    session = admin;
    send(channel, admin);
  }, limits);
  const peer = await rawUpgrade(c.port, '/');
  peer.socket.pause();
  await waitFor(() => c.channel.audienceSize === 1, 3000, 'the admin to join');
  return { c, peer, admin: session! };
}

heartbeat('an admin still being written its snapshot is spared; once written, the usual two-beat rule applies', async () => {
  const { c, peer, admin } = await slowReader();
  try {
    // Beat one pings; the ping waits behind the snapshot, so no pong can come.
    for (let i = 0; i < 4; i++) c.channel.heartbeat();
    assert.is(c.channel.size, 1, 'terminated while still being sent its snapshot');
    peer.socket.resume();
    await waitFor(() => peer.frames.some((f) => f.fin) && peer.frames.some((f) => f.opcode === Opcode.PING), 10_000, 'the snapshot, then the ping');
    await waitFor(() => admin.snapshotsSending === 0, 3000, 'the last fragment written');
    peer.send({ opcode: Opcode.PONG });
    await waitFor(() => admin.alive, 3000, 'the pong');
    c.channel.heartbeat();
    assert.is(c.channel.size, 1);
    // This ping goes unanswered.
    c.channel.heartbeat();
    assert.is(c.channel.size, 0, 'a silent admin with nothing left to send is terminated');
    assert.is((await peer.closed).code, 1006);
  } finally {
    peer.destroy();
    await c.close();
  }
});

heartbeat('a snapshot not written within snapshotSendLimitMs no longer spares its admin', async () => {
  const { c, peer } = await slowReader({ snapshotSendLimitMs: 1000 });
  try {
    c.channel.heartbeat();
    c.channel.heartbeat(Date.now() + 900);
    assert.is(c.channel.size, 1, 'within the limit');
    assert.is(c.logs.find('admin snapshot not read in time; closing').length, 0);
    c.channel.heartbeat(Date.now() + 1100);
    assert.is(c.channel.size, 0, 'past the limit');
    assert.is(c.logs.find('admin snapshot not read in time; closing').length, 1);
    peer.collect = false;
    peer.socket.resume(); // to see the connection end
    assert.is((await peer.closed).code, 1006);
  } finally {
    peer.destroy();
    await c.close();
  }
});

heartbeat.run();

const budget = suite('AdminChannel snapshot budget');

budget('past snapshotBudgetBytes queued for slow admins, a new admin is closed 1013; once they drain, admins get in again', async () => {
  // Each snapshot is 16 MiB, most of it left queued while its reader is paused.
  const { c, peer: first } = await slowReader({ snapshotBudgetBytes: 8 * 1024 * 1024 });
  const peers = [first];
  try {
    const second = await rawUpgrade(c.port, '/');
    peers.push(second);
    let refused: unknown;
    void second.closed.then((info) => (refused = info));
    await waitFor(() => refused !== undefined, 3000, 'the second admin to be closed');
    assert.equal(refused, { code: CloseCode.TRY_AGAIN_LATER, reason: CloseReason.SNAPSHOTS_BUSY });
    assert.is(c.channel.size, 1, 'the first admin keeps its place');
    assert.is(c.logs.find('admin snapshot refused: snapshots for other admins still queued').length, 1);
    first.collect = false;
    first.socket.resume();
    await waitFor(() => [...c.channel.sockets()].every((a) => a.snapshotsSending === 0), 10_000, 'the first snapshot written');
    const third = await rawUpgrade(c.port, '/');
    peers.push(third);
    third.collect = false;
    await waitFor(() => c.channel.size === 2, 3000, 'the third admin to join');
    assert.is(c.logs.find('admin snapshot refused: snapshots for other admins still queued').length, 1);
  } finally {
    for (const peer of peers) peer.destroy();
    await c.close();
  }
});

budget.run();
