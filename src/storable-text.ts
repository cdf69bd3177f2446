/**
 * Client text (query values, headers, close reasons) as both stores can
 * keep it. PostgreSQL refuses two things a JavaScript string may hold, and
 * one refused value fails its whole batch, and every retry of it: all
 * connects and disconnects of the node stop while that client is
 * connected, and its history row keeps failing after it has gone. So
 * neither may reach a row.
 */

/**
 * The first `max` UTF-16 units of `value`, one fewer when the last would
 * be the first half of a surrogate pair (an emoji, say), so that a cut
 * never makes a lone half (see storableText).
 */
export function cutText(value: string, max: number): string {
  if (value.length <= max) return value;
  const last = value.charCodeAt(max - 1);
  return value.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/** U+0000, or half of a surrogate pair without its other half. */
const UNSTORABLE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * `value` with each character PostgreSQL refuses replaced by U+FFFD:
 * - U+0000: neither text nor jsonb can hold it, and `?user=%00` decodes to one;
 * - a lone surrogate half: JSON.stringify writes it as `\ud83d`, which jsonb refuses.
 * SQLite could keep both, but both stores get the same text, so that a
 * history filter finds the same rows on either.
 */
export function storableText(value: string): string {
  return value.replace(UNSTORABLE, '\ufffd');
}
