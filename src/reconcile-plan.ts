/**
 * What a reconcile writes and what it announces. The writer's reconcile
 * (record-writer.ts) makes the table equal the live set again after
 * failed writes; this is the difference it computes, kept pure so that
 * its rules sit in one place.
 */
import { isoTime } from './iso-time.js';
import type { LiveConnection } from './live-set.js';
import type { User } from './types.js';

/**
 * Sessions whose connect or disconnect was in a write that failed but may
 * have committed (the connection dropped after COMMIT, before its answer).
 */
export interface Unconfirmed {
  readonly connected: ReadonlySet<string>;
  readonly disconnected: ReadonlySet<string>;
}

export interface ReconcilePlan {
  /** Live, with no row: to insert. */
  readonly insert: User[];
  /** A row with no live connection: to delete. */
  readonly delete: string[];
  /** Announced once the write commits: the inserts, and unconfirmed connects found committed. */
  readonly connected: User[];
  /** Likewise: the deletes, and unconfirmed disconnects found committed; never a connect not announced. */
  readonly disconnected: string[];
}

/**
 * `live`: the live set as read for this reconcile. `storedIds`: the rows
 * the table holds for this tracker. `isLive`: whether a session is live now.
 */
export function planReconcile(
  live: readonly LiveConnection[],
  storedIds: readonly string[],
  unconfirmed: Unconfirmed,
  isLive: (sessionId: string) => boolean,
): ReconcilePlan {
  const stored = new Set(storedIds);
  // A disconnect whose row is already gone: the failed write did commit it.
  const gone = [...unconfirmed.disconnected].filter((id) => !stored.has(id) && !isLive(id));
  const insert: User[] = [];
  const confirmed: User[] = [];
  for (const conn of live) {
    const id = conn.user.sessionId;
    if (!stored.delete(id)) insert.push(currentUser(conn));
    else if (unconfirmed.connected.has(id)) confirmed.push(currentUser(conn));
  }
  // Whatever is left in `stored` had no live connection when the set was read.
  const deleted = [...stored];
  return {
    insert,
    delete: deleted,
    connected: confirmed.length === 0 ? insert : insert.concat(confirmed),
    // A connect that was never announced leaves unannounced too.
    disconnected: deleted.concat(gone).filter((id) => !unconfirmed.connected.has(id)),
  };
}

/** The row as it should be now: the stored user with its latest activity. */
export function currentUser(conn: LiveConnection): User {
  // Most rows are written before their first message: the user as it is.
  if (conn.lastActiveMs === conn.connectedMs) return conn.user;
  return { ...conn.user, lastActiveAt: isoTime(conn.lastActiveMs) };
}
