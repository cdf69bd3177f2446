/**
 * Who gets in: ALLOWED_ORIGINS, admin authentication on every path, no
 * data leaking to client sockets whatever they send, failed attempts
 * logged without the token, and the lockout after repeated failures.
 */
import { get } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CloseCode, CloseReason } from '../src/constants.js';
import { countActiveUsers, getUserBySessionId } from '../src/repository.js';
import { captureLogs } from './helpers/log-capture.js';
import { encodeFrame, Opcode, rawUpgrade } from './helpers/raw-ws.js';
import { startTracker, TOKEN } from './helpers/tracker.js';
import { connect, connectAdmin, connectClient, upgradeStatus, waitFor, type TestClient } from './helpers/ws-client.js';

const test = suite('admission');
const GOOD = 'https://good.example';

function bearer(token: string, localAddress?: string) {
  return { headers: { authorization: `Bearer ${token}` }, ...(localAddress ? { localAddress } : {}) };
}

/** A plain GET, from `localAddress` when given (fetch cannot choose it). */
function httpStatus(url: string, token?: string, localAddress?: string): Promise<{ status: number; retryAfter: string | null }> {
  return new Promise((resolve, reject) => {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const req = get(url, { headers, agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] ?? null }));
    });
    req.on('error', reject);
  });
}

test('ALLOWED_ORIGINS: missing or foreign Origin gets 403 and no row; an exact match gets in', async () => {
  const t = await startTracker({ allowedOrigins: [GOOD] });
  try {
    for (const origin of [undefined, 'https://evil.example', 'https://good.example.evil', 'https://GOOD.example', 'http://good.example', `${GOOD}/`, 'null']) {
      const peer = await rawUpgrade(t.port, '/ws', { headers: origin === undefined ? {} : { Origin: origin } });
      assert.is(peer.status, 403, `origin ${origin}`);
      peer.destroy();
    }
    assert.is(t.tracker.connections, 0);
    assert.is(await countActiveUsers(t.tracker.db), 0, 'no row for a refused origin');
    const client = await connectClient(t.wsUrl('/ws'), { origin: GOOD });
    assert.is(await countActiveUsers(t.tracker.db), 1);
    await client.close();
  } finally {
    await t.close();
  }
});

test('admin authentication paths: bearer, first message, timeout, token in URL, /active-users', async () => {
  const t = await startTracker({ adminAuthTimeoutMs: 200, authFailureLimit: 1000 });
  try {
    assert.is(await upgradeStatus(t.wsUrl('/admin/stream'), bearer('wrong-token-wrong-token')), 401);
    assert.is(await upgradeStatus(t.wsUrl('/admin/stream'), { headers: { authorization: 'Basic abc' } }), 401);
    assert.is(await upgradeStatus(t.wsUrl(`/admin/stream?token=${TOKEN}`)), 400);
    const ok = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    assert.equal(ok.snapshot, []);
    await ok.close();

    const byMessage = connect(t.wsUrl('/admin/stream'));
    await new Promise((r) => byMessage.ws.once('open', r));
    byMessage.send({ type: 'auth', token: TOKEN });
    await byMessage.next((m) => m.type === 'snapshot');
    await byMessage.close();

    const wrong = connect(t.wsUrl('/admin/stream'));
    await new Promise((r) => wrong.ws.once('open', r));
    wrong.send({ type: 'auth', token: 'nope-nope-nope-nope' });
    assert.equal(await wrong.closed, { code: CloseCode.POLICY_VIOLATION, reason: CloseReason.AUTH_FAILED });
    assert.equal(wrong.inbox, []);

    const silent = connect(t.wsUrl('/admin/stream'));
    assert.equal(await silent.closed, { code: CloseCode.POLICY_VIOLATION, reason: CloseReason.AUTH_TIMEOUT });
    assert.equal(silent.inbox, []);

    assert.is((await httpStatus(t.httpUrl('/active-users'))).status, 401);
    assert.is((await httpStatus(t.httpUrl('/active-users'), 'wrong-token-wrong-token')).status, 401);
    assert.is((await httpStatus(t.httpUrl('/active-users'), TOKEN)).status, 200);
    await waitFor(() => t.tracker.admins === 0, 5000, 'admins gone');
  } finally {
    await t.close();
  }
});

