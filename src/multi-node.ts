/**
 * The multi-node side of a tracker on PostgreSQL: its NODE_ID lock (one
 * live process per id, node-lock.ts), its node registry (heartbeat,
 * reaping, restart cleanup), its event listener, and the admin stream fed
 * from the database instead of from local commits.
 *
 * Every node keeps the whole cluster's rows in memory (cluster-view.ts),
 * loaded after each LISTEN and then kept current by the change
 * notifications, which every write sends inside its own transaction and
 * which arrive in commit order (pg-events.ts). A change is applied to the
 * view and broadcast to the admins in one synchronous step, and a new
 * admin is sent the view and joins the audience in another, so every
 * change is either in its snapshot or an event after it: never both,
 * never neither, whichever node wrote it.
 *
 * The view trails the table by the notifications still on their way, so
 * a new admin is served only once a barrier it sends has come back
 * through the listener: its snapshot then holds every change committed
 * before it subscribed, on any node (one small round trip, no read of
 * the table). GET /active-users is served the same way, and reads the
 * table instead when the view cannot serve it promptly.
 *
 * While the view loads (at start, and after the listener reconnects)
 * new admins wait. After a listener outage, changes were missed: every
 * admin then gets a fresh snapshot from the reloaded view, announced by a
 * `resync` notice just before it (AdminNotice.RESYNC).
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type pg from 'pg';
import type { AdminChannel, AdminSession } from './admin-channel.js';
import { ClusterView } from './cluster-view.js';
import type { Page } from './committed-view.js';
import { AdminNotice, CloseCode, CloseReason, MultiNode, RetryBackoff } from './constants.js';
import type { Database } from './database.js';
import { recordJson, type JsonSink } from './json-sink.js';
import type { Logger } from './logger.js';
import { NodeIdLock } from './node-lock.js';
import { NodeRegistry } from './node-registry.js';
import { encodeChange, PgListener, PgSnapshot, publishBarrier, publishChange, publishKick, type RemoteChange } from './pg-events.js';
import { writeBatchInStatements } from './batch-write.js';
import { writeBatchInOneStatement } from './postgres-batch.js';
import type { RowStore } from './record-writer.js';
import { getUserBySessionId, listActiveUsers, listSessionIdsOfNode } from './repository.js';
import type { User } from './types.js';
import { activeUsersEnvelope, SNAPSHOT_ENVELOPE } from './user-json.js';

export interface MultiNodeOptions {
  db: Database;
  nodeId: string;
  heartbeatMs: number;
  ttlMs: number;
  /** Connection settings for the dedicated listener connection. */
  listenerConfig: pg.ClientConfig;
  logger: Logger;
  admins: AdminChannel;
  /** Rewrite this node's rows from its live set (it was reaped while alive). */
  resync(): void;
  /** Close a client held by this node; false when it is not here. */
  kickLocal(sessionId: string): boolean;
  /** Live message count of a connection held by this node (admin live stats). */
  messages(sessionId: string): number | undefined;
}

/** Session ids are UUIDs; anything much longer is not one and is not relayed. */
const MAX_SESSION_ID_LENGTH = 128;

/** Whoever sent a barrier: told once, when it comes back or can no longer come back. */
interface BarrierWaiter {
  /** Back through the listener (or it could not be sent: then the view is served as it is). */
  passed(): void;
  /** Sent on a listener connection since lost, or the hub stopped. */
  lost(): void;
}

export class MultiNodeHub {
  readonly #options: MultiNodeOptions;
  readonly #lock: NodeIdLock;
  readonly #registry: NodeRegistry;
  readonly #listener: PgListener;
  /** Every node's rows, for admin snapshots. */
  readonly #view = new ClusterView();
  /** Admins waiting for the view (listener down, or the view loading). */
  readonly #waiting = new Set<AdminSession>();
  /** Barriers on their way back through the listener, by token. */
  readonly #barriers = new Map<string, BarrierWaiter>();
  /** Bumped at every (re)LISTEN; a load begun under an older one is dropped. */
  #generation = 0;
  #loadRetry: NodeJS.Timeout | undefined;
  #loadRetryDelay: number = RetryBackoff.initialMs;
  #stopped = false;

