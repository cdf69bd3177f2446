/**
 * connection_history: one row per ended connection, written with the
 * delete from `users`, carrying the close code and the message count;
 * retention prunes; GET /history pages are stable under inserts.
 */
import { join } from 'node:path';
import { CompiledQuery, sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PendingSessions } from '../src/connection-end.js';
import { openSqlite, type Database } from '../src/database.js';
import { insertSessions, listSessions, pruneSessions, type SessionRecord } from '../src/history-repository.js';
import { migrateToLatest } from '../src/migrations.js';
import { getUserBySessionId } from '../src/repository.js';
import { IMPOSSIBLE_BEFORE, sessionRecord } from './helpers/history.js';
import { startTracker, tempDir, TOKEN, type TestTracker } from './helpers/tracker.js';
import { connect, connectAdmin, connectClient, waitFor, type TestClient } from './helpers/ws-client.js';

const AUTH = { authorization: `Bearer ${TOKEN}` };
const DAY = 86_400_000;

async function history(t: TestTracker, query = ''): Promise<{ status: number; body: any }> {
  const res = await fetch(t.httpUrl(`/history${query}`), { headers: AUTH });
  return { status: res.status, body: await res.json() };
}

async function sessionFor(t: TestTracker, sessionId: string): Promise<SessionRecord | undefined> {
  const rows = await listSessions(t.tracker.db, { limit: 1000 });
  return rows.find((r) => r.sessionId === sessionId);
}


async function freshDb(): Promise<{ db: Database; close(): Promise<void> }> {
  const db = openSqlite({ path: join(tempDir(), 'h.db') });
  const { error } = await migrateToLatest(db);
  if (error) throw error;
  return { db, close: () => db.destroy() };
}

const rows = suite('history rows');

rows('a client-chosen close: code, reason, messages, bytes, label; written with the delete', async () => {
  const t = await startTracker();
  const clients: TestClient[] = [];
  try {
    const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    const client = await connectClient(t.wsUrl('/ws?user=alice'), { headers: { 'user-agent': 'history-test' } });
    clients.push(admin, client);
    const ping = JSON.stringify({ type: 'ping' });
    for (let i = 0; i < 5; i++) client.send(ping);
    for (let i = 0; i < 5; i++) await client.next((m) => m.type === 'pong');
    client.send('x'.repeat(100));
    client.ws.close(4321, 'going home');
    await client.closed;

    // The disconnect event is emitted after its commit: the history row is already there, the users row gone.
    await admin.next((m) => m.type === 'disconnected' && m.sessionId === client.sessionId);
    assert.is(await getUserBySessionId(t.tracker.db, client.sessionId), undefined);
    const row = await sessionFor(t, client.sessionId);
    assert.ok(row, 'history row written in the same commit');
    assert.is(row!.id, client.id);
    assert.is(row!.closeCode, 4321);
    assert.is(row!.closeReason, 'going home');
    assert.is(row!.messages, 6);
    assert.is(row!.bytesIn, 5 * ping.length + 100);
    assert.is(row!.user, 'alice');
    assert.is(row!.userAgent, 'history-test');
    assert.is(row!.remoteAddress, '127.0.0.1');
    assert.ok(Date.parse(row!.disconnectedAt) >= Date.parse(row!.connectedAt));
    assert.is(row!.durationMs, Date.parse(row!.disconnectedAt) - Date.parse(row!.connectedAt));
  } finally {
    for (const c of clients) await c.close();
    await t.close();
  }
});

