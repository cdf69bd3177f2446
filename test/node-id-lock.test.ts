/**
 * One live process per NODE_ID, enforced by a PostgreSQL advisory lock
 * (src/node-lock.ts): a second node started with an id in use refuses to
 * start without touching a row, and a running node whose id another
 * process takes stops writing and says so, until it is free again.
 */
import { createServer } from 'node:http';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeIdInUseError } from '../src/node-lock.js';
import { createTracker } from '../src/tracker.js';
import { exitCode, runCli } from './helpers/cli.js';
import { captureLogs } from './helpers/log-capture.js';
import { activeSessionIds, follow, startNode } from './helpers/multi-node.js';
import { postgresForSuite } from './helpers/postgres.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { TOKEN } from './helpers/tracker.js';
import { connect, connectAdmin, connectClient, waitFor, type TestClient } from './helpers/ws-client.js';

const test = suite('NODE_ID lock');

const postgres = postgresForSuite(test, 'node_id');

/** Warnings and errors a node logged. */
function problems(logs: ReturnType<typeof captureLogs>): string[] {
  return logs.lines.filter((l) => l.level >= 40).map((l) => l.msg);
}

async function historyCount(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('select count(*)::int as n from connection_history')).rows[0].n;
  } finally {
    await client.end();
  }
}

test('a second live node with the same NODE_ID refuses to start and touches nothing; once the first stops, one starts', async () => {
  const url = await postgres.freshDatabase();
  const logs = captureLogs('info');
  const first = await startNode(url, 'dup', { logger: logs.logger });
  const clients: TestClient[] = [];
  try {
    const client = await connectClient(first.wsUrl('/ws'));
    clients.push(client);
    const admin = await connectAdmin(first.wsUrl('/admin/stream'), TOKEN);
    clients.push(admin);
    const view = follow(admin);
    assert.equal([...view.users.keys()], [client.sessionId]);

    const second = createTracker({ server: createServer(), adminToken: TOKEN, databaseUrl: url, nodeId: 'dup', nodeHeartbeatMs: 100, nodeTtlMs: 1000, logger: captureLogs('info').logger });
    let refused: unknown;
    await second.start().catch((error) => (refused = error));
    assert.instance(refused, NodeIdInUseError);
    assert.match((refused as Error).message, /NODE_ID dup is in use by another running Roster node/);
    // Its stop must not delete the rows of the node that holds the id either.
    await second.stop();

    // A few of the first node's heartbeats (200 ms) later, nothing has moved.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await activeSessionIds(first), [client.sessionId]);
    assert.equal([...view.users.keys()], [client.sessionId]);
    assert.equal(view.anomalies, []);
    assert.not.ok(admin.inbox.some((m) => m.type === 'disconnected'), 'no leave announced');
    assert.is(await historyCount(url), 0, 'nothing recorded as lost');
    assert.is(first.tracker.degradedReason, undefined);
    assert.equal(problems(logs), []);

    for (const c of clients.splice(0)) await c.close();
    await first.close();
    const next = await startNode(url, 'dup');
    await next.close();
  } finally {
    for (const c of clients) await c.close();
    await first.close();
  }
});

test('the CLI refuses a NODE_ID in use: one line on stderr, exit 1', async () => {
  const url = await postgres.freshDatabase();
  const first = await startNode(url, 'cli-dup');
  try {
    const client = await connectClient(first.wsUrl('/ws'));
    const second = runCli({ PORT: '0', DATABASE_URL: url, NODE_ID: 'cli-dup', NODE_HEARTBEAT_MS: '200', NODE_TTL_MS: '1000', ADMIN_TOKEN: TOKEN });
    assert.is(await exitCode(second), 1);
    assert.match(second.output(), /^roster: NODE_ID cli-dup is in use by another running Roster node/m);
    assert.not.match(second.output(), /\n\s+at /, 'no stack trace on stderr');
    assert.equal(await activeSessionIds(first), [client.sessionId]);
    await client.close();
  } finally {
    await first.close();
  }
});