  constructor(options: MultiNodeOptions) {
    this.#options = options;
    const { db, nodeId, logger } = options;
    this.#lock = new NodeIdLock({
      nodeId,
      logger,
      // A run that died on another machine holds the lock until PostgreSQL
      // finds it gone (keepalive set from the TTL): about as long as a
      // survivor takes to declare it dead.
      startWaitMs: options.ttlMs,
      // The writer's next reconcile fails on the fence (nodeStore's guard):
      // it degrades now, with the reason, and rewrites its rows once regained.
      onTaken: () => options.resync(),
      onRegained: () => options.resync(),
    });
    this.#registry = new NodeRegistry({
      db,
      nodeId,
      heartbeatMs: options.heartbeatMs,
      ttlMs: options.ttlMs,
      logger,
      announceLeaves: (trx, sessionIds) => publishChange(trx, { connected: [], activity: [], disconnected: sessionIds }, nodeId),
      onRevived: () => options.resync(),
      mayWrite: () => this.#lock.takenError === undefined,
    });
    this.#listener = new PgListener({
      config: options.listenerConfig,
      logger,
      // At least a second, so a busy server is not mistaken for a dead one.
      probeMs: Math.max(options.heartbeatMs, 1000),
      onConnect: (client) => this.#lock.acquire(client),
      fetchUsers: async (ids) => (await Promise.all(ids.map((id) => getUserBySessionId(db, id)))).filter((u): u is User => u !== undefined),
      onChange: (change) => this.#onChange(change),
      onListening: (reconnected) => this.#onListening(reconnected),
      onLost: () => {},
      onKick: (sessionId) => void options.kickLocal(sessionId),
      onBarrier: (token) => this.#onBarrier(token),
    });
  }

  get listening(): boolean {
    return this.#listener.listening;
  }

  /**
   * Take the NODE_ID lock and LISTEN (on one connection; rejects with
   * NodeIdInUseError when another live node has this id, before any row
   * is touched), then register, so no change committed after registration is missed.
   */
  async start(): Promise<void> {
    await this.#listener.start();
    await this.#registry.start();
  }

  /** Stop the heartbeat; `retire` then removes this node's rows. */
  async stopHeartbeat(): Promise<void> {
    await this.#registry.stop();
  }

  /** Why this node must not write its rows: another process holds its NODE_ID. */
  get ownerError(): Error | undefined {
    return this.#lock.takenError;
  }

  /** Delete this node's rows, unless they are not ours: start failed on the lock, or another process took the id since. */
  async retire(): Promise<number> {
    if (!this.#lock.held) return 0;
    return this.#registry.retire();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#loadRetry);
    this.#loseBarriers();
    await this.#registry.stop();
    await this.#listener.stop();
  }

  /**
   * Relay an admin's kick for a session not held here to every node; its
   * owner closes it, and its `disconnected` event is the answer. False,
   * so that the admin hears "unknown session", when the cluster view
   * holds no such session: an admin learns session ids from this view, so
   * one it has seen is there until its `disconnected` event. While the
   * view is reloading it cannot tell, and the kick is relayed.
   */
  kickRemote(sessionId: string): boolean {
    if (this.#stopped || sessionId.length === 0 || sessionId.length > MAX_SESSION_ID_LENGTH) return false;
    if (this.#view.holds(sessionId) === false) return false;
    publishKick(this.#options.db, sessionId).catch((error) => this.#options.logger.warn({ err: error }, 'kick relay failed'));
    return true;
  }

  /** Snapshot then live changes for one admin, once its barrier is back; see the file comment. */
  subscribe(admin: AdminSession): void {
    if (this.#stopped || admin.socket.readyState !== admin.socket.OPEN) return;
    if (!this.#canServe()) {
      this.#waiting.add(admin);
      return;
    }
    this.#sendBarrier({ passed: () => this.#serve(admin), lost: () => this.#waiting.add(admin) });
  }

  /**
   * The GET /active-users body for `page`, from the view once a barrier
   * has come back, so it holds every change committed before the request
   * on any node, as the table would. Undefined, for the caller to read the
   * table, while the view cannot serve (listener down, view loading) or
   * when the barrier is lost or not back within MultiNode.barrierTimeoutMs.
   */
  activeUsersBody(page: Page): Promise<string | undefined> {
    if (this.#stopped || !this.#canServe()) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const answer = (body: string | undefined) => {
        clearTimeout(timer);
        resolve(body);
      };
      const token = this.#sendBarrier({
        passed: () => answer(this.#canServe() ? this.#view.json({ page, ...activeUsersEnvelope(this.#view.size) }) : undefined),
        lost: () => answer(undefined),
      });
      const timer = setTimeout(() => {
        if (this.#barriers.delete(token)) answer(undefined);
      }, MultiNode.barrierTimeoutMs);
    });
  }

  #canServe(): boolean {
    return this.#listener.listening && this.#view.ready;
  }

  /** Send a barrier through the database; `waiter` hears when it is back. Returns its token. */
  #sendBarrier(waiter: BarrierWaiter): string {
    const token = randomUUID();
    this.#barriers.set(token, waiter);
    publishBarrier(this.#options.db, token).catch((error) => {
      // Nothing will come back: serve what the view holds rather than nothing.
      if (!this.#barriers.delete(token)) return;
      this.#options.logger.warn({ err: error }, 'snapshot barrier failed; serving the view as it is');
      waiter.passed();
    });
    return token;
  }

  #onBarrier(token: string): void {
    const waiter = this.#barriers.get(token);
    if (waiter === undefined) return; // another node's, or one given up on
    this.#barriers.delete(token);
    waiter.passed();
  }

  /** Barriers sent on a connection since lost may never arrive: tell their waiters. */
  #loseBarriers(): void {
    const waiters = [...this.#barriers.values()];
    this.#barriers.clear();
    for (const waiter of waiters) waiter.lost();
  }

  /** Send the view and join the audience, in one step; or wait for the view. */
  #serve(admin: AdminSession): void {
    if (this.#stopped || admin.socket.readyState !== admin.socket.OPEN) return;
    if (!this.#canServe()) {
      this.#waiting.add(admin);
      return;
    }
    this.#options.admins.sendSnapshot(admin, (sink) => this.#writeSnapshot(sink));
    this.#options.admins.join(admin);
  }

  #onChange(change: RemoteChange): void {
    if (!this.#view.apply(change)) return;
    for (const message of toMessages(change)) this.#options.admins.broadcast(message);
  }

  #onListening(reconnected: boolean): void {
    this.#generation++;
    // Admins wait for the view instead; requests read the table.
    this.#loseBarriers();
    clearTimeout(this.#loadRetry);
    this.#loadView(reconnected);
  }

  /**
   * Load the view for the current LISTEN. After a reconnect the joined
   * admins missed changes: they get a fresh snapshot too, each preceded
   * by a `resync` notice. A failed load
   * closes the admins it would have served and is retried with backoff.
   */
  #loadView(resnapshotAudience: boolean): void {
    const generation = this.#generation;
    this.#view.beginLoad();
    this.#readRows().then(
      ({ snapshot, users }) => {
        if (generation !== this.#generation || this.#stopped) return; // a newer LISTEN loads its own
        this.#view.finishLoad(snapshot, users);
        this.#loadRetryDelay = RetryBackoff.initialMs;
        const { admins, logger } = this.#options;
        if (resnapshotAudience) {
          // Made once, sent to the audience: every authenticated admin not waiting for its first snapshot.
          const resend = recordJson((sink) => this.#writeSnapshot(sink));
          // Each is told first: a large snapshot on a live socket holds up
          // the pongs behind it, and a client not expecting it would take
          // the silence for a dead link and reconnect, asking for another.
          for (const admin of admins.sockets()) {
            if (admin.authenticated && !this.#waiting.has(admin)) admins.sendSnapshot(admin, resend, AdminNotice.RESYNC);
          }
          logger.info({ admins: admins.audienceSize, users: users.length }, 'event listener back; admins resynchronised');
        }
        const waiting = [...this.#waiting];
        this.#waiting.clear();
        for (const admin of waiting) this.subscribe(admin);
      },
      (error) => {
        if (generation !== this.#generation || this.#stopped) return;
        this.#view.abandonLoad();
        const { admins, logger } = this.#options;
        logger.error({ err: error }, 'reading the cluster\'s rows failed; closing admin streams and retrying');
        this.#waiting.clear();
        for (const admin of admins.sockets()) if (admin.authenticated) admin.socket.close(CloseCode.INTERNAL_ERROR, CloseReason.SNAPSHOT_FAILED);
        this.#loadRetry = setTimeout(() => this.#loadView(false), this.#loadRetryDelay);
        this.#loadRetry.unref();
        this.#loadRetryDelay = Math.min(this.#loadRetryDelay * 2, RetryBackoff.maxMs);
      },
    );
  }

  /** Every row, oldest connection first, and the snapshot they were read at. */
  #readRows(): Promise<{ snapshot: PgSnapshot; users: User[] }> {
    return this.#options.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) => {
        // First statement: it fixes the transaction's snapshot, and reports it.
        const { rows } = await sql<{ snap: string }>`select pg_current_snapshot()::text as snap`.execute(trx);
        const users = (await listActiveUsers(trx)).reverse();
        return { snapshot: new PgSnapshot(rows[0]!.snap), users };
      });
  }

  /** The snapshot message, with live message counts for this node's connections. */
  #writeSnapshot(sink: JsonSink): void {
    this.#view.writeJson(sink, { ...SNAPSHOT_ENVELOPE, messages: this.#options.messages });
  }
}

