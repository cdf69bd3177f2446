/**
 * The store suite: the same repository functions, the same assertions, run
 * once over SQLite and once over a real PostgreSQL started by this file.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../src/database.js';
import { migrateToLatest } from '../src/migrations.js';
import { deleteOrphanUsers, heartbeatNode, listNodes, reapDeadNodes, removeNode, upsertNode } from '../src/node-repository.js';
import { openDatabase } from '../src/postgres.js';
import {
  countActiveUsers,
  createUser,
  createUsers,
  deleteUsers,
  deleteUsersOfNode,
  getUserBySessionId,
  listActiveUsers,
  listSessionIdsOfNode,
  touchUsers,
  withTransaction,
} from '../src/repository.js';
import type { User } from '../src/types.js';
import { postgresForSuite } from './helpers/postgres.js';
import { tempDir } from './helpers/tracker.js';

const POOL = { poolSize: 4, dbConnectTimeoutMs: 5000, dbIdleTimeoutMs: 10_000, dbStatementTimeoutMs: 10_000 };

function user(n: number, overrides: Partial<User> = {}): User {
  const at = new Date(Date.UTC(2026, 10, 23, 10, 0, n % 60, n)).toISOString();
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    sessionId: `session-${n}`,
    connectedAt: at,
    lastActiveAt: at,
    metadata: { remoteAddress: '127.0.0.1', userAgent: 'ua', origin: '', path: '/ws', query: { n: String(n) }, user: `user-${n}` },
    ...overrides,
  };
}

/** Make a node's heartbeat look `ms` old, in the dialect's own time format. */
async function ageNode(db: Database, nodeId: string, ms: number, pg: boolean): Promise<void> {
  const value = pg ? sql`now() - make_interval(secs => ${ms / 1000})` : new Date(Date.now() - ms).toISOString();
  await db.updateTable('nodes').set({ last_seen_at: value as never }).where('node_id', '=', nodeId).execute();
}

