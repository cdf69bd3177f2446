/**
 * Whether the SQLite file the tracker opened is still the one at its path.
 * A file deleted (or replaced) under a running server goes on taking every
 * write: SQLite keeps the open inode, so nothing fails, and everything
 * written since is gone when the process exits. Only the path can tell.
 */
import { statSync, type Stats } from 'node:fs';
import type { Logger } from './logger.js';

/**
 * Remember which file is at `path` now. The returned check says what
 * happened to it since (logged as an error the first time it is seen), or
 * undefined while it is still there. /health and every heartbeat round call it.
 */
export function watchDatabaseFile(path: string, logger: Logger): () => string | undefined {
  const opened = statSync(path);
  let logged = false;
  let problem: string | undefined;
  return () => {
    const now = statPath(path);
    if (now === 'unknown') return problem; // as last seen
    problem =
      now === undefined ? `database file removed: ${path}` : now.ino !== opened.ino || now.dev !== opened.dev ? `database file replaced: ${path}` : undefined;
    if (problem !== undefined && !logged) {
      logged = true;
      logger.error({ path }, `${problem}; writes go to a file that is gone, restart the server`);
    }
    return problem;
  };
}

/**
 * The file at `path` now, or undefined when none is there: also when a
 * folder on the way is now a file (ENOTDIR). Any other failure (EACCES
 * from a folder made unreadable) says nothing about the file: 'unknown'.
 * statSync throws those, and a throw here, out of /health, took the whole
 * server down (an unhandled rejection).
 */
function statPath(path: string): Stats | undefined | 'unknown' {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    return (error as { code?: unknown }).code === 'ENOTDIR' ? undefined : 'unknown';
  }
}