test('a client socket never receives another connection\'s data, whatever it sends', async () => {
  const t = await startTracker();
  try {
    const a = await connectClient(t.wsUrl('/ws'));
    const b = await connectClient(t.wsUrl('/ws'));
    const attempts = [
      { type: 'auth', token: TOKEN },
      { type: 'subscribe' },
      { type: 'snapshot' },
      { type: 'kick', sessionId: b.sessionId },
      { type: 'list' },
      { type: 'ping', sessionId: b.sessionId },
    ];
    for (const message of attempts) a.send(message);
    a.ws.send(`Bearer ${TOKEN}`);
    a.send({ type: 'ping' });
    await a.next((m) => m.type === 'pong');
    // Others come and go, and speak; A hears nothing of it.
    const c = await connectClient(t.wsUrl('/ws?user=carol'));
    c.send({ type: 'ping' });
    await c.next((m) => m.type === 'pong');
    await c.close();
    b.send({ type: 'ping' });
    await b.next((m) => m.type === 'pong');
    assert.is(b.ws.readyState, b.ws.OPEN, 'the kick from a client did nothing');
    await waitFor(async () => (await getUserBySessionId(t.tracker.db, c.sessionId)) === undefined);
    a.send({ type: 'ping' });
    await a.next((m, ) => m.type === 'pong');
    for (const message of a.inbox) assert.ok(message.type === 'welcome' || message.type === 'pong', JSON.stringify(message));
    assert.is(a.inbox[0].sessionId, a.sessionId);
    assert.not.ok(JSON.stringify(a.inbox).includes(b.sessionId));
    assert.not.ok(JSON.stringify(a.inbox).includes(c.sessionId));
    await a.close();
    await b.close();
  } finally {
    await t.close();
  }
});

test('failed admin authentication is logged without the token', async () => {
  const logs = captureLogs('info');
  const t = await startTracker({ logger: logs.logger, authFailureLimit: 1000 });
  try {
    const secrets = ['sekrit-bearer-AAAAAAAAAAAA', 'sekrit-message-BBBBBBBBBBBB', 'sekrit-http-CCCCCCCCCCCC'];
    assert.is(await upgradeStatus(t.wsUrl('/admin/stream'), bearer(secrets[0]!)), 401);
    const wrong = connect(t.wsUrl('/admin/stream'));
    await new Promise((r) => wrong.ws.once('open', r));
    wrong.send({ type: 'auth', token: secrets[1] });
    await wrong.closed;
    assert.is((await httpStatus(t.httpUrl('/active-users'), secrets[2])).status, 401);
    // And a success, which must not log the real token either.
    const ok = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    await ok.close();
    await waitFor(() => logs.find('admin authentication failed').length >= 3, 5000, 'three failures logged');
    for (const line of logs.find('admin authentication failed')) assert.is(line.ip, '127.0.0.1');
    const raw = logs.raw();
    for (const secret of [...secrets, TOKEN]) assert.not.ok(raw.includes(secret), `log leaks ${secret}`);
  } finally {
    await t.close();
  }
});

