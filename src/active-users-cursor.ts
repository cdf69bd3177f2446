/**
 * GET /active-users' `before=` cursor: the sort key of the last row of
 * the previous page. The list is ordered newest connection first,
 * (connected_at, session_id) descending, a total order (session ids are
 * unique), so "every row strictly after this key" is the same set
 * whatever connected or disconnected in between: no row skipped or
 * repeated, as an offset would when rows above the page come and go.
 * Encoded as GET /history's `next` is (key-cursor.ts).
 */
import { ActiveUsersLimits } from './constants.js';
import { decodeKeyCursor, encodeKeyCursor } from './key-cursor.js';

export interface ActiveUsersCursor {
  /** ISO-8601 UTC with milliseconds, as stored (toISOString). */
  connectedAt: string;
  sessionId: string;
}

export function encodeActiveUsersCursor(cursor: ActiveUsersCursor): string {
  return encodeKeyCursor(cursor.connectedAt, cursor.sessionId);
}

/** A cursor from `next`; null when the text is not one. */
export function parseActiveUsersCursor(text: string): ActiveUsersCursor | null {
  if (text.length > ActiveUsersLimits.maxCursorLength) return null;
  const key = decodeKeyCursor(text);
  // Exactly the stored form, so that JavaScript, SQLite (text) and
  // PostgreSQL (timestamptz) order the key alike.
  if (key === null || !STORED_TIME.test(key.time) || !sameTime(key.time)) return null;
  return { connectedAt: key.time, sessionId: key.id };
}

/** Newest first: negative when key `a` comes before key `b` in the list. */
export function compareNewestFirst(a: ActiveUsersCursor, b: ActiveUsersCursor): number {
  if (a.connectedAt !== b.connectedAt) return a.connectedAt < b.connectedAt ? 1 : -1;
  return a.sessionId < b.sessionId ? 1 : a.sessionId > b.sessionId ? -1 : 0;
}

const STORED_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A real instant that toISOString writes back unchanged (no 25:00, no February 30th). */
function sameTime(text: string): boolean {
  const ms = Date.parse(text);
  return !Number.isNaN(ms) && new Date(ms).toISOString() === text;
}
