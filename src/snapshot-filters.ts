/**
 * Late notifications after a multi-node snapshot. A change committed
 * before an admin's snapshot is already in it, but its NOTIFY can reach
 * this node's listener after the snapshot was read and sent (the listener
 * is one connection among others and may lag). Sent then, it would repeat
 * a `connected` the snapshot holds, or announce a `disconnected` for a
 * row the snapshot never had.
 *
 * So each admin keeps its snapshot as a filter: changes it shows as
 * visible are skipped for that admin. Notifications arrive in commit
 * order, and everything visible in a snapshot committed before anything
 * that is not, so the first change the snapshot does not hold ends the
 * filter for good.
 */
export interface Visibility {
  visible(xid: bigint): boolean;
}

export class SnapshotFilters<Key> {
  readonly #filters = new Map<Key, Visibility>();

  get size(): number {
    return this.#filters.size;
  }

  set(key: Key, snapshot: Visibility): void {
    this.#filters.set(key, snapshot);
  }

  delete(key: Key): void {
    this.#filters.delete(key);
  }

  /**
   * Whether `key` should receive change `xid`: not while its snapshot
   * holds it; the first change it does not hold releases the filter.
   */
  admits(key: Key, xid: bigint): boolean {
    const snapshot = this.#filters.get(key);
    if (snapshot === undefined) return true;
    if (snapshot.visible(xid)) return false;
    this.#filters.delete(key);
    return true;
  }

  /** The keys that must not receive change `xid`; see `admits`. */
  skipFor(xid: bigint): Set<Key> {
    const skip = new Set<Key>();
    for (const key of [...this.#filters.keys()]) if (!this.admits(key, xid)) skip.add(key);
    return skip;
  }
}
