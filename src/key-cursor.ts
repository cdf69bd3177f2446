/**
 * Page cursors for lists ordered by a time and then a UUID (GET /history,
 * GET /active-users): the base64url of `<time>|<id>`, naming the last row
 * of the page before. Each list checks the time's form itself.
 */

/** Lowercase, as every id is written: SQLite compares ids as text, and PostgreSQL refuses a uuid that is not one. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function encodeKeyCursor(time: string, id: string): string {
  return Buffer.from(`${time}|${id}`).toString('base64url');
}

/** The time and id a cursor names; null when the text is no cursor or its id no UUID. */
export function decodeKeyCursor(text: string): { time: string; id: string } | null {
  if (!/^[\w-]+$/.test(text)) return null;
  const decoded = Buffer.from(text, 'base64url').toString('utf8');
  const bar = decoded.indexOf('|');
  if (bar === -1) return null;
  const id = decoded.slice(bar + 1);
  return UUID.test(id) ? { time: decoded.slice(0, bar), id } : null;
}
