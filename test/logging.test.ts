/**
 * Logs: JSON lines with the events operators look for, at the right
 * levels; no admin token (right or wrong) and no query parameter ever
 * appears; query echo and slow-query warnings; LOG_PRETTY for people.
 */
import { createConnection } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openSqlite, readOffLoop } from '../src/database.js';
import { createLogger } from '../src/logger.js';
import { createQueryLog } from '../src/query-log.js';
import { runCli, startCli } from './helpers/cli.js';
import { startTracker, tempDir, TOKEN } from './helpers/tracker.js';
import { connect, connectAdmin, connectClient, waitFor } from './helpers/ws-client.js';

const WRONG_TOKEN = 'wrong-admin-token-abcdefghijk';
const SECRET_VALUE = 'parameter-value-that-must-not-be-logged';

/** A real pino logger writing into memory, through createLogger's `destination`. */
function capture(level: 'debug' | 'info' = 'debug') {
  let raw = '';
  const destination = {
    write(chunk: string) {
      raw += chunk;
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  return {
    logger: createLogger({ level, destination }),
    raw: () => raw,
    /** Every line parsed (throws if one is not JSON). */
    lines: () => raw.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l)),
  };
}

const test = suite('logging');

test('lifecycle events are JSON lines at the right levels, and no token appears', async () => {
  const logs = capture('debug');
  const t = await startTracker({ logger: logs.logger });
  try {
    const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    const client = await connectClient(t.wsUrl('/ws?user=someone'));
    // Wrong tokens: first-message auth on the stream, and bearer on HTTP.
    const bad = connect(t.wsUrl('/admin/stream'));
    await new Promise((r) => bad.ws.once('open', r));
    bad.send({ type: 'auth', token: WRONG_TOKEN });
    assert.is((await bad.closed).code, 1008);
    assert.is((await fetch(t.httpUrl('/history'), { headers: { authorization: `Bearer ${WRONG_TOKEN}` } })).status, 401);
    assert.is((await fetch(t.httpUrl('/history'), { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    admin.send({ type: 'kick', sessionId: client.sessionId });
    await client.closed;
    await admin.next((m) => m.type === 'disconnected');
    await admin.close();
  } finally {
    await t.close();
  }
  const lines = logs.lines();
  const find = (msg: string) => lines.filter((l) => l.msg === msg);
  const one = (msg: string) => {
    const found = find(msg);
    assert.ok(found.length > 0, `logged: ${msg}`);
    return found[0];
  };
  assert.is(one('database opened').level, 30);
  assert.ok(Array.isArray(one('migrations applied').applied));
  assert.is(one('stale rows removed').count, 0);
  assert.is(one('client connected').level, 20);
  const gone = one('client disconnected');
  assert.is(gone.level, 20);
  assert.is(gone.code, 4000);
  assert.is(one('admin authenticated').level, 30);
  const failures = find('admin authentication failed');
  assert.is(failures.length, 2);
  for (const f of failures) assert.is(f.level, 40);
  for (const step of ['shutdown: stop accepting', 'shutdown: writing pending touches', 'shutdown: closing database', 'shutdown: complete']) one(step);
  for (const line of lines) assert.is(line.service, 'roster');
  assert.not.ok(logs.raw().includes(TOKEN), 'the admin token never appears');
  assert.not.ok(logs.raw().includes(WRONG_TOKEN), 'a wrong token never appears');
});

test('query echo logs SQL text and duration, never parameter values; slow queries warn', async () => {
  const logs = capture('info');
  const db = openSqlite({ path: join(tempDir(), 'q.db'), log: createQueryLog({ logger: logs.logger, logQueries: true, slowQueryMs: 0 }) });
  try {
    await sql`create table t (v text)`.execute(db);
    await sql`insert into t (v) values (${SECRET_VALUE})`.execute(db);
    await sql`select * from t where v = ${SECRET_VALUE}`.execute(db);
  } finally {
    await db.destroy();
  }
  const queries = logs.lines().filter((l) => l.msg === 'query');
  assert.is(queries.length, 3);
  assert.is(queries[1].sql, 'insert into t (v) values (?)');
  for (const q of queries) assert.type(q.durationMs, 'number');
  assert.not.ok(logs.raw().includes(SECRET_VALUE));

  const slowLogs = capture('info');
  const slowDb = openSqlite({ path: ':memory:', log: createQueryLog({ logger: slowLogs.logger, slowQueryMs: 5 }) });
  try {
    await sql`select 1`.execute(slowDb);
    // A few hundred thousand recursive steps: far above 5 ms on any machine.
    await sql`with recursive c(x) as (select 1 union all select x + 1 from c where x < 300000) select count(*) from c`.execute(slowDb);
  } finally {
    await slowDb.destroy();
  }
  const lines = slowLogs.lines();
  assert.is(lines.length, 1, 'only the slow one, and no echo without DB_LOG_QUERIES');
  assert.is(lines[0].msg, 'slow query');
  assert.is(lines[0].level, 40);
  assert.ok(lines[0].durationMs >= 5);
  assert.match(lines[0].sql, /with recursive/);
});

test('a read on the worker is timed and logged for the query alone, not its wait for the worker or the event loop', async () => {
  const logs = capture('info');
  const seconds: number[] = [];
  const slowQueryMs = 200;
  const dir = tempDir();
  const db = openSqlite({ path: join(dir, 'r.db'), log: createQueryLog({ logger: logs.logger, slowQueryMs, onQuery: (s) => seconds.push(s) }) });
  try {
    await sql`create table t (v integer)`.execute(db);
    seconds.length = 0;
    // The first read starts the worker. Its answer then waits for this
    // event loop, kept busy well past SLOW_QUERY_MS: neither wait is the query's.
    const count = sql<{ n: number }>`select count(*) as n from t`;
    const read = readOffLoop(db, { compile: () => count.compile(db) });
    const busyUntil = performance.now() + 2 * slowQueryMs;
    while (performance.now() < busyUntil);
    assert.equal(await read, [{ n: 0 }]);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.is(seconds.length, 1, 'the read is observed once (roster_db_query_seconds)');
  assert.ok(seconds[0]! < slowQueryMs / 1000, `observed ${seconds[0]} s`);
  assert.equal(logs.lines().filter((l) => l.msg === 'slow query'), []);
});

test('a removed database file is logged without anyone polling /health', async () => {
  const logs = capture('info');
  const t = await startTracker({ logger: logs.logger, heartbeatMs: 100 });
  try {
    rmSync(t.databasePath);
    const removed = () => logs.lines().filter((l) => l.msg.startsWith('database file removed: '));
    await waitFor(() => removed().length > 0, 5000, 'the error line');
    assert.is(removed()[0].level, 50);
    assert.is(removed()[0].path, t.databasePath);
    // Checked every round, logged once.
    await new Promise((r) => setTimeout(r, 350));
    assert.is(removed().length, 1);
  } finally {
    await t.close();
  }
});

/** One raw HTTP/1.1 request (fetch would drop a fragment and resolve dot segments); the status code. */
function rawRequest(port: number, target: string, headers: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = createConnection(port, '127.0.0.1', () => socket.end(`GET ${target} HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`));
    socket.on('data', (chunk) => (answer += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1])));
  });
}

test('an authentication failure logs the route, not the client\'s request target', async () => {
  const logs = capture('info');
  const metricsToken = 'metrics-token-0123456789abcdef';
  const t = await startTracker({ logger: logs.logger, metricsToken });
  const fragment = 'client-text-after-the-path';
  try {
    const wrong = `Authorization: Bearer ${WRONG_TOKEN}\r\n`;
    // Each reaches its route (401), its target the client's own text.
    assert.is(await rawRequest(t.port, `/history#token=${fragment}`, wrong), 401);
    assert.is(await rawRequest(t.port, `/${fragment}/../history/stats?x=1`, wrong), 401);
    assert.is(await rawRequest(t.port, `/metrics#${fragment}`, wrong), 401);
    assert.is(await rawRequest(t.port, `/./active-users#${'x'.repeat(4000)}`, ''), 401);
  } finally {
    await t.close();
  }
  const failures = logs.lines().filter((l) => / authentication failed$/.test(l.msg));
  assert.equal(
    failures.map((l) => [l.msg, l.path]),
    [
      ['admin authentication failed', '/history'],
      ['admin authentication failed', '/history/stats'],
      ['metrics authentication failed', '/metrics'],
      ['admin authentication failed', '/active-users'],
    ],
  );
  assert.not.ok(logs.raw().includes(fragment), 'nothing the client wrote after the path is logged');
  assert.not.ok(logs.raw().includes('xxxx'));
});

test.run();

const cli = suite('server logs');

cli('the CLI writes only JSON lines; DB_LOG_QUERIES echoes queries without values or tokens', async () => {
  const dir = tempDir();
  const server = await startCli({ ADMIN_TOKEN: TOKEN, DATABASE_PATH: join(dir, 'r.db'), DB_LOG_QUERIES: '1', LOG_LEVEL: 'debug' });
  try {
    const url = `ws://127.0.0.1:${server.port}`;
    const client = await connectClient(`${url}/ws?user=${SECRET_VALUE}`);
    const admin = await connectAdmin(`${url}/admin/stream`, TOKEN);
    await client.close();
    await admin.next((m) => m.type === 'disconnected');
    await admin.close();
    await server.waitForLog((l) => l.msg === 'query' && /insert into "connection_history"/.test(l.sql));
  } finally {
    server.child.kill('SIGTERM');
  }
  assert.is(await server.exited, 0);
  const out = server.output();
  const lines = out.split('\n').filter((l) => l !== '');
  for (const line of lines) JSON.parse(line);
  const parsed = lines.map((l) => JSON.parse(l));
  assert.ok(parsed.some((l) => l.msg === 'listening' && typeof l.address === 'string'));
  assert.ok(parsed.some((l) => l.msg === 'shutdown: complete'));
  assert.ok(parsed.filter((l) => l.msg === 'query').length > 5);
  assert.not.ok(out.includes(SECRET_VALUE), 'query parameters are not logged');
  assert.not.ok(out.includes(TOKEN), 'the admin token is not logged');
});

cli('LOG_PRETTY=1 prints human-readable lines', async () => {
  const dir = tempDir();
  const server = runCli({ PORT: '0', ADMIN_TOKEN: TOKEN, DATABASE_PATH: join(dir, 'r.db'), LOG_PRETTY: '1', LOG_LEVEL: 'info' });
  try {
    await waitFor(() => /INFO\s+listening/.test(server.output()), 10_000, 'a pretty listening line');
  } finally {
    server.child.kill('SIGTERM');
  }
  await server.exited;
  const first = server.output().split('\n')[0]!;
  assert.match(first, /^\d{4}-\d{2}-\d{2}T\S+Z INFO /);
  assert.throws(() => JSON.parse(first));
  assert.not.ok(server.output().includes(TOKEN));
});

cli('bad observability settings exit with code 2', async () => {
  const envs: Record<string, string>[] = [{ DB_LOG_QUERIES: 'maybe' }, { SLOW_QUERY_MS: '-1' }, { HISTORY_RETENTION_DAYS: '0' }, { METRICS_TOKEN: 'short' }, { LOG_PRETTY: '2' }];
  for (const env of envs) {
    const run = runCli({ PORT: '0', ADMIN_TOKEN: TOKEN, DATABASE_PATH: join(tempDir(), 'r.db'), ...env });
    assert.is(await run.exited, 2, JSON.stringify(env));
  }
});

cli('a DATABASE_URL password given as ?password= is masked in the log and on stderr, and refused as a flag', async () => {
  const password = 'pg-query-password-never-logged';
  // Port 1 refuses the connection: the CLI exits 2 naming the URL, in the log and on stderr.
  const run = runCli({ PORT: '0', ADMIN_TOKEN: TOKEN, DATABASE_URL: `postgres://roster@127.0.0.1:1/roster?password=${password}&sslpassword=${password}` });
  assert.is(await run.exited, 2);
  assert.match(run.output(), /cannot use DATABASE_URL postgres:\/\/roster@127\.0\.0\.1:1\/roster\?password=\*\*\*&sslpassword=\*\*\*/);
  assert.ok(run.logs.some((l) => l.level === 60), 'the fatal line is logged');
  assert.not.ok(run.output().includes(password), 'the password appears nowhere');

  // On the command line it would show in `ps`, as one before the `@` would.
  const flag = runCli({ PORT: '0', ADMIN_TOKEN: TOKEN }, ['--database-url', `postgres://roster@127.0.0.1:1/roster?password=${password}`]);
  assert.is(await flag.exited, 2);
  assert.match(flag.output(), /must not contain a password/);
  assert.not.ok(flag.output().includes(password));
});

cli.run();
