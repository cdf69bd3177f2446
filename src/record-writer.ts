/**
 * Keeps the `users` table a faithful record of the live set.
 *
 * Connects and disconnects are gathered per event-loop tick, activity per
 * `touchFlushMs`, and each batch is written in one transaction. Admin
 * events are emitted only after their commit, from inside the writer's
 * serial queue, so a reader that also runs in the queue (an admin's
 * snapshot) sees every change exactly once: either in its read or as an
 * event after it.
 *
 * When a write fails the writer does not replay a log of operations: the
 * live set is the truth, so it enters a degraded state, keeps nothing but
 * the pending touches, and retries a full reconcile (insert the missing,
 * delete the departed, write the touches) with backoff until one commits.
 *
 * Every ended connection also gets a `connection_history` row, written in
 * the same transaction as the delete of its `users` row. Those records are
 * the one thing kept through an outage (bounded), since the live set
 * cannot rebuild them.
 */
import type { LiveConnection, LiveSet } from './live-set.js';
import type { Logger } from './logger.js';
import type { Database } from './database.js';
import { writeBatchInStatements, type CommittedChange, type WriteBatch } from './batch-write.js';
import { HistoryLimits, RetryBackoff, WriteBatching } from './constants.js';
import { PendingSessions, toSessionRecord, UNKNOWN_END, type ConnectionEnd } from './connection-end.js';
import { isoTime } from './iso-time.js';
import { SerialQueue } from './serial-queue.js';
import { currentUser, planReconcile } from './reconcile-plan.js';
import { listSessionIds, withTransaction } from './repository.js';
import type { Touch, User } from './types.js';

/** The narrow view of storage the writer needs; swapped for PostgreSQL and multi-node scoping. */
export interface RowStore {
  /** Session ids of the rows this tracker owns. */
  listOwnSessionIds(db: Database): Promise<string[]>;
  /**
   * Write one batch. The writer calls it inside a transaction of its own,
   * unless `singleStatement` says the write is one statement, atomic by
   * itself (PostgreSQL, where each statement costs a round trip). With
   * several nodes it also NOTIFYs the change, so that other nodes learn of
   * it in commit order.
   */
  writeBatch(db: Database, batch: WriteBatch): Promise<void>;
  readonly singleStatement?: boolean;
}

export interface RecordWriterOptions {
  db: Database;
  live: LiveSet;
  touchFlushMs: number;
  logger: Logger;
  /** Called inside the queue, right after a commit. */
  onCommitted(change: CommittedChange): void;
  /** Connections whose row could not be written now (the writer will catch up). */
  onUnrecorded(sessionIds: string[]): void;
  onDegraded(reason: string): void;
  onRecovered(): void;
  store?: RowStore;
  /** Timing of activity flushes (roster_touch_flush_seconds). */
  metrics?: { observeTouchFlush(seconds: number): void };
}

const defaultStore: RowStore = {
  listOwnSessionIds: (db) => listSessionIds(db),
  writeBatch: (db, batch) => writeBatchInStatements(db, batch),
};

export class RecordWriter {
  readonly #options: RecordWriterOptions;
  readonly #queue = new SerialQueue();
  readonly #inserts = new Set<LiveConnection>();
  readonly #removals = new Set<string>();
  readonly #touches = new Set<LiveConnection>();
  /** History rows waiting for the next transaction, by session id. */
  readonly #ended = new PendingSessions(HistoryLimits.maxPending);
  #flushScheduled = false;
  /** performance.now() when the last connect/disconnect flush started (group commit). */
  #lastFlushAt = -Infinity;
  /** A connect/disconnect flush held back by the group-commit interval. */
  #flushTimer: NodeJS.Timeout | undefined;
  #touchTimer: NodeJS.Timeout | undefined;
  /** A flush queued behind other work and not started yet (see #enqueueFlush). */
  #waitingFlush: { withTouches: boolean } | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelay: number = RetryBackoff.initialMs;
  #degradedReason: string | undefined;
  /**
   * True while a resync is in flight and has already read the live set:
   * connects and disconnects from then on would be missed by it, so they
   * are queued as in healthy mode and written right after it commits.
   */
  #afterResyncRead = false;
  /**
   * Sessions whose change was in a write that failed but may have
   * committed. The reconcile after it finds the table already agreeing
   * with the live set there, so it announces those changes from this
   * (reconcile-plan.ts), once.
   */
  readonly #unconfirmed = { connected: new Set<string>(), disconnected: new Set<string>() };
  #closed = false;

  constructor(options: RecordWriterOptions) {
    this.#options = { store: defaultStore, ...options };
  }

  /** Why writes are failing, or undefined while the record is healthy. */
  get degradedReason(): string | undefined {
    return this.#degradedReason;
  }

