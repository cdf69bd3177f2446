/**
 * The cluster view on a real PostgreSQL (started by this file): a node
 * serves admin snapshots from memory, answers a kick for a session no
 * node holds, a view that cannot be loaded closes its admins and is
 * loaded again once the database answers, and /health and
 * GET /active-users while the listener is down. GET /active-users from
 * the view is in multi-node-active-users.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CloseCode } from '../src/constants.js';
import { getActiveUsers, startNode } from './helpers/multi-node.js';
import { lockUsers, postgresForSuite, type UsersLock } from './helpers/postgres.js';
import { TOKEN } from './helpers/tracker.js';
import { connect, connectAdmin, connectClient, type TestClient } from './helpers/ws-client.js';

const view = suite('multi-node cluster view');

const postgres = postgresForSuite(view, 'view');

view('a new admin\'s snapshot is served from memory: it does not wait for a locked table', async () => {
  const url = await postgres.freshDatabase();
  const a = await startNode(url, 'mem-a');
  const b = await startNode(url, 'mem-b');
  const clients: TestClient[] = [];
  let lock: UsersLock | undefined;
  try {
    const onA = await connectClient(a.wsUrl('/ws?user=alice'));
    const onB = await connectClient(b.wsUrl('/ws?user=bob'));
    clients.push(onA, onB);
    // A's view has taken B's connect once an admin there can see it.
    const first = await connectAdmin(a.wsUrl('/admin/stream'), TOKEN);
    clients.push(first);
    if (!first.snapshot.some((u) => u.sessionId === onB.sessionId)) {
      await first.next((m) => m.type === 'connected' && m.user.sessionId === onB.sessionId);
    }
    lock = await lockUsers(url);
    const started = Date.now();
    const second = await connectAdmin(a.wsUrl('/admin/stream'), TOKEN);
    clients.push(second);
    assert.equal(second.snapshot.map((u) => u.sessionId).sort(), [onA.sessionId, onB.sessionId].sort(), 'both nodes\' clients');
    assert.is(second.snapshot.find((u) => u.sessionId === onB.sessionId).metadata.user, 'bob');
    // The lock is held until released below: a snapshot read from the table could not have come back.
    assert.ok(Date.now() - started < 4000, 'answered while the table was locked');
  } finally {
    await lock?.release();
    for (const c of clients) await c.close();
    await a.close();
    await b.close();
  }
});

view('a kick for a session that no node holds gets "unknown session"', async () => {
  const url = await postgres.freshDatabase();
  const a = await startNode(url, 'unknown-a');
  const b = await startNode(url, 'unknown-b');
  const clients: TestClient[] = [];
  try {
    const onB = await connectClient(b.wsUrl('/ws'));
    clients.push(onB);
    const admin = await connectAdmin(a.wsUrl('/admin/stream'), TOKEN);
    clients.push(admin);
    assert.ok(admin.snapshot.some((u) => u.sessionId === onB.sessionId), 'A\'s view holds B\'s client');
    const stranger = '01900000-0000-7000-8000-000000000000';
    admin.send({ type: 'kick', sessionId: stranger });
    const reply = await admin.next((m) => m.type === 'error');
    assert.equal([reply.error, reply.sessionId], ['unknown session', stranger]);
    // B's client is untouched, and the admin channel stays open.
    await new Promise((r) => setTimeout(r, 100));
    assert.is(onB.ws.readyState, onB.ws.OPEN);
    assert.is(admin.ws.readyState, admin.ws.OPEN);
  } finally {
    for (const c of clients) await c.close();
    await a.close();
    await b.close();
  }
});

view('a view that cannot be loaded closes its admins with 1011; it loads once the table answers', async () => {
  const url = await postgres.freshDatabase();
  // Reads of a locked table fail after 300 ms instead of waiting.
  const a = await startNode(url, 'load-a', { dbStatementTimeoutMs: 300 });
  const clients: TestClient[] = [];
  let lock: UsersLock | undefined;
  try {
    const client = await connectClient(a.wsUrl('/ws?user=kept'));
    clients.push(client);
    const admin = await connectAdmin(a.wsUrl('/admin/stream'), TOKEN);
    clients.push(admin);
    lock = await lockUsers(url);
    // The listener reconnects, and its reload of the view times out on the lock.
    const dbName = new URL(url).pathname.slice(1);
    const killed = await postgres.server.query(
      `select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'roster-listener:load-a' and datname = $1`,
      [dbName],
    );
    assert.is(killed.rowCount, 1);
    const closed = await Promise.race([admin.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000))]);
    assert.ok(closed, 'the admin was closed');
    assert.is(closed!.code, CloseCode.INTERNAL_ERROR);
    // Meanwhile a new admin waits (no snapshot yet), and is closed at the next failed attempt.
    const waiting = connect(a.wsUrl('/admin/stream'), { headers: { authorization: `Bearer ${TOKEN}` } });
    clients.push(waiting);
    const waited = await Promise.race([waiting.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000))]);
    assert.is(waited?.code, CloseCode.INTERNAL_ERROR, 'closed by the retry that failed');
    assert.not.ok(waiting.inbox.some((m) => m.type === 'snapshot'), 'no snapshot while the view is not loaded');
    await lock.release();
    // The next retry loads the view: a new admin gets the client that stayed connected all along.
    const deadline = Date.now() + 15_000;
    let snapshot: any[] | undefined;
    while (snapshot === undefined && Date.now() < deadline) {
      const next = connect(a.wsUrl('/admin/stream'), { headers: { authorization: `Bearer ${TOKEN}` } });
      clients.push(next);
      const first = await Promise.race([next.next((m) => m.type === 'snapshot', 15_000).catch(() => undefined), next.closed.then(() => undefined)]);
      snapshot = first?.users;
    }
    assert.ok(snapshot, 'a snapshot once the table answers');
    assert.equal(snapshot!.map((u) => u.sessionId), [client.sessionId]);
  } finally {
    await lock?.release();
    for (const c of clients) await c.close();
    await a.close();
  }
});

view('/health reports the change listener: 503 while it cannot reconnect (GET /active-users then reads the table), 200 once it is back', async () => {
  const url = await postgres.freshDatabase();
  const dbName = new URL(url).pathname.slice(1);
  // Pooled connections stay open, so the health check's own query still has one.
  const a = await startNode(url, 'health-a', { dbIdleTimeoutMs: 120_000 });
  const health = async () => {
    const res = await fetch(a.httpUrl('/health'));
    return { status: res.status, body: (await res.json()) as any };
  };
  let late: Awaited<ReturnType<typeof connectClient>> | undefined;
  try {
    const well = await health();
    assert.is(well.status, 200);
    assert.is(well.body.events, 'listening');
    // New connections to the database are refused, and the listener's is cut.
    await postgres.server.query(`alter database "${dbName}" allow_connections false`);
    await postgres.server.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'roster-listener:health-a' and datname = $1`, [dbName]);
    let sick = await health();
    for (const deadline = Date.now() + 10_000; sick.status !== 503 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 50));
      sick = await health();
    }
    assert.is(sick.status, 503);
    assert.equal([sick.body.status, sick.body.database, sick.body.events], ['degraded', 'connected', 'reconnecting']);
    // Meanwhile GET /active-users reads the table: a connect made now is there, though the view missed it.
    late = await connectClient(a.wsUrl('/ws'));
    const listed = await getActiveUsers(a);
    assert.is(listed.status, 200);
    assert.equal(listed.body.users.map((u: any) => u.sessionId), [late.sessionId]);
    // And with no connection to the database left either, 503.
    await postgres.server.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1`, [dbName]);
    const unavailable = await getActiveUsers(a);
    assert.is(unavailable.status, 503);
    assert.is(unavailable.body.error, 'database unavailable');
    await postgres.server.query(`alter database "${dbName}" allow_connections true`);
    let back = await health();
    for (const deadline = Date.now() + 15_000; back.status !== 200 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 100));
      back = await health();
    }
    assert.is(back.status, 200);
    assert.is(back.body.events, 'listening');
  } finally {
    await postgres.server.query(`alter database "${dbName}" allow_connections true`);
    await late?.close();
    await a.close();
  }
});

view.run();
