/**
 * Opening the database. SQLite is the zero-setup default: the file's folder
 * is created, the pragmas are set explicitly on every open, prepared
 * statements are cached so that Kysely's per-query `prepare` costs nothing
 * on the hot paths, WAL checkpoints run on a worker thread, and reads that
 * scan many rows on another.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  Kysely,
  sql,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type Compilable,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  type SqliteDatabase,
  type SqliteDialectConfig,
  type SqliteStatement,
} from 'kysely';
import type { DB } from '../db/types.js';
import { WalCheckpoint } from './constants.js';
import type { QueryLog } from './query-log.js';
import { startSqliteReader, type SqliteReader } from './sqlite-reader.js';
import { startWalCheckpointer, type WalCheckpointer } from './wal-checkpointer.js';

export type Database = Kysely<DB>;

/**
 * How long a writer waits for a lock held by another connection. It is
 * short on purpose: better-sqlite3 waits synchronously, so a long timeout
 * would freeze every socket. A write that still finds the lock fails and
 * the tracker retries it with backoff instead.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 100;

/** Distinct SQL texts kept prepared; batches of varying size make a few dozen. */
const STATEMENT_CACHE_SIZE = 256;

export interface SqliteOptions {
  /** File path, or ':memory:'. */
  path: string;
  /** Kysely's log hook (query logging and query metrics); see createQueryLog. */
  log?: QueryLog;
}

/** Open (creating if needed) an SQLite database wrapped in Kysely. */
export function openSqlite(options: SqliteOptions): Database {
  const native = openNativeSqlite(options.path);
  let workers: SqliteWorkers = {};
  if (options.path !== ':memory:') {
    // Checkpoints run on a worker (wal-checkpointer.ts); the writer's own
    // only if that one falls far behind.
    native.pragma(`wal_autocheckpoint = ${WalCheckpoint.fallbackPages}`);
    native.pragma(`journal_size_limit = ${WalCheckpoint.journalSizeLimitBytes}`);
    // Long reads run on another (sqlite-reader.ts), started at the first.
    workers = { checkpointer: startWalCheckpointer(options.path), reader: startSqliteReader(options.path, options.log) };
  }
  const dialect = new RosterSqliteDialect({ database: cachingDatabase(native, workers) }, native, workers);
  return new Kysely<DB>(options.log ? { dialect, log: options.log } : { dialect });
}

/**
 * Kysely's SqliteDialect with two corrections, both for transactions that
 * Kysely runs (the Migrator's; the tracker's own writes use
 * repository.ts's withTransaction):
 *
 * - SQLite's DDL is transactional, but Kysely's SqliteAdapter says it is
 *   not, so Kysely's Migrator would run each migration statement by
 *   statement: a migration that failed halfway (a full disk, a crash)
 *   would leave its first steps behind, and every later run would trip
 *   over them. Saying so makes the Migrator run each `migrate*` call, up
 *   or down, in one transaction, so a failed migration leaves the file as
 *   it was. The Migrator is the only reader of this flag in Kysely (0.28).
 * - SQLite ends the transaction by itself on some errors (SQLITE_FULL
 *   from a really full disk, SQLITE_IOERR, SQLITE_NOMEM, a trigger's
 *   RAISE(ROLLBACK)). Kysely's ROLLBACK then fails with "no transaction
 *   is active" and that error replaces the cause, so the driver only
 *   rolls back a transaction that is still open.
 */
/** The threads beside a file database's connection; none for one in memory. */
interface SqliteWorkers {
  checkpointer?: WalCheckpointer;
  reader?: SqliteReader;
}

class RosterSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  readonly #native: SQLite.Database;
  readonly #workers: SqliteWorkers;

  constructor(config: SqliteDialectConfig, native: SQLite.Database, workers: SqliteWorkers) {
    super(config);
    this.#config = config;
    this.#native = native;
    this.#workers = workers;
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter(this.#workers);
  }

  override createDriver(): Driver {
    return new RosterSqliteDriver(this.#config, this.#native);
  }
}

/** Also the way to a database's workers (see walCheckpointer, readOffLoop): the adapter is what Kysely lets anyone holding `db` reach. */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  constructor(readonly workers: SqliteWorkers) {
    super();
  }

  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/**
 * The WAL checkpointer of a database opened by openSqlite with a file;
 * undefined for PostgreSQL, an in-memory database, or a Kysely made
 * elsewhere (its WAL, if any, is checkpointed however its owner set up).
 */
export function walCheckpointer(db: Database): WalCheckpointer | undefined {
  return workersOf(db).checkpointer;
}

/**
 * The rows of a read-only query that may scan many rows, run where it
 * cannot stall the event loop: on the reader worker of an SQLite file
 * opened by openSqlite, else through `db` as any query (PostgreSQL runs
 * it on its server anyway). Outside any transaction: `db` is the database,
 * never a transaction on it.
 */
export async function readOffLoop<R>(db: Kysely<any>, query: Compilable<R>): Promise<R[]> {
  const reader = workersOf(db).reader;
  if (reader !== undefined) return reader.all(query.compile());
  return (await db.executeQuery(query.compile())).rows;
}

function workersOf(db: Kysely<any>): SqliteWorkers {
  const adapter = db.getExecutor().adapter;
  return adapter instanceof TransactionalDdlSqliteAdapter ? adapter.workers : {};
}

class RosterSqliteDriver extends SqliteDriver {
  readonly #native: SQLite.Database;

  constructor(config: SqliteDialectConfig, native: SQLite.Database) {
    super(config);
    this.#native = native;
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.#native.inTransaction) await super.rollbackTransaction(connection);
  }
}

/**
 * The file behind an SQLite `db`'s main database, as SQLite opened it, or
 * '' for one in memory or a temporary one.
 */
export async function sqliteMainFile(db: Database): Promise<string> {
  const { rows } = await sql<{ file: string | null }>`select file from pragma_database_list where name = 'main'`.execute(db);
  return rows[0]?.file ?? '';
}

/** The raw better-sqlite3 handle with Roster's pragmas applied. */
export function openNativeSqlite(path: string): SQLite.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const native = new SQLite(path, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  native.pragma('journal_mode = WAL');
  native.pragma('synchronous = NORMAL');
  native.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  native.pragma('foreign_keys = ON');
  return native;
}

/**
 * Kysely's SQLite driver calls `prepare` for every query. Handing it this
 * wrapper turns repeated SQL texts into cache hits; compiling a statement
 * costs far more than running it.
 */
function cachingDatabase(native: SQLite.Database, workers: SqliteWorkers): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    prepare(sql: string): SqliteStatement {
      let statement = cache.get(sql);
      if (statement === undefined) {
        statement = native.prepare(sql) as unknown as SqliteStatement;
        // Map keeps insertion order, so the first key is the oldest.
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
        cache.set(sql, statement);
      }
      return statement;
    },
    close(): void {
      cache.clear();
      // The workers let go first, so this close is the last one: it
      // checkpoints what is left and removes the WAL.
      workers.reader?.stop();
      workers.checkpointer?.stop();
      native.close();
    },
  };
}