/**
 * The writer's view of storage for node `nodeId`: only its own rows. On
 * PostgreSQL each batch is written as one statement (postgres-batch.ts),
 * and with several nodes that statement also NOTIFYs the change.
 */
export function nodeStore(
  nodeId: string,
  options: { postgres: boolean; multiNode: boolean; fence?: () => Error | undefined },
): RowStore {
  // While another process holds our NODE_ID every write fails with why, so
  // the writer degrades (and says so in /health) instead of fighting it.
  const guard = () => {
    const error = options.fence?.();
    if (error !== undefined) throw error;
  };
  const listOwnSessionIds = async (db: Database) => {
    guard();
    return listSessionIdsOfNode(db, nodeId);
  };
  if (!options.postgres) return { listOwnSessionIds, writeBatch: (db, batch) => writeBatchInStatements(db, batch, nodeId) };
  return {
    listOwnSessionIds,
    singleStatement: true,
    writeBatch: async (db, batch) => {
      guard();
      await writeBatchInOneStatement(db, batch, nodeId, MultiNode.channel, options.multiNode ? encodeChange(batch, nodeId) : []);
    },
  };
}

/** The admin messages for one change, in the order a local commit sends them. */
function toMessages(change: RemoteChange): object[] {
  const messages: object[] = [];
  for (const user of change.connected) messages.push({ type: 'connected', user });
  if (change.activity.length > 0) messages.push({ type: 'activity', users: change.activity });
  for (const sessionId of change.disconnected) messages.push({ type: 'disconnected', sessionId });
  return messages;
}
