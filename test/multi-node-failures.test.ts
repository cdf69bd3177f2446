/**
 * Several tracker nodes on one real PostgreSQL (started by this file),
 * when things go wrong: a CLI node killed and restarted with the same
 * NODE_ID, the change listener lost, a live node declared dead, failed
 * writes reconciled, and a graceful stop.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startCli } from './helpers/cli.js';
import { activeSessionIds, follow, startNode } from './helpers/multi-node.js';
import { lockUsers, postgresForSuite, type UsersLock } from './helpers/postgres.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { TOKEN } from './helpers/tracker.js';
import { connect, connectAdmin, connectClient, waitFor, type TestClient } from './helpers/ws-client.js';

const multi = suite('multi-node failures on PostgreSQL');

const postgres = postgresForSuite(multi, 'multi_failures');

multi('kill -9 of a CLI node: a survivor reaps its rows and announces the leaves; a restart with the same NODE_ID clears its own rows', async () => {
  const url = await postgres.freshDatabase();
  const ttl = 1000;
  const heartbeat = 200;
  const survivor = await startNode(url, 'survivor', { nodeHeartbeatMs: heartbeat, nodeTtlMs: ttl });
  const env = { DATABASE_URL: url, NODE_ID: 'doomed', NODE_HEARTBEAT_MS: String(heartbeat), NODE_TTL_MS: String(ttl), ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'info' };
  let child = await startCli(env);
  const clients: TestClient[] = [];
  try {
    const admin = await connectAdmin(survivor.wsUrl('/admin/stream'), TOKEN);
    clients.push(admin);
    const doomed = await Promise.all([1, 2, 3].map(() => connectClient(`ws://127.0.0.1:${child.port}/ws`)));
    clients.push(...doomed);
    for (const c of doomed) await admin.next((m) => m.type === 'connected' && m.user.sessionId === c.sessionId);

    const killedAt = Date.now();
    child.child.kill('SIGKILL');
    await child.exited;
    // Bound: the TTL after its last heartbeat, plus one survivor heartbeat, plus slack for a loaded machine.
    for (const c of doomed) {
      await admin.next((m) => m.type === 'disconnected' && m.sessionId === c.sessionId, ttl + heartbeat + 3000);
    }
    assert.ok(Date.now() - killedAt >= ttl - heartbeat, 'not reaped before its TTL');
    assert.equal(await activeSessionIds(survivor), []);
    const nodes = await survivor.tracker.db.selectFrom('nodes').select('node_id').execute();
    assert.equal(nodes.map((n) => n.node_id), ['survivor'], 'the dead node\'s heartbeat row is gone');
    const lost = await survivor.tracker.db.selectFrom('connection_history').select(['session_id', 'close_code', 'close_reason']).execute();
    assert.equal(lost.map((r) => r.session_id).sort(), doomed.map((c) => c.sessionId).sort(), 'reaped rows are kept in history');
    assert.ok(lost.every((r) => Number(r.close_code) === 1006 && r.close_reason === 'tracker lost'));

    // Restart: a node that crashes and comes back with the same NODE_ID
    // clears its own rows at once, well before any TTL.
    const longTtl = { ...env, NODE_TTL_MS: '60000' };
    child = await startCli(longTtl);
    const again = await connectClient(`ws://127.0.0.1:${child.port}/ws`);
    await admin.next((m) => m.type === 'connected' && m.user.sessionId === again.sessionId);
    child.child.kill('SIGKILL');
    await child.exited;
    child = await startCli(longTtl);
    await admin.next((m) => m.type === 'disconnected' && m.sessionId === again.sessionId, 5000);
    assert.equal(await activeSessionIds(survivor), []);
    const history = await survivor.tracker.db.selectFrom('connection_history').select('session_id').where('session_id', '=', again.sessionId).execute();
    assert.is(history.length, 1, 'the restarted node records its own lost connection');
  } finally {
    for (const c of clients) await c.close();
    child.child.kill('SIGKILL');
    await child.exited;
    await survivor.close();
  }
});

multi('listener loss: reconnects and sends admins a fresh snapshot covering what was missed', async () => {
  const url = await postgres.freshDatabase();
  const a = await startNode(url, 'listen-a');
  const b = await startNode(url, 'listen-b');
  const clients: TestClient[] = [];
  try {
    const admin = await connectAdmin(a.wsUrl('/admin/stream'), TOKEN);
    clients.push(admin);
    const view = follow(admin);
    const dbName = new URL(url).pathname.slice(1);
    const killed = await postgres.server.query(
      `select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = 'roster-listener:listen-a' and datname = $1`,
      [dbName],
    );
    assert.is(killed.rowCount, 1, 'found node A\'s listener connection');
    // Changes while A is deaf (or just after) must still reach its admin.
    const during = await connectClient(b.wsUrl('/ws?user=during'));
    clients.push(during);
    const fresh = await admin.next((m) => m.type === 'snapshot', 10_000);
    void fresh;
    await waitFor(() => view.users.has(during.sessionId), 5000, 'the missed connect is in the view');
    // And the live stream works again afterwards.
    const after = await connectClient(b.wsUrl('/ws?user=after'));
    clients.push(after);
    await admin.next((m) => m.type === 'connected' && m.user.sessionId === after.sessionId, 5000);
    const reconnected = await postgres.server.query(
      `select count(*)::int as n from pg_stat_activity where application_name = 'roster-listener:listen-a' and datname = $1`,
      [dbName],
    );
    assert.is(reconnected.rows[0].n, 1, 'one listener connection again');
    assert.equal([...view.users.keys()].sort(), [during.sessionId, after.sessionId].sort());
    assert.equal(view.anomalies, []);
  } finally {
    for (const c of clients) await c.close();
    await a.close();
    await b.close();
  }
});

multi('listener loss: an admin already subscribed gets a resync notice, then at once the fresh snapshot; admins of other nodes get neither', async () => {
  const url = await postgres.freshDatabase();
  const a = await startNode(url, 'notice-a');
  const b = await startNode(url, 'notice-b');
  const clients: TestClient[] = [];
  let churning = true;
  let churn: Promise<void> = Promise.resolve();
  try {
    clients.push(await connectClient(b.wsUrl('/ws?user=before')));
    const admin = await connectAdmin(a.wsUrl('/admin/stream'), TOKEN);
    const other = await connectAdmin(b.wsUrl('/admin/stream'), TOKEN);
    clients.push(admin, other);
    const view = follow(admin);
    // Connects keep arriving on B throughout, so that events are on their
    // way to A's admin while its fresh snapshot goes out.
    churn = (async () => {
      for (let n = 0; churning && n < 200; n++) {
        clients.push(await connectClient(b.wsUrl('/ws?user=churn')));
        await sleep(20);
      }
    })();
    await sleep(100);
    const dbName = new URL(url).pathname.slice(1);
    const killed = await postgres.server.query(
      `select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = 'roster-listener:notice-a' and datname = $1`,
      [dbName],
    );
    assert.is(killed.rowCount, 1, 'found node A\'s listener connection');
    const fresh = await admin.next((m) => m.type === 'snapshot', 10_000);
    await sleep(200); // events after the snapshot, too
    churning = false;
    await churn;

    const at = admin.inbox.indexOf(fresh);
    assert.equal(admin.inbox[at - 1], { type: 'resync' }, 'the notice comes immediately before the snapshot, nothing between');
    assert.equal(admin.inbox.filter((m) => m.type === 'resync').length, 1, 'one notice');
    assert.is(admin.inbox[0].type, 'snapshot', 'no notice before the first snapshot');
    // The admin's list is whole again: every churned connect is in it, once.
    const last = clients[clients.length - 1] as TestClient & { sessionId: string };
    await waitFor(() => view.users.has(last.sessionId), 5000, 'the last connect in A\'s admin view');
    assert.is(view.users.size, clients.length - 2, 'every client, once');
    assert.equal(view.anomalies, []);
    // B's listener never dropped: its admin sees only events after its one snapshot.
    await other.next((m) => m.type === 'connected' && m.user.sessionId === last.sessionId, 5000);
    assert.equal(other.inbox.filter((m) => m.type === 'resync' || m.type === 'snapshot').map((m) => m.type), ['snapshot']);
  } finally {
    churning = false;
    await churn.catch(() => {});
    for (const c of clients) await c.close();
    await a.close();
    await b.close();
  }
});

multi('a node declared dead while alive registers again and rewrites its rows', async () => {
  const url = await postgres.freshDatabase();
  const a = await startNode(url, 'judge', { nodeTtlMs: 60_000 });
  const b = await startNode(url, 'sleeper', { nodeTtlMs: 60_000 });
  const clients: TestClient[] = [];
  try {
    const onB = await connectClient(b.wsUrl('/ws'));
    clients.push(onB);
    const admin = await connectAdmin(a.wsUrl('/admin/stream'), TOKEN);
    clients.push(admin);
    assert.equal(admin.snapshot.map((u) => u.sessionId), [onB.sessionId]);
    // What a survivor does to a node it believes dead: its node row and rows go.
    await a.tracker.db.deleteFrom('nodes').where('node_id', '=', 'sleeper').execute();
    await a.tracker.db.deleteFrom('users').where('node_id', '=', 'sleeper').execute();
    // At its next heartbeat the sleeper notices, re-registers and rewrites its live rows.
    await admin.next((m) => m.type === 'connected' && m.user.sessionId === onB.sessionId, 5000);
    assert.equal(await activeSessionIds(a), [onB.sessionId]);
    const nodes = await a.tracker.db.selectFrom('nodes').select('node_id').orderBy('node_id').execute();
    assert.equal(nodes.map((n) => n.node_id), ['judge', 'sleeper']);
  } finally {
    for (const c of clients) await c.close();
    await a.close();
    await b.close();
  }
});

multi('a node recovering from failed writes reconciles only its own rows', async () => {
  const url = await postgres.freshDatabase();
  // A short statement timeout turns a blocked write into a failure quickly.
  const a = await startNode(url, 'flaky', { nodeTtlMs: 60_000, dbStatementTimeoutMs: 300 });
  const b = await startNode(url, 'steady', { nodeTtlMs: 60_000 });
  const clients: TestClient[] = [];
  let lock: UsersLock | undefined;
  try {
    const onB = await connectClient(b.wsUrl('/ws'));
    const a1 = await connectClient(a.wsUrl('/ws'));
    clients.push(onB, a1);
    const admin = await connectAdmin(b.wsUrl('/admin/stream'), TOKEN);
    clients.push(admin);
    const view = follow(admin);

    // Hold the table: A's next write times out and A enters degraded mode.
    lock = await lockUsers(url);
    const a2 = connect(a.wsUrl('/ws'));
    clients.push(a2);
    await waitFor(() => a.tracker.degradedReason !== undefined, 5000, 'A degraded');
    await lock.release();

    // A's reconcile writes its missing row and must leave B's rows alone.
    await waitFor(() => a.tracker.degradedReason === undefined, 10_000, 'A recovered');
    const welcome = await a2.next((m) => m.type === 'welcome');
    await waitFor(() => view.users.has(welcome.sessionId), 5000, 'the reconciled connect reaches B\'s admin');
    assert.equal(await activeSessionIds(b), [onB.sessionId, a1.sessionId, welcome.sessionId].sort());
    assert.ok(view.users.has(onB.sessionId), 'B\'s row was never announced as gone');
    assert.equal(view.anomalies, []);
  } finally {
    await lock?.release().catch(() => {});
    for (const c of clients) await c.close();
    await a.close();
    await b.close();
  }
});

multi('connections to PostgreSQL reset mid-write (no error from the server): the node degrades, recovers and does not crash', async () => {
  const url = await postgres.freshDatabase();
  const proxy = await startTcpProxy(postgres.server.port);
  const proxied = new URL(url);
  proxied.port = String(proxy.port);
  // pg emits 'error' on a client whose socket ends without an error
  // message; on a client checked out of the pool nobody listened, and the
  // process died. Recorded here instead of ending the test run.
  const uncaught: Error[] = [];
  const onUncaught = (error: Error) => uncaught.push(error);
  process.on('uncaughtException', onUncaught);
  const node = await startNode(proxied.toString(), 'reset', { nodeTtlMs: 60_000 });
  const clients: TestClient[] = [];
  let lock: UsersLock | undefined;
  try {
    const first = await connectClient(node.wsUrl('/ws'));
    clients.push(first);
    // Hold the table so that the next connect's write is in flight when the connections drop.
    lock = await lockUsers(url);
    const pending = connect(node.wsUrl('/ws'));
    clients.push(pending);
    await waitFor(async () => (await lockWaiters(url)) > 0, 5000, 'the write waiting on the lock');
    proxy.reset();
    await waitFor(() => node.tracker.degradedReason !== undefined, 5000, 'the node degraded');
    await lock.release();
    await waitFor(() => node.tracker.degradedReason === undefined, 15_000, 'the node recovered');
    const welcome = await pending.next((m) => m.type === 'welcome');
    assert.equal(await activeSessionIds(node), [first.sessionId, welcome.sessionId].sort());
    assert.equal(uncaught.map((e) => e.message), []);
  } finally {
    process.off('uncaughtException', onUncaught);
    await lock?.release().catch(() => {});
    for (const c of clients) await c.close();
    await node.close();
    await proxy.close();
  }
});

/** Sessions waiting for a lock in `url`'s database. */
async function lockWaiters(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock'");
    return result.rows[0]!.n;
  } finally {
    await client.end();
  }
}

multi('graceful stop removes the node\'s rows at once and other admins see the leaves', async () => {
  const url = await postgres.freshDatabase();
  const a = await startNode(url, 'stay', { nodeTtlMs: 60_000 });
  const b = await startNode(url, 'leave', { nodeTtlMs: 60_000 });
  const clients: TestClient[] = [];
  try {
    const stays = await connectClient(a.wsUrl('/ws'));
    const leaves = await Promise.all([1, 2].map(() => connectClient(b.wsUrl('/ws'))));
    clients.push(stays, ...leaves);
    const admin = await connectAdmin(a.wsUrl('/admin/stream'), TOKEN);
    clients.push(admin);
    assert.is(admin.snapshot.length, 3);
    await b.close();
    for (const c of leaves) await admin.next((m) => m.type === 'disconnected' && m.sessionId === c.sessionId, 5000);
    assert.equal(await activeSessionIds(a), [stays.sessionId]);
    const nodes = await a.tracker.db.selectFrom('nodes').select('node_id').execute();
    assert.equal(nodes.map((n) => n.node_id), ['stay'], 'the stopped node\'s heartbeat row is gone');
  } finally {
    for (const c of clients) await c.close();
    await a.close();
    await b.close();
  }
});

multi.run();