rows('server-initiated ends record the code the server sent: kick 4000, rate limit 1008, heartbeat 1006, shutdown 1001', async () => {
  const dir = tempDir();
  const t = await startTracker({ dir, maxMessagesPerSecond: 3, heartbeatMs: 150 });
  const clients: TestClient[] = [];
  let stayer: TestClient & { sessionId: string };
  try {
    const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    const kicked = await connectClient(t.wsUrl('/ws?user=kicked'));
    const flooder = await connectClient(t.wsUrl('/ws?user=flooder'));
    stayer = await connectClient(t.wsUrl('/ws?user=stayer'));
    const silent = connect(t.wsUrl('/ws?user=silent'), { autoPong: false });
    const silentWelcome = await silent.next((m) => m.type === 'welcome');
    clients.push(admin, kicked, flooder, stayer, silent);

    admin.send({ type: 'kick', sessionId: kicked.sessionId });
    for (let i = 0; i < 10; i++) flooder.send('spam');
    assert.is((await kicked.closed).code, 4000);
    assert.is((await flooder.closed).code, 1008);
    await silent.closed;
    // Events may arrive in any order; each is emitted after its commit.
    const gone = (id: string) => admin.inbox.some((m) => m.type === 'disconnected' && m.sessionId === id);
    await waitFor(() => [kicked.sessionId, flooder.sessionId, silentWelcome.sessionId].every(gone), 5000, 'three disconnect events');
    assert.equal(
      [await sessionFor(t, kicked.sessionId), await sessionFor(t, flooder.sessionId), await sessionFor(t, silentWelcome.sessionId)].map((r) => [r?.closeCode, r?.closeReason, r?.user]),
      [
        [4000, 'disconnected by admin', 'kicked'],
        [1008, 'rate limit exceeded', 'flooder'],
        [1006, 'heartbeat timeout', 'silent'],
      ],
    );
    assert.is((await sessionFor(t, flooder.sessionId))!.messages, 3, 'only the messages within the limit count');
  } finally {
    for (const c of clients) c.ws.terminate();
    await t.close();
  }
  // After a graceful stop the last client's row says 1001, written before the database closed.
  const db = openSqlite({ path: join(dir, 'roster.db') });
  try {
    const all = await listSessions(db, { limit: 100 });
    const last = all.find((r) => r.sessionId === stayer!.sessionId);
    assert.is(last?.closeCode, 1001);
    assert.is(last?.closeReason, 'server shutting down');
    assert.is(all.length, 4, 'one row per client connection');
  } finally {
    await db.destroy();
  }
});

rows('a connection that ends while the database is failing still gets its row after recovery', async () => {
  const t = await startTracker();
  const clients: TestClient[] = [];
  try {
    const stay = await connectClient(t.wsUrl('/ws?user=stay'));
    const leaver = await connectClient(t.wsUrl('/ws?user=leaver'));
    clients.push(stay);
    leaver.send({ type: 'ping' });
    await leaver.next((m) => m.type === 'pong');
    await sql`pragma query_only = 1`.execute(t.tracker.db);
    const during = await connectClient(t.wsUrl('/ws?user=during'));
    clients.push(during);
    await waitFor(() => t.tracker.degradedReason !== undefined, 5000, 'degraded');
    leaver.ws.close(4100, 'outage');
    await leaver.closed;
    await new Promise((r) => setTimeout(r, 300));
    await sql`pragma query_only = 0`.execute(t.tracker.db);
    await waitFor(() => t.tracker.degradedReason === undefined, 10_000, 'recovery');
    const row = await sessionFor(t, leaver.sessionId);
    assert.is(row?.closeCode, 4100);
    assert.is(row?.closeReason, 'outage');
    assert.is(row?.messages, 1);
    assert.is(await getUserBySessionId(t.tracker.db, leaver.sessionId), undefined);
  } finally {
    for (const c of clients) await c.close();
    await t.close();
  }
});

rows('protocol-level ends: 1009 for an oversized message, 1005 for a close frame without a code', async () => {
  const t = await startTracker({ maxPayload: 1024 });
  try {
    const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    const big = await connectClient(t.wsUrl('/ws?user=big'));
    const bare = await connectClient(t.wsUrl('/ws?user=bare'));
    big.send('x'.repeat(2048));
    assert.is((await big.closed).code, 1009);
    bare.ws.close();
    await bare.closed;
    const gone = (id: string) => admin.inbox.some((m) => m.type === 'disconnected' && m.sessionId === id);
    await waitFor(() => gone(big.sessionId) && gone(bare.sessionId), 5000, 'both disconnect events');
    assert.is((await sessionFor(t, big.sessionId))?.closeCode, 1009);
    assert.is((await sessionFor(t, bare.sessionId))?.closeCode, 1005);
    await admin.close();
  } finally {
    await t.close();
  }
});

rows.run();

const retention = suite('history retention');

