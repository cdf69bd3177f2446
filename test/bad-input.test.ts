/**
 * Bad input from clients: protocol violations closed by the WebSocket layer
 * with the right code, oversized handshakes refused, junk messages ignored
 * on client sockets and fatal on admin sockets, fixed close reasons, and
 * bounded metadata. In every case the process survives, a bystander client
 * is undisturbed, and the closed client's row is removed.
 */
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CloseCode, CloseReason, MetadataLimits } from '../src/constants.js';
import { buildMetadata } from '../src/metadata.js';
import { countActiveUsers, getUserBySessionId, listActiveUsers } from '../src/repository.js';
import { captureLogs } from './helpers/log-capture.js';
import { closePayload, encodeFrame, Opcode, rawUpgrade, type RawPeer } from './helpers/raw-ws.js';
import { startTracker, TOKEN, type TestTracker } from './helpers/tracker.js';
import { connectAdmin, connectClient, upgradeStatus, waitFor } from './helpers/ws-client.js';

const MAX_PAYLOAD = 8192;
/** U+0000, or a surrogate half without its other half. */
const UNSTORABLE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const test = suite('bad input');

/** Upgrade a raw client on /ws and wait until its row is written. */
async function rawClient(t: TestTracker): Promise<{ peer: RawPeer; sessionId: string }> {
  const peer = await rawUpgrade(t.port, '/ws');
  assert.is(peer.status, 101);
  const welcome = await peer.nextJson((m) => m.type === 'welcome');
  assert.ok(await getUserBySessionId(t.tracker.db, welcome.sessionId), 'row written before the welcome');
  return { peer, sessionId: welcome.sessionId };
}

/** The bystander still works, the bad peer's row is gone, the table equals the live set. */
async function assertUndisturbed(t: TestTracker, bystander: Awaited<ReturnType<typeof connectClient>>, sessionId: string) {
  await waitFor(async () => (await getUserBySessionId(t.tracker.db, sessionId)) === undefined, 5000, 'row of the closed client removed');
  bystander.send({ type: 'ping' });
  await bystander.next((m) => m.type === 'pong');
  assert.is(bystander.ws.readyState, bystander.ws.OPEN);
  assert.is(t.tracker.connections, 1);
  assert.is(await countActiveUsers(t.tracker.db), 1);
  assert.ok(await getUserBySessionId(t.tracker.db, bystander.sessionId));
}

const frameCases: { name: string; code: number; wsError?: string; send(peer: RawPeer): void | Promise<void> }[] = [
  { name: 'a message over maxPayload', code: CloseCode.MESSAGE_TOO_BIG, send: (p) => p.send({ opcode: Opcode.TEXT, payload: Buffer.alloc(MAX_PAYLOAD + 1, 0x61) }) },
  { name: 'invalid UTF-8 in a text frame', code: 1007, send: (p) => p.send({ opcode: Opcode.TEXT, payload: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }) },
  { name: 'invalid UTF-8 split over fragments', code: 1007, send: (p) => {
    p.send({ opcode: Opcode.TEXT, fin: false, payload: Buffer.from([0xe2, 0x82]) });
    p.send({ opcode: Opcode.CONTINUATION, payload: Buffer.from([0x41]) });
  } },
  { name: 'an unmasked client frame', code: 1002, send: (p) => p.send({ opcode: Opcode.TEXT, payload: '{"type":"ping"}', mask: false }) },
  { name: 'reserved data opcode 0x3', code: 1002, send: (p) => p.send({ opcode: 0x3, payload: 'x' }) },
  { name: 'reserved control opcode 0xB', code: 1002, send: (p) => p.send({ opcode: 0xb, payload: 'x' }) },
  { name: 'RSV1 set without an extension', code: 1002, send: (p) => p.send({ opcode: Opcode.TEXT, rsv: 4, payload: 'x' }) },
  { name: 'RSV2 set', code: 1002, send: (p) => p.send({ opcode: Opcode.TEXT, rsv: 2, payload: 'x' }) },
  { name: 'RSV3 set', code: 1002, send: (p) => p.send({ opcode: Opcode.BINARY, rsv: 1, payload: 'x' }) },
  { name: 'a fragmented control frame', code: 1002, send: (p) => p.send({ opcode: Opcode.PING, fin: false, payload: 'x' }) },
  { name: 'a continuation with nothing to continue', code: 1002, send: (p) => p.send({ opcode: Opcode.CONTINUATION, payload: 'x' }) },
  { name: 'a close frame with an invalid code', code: 1002, send: (p) => p.send({ opcode: Opcode.CLOSE, payload: closePayload(999) }) },
  {
    // ws's maxFragments (Defaults.maxFragments = 1024) ends the flood with 1008.
    name: 'a flood of tiny fragments',
    code: CloseCode.POLICY_VIOLATION,
    wsError: 'WS_ERR_TOO_MANY_BUFFERED_PARTS',
    send: (p) => {
      const parts = [encodeFrame({ opcode: Opcode.TEXT, fin: false, payload: 'a' })];
      for (let i = 0; i < 1100; i++) parts.push(encodeFrame({ opcode: Opcode.CONTINUATION, fin: false, payload: 'a' }));
      p.send(Buffer.concat(parts));
    },
  },
  {
    // A frame that announces 8000 bytes and dribbles them one TCP segment at
    // a time: ws's maxBufferedChunks (Defaults.maxBufferedChunks = 4096)
    // stops it from queueing chunk after chunk.
    name: 'a payload dribbled in thousands of TCP chunks',
    code: CloseCode.POLICY_VIOLATION,
    wsError: 'WS_ERR_TOO_MANY_BUFFERED_PARTS',
    send: async (p) => {
      const frame = encodeFrame({ opcode: Opcode.BINARY, payload: Buffer.alloc(8000, 1) });
      p.send(frame.subarray(0, 8));
      for (let i = 8; i < frame.length && !p.socket.destroyed; i++) {
        p.socket.write(frame.subarray(i, i + 1));
        await tick();
        await tick();
      }
    },
  },
];

