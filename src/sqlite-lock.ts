/**
 * One tracker per SQLite file. A tracker's start clears every row it finds
 * (a single node's file holds only rows left by a run that died), so a
 * second process started on a file in use, by mistake or by a deploy that
 * overlaps the old process, would delete the rows of the one serving and
 * record its live clients as lost.
 *
 * The lock is SQLite's own exclusive lock on a sidecar file, `<path>-lock`,
 * held by an open transaction for as long as the tracker runs. The OS
 * drops it when the process ends, however it ends, so a crash never leaves
 * a stale lock to clear by hand. The empty file stays: removing it would
 * let a process that opened it just before hold a lock on a file no one
 * else can see.
 */
import { realpathSync } from 'node:fs';
import SQLite from 'better-sqlite3';

export class DatabaseInUseError extends Error {
  override name = 'DatabaseInUseError';
}

export interface SqliteFileLock {
  /** The sidecar file that holds the lock. */
  readonly path: string;
  /** Let go of the lock. Safe to call twice. */
  release(): void;
}

/**
 * The sidecar lock file of the database at `databasePath`: beside the real
 * file, not beside a symlink to it. SQLite follows a symlinked database to
 * its target (the `-wal` and `-shm` files sit there), so two processes
 * that reach one file through different links (a deploy that links each
 * release's `data/roster.db` to a shared file) share one database and must
 * meet on one lock too.
 */
export function lockPathOf(databasePath: string): string {
  return `${realPathOrSelf(databasePath)}-lock`;
}

/** The path with every symlink resolved, or as given while no file is there yet. */
function realPathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return path;
    throw error;
  }
}

/**
 * Take the lock on `databasePath`, or throw DatabaseInUseError at once
 * (without waiting) when another holder, in this process or another, has it:
 * a tracker, or `npm run db:migrate` changing the schema.
 */
export function lockSqliteFile(databasePath: string): SqliteFileLock {
  const path = lockPathOf(databasePath);
  const lock = new SQLite(path, { timeout: 0 });
  try {
    // The transaction never writes, it only holds the lock, so its journal
    // may as well live in memory rather than as a `-lock-journal` file.
    // (`OFF` would do too, but better-sqlite3's defensive mode refuses it.)
    lock.pragma('journal_mode = MEMORY');
    lock.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    lock.close();
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') {
      throw new DatabaseInUseError(`database ${databasePath} is in use by another Roster process (it holds ${path}); stop that one first`);
    }
    throw error;
  }
  return {
    path,
    release() {
      if (lock.open) lock.close();
    },
  };
}
