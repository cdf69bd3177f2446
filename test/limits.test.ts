/**
 * The four admission and rate limits: MAX_CONNECTIONS (503),
 * MAX_CONNECTIONS_PER_IP (429), MAX_MESSAGES_PER_SECOND (close 1008) and
 * MAX_ADMINS (503), and the fixed cap on admin sockets per address waiting
 * to authenticate (429). A refused client never gets a row.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CloseCode, CloseReason, Defaults } from '../src/constants.js';
import { OPTIONS } from '../src/config.js';
import { countActiveUsers, getUserBySessionId } from '../src/repository.js';
import { startTracker, TOKEN } from './helpers/tracker.js';
import { connect, connectAdmin, connectClient, upgradeStatus, waitFor, type TestClient } from './helpers/ws-client.js';

const test = suite('limits');

test('MAX_CONNECTIONS: beyond it 503 at the upgrade, no row; room again once one leaves', async () => {
  const t = await startTracker({ maxConnections: 3 });
  try {
    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await connectClient(t.wsUrl('/ws'), { localAddress: `127.0.0.${i + 1}` }));
    assert.is(await upgradeStatus(t.wsUrl('/ws')), 503);
    assert.is(await upgradeStatus(t.wsUrl('/ws'), { localAddress: '127.0.0.9' }), 503);
    assert.is(t.tracker.connections, 3);
    assert.is(await countActiveUsers(t.tracker.db), 3);
    await clients.pop()!.close();
    await waitFor(() => t.tracker.connections === 2);
    const again = await connectClient(t.wsUrl('/ws'));
    assert.is(await countActiveUsers(t.tracker.db), 3);
    for (const c of [...clients, again]) await c.close();
  } finally {
    await t.close();
  }
});

test('MAX_CONNECTIONS_PER_IP: beyond it 429 for that address only', async () => {
  const t = await startTracker({ maxConnectionsPerIp: 2 });
  try {
    const a1 = await connectClient(t.wsUrl('/ws'));
    const a2 = await connectClient(t.wsUrl('/ws'));
    assert.is(await upgradeStatus(t.wsUrl('/ws')), 429);
    const b1 = await connectClient(t.wsUrl('/ws'), { localAddress: '127.0.0.2' });
    assert.is(await countActiveUsers(t.tracker.db), 3);
    await a1.close();
    await waitFor(() => t.tracker.connections === 2);
    const a3 = await connectClient(t.wsUrl('/ws'));
    for (const c of [a2, a3, b1]) await c.close();
  } finally {
    await t.close();
  }
});

test('MAX_MESSAGES_PER_SECOND: a flood closes that client with 1008 and removes its row', async () => {
  const t = await startTracker({ maxMessagesPerSecond: 5 });
  try {
    const calm = await connectClient(t.wsUrl('/ws'));
    const flood = await connectClient(t.wsUrl('/ws'));
    for (let i = 0; i < 50; i++) flood.send({ type: 'ping' });
    assert.equal(await flood.closed, { code: CloseCode.POLICY_VIOLATION, reason: CloseReason.RATE_LIMITED });
    assert.ok(flood.inbox.filter((m) => m.type === 'pong').length <= 5, 'at most a bucket of answers');
    await waitFor(async () => (await getUserBySessionId(t.tracker.db, flood.sessionId)) === undefined, 5000, 'flood row removed');
    // Within the rate, a client stays.
    for (let i = 0; i < 3; i++) calm.send({ type: 'ping' });
    for (let i = 0; i < 3; i++) await calm.next((m) => m.type === 'pong');
    assert.is(calm.ws.readyState, calm.ws.OPEN);
    assert.is(await countActiveUsers(t.tracker.db), 1);
    await calm.close();
  } finally {
    await t.close();
  }
});

test('MAX_MESSAGES_PER_SECOND: the wall clock stepping back (NTP) does not close a calm client', async () => {
  const t = await startTracker({ maxMessagesPerSecond: 5 });
  const realNow = Date.now;
  try {
    const client = await connectClient(t.wsUrl('/ws'));
    client.send({ type: 'ping' });
    await client.next((m) => m.type === 'pong');
    // Two seconds back: the bucket used to refill by a negative amount and run dry.
    Date.now = () => realNow() - 2000;
    client.send({ type: 'ping' });
    const pongs = () => client.inbox.filter((m) => m.type === 'pong').length;
    await waitFor(() => pongs() === 2 || client.ws.readyState !== client.ws.OPEN, 3000, 'a pong or a close');
    assert.is(client.ws.readyState, client.ws.OPEN);
    assert.is(pongs(), 2);
    Date.now = realNow;
    await client.close();
  } finally {
    Date.now = realNow;
    await t.close();
  }
});

test('MAX_ADMINS: beyond it 503 for authenticated admins; sockets waiting for a token never keep one out', async () => {
  const t = await startTracker({ maxAdmins: 2 });
  const opened: TestClient[] = [];
  const open = async (localAddress: string) => {
    const socket = connect(t.wsUrl('/admin/stream'), { localAddress });
    opened.push(socket);
    await new Promise((r) => socket.ws.once('open', r));
    return socket;
  };
  const bearer = { headers: { authorization: `Bearer ${TOKEN}` } };
  try {
    // Two silent sockets, from two addresses, fill the places to wait.
    const silent = [await open('127.0.0.2'), await open('127.0.0.3')];
    // They used to count toward MAX_ADMINS, so an admin with the token got 503.
    const first = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    opened.push(first);
    // A newcomer that will send its token: the oldest silent socket makes room.
    const dashboard = await open('127.0.0.4');
    assert.equal(await silent[0]!.closed, { code: CloseCode.TRY_AGAIN_LATER, reason: CloseReason.ADMIN_WAIT_EVICTED });
    dashboard.send({ type: 'auth', token: TOKEN });
    await dashboard.next((m) => m.type === 'snapshot');
    // Two authenticated: MAX_ADMINS. Beyond it 503, token or not.
    assert.is(await upgradeStatus(t.wsUrl('/admin/stream'), bearer), 503);
    assert.is(await upgradeStatus(t.wsUrl('/admin/stream')), 503);
    // One still waiting that authenticates now finds no room.
    silent[1]!.send({ type: 'auth', token: TOKEN });
    assert.equal(await silent[1]!.closed, { code: CloseCode.TRY_AGAIN_LATER, reason: CloseReason.ADMINS_FULL });
    await dashboard.close();
    await waitFor(async () => (await upgradeStatus(t.wsUrl('/admin/stream'), bearer)) === 101, 5000, 'a free admin slot');
    // Clients are not limited by the admin cap.
    const client = await connectClient(t.wsUrl('/ws'));
    await first.next((m) => m.type === 'connected' && m.user.sessionId === client.sessionId);
    await client.close();
  } finally {
    await Promise.all(opened.map((s) => s.close()));
    await t.close();
  }
});

test('unauthenticated admin sockets: a few per address, beyond that 429; a bearer admin from elsewhere still gets in', async () => {
  const t = await startTracker({ maxAdmins: Defaults.maxPendingAdminsPerIp + 4 });
  const opened: TestClient[] = [];
  const open = async (localAddress: string, options: { headers?: Record<string, string> } = {}) => {
    const socket = connect(t.wsUrl('/admin/stream'), { localAddress, ...options });
    opened.push(socket);
    await new Promise((r) => socket.ws.once('open', r));
    return socket;
  };
  try {
    const pending: TestClient[] = [];
    for (let i = 0; i < Defaults.maxPendingAdminsPerIp; i++) pending.push(await open('127.0.0.1'));
    assert.is(await upgradeStatus(t.wsUrl('/admin/stream')), 429, 'one address cannot take every admin slot');
    const admin = await open('127.0.0.2', { headers: { authorization: `Bearer ${TOKEN}` } });
    await admin.next((m) => m.type === 'snapshot');
    // Authenticating, or leaving, gives the address its room back.
    pending[0]!.send({ type: 'auth', token: TOKEN });
    await pending[0]!.next((m) => m.type === 'snapshot');
    await open('127.0.0.1');
    assert.is(await upgradeStatus(t.wsUrl('/admin/stream')), 429);
    await pending[1]!.close();
    await waitFor(async () => (await upgradeStatus(t.wsUrl('/admin/stream'))) === 101, 5000, 'room after a close');
  } finally {
    await Promise.all(opened.map((s) => s.close()));
    await t.close();
  }
});

test('the limits are server settings with the documented defaults', () => {
  const byEnv = new Map(OPTIONS.map((o) => [o.env, o]));
  const expected: [string, number][] = [
    ['MAX_CONNECTIONS', Defaults.maxConnections],
    ['MAX_CONNECTIONS_PER_IP', Defaults.maxConnectionsPerIp],
    ['MAX_MESSAGES_PER_SECOND', Defaults.maxMessagesPerSecond],
    ['MAX_ADMINS', Defaults.maxAdmins],
    ['SHUTDOWN_TIMEOUT_MS', Defaults.shutdownTimeoutMs],
  ];
  for (const [env, value] of expected) {
    assert.ok(byEnv.get(env)?.help.includes(`default ${value}`), env);
  }
  // And the README's security section lists each with that default.
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const section = readme.slice(readme.indexOf('## Security and failure behaviour'));
  for (const [env, value] of expected.slice(0, 4)) {
    assert.ok(new RegExp(`\\| \`${env}\`[^\\n]*\\| ${value} \\|`).test(section), `README documents ${env} = ${value}`);
  }
  assert.ok(readme.includes('SHUTDOWN_TIMEOUT_MS'));
});

test.run();
