/**
 * The last step of a database worker thread (wal-checkpoint-worker.ts,
 * sqlite-read-worker.ts): close its connection, then set the shared flag
 * the main thread waits on with Atomics.wait. The main thread closes the
 * writer's connection only after that, so the writer's close is the last
 * one, which checkpoints what is left and removes the WAL.
 */
import { parentPort } from 'node:worker_threads';

export function closeWorkerConnection(db: { close(): unknown } | undefined, closed: SharedArrayBuffer): void {
  const flag = new Int32Array(closed);
  try {
    db?.close();
  } finally {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    parentPort!.close();
  }
}
