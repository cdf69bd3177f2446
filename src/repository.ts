/**
 * Data access for the `users` table: plain functions that take `db` first.
 * Everything here is dialect-neutral Kysely, so SQLite and PostgreSQL share
 * one copy. Values only ever reach SQL as bound parameters.
 */
import { PostgresAdapter, sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { DB, Users } from '../db/types.js';
import type { Touch, User, UserMetadata } from './types.js';

type Db = Kysely<DB>;

/**
 * Rows per statement in batch writes. Keeps the bound parameters (5 per
 * inserted row, 3 per touch) well inside SQLite's 32766 and PostgreSQL's
 * 65535 limits.
 */
const BATCH_ROWS = 1000;

function toUser(row: Selectable<Users>): User {
  // SQLite returns text; PostgreSQL returns Date and parsed jsonb.
  const connectedAt = row.connected_at as unknown;
  const lastActiveAt = row.last_active_at as unknown;
  const metadata = row.metadata as unknown;
  return {
    id: row.id,
    sessionId: row.session_id,
    connectedAt: connectedAt instanceof Date ? connectedAt.toISOString() : (connectedAt as string),
    lastActiveAt: lastActiveAt instanceof Date ? lastActiveAt.toISOString() : (lastActiveAt as string),
    metadata: (typeof metadata === 'string' ? JSON.parse(metadata) : metadata) as UserMetadata,
  };
}

/** `nodeId` names the tracker node that owns the row ('' when there is only one). */
function toRow(user: User, nodeId = '') {
  return {
    id: user.id,
    node_id: nodeId,
    session_id: user.sessionId,
    connected_at: user.connectedAt,
    last_active_at: user.lastActiveAt,
    metadata: JSON.stringify(user.metadata),
  };
}

function chunks<T>(items: readonly T[], size = BATCH_ROWS): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export async function createUser(db: Db, user: User, nodeId = ''): Promise<User> {
  await db.insertInto('users').values(toRow(user, nodeId)).execute();
  return user;
}

/** Insert many rows with one multi-row INSERT per chunk, owned by `nodeId`. */
export async function createUsers(db: Db, users: readonly User[], nodeId = ''): Promise<void> {
  for (const chunk of chunks(users)) {
    await db.insertInto('users').values(chunk.map((u) => toRow(u, nodeId))).execute();
  }
}

export async function getUserBySessionId(db: Db, sessionId: string): Promise<User | undefined> {
  const row = await db.selectFrom('users').selectAll().where('session_id', '=', sessionId).executeTakeFirst();
  return row && toUser(row);
}

/**
 * Set `last_active_at` for a batch with one set-based UPDATE per chunk.
 * A touch for a row that is gone changes nothing: an UPDATE never
 * resurrects a deleted connection. Returns the number of rows changed.
 */
export async function touchUsers(db: Db, touches: readonly Touch[]): Promise<number> {
  let changed = 0;
  const type = timestampType(db);
  for (const chunk of chunks(touches)) {
    const cases = sql.join(chunk.map((t) => sql`when ${t.sessionId} then ${t.lastActiveAt}`), sql` `);
    const result = await db
      .updateTable('users')
      .set({ last_active_at: sql<string>`cast(case session_id ${cases} end as ${type})` })
      .where('session_id', 'in', chunk.map((t) => t.sessionId))
      .executeTakeFirst();
    changed += Number(result.numUpdatedRows);
  }
  return changed;
}

export async function deleteUser(db: Db, sessionId: string): Promise<boolean> {
  const result = await db.deleteFrom('users').where('session_id', '=', sessionId).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** Delete a batch of rows by session id. Returns how many existed. */
export async function deleteUsers(db: Db, sessionIds: readonly string[]): Promise<number> {
  let deleted = 0;
  for (const chunk of chunks(sessionIds)) {
    const result = await db.deleteFrom('users').where('session_id', 'in', chunk).executeTakeFirst();
    deleted += Number(result.numDeletedRows);
  }
  return deleted;
}

/** Delete every row; used for the rows an earlier, crashed run left behind. */
export async function deleteAllUsers(db: Db): Promise<number> {
  const result = await db.deleteFrom('users').executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Delete the rows one node owns; returns their session ids (to announce the leaves). */
export async function deleteUsersOfNode(db: Db, nodeId: string): Promise<string[]> {
  const rows = await db.deleteFrom('users').where('node_id', '=', nodeId).returning('session_id').execute();
  return rows.map((r) => r.session_id);
}

/** Session ids of the rows one node owns; its writer diffs these against its live set. */
export async function listSessionIdsOfNode(db: Db, nodeId: string): Promise<string[]> {
  const rows = await db.selectFrom('users').select('session_id').where('node_id', '=', nodeId).execute();
  return rows.map((r) => r.session_id);
}

export interface ListOptions {
  limit?: number;
  offset?: number;
}

/** Active users, newest connection first. */
export async function listActiveUsers(db: Db, options: ListOptions = {}): Promise<User[]> {
  let query = db.selectFrom('users').selectAll().orderBy('connected_at', 'desc').orderBy('session_id', 'desc');
  if (options.limit !== undefined) query = query.limit(options.limit);
  if (options.offset) {
    // SQLite only accepts OFFSET after a LIMIT; -1 means "no limit" there.
    if (options.limit === undefined) query = query.limit(isPostgres(db) ? Number.MAX_SAFE_INTEGER : -1);
    query = query.offset(options.offset);
  }
  const rows = await query.execute();
  return rows.map(toUser);
}

export async function countActiveUsers(db: Db): Promise<number> {
  const row = await db.selectFrom('users').select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Every stored session id; the tracker diffs these against its live set. */
export async function listSessionIds(db: Db): Promise<string[]> {
  const rows = await db.selectFrom('users').select('session_id').execute();
  return rows.map((r) => r.session_id);
}

/**
 * Run `fn` in a transaction: committed when it resolves, rolled back when
 * it (or the commit) throws, and the original error rethrown.
 *
 * Not `db.transaction().execute()`: SQLite ends the transaction by itself
 * on some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM), so the
 * ROLLBACK that follows fails with "no transaction is active", and Kysely
 * would throw that SQLITE_ERROR in place of the real cause.
 */
export async function withTransaction<T>(db: Db, fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  const trx = await db.startTransaction().execute();
  try {
    const result = await fn(trx);
    await trx.commit().execute();
    return result;
  } catch (error) {
    // Releases the connection whether or not the ROLLBACK itself succeeds.
    await trx.rollback().execute().catch(() => {});
    throw error;
  }
}

function isPostgres(db: Db): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

function timestampType(db: Db) {
  return isPostgres(db) ? sql.raw('timestamptz') : sql.raw('text');
}
