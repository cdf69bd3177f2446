/**
 * Serializing many users for a snapshot or GET /active-users. The stored
 * metadata is already JSON text, so it is spliced in as is instead of
 * being parsed into objects and serialized again: at 10,000 rows that
 * round trip was about a third of the snapshot's time
 * (bench/micro-snapshot.ts). The output equals JSON.stringify of the
 * same User objects, key for key.
 */
import type { UserJsonRow } from './repository.js';

/**
 * A JSON array of users. `messages`, when given and defined for a
 * session, adds its live message count as a last `messages` member.
 */
export function usersJson(rows: readonly UserJsonRow[], messages?: (sessionId: string) => number | undefined): string {
  const parts = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const count = messages?.(row.sessionId);
    parts[i] =
      '{"id":' + quote(row.id) + ',"sessionId":' + quote(row.sessionId) +
      ',"connectedAt":' + quote(row.connectedAt) + ',"lastActiveAt":' + quote(row.lastActiveAt) +
      ',"metadata":' + row.metadataJson + (count === undefined ? '}' : ',"messages":' + count + '}');
  }
  return '[' + parts.join(',') + ']';
}

/** The admin stream's first message is `{"type":"snapshot","users":[…]}`: the text around the array. */
export const SNAPSHOT_ENVELOPE = { before: '{"type":"snapshot","users":', after: '}' } as const;

/** Ids and timestamps need no escaping; anything else goes through JSON.stringify. */
const PLAIN = /^[\w.:+-]*$/;

function quote(text: string): string {
  return PLAIN.test(text) ? '"' + text + '"' : JSON.stringify(text);
}