for (const c of frameCases) {
  test(`${c.name} → close ${c.code}, row removed, others undisturbed`, async () => {
    const logs = captureLogs('debug');
    const t = await startTracker({ maxPayload: MAX_PAYLOAD, logger: logs.logger });
    try {
      const bystander = await connectClient(t.wsUrl('/ws'));
      const { peer, sessionId } = await rawClient(t);
      await c.send(peer);
      const closed = await peer.closed;
      peer.destroy();
      assert.is(closed.code, c.code);
      if (c.wsError) assert.ok(logs.find('client protocol error').some((l) => l.code === c.wsError), 'stopped by the ws limit');
      await assertUndisturbed(t, bystander, sessionId);
      await bystander.close();
    } finally {
      await t.close();
    }
  });
}

test('request headers too many → 431 at the upgrade, too large → 431 from Node; nothing written', async () => {
  const t = await startTracker();
  try {
    const bystander = await connectClient(t.wsUrl('/ws'));
    const many = Array.from({ length: 80 }, (_, i) => `X-Junk-${i}: ${i}`);
    const tooMany = await rawUpgrade(t.port, '/ws', { rawHeaderLines: many });
    assert.is(tooMany.status, 431);
    const tooLarge = await rawUpgrade(t.port, '/ws', { headers: { 'X-Big': 'b'.repeat(20_000) } });
    assert.is(tooLarge.status, 431);
    const tooMuchAdmin = await rawUpgrade(t.port, '/admin/stream', { rawHeaderLines: many, headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.is(tooMuchAdmin.status, 431);
    assert.is(t.tracker.admins, 0);
    // Just under both limits is still fine.
    const fine = await rawUpgrade(t.port, '/ws', { rawHeaderLines: many.slice(0, 50), headers: { 'X-Big': 'b'.repeat(8000) } });
    assert.is(fine.status, 101);
    fine.destroy();
    await waitFor(() => t.tracker.connections === 1, 5000, 'the accepted raw client to go');
    await waitFor(async () => (await countActiveUsers(t.tracker.db)) === 1, 5000, 'only the bystander row');
    bystander.send({ type: 'ping' });
    await bystander.next((m) => m.type === 'pong');
    await bystander.close();
  } finally {
    await t.close();
  }
});

test('junk JSON, wrong types and unknown types are ignored on client sockets', async () => {
  const t = await startTracker();
  try {
    const client = await connectClient(t.wsUrl('/ws'));
    const junk = ['not json', '{"type":', '[]', 'null', '42', '"ping"', '{"type":42}', '{"type":["ping"]}', '{"type":"nope"}', '{"type":"auth","token":1}', '{}', ''];
    for (const message of junk) client.ws.send(message);
    client.ws.send(Buffer.from([0, 1, 2, 0xff]));
    client.send({ type: 'ping' });
    await client.next((m) => m.type === 'pong');
    assert.is(client.ws.readyState, client.ws.OPEN);
    assert.equal(client.inbox.map((m) => m.type), ['welcome', 'pong'], 'junk gets no answer');
    assert.ok(await getUserBySessionId(t.tracker.db, client.sessionId));
    await client.close();
  } finally {
    await t.close();
  }
});

test('junk, wrong types and unknown types close an admin with 1008 and a fixed reason', async () => {
  const t = await startTracker();
  try {
    const bystander = await connectClient(t.wsUrl('/ws'));
    const marker = 'ECHO-ME-' + 'x'.repeat(200);
    const junk = [`not json ${marker}`, `{"type":"${marker}"}`, '[]', 'null', '{"type":42}', '{"type":"kick"}', `{"type":"kick","sessionId":42,"x":"${marker}"}`, '{}'];
    for (const message of junk) {
      const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
      admin.ws.send(message);
      const closed = await admin.closed;
      assert.is(closed.code, CloseCode.POLICY_VIOLATION, message);
      assert.is(closed.reason, CloseReason.BAD_MESSAGE);
      assert.not.ok(closed.reason.includes('ECHO'), 'client bytes never echoed');
    }
    const binaryAdmin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    binaryAdmin.ws.send(Buffer.from('{"type":"ping"}'));
    assert.is((await binaryAdmin.closed).code, CloseCode.POLICY_VIOLATION);
    await waitFor(() => t.tracker.admins === 0, 5000, 'admins forgotten');
    // Unauthenticated junk is a failed authentication: also 1008, fixed reason.
    const raw = await rawUpgrade(t.port, '/admin/stream');
    raw.send({ opcode: Opcode.TEXT, payload: `{"type":"auth","token":"${marker}"}` });
    const refused = await raw.closed;
    raw.destroy();
    assert.is(refused.code, CloseCode.POLICY_VIOLATION);
    assert.is(refused.reason, CloseReason.AUTH_FAILED);
    bystander.send({ type: 'ping' });
    await bystander.next((m) => m.type === 'pong');
    assert.is(await countActiveUsers(t.tracker.db), 1);
    await bystander.close();
  } finally {
    await t.close();
  }
});

test('every close reason is a short fixed string', () => {
  for (const reason of Object.values(CloseReason)) {
    assert.ok(Buffer.byteLength(reason) <= 123, reason);
    assert.ok(/^[a-z ]+$/.test(reason), reason);
  }
});

test('hostile query strings and user agents are bounded and stored only as bound parameters', async () => {
  const t = await startTracker();
  try {
    const injection = `'); DROP TABLE users; --`;
    // ~9 KB of query: under Node's 16 KB header limit, far over the metadata cap.
    const query = Array.from({ length: 24 }, (_, i) => `k${i}=${encodeURIComponent(injection)}${'v'.repeat(300)}`).join('&');
    const userAgent = injection + 'U'.repeat(3000);
    const client = await connectClient(t.wsUrl(`/ws?user=${encodeURIComponent(injection) + 'u'.repeat(1500)}&${query}`), {
      headers: { 'user-agent': userAgent },
    });
    const [row] = await listActiveUsers(t.tracker.db);
    assert.ok(row, 'the table survived and holds the row');
    assert.is(row!.sessionId, client.sessionId);
    assert.ok(JSON.stringify(row!.metadata).length <= MetadataLimits.maxTotalLength);
    assert.ok(row!.metadata.userAgent.startsWith(injection), 'stored literally');
    assert.ok(row!.metadata.userAgent.length <= MetadataLimits.maxFieldLength);
    assert.ok(row!.metadata.user!.startsWith(injection));
    const second = await connectClient(t.wsUrl(`/ws?${injection}=${injection}`), { headers: { 'user-agent': injection } });
    const stored = await getUserBySessionId(t.tracker.db, second.sessionId);
    assert.is(stored!.metadata.userAgent, injection);
    assert.is(stored!.metadata.query[injection], injection);
    assert.is(await countActiveUsers(t.tracker.db), 2);
    await client.close();
    await second.close();
  } finally {
    await t.close();
  }
});

test('metadata is cut between the halves of an emoji, never inside one', () => {
  const emoji = '\u{1F600}';
  const loneHalf = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
  const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
  // The field cut: the emoji straddles MetadataLimits.maxFieldLength.
  const user = 'a'.repeat(MetadataLimits.maxFieldLength - 1) + emoji;
  const fieldCut = buildMetadata(request({}), new URL(`http://x/ws?user=${encodeURIComponent(user)}`), '127.0.0.1');
  assert.is(fieldCut.user, 'a'.repeat(MetadataLimits.maxFieldLength - 1));
  // The harder cut to 128, when the whole would pass MetadataLimits.maxTotalLength.
  const quotes = '"'.repeat(MetadataLimits.maxFieldLength);
  const short = 'b'.repeat(127) + emoji;
  const hardCut = buildMetadata(request({ 'user-agent': quotes, origin: quotes }), new URL(`http://x/ws?user=${encodeURIComponent(short)}`), '127.0.0.1');
  assert.is(hardCut.user, 'b'.repeat(127));
  for (const metadata of [fieldCut, hardCut]) assert.not.match(JSON.stringify(metadata), loneHalf);
});

test('metadata holds no NUL and no lone surrogate half, which PostgreSQL would refuse', () => {
  const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
  // `%00` decodes to U+0000: text and jsonb refuse it, and so failed the whole batch.
  const metadata = buildMetadata(request({ 'user-agent': 'ua\0', origin: '\ud800' }), new URL('http://x/ws?user=%00bad&k%00=v%00'), '127.0.0.1');
  assert.is(metadata.user, '\ufffdbad');
  assert.equal(metadata.query, { user: '\ufffdbad', 'k\ufffd': 'v\ufffd' });
  assert.is(metadata.userAgent, 'ua\ufffd');
  assert.is(metadata.origin, '\ufffd');
});

test('metadata stays within its caps for any query string, user agent and origin', () => {
  const hostile = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 3000 }),
    // Characters that JSON escapes to 2 or 6 characters each, NUL, lone halves, and an emoji a cut may split.
    fc.string({ unit: fc.constantFrom('\u0001', '\0', '"', '\\', '\ud800', '\udc00', '\u{1F600}', 'a'), minLength: 400, maxLength: 3000 }),
  );
  fc.assert(
    fc.property(hostile, hostile, hostile, fc.array(fc.tuple(hostile, hostile), { maxLength: 30 }), (ua, origin, user, params) => {
      const url = new URL('http://localhost/ws');
      url.searchParams.set('user', user);
      for (const [k, v] of params) url.searchParams.append(k, v);
      const req = { headers: { 'user-agent': ua, origin } } as unknown as IncomingMessage;
      const metadata = buildMetadata(req, url, '127.0.0.1');
      assert.ok(JSON.stringify(metadata).length <= MetadataLimits.maxTotalLength);
      for (const value of [metadata.userAgent, metadata.origin, metadata.path, metadata.user ?? '', ...Object.keys(metadata.query), ...Object.values(metadata.query)]) {
        assert.ok(value.length <= MetadataLimits.maxFieldLength);
        assert.not.match(value, UNSTORABLE, 'nothing PostgreSQL refuses');
      }
    }),
    { numRuns: 300 },
  );
});

