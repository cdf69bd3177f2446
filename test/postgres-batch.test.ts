/**
 * The record writer's batch as one PostgreSQL statement (postgres-batch.ts),
 * on a real server started by this file: every kind of write lands, the
 * NOTIFY belongs to the same transaction, a failure leaves nothing behind,
 * and the writer sends one query per batch (one round trip) instead of a
 * transaction of five to seven.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sql, type LogEvent } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { WriteBatch } from '../src/batch-write.js';
import { MultiNode } from '../src/constants.js';
import type { Database } from '../src/database.js';
import { listSessions, type SessionRecord } from '../src/history-repository.js';
import { LiveSet } from '../src/live-set.js';
import { silentLogger } from '../src/logger.js';
import { migrateToLatest } from '../src/migrations.js';
import { nodeStore } from '../src/multi-node.js';
import { encodeChange } from '../src/pg-events.js';
import { WRITE_BATCH_STATEMENT, writeBatchInOneStatement } from '../src/postgres-batch.js';
import { openPostgres } from '../src/postgres.js';
import { RecordWriter } from '../src/record-writer.js';
import { listUsersOfNodes } from '../src/repository.js';
import type { User } from '../src/types.js';
import { liveConnection } from './helpers/live-connection.js';
import { postgresForSuite } from './helpers/postgres.js';
import { waitFor } from './helpers/ws-client.js';

const test = suite('one-statement batch on PostgreSQL');
const { freshDatabase } = postgresForSuite(test, 'batch');

interface Fixture {
  db: Database;
  url: string;
  /** SQL of every query sent through Kysely since the last reset. */
  queries: string[];
}

/** A migrated database of its own, with every query's SQL recorded. */
async function withDatabase(fn: (f: Fixture) => Promise<void>, poolSize = 2): Promise<void> {
  const url = await freshDatabase();
  const queries: string[] = [];
  const log = (event: LogEvent) => {
    queries.push(event.query.sql.trim().toLowerCase());
  };
  const db = openPostgres({ url, poolSize, connectTimeoutMs: 5000, idleTimeoutMs: 10_000, statementTimeoutMs: 10_000, log });
  try {
    const { error } = await migrateToLatest(db);
    if (error) throw error;
    queries.length = 0;
    await fn({ db, url, queries });
  } finally {
    await db.destroy();
  }
}

/** A LISTEN client on the change channel; `payloads` fills as notifications arrive. */
async function listen(url: string): Promise<{ payloads: string[]; close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  const payloads: string[] = [];
  await client.connect();
  client.on('notification', (n) => payloads.push(n.payload ?? ''));
  await client.query(`listen ${client.escapeIdentifier(MultiNode.channel)}`);
  return { payloads, close: () => client.end() };
}

function user(label: string): User {
  const at = new Date(Date.now() - 60_000).toISOString();
  return {
    id: randomUUID(),
    sessionId: randomUUID(),
    connectedAt: at,
    lastActiveAt: at,
    metadata: { remoteAddress: '127.0.0.1', userAgent: `agent "${label}" \\ é`, origin: '', path: '/ws', query: { user: label } },
  };
}

function ended(u: User, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: u.id,
    sessionId: u.sessionId,
    user: u.metadata.query.user ?? null,
    remoteAddress: '127.0.0.1',
    userAgent: 'test',
    connectedAt: u.connectedAt,
    disconnectedAt: new Date().toISOString(),
    durationMs: 60_000,
    closeCode: 1001,
    closeReason: 'going away',
    messages: 3_000_000_000,
    bytesIn: 2 ** 40,
    ...overrides,
  };
}

function batch(parts: Partial<WriteBatch>): WriteBatch {
  return { connected: [], activity: [], disconnected: [], ended: [], ...parts };
}

async function sessionIds(db: Database): Promise<string[]> {
  return (await listUsersOfNodes(db)).map((u) => u.sessionId).sort();
}

