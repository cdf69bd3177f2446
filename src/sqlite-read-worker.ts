/**
 * The worker side of sqlite-reader.ts: a read-only connection of its own
 * to the database file, running the queries the main thread sends, one at
 * a time, in the order sent. In WAL mode it reads alongside the writer
 * without blocking it; a query that scans many rows costs this thread's
 * time, not the event loop's.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { closeWorkerConnection } from './worker-close.js';

export interface ReadWorkerData {
  path: string;
  /** Int32 flag set to 1 (and notified) once this connection is closed. */
  closed: SharedArrayBuffer;
}

/** A query to run, or 'stop' to close for good. */
export type ReadRequest = { id: number; sql: string; parameters: readonly unknown[] } | 'stop';

/**
 * The rows of request `id`, or why it failed (message and SQLite's code),
 * with how long the query itself took here, in milliseconds.
 */
export type ReadResult = { id: number; durationMs: number } & ({ rows: unknown[] } | { error: { message: string; code?: string } });

/** Distinct SQL texts kept prepared; the stats queries are a handful. */
const STATEMENT_CACHE_SIZE = 32;

const { path, closed } = workerData as ReadWorkerData;
let db: SQLite.Database | undefined;
let openError: Error | undefined;
try {
  // The writer holds the file open in WAL mode, so the -shm is there to share.
  db = new SQLite(path, { readonly: true, fileMustExist: true });
} catch (error) {
  openError = error as Error;
}
const statements = new Map<string, SQLite.Statement>();

function prepare(sql: string): SQLite.Statement {
  let statement = statements.get(sql);
  if (statement === undefined) {
    statement = db!.prepare(sql);
    if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
    statements.set(sql, statement);
  }
  return statement;
}

function run(id: number, sql: string, parameters: readonly unknown[]): ReadResult {
  const startedAt = performance.now();
  try {
    if (db === undefined) throw openError;
    const rows = prepare(sql).all(...parameters);
    return { id, durationMs: performance.now() - startedAt, rows };
  } catch (error) {
    const { message, code } = error as Error & { code?: unknown };
    return { id, durationMs: performance.now() - startedAt, error: { message: String(message), ...(typeof code === 'string' ? { code } : {}) } };
  }
}

parentPort!.on('message', (request: ReadRequest) => {
  if (request !== 'stop') {
    parentPort!.postMessage(run(request.id, request.sql, request.parameters) satisfies ReadResult);
    return;
  }
  closeWorkerConnection(db, closed);
});
