/**
 * The worker side of wal-checkpointer.ts: its own connection to the
 * database file, a PASSIVE checkpoint every interval (it never waits for
 * the writer, and the writer never waits for it), one more whenever the
 * main thread asks for it (answered in the order asked), and a clean
 * close when asked, signalled through the shared flag the main thread
 * waits on.
 */
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { closeWorkerConnection } from './worker-close.js';

export interface CheckpointWorkerData {
  path: string;
  intervalMs: number;
  /** Int32 flag set to 1 (and notified) once this connection is closed. */
  closed: SharedArrayBuffer;
}

/** What the main thread sends: a checkpoint now, or close for good. */
export type CheckpointRequest = 'checkpoint' | 'stop';

/** The answer to 'checkpoint': frames in the WAL and how many of them are now in the database file (-1 each when it could not run). */
export interface CheckpointResult {
  log: number;
  checkpointed: number;
}

const { path, intervalMs, closed } = workerData as CheckpointWorkerData;
let db: SQLite.Database | undefined;
try {
  db = new SQLite(path, { fileMustExist: true, timeout: 0 });
} catch {
  // No file to checkpoint (or no access): the writer's fallback checkpoint still runs.
}

function checkpoint(): CheckpointResult {
  try {
    const [row] = (db?.pragma('wal_checkpoint(PASSIVE)') ?? []) as CheckpointResult[];
    if (row !== undefined) return { log: row.log, checkpointed: row.checkpointed };
  } catch {
    // Busy or failing now; the next round tries again.
  }
  return { log: -1, checkpointed: -1 };
}

const timer = setInterval(checkpoint, intervalMs);

parentPort!.on('message', (request: CheckpointRequest) => {
  if (request === 'checkpoint') {
    parentPort!.postMessage(checkpoint() satisfies CheckpointResult);
    return;
  }
  clearInterval(timer);
  closeWorkerConnection(db, closed);
});
