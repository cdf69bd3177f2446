/**
 * GET /metrics, GET /history and GET /history/stats. http-routes.ts routes
 * here after checking the method and the bearer token.
 */
import type { ServerResponse } from 'node:http';
import { HistoryLimits } from './constants.js';
import { decodeKeyCursor, encodeKeyCursor } from './key-cursor.js';
import type { TrackerContext } from './context.js';
import { listSessions, sessionStats, type HistoryCursor } from './history-repository.js';
import { sendError, sendJson, type RequestTarget } from './http-util.js';
import { storableText } from './storable-text.js';

export async function serveMetrics(ctx: TrackerContext, res: ServerResponse): Promise<void> {
  try {
    const body = await ctx.metrics.render();
    res.writeHead(200, { 'content-type': ctx.metrics.contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  } catch (error) {
    ctx.logger.error({ err: error }, 'metrics collection failed');
    sendError(res, 500, 'metrics unavailable');
  }
}

/** `?limit=&before=&user=` → `{"sessions":[…],"next":cursor|null}`, newest first. */
export async function serveHistory(ctx: TrackerContext, url: RequestTarget, res: ServerResponse): Promise<void> {
  const params = url.searchParams;
  const limitText = params.get('limit');
  const limit = limitText === null ? HistoryLimits.defaultPage : /^\d{1,7}$/.test(limitText) ? Number(limitText) : NaN;
  if (!(limit >= 1 && limit <= HistoryLimits.maxPage)) {
    sendError(res, 400, `limit must be 1..${HistoryLimits.maxPage}`);
    return;
  }
  const beforeText = params.get('before');
  const before = beforeText === null ? undefined : parseCursor(beforeText);
  if (before === null) {
    sendError(res, 400, 'before must be a cursor from `next` or an ISO-8601 time');
    return;
  }
  const userText = params.get('user');
  // Stored labels had their NULs replaced (storable-text.ts); so does the filter.
  const user = userText === null ? undefined : storableText(userText);
  if (user !== undefined && (user === '' || user.length > HistoryLimits.maxUserLength)) {
    sendError(res, 400, `user must be 1..${HistoryLimits.maxUserLength} characters`);
    return;
  }
  try {
    const sessions = await listSessions(ctx.db, { limit, before, user });
    const last = sessions.at(-1);
    const next = sessions.length === limit && last ? encodeCursor({ disconnectedAt: last.disconnectedAt, id: last.id }) : null;
    sendJson(res, 200, { sessions, next });
  } catch (error) {
    ctx.logger.error({ err: error }, 'history query failed');
    sendError(res, 503, 'database unavailable');
  }
}

/** What GET /history/stats answers. */
export interface HistoryStatsBody {
  since: string;
  windowSeconds: number;
  /** Sessions that ended in the window (from history). */
  ended: number;
  /** Sessions that started in the window: ended ones plus those still live. */
  started: number;
  live: number;
  medianDurationMs: number | null;
}

/** Concurrent requests share one read (ctx.historyStats, coalesce.ts). */
export async function serveHistoryStats(ctx: TrackerContext, res: ServerResponse): Promise<void> {
  try {
    sendJson(res, 200, await ctx.historyStats());
  } catch (error) {
    ctx.logger.error({ err: error }, 'history stats query failed');
    sendError(res, 503, 'database unavailable');
  }
}

/**
 * Session counts and the median session length over the last hour. History
 * is the whole cluster's; so must the live counts be: with several nodes
 * they come from the shared `users` table, not this node's live set.
 */
export async function readHistoryStats(ctx: TrackerContext): Promise<HistoryStatsBody> {
  const now = Date.now();
  const since = new Date(now - HistoryLimits.statsWindowMs).toISOString();
  const severalNodes = ctx.eventsListening !== undefined;
  let liveStarted = 0;
  if (!severalNodes) for (const conn of ctx.live.values()) if (conn.user.connectedAt >= since) liveStarted++;
  const stats = await sessionStats(ctx.db, since, severalNodes);
  if (stats.live !== undefined) liveStarted = stats.live.started;
  return {
    since,
    windowSeconds: HistoryLimits.statsWindowMs / 1000,
    ended: stats.ended,
    started: stats.startedAndEnded + liveStarted,
    live: stats.live?.rows ?? ctx.live.size,
    medianDurationMs: stats.medianDurationMs,
  };
}

export function encodeCursor(cursor: Required<HistoryCursor>): string {
  return encodeKeyCursor(cursor.disconnectedAt, cursor.id);
}

/** A cursor from `next`, or a plain ISO-8601 time; null when it is neither. */
export function parseCursor(text: string): HistoryCursor | undefined | null {
  if (text.length > 200) return null;
  const time = isoTime(text);
  if (time !== undefined) return { disconnectedAt: time };
  const key = decodeKeyCursor(text);
  if (key === null) return null;
  const disconnectedAt = isoTime(key.time);
  return disconnectedAt === undefined ? null : { disconnectedAt, id: key.id };
}

/**
 * Normalised to the stored form (toISOString), so text comparison orders
 * correctly on SQLite. Years 0001-9999 only: an offset can push a time
 * past them, where toISOString writes "+010000-…" (which sorts before
 * every stored time on SQLite) and PostgreSQL refuses the value (as it
 * does year 0000).
 */
function isoTime(text: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) return undefined;
  const iso = new Date(ms).toISOString();
  return /^(?!0000)\d{4}-/.test(iso) ? iso : undefined;
}
