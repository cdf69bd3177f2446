/**
 * Data access for `connection_history`: one row per ended connection.
 * Plain functions taking `db` first, dialect-neutral Kysely. Pages are
 * keyed on (disconnected_at, id), never on an offset, so rows that arrive
 * while someone pages through never shift or repeat what they see.
 */
import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { ConnectionHistory, DB } from '../db/types.js';
import { CloseReason, HistoryPrune, RecordedCloseCode } from './constants.js';
import { readOffLoop, walCheckpointer } from './database.js';
import { isoText } from './repository.js';
import { executeReusable, powerOfTwoChunks } from './reusable-queries.js';
import type { User } from './types.js';

type Db = Kysely<DB>;

/** One ended connection, as stored and as served by GET /history. */
export interface SessionRecord {
  /** The connection's id (the `users.id` it had while live). */
  id: string;
  sessionId: string;
  /** The `?user=` label, or null. */
  user: string | null;
  remoteAddress: string;
  userAgent: string;
  /** ISO-8601 UTC with milliseconds. */
  connectedAt: string;
  disconnectedAt: string;
  durationMs: number;
  closeCode: number;
  closeReason: string;
  messages: number;
  bytesIn: number;
}

/** Position in the newest-first order: strictly older rows come next. */
export interface HistoryCursor {
  disconnectedAt: string;
  /** Absent: every row at `disconnectedAt` is excluded too. */
  id?: string;
}

export interface HistoryQuery {
  limit: number;
  before?: HistoryCursor;
  user?: string;
}

/** Largest power-of-two INSERT chunk (12 parameters per row). */
const INSERT_CHUNK_ROWS = 512;

/** The columns of a history row, in the order pushHistoryRow gives their values. */
const HISTORY_COLUMNS = [
  'id', 'session_id', 'user_label', 'remote_address', 'user_agent', 'connected_at',
  'disconnected_at', 'duration_ms', 'close_code', 'close_reason', 'messages', 'bytes_in',
] as const;

/** Append a record's row values, in HISTORY_COLUMNS order, to `values` (no row object per record). */
function pushHistoryRow(values: unknown[], r: SessionRecord): void {
  values.push(r.id, r.sessionId, r.user, r.remoteAddress, r.userAgent, r.connectedAt, r.disconnectedAt, r.durationMs, r.closeCode, r.closeReason, r.messages, r.bytesIn);
}

function toRow(record: SessionRecord): Insertable<ConnectionHistory> {
  const values: unknown[] = [];
  pushHistoryRow(values, record);
  return Object.fromEntries(HISTORY_COLUMNS.map((column, i) => [column, values[i]])) as unknown as Insertable<ConnectionHistory>;
}

function toRecord(row: Selectable<ConnectionHistory>): SessionRecord {
  return {
    id: row.id,
    sessionId: row.session_id,
    user: row.user_label,
    remoteAddress: row.remote_address,
    userAgent: row.user_agent,
    connectedAt: isoText(row.connected_at),
    disconnectedAt: isoText(row.disconnected_at),
    // PostgreSQL returns bigint as a string.
    durationMs: Number(row.duration_ms),
    closeCode: Number(row.close_code),
    closeReason: row.close_reason,
    messages: Number(row.messages),
    bytesIn: Number(row.bytes_in),
  };
}


/**
 * Insert ended sessions. A row already there is left alone, so a batch
 * retried after an ambiguous failure never fails on its own earlier write.
 */
export async function insertSessions(db: Db, records: readonly SessionRecord[]): Promise<void> {
  // Compiled once per chunk size and re-run (see reusable-queries.ts): this
  // runs with every disconnect batch.
  for (const chunk of powerOfTwoChunks(records, INSERT_CHUNK_ROWS)) {
    const parameters: unknown[] = [];
    for (const record of chunk) pushHistoryRow(parameters, record);
    await executeReusable(db, `insert connection_history ${chunk.length}`, parameters, () =>
      db.insertInto('connection_history').values(chunk.map(toRow)).onConflict((oc) => oc.column('id').doNothing()),
    );
  }
}

/** A page of sessions, newest first (by disconnection, then id). */
export async function listSessions(db: Db, query: HistoryQuery): Promise<SessionRecord[]> {
  let q = db.selectFrom('connection_history').selectAll();
  if (query.user !== undefined) q = q.where('user_label', '=', query.user);
  const before = query.before;
  if (before !== undefined) {
    // A row-value comparison, not `a < x or (a = x and b < y)`: both stores
    // then start the index scan at the cursor. With the OR, SQLite and
    // PostgreSQL read (and drop) every row newer than it, so a page cost
    // grew with its depth in the table.
    const { disconnectedAt, id } = before;
    q = id === undefined
      ? q.where('disconnected_at', '<', disconnectedAt)
      : q.where((eb) => eb(eb.refTuple('disconnected_at', 'id'), '<', eb.tuple(disconnectedAt, id)));
  }
  const rows = await q.orderBy('disconnected_at', 'desc').orderBy('id', 'desc').limit(query.limit).execute();
  return rows.map(toRecord);
}

/**
 * Delete sessions that ended before `cutoff` (ISO-8601), in batches so a
 * large backlog never holds the database for long. Returns how many went.
 * `stopped` is asked between batches: a backlog takes
 * seconds to minutes, and a shutdown must not wait for it (each batch
 * commits by itself, so the next run picks up where this one stopped).
 * On an SQLite file opened by openSqlite, the prune also waits now and
 * then for a WAL checkpoint on the worker thread (see HistoryPrune).
 */
