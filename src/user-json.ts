/**
 * Serializing many users for a snapshot or GET /active-users. Metadata is
 * the bulk of a row and never changes, so its JSON text is made once and
 * spliced in as is: stored rows already hold it, and a live user keeps the
 * text its insert wrote (metadataJson). At 10,000 rows, serializing the
 * metadata objects again was about a third of the snapshot's time
 * (bench/micro-snapshot.ts, docs/performance.md). The output equals
 * JSON.stringify of the same User objects, key for key.
 */
import { encodeActiveUsersCursor, type ActiveUsersCursor } from './active-users-cursor.js';
import type { UserJsonRow } from './repository.js';
import type { User } from './types.js';

/** A JSON array of stored users; `messages`, when given and defined for a session, adds its count. */
export function usersJson(rows: readonly UserJsonRow[], messages?: (sessionId: string) => number | undefined): string {
  const parts = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    parts[i] = userJson(row, row.lastActiveAt, row.metadataJson, messages?.(row.sessionId));
  }
  return '[' + parts.join(',') + ']';
}

/**
 * One user as JSON, with `lastActiveAt` and the metadata's text given
 * apart from the rest; a defined `messages` count is added as the last member.
 */
export function userJson(user: Pick<User, 'id' | 'sessionId' | 'connectedAt'>, lastActiveAt: string, metadataJson: string, messages: number | undefined): string {
  return (
    '{"id":' + quote(user.id) + ',"sessionId":' + quote(user.sessionId) +
    ',"connectedAt":' + quote(user.connectedAt) + ',"lastActiveAt":' + quote(lastActiveAt) +
    ',"metadata":' + metadataJson + (messages === undefined ? '}' : ',"messages":' + messages + '}')
  );
}

/** The admin stream's first message is `{"type":"snapshot","users":[…]}`: the text around the array. */
export const SNAPSHOT_ENVELOPE = { before: '{"type":"snapshot","users":', after: '}' } as const;

/**
 * GET /active-users answers `{"count":…,"users":[…],"next":…}`, `count`
 * being every row, not the page's, and `next` the cursor for `before=`
 * when rows follow the page, else null: the text around the array.
 */
export function activeUsersEnvelope(count: number): { before: string; after: (next: ActiveUsersCursor | null) => string } {
  return { before: `{"count":${count},"users":`, after: (next) => `,"next":${next === null ? 'null' : '"' + encodeActiveUsersCursor(next) + '"'}}` };
}

/**
 * Where a user keeps its metadata's JSON text. A symbol key is invisible
 * to JSON.stringify and Object.keys, so the User sent to admins and
 * library listeners is unchanged; a spread copy carries it along.
 */
const METADATA_JSON = Symbol('roster.metadataJson');

interface WithMetadataJson {
  [METADATA_JSON]?: string;
}

/**
 * `user.metadata` as JSON text, made on first use and kept on the user:
 * the insert that writes the row makes it, and every later snapshot of
 * that row reuses it. Metadata is never changed after the row is written.
 */
export function metadataJson(user: User): string {
  const memo = user as User & WithMetadataJson;
  return (memo[METADATA_JSON] ??= JSON.stringify(user.metadata));
}

/** Ids and timestamps need no escaping; anything else goes through JSON.stringify. */
const PLAIN = /^[\w.:+-]*$/;

function quote(text: string): string {
  return PLAIN.test(text) ? '"' + text + '"' : JSON.stringify(text);
}
