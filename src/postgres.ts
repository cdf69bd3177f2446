/**
 * PostgreSQL: Kysely's PostgresDialect over a `pg` pool, and the choice
 * between it and SQLite. Every session runs in UTC and `timestamptz`
 * values come back as ISO-8601 strings, so the repository hands out the
 * same shapes on both dialects.
 */
import { Kysely, PostgresAdapter, PostgresDialect, type KyselyConfig } from 'kysely';
import pg from 'pg';
import type { DB } from '../db/types.js';
import { PostgresLimits } from './constants.js';
import { openSqlite, type Database } from './database.js';
import { withNamedStatements } from './pg-named-statements.js';
import { WRITE_BATCH_STATEMENT } from './postgres-batch.js';

export interface PostgresOptions {
  /** postgres:// or postgresql:// URL. */
  url: string;
  poolSize: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** 0 disables the limit. */
  statementTimeoutMs: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  /** Kysely's query log hook. */
  log?: KyselyConfig['log'];
}

/** The tracker's (or the CLI's) settings as pool options. */
export function postgresOptions(o: {
  databaseUrl: string;
  poolSize: number;
  dbConnectTimeoutMs: number;
  dbIdleTimeoutMs: number;
  dbStatementTimeoutMs: number;
  nodeId?: string;
}): PostgresOptions {
  return {
    url: o.databaseUrl,
    poolSize: o.poolSize,
    connectTimeoutMs: o.dbConnectTimeoutMs,
    idleTimeoutMs: o.dbIdleTimeoutMs,
    statementTimeoutMs: o.dbStatementTimeoutMs,
    applicationName: o.nodeId === undefined ? 'roster' : `roster:${o.nodeId}`,
  };
}

/** The subset of the server configuration that picks and opens the database. */
export interface DatabaseConfig {
  databasePath: string;
  databaseUrl?: string | undefined;
  poolSize: number;
  dbConnectTimeoutMs: number;
  dbIdleTimeoutMs: number;
  dbStatementTimeoutMs: number;
}

const TIMESTAMPTZ_OID = 1184;
const TIMESTAMP_OID = 1114;
const JSON_OID = 114;
const JSONB_OID = 3802;

/**
 * Per-connection type parsers (never pg's global registry, which other
 * code in the process may rely on): timestamps become ISO strings, and
 * json/jsonb stay text, as SQLite returns them, so a snapshot can splice
 * the metadata in without parsing and re-serializing it (user-json.ts).
 */
const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === JSON_OID || oid === JSONB_OID) return (value: string) => value;
    if (oid === TIMESTAMPTZ_OID || oid === TIMESTAMP_OID) {
      const toDate = pg.types.getTypeParser(oid, 'text') as (value: string) => Date;
      return (value: string) => {
        const date = toDate(value);
        return Number.isNaN(date.getTime()) ? value : date.toISOString();
      };
    }
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

/** Throws a TypeError naming the problem (never echoing the password). */
export function validateDatabaseUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError('DATABASE_URL is not a valid URL (expected postgres://user:password@host:5432/database)');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new TypeError(`DATABASE_URL must start with postgres:// or postgresql://, got ${parsed.protocol}//`);
  }
  if (parsed.hostname === '' && !parsed.searchParams.has('host')) {
    throw new TypeError('DATABASE_URL has no host');
  }
  if (parsed.pathname.length <= 1) throw new TypeError('DATABASE_URL names no database (…/database)');
  return parsed;
}

/**
 * The URL with its password masked, for logs and error messages. pg also
 * takes every query parameter as a setting (pg-connection-string), so
 * `?password=` is a password as much as the one before the `@`.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const name of [...parsed.searchParams.keys()]) {
      if (isPasswordParam(name)) parsed.searchParams.set(name, '***');
    }
    return parsed.toString();
  } catch {
    return '(invalid url)';
  }
}

/** `password`, and any other parameter that names one (libpq's `sslpassword`). */
export function isPasswordParam(name: string): boolean {
  return /password/i.test(name);
}

/**
 * The URL without its `options` parameter, and that parameter. pg lays
 * what it parses from the URL over the explicit settings, so a URL that
 * carries `options` (`?options=-c search_path=app`) would replace the
 * tracker's own startup options, dropping UTC and the timeouts.
 */
function splitUrlOptions(url: string): { url: string; options: string | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, options: undefined };
  }
  const options = parsed.searchParams.get('options');
  if (options === null) return { url, options: undefined };
  parsed.searchParams.delete('options');
  return { url: parsed.toString(), options };
}

/** Settings for one `pg` connection; shared by the pool and the listener. */
export function clientConfig(options: PostgresOptions): pg.ClientConfig {
  const fromUrl = splitUrlOptions(options.url);
  // The URL's own options go first and ours after: the server applies `-c`
  // settings in order, so the URL keeps its settings (search_path, …) and
  // UTC and the timeouts stay as documented even if it names them too.
  const startup = fromUrl.options?.trim() ? [fromUrl.options.trim(), '-c TimeZone=UTC'] : ['-c TimeZone=UTC'];
  if (options.statementTimeoutMs > 0) {
    startup.push(`-c statement_timeout=${options.statementTimeoutMs}`);
    // A transaction orphaned by a lost connection must not hold its locks forever (constants.ts).
    startup.push(`-c idle_in_transaction_session_timeout=${options.statementTimeoutMs * PostgresLimits.idleInTransactionFactor}`);
  }
  return {
    connectionString: fromUrl.url,
    connectionTimeoutMillis: options.connectTimeoutMs,
    // statement_timeout is enforced by the server. A server that has stopped
    // answering (hung, or a network that drops packets silently) is caught
    // on this side, a little later, so that no query waits forever.
    ...(options.statementTimeoutMs > 0 ? { query_timeout: options.statementTimeoutMs + PostgresLimits.clientTimeoutGraceMs } : {}),
    options: startup.join(' '),
    types: typeParsers,
    keepAlive: true,
    application_name: options.applicationName ?? 'roster',
  };
}

export function openPostgres(options: PostgresOptions): Database {
  validateDatabaseUrl(options.url);
  const pool = new pg.Pool({ ...clientConfig(options), max: options.poolSize, idleTimeoutMillis: options.idleTimeoutMs });
  // An idle client that loses its server emits on the pool; without a
  // listener Node would crash. The next query reports the failure instead.
  pool.on('error', () => {});
  const dialect = new PostgresDialect({ pool: withNamedStatements(pool, [WRITE_BATCH_STATEMENT]) });
  return new Kysely<DB>({ dialect, ...(options.log ? { log: options.log } : {}) });
}

/** PostgreSQL when a URL is set, else the SQLite file. */
export function openDatabase(config: DatabaseConfig): Database {
  if (config.databaseUrl !== undefined) return openPostgres(postgresOptions({ ...config, databaseUrl: config.databaseUrl }));
  return openSqlite({ path: config.databasePath });
}

export function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}
