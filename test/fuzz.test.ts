/**
 * Property tests: random bytes and random frames after the upgrade, random
 * client messages and random admin messages. The server never throws,
 * answers exactly as the protocol says, stays healthy, and afterwards the
 * table matches the live set.
 */
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CloseCode, CloseReason } from '../src/constants.js';
import { listSessionIds } from '../src/repository.js';
import { encodeFrame, Opcode, rawUpgrade } from './helpers/raw-ws.js';
import { startTracker, TOKEN, type TestTracker } from './helpers/tracker.js';
import { connect, connectAdmin, connectClient, waitFor } from './helpers/ws-client.js';

const test = suite('fuzz');
const RUNS = Number(process.env.FUZZ_RUNS ?? 40);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let t: TestTracker;
let bystander: Awaited<ReturnType<typeof connectClient>>;
const uncaught: unknown[] = [];
const onUncaught = (error: unknown) => {
  console.error('uncaught in fuzz:', error);
  uncaught.push(error);
};

test.before(async () => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  t = await startTracker({ maxPayload: 4096, maxMessagesPerSecond: 100_000, authFailureLimit: 1000 });
  bystander = await connectClient(t.wsUrl('/ws'));
});

test.after(async () => {
  await bystander.close();
  await t.close();
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});

/** Healthy, bystander served, and the table equals the live set (only the bystander is left). */
async function assertSound(): Promise<void> {
  assert.equal(uncaught, []);
  await waitFor(() => t.tracker.connections === 1, 10_000, 'fuzzed sockets to be gone');
  await waitFor(async () => (await listSessionIds(t.tracker.db)).length === 1, 5000, 'rows of fuzzed sockets removed');
  assert.equal(await listSessionIds(t.tracker.db), [bystander.sessionId]);
  const res = await fetch(t.httpUrl('/health'));
  assert.is(res.status, 200);
  assert.is(((await res.json()) as { status: string }).status, 'healthy');
  bystander.send({ type: 'ping' });
  await bystander.next((m) => m.type === 'pong');
}

/** Send, then give the server a moment (or until it closes us), then hang up. */
async function fire(path: string, chunks: Uint8Array[]): Promise<void> {
  const peer = await rawUpgrade(t.port, path, path === '/admin/stream' ? { headers: { Authorization: `Bearer ${TOKEN}` } } : {});
  assert.is(peer.status, 101);
  for (const chunk of chunks) peer.socket.write(chunk);
  await Promise.race([peer.closed, sleep(15)]);
  peer.destroy();
  await peer.ended;
}

const frameArb = fc.record({
  fin: fc.boolean(),
  rsv: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 7 })),
  opcode: fc.oneof(fc.constantFrom(Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION, Opcode.PING, Opcode.PONG, Opcode.CLOSE), fc.integer({ min: 0, max: 15 })),
  mask: fc.oneof(fc.constant(true), fc.boolean()),
  payload: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 100 }).map((s) => Buffer.from(s)), fc.json().map((s) => Buffer.from(s))),
});

test('random bytes after the upgrade, on client and admin sockets', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('/ws', '/admin/stream'), fc.array(fc.uint8Array({ minLength: 1, maxLength: 600 }), { minLength: 1, maxLength: 4 }), async (path, chunks) => {
      await fire(path, chunks);
    }),
    { numRuns: RUNS },
  );
  await assertSound();
});

test('random frames after the upgrade, on client and admin sockets', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('/ws', '/admin/stream'), fc.array(frameArb, { minLength: 1, maxLength: 6 }), async (path, frames) => {
      await fire(path, frames.map((f) => encodeFrame({ ...f, payload: Buffer.from(f.payload) })));
    }),
    { numRuns: RUNS },
  );
  await assertSound();
});

/** What a message should get from the client side of the protocol. */
function isClientPing(text: string): boolean {
  if (Buffer.byteLength(text) > 128) return false;
  try {
    const m = JSON.parse(text);
    return m !== null && typeof m === 'object' && m.type === 'ping';
  } catch {
    return false;
  }
}

const messageArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
  fc.record({ type: fc.oneof(fc.constantFrom('ping', 'auth', 'kick', 'snapshot', 'pong'), fc.string()), sessionId: fc.anything(), token: fc.anything() }, { requiredKeys: ['type'] }).map((m) => JSON.stringify(m) ?? 'null'),
);

test('random client messages: answered only when they are a ping, never closed', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(messageArb, { minLength: 1, maxLength: 8 }), async (messages) => {
      const client = await connectClient(t.wsUrl('/ws'));
      const expected = messages.filter(isClientPing).length + 1;
      for (const m of messages) client.ws.send(m);
      client.send({ type: 'ping' });
      await waitFor(() => client.inbox.filter((m) => m.type === 'pong').length >= expected, 5000, 'pongs');
      // One more round trip, so that any stray extra answer would have arrived.
      client.send({ type: 'ping' });
      await waitFor(() => client.inbox.filter((m) => m.type === 'pong').length >= expected + 1, 5000, 'last pong');
      assert.is(client.inbox.filter((m) => m.type === 'pong').length, expected + 1);
      assert.ok(client.inbox.every((m) => m.type === 'welcome' || m.type === 'pong'));
      assert.is(client.ws.readyState, client.ws.OPEN);
      await client.close();
    }),
    { numRuns: RUNS },
  );
  await assertSound();
});

/** What an authenticated admin should get for one message. */
function adminOracle(text: string): 'nothing' | 'pong' | 'error' | 'close' {
  let m: any;
  try {
    m = JSON.parse(text);
  } catch {
    return 'close';
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return 'close';
  if (m.type === 'auth') return 'nothing';
  if (m.type === 'ping') return 'pong';
  if (m.type === 'kick' && typeof m.sessionId === 'string') return m.sessionId === bystander.sessionId ? 'nothing' : 'error';
  return 'close';
}

test('random admin messages: the right answer, or 1008 with a fixed reason', async () => {
  await fc.assert(
    fc.asyncProperty(messageArb, async (message) => {
      const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
      const expected = adminOracle(message);
      admin.ws.send(message);
      if (expected === 'close') {
        assert.equal(await admin.closed, { code: CloseCode.POLICY_VIOLATION, reason: CloseReason.BAD_MESSAGE });
        return;
      }
      admin.send({ type: 'ping' });
      await admin.next((m) => m.type === 'pong');
      if (expected === 'pong') await admin.next((m) => m.type === 'pong');
      if (expected === 'error') assert.ok(admin.inbox.some((m) => m.type === 'error' && m.error === 'unknown session'));
      else assert.not.ok(admin.inbox.some((m) => m.type === 'error'));
      await admin.close();
    }),
    { numRuns: RUNS * 2 },
  );
  await waitFor(() => t.tracker.admins === 0, 5000, 'admins gone');
  await assertSound();
});

test('random first messages on an unauthenticated admin socket: 1008, nothing sent', async () => {
  await fc.assert(
    fc.asyncProperty(messageArb, async (message) => {
      const admin = connect(t.wsUrl('/admin/stream'));
      await new Promise((r) => admin.ws.once('open', r));
      admin.ws.send(message);
      assert.equal(await admin.closed, { code: CloseCode.POLICY_VIOLATION, reason: CloseReason.AUTH_FAILED });
      assert.equal(admin.inbox, []);
    }),
    { numRuns: RUNS },
  );
  await assertSound();
});

test.run();