retention('pruneSessions deletes only rows older than the cutoff, in batches', async () => {
  const { db, close } = await freshDb();
  try {
    const now = Date.now();
    const old = Array.from({ length: 1203 }, (_, i) => sessionRecord(now - 40 * DAY - i));
    const recent = Array.from({ length: 7 }, (_, i) => sessionRecord(now - i * 1000));
    await insertSessions(db, [...old, ...recent]);
    const removed = await pruneSessions(db, new Date(now - 30 * DAY).toISOString());
    assert.is(removed, 1203);
    const left = await listSessions(db, { limit: 1000 });
    assert.equal(left.map((r) => r.id).sort(), recent.map((r) => r.id).sort());
    assert.is(await pruneSessions(db, new Date(now - 30 * DAY).toISOString()), 0);
  } finally {
    await close();
  }
});

retention('the tracker prunes past HISTORY_RETENTION_DAYS at start and periodically', async () => {
  const dir = tempDir();
  const setup = openSqlite({ path: join(dir, 'roster.db') });
  const now = Date.now();
  const keep = sessionRecord(now - 2 * DAY);
  const drop = sessionRecord(now - 4 * DAY);
  const { error } = await migrateToLatest(setup);
  if (error) throw error;
  await insertSessions(setup, [keep, drop]);
  await setup.destroy();

  const t = await startTracker({ dir, historyRetentionDays: 3, historyPruneIntervalMs: 50 });
  try {
    await waitFor(async () => (await listSessions(t.tracker.db, { limit: 10 })).length === 1, 5000, 'the start-up prune');
    assert.is((await listSessions(t.tracker.db, { limit: 10 }))[0]!.id, keep.id);
    // A row that ages past the retention while running goes at the next tick.
    await insertSessions(t.tracker.db, [sessionRecord(now - 5 * DAY)]);
    await waitFor(async () => (await listSessions(t.tracker.db, { limit: 10 })).length === 1, 5000, 'the periodic prune');
  } finally {
    await t.close();
  }
});

retention('ended sessions held through an outage are bounded: the oldest go first, and are counted', () => {
  const pending = new PendingSessions(3);
  const records = Array.from({ length: 5 }, (_, i) => sessionRecord(Date.now() - i));
  for (const r of records) pending.add(r);
  pending.add(records[4]!); // the same session again replaces, never drops
  assert.equal(pending.take().map((r) => r.id), records.slice(2).map((r) => r.id));
  assert.is(pending.takeDropped(), 2);
  assert.is(pending.takeDropped(), 0);
  assert.equal(pending.take(), []);
});

retention('ended sessions put back after a failed write stay ahead of those that ended since', () => {
  const pending = new PendingSessions(3);
  const older = Array.from({ length: 3 }, (_, i) => sessionRecord(Date.now() - 10 + i));
  for (const r of older) pending.add(r);
  const inFlight = pending.take();
  // Two more end while the write is in flight; then it fails.
  const newer = Array.from({ length: 2 }, (_, i) => sessionRecord(Date.now() + i));
  for (const r of newer) pending.add(r);
  pending.putBack(inFlight);
  assert.equal(pending.take().map((r) => r.id), [older[2]!, ...newer].map((r) => r.id), 'the two oldest dropped, not the newest');
  assert.is(pending.takeDropped(), 2);
});

retention.run();

const api = suite('GET /history');