test('a running node whose NODE_ID another process takes logs it, reports it, stops writing, and takes the id back once free', async () => {
  const url = await postgres.freshDatabase();
  const dbName = new URL(url).pathname.slice(1);
  const logs = captureLogs('info');
  const node = await startNode(url, 'taken', { logger: logs.logger });
  const clients: TestClient[] = [];
  const intruder = new pg.Client({ connectionString: url });
  await intruder.connect();
  try {
    const before = await connectClient(node.wsUrl('/ws'));
    clients.push(before);
    // The node's lock session dies, and another session is first to take the id.
    const taking = intruder.query(`select pg_advisory_lock(hashtextextended('roster:node:taken', 0))`);
    await waitFor(async () => {
      const { rows } = await postgres.server.query(`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = $1`, [dbName]);
      return rows[0].n === 1;
    }, 5000, 'the intruder waiting for the lock');
    const killed = await postgres.server.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'roster-listener:taken' and datname = $1`, [dbName]);
    assert.is(killed.rowCount, 1);
    await taking;

    await waitFor(() => /NODE_ID taken is in use/.test(node.tracker.degradedReason ?? ''), 10_000, 'the node degraded, naming its NODE_ID');
    assert.is(logs.find('NODE_ID taken by another process; this node stops writing rows until it is free').length, 1);
    const health = await fetch(node.httpUrl('/health'));
    assert.is(health.status, 503);
    assert.match(((await health.json()) as { reason: string }).reason, /NODE_ID taken/);
    // Served from memory, never written while the id is someone else's.
    const during = connect(node.wsUrl('/ws'));
    clients.push(during);
    const welcome = await during.next((m) => m.type === 'welcome');
    await new Promise((r) => setTimeout(r, 500));
    const rows = async () => (await node.tracker.db.selectFrom('users').select('session_id').execute()).map((r) => r.session_id).sort();
    assert.equal(await rows(), [before.sessionId]);

    await intruder.end();
    const expected = [before.sessionId, welcome.sessionId].sort();
    await waitFor(async () => node.tracker.degradedReason === undefined && JSON.stringify(await rows()) === JSON.stringify(expected), 15_000, 'the node writing again');
  } finally {
    await intruder.end().catch(() => {});
    for (const c of clients) await c.close();
    await node.close();
  }
});

test('a listener cut off in a partition: the node ends its own old session, which still holds the lock, and listens again', async () => {
  const url = await postgres.freshDatabase();
  const dbName = new URL(url).pathname.slice(1);
  const proxy = await startTcpProxy(Number(new URL(url).port));
  const viaProxy = new URL(url);
  viaProxy.port = String(proxy.port);
  // The listener's first probe is lost, and its server side never hears of it.
  proxy.partitionOn((chunk, seen) => {
    if (chunk.includes('roster-listener:cut')) seen.listener = true;
    return seen.listener === true && chunk.includes('select 1\0');
  });
  const logs = captureLogs('info');
  const node = await startNode(viaProxy.toString(), 'cut', { logger: logs.logger });
  try {
    const listeners = async () =>
      (await postgres.server.query(`select pid from pg_stat_activity where application_name = 'roster-listener:cut' and datname = $1`, [dbName])).rows.map((r) => r.pid as number);
    const [cut] = await listeners();
    await waitFor(() => proxy.partitioned === 1, 10_000, 'the listener partitioned');
    await waitFor(() => logs.find('event listener lost; reconnecting').length > 0, 10_000, 'the probe finding it');
    // Only the node itself can end that session: to the server it is alive, and it holds the lock.
    await waitFor(async () => {
      const pids = await listeners();
      return pids.length === 1 && pids[0] !== cut && (await fetch(node.httpUrl('/health'))).status === 200;
    }, 15_000, 'one listener again, a new one');
    assert.is(node.tracker.degradedReason, undefined);
    assert.is(logs.find('NODE_ID taken by another process; this node stops writing rows until it is free').length, 0);
  } finally {
    await node.close();
    await proxy.close();
  }
});

test.run();