test('an upgrade with a malformed request target is refused without a row', async () => {
  const t = await startTracker();
  try {
    assert.is(await upgradeStatus(t.wsUrl('/nope')), 404);
    const odd = await rawUpgrade(t.port, '//ws');
    assert.is(odd.status, 404);
    assert.is(await countActiveUsers(t.tracker.db), 0);
  } finally {
    await t.close();
  }
});

test('an upgrade to an unknown path gets the app\'s 404 and its socket is closed, even if the peer never closes', async () => {
  const t = await startTracker();
  // allowHalfOpen: the peer reads the server's FIN but never sends its own.
  const peer = connect({ port: t.port, host: '127.0.0.1', allowHalfOpen: true });
  peer.on('error', () => {});
  const ended = new Promise<void>((resolve) => peer.once('end', resolve));
  try {
    await new Promise((resolve) => peer.once('connect', resolve));
    const before = await openConnections(t);
    peer.write('GET /nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    const response = await new Promise<string>((resolve) => peer.once('data', (d: Buffer) => resolve(d.toString())));
    assert.match(response, /^HTTP\/1\.1 404 /);
    assert.match(response, /\r\nConnection: close\r\n/i);
    await ended;
    await waitFor(async () => (await openConnections(t)) === before - 1, 3000, 'the server to close the half-open socket');
  } finally {
    peer.destroy();
    await t.close();
  }
});

function openConnections(t: TestTracker): Promise<number> {
  return new Promise((resolve, reject) => t.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

test.run();
