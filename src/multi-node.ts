/**
 * The multi-node side of a tracker on PostgreSQL: its node registry
 * (heartbeat, reaping, restart cleanup), its event listener, and the admin
 * stream fed from the database instead of from local commits.
 *
 * Ordering for a new admin, across nodes. Every write NOTIFYs inside its
 * own transaction, tagged with its xid, so notifications arrive after
 * commit and in commit order (pg-events.ts). To subscribe an admin we:
 *   1. start buffering, for this admin, every change the listener delivers;
 *   2. read the snapshot in a REPEATABLE READ transaction whose first
 *      statement is `pg_current_snapshot()`, then the users, both as of the
 *      same snapshot;
 *   3. send the snapshot, then each buffered change whose xid is NOT
 *      visible in that snapshot (the visible ones are already in it), and
 *      add the admin to the audience in the same synchronous step;
 *   4. keep filtering through the snapshot after that, until the first
 *      change it does not hold: a change committed before the snapshot
 *      can still reach the listener after step 3 (snapshot-filters.ts).
 * A change delivered before step 1 committed before it, hence before the
 * snapshot, so it is in the snapshot; one delivered after step 1 is sent
 * exactly when the snapshot lacks it. So nothing is missed and nothing is
 * doubled, whichever node wrote it.
 *
 * When the listener connection is lost, changes are missed until it is
 * back; then every admin gets a fresh snapshot by the same procedure
 * (buffer, snapshot, send the invisible rest), all admins at once.
 */
import { sql } from 'kysely';
import type pg from 'pg';
import type { AdminChannel, AdminSession } from './admin-channel.js';
import { CloseCode, CloseReason } from './constants.js';
import type { Database } from './database.js';
import type { Logger } from './logger.js';
import { NodeRegistry } from './node-registry.js';
import { PgListener, PgSnapshot, publishChange, publishKick, type RemoteChange } from './pg-events.js';
import type { CommittedChange, RowStore } from './record-writer.js';
import { getUserBySessionId, listActiveUsersJson, listSessionIdsOfNode, type UserJsonRow } from './repository.js';
import { SnapshotFilters } from './snapshot-filters.js';
import { usersJson } from './user-json.js';
import type { User } from './types.js';

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

interface Snapshot {
  snapshot: PgSnapshot;
  rows: UserJsonRow[];
}

export class MultiNodeHub {
  readonly #options: MultiNodeOptions;
  readonly #registry: NodeRegistry;
  readonly #listener: PgListener;
  /** Admins waiting for their snapshot, with the changes delivered meanwhile. */
  readonly #pending = new Map<AdminSession, RemoteChange[]>();
  /** Admins whose snapshot may still be ahead of the listener (snapshot-filters.ts). */
  readonly #filters = new SnapshotFilters<AdminSession>();
  /** Admins that arrived while the listener was down. */
  readonly #waiting = new Set<AdminSession>();
  /** While every admin is being resynchronised: the changes held back. */
  #held: RemoteChange[] | undefined;
  /** Bumped at every (re)LISTEN; a subscription begun under an older one is redone. */
  #generation = 0;
  #stopped = false;

