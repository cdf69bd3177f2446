/**
 * The whole cluster's `users` table in memory, on every node of a
 * PostgreSQL cluster, so that a new admin's snapshot is read here instead
 * of over the network (10k rows: ~150 ms from PostgreSQL, ~35 ms here).
 *
 * It is loaded once per LISTEN (at start, and after the listener
 * reconnects, since changes were missed meanwhile), then kept current by
 * the change notifications, which every node's writes send inside their
 * transactions and which arrive in commit order (pg-events.ts):
 *   1. `beginLoad` (right after LISTEN): changes delivered from now on are
 *      buffered;
 *   2. the owner reads the rows and `pg_current_snapshot()` in one
 *      REPEATABLE READ transaction and calls `finishLoad`: the buffered
 *      changes the snapshot does not hold are applied on top;
 *   3. `apply` then takes each change as it arrives, except late ones: a
 *      change committed before the snapshot can still reach the listener
 *      after step 2. Everything visible in a snapshot committed before
 *      anything that is not, so the first change the snapshot lacks ends
 *      that filter for good.
 * A change delivered before step 1 committed before LISTEN returned, so
 * before the snapshot: it is in the rows. Every admin's snapshot comes
 * from this view, so what the view skips, no admin lacks.
 */
import { CommittedView, type JsonOptions } from './committed-view.js';
import type { CommittedChange } from './batch-write.js';
import { jsonText, type JsonSink } from './json-sink.js';
import type { User } from './types.js';

/** Whether a transaction had committed when a snapshot was taken (PgSnapshot). */
export interface Visibility {
  visible(xid: bigint): boolean;
}

export interface ClusterChange extends CommittedChange {
  /** The writing transaction's id. */
  xid: bigint;
}

export class ClusterView {
  #rows: CommittedView | undefined;
  /** Changes delivered while a load is under way. */
  #buffered: ClusterChange[] | undefined;
  /** The load's snapshot, until the first change it does not hold. */
  #loadedAt: Visibility | undefined;

  /** True when loaded and not reloading: snapshots can be served. */
  get ready(): boolean {
    return this.#rows !== undefined && this.#buffered === undefined;
  }

  /** Rows held; 0 while not ready. */
  get size(): number {
    return this.ready ? this.#rows!.size : 0;
  }

  /** Whether the cluster holds `sessionId` as far as this view knows; undefined while not ready. */
  holds(sessionId: string): boolean | undefined {
    return this.ready ? this.#rows!.has(sessionId) : undefined;
  }

  /** Start (or restart) a load: the view is not ready, and changes are buffered. */
  beginLoad(): void {
    this.#rows = undefined;
    this.#loadedAt = undefined;
    this.#buffered = [];
  }

  /**
   * Complete the load begun last with the rows read as of `snapshot`
   * (oldest connection first). False when no load is under way (it was
   * abandoned).
   */
  finishLoad(snapshot: Visibility, users: readonly User[]): boolean {
    const buffered = this.#buffered;
    if (buffered === undefined) return false;
    this.#buffered = undefined;
    this.#rows = new CommittedView();
    this.#rows.apply({ connected: users as User[], activity: [], disconnected: [] });
    this.#loadedAt = snapshot;
    for (const change of buffered) this.apply(change);
    return true;
  }

  /** Give up the load under way; the view stays unready until the next one. */
  abandonLoad(): void {
    this.#buffered = undefined;
    this.#rows = undefined;
    this.#loadedAt = undefined;
  }

  /**
   * Take a change in commit order. True when it is new to the view (and
   * so to every admin served from it); false when it is buffered for a
   * load, already held, or there is no view.
   */
  apply(change: ClusterChange): boolean {
    if (this.#buffered !== undefined) {
      this.#buffered.push(change);
      return false;
    }
    if (this.#rows === undefined) return false;
    if (this.#loadedAt !== undefined) {
      if (this.#loadedAt.visible(change.xid)) return false;
      this.#loadedAt = undefined;
    }
    this.#rows.apply(change);
    return true;
  }

  /** The rows as one JSON text (see CommittedView.json); an empty list while not ready. */
  json(options: JsonOptions): string {
    return jsonText((sink) => this.writeJson(sink, options));
  }

  /** The rows as JSON into `sink`, newest connection first (see CommittedView.writeJson); empty while not ready. */
  writeJson(sink: JsonSink, options: JsonOptions): void {
    if (this.ready) {
      this.#rows!.writeJson(sink, options);
      return;
    }
    const { before = '', after = '' } = options;
    sink.write(before + '[]' + (typeof after === 'string' ? after : after(null)));
    sink.end();
  }
}
