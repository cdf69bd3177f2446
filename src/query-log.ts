/**
 * Kysely's `log` hook, built from the tracker's logger and settings, so
 * that every dialect (SQLite here, PostgreSQL elsewhere) gets the same
 * query logging and query metrics by passing it to `new Kysely({ log })`.
 *
 * Only the SQL text and the duration are ever logged: bound parameters are
 * user data (and, in general, may hold secrets), so they never leave here.
 */
import type { LogEvent } from 'kysely';
import type { Logger } from './logger.js';

export type QueryLog = (event: LogEvent) => void;

export interface QueryLogOptions {
  logger: Logger;
  /** Log every query with its duration (DB_LOG_QUERIES=1). */
  logQueries?: boolean;
  /** Log queries that take at least this long at warn; 0 turns it off. */
  slowQueryMs?: number;
  /** Every finished query, failed or not, in seconds (roster_db_query_seconds). */
  onQuery?(seconds: number): void;
  /** Every failed query (roster_db_errors_total). */
  onError?(): void;
}

/** Longest SQL text put in one log line; batch statements can be huge. */
const MAX_LOGGED_SQL = 1000;

export function createQueryLog(options: QueryLogOptions): QueryLog {
  const { logger, logQueries = false, slowQueryMs = 0, onQuery, onError } = options;
  return (event) => {
    const ms = event.queryDurationMillis;
    onQuery?.(ms / 1000);
    if (event.level === 'error') {
      onError?.();
      // Callers report the failure in context; this line is for echo mode.
      if (logQueries) logger.error({ sql: clip(event.query.sql), durationMs: round(ms), error: describe(event.error) }, 'query failed');
      return;
    }
    if (slowQueryMs > 0 && ms >= slowQueryMs) {
      logger.warn({ sql: clip(event.query.sql), durationMs: round(ms) }, 'slow query');
    } else if (logQueries) {
      logger.info({ sql: clip(event.query.sql), durationMs: round(ms) }, 'query');
    }
  };
}

function clip(sql: string): string {
  return sql.length > MAX_LOGGED_SQL ? `${sql.slice(0, MAX_LOGGED_SQL)}…` : sql;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** Code and message only: driver errors can carry row values in other fields (pg's `detail`). */
function describe(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(error);
  return typeof e?.code === 'string' ? `${e.code}: ${message}` : message;
}
