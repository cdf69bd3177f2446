/**
 * Data access for the `users` table: plain functions that take `db` first.
 * Everything here is dialect-neutral Kysely, so SQLite and PostgreSQL share
 * one copy. Values only ever reach SQL as bound parameters.
 */
import { CompiledQuery, PostgresAdapter, sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { DB, Users } from '../db/types.js';
import type { ActiveUsersCursor } from './active-users-cursor.js';
import { executeReusable, powerOfTwoChunks } from './reusable-queries.js';
import { metadataJson } from './user-json.js';
import type { Touch, User, UserMetadata } from './types.js';

type Db = Kysely<DB>;

/**
 * Rows per statement in batch writes. Batches are cut into power-of-two
 * chunks up to these sizes, so that a few compiled shapes are reused (see
 * reusable-queries.ts), and the bound parameters (6 per inserted row, 3
 * per touch) stay well inside SQLite's 32766 and PostgreSQL's 65535
 * limits. Touches stop at 128 because the CASE in their UPDATE is scanned
 * once per row: cost per row grows with the chunk (measured in SQLite:
 * about 2.7 µs/row at 128, 27 µs/row at 1024).
 */
const WRITE_CHUNK_ROWS = 512;
const TOUCH_CHUNK_ROWS = 128;

export function toUser(row: Selectable<Users>): User {
  // SQLite returns text; PostgreSQL may hand back parsed jsonb.
  const metadata = row.metadata as unknown;
  return { ...userFields(row), metadata: (typeof metadata === 'string' ? JSON.parse(metadata) : metadata) as UserMetadata };
}

/** Everything of a User but its metadata, from a row of either dialect. */
function userFields(row: Selectable<Users>) {
  return { id: row.id, sessionId: row.session_id, connectedAt: isoText(row.connected_at), lastActiveAt: isoText(row.last_active_at) };
}

/** The columns of a `users` row, in the order pushUserRow gives their values. */
const USER_COLUMNS = ['id', 'node_id', 'session_id', 'connected_at', 'last_active_at', 'metadata'] as const;

/**
 * Append a user's row values, in USER_COLUMNS order, to `values`: the
 * bound parameters of an insert, built without a row object per user.
 * `nodeId` names the tracker node that owns the row ('' when there is
 * only one).
 */
function pushUserRow(values: unknown[], user: User, nodeId: string): void {
  values.push(user.id, nodeId, user.sessionId, user.connectedAt, user.lastActiveAt, metadataJson(user));
}

function toRow(user: User, nodeId = ''): Insertable<Users> {
  const values: unknown[] = [];
  pushUserRow(values, user, nodeId);
  return Object.fromEntries(USER_COLUMNS.map((column, i) => [column, values[i]])) as unknown as Insertable<Users>;
}

export async function createUser(db: Db, user: User, nodeId = ''): Promise<User> {
  await db.insertInto('users').values(toRow(user, nodeId)).execute();
  return user;
}

/**
 * Insert many rows with one multi-row INSERT per chunk, owned by `nodeId`.
 * The row objects Kysely needs are built only when a chunk size is first
 * compiled; every later batch only gathers its parameters.
 */
export async function createUsers(db: Db, users: readonly User[], nodeId = ''): Promise<void> {
  for (const chunk of powerOfTwoChunks(users, WRITE_CHUNK_ROWS)) {
    const parameters: unknown[] = [];
    for (const user of chunk) pushUserRow(parameters, user, nodeId);
    await executeReusable(db, `insert users ${chunk.length}`, parameters, () => db.insertInto('users').values(chunk.map((u) => toRow(u, nodeId))));
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
  for (const chunk of powerOfTwoChunks(touches, TOUCH_CHUNK_ROWS)) {
    const parameters: string[] = [];
    for (const t of chunk) parameters.push(t.sessionId, t.lastActiveAt);
    for (const t of chunk) parameters.push(t.sessionId);
    const result = await executeReusable(db, `touch users ${chunk.length}`, parameters, () => {
      const cases = sql.join(chunk.map((t) => sql`when ${t.sessionId} then ${t.lastActiveAt}`), sql` `);
      return db
        .updateTable('users')
        .set({ last_active_at: sql<string>`cast(case session_id ${cases} end as ${type})` })
        .where('session_id', 'in', chunk.map((t) => t.sessionId));
    });
    changed += Number(result.numAffectedRows ?? 0n);
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
  for (const chunk of powerOfTwoChunks(sessionIds, WRITE_CHUNK_ROWS)) {
    const result = await executeReusable(db, `delete users ${chunk.length}`, chunk, () => db.deleteFrom('users').where('session_id', 'in', chunk));
    deleted += Number(result.numAffectedRows ?? 0n);
  }
  return deleted;
}

/** Full rows of the given nodes (or of every node when `nodeIds` is undefined). */
export async function listUsersOfNodes(db: Db, nodeIds?: readonly string[]): Promise<User[]> {
  let query = db.selectFrom('users').selectAll();
  if (nodeIds !== undefined) {
    if (nodeIds.length === 0) return [];
    query = query.where('node_id', 'in', nodeIds);
  }
  return (await query.execute()).map(toUser);
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
  /** Only the rows after this key in the list's order (see active-users-cursor.ts). */
  before?: ActiveUsersCursor;
}

/** Active users, newest connection first. */
export async function listActiveUsers(db: Db, options: ListOptions = {}): Promise<User[]> {
  const rows = await activeUsersQuery(db, options).execute();
  return rows.map(toUser);
}

/** A `users` row with its metadata still JSON text, for responses that only serialize it again. */
export interface UserJsonRow {
  id: string;
  sessionId: string;
  connectedAt: string;
  lastActiveAt: string;
  /** The metadata object as JSON text. */
  metadataJson: string;
}

/** listActiveUsers without parsing metadata; see user-json.ts. */
export async function listActiveUsersJson(db: Db, options: ListOptions = {}): Promise<UserJsonRow[]> {
  const rows = await activeUsersQuery(db, options).execute();
  return rows.map(userJsonRow);
}

function userJsonRow(row: Selectable<Users>): UserJsonRow {
  const metadata = row.metadata as unknown;
  // SQLite returns the text toRow wrote; PostgreSQL hands back parsed jsonb.
  return { ...userFields(row), metadataJson: typeof metadata === 'string' ? metadata : JSON.stringify(metadata) };
}

/** SQLite returns timestamps as ISO text, PostgreSQL as Date. */
export function isoText(value: unknown): string {
  return value instanceof Date ? value.toISOString() : (value as string);
}

/** A page of GET /active-users read from the table, what follows it, and every row's count. */
export interface ActiveUsersTablePage {
  count: number;
  users: UserJsonRow[];
  /** The key of the page's last row when more rows follow, else null. */
  next: ActiveUsersCursor | null;
}

/**
 * The page and the count from one statement, so from one snapshot: read
 * apart, a connect or disconnect between them under churn made the two
 * disagree. One row past the page is read to know whether more follow.
 * Only an empty page needs the count read by itself (it is then all
 * there is to be consistent).
 */
export async function readActiveUsersPage(db: Db, page: { limit: number; offset: number; before?: ActiveUsersCursor }): Promise<ActiveUsersTablePage> {
  const rows = await activeUsersQuery(db, { ...page, limit: page.limit + 1 })
    .select((eb) => eb.selectFrom('users as counted').select((inner) => inner.fn.countAll<number | string>().as('n')).as('total'))
    .execute();
  if (rows.length === 0) return { count: await countActiveUsers(db), users: [], next: null };
  const users = rows.slice(0, page.limit).map(userJsonRow);
  const last = users.at(-1)!;
  return { count: Number(rows[0]!.total), users, next: rows.length > page.limit ? { connectedAt: last.connectedAt, sessionId: last.sessionId } : null };
}

function activeUsersQuery(db: Db, options: ListOptions) {
  let query = db.selectFrom('users').selectAll('users').orderBy('connected_at', 'desc').orderBy('session_id', 'desc');
  const before = options.before;
  // A row-value comparison, as GET /history's pages: PostgreSQL starts the
  // scan of users_connected_at_idx at the cursor (an index condition on
  // connected_at, the rest checked on the few rows of that millisecond).
  // SQLite has no such index (20261123130000_lean_write_path.ts): one node
  // always pages from its committed view, so the table is only read here
  // in tests, and an index would cost every connect and disconnect a page.
  if (before !== undefined) query = query.where((eb) => eb(eb.refTuple('connected_at', 'session_id'), '<', eb.tuple(before.connectedAt, before.sessionId)));
  if (options.limit !== undefined) query = query.limit(options.limit);
  if (options.offset) {
    // SQLite only accepts OFFSET after a LIMIT; -1 means "no limit" there.
    if (options.limit === undefined) query = query.limit(isPostgres(db) ? Number.MAX_SAFE_INTEGER : -1);
    query = query.offset(options.offset);
  }
  return query;
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

const BEGIN = CompiledQuery.raw('begin');
const COMMIT = CompiledQuery.raw('commit');
const ROLLBACK = CompiledQuery.raw('rollback');

/**
 * Run `fn` in a transaction on one connection: committed when it
 * resolves, rolled back when it (or the commit) throws, and the original
 * error rethrown.
 *
 * BEGIN and COMMIT are run as plain queries on `db.connection()` rather
 * than through Kysely's transaction builders, which build several objects
 * and promise hops per transaction: in the writer, which commits up to
 * 200 times a second, that cost more than SQLite's own work for a 16-row
 * insert (bench/micro-transaction.ts). Queries still go through Kysely's
 * executor and its log hook. And a failed ROLLBACK never hides the cause:
 * SQLite ends the transaction by itself on some errors (SQLITE_FULL,
 * SQLITE_IOERR, SQLITE_NOMEM), so the ROLLBACK that follows fails with
 * "no transaction is active".
 */
export function withTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  return db.connection().execute(async (conn) => {
    await conn.executeQuery(BEGIN);
    try {
      const result = await fn(conn);
      await conn.executeQuery(COMMIT);
      return result;
    } catch (error) {
      await conn.executeQuery(ROLLBACK).catch(() => {});
      throw error;
    }
  });
}

function isPostgres(db: Db): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

function timestampType(db: Db) {
  return isPostgres(db) ? sql.raw('timestamptz') : sql.raw('text');
}
