/**
 * Read-only queries off the event loop, for the reads that scan many rows
 * (the history stats: every session that ended in the last hour, sorted
 * for the median). better-sqlite3 runs a query synchronously, so on the
 * main thread such a read stops every socket for its whole length: 0.5 to
 * 0.9 s with a hundred disconnects a second. Here a worker thread with a
 * read-only connection of its own runs them (sqlite-read-worker.ts). It
 * starts at the first read, never holds the process open while idle, and
 * a worker that died is replaced at the next read.
 */
import { Worker } from 'node:worker_threads';
import type { CompiledQuery } from 'kysely';
import { WalCheckpoint } from './constants.js';
import type { QueryLog } from './query-log.js';
import type { ReadRequest, ReadResult, ReadWorkerData } from './sqlite-read-worker.js';

export interface SqliteReader {
  /** The rows of a read-only query, run on the worker (no transaction sees it). */
  all<R>(query: CompiledQuery<R>): Promise<R[]>;
  /**
   * Close the worker's connection and wait for it (synchronously, up to
   * WalCheckpoint.stopWaitMs), so that the writer's close that follows is
   * the last one and removes the WAL. Reads still waiting are rejected. Idempotent.
   */
  stop(): void;
}

interface Waiter {
  query: CompiledQuery;
  resolve(rows: unknown[]): void;
  reject(error: Error): void;
}

/** `log`: the database's Kysely log hook, so these reads are logged and counted like any other query. */
export function startSqliteReader(path: string, log?: QueryLog): SqliteReader {
  let worker: Worker | undefined;
  /** The running worker's flag, set once its connection is closed. */
  let closed: SharedArrayBuffer | undefined;
  let stopped = false;
  let nextId = 0;
  const waiting = new Map<number, Waiter>();

  const rejectAll = (error: Error) => {
    for (const waiter of waiting.values()) waiter.reject(error);
    waiting.clear();
  };

  const settle = (result: ReadResult) => {
    const waiter = waiting.get(result.id);
    if (waiter === undefined) return;
    waiting.delete(result.id);
    // Timed by the worker around the query alone. Timed here, from the
    // postMessage, it also held the worker's start (hundreds of ms on the
    // first read), the reads queued ahead of it, and however long this
    // event loop was busy before it took the answer: all of that showed in
    // roster_db_query_seconds and as `slow query` warnings.
    const queryDurationMillis = result.durationMs;
    if ('error' in result) {
      const error = Object.assign(new Error(result.error.message), result.error.code === undefined ? {} : { code: result.error.code });
      log?.({ level: 'error', error, query: waiter.query, queryDurationMillis });
      waiter.reject(error);
    } else {
      log?.({ level: 'query', query: waiter.query, queryDurationMillis });
      waiter.resolve(result.rows);
    }
  };

  const start = (): Worker => {
    closed = new SharedArrayBuffer(4);
    const started = new Worker(new URL('./sqlite-read-worker.js', import.meta.url), {
      workerData: { path, closed } satisfies ReadWorkerData,
      // Not the host's Node flags: `--input-type` (node -e) fails a worker at
      // its start, and this plain module needs none of them.
      execArgv: [],
    });
    started.on('message', (result: ReadResult) => {
      settle(result);
      if (waiting.size === 0) started.unref();
    });
    started.on('error', () => {}); // 'exit' follows
    started.on('exit', () => {
      if (worker === started) worker = undefined;
      rejectAll(new Error('the database read worker exited'));
    });
    // Held open only while a read waits (ref'd in all()). After the
    // listeners: adding a 'message' listener refs a Worker again.
    started.unref();
    return started;
  };

  return {
    all<R>(query: CompiledQuery<R>): Promise<R[]> {
      if (stopped) return Promise.reject(new Error('the database is closed'));
      const current = (worker ??= start());
      const id = nextId++;
      return new Promise<R[]>((resolve, reject) => {
        waiting.set(id, { query, resolve: resolve as (rows: unknown[]) => void, reject });
        current.ref();
        current.postMessage({ id, sql: query.sql, parameters: query.parameters } satisfies ReadRequest);
      });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (worker !== undefined) {
        worker.postMessage('stop' satisfies ReadRequest);
        // Atomics.wait on the main thread: close() is synchronous in Kysely's driver.
        Atomics.wait(new Int32Array(closed!), 0, 0, WalCheckpoint.stopWaitMs);
      }
      rejectAll(new Error('the database is closed'));
    },
  };
}
