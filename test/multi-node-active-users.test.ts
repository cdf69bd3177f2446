/**
 * GET /active-users with several nodes on a real PostgreSQL (started by
 * this file): answered from the cluster view after a barrier, the same
 * rows as the table; read from the table when the barrier does not come
 * back in time; the view as it is when no barrier can be sent. The
 * listener-down case is in multi-node-view.test.ts, with /health.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { tablePages } from './helpers/active-users-pages.js';
import { getActiveUsers, startNode } from './helpers/multi-node.js';
import { lockUsers, postgresForSuite, type UsersLock } from './helpers/postgres.js';
import type { TestTracker } from './helpers/tracker.js';
import { connectClient, type TestClient } from './helpers/ws-client.js';

const activeUsers = suite('GET /active-users on several nodes');

const postgres = postgresForSuite(activeUsers, 'active_users');

/** GET /active-users as the table answers it (what a node without a view would send). */
function fromTable(node: TestTracker, limit: number, offset: number): Promise<any> {
  return tablePages(node.tracker.db)({ limit, offset });
}

activeUsers('served from memory: it holds a just-committed connect on another node, and does not wait for a locked table', async () => {
  const url = await postgres.freshDatabase();
  const a = await startNode(url, 'get-a');
  const b = await startNode(url, 'get-b');
  const clients: TestClient[] = [];
  let lock: UsersLock | undefined;
  try {
    clients.push(await connectClient(a.wsUrl('/ws?user=alice')), await connectClient(a.wsUrl('/ws?user=ann')));
    // Its welcome comes after its commit; the request's barrier makes A's view hold it.
    const onB = await connectClient(b.wsUrl('/ws?user=bob'));
    clients.push(onB);
    lock = await lockUsers(url);
    const page = await getActiveUsers(a, '?limit=2&offset=1');
    const all = await getActiveUsers(a);
    // The lock is held until released below: a read of the table could not have come back.
    assert.equal([page.status, all.status], [200, 200]);
    assert.ok(all.ms < 4000 && page.ms < 4000, 'answered while the table was locked');
    assert.is(all.body.count, 3);
    assert.ok(all.body.users.some((u: any) => u.sessionId === onB.sessionId), 'B\'s connect is in A\'s answer');
    await lock.release();
    // The same answer the table gives: rows, order, page and count.
    assert.equal(page.body, await fromTable(a, 2, 1));
    assert.equal(all.body, await fromTable(a, 1000, 0));
  } finally {
    await lock?.release();
    for (const c of clients) await c.close();
    await a.close();
    await b.close();
  }
});

activeUsers('reads the table when the listener is stalled: the barrier is given up on', async () => {
  const url = await postgres.freshDatabase();
  const dbName = new URL(url).pathname.slice(1);
  // A stalled listener is found by its probe only after 15-30 s; the request must not wait that long.
  const a = await startNode(url, 'stall-a', { nodeHeartbeatMs: 15_000, nodeTtlMs: 60_000 });
  const b = await startNode(url, 'stall-b');
  const clients: TestClient[] = [];
  let frozen: number | undefined;
  try {
    clients.push(await connectClient(a.wsUrl('/ws')));
    assert.is((await getActiveUsers(a)).body.count, 1);
    const { rows } = await postgres.server.query(`select pid from pg_stat_activity where application_name = 'roster-listener:stall-a' and datname = $1`, [dbName]);
    assert.is(rows.length, 1, 'A\'s listener connection');
    frozen = rows[0].pid as number;
    process.kill(frozen, 'SIGSTOP');
    // Committed while A hears nothing: only the table has it.
    const onB = await connectClient(b.wsUrl('/ws'));
    clients.push(onB);
    const answer = await getActiveUsers(a);
    assert.is(answer.status, 200);
    assert.is(answer.body.count, 2);
    assert.ok(answer.body.users.some((u: any) => u.sessionId === onB.sessionId), 'read from the table');
    assert.ok(answer.ms < 10_000, `answered after the barrier timeout, not after the probe finds the stall (${answer.ms} ms)`);
  } finally {
    if (frozen !== undefined) process.kill(frozen, 'SIGCONT');
    for (const c of clients) await c.close();
    await a.close();
    await b.close();
  }
});

activeUsers('serves the view as it is when the barrier cannot be sent (the pool cannot reach the database)', async () => {
  const url = await postgres.freshDatabase();
  const dbName = new URL(url).pathname.slice(1);
  const a = await startNode(url, 'nopool-a');
  const clients: TestClient[] = [];
  try {
    const client = await connectClient(a.wsUrl('/ws'));
    clients.push(client);
    assert.is((await getActiveUsers(a)).body.count, 1);
    // Every connection but the listener's is cut, and no new one is let in.
    await postgres.server.query(`alter database "${dbName}" allow_connections false`);
    await postgres.server.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name <> 'roster-listener:nopool-a'`, [dbName]);
    const answer = await getActiveUsers(a);
    assert.is(answer.status, 200);
    assert.equal(answer.body.users.map((u: any) => u.sessionId), [client.sessionId]);
  } finally {
    await postgres.server.query(`alter database "${dbName}" allow_connections true`);
    for (const c of clients) await c.close();
    await a.close();
  }
});

activeUsers.run();
