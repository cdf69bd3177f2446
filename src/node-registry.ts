/**
 * This node's entry in the `nodes` table: registration at start (clearing
 * the rows an earlier run with the same NODE_ID left; it starts only once
 * the NODE_ID lock is ours, so no live node has that id), a heartbeat every
 * `heartbeatMs`, the reaping of nodes not seen for `ttlMs`, and removal at
 * a graceful stop. Every step that deletes rows announces the leaves in
 * the same transaction (see pg-events.ts), so other nodes' admins see them.
 *
 * A dead node is reaped by whichever survivor's heartbeat comes first after
 * its TTL: within `ttlMs + heartbeatMs` of its last heartbeat.
 */
import type { Database } from './database.js';
import type { Logger } from './logger.js';
import { deleteOrphanUsers, heartbeatNode, reapDeadNodes, removeNode, upsertNode } from './node-repository.js';
import { archiveLostUsers } from './history-repository.js';
import { deleteUsersOfNode, listUsersOfNodes, withTransaction } from './repository.js';

export interface NodeRegistryOptions {
  db: Database;
  nodeId: string;
  heartbeatMs: number;
  ttlMs: number;
  logger: Logger;
  /** Announce departed sessions; called inside the deleting transaction. */
  announceLeaves(trx: Database, sessionIds: string[]): Promise<void>;
  /** Our row was gone at a heartbeat: we were declared dead and our rows deleted. */
  onRevived(): void;
  /** False while another process holds our NODE_ID: heartbeats and reaping pause. */
  mayWrite(): boolean;
}

export class NodeRegistry {
  readonly #options: NodeRegistryOptions;
  #timer: NodeJS.Timeout | undefined;
  /** A beat still running is not overlapped by the next one. */
  #beating: Promise<void> | undefined;

  constructor(options: NodeRegistryOptions) {
    this.#options = options;
  }

  /**
   * Register this node, clear what a previous run of the same NODE_ID (or
   * a node long forgotten) left behind, reap the dead, start the heartbeat.
   */
  async start(): Promise<{ cleared: number; reaped: string[] }> {
    const { db, nodeId, logger } = this.#options;
    const cleared = await withTransaction(db, async (trx) => {
      await upsertNode(trx, nodeId);
      // A previous run with this NODE_ID died without closing its connections.
      await archiveLostUsers(trx, await listUsersOfNodes(trx, [nodeId]));
      const own = await deleteUsersOfNode(trx, nodeId);
      const orphans = await deleteOrphanUsers(trx);
      const gone = own.concat(orphans);
      if (gone.length > 0) await this.#options.announceLeaves(trx, gone);
      return gone.length;
    });
    logger.info({ nodeId, count: cleared }, 'node registered; stale rows removed');
    const reaped = await this.reap();
    this.#timer = setInterval(() => {
      this.#beating ??= this.#beat().finally(() => (this.#beating = undefined));
    }, this.#options.heartbeatMs);
    this.#timer.unref();
    return { cleared, reaped };
  }

  /** One heartbeat, then a look for dead nodes. Failures are logged, not thrown. */
  async #beat(): Promise<void> {
    const { db, nodeId, logger } = this.#options;
    if (!this.#options.mayWrite()) return;
    try {
      if (!(await heartbeatNode(db, nodeId))) {
        logger.warn({ nodeId }, 'this node was declared dead by another; registering again');
        await upsertNode(db, nodeId);
        this.#options.onRevived();
      }
      await this.reap();
    } catch (error) {
      logger.warn({ err: error }, 'node heartbeat failed');
    }
  }

  /** Reap every dead node in one transaction; returns their ids. */
  async reap(): Promise<string[]> {
    const { db, nodeId, ttlMs, logger } = this.#options;
    const reaped = await withTransaction(db, async (trx) => {
      const dead = await reapDeadNodes(trx, nodeId, ttlMs);
      if (dead.sessionIds.length > 0) await this.#options.announceLeaves(trx, dead.sessionIds);
      return dead;
    });
    if (reaped.nodeIds.length > 0) {
      logger.warn({ nodes: reaped.nodeIds, rows: reaped.sessionIds.length }, 'dead nodes reaped');
    }
    return reaped.nodeIds;
  }

  /** Stop the heartbeat (rows and the node row are removed by `retire`). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#beating;
  }

  /** Graceful stop: delete this node's rows and its node row, announcing the leaves. */
  async retire(): Promise<number> {
    const { db, nodeId } = this.#options;
    return withTransaction(db, async (trx) => {
      const own = await deleteUsersOfNode(trx, nodeId);
      if (own.length > 0) await this.#options.announceLeaves(trx, own);
      await removeNode(trx, nodeId);
      return own.length;
    });
  }
}