test('inserts, touches, deletes and history rows land in one query', async () => {
  await withDatabase(async ({ db, queries }) => {
    const [a, b, c] = [user('a'), user('b'), user('c')];
    await writeBatchInOneStatement(db, batch({ connected: [a, b] }), 'node-1', MultiNode.channel, []);
    const later = new Date().toISOString();
    queries.length = 0;
    const gone = ended(b, { user: null });
    await writeBatchInOneStatement(
      db,
      batch({ connected: [c], activity: [{ sessionId: a.sessionId, lastActiveAt: later, messages: 1 }], disconnected: [b.sessionId], ended: [gone] }),
      'node-1',
      MultiNode.channel,
      [],
    );
    assert.is(queries.length, 1, 'one statement, no BEGIN or COMMIT');

    const rows = await listUsersOfNodes(db, ['node-1']);
    const bySession = new Map(rows.map((u) => [u.sessionId, u]));
    assert.equal([...bySession.keys()].sort(), [a.sessionId, c.sessionId].sort());
    assert.is(bySession.get(a.sessionId)!.lastActiveAt, later, 'the touch landed');
    assert.equal(bySession.get(c.sessionId), c, 'the insert kept every field, metadata included');
    assert.equal(await listSessions(db, { limit: 10 }), [gone], 'the history row, bigints and a null label included');
  });
});

test('the NOTIFY is part of the write: one per chunk, tagged with its transaction, in order', async () => {
  await withDatabase(async ({ db, url }) => {
    const listener = await listen(url);
    try {
      const users = Array.from({ length: 6 }, (_, i) => user(`u${i}`));
      const change = batch({ connected: users });
      // A small payload limit forces several chunks.
      const chunks = encodeChange(change, 'node-1', 800);
      assert.ok(chunks.length >= 3, `several chunks (${chunks.length})`);
      await writeBatchInOneStatement(db, change, 'node-1', MultiNode.channel, chunks);
      await waitFor(() => listener.payloads.length === chunks.length, 5000, 'every chunk notified');

      const parsed = listener.payloads.map((p) => /^(\d+):(\d+):(.*)$/s.exec(p)!);
      assert.equal(parsed.map((m) => m[3]), chunks, 'the chunks, in order');
      assert.equal(parsed.map((m) => Number(m[2])), chunks.map((_, i) => i + 1), 'their ordinals');
      const xid = BigInt(parsed[0]![1]!);
      assert.ok(parsed.every((m) => BigInt(m[1]!) === xid), 'one transaction');
      // The rows were written by that same transaction (xmin is the low 32 bits of the xid8).
      const { rows } = await sql<{ xmin: string }>`select distinct xmin::text as xmin from users`.execute(db);
      assert.equal(rows.map((r) => BigInt(r.xmin)), [xid % 2n ** 32n]);
    } finally {
      await listener.close();
    }
  });
});

test('a failing batch writes nothing and notifies nothing', async () => {
  await withDatabase(async ({ db, url }) => {
    const [a, b] = [user('a'), user('b')];
    await writeBatchInOneStatement(db, batch({ connected: [a, b] }), 'node-1', MultiNode.channel, []);
    const listener = await listen(url);
    try {
      // `a` again: its session id is already taken, so the insert fails.
      const duplicate = { ...user('dup'), sessionId: a.sessionId };
      const failing = batch({ connected: [user('new'), duplicate], disconnected: [b.sessionId], ended: [ended(b)] });
      const error = await writeBatchInOneStatement(db, failing, 'node-1', MultiNode.channel, encodeChange(failing, 'node-1')).then(
        () => undefined,
        (e: { code?: string }) => e,
      );
      assert.is(error?.code, '23505', 'unique violation');
      assert.equal(await sessionIds(db), [a.sessionId, b.sessionId].sort(), 'no insert, no delete');
      assert.equal(await listSessions(db, { limit: 10 }), [], 'no history row');
      // Notifications arrive in commit order: once this one is in, a
      // notification from the failed batch would have arrived before it.
      await sql`select pg_notify(${MultiNode.channel}, 'marker')`.execute(db);
      await waitFor(() => listener.payloads.length > 0, 5000, 'the marker');
      assert.equal(listener.payloads, ['marker']);
    } finally {
      await listener.close();
    }
  });
});

