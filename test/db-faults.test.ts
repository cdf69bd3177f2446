/**
 * Database faults on a real SQLite file: locked (SQLITE_BUSY), full
 * (SQLITE_FULL) and read-only (SQLITE_READONLY). During each fault the
 * tracker keeps accepting and serving sockets, logs the failure once and
 * reports itself degraded; once the fault clears it resynchronises the
 * table with the live set without a restart.
 */
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TrackerEvent } from '../src/constants.js';
import { getUserBySessionId, listSessionIds } from '../src/repository.js';
import { captureLogs } from './helpers/log-capture.js';
import { startTracker, TOKEN, type TestTracker } from './helpers/tracker.js';
import { connectAdmin, connectClient, waitFor, type TestClient } from './helpers/ws-client.js';

const test = suite('database faults');
const FAILED = 'database write failed; serving from memory and retrying';
const RECOVERED = 'database recovered; table resynchronised with the live set';
/** A big user agent makes every row need fresh pages, so a size cap bites at once. */
const BIG_UA = { headers: { 'user-agent': 'U'.repeat(500) } };

interface Fault {
  name: string;
  code: string;
  inject(t: TestTracker): Promise<void> | void;
  clear(t: TestTracker): Promise<void> | void;
}

let locker: SQLite.Database | undefined;

const faults: Fault[] = [
  {
    name: 'locked: another connection holds BEGIN IMMEDIATE',
    code: 'SQLITE_BUSY',
    inject(t) {
      locker = new SQLite(t.databasePath, { timeout: 0 });
      locker.exec('BEGIN IMMEDIATE');
    },
    clear() {
      locker!.exec('ROLLBACK');
      locker!.close();
      locker = undefined;
    },
  },
  {
    name: 'full: PRAGMA max_page_count caps the file at its current size',
    code: 'SQLITE_FULL',
    async inject(t) {
      const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(t.tracker.db);
      await sql.raw(`pragma max_page_count = ${rows[0]!.page_count}`).execute(t.tracker.db);
    },
    async clear(t) {
      await sql`pragma max_page_count = 1073741823`.execute(t.tracker.db);
    },
  },
  {
    name: 'read-only: PRAGMA query_only on the tracker\'s connection',
    code: 'SQLITE_READONLY',
    async inject(t) {
      await sql`pragma query_only = 1`.execute(t.tracker.db);
    },
    async clear(t) {
      await sql`pragma query_only = 0`.execute(t.tracker.db);
    },
  },
];

async function health(t: TestTracker): Promise<{ status: number; body: any }> {
  const res = await fetch(t.httpUrl('/health'));
  return { status: res.status, body: await res.json() };
}

for (const fault of faults) {
  test(`${fault.name}: served from memory, degraded, then resynchronised`, async () => {
    const logs = captureLogs('info');
    const t = await startTracker({ logger: logs.logger, touchFlushMs: 20 });
    const events: string[] = [];
    t.tracker.on(TrackerEvent.DEGRADED, (reason) => events.push(`degraded:${reason}`));
    t.tracker.on(TrackerEvent.RECOVERED, () => events.push('recovered'));
    const clients: TestClient[] = [];
    try {
      const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
      const stay = await connectClient(t.wsUrl('/ws?user=stay'));
      const leaver = await connectClient(t.wsUrl('/ws?user=leaver'));
      clients.push(stay, leaver, admin);
      const before = (await getUserBySessionId(t.tracker.db, stay.sessionId))!;
      assert.ok(before);

      await fault.inject(t);

      // Keep connecting until a write fails; every one is welcomed regardless.
      const during: (TestClient & { sessionId: string })[] = [];
      while (t.tracker.degradedReason === undefined) {
        assert.ok(during.length < 100, 'the fault never showed');
        const c = await connectClient(t.wsUrl(`/ws?user=during${during.length}`), BIG_UA);
        during.push(c);
        clients.push(c);
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.is(t.tracker.degradedReason, fault.code);

      // Still accepting and serving during the fault.
      const late = await connectClient(t.wsUrl('/ws?user=late'), BIG_UA);
      clients.push(late);
      during.push(late);
      const brief = await connectClient(t.wsUrl('/ws?user=brief'));
      await brief.close();
      await leaver.close();
      await new Promise((r) => setTimeout(r, 10));
      const touchedAt = Date.now();
      for (let i = 0; i < 20; i++) stay.send({ type: 'ping' });
      for (let i = 0; i < 20; i++) await stay.next((m) => m.type === 'pong');
      late.send({ type: 'ping' });
      await late.next((m) => m.type === 'pong');

      const sick = await health(t);
      assert.is(sick.status, 503);
      assert.is(sick.body.status, 'degraded');
      assert.is(sick.body.reason, fault.code);

      // Several retries fail meanwhile (100, 200, 400 ms...), but the error is logged once.
      await new Promise((r) => setTimeout(r, 800));
      assert.is(logs.find(FAILED).length, 1, 'logged once');
      assert.is(logs.find(FAILED)[0].reason, fault.code);
      assert.equal(events, [`degraded:${fault.code}`]);

      await fault.clear(t);
      await waitFor(() => t.tracker.degradedReason === undefined, 10_000, 'recovery');
      assert.equal(events, [`degraded:${fault.code}`, 'recovered']);
      assert.is(logs.find(RECOVERED).length, 1);

      // The table equals the live set again.
      const live = [stay, ...during].map((c) => c.sessionId).sort();
      assert.equal((await listSessionIds(t.tracker.db)).sort(), live);
      assert.is(t.tracker.connections, live.length);
      const after = (await getUserBySessionId(t.tracker.db, stay.sessionId))!;
      assert.ok(Date.parse(after.lastActiveAt) >= touchedAt, 'the touches from the outage were written');
      assert.is(after.connectedAt, before.connectedAt);

      // Admins hear about the outage's changes once it is over, and nothing about `brief`.
      for (const c of during) await admin.next((m) => m.type === 'connected' && m.user.sessionId === c.sessionId);
      await admin.next((m) => m.type === 'disconnected' && m.sessionId === leaver.sessionId);
      assert.not.ok(JSON.stringify(admin.inbox).includes(brief.sessionId));

      const well = await health(t);
      assert.is(well.status, 200);
      assert.is(well.body.status, 'healthy');

      // And ordinary writes go on afterwards.
      const next = await connectClient(t.wsUrl('/ws?user=next'));
      clients.push(next);
      assert.ok(await getUserBySessionId(t.tracker.db, next.sessionId));
    } finally {
      if (locker) fault.clear(t);
      for (const c of clients) await c.close();
      await t.close();
    }
  });
}

test('a fault that outlives many connects and disconnects keeps memory to the live set', async () => {
  const logs = captureLogs('info');
  const t = await startTracker({ logger: logs.logger });
  try {
    await sql`pragma query_only = 1`.execute(t.tracker.db);
    for (let i = 0; i < 50; i++) {
      const c = await connectClient(t.wsUrl('/ws'));
      await c.close();
    }
    const keep = await connectClient(t.wsUrl('/ws'));
    assert.ok(t.tracker.degradedReason !== undefined);
    await sql`pragma query_only = 0`.execute(t.tracker.db);
    await waitFor(() => t.tracker.degradedReason === undefined, 10_000, 'recovery');
    assert.equal(await listSessionIds(t.tracker.db), [keep.sessionId]);
    assert.is(logs.find(FAILED).length, 1);
    await keep.close();
  } finally {
    await t.close();
  }
});

test.run();