test('after 5 failures in a row one address gets 429 for the cooldown; others are not affected', async () => {
  const t = await startTracker({ authCooldownMs: 1500 });
  try {
    const url = t.wsUrl('/admin/stream');
    // Four failures, then a success: the count starts again.
    for (let i = 0; i < 4; i++) assert.is(await upgradeStatus(url, bearer('wrong-token-wrong-token')), 401);
    assert.is(await upgradeStatus(url, bearer(TOKEN)), 101);
    // Five in a row, over the three paths.
    assert.is(await upgradeStatus(url, bearer('wrong-token-wrong-token')), 401);
    assert.is(await upgradeStatus(url, bearer('wrong-token-wrong-token')), 401);
    assert.is((await httpStatus(t.httpUrl('/active-users'), 'wrong-token-wrong-token')).status, 401);
    const wrong = connect(url);
    await new Promise((r) => wrong.ws.once('open', r));
    wrong.send({ type: 'auth', token: 'wrong-token-wrong-token' });
    await wrong.closed;
    assert.is(await upgradeStatus(url, bearer('wrong-token-wrong-token')), 401);
    // Locked: even the right token is refused, on the stream and over HTTP.
    const locked = await rawUpgrade(t.port, '/admin/stream', { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.is(locked.status, 429);
    assert.ok(Number(locked.headers['retry-after']) >= 1);
    locked.destroy();
    assert.is((await httpStatus(t.httpUrl('/active-users'), TOKEN)).status, 429);
    // Another address is not locked; clients are not affected at all.
    assert.is(await upgradeStatus(url, bearer(TOKEN, '127.0.0.2')), 101);
    const client = await connectClient(t.wsUrl('/ws'));
    await client.close();
    // After the cooldown the right token works again.
    await new Promise((r) => setTimeout(r, 1600));
    assert.is(await upgradeStatus(url, bearer(TOKEN)), 101);
  } finally {
    await t.close();
  }
});

test('an admin socket opened before the lockout gets no guesses and no way in once it begins', async () => {
  const t = await startTracker({ authCooldownMs: 5000 });
  try {
    const url = t.wsUrl('/admin/stream');
    const early = [connect(url), connect(url)];
    await Promise.all(early.map((a) => new Promise((r) => a.ws.once('open', r))));
    for (let i = 0; i < 5; i++) assert.is(await upgradeStatus(url, bearer('wrong-token-wrong-token')), 401);
    assert.is(await upgradeStatus(url, bearer(TOKEN)), 429);
    const locked = { code: CloseCode.POLICY_VIOLATION, reason: CloseReason.AUTH_LOCKED };
    // Whichever comes first: the close, or (the defect) a message.
    const outcome = (a: TestClient) => Promise.race([a.closed, a.next().then((m) => ({ message: m }))]);
    early[0]!.send({ type: 'auth', token: TOKEN });
    assert.equal(await outcome(early[0]!), locked, 'the right token is refused while locked');
    // A wrong one is not even checked: refused the same way.
    early[1]!.send({ type: 'auth', token: 'wrong-token-wrong-token' });
    assert.equal(await outcome(early[1]!), locked);
    assert.equal(t.tracker.admins, 0);
  } finally {
    await t.close();
  }
});

test('what arrives behind the token that got an admin socket refused is not read: no more failures, no way in', async () => {
  const logs = captureLogs('info');
  const t = await startTracker({ logger: logs.logger, authFailureLimit: 5, authCooldownMs: 5000 });
  try {
    const auth = (token: string) => encodeFrame({ opcode: Opcode.TEXT, payload: JSON.stringify({ type: 'auth', token }) });
    // Five wrong tokens in one TCP write: ws parses them all before the close.
    const guesser = await rawUpgrade(t.port, '/admin/stream');
    guesser.socket.write(Buffer.concat(Array.from({ length: 5 }, () => auth('wrong-token-wrong-token'))));
    assert.equal(await guesser.closed, { code: CloseCode.POLICY_VIOLATION, reason: CloseReason.AUTH_FAILED });
    guesser.destroy();
    assert.is(logs.find('admin authentication failed').length, 1, 'one socket, one refusal, one failure');
    // A wrong token, then the right one, in one write.
    const late = await rawUpgrade(t.port, '/admin/stream');
    late.socket.write(Buffer.concat([auth('wrong-token-wrong-token'), auth(TOKEN)]));
    assert.equal(await late.closed, { code: CloseCode.POLICY_VIOLATION, reason: CloseReason.AUTH_FAILED });
    late.destroy();
    assert.is(logs.find('admin authenticated').length, 0, 'the right token behind a refused one does not authenticate');
    assert.not.ok(late.frames.some((f) => f.opcode === Opcode.TEXT), 'and gets no snapshot');
    // Two failures so far, not six: the address is not locked out.
    assert.is(await upgradeStatus(t.wsUrl('/admin/stream'), bearer(TOKEN)), 101);
  } finally {
    await t.close();
  }
});

test('an admin socket that never authenticates counts as a failed authentication', async () => {
  const t = await startTracker({ adminAuthTimeoutMs: 150, authFailureLimit: 2, authCooldownMs: 5000 });
  try {
    const url = t.wsUrl('/admin/stream');
    for (let i = 0; i < 2; i++) {
      const silent = connect(url);
      assert.equal(await silent.closed, { code: CloseCode.POLICY_VIOLATION, reason: CloseReason.AUTH_TIMEOUT });
    }
    assert.is(await upgradeStatus(url, bearer(TOKEN)), 429, 'two timeouts are two failures');
    assert.is(await upgradeStatus(url, bearer(TOKEN, '127.0.0.2')), 101);
  } finally {
    await t.close();
  }
});

test('429 for a locked address carries Retry-After, the seconds left of the lock, on the stream and over HTTP', async () => {
  const t = await startTracker({ authCooldownMs: 4000 });
  try {
    for (let i = 0; i < 5; i++) assert.is((await httpStatus(t.httpUrl('/active-users'), 'wrong-token-wrong-token')).status, 401);
    const http = await httpStatus(t.httpUrl('/history'), TOKEN);
    assert.is(http.status, 429);
    assert.is(http.retryAfter, '4', 'HTTP: the whole cooldown is left');
    await new Promise((r) => setTimeout(r, 1500));
    const stream = await rawUpgrade(t.port, '/admin/stream', { headers: { Authorization: `Bearer ${TOKEN}` } });
    stream.destroy();
    assert.is(stream.status, 429);
    assert.is(stream.headers['retry-after'], '3', 'stream: what is left, rounded up');
    assert.is(stream.headers['cache-control'], 'no-store', 'a refused upgrade is JSON like any other answer');
    assert.is((await httpStatus(t.httpUrl('/active-users'), TOKEN)).retryAfter, '3');
  } finally {
    await t.close();
  }
});

test('METRICS_TOKEN and the admin token are counted apart: neither clears nor locks the other', async () => {
  const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
  const t = await startTracker({ metricsToken: METRICS_TOKEN, authCooldownMs: 5000 });
  try {
    // A scraper's success between admin guesses does not reset their count:
    // four wrong, a scrape, one wrong is five in a row.
    for (let i = 0; i < 4; i++) assert.is((await httpStatus(t.httpUrl('/active-users'), 'wrong-token-wrong-token')).status, 401);
    assert.is((await httpStatus(t.httpUrl('/metrics'), METRICS_TOKEN)).status, 200);
    assert.is((await httpStatus(t.httpUrl('/active-users'), 'wrong-token-wrong-token')).status, 401);
    assert.is((await httpStatus(t.httpUrl('/active-users'), TOKEN)).status, 429, 'admin lockout after five admin failures');
    assert.is(await upgradeStatus(t.wsUrl('/admin/stream'), bearer(TOKEN)), 429);
    // The metrics token has its own count: the scraper is not locked out by the admin guesses.
    assert.is((await httpStatus(t.httpUrl('/metrics'), METRICS_TOKEN)).status, 200);

    // Conversely, a scraper with a wrong token locks /metrics for its address, not the admins.
    const scraper = '127.0.0.2';
    for (let i = 0; i < 5; i++) assert.is((await httpStatus(t.httpUrl('/metrics'), 'wrong-metrics-token-xxxx', scraper)).status, 401);
    assert.is((await httpStatus(t.httpUrl('/metrics'), METRICS_TOKEN, scraper)).status, 429);
    assert.is((await httpStatus(t.httpUrl('/active-users'), TOKEN, scraper)).status, 200);
    assert.is(await upgradeStatus(t.wsUrl('/admin/stream'), bearer(TOKEN, scraper)), 101);
  } finally {
    await t.close();
  }
});

test.run();