function storeSuite(name: string, open: () => Promise<{ db: Database; close(): Promise<void> }>, pg: boolean) {
  const store = suite(`store (${name})`);
  let db: Database;
  let close: () => Promise<void> = async () => {};

  store.before.each(async () => {
    ({ db, close } = await open());
    const { error } = await migrateToLatest(db);
    if (error) throw error;
  });
  store.after.each(async () => {
    await close();
  });

  store('users round-trip with ISO timestamps and parsed metadata', async () => {
    const u = user(1, { metadata: { remoteAddress: '::1', userAgent: "Robert'); DROP TABLE users;--", origin: 'o', path: '/ws', query: { a: 'ü' } } });
    await createUser(db, u, 'n1');
    assert.equal(await getUserBySessionId(db, u.sessionId), u);
    assert.is(await getUserBySessionId(db, 'missing'), undefined);
  });

  store('touch, list (newest first, limit/offset), count, delete', async () => {
    await createUsers(db, [user(1), user(3), user(2)], 'n1');
    assert.is(await touchUsers(db, [{ sessionId: 'session-2', lastActiveAt: '2026-11-23T11:00:00.002Z' }, { sessionId: 'gone', lastActiveAt: '2026-11-23T11:00:00.000Z' }]), 1);
    assert.is((await getUserBySessionId(db, 'session-2'))!.lastActiveAt, '2026-11-23T11:00:00.002Z');
    assert.equal((await listActiveUsers(db)).map((u) => u.sessionId), ['session-3', 'session-2', 'session-1']);
    assert.equal((await listActiveUsers(db, { limit: 1, offset: 1 })).map((u) => u.sessionId), ['session-2']);
    assert.equal((await listActiveUsers(db, { offset: 2 })).map((u) => u.sessionId), ['session-1']);
    assert.is(await countActiveUsers(db), 3);
    assert.is(await deleteUsers(db, ['session-1', 'nope']), 1);
    assert.is(await countActiveUsers(db), 2);
  });

  store('batches past one statement chunk', async () => {
    const many = Array.from({ length: 2100 }, (_, i) => user(i));
    await createUsers(db, many, 'n1');
    assert.is(await countActiveUsers(db), 2100);
    assert.is(await touchUsers(db, many.map((u) => ({ sessionId: u.sessionId, lastActiveAt: '2026-11-24T00:00:00.000Z' }))), 2100);
    assert.is(await deleteUsers(db, many.slice(0, 2000).map((u) => u.sessionId)), 2000);
  });

  store('rows are scoped by node: list and delete one node\'s rows only', async () => {
    await createUsers(db, [user(1), user(2)], 'alpha');
    await createUsers(db, [user(3)], 'beta');
    assert.equal((await listSessionIdsOfNode(db, 'alpha')).sort(), ['session-1', 'session-2']);
    assert.equal((await deleteUsersOfNode(db, 'alpha')).sort(), ['session-1', 'session-2']);
    assert.equal((await listActiveUsers(db)).map((u) => u.sessionId), ['session-3']);
    assert.equal(await deleteUsersOfNode(db, 'alpha'), []);
  });

  store('heartbeat, reaping of dead nodes with their rows, orphans', async () => {
    await upsertNode(db, 'self');
    await upsertNode(db, 'alive');
    await upsertNode(db, 'dead');
    await createUsers(db, [user(1)], 'alive');
    await createUsers(db, [user(2), user(3)], 'dead');
    await createUsers(db, [user(4)], 'never-registered');
    assert.is(await heartbeatNode(db, 'self'), true);
    assert.is(await heartbeatNode(db, 'unknown'), false, 'a heartbeat for a missing row reports it');
    await ageNode(db, 'dead', 60_000, pg);
    await ageNode(db, 'self', 60_000, pg);

    const reaped = await withTransaction(db, (trx) => reapDeadNodes(trx, 'self', 30_000));
    assert.equal(reaped.nodeIds, ['dead'], 'never reaps itself, nor a live node');
    assert.equal(reaped.sessionIds.sort(), ['session-2', 'session-3']);
    assert.equal((await listNodes(db)).map((n) => n.nodeId), ['alive', 'self']);
    assert.equal((await withTransaction(db, (trx) => reapDeadNodes(trx, 'self', 30_000))).nodeIds, [], 'a second reap finds nothing');

    assert.equal(await deleteOrphanUsers(db), ['session-4']);
    assert.equal((await listActiveUsers(db)).map((u) => u.sessionId), ['session-1']);
    assert.is(await removeNode(db, 'alive'), true);
    assert.is(await removeNode(db, 'alive'), false);
    const [self] = await listNodes(db);
    assert.match(self!.lastSeenAt, /^\d{4}-\d\d-\d\dT/, 'node times are ISO strings');
  });

  store('withTransaction rolls back on error', async () => {
    try {
      await withTransaction(db, async (trx) => {
        await createUser(trx, user(1), 'n1');
        throw new Error('boom');
      });
      assert.unreachable();
    } catch (error) {
      assert.is((error as Error).message, 'boom');
    }
    assert.is(await countActiveUsers(db), 0);
  });

  if (pg) {
    store('two survivors reaping at once: each dead node is claimed by exactly one', async () => {
      await upsertNode(db, 's1');
      await upsertNode(db, 's2');
      for (let i = 0; i < 6; i++) {
        await upsertNode(db, `dead-${i}`);
        await createUsers(db, [user(100 + i)], `dead-${i}`);
        await ageNode(db, `dead-${i}`, 60_000, true);
      }
      const [r1, r2] = await Promise.all([
        withTransaction(db, (trx) => reapDeadNodes(trx, 's1', 30_000)),
        withTransaction(db, (trx) => reapDeadNodes(trx, 's2', 30_000)),
      ]);
      const nodes = [...r1!.nodeIds, ...r2!.nodeIds].sort();
      const sessions = [...r1!.sessionIds, ...r2!.sessionIds].sort();
      assert.equal(nodes, Array.from({ length: 6 }, (_, i) => `dead-${i}`), 'no node twice, none missed');
      assert.equal(sessions, Array.from({ length: 6 }, (_, i) => `session-${100 + i}`), 'no leave announced twice');
    });
  }

  return store;
}

const sqliteSuite = storeSuite(
  'SQLite',
  async () => {
    const dir = tempDir('roster-store-');
    const db = openDatabase({ databasePath: join(dir, 'store.db'), ...POOL });
    return {
      db,
      close: async () => {
        await db.destroy();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  false,
);

const pgSuite = storeSuite(
  'PostgreSQL',
  async () => {
    const db = openDatabase({ databasePath: 'unused', databaseUrl: await postgres.freshDatabase(), ...POOL });
    return { db, close: () => db.destroy() };
  },
  true,
);
const postgres = postgresForSuite(pgSuite, 'store');

sqliteSuite.run();
pgSuite.run();
