/**
 * connection_history on a real PostgreSQL (started by this file): native
 * uuid/timestamptz/bigint columns give back the same shapes as SQLite,
 * pages are stable on ties, prune and stats work, and a tracker on
 * DATABASE_URL records close codes and message counts, whatever text its
 * clients send.
 */
import fc from 'fast-check';
import { CompiledQuery, sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { insertSessions, listSessions, pruneSessions, sessionStats, type SessionRecord } from '../src/history-repository.js';
import { migrateToLatest } from '../src/migrations.js';
import { openDatabase, openPostgres, postgresOptions } from '../src/postgres.js';
import { getUserBySessionId } from '../src/repository.js';
import { assertRecordedAsLost, IMPOSSIBLE_BEFORE, sessionRecord } from './helpers/history.js';
import { startNode } from './helpers/multi-node.js';
import { postgresForSuite } from './helpers/postgres.js';
import { startTracker, TOKEN } from './helpers/tracker.js';
import { connectAdmin, connectClient, waitFor } from './helpers/ws-client.js';

const POOL = { poolSize: 4, dbConnectTimeoutMs: 5000, dbIdleTimeoutMs: 10_000, dbStatementTimeoutMs: 10_000 };
const test = suite('history on PostgreSQL');
const postgres = postgresForSuite(test, 'history');

/** Values near the types' limits: bigints past 2^32, a label. */
function record(endedMs: number, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return sessionRecord(endedMs, {
    user: 'u',
    connectedAt: new Date(endedMs - 1500).toISOString(),
    durationMs: 1500,
    messages: 3_000_000_000,
    bytesIn: 2 ** 40,
    ...overrides,
  });
}


test('round-trip, stable pages on ties, prune, stats', async () => {
  const db = openDatabase({ databasePath: 'unused', databaseUrl: await postgres.freshDatabase(), ...POOL });
  try {
    const { error } = await migrateToLatest(db);
    if (error) throw error;
    const now = Date.now();
    const seeded = Array.from({ length: 12 }, (_, i) => record(now - 60_000 + Math.floor(i / 4) * 1000, { durationMs: (i + 1) * 100 }));
    await insertSessions(db, seeded);
    await insertSessions(db, [seeded[0]!]); // a retried batch is harmless
    const [first] = await listSessions(db, { limit: 1, user: 'u' });
    const original = seeded.find((r) => r.id === first!.id)!;
    assert.equal(first, original, 'same shapes as SQLite: ISO strings, numbers (bigint included)');

    const expected = [...seeded].sort((a, b) => (a.disconnectedAt === b.disconnectedAt ? (a.id < b.id ? 1 : -1) : a.disconnectedAt < b.disconnectedAt ? 1 : -1));
    const seen: string[] = [];
    let before: { disconnectedAt: string; id: string } | undefined;
    for (;;) {
      const page = await listSessions(db, { limit: 5, before });
      seen.push(...page.map((r) => r.id));
      if (page.length < 5) break;
      before = { disconnectedAt: page.at(-1)!.disconnectedAt, id: page.at(-1)!.id };
    }
    assert.equal(seen, expected.map((r) => r.id));

    const stats = await sessionStats(db, new Date(now - 3_600_000).toISOString());
    assert.is(stats.ended, 12);
    assert.is(stats.medianDurationMs, 650);
    await insertSessions(db, [record(now - 40 * 86_400_000)]);
    assert.is(await pruneSessions(db, new Date(now - 30 * 86_400_000).toISOString()), 1);
    assert.is((await listSessions(db, { limit: 100 })).length, 12);
  } finally {
    await db.destroy();
  }
});

/** Rows every scan in an EXPLAIN (ANALYZE, FORMAT JSON) plan read, kept or dropped by its filter. */
function rowsRead(node: any): number {
  const own = /Scan/.test(node['Node Type']) ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0)) * node['Actual Loops'] : 0;
  return own + (node.Plans ?? []).reduce((sum: number, child: any) => sum + rowsRead(child), 0);
}

