/**
 * Slow consumers: an admin that stops reading is closed with 1013 once its
 * send buffer passes the cap, and later terminated if it never drains, so
 * it cannot grow server memory. Other admins and the clients carry on. A
 * client that asks for pongs and never reads them goes the same way.
 */
import type { Socket } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CloseCode, CloseReason, Defaults } from '../src/constants.js';
import { countActiveUsers, getUserBySessionId } from '../src/repository.js';
import { captureLogs } from './helpers/log-capture.js';
import { encodeFrame, Opcode, rawUpgrade, type RawPeer } from './helpers/raw-ws.js';
import { startTracker, TOKEN, type TestTracker } from './helpers/tracker.js';
import { connectAdmin, connectClient, waitFor } from './helpers/ws-client.js';

const test = suite('slow consumer');
const CAP = 64 * 1024;
const TOO_SLOW = 'admin too slow; closing';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stalledAdmin(t: TestTracker): Promise<RawPeer> {
  const peer = await rawUpgrade(t.port, '/admin/stream', { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.is(peer.status, 101);
  await peer.nextJson((m) => m.type === 'snapshot');
  // From here on it reads nothing: the kernel buffers fill, then the server's.
  peer.socket.pause();
  return peer;
}

function connections(t: TestTracker): Promise<number> {
  return new Promise((resolve, reject) => t.server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
}

test('an admin that stops reading while asking for replies is closed with 1013; others unaffected', async () => {
  const logs = captureLogs('info');
  const t = await startTracker({ adminMaxBufferedBytes: CAP, logger: logs.logger });
  try {
    const reader = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    const client = await connectClient(t.wsUrl('/ws'));
    const stuck = await stalledAdmin(t);
    const batch = Buffer.concat(Array.from({ length: 5000 }, () => encodeFrame({ opcode: Opcode.TEXT, payload: '{"type":"ping"}' })));
    let batches = 0;
    while (logs.find(TOO_SLOW).length === 0) {
      assert.ok(batches < 2000, 'never closed');
      stuck.socket.write(batch);
      batches++;
      await sleep(batches % 10 === 0 ? 20 : 1);
    }
    const [line] = logs.find(TOO_SLOW);
    assert.ok(line.buffered > CAP && line.buffered < CAP + 1024, `buffer bounded by the cap, was ${line.buffered}`);
    assert.is(t.tracker.admins, 1, 'only the reading admin is left');
    // Once it reads again, the close frame is at the end of what it gets
    // (read within the grace period before the server gives up on it).
    stuck.collect = false;
    stuck.socket.resume();
    assert.equal(await stuck.closed, { code: CloseCode.TRY_AGAIN_LATER, reason: CloseReason.SLOW_CONSUMER });
    stuck.destroy();
    // The reading admin and the client never noticed.
    const other = await connectClient(t.wsUrl('/ws'));
    await reader.next((m) => m.type === 'connected' && m.user.sessionId === other.sessionId);
    client.send({ type: 'ping' });
    await client.next((m) => m.type === 'pong');
    assert.is(await countActiveUsers(t.tracker.db), 2);
    for (const c of [reader, client, other]) await c.close();
  } finally {
    await t.close();
  }
});

test('an admin that never drains is closed on the event stream and then terminated', async () => {
  const logs = captureLogs('info');
  const t = await startTracker({ adminMaxBufferedBytes: CAP, logger: logs.logger });
  const serverSockets: Socket[] = [];
  t.server.on('connection', (s) => serverSockets.push(s));
  try {
    const reader = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    const stuck = await stalledAdmin(t);
    const serverSide = serverSockets.at(-1)!;
    const before = await connections(t);
    // Fill the kernel buffers with small replies until Node itself starts
    // queueing for this socket (still far under the cap)...
    const batch = Buffer.concat(Array.from({ length: 500 }, () => encodeFrame({ opcode: Opcode.TEXT, payload: '{"type":"ping"}' })));
    while (serverSide.writableLength === 0) {
      stuck.socket.write(batch);
      await sleep(2);
    }
    assert.ok(serverSide.writableLength < CAP);
    assert.is(logs.find(TOO_SLOW).length, 0);
    // ...then let the event stream (~2 KB per connected event) push it over.
    const options = { headers: { 'user-agent': 'U'.repeat(500) } };
    const url = t.wsUrl(`/ws?user=${'n'.repeat(500)}&pad=${'p'.repeat(500)}`);
    let cycles = 0;
    while (logs.find(TOO_SLOW).length === 0) {
      assert.ok(cycles < 500, 'never closed');
      const c = await connectClient(url, options);
      await c.close();
      cycles++;
    }
    assert.is(t.tracker.admins, 1);
    // It never reads, so it never answers the close: the server lets it go
    // anyway, after the grace (waited for with room to spare: the grace
    // began at the close, before this wait).
    await waitFor(async () => (await connections(t)) < before, Defaults.slowConsumerGraceMs + 5000, 'the stalled socket to be terminated');
    assert.ok(serverSide.destroyed);
    // The reading admin got every event.
    const last = await connectClient(t.wsUrl('/ws'));
    await reader.next((m) => m.type === 'connected' && m.user.sessionId === last.sessionId);
    assert.is(reader.inbox.filter((m) => m.type === 'connected').length, cycles + 1);
    stuck.destroy();
    await last.close();
    await reader.close();
  } finally {
    await t.close();
  }
});

test('a client that asks for pongs and never reads them is closed with 1013 and its row removed', async () => {
  const t = await startTracker({ maxMessagesPerSecond: 1_000_000 });
  try {
    const bystander = await connectClient(t.wsUrl('/ws'));
    const peer = await rawUpgrade(t.port, '/ws');
    const welcome = await peer.nextJson((m) => m.type === 'welcome');
    peer.socket.pause();
    const batch = Buffer.concat(Array.from({ length: 5000 }, () => encodeFrame({ opcode: Opcode.TEXT, payload: '{"type":"ping"}' })));
    let batches = 0;
    while (t.tracker.connections === 2) {
      assert.ok(batches < 2000, 'never closed');
      peer.socket.write(batch);
      batches++;
      await sleep(batches % 10 === 0 ? 20 : 1);
    }
    peer.collect = false;
    peer.socket.resume();
    assert.equal(await peer.closed, { code: CloseCode.TRY_AGAIN_LATER, reason: CloseReason.SLOW_CONSUMER });
    peer.destroy();
    await waitFor(async () => (await getUserBySessionId(t.tracker.db, welcome.sessionId)) === undefined, 5000, 'row removed');
    bystander.send({ type: 'ping' });
    await bystander.next((m) => m.type === 'pong');
    assert.is(await countActiveUsers(t.tracker.db), 1);
    await bystander.close();
  } finally {
    await t.close();
  }
});

test.run();
