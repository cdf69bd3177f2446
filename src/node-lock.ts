/**
 * One live process per NODE_ID, decided by PostgreSQL. A node's start
 * clears the rows of its NODE_ID (those of a run that died), so a second
 * process started with an id in use would delete the rows of the live one.
 *
 * Each node holds a session-level advisory lock keyed by its NODE_ID on
 * its dedicated listener connection (pg-events.ts), taken before that
 * connection LISTENs and before any row is touched. PostgreSQL drops the
 * lock when the session ends, however the process ends, so a crash never
 * leaves a stale lock to clear by hand: at worst a machine that vanished
 * keeps it until the server's TCP keepalive (set from the TTL, see
 * `serverKeepalive`) finds the peer gone, which is why a start waits a
 * while before it gives up.
 *
 * After a reconnect of the listener the lock is taken again. Three things
 * can be found then: it is free (taken back); it is held by this node's own
 * previous session, one the node lost but the server has not noticed yet
 * (a half-open connection), identified exactly by pid and backend start
 * time, which is ended so the lock can be taken; or it is held by another
 * session: another process took this NODE_ID while ours was gone. The node
 * then logs an error, reports itself degraded and stops writing rows (no
 * fight over them), and keeps trying to take the lock back.
 */
import pg from 'pg';
import { NodeLock } from './constants.js';
import type { Logger } from './logger.js';

export class NodeIdInUseError extends Error {
  override name = 'NodeIdInUseError';
}

/** A PostgreSQL session: a pid alone could be reused by a later backend. */
export interface PgSession {
  pid: number;
  startedAt: string;
  /** Client address and application name, for the operator (may be null for other roles' sessions). */
  address?: string | null;
  application?: string | null;
}

const KEY = `hashtextextended($1, 0)`;

function lockName(nodeId: string): string {
  return NodeLock.namespace + nodeId;
}

/** Try the NODE_ID lock on `client`'s session, without waiting; and that session's identity. */
export async function tryLockNodeId(client: pg.Client, nodeId: string): Promise<{ locked: boolean; session: PgSession }> {
  const { rows } = await client.query<{ locked: boolean; pid: number; started: string }>(
    `select pg_try_advisory_lock(${KEY}) as locked, pg_backend_pid() as pid,
       (select backend_start::text from pg_stat_activity where pid = pg_backend_pid()) as started`,
    [lockName(nodeId)],
  );
  const row = rows[0]!;
  return { locked: row.locked, session: { pid: row.pid, startedAt: row.started } };
}

/** The session holding the NODE_ID lock, if any. A bigint key is stored as classid (high half) and objid (low half). */
export async function nodeIdHolder(client: pg.Client, nodeId: string): Promise<PgSession | undefined> {
  const { rows } = await client.query<{ pid: number; started: string | null; address: string | null; application: string | null }>(
    `select l.pid, a.backend_start::text as started, host(a.client_addr) as address, a.application_name as application
       from pg_locks l left join pg_stat_activity a on a.pid = l.pid, (select ${KEY} as k) key
      where l.locktype = 'advisory' and l.granted and l.objsubid = 1
        and l.database = (select oid from pg_database where datname = current_database())
        and l.classid::bigint = (key.k >> 32) & 4294967295 and l.objid::bigint = key.k & 4294967295`,
    [lockName(nodeId)],
  );
  const row = rows[0];
  return row === undefined ? undefined : { pid: row.pid, startedAt: row.started ?? '', address: row.address, application: row.application };
}

function describe(session: PgSession): string {
  const from = [session.application, session.address].filter(Boolean).join(' from ');
  return `PostgreSQL session ${session.pid}${from ? `, ${from}` : ''}`;
}

/**
 * Server-side TCP keepalive for the lock's connection, so that a node whose
 * machine vanished lets go of its NODE_ID within about `ttlMs` (seconds, at least 1).
 */
export function serverKeepalive(ttlMs: number): string[] {
  const idle = Math.max(1, Math.floor(ttlMs / 2000));
  const interval = Math.max(1, Math.floor(ttlMs / 2000 / NodeLock.keepaliveCount));
  return [`-c tcp_keepalives_idle=${idle}`, `-c tcp_keepalives_interval=${interval}`, `-c tcp_keepalives_count=${NodeLock.keepaliveCount}`];
}

export interface NodeIdLockOptions {
  nodeId: string;
  logger: Logger;
  /** How long the first take waits for a holder to go (a run that just died elsewhere). */
  startWaitMs: number;
  /** Another process took the NODE_ID: stop writing, report. */
  onTaken(): void;
  /** The NODE_ID is ours again after onTaken. */
  onRegained(): void;
}

export class NodeIdLock {
  readonly #options: NodeIdLockOptions;
  /** The session that took the lock last; undefined until the first take. */
  #mine: PgSession | undefined;
  /** Set while another process holds our NODE_ID. */
  #taken: NodeIdInUseError | undefined;

  constructor(options: NodeIdLockOptions) {
    this.#options = options;
  }

  /** True once taken at start. */
  get held(): boolean {
    return this.#mine !== undefined && this.#taken === undefined;
  }

  /** Why this node must not write, when another process holds its NODE_ID. */
  get takenError(): NodeIdInUseError | undefined {
    return this.#taken;
  }

  /**
   * Take the lock on a new connection, before it LISTENs. The first take
   * waits up to `startWaitMs`, then throws NodeIdInUseError; later ones
   * (after a reconnect) throw at once and are retried by the listener.
   */
  async acquire(client: pg.Client): Promise<void> {
    const { nodeId, logger, startWaitMs } = this.#options;
    const first = this.#mine === undefined;
    const deadline = Date.now() + startWaitMs;
    for (;;) {
      const { locked, session } = await tryLockNodeId(client, nodeId);
      if (locked) {
        this.#mine = session;
        if (this.#taken !== undefined) {
          this.#taken = undefined;
          logger.warn({ nodeId }, 'NODE_ID is ours again; writing rows again');
          this.#options.onRegained();
        }
        return;
      }
      const holder = await nodeIdHolder(client, nodeId);
      if (holder === undefined) continue; // let go between the two queries
      if (this.#mine !== undefined && holder.pid === this.#mine.pid && holder.startedAt === this.#mine.startedAt) {
        // Our own previous session, cut off from us but not from the server.
        await client.query('select pg_terminate_backend($1)', [holder.pid]);
        throw new Error(`ended this node's previous session ${holder.pid}, which still held NODE_ID ${nodeId}; retrying`);
      }
      const error = new NodeIdInUseError(
        `NODE_ID ${nodeId} is in use by another running Roster node (${describe(holder)}): stop that node or give this one another NODE_ID`,
      );
      if (first) {
        if (Date.now() >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, NodeLock.startRetryMs));
        continue;
      }
      if (this.#taken === undefined) {
        this.#taken = error;
        logger.error({ nodeId, holder: holder.pid }, 'NODE_ID taken by another process; this node stops writing rows until it is free');
        this.#options.onTaken();
      }
      throw error;
    }
  }
}
