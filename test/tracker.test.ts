import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openPostgres } from '../src/postgres.js';
import { createTracker } from '../src/tracker.js';
import { listSessions } from '../src/history-repository.js';
import type { Logger } from '../src/logger.js';
import { getUserBySessionId, countActiveUsers } from '../src/repository.js';
import { SchemaError } from '../src/migrations.js';
import { DatabaseInUseError } from '../src/sqlite-lock.js';
import { captureLogs } from './helpers/log-capture.js';
import { TOKEN, startTracker, tempDir } from './helpers/tracker.js';
import { connect, connectClient, waitFor } from './helpers/ws-client.js';

function pick(object: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, object[k]]));
}

/** The error `promise` rejects with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  assert.unreachable('expected a rejection');
  throw new Error('unreachable');
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const lifecycle = suite('client lifecycle');

lifecycle('the row exists when the welcome arrives, with bounded metadata', async () => {
  const t = await startTracker();
  try {
    const client = await connectClient(t.wsUrl('/ws?user=alice&room=7'), { headers: { 'user-agent': 'uvu-test/1.0', origin: 'http://example.test' } });
    const row = await getUserBySessionId(t.tracker.db, client.sessionId);
    assert.ok(row, 'row written before the welcome');
    assert.is(row!.id, client.id);
    // UUIDv7 (uuid-v7.ts): version 7, RFC variant, and the connect time in its first 48 bits.
    assert.match(row!.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.match(client.sessionId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.is(parseInt(row!.id.replace(/-/g, '').slice(0, 12), 16), Date.parse(row!.connectedAt));
    assert.match(row!.connectedAt, ISO_MS);
    assert.match(row!.lastActiveAt, ISO_MS);
    assert.equal(row!.metadata, {
      remoteAddress: '127.0.0.1',
      userAgent: 'uvu-test/1.0',
      origin: 'http://example.test',
      path: '/ws',
      query: { user: 'alice', room: '7' },
      user: 'alice',
    });
    await client.close();
  } finally {
    await t.close();
  }
});

lifecycle('ping gets pong; junk and binary are activity, not errors', async () => {
  const t = await startTracker({ touchFlushMs: 30 });
  try {
    const client = await connectClient(t.wsUrl('/ws'));
    const before = (await getUserBySessionId(t.tracker.db, client.sessionId))!.lastActiveAt;
    client.send('not json at all');
    client.ws.send(Buffer.from([1, 2, 3]));
    client.send({ type: 'something-else' });
    await new Promise((r) => setTimeout(r, 5));
    client.send({ type: 'ping' });
    const pong = await client.next((m) => m.type === 'pong');
    assert.equal(pong, { type: 'pong' });
    await waitFor(async () => (await getUserBySessionId(t.tracker.db, client.sessionId))!.lastActiveAt > before, 3000, 'touch flush');
    assert.is(client.ws.readyState, client.ws.OPEN, 'junk did not close a client socket');
    await client.close();
  } finally {
    await t.close();
  }
});

lifecycle('touches are batched per flush and announced as one activity event', async () => {
  const t = await startTracker({ touchFlushMs: 200 });
  try {
    const a = await connectClient(t.wsUrl('/ws'));
    const b = await connectClient(t.wsUrl('/ws'));
    const batches: { sessionId: string; lastActiveAt: string }[][] = [];
    t.tracker.on('activity', (touches) => batches.push(touches));
    for (let i = 0; i < 5; i++) {
      a.send({ type: 'ping' });
      b.send({ type: 'ping' });
    }
    await a.next((m) => m.type === 'pong');
    await waitFor(() => batches.length > 0, 3000, 'activity batch');
    // Ten messages from two clients within one flush window: one batch, one entry each.
    assert.is(batches[0]!.length, 2);
    assert.equal(new Set(batches[0]!.map((x) => x.sessionId)), new Set([a.sessionId, b.sessionId]));
    const stored = await getUserBySessionId(t.tracker.db, a.sessionId);
    assert.is(stored!.lastActiveAt, batches[0]!.find((x) => x.sessionId === a.sessionId)!.lastActiveAt);
    await a.close();
    await b.close();
  } finally {
    await t.close();
  }
});

lifecycle('close deletes the row and drops the pending touch', async () => {
  const t = await startTracker({ touchFlushMs: 60_000 });
  try {
    const client = await connectClient(t.wsUrl('/ws'));
    const gone: string[] = [];
    t.tracker.on('disconnected', (sessionId) => gone.push(sessionId));
    const activity: unknown[] = [];
    t.tracker.on('activity', (x) => activity.push(x));
    client.send({ type: 'ping' }); // queues a touch that will never be due
    await client.next((m) => m.type === 'pong');
    await client.close();
    await waitFor(() => gone.includes(client.sessionId), 3000, 'disconnected event');
    assert.is(await getUserBySessionId(t.tracker.db, client.sessionId), undefined);
    assert.is(t.tracker.connections, 0);
    // Shutdown flushes pending touches; the closed client's must not be among them.
    await t.close();
    assert.equal(activity, []);
  } finally {
    await t.close();
  }
});

lifecycle('a message that arrives after the server closed the socket is not activity', async () => {
  const t = await startTracker({ touchFlushMs: 50 });
  try {
    const client = await connectClient(t.wsUrl('/ws'));
    const events: string[] = [];
    t.tracker.on('disconnected', (sessionId) => sessionId === client.sessionId && events.push('disconnected'));
    t.tracker.on('activity', (touches) => touches.some((x) => x.sessionId === client.sessionId) && events.push('activity'));
    assert.ok(t.tracker.kick(client.sessionId));
    // Sent before the client has read the close frame: the server gets it while closing.
    client.ws.send(JSON.stringify({ type: 'ping' }));
    await client.closed;
    await waitFor(() => events.includes('disconnected'), 3000, 'disconnected event');
    await new Promise((r) => setTimeout(r, 200)); // four touch flushes
    assert.equal(events, ['disconnected']);
  } finally {
    await t.close();
  }
});

lifecycle('a message over MAX_PAYLOAD closes with 1009 and removes the row', async () => {
  const t = await startTracker({ maxPayload: 1024 });
  try {
    const client = await connectClient(t.wsUrl('/ws'));
    client.ws.send('x'.repeat(2048));
    const closed = await client.closed;
    assert.is(closed.code, 1009);
    await waitFor(async () => (await countActiveUsers(t.tracker.db)) === 0, 3000, 'row removal');
  } finally {
    await t.close();
  }
});

const http = suite('http endpoints');

http('/health reports healthy with counts and version', async () => {
  const t = await startTracker();
  try {
    const client = await connectClient(t.wsUrl('/ws'));
    const res = await fetch(t.httpUrl('/health'));
    assert.is(res.status, 200);
    const body = (await res.json()) as any;
    assert.is(body.status, 'healthy');
    assert.is(body.database, 'connected');
    assert.is(body.connections, 1);
    assert.type(body.version, 'string');
    assert.type(body.uptimeSeconds, 'number');
    await client.close();
  } finally {
    await t.close();
  }
});

http('/health answers 503 unhealthy when the database check fails', async () => {
  const server = createServer((req, res) => {
    if (!tracker.handleRequest(req, res)) res.end();
  });
  const { openSqlite } = await import('../src/database.js');
  const db = openSqlite({ path: ':memory:' });
  const tracker = createTracker({ server, db, adminToken: TOKEN });
  await tracker.start();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await db.destroy(); // the database goes away under the running tracker
    const port = (server.address() as { port: number }).port;
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    assert.is(res.status, 503);
    assert.is(((await res.json()) as any).status, 'unhealthy');
  } finally {
    await tracker.stop();
    server.close();
  }
});

http('/health answers 503 once the SQLite file is deleted or replaced under the server, and logs it once', async () => {
  const logs = captureLogs('warn');
  const t = await startTracker({ logger: logs.logger });
  try {
    assert.is((await fetch(t.httpUrl('/health'))).status, 200);
    // SQLite keeps writing to the open inode: nothing fails, and it is all gone at exit.
    rmSync(t.databasePath);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(t.httpUrl('/health'));
      assert.is(res.status, 503);
      assert.equal(pick((await res.json()) as any, ['status', 'database', 'reason']), { status: 'unhealthy', database: 'file missing', reason: `database file removed: ${t.databasePath}` });
    }
    assert.is(logs.lines.filter((l) => /database file removed/.test(l.msg)).length, 1, 'logged once');
    // Another file in its place (a restore copied over it) is not the one the server writes to either.
    writeFileSync(t.databasePath, '');
    assert.match(((await (await fetch(t.httpUrl('/health'))).json()) as any).reason, /database file replaced/);
  } finally {
    await t.close();
  }
});

http('/health reports the SQLite file removed when its folder is replaced by a file, and the server stays up', async () => {
  const logs = captureLogs('warn');
  const dir = tempDir();
  const folder = join(dir, 'data');
  const t = await startTracker({ logger: logs.logger, dir, databasePath: join(folder, 'r.db') });
  try {
    // stat() of the path now fails with ENOTDIR rather than ENOENT: it
    // used to throw out of /health, an unhandled rejection that ended the process.
    renameSync(folder, join(dir, 'moved'));
    writeFileSync(folder, '');
    const res = await fetch(t.httpUrl('/health'));
    assert.is(res.status, 503);
    assert.equal(pick((await res.json()) as any, ['status', 'database', 'reason']), { status: 'unhealthy', database: 'file missing', reason: `database file removed: ${join(folder, 'r.db')}` });
    assert.is((await fetch(t.httpUrl('/health'))).status, 503, 'still serving');
    assert.is(logs.lines.filter((l) => /^database file removed/.test(l.msg) && l.level === 50).length, 1);
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

http('/active-users needs the bearer token and lists newest first', async () => {
  const t = await startTracker();
  try {
    const first = await connectClient(t.wsUrl('/ws?user=first'));
    await new Promise((r) => setTimeout(r, 5));
    const second = await connectClient(t.wsUrl('/ws?user=second'));
    assert.is((await fetch(t.httpUrl('/active-users'))).status, 401);
    assert.is((await fetch(t.httpUrl('/active-users'), { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
    assert.is((await fetch(t.httpUrl(`/active-users?token=${TOKEN}`))).status, 401, 'a token in the URL is not accepted');
    const res = await fetch(t.httpUrl('/active-users'), { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.is(res.status, 200);
    const body = (await res.json()) as any;
    assert.is(body.count, 2);
    assert.equal(body.users.map((u: any) => u.sessionId), [second.sessionId, first.sessionId]);
    assert.equal(Object.keys(body.users[0]).sort(), ['connectedAt', 'id', 'lastActiveAt', 'metadata', 'sessionId']);
    const paged = (await (await fetch(t.httpUrl('/active-users?limit=1&offset=1'), { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as any;
    assert.is(paged.count, 2);
    assert.equal(paged.users.map((u: any) => u.sessionId), [first.sessionId]);
    assert.is((await fetch(t.httpUrl('/active-users?limit=0'), { headers: { authorization: `Bearer ${TOKEN}` } })).status, 400);
    await first.close();
    await second.close();
  } finally {
    await t.close();
  }
});

http('unknown paths are 404, a plain GET on /ws is 426, wrong methods 405', async () => {
  const t = await startTracker();
  try {
    assert.is((await fetch(t.httpUrl('/nope'))).status, 404);
    const ws = await fetch(t.httpUrl('/ws'));
    assert.is(ws.status, 426);
    assert.is(ws.headers.get('upgrade'), 'websocket');
    assert.is((await fetch(t.httpUrl('/health'), { method: 'POST' })).status, 405);
    const upgrade = connect(t.wsUrl('/elsewhere'));
    const closed = await upgrade.closed;
    assert.is(closed.code, 1006, 'upgrade on an unknown path is refused');
  } finally {
    await t.close();
  }
});

const library = suite('library');

library('two trackers live in one process with separate state', async () => {
  const one = await startTracker();
  const two = await startTracker();
  try {
    const seen: string[] = [];
    two.tracker.on('connected', (user) => seen.push(user.sessionId));
    const a = await connectClient(one.wsUrl('/ws'));
    const b = await connectClient(two.wsUrl('/ws'));
    const c = await connectClient(two.wsUrl('/ws'));
    assert.is(one.tracker.connections, 1);
    assert.is(two.tracker.connections, 2);
    assert.is(await countActiveUsers(one.tracker.db), 1);
    assert.is(await countActiveUsers(two.tracker.db), 2);
    assert.equal(seen.sort(), [b.sessionId, c.sessionId].sort());
    await one.close();
    assert.is(b.ws.readyState, b.ws.OPEN, 'stopping one tracker leaves the other alone');
    assert.is((await a.closed).code, 1001);
    // Each tracker's clients are served by that tracker's listeners (they are shared per tracker).
    c.send({ type: 'ping' });
    await c.next((m) => m.type === 'pong');
    await b.close();
    await waitFor(async () => (await countActiveUsers(two.tracker.db)) === 1, 5000, "b's row deleted by its own tracker");
    assert.is(two.tracker.connections, 1);
    await c.close();
    await waitFor(() => two.tracker.connections === 0, 5000, 'c forgotten');
  } finally {
    await one.close();
    await two.close();
  }
});

library('a second tracker on an SQLite file in use refuses to start and touches nothing', async () => {
  const first = await startTracker();
  try {
    const client = await connectClient(first.wsUrl('/ws'));
    // A start clears every row it finds (a dead run's): here they are the first tracker's live rows.
    const second = createTracker({ server: createServer(), databasePath: first.databasePath, adminToken: TOKEN });
    const refused = await rejection(second.start());
    assert.instance(refused, DatabaseInUseError);
    assert.match(refused.message, /in use by another Roster process/);
    await second.stop();
    assert.ok(await getUserBySessionId(first.tracker.db, client.sessionId), "the first tracker's row is still there");
    assert.ok(existsSync(`${first.databasePath}-lock`));
    assert.not.ok(existsSync(`${first.databasePath}-lock-journal`), 'the lock keeps no journal file');
    assert.equal(await listSessions(first.tracker.db, { limit: 10 }), [], 'no client recorded as lost');
    client.send({ type: 'ping' });
    await client.next((m) => m.type === 'pong');
    await client.close();
  } finally {
    await first.close();
  }
  // Stopped, it lets go: the next tracker on the file starts.
  const next = await startTracker({ dir: first.dir });
  try {
    assert.is((await fetch(next.httpUrl('/health'))).status, 200);
  } finally {
    await next.close();
  }
});

library('a db the host passes in is locked too: a second tracker given it (or its file) refuses to start and touches nothing', async () => {
  const { openSqlite } = await import('../src/database.js');
  const dir = tempDir();
  const db = openSqlite({ path: join(dir, 'host.db') });
  const server = createServer((req, res) => void (first.handleRequest(req, res) || res.end()));
  const first = createTracker({ server, db, adminToken: TOKEN });
  await first.start();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const client = await connectClient(`ws://127.0.0.1:${port}/ws`);
    for (const second of [
      createTracker({ server: createServer(), db, adminToken: TOKEN }),
      createTracker({ server: createServer(), databasePath: join(dir, 'host.db'), adminToken: TOKEN }),
    ]) {
      assert.instance(await rejection(second.start()), DatabaseInUseError);
    }
    assert.ok(await getUserBySessionId(db, client.sessionId), "the first tracker's row is still there");
    assert.equal(await listSessions(db, { limit: 10 }), [], 'no client recorded as lost');
    await client.close();
  } finally {
    await first.stop();
    server.close();
  }
  // Stopped, it lets go; the db stays the host's, open.
  const next = createTracker({ server: createServer(), db, adminToken: TOKEN });
  await next.start();
  await next.stop();
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

library('a tracker starts once: start() after stop() rejects', async () => {
  const tracker = createTracker({ server: createServer(), databasePath: ':memory:', adminToken: TOKEN });
  await tracker.stop();
  assert.match((await rejection(tracker.start())).message, /tracker stopped/);
  const started = await startTracker();
  try {
    assert.match((await rejection(started.tracker.start())).message, /already started/);
  } finally {
    await started.close();
  }
  assert.match((await rejection(started.tracker.start())).message, /tracker stopped/);
});

library('a start that fails lets go of the SQLite file: a new tracker on it starts without a stop() first', async () => {
  const dir = tempDir();
  const databasePath = join(dir, 'roster.db');
  try {
    // A fresh file in verify mode: every migration is pending.
    const failed = createTracker({ server: createServer(), databasePath, adminToken: TOKEN, schemaMode: 'verify' });
    assert.instance(await rejection(failed.start()), SchemaError);
    const next = await startTracker({ dir });
    try {
      assert.is((await fetch(next.httpUrl('/health'))).status, 200);
    } finally {
      await next.close();
    }
    await failed.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

library('stop() during start(): start rejects and leaves no timer or upgrade listener behind', async () => {
  const logs = captureLogs('info');
  const server = createServer();
  let stopped: Promise<void> | undefined;
  // A stop that lands after start's last database step, before its timers
  // start: here from the log line written right there.
  const base = logs.logger;
  const logger: Logger = {
    trace: (o, m) => base.trace(o, m),
    debug: (o, m) => base.debug(o, m),
    info(o, m) {
      base.info(o, m);
      if (m === 'stale rows removed') stopped = tracker.stop();
    },
    warn: (o, m) => base.warn(o, m),
    error: (o, m) => base.error(o, m),
    fatal: (o, m) => base.fatal(o, m),
    child: () => logger,
  };
  const tracker = createTracker({ server, databasePath: ':memory:', adminToken: TOKEN, logger, historyPruneIntervalMs: 10 });
  assert.match((await rejection(tracker.start())).message, /stopped during start/);
  await stopped;
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.is(server.listenerCount('upgrade'), 0, 'no upgrade listener left on the host server');
  // A pruner left running would try the closed database every 10 ms.
  assert.equal(logs.lines.filter((l) => /history prune/.test(l.msg)), [], 'no history pruning after stop');
});

library('a second tracker on the same http.Server refuses to start; the first keeps serving', async () => {
  const first = await startTracker();
  const second = createTracker({ server: first.server, databasePath: ':memory:', adminToken: TOKEN });
  try {
    // Both would take every upgrade on /ws: ws throws on the second, out of the server's event.
    assert.match((await rejection(second.start())).message, /already serves \/ws and \/admin\/stream on this server/);
    assert.is(first.server.listenerCount('upgrade'), 1);
    const client = await connectClient(first.wsUrl('/ws'));
    assert.is(first.tracker.connections, 1);
    await client.close();
  } finally {
    await second.stop();
    await first.close();
  }
  // Started together: one of them refuses, whichever attaches second.
  const server = createServer();
  const pair = [1, 2].map(() => createTracker({ server, databasePath: ':memory:', adminToken: TOKEN }));
  const results = await Promise.allSettled(pair.map((t) => t.start()));
  await Promise.all(pair.map((t) => t.stop()));
  assert.equal(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  assert.is(server.listenerCount('upgrade'), 0);
});

library('options are validated once, at construction', async () => {
  const server = createServer();
  assert.throws(() => createTracker({ server, databasePath: ':memory:', adminToken: 'short' }), RangeError);
  assert.throws(() => createTracker({ server, databasePath: ':memory:', adminToken: 'correct horse battery staple' }), /printable ASCII with no spaces/);
  assert.throws(() => createTracker({ server, databasePath: '', adminToken: TOKEN }), /`databasePath` is empty/);
  assert.throws(() => createTracker({ server, databasePath: ':memory:', adminToken: TOKEN, allowedOrigins: [] }), /`allowedOrigins` is empty/);
  assert.throws(() => createTracker({ server, databasePath: ':memory:', adminToken: TOKEN, logger: console as any }), /`logger` must be pino-compatible/);
  assert.throws(() => createTracker({ server, adminToken: TOKEN } as any), TypeError);
  assert.throws(() => createTracker({ server, databasePath: ':memory:', adminToken: TOKEN, heartbeatMs: 1.5 }), TypeError);
  assert.throws(() => createTracker({ server, databasePath: ':memory:', adminToken: TOKEN, touchFlushMs: 0 }), RangeError);
  assert.throws(() => createTracker({ server: {} as any, databasePath: ':memory:', adminToken: TOKEN }), TypeError);
  assert.throws(() => createTracker({ server, db: 'roster.db' as any, adminToken: TOKEN }), /`db` must be a Kysely instance/);
  // A misspelt option would otherwise leave its default in force, silently.
  assert.throws(() => createTracker({ server, databasePath: ':memory:', adminToken: TOKEN, maxConection: 10 } as any), (e: unknown) => e instanceof TypeError && /unknown option `maxConection`/.test(e.message));
  assert.throws(() => createTracker({ server, databasePath: ':memory:', adminToken: TOKEN, port: 8080 } as any), /unknown option `port`/);
  // Its start would clear every row in `users`: on a shared PostgreSQL, other nodes' too.
  const pg = openPostgres({ url: 'postgres://roster@127.0.0.1:1/roster', poolSize: 1, connectTimeoutMs: 100, idleTimeoutMs: 1000, statementTimeoutMs: 1000 });
  try {
    assert.throws(() => createTracker({ server, db: pg, adminToken: TOKEN }), /PostgreSQL `db` would run as the only node/);
  } finally {
    await pg.destroy();
  }
});

library('a host app keeps its own routes and upgrade paths', async () => {
  const t = await startTracker();
  try {
    t.server.prependListener('request', (req, res) => {
      if (req.url === '/app') res.end('host app');
    });
    assert.is(await (await fetch(t.httpUrl('/app'))).text(), 'host app');
    assert.is((await fetch(t.httpUrl('/health'))).status, 200);
  } finally {
    await t.close();
  }
});

lifecycle.run();
http.run();
library.run();