test('a page deep in a large table reads about its own rows, not every newer one', async () => {
  const queries: CompiledQuery[] = [];
  const options = postgresOptions({ databaseUrl: await postgres.freshDatabase(), ...POOL });
  const db = openPostgres({ ...options, log: (event) => void (event.level === 'query' && queries.push(event.query)) });
  try {
    const { error } = await migrateToLatest(db);
    if (error) throw error;
    // 20,000 sessions, three per millisecond (ties on disconnected_at), all labelled.
    await sql`insert into connection_history
      select gen_random_uuid(), gen_random_uuid()::text, 'u', '127.0.0.1', 'test', t - interval '1 second', t, 1000, 1000, '', 0, 0
      from generate_series(1, 20000) i, lateral (select now() - make_interval(secs => (i / 3) / 1000.0) as t) s`.execute(db);
    await sql`analyze connection_history`.execute(db);
    const [middle] = await listSessions(db, { limit: 1, before: { disconnectedAt: new Date(Date.now() - 3_333).toISOString() } });
    for (const user of [undefined, 'u']) {
      queries.length = 0;
      const page = await listSessions(db, { limit: 50, user, before: { disconnectedAt: middle!.disconnectedAt, id: middle!.id } });
      assert.is(page.length, 50);
      const query = queries.at(-1)!;
      const explained = await db.executeQuery<any>(CompiledQuery.raw(`explain (analyze, format json) ${query.sql}`, [...query.parameters]));
      // json stays text on the tracker's connections (postgres.ts).
      const read = rowsRead(JSON.parse(explained.rows[0]['QUERY PLAN'])[0].Plan);
      assert.ok(read <= 100, `user ${user}: ${read} rows read for a page of 50`);
    }
  } finally {
    await db.destroy();
  }
});

test('a tracker on DATABASE_URL writes history rows with close codes and message counts', async () => {
  const t = await startTracker({ databaseUrl: await postgres.freshDatabase() });
  try {
    const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    const leaver = await connectClient(t.wsUrl('/ws?user=pg-leaver'));
    const kicked = await connectClient(t.wsUrl('/ws?user=pg-kicked'));
    for (let i = 0; i < 4; i++) leaver.send({ type: 'ping' });
    for (let i = 0; i < 4; i++) await leaver.next((m) => m.type === 'pong');
    leaver.ws.close(4001, 'done');
    admin.send({ type: 'kick', sessionId: kicked.sessionId });
    const gone = (id: string) => admin.inbox.some((m) => m.type === 'disconnected' && m.sessionId === id);
    await waitFor(() => gone(leaver.sessionId) && gone(kicked.sessionId), 5000, 'both disconnect events');
    const res = await fetch(t.httpUrl('/history'), { headers: { authorization: `Bearer ${TOKEN}` } });
    const { sessions } = (await res.json()) as { sessions: SessionRecord[] };
    const byUser = Object.fromEntries(sessions.map((s) => [s.user, s]));
    assert.equal([byUser['pg-leaver']?.closeCode, byUser['pg-leaver']?.closeReason, byUser['pg-leaver']?.messages], [4001, 'done', 4]);
    assert.equal([byUser['pg-kicked']?.closeCode, byUser['pg-kicked']?.messages], [4000, 0]);
    await admin.close();
  } finally {
    await t.close();
  }
});

/** Every byte as %XX: the server decodes it as UTF-8, invalid sequences and NUL included. */
const percentBytes = fc.uint8Array({ maxLength: 24 }).map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''));
/** What Node lets a client send in a header value: tab, printable ASCII and bytes 0x80-0xff. */
const headerText = fc.string({ unit: fc.integer({ min: 0x1f, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c === 0x1f ? 9 : c)), maxLength: 60 });