  constructor(options: MultiNodeOptions) {
    this.#options = options;
    const { db, nodeId, logger } = options;
    this.#registry = new NodeRegistry({
      db,
      nodeId,
      heartbeatMs: options.heartbeatMs,
      ttlMs: options.ttlMs,
      logger,
      announceLeaves: (trx, sessionIds) => publishChange(trx, { connected: [], activity: [], disconnected: sessionIds }, nodeId),
      onRevived: () => options.resync(),
    });
    this.#listener = new PgListener({
      config: options.listenerConfig,
      logger,
      // At least a second, so a busy server is not mistaken for a dead one.
      probeMs: Math.max(options.heartbeatMs, 1000),
      fetchUsers: async (ids) => (await Promise.all(ids.map((id) => getUserBySessionId(db, id)))).filter((u): u is User => u !== undefined),
      onChange: (change) => this.#onChange(change),
      onListening: (reconnected) => this.#onListening(reconnected),
      onLost: () => {},
      onKick: (sessionId) => void options.kickLocal(sessionId),
    });
  }

  get listening(): boolean {
    return this.#listener.listening;
  }

  /** LISTEN first, so no change committed after registration is missed. */
  async start(): Promise<void> {
    await this.#listener.start();
    await this.#registry.start();
  }

  /** Stop the heartbeat; `retire` then removes this node's rows. */
  async stopHeartbeat(): Promise<void> {
    await this.#registry.stop();
  }

  retire(): Promise<number> {
    return this.#registry.retire();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#registry.stop();
    await this.#listener.stop();
  }

  /**
   * Relay an admin's kick for a session not held here to every node.
   * True when relayed: whether the session exists anywhere is only known
   * to its owner, whose `disconnected` event is the answer.
   */
  kickRemote(sessionId: string): boolean {
    if (this.#stopped || sessionId.length === 0 || sessionId.length > MAX_SESSION_ID_LENGTH) return false;
    publishKick(this.#options.db, sessionId).catch((error) => this.#options.logger.warn({ err: error }, 'kick relay failed'));
    return true;
  }

  /** Snapshot then live changes for one admin; see the file comment. */
  subscribe(admin: AdminSession): void {
    if (this.#stopped) return;
    if (!this.#listener.listening) {
      this.#waiting.add(admin);
      return;
    }
    const generation = this.#generation;
    this.#pending.set(admin, []);
    this.#readSnapshot().then(
      ({ snapshot, rows }) => {
        const buffered = this.#pending.get(admin) ?? [];
        this.#pending.delete(admin);
        if (admin.socket.readyState !== admin.socket.OPEN) return;
        if (generation !== this.#generation || !this.#listener.listening) {
          this.subscribe(admin); // the listener restarted meanwhile: changes may be missing
          return;
        }
        const { admins } = this.#options;
        admins.send(admin, this.#snapshotMessage(rows));
        // The snapshot filters the buffered changes now, and those still on
        // their way to the listener later.
        this.#filters.set(admin, snapshot);
        admin.socket.once('close', () => this.#filters.delete(admin));
        for (const change of buffered) {
          if (this.#filters.admits(admin, change.xid)) for (const message of toMessages(change)) admins.send(admin, JSON.stringify(message));
        }
        admins.join(admin);
      },
      (error) => {
        this.#pending.delete(admin);
        this.#options.logger.error({ err: error }, 'admin snapshot failed');
        admin.socket.close(CloseCode.INTERNAL_ERROR, CloseReason.SNAPSHOT_FAILED);
      },
    );
  }

  #onChange(change: RemoteChange): void {
    for (const buffer of this.#pending.values()) buffer.push(change);
    if (this.#held !== undefined) {
      this.#held.push(change);
      return;
    }
    const skip = this.#filters.size > 0 ? this.#filters.skipFor(change.xid) : undefined;
    for (const message of toMessages(change)) this.#options.admins.broadcast(message, skip);
  }

  #onListening(reconnected: boolean): void {
    this.#generation++;
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const admin of waiting) if (admin.socket.readyState === admin.socket.OPEN) this.subscribe(admin);
    if (reconnected) this.#resyncAdmins();
  }

  /** After a listener outage: one fresh snapshot for the whole audience. */
  #resyncAdmins(): void {
    if (this.#held !== undefined) return; // one is under way; it started after this LISTEN
    this.#held = [];
    this.#readSnapshot().then(
      ({ snapshot, rows }) => {
        const held = this.#held ?? [];
        this.#held = undefined;
        const { admins } = this.#options;
        // The audience: every subscribed admin (all subscriptions go through
        // this hub, so authenticated and not pending or waiting means joined).
        const message = this.#snapshotMessage(rows);
        for (const admin of admins.sockets()) {
          if (admin.authenticated && !this.#pending.has(admin) && !this.#waiting.has(admin)) {
            admins.send(admin, message);
            this.#filters.set(admin, snapshot);
          }
        }
        // Through the filters: what the snapshot holds is skipped, now or when it arrives late.
        for (const change of held) {
          const skip = this.#filters.skipFor(change.xid);
          for (const message of toMessages(change)) admins.broadcast(message, skip);
        }
        this.#options.logger.info({ admins: admins.audienceSize, users: rows.length }, 'event listener back; admins resynchronised');
      },
      (error) => {
        this.#held = undefined;
        this.#options.logger.error({ err: error }, 'admin resynchronisation failed; closing admin streams');
        for (const admin of this.#options.admins.sockets()) admin.socket.close(CloseCode.INTERNAL_ERROR, CloseReason.SNAPSHOT_FAILED);
      },
    );
  }

  #readSnapshot(): Promise<Snapshot> {
    return this.#options.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) => {
        // First statement: it fixes the transaction's snapshot, and reports it.
        const { rows } = await sql<{ snap: string }>`select pg_current_snapshot()::text as snap`.execute(trx);
        const users = await listActiveUsersJson(trx);
        return { snapshot: new PgSnapshot(rows[0]!.snap), rows: users };
      });
  }

  /** The snapshot message, with live message counts for this node's connections. */
  #snapshotMessage(rows: readonly UserJsonRow[]): string {
    return `{"type":"snapshot","users":${usersJson(rows, (sessionId) => this.#options.messages(sessionId))}}`;
  }
}

/**
 * The writer's view of storage for node `nodeId`: only its own rows, and
 * (with several nodes) a NOTIFY of every change inside its transaction.
 */
export function nodeStore(nodeId: string, multiNode: boolean): RowStore {
  return {
    nodeId,
    listOwnSessionIds: (db) => listSessionIdsOfNode(db, nodeId),
    ...(multiNode ? { publish: (trx: Database, change: CommittedChange) => publishChange(trx, change, nodeId) } : {}),
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