export async function pruneSessions(db: Db, cutoff: string, stopped: () => boolean = () => false): Promise<number> {
  const checkpointer = walCheckpointer(db);
  let total = 0;
  let sinceCheckpoint = 0;
  let checkpointEvery: number = HistoryPrune.firstBatchesPerCheckpoint;
  for (;;) {
    const oldest = db
      .selectFrom('connection_history')
      .select('id')
      .where('disconnected_at', '<', cutoff)
      .orderBy('disconnected_at')
      .limit(HistoryPrune.batchRows);
    const result = await db.deleteFrom('connection_history').where('id', 'in', oldest).executeTakeFirst();
    const deleted = Number(result.numDeletedRows);
    total += deleted;
    if (deleted < HistoryPrune.batchRows) return total;
    // Sockets and timers run while we wait, either way.
    if (checkpointer !== undefined && ++sinceCheckpoint >= checkpointEvery) {
      // No batch runs while the worker checkpoints, so it catches up with
      // the whole WAL and the next commit starts the WAL over. What was in
      // it (our batches, and whatever else was written meanwhile) says how
      // many batches fit in the next HistoryPrune.walPages.
      const { log } = await checkpointer.checkpoint();
      // Other writes that landed during that one: a second, short round
      // copies them too, so the WAL is whole in the file when we write next.
      await checkpointer.checkpoint();
      if (log > 0) checkpointEvery = Math.max(1, Math.floor((HistoryPrune.walPages * sinceCheckpoint) / log));
      sinceCheckpoint = 0;
    } else {
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (stopped()) return total;
  }
}

export interface SessionStats {
  /** Sessions that ended at or after `since`. */
  ended: number;
  /** Ended sessions that also started at or after `since`. */
  startedAndEnded: number;
  /** Median duration of the sessions that ended since `since`; null when none did. */
  medianDurationMs: number | null;
  /** With `live`: rows in `users`, and those of them that started at or after `since`. */
  live?: { rows: number; started: number };
}

/**
 * Counts and the median session length over the sessions that ended since
 * `since`. `live`: count the `users` rows too, in the same statement, so
 * that a session ending meanwhile is counted once, as ended or as live
 * (a row leaves `users` in the commit that writes its history row).
 */
export async function sessionStats(db: Db, since: string, live = false): Promise<SessionStats> {
  // Both reads scan every session of the window (the median sorts them):
  // off the event loop on SQLite (database.ts, readOffLoop).
  const [counts] = await readOffLoop(
    db,
    db
      .selectFrom('connection_history')
      .select((eb) => [
        eb.fn.countAll<number | string>().as('ended'),
        eb.fn.sum<number | string | null>(sql`case when connected_at >= ${since} then 1 else 0 end`).as('started'),
      ])
      .$if(live, (q) =>
        q.select((eb) => [
          eb.selectFrom('users').select(eb.fn.countAll<number | string>().as('n')).as('live_rows'),
          eb.selectFrom('users').select(eb.fn.countAll<number | string>().as('n')).where('connected_at', '>=', since).as('live_started'),
        ]),
      )
      .where('disconnected_at', '>=', since),
  );
  const ended = Number(counts.ended);
  const liveCounts = live ? { live: { rows: Number(counts.live_rows), started: Number(counts.live_started) } } : {};
  if (ended === 0) return { ended: 0, startedAndEnded: 0, medianDurationMs: null, ...liveCounts };
  // The middle one or two durations, portable across dialects (no percentile functions).
  const middle = await readOffLoop(
    db,
    db
      .selectFrom('connection_history')
      .select('duration_ms')
      .where('disconnected_at', '>=', since)
      .orderBy('duration_ms')
      .limit(ended % 2 === 0 ? 2 : 1)
      .offset(Math.floor((ended - 1) / 2)),
  );
  const values = middle.map((r) => Number(r.duration_ms));
  const median = values.reduce((a, b) => a + b, 0) / values.length;
  return { ended, startedAndEnded: Number(counts.started ?? 0), medianDurationMs: median, ...liveCounts };
}

/**
 * History rows for connections whose end the tracker never saw: rows left
 * by a run that crashed (kill -9, power loss) or by a node declared dead.
 * Close code 1006 and reason "tracker lost"; the end time is when the loss
 * was found, and message counts died with the process, so they are 0.
 * Call it in the same transaction as the delete of those rows.
 */
export async function archiveLostUsers(db: Db, users: readonly User[], foundAt: Date = new Date()): Promise<void> {
  const endedMs = foundAt.getTime();
  await insertSessions(
    db,
    users.map((user) => ({
      id: user.id,
      sessionId: user.sessionId,
      user: user.metadata.user ?? null,
      remoteAddress: user.metadata.remoteAddress ?? '',
      userAgent: user.metadata.userAgent ?? '',
      connectedAt: user.connectedAt,
      disconnectedAt: foundAt.toISOString(),
      durationMs: Math.max(0, endedMs - Date.parse(user.connectedAt)),
      closeCode: RecordedCloseCode.ABNORMAL,
      closeReason: CloseReason.TRACKER_LOST,
      messages: 0,
      bytesIn: 0,
    })),
  );
}