test('GET /history: a `before` PostgreSQL cannot take (an id that is no UUID, year 0 or 10000) is a 400, not a 503', async () => {
  const t = await startTracker({ databaseUrl: await postgres.freshDatabase() });
  try {
    await insertSessions(t.tracker.db, [record(Date.now() - 1000)]);
    for (const bad of IMPOSSIBLE_BEFORE) {
      const res = await fetch(t.httpUrl(`/history?before=${encodeURIComponent(bad)}`), { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.is(res.status, 400, bad);
    }
  } finally {
    await t.close();
  }
});

test('GET /history/stats on several nodes: live and started count every node\'s connections, as ended does', async () => {
  const url = await postgres.freshDatabase();
  const a = await startNode(url, 'stats-a');
  const b = await startNode(url, 'stats-b');
  try {
    const onB = await connectClient(b.wsUrl('/ws'));
    const leftB = await connectClient(b.wsUrl('/ws'));
    await leftB.close();
    await waitFor(async () => (await listSessions(a.tracker.db, { limit: 10 })).length === 1, 5000, 'the history row');
    const res = await fetch(a.httpUrl('/history/stats'), { headers: { authorization: `Bearer ${TOKEN}` } });
    const stats: any = await res.json();
    assert.equal([stats.ended, stats.live, stats.started], [1, 1, 2], 'one ended on B, one live on B: A sees both');
    await onB.close();
  } finally {
    await a.close();
    await b.close();
  }
});

test('a node stopped while its history writes fail leaves its rows, and its next start records them as lost', async () => {
  const url = await postgres.freshDatabase();
  const first = await startTracker({ databaseUrl: url, nodeId: 'node-h', ...POOL });
  let sessions: string[];
  try {
    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await connectClient(first.wsUrl(`/ws?user=c${i}`)));
    sessions = clients.map((c) => c.sessionId).sort();
    // History inserts fail from now on (a full disk, say); the batch with them fails whole.
    await sql`create function refuse_history() returns trigger language plpgsql as $$ begin raise exception 'history unwritable'; end $$`.execute(first.tracker.db);
    await sql`create trigger refuse_history before insert on connection_history for each row execute function refuse_history()`.execute(first.tracker.db);
    await clients[0]!.close();
    await waitFor(() => first.tracker.degradedReason !== undefined, 5_000, 'the history write fails');
  } finally {
    await first.close();
  }
  const db = openDatabase({ databasePath: 'unused', databaseUrl: url, ...POOL });
  try {
    const left = await sql<{ session_id: string }>`select session_id from users order by session_id`.execute(db);
    assert.equal(left.rows.map((r) => r.session_id), sessions, 'rows without a history row are not deleted');
    await sql`drop trigger refuse_history on connection_history`.execute(db);
    const next = await startTracker({ databaseUrl: url, nodeId: 'node-h', ...POOL });
    try {
      await assertRecordedAsLost(next.tracker.db, sessions);
    } finally {
      await next.close();
    }
  } finally {
    await db.destroy();
  }
});

test('whatever a client sends in its query, user agent, origin and close reason, PostgreSQL takes its rows', async () => {
  const t = await startTracker({ databaseUrl: await postgres.freshDatabase() });
  try {
    await fc.assert(
      fc.asyncProperty(percentBytes, percentBytes, headerText, headerText, fc.string({ unit: 'binary', maxLength: 30 }), async (user, key, userAgent, origin, reason) => {
        const client = await connectClient(t.wsUrl(`/ws?user=${user}&k${key}=${user}`), { headers: { 'user-agent': userAgent, origin } });
        // One value PostgreSQL refuses fails the whole batch, and the welcome then comes without a row.
        assert.is(t.tracker.degradedReason, undefined);
        assert.ok(await getUserBySessionId(t.tracker.db, client.sessionId), 'row written');
        client.ws.close(4001, reason);
        await client.closed;
        await waitFor(async () => (await listSessions(t.tracker.db, { limit: 1 }))[0]?.sessionId === client.sessionId, 5000, 'history row');
        assert.is(t.tracker.degradedReason, undefined);
      }),
      // A failure leaves the tracker degraded, so every shrunk input fails too: report the first.
      { numRuns: 25, endOnFailure: true },
    );
  } finally {
    await t.close();
  }
});

test.run();
