/**
 * The tracker's events reach a host app's listeners from inside the
 * writer. A listener that throws (or rejects) is the host's bug: it is
 * logged, the other listeners still run, and the tracker's own work goes
 * on: welcomes, retries after a failed write, shutdown's deletes and
 * history rows.
 */
import { rmSync } from 'node:fs';
import SQLite from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TrackerEvent } from '../src/constants.js';
import { listSessions } from '../src/history-repository.js';
import { openSqlite } from '../src/database.js';
import { countActiveUsers } from '../src/repository.js';
import { captureLogs } from './helpers/log-capture.js';
import { startTracker, tempDir, TOKEN } from './helpers/tracker.js';
import { connect, connectClient, waitFor } from './helpers/ws-client.js';

const test = suite('host event listeners');
const FAILED = 'tracker event listener failed';

test('a throwing degraded listener does not stop the writer from retrying and recovering', async () => {
  const logs = captureLogs('warn');
  const t = await startTracker({ logger: logs.logger });
  let locker: SQLite.Database | undefined;
  try {
    const seen: string[] = [];
    t.tracker.on(TrackerEvent.DEGRADED, () => {
      throw new Error('host bug');
    });
    t.tracker.on(TrackerEvent.DEGRADED, (reason) => seen.push(`degraded ${reason}`));
    t.tracker.on(TrackerEvent.RECOVERED, () => seen.push('recovered'));
    locker = new SQLite(t.databasePath, { timeout: 0 });
    locker.exec('BEGIN IMMEDIATE');
    const client = connect(t.wsUrl('/ws'));
    // Its row cannot be written: it is welcomed unrecorded, and the write is retried.
    const welcome = await client.next((m) => m.type === 'welcome', 3000);
    assert.equal(seen, ['degraded SQLITE_BUSY'], 'the listener after the throwing one still ran');
    locker.exec('ROLLBACK');
    locker.close();
    locker = undefined;
    await waitFor(async () => (await countActiveUsers(t.tracker.db)) === 1, 5000, 'the row written by the retry');
    await waitFor(() => seen.includes('recovered'), 2000, 'recovered');
    assert.is(t.tracker.degradedReason, undefined);
    assert.is(logs.find(FAILED).length, 1);
    assert.is(logs.find(FAILED)[0].event, 'degraded');
    assert.ok(welcome.sessionId);
    await client.close();
  } finally {
    locker?.close();
    await t.close();
  }
});

test('throwing and rejecting listeners do not cost a stop its deletes and history rows', async () => {
  const dir = tempDir();
  const logs = captureLogs('warn');
  const t = await startTracker({ dir, logger: logs.logger, touchFlushMs: 60_000 });
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  try {
    const disconnected: string[] = [];
    t.tracker.on(TrackerEvent.ACTIVITY, () => {
      throw new Error('host bug');
    });
    t.tracker.on(TrackerEvent.DISCONNECTED, async () => {
      throw new Error('async host bug');
    });
    t.tracker.on(TrackerEvent.DISCONNECTED, (sessionId) => disconnected.push(sessionId));
    const a = await connectClient(t.wsUrl('/ws'));
    const b = await connectClient(t.wsUrl('/ws'));
    a.send({ type: 'ping' });
    await a.next((m) => m.type === 'pong');
    // Shutdown writes the pending touch first (its activity event throws), then the deletes.
    await t.close();
    assert.is((await a.closed).code, 1001);
    assert.equal(disconnected.sort(), [a.sessionId, b.sessionId].sort());
    const db = openSqlite({ path: t.databasePath });
    try {
      assert.is(await countActiveUsers(db), 0, 'no row left behind');
      const sessions = await listSessions(db, { limit: 10 });
      assert.equal(sessions.map((s) => s.closeCode), [1001, 1001], 'both ended sessions recorded');
    } finally {
      await db.destroy();
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(rejections, [], 'a rejecting listener is no unhandled rejection');
    assert.equal(logs.find(FAILED).map((l) => l.event).sort(), ['activity', 'disconnected', 'disconnected']);
  } finally {
    process.off('unhandledRejection', onRejection);
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a connected listener that edits its user leaves the tracker\'s own untouched', async () => {
  const t = await startTracker();
  try {
    const given: any[] = [];
    // Say a host that anonymises, in place, what it keeps.
    t.tracker.on(TrackerEvent.CONNECTED, (user) => {
      given.push(user);
      user.sessionId = user.sessionId.toUpperCase();
      user.connectedAt = 'edited';
      user.metadata.remoteAddress = 'anonymous';
      user.metadata.query.user = 'edited';
    });
    const client = await connectClient(t.wsUrl('/ws?user=bob'));
    await waitFor(() => given.length === 1, 2000, 'connected event');
    const res = await fetch(t.httpUrl('/active-users'), { headers: { authorization: `Bearer ${TOKEN}` } });
    const [listed] = ((await res.json()) as { users: any[] }).users;
    assert.is(listed.sessionId, client.sessionId);
    assert.match(listed.connectedAt, /^\d{4}-/);
    assert.is(listed.metadata.remoteAddress, '127.0.0.1');
    assert.equal(listed.metadata.query, { user: 'bob' });
    await client.close();
    // The connection is forgotten by its own session id: row deleted, history written as it was.
    await waitFor(async () => (await countActiveUsers(t.tracker.db)) === 0, 3000, 'row deleted');
    assert.is(t.tracker.connections, 0);
    const [session] = await listSessions(t.tracker.db, { limit: 10 });
    assert.is(session?.sessionId, client.sessionId);
    assert.is(session?.remoteAddress, '127.0.0.1');
    assert.is(session?.user, 'bob');
  } finally {
    await t.close();
  }
});

test.run();