test('a session both touched and deleted, or both inserted and deleted, ends deleted', async () => {
  await withDatabase(async ({ db }) => {
    const [kept, touchedAndGone, insertedAndGone] = [user('kept'), user('t'), user('i')];
    await writeBatchInOneStatement(db, batch({ connected: [kept, touchedAndGone] }), 'node-1', MultiNode.channel, []);
    // Against WriteBatch's rule: a DELETE beside an INSERT does not see the new row,
    // and for an UPDATE beside a DELETE PostgreSQL does not say which one wins.
    const now = new Date().toISOString();
    await writeBatchInOneStatement(
      db,
      batch({
        connected: [insertedAndGone],
        activity: [{ sessionId: touchedAndGone.sessionId, lastActiveAt: now, messages: 1 }],
        disconnected: [touchedAndGone.sessionId, insertedAndGone.sessionId],
      }),
      'node-1',
      MultiNode.channel,
      [],
    );
    assert.equal(await sessionIds(db), [kept.sessionId]);
  });
});

test('the batch is parsed once per connection and then run by name', async () => {
  // One connection, so the catalog query below sees the writes' session.
  await withDatabase(async ({ db }) => {
    const users = [user('p1'), user('p2'), user('p3')];
    for (const u of users) await writeBatchInOneStatement(db, batch({ connected: [u] }), '', MultiNode.channel, []);
    await writeBatchInOneStatement(db, batch({ disconnected: [users[0]!.sessionId] }), '', MultiNode.channel, []);
    assert.equal(await sessionIds(db), [users[1]!.sessionId, users[2]!.sessionId].sort());
    const { rows } = await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(db);
    assert.equal(rows.map((r) => r.name), [WRITE_BATCH_STATEMENT.name], 'one prepared statement, the batch; other queries stay unnamed');
    assert.is(rows[0]!.statement, WRITE_BATCH_STATEMENT.text);
  }, 1);
});

test('the record writer sends one query per batch, and a resync still runs in a transaction', async () => {
  await withDatabase(async ({ db, url, queries }) => {
    const live = new LiveSet();
    const writer = new RecordWriter({
      db,
      live,
      touchFlushMs: 60_000,
      logger: silentLogger(),
      store: nodeStore('node-1', { postgres: true, multiNode: true }),
      onCommitted() {},
      onUnrecorded() {},
      onDegraded() {},
      onRecovered() {},
    });
    const listener = await listen(url);
    try {
      writer.start();
      const conns = [liveConnection(), liveConnection(), liveConnection()];
      for (const conn of conns) {
        live.add(conn);
        writer.insert(conn);
      }
      await writer.flush();
      assert.is(queries.length, 1, `one query: ${queries.join(' | ')}`);
      assert.match(queries[0]!, /^with\s+gone as/);
      assert.equal(await sessionIds(db), conns.map((c) => c.user.sessionId).sort());

      queries.length = 0;
      live.delete(conns[0]!.user.sessionId);
      writer.remove(conns[0]!, { code: 1000, reason: 'bye' });
      await writer.flush();
      assert.is(queries.length, 1, 'the delete and its history row: one query');
      const [record] = await listSessions(db, { limit: 10 });
      assert.is(record?.sessionId, conns[0]!.user.sessionId);
      assert.is(record?.closeCode, 1000);
      await waitFor(() => listener.payloads.length === 2, 5000, 'both changes notified');

      // Rows deleted behind the writer's back: a resync reads and rewrites them in one transaction.
      await sql`delete from users`.execute(db);
      queries.length = 0;
      await writer.resync();
      const resync = [...queries];
      assert.equal(await sessionIds(db), conns.slice(1).map((c) => c.user.sessionId).sort());
      assert.is(resync.length, 4, `begin, read, batch, commit: ${resync.join(' | ')}`);
      assert.is(resync[0], 'begin');
      assert.match(resync[2]!, /^with\s+gone as/);
      assert.is(resync[3], 'commit');
      await waitFor(() => listener.payloads.length === 3, 5000, 'the resync notified');
    } finally {
      await writer.close();
      await listener.close();
    }
  });
});

test.run();
