/**
 * The worker side of wal-checkpointer.ts: its own connection to the
 * database file, a PASSIVE checkpoint every interval (it never waits for
 * the writer, and the writer never waits for it), and a clean close when
 * asked, signalled through the shared flag the main thread waits on.
 */
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

export interface CheckpointWorkerData {
  path: string;
  intervalMs: number;
  /** Int32 flag set to 1 (and notified) once this connection is closed. */
  closed: SharedArrayBuffer;
}

const { path, intervalMs, closed } = workerData as CheckpointWorkerData;
const flag = new Int32Array(closed);
let db: SQLite.Database | undefined;
try {
  db = new SQLite(path, { fileMustExist: true, timeout: 0 });
} catch {
  // No file to checkpoint (or no access): the writer's fallback checkpoint still runs.
}

const timer = setInterval(() => {
  try {
    db?.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or failing now; the next round tries again.
  }
}, intervalMs);

parentPort!.once('message', () => {
  clearInterval(timer);
  try {
    db?.close();
  } finally {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    parentPort!.close();
  }
});
