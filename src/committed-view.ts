/**
 * What a `users` table holds, kept in memory: the committed rows, with
 * their committed `last_active_at`. On one node these are the rows this
 * tracker committed; with several, cluster-view.ts feeds it every node's
 * changes. On SQLite the tracker is the table's only writer (it clears
 * the rows of earlier runs at start), so this view equals the table; an
 * admin's snapshot and GET /active-users are then read here instead of
 * querying and materialising every row (bench/micro-snapshot.ts).
 *
 * It is updated in the writer's onCommitted, in the same synchronous step
 * as the events of that commit are broadcast, so a snapshot taken at any
 * moment holds exactly the commits whose events went out before it.
 */
import { compareNewestFirst, type ActiveUsersCursor } from './active-users-cursor.js';
import type { CommittedChange } from './batch-write.js';
import type { User } from './types.js';
import { jsonText, type JsonSink } from './json-sink.js';
import { metadataJson, userJson } from './user-json.js';

interface CommittedRow {
  readonly user: User;
  lastActiveAt: string;
  /** The message count its latest activity reported (for a session another node holds). */
  messages: number | undefined;
}

/**
 * A page of the list, newest first: `limit` rows from `offset` on, or,
 * with `before`, the `limit` rows that follow that key (offset is then 0).
 */
export interface Page {
  offset: number;
  limit: number;
  before?: ActiveUsersCursor;
}

export interface JsonOptions {
  /**
   * A session's live message count, added as a last `messages` member
   * when defined; otherwise its latest activity's count is used. Without
   * it no counts are given (the shape of GET /active-users).
   */
  messages?: (sessionId: string) => number | undefined;
  page?: Page;
  /**
   * Text written before the array and after it: the message or response
   * around it. `after` may be made from the key of the page's last row
   * when another row follows it (the next page's cursor), else null.
   */
  before?: string;
  after?: string | ((next: ActiveUsersCursor | null) => string);
}

export class CommittedView {
  /** By session id, oldest first: in commit order, re-stored in sorted order whenever a snapshot had to sort. */
  readonly #rows = new Map<string, CommittedRow>();
  /** The row added last, and whether every row so far was added after the one before it in that order. */
  #last: CommittedRow | undefined;
  #inOrder = true;

  get size(): number {
    return this.#rows.size;
  }

  /** Whether a committed row for `sessionId` is held. */
  has(sessionId: string): boolean {
    return this.#rows.has(sessionId);
  }

  apply(change: CommittedChange): void {
    for (const user of change.connected) this.#add(user);
    for (const touch of change.activity) {
      const row = this.#rows.get(touch.sessionId);
      if (row === undefined) continue;
      row.lastActiveAt = touch.lastActiveAt;
      if (touch.messages !== undefined) row.messages = touch.messages;
    }
    for (const sessionId of change.disconnected) this.#rows.delete(sessionId);
  }

  #add(user: User): void {
    const row: CommittedRow = { user, lastActiveAt: user.lastActiveAt, messages: undefined };
    const held = this.#rows.get(user.sessionId);
    // A Map keeps a replaced key where it was: the same place only if the
    // row sorts the same. A new key goes last: in order if it sorts after
    // the row added before it. Deletes keep the order of the rest.
    if (held !== undefined ? newestFirst(held, row) !== 0 : this.#last !== undefined && newestFirst(this.#last, row) <= 0) this.#inOrder = false;
    this.#rows.set(user.sessionId, row);
    if (held === undefined) this.#last = row;
  }

  /**
   * The rows as a JSON array, in the table's snapshot order,
   * newest connection first (connected_at, then session id, descending):
   * the same text as JSON.stringify of the User objects, key for key.
   */
  json(options: JsonOptions = {}): string {
    return jsonText((sink) => this.writeJson(sink, options));
  }

  /**
   * The same text as json(), written into `sink` a row at a time and
   * ended. A large snapshot then goes out as fragments of one message
   * while the rest is still being written (fragment-writer.ts), and is
   * never one string in memory.
   */
  writeJson(sink: JsonSink, { messages, page, before = '', after = '' }: JsonOptions): void {
    const rows = [...this.#rows.values()].reverse();
    // Commit order is connect order and session ids made in the same
    // millisecond ascend (uuid-v7.ts), so the rows are usually in order
    // already. Otherwise (a reconcile re-inserted rows, or another node's
    // commits arrived late) an insertion sort costs one pass plus the few
    // moves; the view then keeps the sorted order.
    if (!this.#inOrder) this.#sort(rows);
    const start = page?.before === undefined ? 0 : firstAfter(rows, page.before);
    const from = page === undefined ? 0 : Math.min(start + page.offset, rows.length);
    const to = page === undefined ? rows.length : Math.min(from + page.limit, rows.length);
    const next = to < rows.length && to > from ? keyOf(rows[to - 1]!) : null;
    sink.write(before + '[');
    // Rows are joined a few kilobytes at a time and written together: one
    // write per row made a fresh server's first snapshot, run before V8 has
    // optimised this loop, about a fifth slower (80.6 against 66.4 ms at
    // 10k rows, bench/results/ab-snapshot-buffers-2026-11-24.txt).
    let lead = '';
    let parts: string[] = [];
    let length = 0;
    for (let i = from; i < to; i++) {
      const { user, lastActiveAt, messages: reported } = rows[i]!;
      const count = messages === undefined ? undefined : (messages(user.sessionId) ?? reported);
      const text = userJson(user, lastActiveAt, metadataJson(user), count);
      parts.push(text);
      length += text.length;
      if (length >= JSON_WRITE_CHARS) {
        sink.write(lead + parts.join(','));
        lead = ',';
        parts = [];
        length = 0;
      }
    }
    sink.write((parts.length > 0 ? lead + parts.join(',') : '') + ']' + (typeof after === 'string' ? after : after(next)));
    sink.end();
  }

  /** Sort `rows` (newest first) and store the view in that order, so the next snapshot needs no sort. */
  #sort(rows: CommittedRow[]): void {
    insertionSort(rows, newestFirst);
    this.#rows.clear();
    for (let i = rows.length - 1; i >= 0; i--) this.#rows.set(rows[i]!.user.sessionId, rows[i]!);
    this.#last = rows[0];
    this.#inOrder = true;
  }
}

/** Characters of rows joined per write into the sink: a few fit in one snapshot fragment (SnapshotBuffers). */
const JSON_WRITE_CHARS = 8 * 1024;

function newestFirst(a: CommittedRow, b: CommittedRow): number {
  return compareNewestFirst(a.user, b.user);
}

function keyOf(row: CommittedRow): ActiveUsersCursor {
  return { connectedAt: row.user.connectedAt, sessionId: row.user.sessionId };
}

/** Index of the first of the sorted `rows` that comes after `key`, by binary search (the key's row may be gone). */
function firstAfter(rows: readonly CommittedRow[], key: ActiveUsersCursor): number {
  let low = 0;
  let high = rows.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareNewestFirst(rows[mid]!.user, key) <= 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Sorts nearly sorted `items` in one pass; past a budget of moves, falls back to a full sort. */
function insertionSort<T>(items: T[], compare: (a: T, b: T) => number): void {
  let budget = items.length;
  for (let i = 1; i < items.length; i++) {
    const item = items[i]!;
    let j = i - 1;
    while (j >= 0 && compare(items[j]!, item) > 0) {
      if (--budget < 0) {
        items[j + 1] = item; // the free slot: the array is a permutation again
        items.sort(compare);
        return;
      }
      items[j + 1] = items[j]!;
      j--;
    }
    items[j + 1] = item;
  }
}
