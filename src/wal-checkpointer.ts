/**
 * WAL checkpoints off the event loop. In WAL mode every commit appends
 * pages to the -wal file, and by default the committing connection copies
 * them back into the database file (and fsyncs it) whenever the WAL passes
 * 1000 pages: a stall of milliseconds to tens of milliseconds in the
 * middle of a connect or disconnect storm, on the thread that serves the
 * sockets. Here a worker thread with its own connection checkpoints every
 * WalCheckpoint.intervalMs instead. In one process, the writer's wall
 * time per row went from ~38 to ~24 µs for connects (16 per commit) and
 * from ~48 to ~22 µs for disconnects with their history rows (256 per
 * commit); see bench/results/micro-wal-checkpoint.txt.
 */
import { Worker } from 'node:worker_threads';
import { WalCheckpoint } from './constants.js';
import type { CheckpointWorkerData } from './wal-checkpoint-worker.js';

export interface WalCheckpointer {
  /**
   * Stop and wait (synchronously, up to WalCheckpoint.stopWaitMs) until
   * the worker's connection is closed, so that the writer's close that
   * follows is the last one and removes the WAL. Idempotent.
   */
  stop(): void;
}

export function startWalCheckpointer(path: string, intervalMs: number = WalCheckpoint.intervalMs): WalCheckpointer {
  const closed = new SharedArrayBuffer(4);
  const worker = new Worker(new URL('./wal-checkpoint-worker.js', import.meta.url), {
    workerData: { path, intervalMs, closed } satisfies CheckpointWorkerData,
  });
  // A checkpointer never keeps the process alive; errors end it, and the
  // writer's fallback checkpoint takes over.
  worker.unref();
  worker.on('error', () => {});
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      worker.postMessage('stop');
      // Atomics.wait on the main thread: close() is synchronous in Kysely's driver.
      Atomics.wait(new Int32Array(closed), 0, 0, WalCheckpoint.stopWaitMs);
    },
  };
}
