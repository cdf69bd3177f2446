/**
 * GET /active-users paged by cursor with several nodes on a real
 * PostgreSQL (started by this file): the table gives the same pages as
 * the views, ties included, and a walk of every page under churn on both
 * nodes sees each connection live throughout exactly once, from the
 * cluster view and from the table (read when the barrier does not come
 * back); the same walk by offset repeats and skips rows.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CommittedView } from '../src/committed-view.js';
import { migrateToLatest } from '../src/migrations.js';
import { openDatabase } from '../src/postgres.js';
import { countActiveUsers, createUsers } from '../src/repository.js';
import { activeUsersEnvelope } from '../src/user-json.js';
import { allAnswers, assertDescending, churnWalk, exactlyOnce, tablePages, tiedUsers } from './helpers/active-users-pages.js';
import { getActiveUsers, startNode } from './helpers/multi-node.js';
import { postgresForSuite } from './helpers/postgres.js';
import type { TestTracker } from './helpers/tracker.js';
import { connectClient, waitFor, type TestClient } from './helpers/ws-client.js';

const POOL = { poolSize: 4, dbConnectTimeoutMs: 5000, dbIdleTimeoutMs: 10_000, dbStatementTimeoutMs: 10_000 };
const test = suite('GET /active-users by cursor, several nodes');
const postgres = postgresForSuite(test, 'active_cursor');

test('the PostgreSQL table gives the same pages as the view, ties included', async () => {
  const db = openDatabase({ databasePath: 'unused', databaseUrl: await postgres.freshDatabase(), ...POOL });
  try {
    const { error } = await migrateToLatest(db);
    if (error) throw error;
    const users = tiedUsers();
    await createUsers(db, users, 'n1');
    const view = new CommittedView();
    view.apply({ connected: users, activity: [], disconnected: [] });
    const fromView = await allAnswers((page) => JSON.parse(view.json({ page, ...activeUsersEnvelope(view.size) })), users);
    assert.equal(await allAnswers(tablePages(db), users), fromView);
  } finally {
    await db.destroy();
  }
});

/** Walk A's pages with clients on both nodes (or only on `b`), churn on both. */
async function walk(url: string, a: TestTracker, nodes: TestTracker[], mode: 'before' | 'offset', count: number) {
  const clients: TestClient[] = [];
  try {
    const initial = [];
    for (let i = 0; i < count; i++) initial.push(await connectClient(nodes[i % nodes.length]!.wsUrl(`/ws?user=first-${i}`)));
    clients.push(...initial);
    const result = await churnWalk({
      mode,
      limit: 4,
      initial,
      connect: (i) => connectClient(nodes[i % nodes.length]!.wsUrl(`/ws?user=new-${i}`)),
      get: (query) => getActiveUsers(a, query),
      // Every node's commits are in the shared table; A's view holds them once the request's barrier is back.
      settle: (open) => waitFor(async () => (await countActiveUsers(a.tracker.db)) === open, 5000, `${open} rows`),
    });
    clients.push(...result.clients);
    return result;
  } finally {
    for (const c of clients) await c.close();
  }
}

test('walking every page by cursor under churn on two nodes, from the cluster view: each connection once; by offset: repeats and skips', async () => {
  const url = await postgres.freshDatabase();
  const a = await startNode(url, 'walk-a');
  const b = await startNode(url, 'walk-b');
  try {
    const byCursor = await walk(url, a, [a, b], 'before', 20);
    assert.equal(exactlyOnce(byCursor), { repeated: [], missing: [] });
    assertDescending(byCursor);
    const byOffset = exactlyOnce(await walk(url, a, [a, b], 'offset', 20));
    assert.ok(byOffset.repeated.length > 0 && byOffset.missing.length > 0, `offset repeats and skips: ${JSON.stringify(byOffset)}`);
  } finally {
    await a.close();
    await b.close();
  }
});

test('walking every page by cursor under churn, from the table (A\'s listener stalled): each connection once', async () => {
  const url = await postgres.freshDatabase();
  const dbName = new URL(url).pathname.slice(1);
  // A stalled listener is found by its probe only after 15-30 s; each request gives up its barrier long before.
  const a = await startNode(url, 'table-a', { nodeHeartbeatMs: 15_000, nodeTtlMs: 60_000 });
  const b = await startNode(url, 'table-b');
  let frozen: number | undefined;
  try {
    const { rows } = await postgres.server.query(`select pid from pg_stat_activity where application_name = 'roster-listener:table-a' and datname = $1`, [dbName]);
    assert.is(rows.length, 1, 'A\'s listener connection');
    frozen = rows[0].pid as number;
    process.kill(frozen, 'SIGSTOP');
    // Every client is on B, committed while A hears nothing: only the table has them.
    const byCursor = await walk(url, a, [b], 'before', 12);
    assert.ok(byCursor.seen.length > 0, 'read from the table');
    assert.equal(exactlyOnce(byCursor), { repeated: [], missing: [] });
    assertDescending(byCursor);
    assert.is(byCursor.pages[0].count, 12, 'the count read with the page');
  } finally {
    if (frozen !== undefined) process.kill(frozen, 'SIGCONT');
    await a.close();
    await b.close();
  }
});

test.run();
