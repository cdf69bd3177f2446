/**
 * Data access for the `nodes` table, the heartbeat record of every tracker
 * node sharing one database. Plain functions taking `db` first, one copy
 * for both dialects. Times come from the database clock (never a node's),
 * so nodes with skewed clocks still agree on who is dead.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from '../db/types.js';
import { isPostgres } from './postgres.js';
import { archiveLostUsers } from './history-repository.js';
import { listUsersOfNodes } from './repository.js';

type Db = Kysely<DB>;

export interface NodeRow {
  nodeId: string;
  startedAt: string;
  lastSeenAt: string;
}

export interface ReapedNodes {
  nodeIds: string[];
  /** Session ids of the rows the dead nodes owned, now deleted. */
  sessionIds: string[];
}

/** The database's current time, `offsetMs` later (negative: earlier). */
function dbNow(db: Db, offsetMs = 0): RawBuilder<string> {
  if (isPostgres(db)) {
    return offsetMs === 0 ? sql<string>`now()` : sql<string>`now() + make_interval(secs => ${offsetMs / 1000})`;
  }
  // ISO-8601 text with milliseconds, the format SQLite rows use everywhere.
  const modifier = `${offsetMs >= 0 ? '+' : ''}${(offsetMs / 1000).toFixed(3)} seconds`;
  return sql<string>`strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ${modifier})`;
}

/**
 * Register (or re-register after a restart) this node: a fresh row with
 * `started_at` and `last_seen_at` set to now.
 */
export async function upsertNode(db: Db, nodeId: string): Promise<void> {
  await db
    .insertInto('nodes')
    .values({ node_id: nodeId, started_at: dbNow(db), last_seen_at: dbNow(db) })
    .onConflict((oc) => oc.column('node_id').doUpdateSet({ started_at: dbNow(db), last_seen_at: dbNow(db) }))
    .execute();
}

/**
 * Record that this node is alive. False when its row is gone, which means
 * a survivor declared it dead (and deleted its rows) during a stall; the
 * caller re-registers and writes its live rows again.
 */
export async function heartbeatNode(db: Db, nodeId: string): Promise<boolean> {
  const result = await db.updateTable('nodes').set({ last_seen_at: dbNow(db) }).where('node_id', '=', nodeId).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function removeNode(db: Db, nodeId: string): Promise<boolean> {
  const result = await db.deleteFrom('nodes').where('node_id', '=', nodeId).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

export async function listNodes(db: Db): Promise<NodeRow[]> {
  const rows = await db.selectFrom('nodes').selectAll().orderBy('node_id').execute();
  return rows.map((r) => ({ nodeId: r.node_id, startedAt: String(r.started_at), lastSeenAt: String(r.last_seen_at) }));
}

/**
 * Declare dead every other node not seen for `ttlMs`, and delete the rows
 * they owned. Run it inside a transaction (with the announcement in the
 * same transaction): on PostgreSQL the dead nodes' rows are claimed with
 * FOR UPDATE SKIP LOCKED, so of several survivors reaping at once exactly
 * one gets each dead node, and once it commits the nodes row is gone, so
 * nobody can claim (and announce) the same node again.
 */
export async function reapDeadNodes(db: Db, selfId: string, ttlMs: number): Promise<ReapedNodes> {
  let dead = db
    .selectFrom('nodes')
    .select('node_id')
    .where('last_seen_at', '<', dbNow(db, -ttlMs))
    .where('node_id', '<>', selfId);
  if (isPostgres(db)) dead = dead.forUpdate().skipLocked();
  const nodes = await db.deleteFrom('nodes').where('node_id', 'in', dead).returning('node_id').execute();
  if (nodes.length === 0) return { nodeIds: [], sessionIds: [] };
  const nodeIds = nodes.map((n) => n.node_id);
  await archiveLostUsers(db, await listUsersOfNodes(db, nodeIds));
  const users = await db.deleteFrom('users').where('node_id', 'in', nodeIds).returning('session_id').execute();
  return { nodeIds, sessionIds: users.map((u) => u.session_id) };
}

/**
 * Delete rows whose node has no `nodes` row at all (written before the
 * nodes migration, or by a node reaped while its write was in flight).
 */
export async function deleteOrphanUsers(db: Db): Promise<string[]> {
  const rows = await db
    .deleteFrom('users')
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('nodes').select('nodes.node_id').whereRef('nodes.node_id', '=', 'users.node_id'))),
    )
    .returning('session_id')
    .execute();
  return rows.map((r) => r.session_id);
}
