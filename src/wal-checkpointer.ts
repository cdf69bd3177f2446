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
import type { CheckpointRequest, CheckpointResult, CheckpointWorkerData } from './wal-checkpoint-worker.js';

export interface WalCheckpointer {
  /**
   * Stop and wait (synchronously, up to WalCheckpoint.stopWaitMs) until
   * the worker's connection is closed, so that the writer's close that
   * follows is the last one and removes the WAL. Idempotent.
   */
  stop(): void;
  /**
   * A PASSIVE checkpoint on the worker now, resolved once it ran. Bulk
   * writers (the history prune) await it between batches so the WAL never
   * grows to the writer's fallback threshold: that checkpoint would run on
   * the event loop. Resolves at once, to an unknown result, once the
   * checkpointer has stopped or failed.
   */
  checkpoint(): Promise<CheckpointResult>;
}

const NOT_RUN: CheckpointResult = { log: -1, checkpointed: -1 };

export function startWalCheckpointer(path: string, intervalMs: number = WalCheckpoint.intervalMs): WalCheckpointer {
  const closed = new SharedArrayBuffer(4);
  const worker = new Worker(new URL('./wal-checkpoint-worker.js', import.meta.url), {
    workerData: { path, intervalMs, closed } satisfies CheckpointWorkerData,
    // Not the host's Node flags: `--input-type` (node -e) fails a worker at
    // its start, and this plain module needs none of them.
    execArgv: [],
  });
  // The worker answers checkpoint requests in the order they came.
  const waiting: ((result: CheckpointResult) => void)[] = [];
  const release = () => {
    for (const resolve of waiting.splice(0)) resolve(NOT_RUN);
  };
  let stopped = false;
  worker.on('message', (result: CheckpointResult) => {
    waiting.shift()?.(result);
    if (waiting.length === 0) worker.unref();
  });
  worker.on('error', () => {});
  worker.on('exit', () => {
    stopped = true;
    release();
  });
  // A checkpointer never keeps the process alive (errors end it, and the
  // writer's fallback checkpoint takes over), except while a request waits
  // for its answer. After the listeners: adding a 'message' listener refs
  // a Worker again.
  worker.unref();
  const send = (request: CheckpointRequest) => worker.postMessage(request);
  return {
    checkpoint() {
      if (stopped) return Promise.resolve(NOT_RUN);
      return new Promise((resolve) => {
        waiting.push(resolve);
        worker.ref();
        send('checkpoint');
      });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      send('stop');
      // Atomics.wait on the main thread: close() is synchronous in Kysely's driver.
      Atomics.wait(new Int32Array(closed), 0, 0, WalCheckpoint.stopWaitMs);
      // Answers to earlier requests could only arrive after this (the event
      // loop was blocked), and the closed worker answers nothing more.
      release();
    },
  };
}