  start(): void {
    this.#touchTimer = setInterval(() => {
      if (this.#touches.size > 0 && this.#degradedReason === undefined) this.#enqueueFlush(true);
    }, this.#options.touchFlushMs);
    this.#touchTimer.unref();
  }

  insert(conn: LiveConnection): void {
    if (this.#closed) return;
    if (this.#degradedReason !== undefined && !this.#afterResyncRead) {
      this.#options.onUnrecorded([conn.user.sessionId]);
      return;
    }
    this.#inserts.add(conn);
    this.#scheduleFlush();
  }

  /** `end` is how it ended (close code and reason) for its history row. */
  remove(conn: LiveConnection, end: ConnectionEnd = UNKNOWN_END): void {
    if (this.#closed) return;
    this.#ended.add(toSessionRecord(conn, end, Date.now()));
    if (this.#degradedReason === undefined) this.#scheduleFlush();
    if (conn.touchQueued) {
      // A pending touch for a closed connection is dropped, never written.
      this.#touches.delete(conn);
      conn.touchQueued = false;
    }
    // Closed before its row was written: nothing to write, nothing to announce.
    if (this.#inserts.delete(conn)) return;
    if (this.#degradedReason !== undefined && !this.#afterResyncRead) return;
    this.#removals.add(conn.user.sessionId);
    this.#scheduleFlush();
  }

  touch(conn: LiveConnection): void {
    if (conn.touchQueued || this.#closed) return;
    conn.touchQueued = true;
    this.#touches.add(conn);
  }

  /** Run `read` in the queue, so that no commit lands while it runs. */
  exclusive<T>(read: () => Promise<T>): Promise<T> {
    return this.#queue.run(read);
  }

  /** Write everything pending now, touches included. */
  flush(): Promise<void> {
    if (this.#degradedReason !== undefined) return this.#queue.run(() => this.#reconcile());
    return this.#queue.run(() => this.#flush(true));
  }

  /**
   * Rewrite this tracker's rows from the live set even while healthy: used
   * when another node declared this one dead (during a stall) and deleted them.
   */
  resync(): Promise<void> {
    return this.#queue.run(() => this.#reconcile(true));
  }

  /** Stop timers and wait for queued work. Later calls are ignored. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#touchTimer);
    clearTimeout(this.#retryTimer);
    // A flush held back for group commit runs now, before the queue drains.
    if (this.#flushTimer !== undefined) this.#runScheduledFlush();
    await this.#queue.idle();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // Next tick when quiet; under a storm, at most one commit per interval.
    const wait = this.#lastFlushAt + WriteBatching.minIntervalMs - performance.now();
    if (wait <= 0) setImmediate(this.#runScheduledFlush);
    else this.#flushTimer = setTimeout(this.#runScheduledFlush, wait);
  }

  readonly #runScheduledFlush = (): void => {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#flushScheduled = false;
    this.#lastFlushAt = performance.now();
    this.#enqueueFlush(false);
  };

  #enqueueFlush(withTouches: boolean): void {
    // A flush still waiting in the queue takes everything pending when it
    // starts, so a later request joins it. While a write hangs (a database
    // that stopped answering) the queue then holds one flush, not one per interval.
    const waiting = this.#waitingFlush;
    if (waiting !== undefined) {
      waiting.withTouches ||= withTouches;
      return;
    }
    const request = { withTouches };
    this.#waitingFlush = request;
    // Failures are handled inside #flush; the catch only keeps the promise quiet.
    this.#queue
      .run(() => {
        this.#waitingFlush = undefined;
        return this.#flush(request.withTouches);
      })
      .catch(() => {});
  }

  async #flush(withTouches: boolean): Promise<void> {
    if (this.#degradedReason !== undefined) return;
    const users: User[] = [];
    for (const conn of this.#inserts) users.push(currentUser(conn));
    this.#inserts.clear();
    const disconnected = [...this.#removals];
    this.#removals.clear();
    const touched = withTouches ? this.#takeTouches() : [];
    const activity = touched.map(toTouch);
    const ended = this.#ended.take();
    if (users.length === 0 && disconnected.length === 0 && activity.length === 0 && ended.length === 0) return;

    const startedAt = performance.now();
    const { db, store } = this.#options;
    const batch: WriteBatch = { connected: users, activity, disconnected, ended };
    try {
      if (store!.singleStatement) await store!.writeBatch(db, batch);
      else await withTransaction(db, (trx) => store!.writeBatch(trx, batch));
    } catch (error) {
      this.#ended.putBack(ended);
      for (const conn of touched) this.touch(conn);
      this.#noteUnconfirmed(batch);
      this.#enterDegraded(error);
      if (users.length > 0) this.#options.onUnrecorded(users.map((u) => u.sessionId));
      return;
    }
    if (activity.length > 0) this.#options.metrics?.observeTouchFlush((performance.now() - startedAt) / 1000);
    this.#options.onCommitted({ connected: users, activity, disconnected });
  }

  /** A failed write of `batch` may still have committed: see #unconfirmed. */
  #noteUnconfirmed(batch: WriteBatch): void {
    for (const user of batch.connected) this.#unconfirmed.connected.add(user.sessionId);
    for (const sessionId of batch.disconnected) this.#unconfirmed.disconnected.add(sessionId);
  }

  #takeTouches(): LiveConnection[] {
    const touched: LiveConnection[] = [];
    for (const conn of this.#touches) {
      conn.touchQueued = false;
      touched.push(conn);
    }
    this.#touches.clear();
    return touched;
  }

  /** Forget queued connects and disconnects; the connects are served unrecorded for now. */
  #dropPending(): void {
    const unrecorded = [...this.#inserts].map((conn) => conn.user.sessionId);
    this.#inserts.clear();
    this.#removals.clear();
    if (unrecorded.length > 0) this.#options.onUnrecorded(unrecorded);
  }

  #enterDegraded(error: unknown): void {
    const reason = describeError(error);
    // Inserts and removals are not kept: the reconcile rebuilds them from
    // the live set, which keeps memory bounded however long the outage.
    this.#dropPending();
    if (this.#degradedReason === undefined) {
      this.#degradedReason = reason;
      this.#retryDelay = RetryBackoff.initialMs;
      this.#options.logger.error({ err: error, reason }, 'database write failed; serving from memory and retrying');
      this.#options.onDegraded(reason);
    } else {
      this.#degradedReason = reason;
    }
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#closed) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#queue.run(() => this.#reconcile()).catch(() => {});
    }, this.#retryDelay);
    this.#retryTimer.unref();
    this.#retryDelay = Math.min(this.#retryDelay * 2, RetryBackoff.maxMs);
  }

  /** Make the table equal the live set again, in one transaction. */
  async #reconcile(force = false): Promise<void> {
    if (this.#degradedReason === undefined && !force) return;
    const { db, live, store } = this.#options;
    // The reconcile derives inserts and removals from the live set itself.
    this.#inserts.clear();
    this.#removals.clear();
    const touched = this.#takeTouches();
    const ended = this.#ended.take();
    // Read the live set now, in the same tick as the clears above: every
    // connect or disconnect from here on is queued as usual and written
    // after this resync, so none is written twice or announced twice.
    const snapshot = [...live.values()];
    this.#afterResyncRead = true;
    let written: WriteBatch | undefined;
    let change: CommittedChange;
    try {
      change = await withTransaction(db, async (trx) => {
        const plan = planReconcile(snapshot, await store!.listOwnSessionIds(trx), this.#unconfirmed, (id) => live.has(id));
        const activity = touched.filter((c) => live.has(c.user.sessionId)).map(toTouch);
        written = { connected: plan.insert, activity, disconnected: plan.delete, ended };
        await store!.writeBatch(trx, written);
        return { connected: plan.connected, activity, disconnected: plan.disconnected };
      });
    } catch (error) {
      if (written !== undefined) this.#noteUnconfirmed(written);
      this.#afterResyncRead = false;
      // Queued while it ran: the next resync rebuilds them from the live set.
      this.#dropPending();
      this.#ended.putBack(ended);
      for (const conn of touched) if (live.has(conn.user.sessionId)) this.touch(conn);
      if (this.#degradedReason === undefined) {
        this.#enterDegraded(error);
        return;
      }
      this.#degradedReason = describeError(error);
      this.#scheduleRetry();
      return;
    }
    this.#afterResyncRead = false;
    this.#unconfirmed.connected.clear();
    this.#unconfirmed.disconnected.clear();
    if (this.#degradedReason === undefined) {
      // A forced resync of a healthy writer: there is no recovery to report.
      this.#options.onCommitted(change);
      return;
    }
    this.#degradedReason = undefined;
    clearTimeout(this.#retryTimer);
    this.#options.logger.info(
      { inserted: written!.connected.length, deleted: written!.disconnected.length, touched: change.activity.length },
      'database recovered; table resynchronised with the live set',
    );
    const lost = this.#ended.takeDropped();
    if (lost > 0) this.#options.logger.warn({ count: lost }, 'history rows lost during the outage');
    this.#options.onRecovered();
    this.#options.onCommitted(change);
  }
}

/** `messages` rides along for the admin stream's live stats; the table does not store it. */
function toTouch(conn: LiveConnection): Touch {
  return { sessionId: conn.user.sessionId, lastActiveAt: isoTime(conn.lastActiveMs), messages: conn.messages };
}

function describeError(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string') return e.code;
  return typeof e?.message === 'string' ? e.message : String(error);
}
