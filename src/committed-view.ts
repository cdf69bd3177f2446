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
import type { CommittedChange } from './batch-write.js';
import type { User } from './types.js';

interface CommittedRow {
  readonly user: User;
  lastActiveAt: string;
  /** The message count its latest activity reported (for a session another node holds). */
  messages: number | undefined;
}

/** A page of the list: `limit` rows from `offset` on, newest first. */
export interface Page {
  offset: number;
  limit: number;
}

export interface JsonOptions {
  /**
   * A session's live message count, added as a last `messages` member
   * when defined; otherwise its latest activity's count is used. Without
   * it no counts are given (the shape of GET /active-users).
   */
  messages?: (sessionId: string) => number | undefined;
  page?: Page;
  /** Text written before the array and after it: the message or response around it. */
  before?: string;
  after?: string;
}

export class CommittedView {
  /** By session id, in commit order. */
  readonly #rows = new Map<string, CommittedRow>();

  get size(): number {
    return this.#rows.size;
  }

  apply(change: CommittedChange): void {
    for (const user of change.connected) this.#rows.set(user.sessionId, { user, lastActiveAt: user.lastActiveAt, messages: undefined });
    for (const touch of change.activity) {
      const row = this.#rows.get(touch.sessionId);
      if (row === undefined) continue;
      row.lastActiveAt = touch.lastActiveAt;
      if (touch.messages !== undefined) row.messages = touch.messages;
    }
    for (const sessionId of change.disconnected) this.#rows.delete(sessionId);
  }

  /**
   * The rows as a JSON array, in the table's snapshot order,
   * newest connection first (connected_at, then session id, descending):
   * the same text as JSON.stringify of the User objects, key for key.
   */
  json({ messages, page, before = '', after = '' }: JsonOptions = {}): string {
    const rows = [...this.#rows.values()].reverse();
    // Commit order is connect order, and session ids made in the same
    // millisecond ascend (uuid-v7.ts), so reversed it is sorted but for
    // rows a reconcile re-inserted or another node's late commits: an
    // insertion sort costs one pass plus those few moves.
    insertionSort(rows, newestFirst);
    const from = page === undefined ? 0 : Math.min(page.offset, rows.length);
    const to = page === undefined ? rows.length : Math.min(from + page.limit, rows.length);
    const users = new Array<object>(to - from);
    for (let i = from; i < to; i++) {
      const { user, lastActiveAt, messages: reported } = rows[i]!;
      const count = messages === undefined ? undefined : (messages(user.sessionId) ?? reported);
      // Key order as in User; an undefined count is left out by JSON.stringify.
      users[i - from] = { id: user.id, sessionId: user.sessionId, connectedAt: user.connectedAt, lastActiveAt, metadata: user.metadata, messages: count };
    }
    // One native JSON.stringify: caching each row's JSON text saved a few
    // ms of a ~30 ms snapshot, at a cost on every connect or on the first
    // snapshot (docs/performance.md).
    return before + JSON.stringify(users) + after;
  }
}

function newestFirst(a: CommittedRow, b: CommittedRow): number {
  const x = a.user;
  const y = b.user;
  if (x.connectedAt !== y.connectedAt) return x.connectedAt < y.connectedAt ? 1 : -1;
  return x.sessionId < y.sessionId ? 1 : x.sessionId > y.sessionId ? -1 : 0;
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