api('needs the bearer token, validates its parameters', async () => {
  const t = await startTracker();
  try {
    assert.is((await fetch(t.httpUrl('/history'))).status, 401);
    assert.is((await fetch(t.httpUrl('/history'), { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401);
    assert.is((await fetch(t.httpUrl('/history/stats'))).status, 401);
    for (const bad of ['?limit=0', '?limit=1001', '?limit=abc', '?before=nonsense', '?user=']) {
      assert.is((await history(t, bad)).status, 400, bad);
    }
    const ok = await history(t);
    assert.is(ok.status, 200);
    assert.equal(ok.body, { sessions: [], next: null });
  } finally {
    await t.close();
  }
});

api('a `before` that is not a UUID cursor or a time in years 1-9999 is a 400', async () => {
  const t = await startTracker();
  try {
    await insertSessions(t.tracker.db, [sessionRecord(Date.now() - 1000)]);
    for (const bad of IMPOSSIBLE_BEFORE) assert.is((await history(t, `?before=${encodeURIComponent(bad)}`)).status, 400, bad);
    const { body } = await history(t, '?limit=1');
    assert.is((await history(t, `?before=${body.next}`)).status, 200, 'a real cursor still works');
  } finally {
    await t.close();
  }
});

api('pages newest first with a cursor that stays stable while rows arrive; filters by user', async () => {
  const t = await startTracker();
  try {
    const base = Date.now() - 60_000;
    // Ties on disconnected_at are broken by id, so pages never split or repeat a tie.
    const seeded = Array.from({ length: 25 }, (_, i) => sessionRecord(base + Math.floor(i / 3) * 1000, { user: i % 2 === 0 ? 'even' : 'odd' }));
    await insertSessions(t.tracker.db, seeded);
    const expected = [...seeded].sort((a, b) => (a.disconnectedAt === b.disconnectedAt ? (a.id < b.id ? 1 : -1) : a.disconnectedAt < b.disconnectedAt ? 1 : -1));

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const { status, body }: { status: number; body: any } = await history(t, `?limit=10${cursor ? `&before=${cursor}` : ''}`);
      assert.is(status, 200);
      seen.push(...body.sessions.map((s: SessionRecord) => s.id));
      cursor = body.next;
      // Newer sessions arriving mid-walk must not shift the pages.
      await insertSessions(t.tracker.db, [sessionRecord(Date.now(), { user: 'even' })]);
      pages++;
    } while (cursor !== null && pages < 10);
    assert.equal(seen, expected.map((r) => r.id));
    assert.is(pages, 3);

    const evens = await history(t, '?user=even&limit=1000');
    assert.ok(evens.body.sessions.every((s: SessionRecord) => s.user === 'even'));
    assert.is(evens.body.sessions.length, 13 + pages);
    assert.is(evens.body.next, null);

    // A plain ISO time works as `before` too.
    const mid = expected[12]!.disconnectedAt;
    const older = await history(t, `?before=${encodeURIComponent(mid)}&limit=1000`);
    assert.ok(older.body.sessions.length > 0);
    assert.ok(older.body.sessions.every((s: SessionRecord) => s.disconnectedAt < mid));
  } finally {
    await t.close();
  }
});

api('a page deep in the table starts its index scan at the cursor, on the label index too', async () => {
  const queries: CompiledQuery[] = [];
  const db = openSqlite({ path: join(tempDir(), 'h.db'), log: (event) => void (event.level === 'query' && queries.push(event.query)) });
  try {
    const { error } = await migrateToLatest(db);
    if (error) throw error;
    await insertSessions(db, Array.from({ length: 300 }, (_, i) => sessionRecord(Date.now() - Math.floor(i / 3) * 1000, { user: 'u' })));
    const [, , last] = await listSessions(db, { limit: 3 });
    for (const user of [undefined, 'u']) {
      queries.length = 0;
      assert.is((await listSessions(db, { limit: 10, user, before: { disconnectedAt: last!.disconnectedAt, id: last!.id } })).length, 10);
      const page = queries.at(-1)!;
      const plan = await db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${page.sql}`, [...page.parameters]));
      // Bounded by both columns: the scan begins at the cursor instead of reading every newer row.
      assert.match(plan.rows.map((r) => r.detail).join('\n'), '(disconnected_at,id)<(?,?)', `user ${user}`);
    }
  } finally {
    await db.destroy();
  }
});

api('GET /history/stats: counts and median session length over the last hour', async () => {
  const t = await startTracker();
  const clients: TestClient[] = [];
  try {
    const empty: any = await (await fetch(t.httpUrl('/history/stats'), { headers: AUTH })).json();
    assert.equal([empty.ended, empty.medianDurationMs], [0, null]);
    const now = Date.now();
    await insertSessions(t.tracker.db, [
      sessionRecord(now - 1000, { durationMs: 1000 }),
      sessionRecord(now - 2000, { durationMs: 5000 }),
      sessionRecord(now - 3000, { durationMs: 9000 }),
      sessionRecord(now - 4000, { durationMs: 20_000, connectedAt: new Date(now - 2 * 3_600_000).toISOString() }),
      sessionRecord(now - 2 * 3_600_000, { durationMs: 1 }), // outside the window
    ]);
    clients.push(await connectClient(t.wsUrl('/ws')));
    const res = await fetch(t.httpUrl('/history/stats'), { headers: AUTH });
    assert.is(res.status, 200);
    const stats: any = await res.json();
    assert.is(stats.ended, 4);
    assert.is(stats.medianDurationMs, 7000);
    assert.is(stats.started, 3 + 1, 'three ended ones began in the window, plus the live one');
    assert.is(stats.live, 1);
    assert.is(stats.windowSeconds, 3600);
  } finally {
    for (const c of clients) await c.close();
    await t.close();
  }
});

api.run();
