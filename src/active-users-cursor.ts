/**
 * GET /active-users' `before=` cursor: the sort key of the last row of
 * the previous page. The list is ordered newest connection first,
 * (connected_at, session_id) descending, a total order (session ids are
 * unique), so "every row strictly after this key" is the same set
 * whatever connected or disconnected in between: no row skipped or
 * repeated, as an offset would when rows above the page come and go.
 * Encoded like GET /history's `next` (observability-routes.ts): base64url
 * of `<time>|<id>`.
 */
import { ActiveUsersLimits } from './constants.js';

export interface ActiveUsersCursor {
  /** ISO-8601 UTC with milliseconds, as stored (toISOString). */
  connectedAt: string;
  sessionId: string;
}

export function encodeActiveUsersCursor(cursor: ActiveUsersCursor): string {
  return Buffer.from(`${cursor.connectedAt}|${cursor.sessionId}`).toString('base64url');
}

/** A cursor from `next`; null when the text is not one. */
export function parseActiveUsersCursor(text: string): ActiveUsersCursor | null {
  if (text.length > ActiveUsersLimits.maxCursorLength || !/^[\w-]+$/.test(text)) return null;
  const decoded = Buffer.from(text, 'base64url').toString('utf8');
  const bar = decoded.indexOf('|');
  if (bar === -1) return null;
  const connectedAt = decoded.slice(0, bar);
  const sessionId = decoded.slice(bar + 1);
  // Exactly the stored forms, so that JavaScript, SQLite (text) and
  // PostgreSQL (timestamptz, and text under any collation: the ids are
  // lowercase hex with dashes in fixed places) order the key alike.
  if (!STORED_TIME.test(connectedAt) || !sameTime(connectedAt) || !UUID.test(sessionId)) return null;
  return { connectedAt, sessionId };
}

/** Newest first: negative when key `a` comes before key `b` in the list. */
export function compareNewestFirst(a: ActiveUsersCursor, b: ActiveUsersCursor): number {
  if (a.connectedAt !== b.connectedAt) return a.connectedAt < b.connectedAt ? 1 : -1;
  return a.sessionId < b.sessionId ? 1 : a.sessionId > b.sessionId ? -1 : 0;
}

const STORED_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A real instant that toISOString writes back unchanged (no 25:00, no February 30th). */
function sameTime(text: string): boolean {
  const ms = Date.parse(text);
  return !Number.isNaN(ms) && new Date(ms).toISOString() === text;
}
