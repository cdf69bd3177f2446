/**
 * The record writer's batch on PostgreSQL in one statement, with the
 * change notification for other nodes folded in.
 *
 * Why: `pg` sends one query at a time and waits for its answer, so the
 * portable sequence (BEGIN, INSERT users, UPDATE, DELETE, pg_notify,
 * INSERT history, COMMIT) costs five to seven round trips per commit, and
 * every connect waits for them (the connect storm ran at 0.64 of bare `ws`
 * on PostgreSQL, mostly idle cores). As one statement the batch is one
 * round trip, and still atomic: a single statement outside a transaction
 * block commits or fails as a whole.
 *
 * How: every column travels as one array parameter and `unnest` turns the
 * arrays back into rows, so the SQL text is the same for every batch size,
 * there is nothing to compile per batch, and no parameter limit applies.
 * Each kind of write is a data-modifying CTE. Those all run against the
 * same snapshot and none sees another's rows, which is why the batch must
 * not hold a session twice (see WriteBatch):
 * a DELETE would miss a row inserted beside it, and for an UPDATE and a
 * DELETE of one row PostgreSQL does not say which one wins. The filters on
 * `gone` make a departed session's row end deleted even if a caller breaks
 * the rule. (PostgreSQL 15 happens to run the DELETE first, so a departed
 * row ends deleted without the UPDATE's filter too, and no test can show
 * that filter at work; it stays because the documentation promises no order.)
 *
 * The NOTIFY is the final SELECT, as in pg-events.ts: one notification per
 * payload chunk, tagged with the transaction id and the chunk's ordinal.
 */
import { CompiledQuery } from 'kysely';
import type { WriteBatch } from './batch-write.js';
import type { Database } from './database.js';
import type { NamedStatement } from './pg-named-statements.js';
import { metadataJson } from './user-json.js';

const BATCH_SQL = `with
  gone as (select unnest($9::text[]) as session_id),
  inserted as (
    insert into users (id, node_id, session_id, connected_at, last_active_at, metadata)
    select u.id, $1, u.session_id, u.connected_at, u.last_active_at, u.metadata::jsonb
    from unnest($2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[])
      as u(id, session_id, connected_at, last_active_at, metadata)
    where u.session_id not in (select session_id from gone)
  ),
  touched as (
    update users set last_active_at = t.last_active_at
    from unnest($7::text[], $8::timestamptz[]) as t(session_id, last_active_at)
    where users.session_id = t.session_id and t.session_id not in (select session_id from gone)
  ),
  deleted as (
    delete from users where session_id in (select session_id from gone)
  ),
  archived as (
    insert into connection_history (id, session_id, user_label, remote_address, user_agent, connected_at,
      disconnected_at, duration_ms, close_code, close_reason, messages, bytes_in)
    select * from unnest($10::uuid[], $11::text[], $12::text[], $13::text[], $14::text[], $15::timestamptz[],
      $16::timestamptz[], $17::bigint[], $18::integer[], $19::text[], $20::bigint[], $21::bigint[])
    on conflict (id) do nothing
  )
select pg_notify($22, pg_current_xact_id()::text || ':' || p.i || ':' || p.payload)
from unnest($23::text[]) with ordinality as p(payload, i)`;

/** Run by name, so each connection parses and plans it once (pg-named-statements.ts). */
export const WRITE_BATCH_STATEMENT: NamedStatement = { name: 'roster_write_batch', text: BATCH_SQL };

/**
 * Write `batch` for node `nodeId` in one statement, and NOTIFY `channel`
 * with each of `notifications` (pg-events.ts encodeChange) in the same
 * transaction. Outside a transaction block it is its own transaction.
 */
export async function writeBatchInOneStatement(
  db: Database,
  batch: WriteBatch,
  nodeId: string,
  channel: string,
  notifications: readonly string[],
): Promise<void> {
  const { connected, activity, ended } = batch;
  const parameters: unknown[] = [
    nodeId,
    connected.map((u) => u.id),
    connected.map((u) => u.sessionId),
    connected.map((u) => u.connectedAt),
    connected.map((u) => u.lastActiveAt),
    connected.map(metadataJson),
    activity.map((t) => t.sessionId),
    activity.map((t) => t.lastActiveAt),
    batch.disconnected,
    ended.map((r) => r.id),
    ended.map((r) => r.sessionId),
    ended.map((r) => r.user),
    ended.map((r) => r.remoteAddress),
    ended.map((r) => r.userAgent),
    ended.map((r) => r.connectedAt),
    ended.map((r) => r.disconnectedAt),
    ended.map((r) => r.durationMs),
    ended.map((r) => r.closeCode),
    ended.map((r) => r.closeReason),
    ended.map((r) => r.messages),
    ended.map((r) => r.bytesIn),
    channel,
    notifications,
  ];
  await db.executeQuery(CompiledQuery.raw(WRITE_BATCH_STATEMENT.text, parameters));
}
