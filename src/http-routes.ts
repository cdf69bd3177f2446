/**
 * The tracker's plain HTTP endpoints. `handleRequest` answers the paths it
 * owns and returns false for the rest, so a host app can mount it beside
 * its own routes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sql } from 'kysely';
import { parseActiveUsersCursor } from './active-users-cursor.js';
import { bearerToken, tokensEqual, type AuthThrottle } from './auth.js';
import { ActiveUsersLimits, Allow, Defaults, Paths } from './constants.js';
import type { TrackerContext } from './context.js';
import { dashboardFile, serveDashboardFile } from './dashboard-files.js';
import { parseTarget, retryAfter, sendError, sendJson, sendJsonText, type RequestTarget } from './http-util.js';
import { serveHistory, serveHistoryStats, serveMetrics } from './observability-routes.js';
import { readActiveUsersPage } from './repository.js';
import { withinMs } from './time-limit.js';
import { activeUsersEnvelope, usersJson } from './user-json.js';
import { VERSION } from './version.js';

export function handleRequest(ctx: TrackerContext, req: IncomingMessage, res: ServerResponse): boolean {
  const url = parseTarget(req.url);
  if (url === undefined) return false;
  const path = url.pathname;
  if (path === Paths.HEALTH) {
    if (allowMethod(req, res)) void health(ctx, res);
  } else if (path === Paths.ACTIVE_USERS) {
    if (allowMethod(req, res) && authorized(ctx, req, res, path)) void activeUsers(ctx, url, res);
  } else if (path === Paths.METRICS) {
    // Open unless METRICS_TOKEN is set; the admin token is not accepted here.
    const token = ctx.options.metricsToken;
    const secret = token === undefined ? undefined : { name: 'metrics', token, throttle: ctx.metricsThrottle } as const;
    if (allowMethod(req, res) && (secret === undefined || authorized(ctx, req, res, path, secret))) void serveMetrics(ctx, res);
  } else if (path === Paths.HISTORY) {
    if (allowMethod(req, res) && authorized(ctx, req, res, path)) void serveHistory(ctx, url, res);
  } else if (path === Paths.HISTORY_STATS) {
    if (allowMethod(req, res) && authorized(ctx, req, res, path)) void serveHistoryStats(ctx, res);
  } else if (path === Paths.CLIENT || path === Paths.ADMIN_STREAM) {
    // A sender of Upgrade must list it in Connection (RFC 9110 7.8); any
    // `Connection` of ours replaces Node's own, which would otherwise close
    // for a client that asked to (or spoke HTTP/1.0). So close always: a 426
    // ends what this client can do on this connection anyway.
    if (allowMethod(req, res)) sendError(res, 426, 'this endpoint speaks WebSocket', { upgrade: 'websocket', connection: 'Upgrade, close' });
  } else if (path === Paths.DASHBOARD || path.startsWith(Paths.DASHBOARD + '/')) {
    // The file first: any other path under /admin, whatever its method,
    // may be the host app's own route (POST /admin/settings).
    const file = dashboardFile(ctx.dashboard, path.slice(Paths.DASHBOARD.length));
    if (file === undefined) return false;
    if (allowMethod(req, res)) serveDashboardFile(file, req, res);
  } else {
    return false;
  }
  return true;
}

function allowMethod(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  sendError(res, 405, 'method not allowed', { allow: Allow.READ });
  return false;
}

/**
 * A bearer secret with its own failure count. Each secret is throttled
 * apart: the metrics token is a lesser secret handed to scrapers, and its
 * success must not reset the admin token's count (nor its failures lock
 * admins out).
 */
interface Secret {
  name: 'admin' | 'metrics';
  token: string;
  throttle: AuthThrottle;
}

function adminSecret(ctx: TrackerContext): Secret {
  return { name: 'admin', token: ctx.options.adminToken, throttle: ctx.throttle };
}

/**
 * Bearer check for HTTP; the admin token has the same lockout as the admin
 * stream. `path` is the route matched (one of Paths), which is what a
 * failure logs: the raw target is the client's text, with whatever it
 * carries after the path (a `#fragment`, dot segments) and up to Node's
 * header limit in length.
 */
function authorized(ctx: TrackerContext, req: IncomingMessage, res: ServerResponse, path: string, secret = adminSecret(ctx)): boolean {
  const ip = ctx.clientAddress(req);
  const lockedForMs = secret.throttle.lockedForMs(ip);
  if (lockedForMs > 0) {
    sendError(res, 429, 'too many failed authentications; try later', retryAfter(lockedForMs));
    return false;
  }
  const token = bearerToken(req);
  if (token !== undefined && tokensEqual(secret.token, token)) {
    secret.throttle.succeed(ip);
    return true;
  }
  secret.throttle.fail(ip);
  ctx.logger.warn({ ip, path }, `${secret.name} authentication failed`);
  sendError(res, 401, 'missing or invalid bearer token', { 'www-authenticate': 'Bearer' });
  return false;
}

async function health(ctx: TrackerContext, res: ServerResponse): Promise<void> {
  const base = {
    connections: ctx.live.size,
    admins: ctx.admins.audienceSize,
    version: VERSION,
    uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
  };
  try {
    // A load balancer polls this: a database that has stopped answering
    // must show up as a 503, not as a request that never ends.
    await withinMs(sql`select 1`.execute(ctx.db), Defaults.healthCheckTimeoutMs, 'database check timed out');
  } catch (error) {
    sendJson(res, 503, { status: 'unhealthy', database: 'unreachable', reason: describe(error), ...base });
    return;
  }
  // The file deleted or replaced under us: writes still succeed, into a
  // file no one will see again. Only a restart on the path helps.
  const fileProblem = ctx.databaseFileProblem?.();
  if (fileProblem !== undefined) {
    sendJson(res, 503, { status: 'unhealthy', database: 'file missing', reason: fileProblem, ...base });
    return;
  }
  // Several nodes: the change listener's state, which admins here depend on.
  const listening = ctx.eventsListening?.();
  const events = listening === undefined ? {} : { events: listening ? 'listening' : 'reconnecting' };
  const reason = ctx.writer.degradedReason;
  if (reason !== undefined) {
    sendJson(res, 503, { status: 'degraded', database: 'failing', reason, ...events, ...base });
  } else if (listening === false) {
    sendJson(res, 503, { status: 'degraded', database: 'connected', reason: 'change listener reconnecting', ...events, ...base });
  } else {
    sendJson(res, 200, { status: 'healthy', database: 'connected', ...events, ...base });
  }
}

async function activeUsers(ctx: TrackerContext, url: RequestTarget, res: ServerResponse): Promise<void> {
  const limit = intParam(url, 'limit', ActiveUsersLimits.defaultPage, 1, ActiveUsersLimits.maxPage);
  const offset = intParam(url, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  if (limit === undefined || offset === undefined) {
    sendError(res, 400, `limit must be 1..${ActiveUsersLimits.maxPage} and offset a whole number`);
    return;
  }
  const beforeText = url.searchParams.get('before');
  const before = beforeText === null ? undefined : parseActiveUsersCursor(beforeText);
  if (before === null) {
    sendError(res, 400, 'before must be a cursor from `next`');
    return;
  }
  // The cursor is the stable way to page; an offset counted from it would
  // shift with churn again, so the two are not combined.
  if (before !== undefined && url.searchParams.has('offset')) {
    sendError(res, 400, 'before and offset cannot be used together');
    return;
  }
  const page = before === undefined ? { offset, limit } : { offset, limit, before };
  // From memory when it can be: one node's committed view, or the cluster view after a barrier.
  const body = await ctx.activeUsersBody(page);
  if (body !== undefined) {
    sendJsonText(res, 200, body);
    return;
  }
  try {
    const { count, users, next } = await readActiveUsersPage(ctx.db, page);
    const { before: opening, after } = activeUsersEnvelope(count);
    sendJsonText(res, 200, opening + usersJson(users) + after(next));
  } catch (error) {
    ctx.logger.error({ err: error }, 'active-users query failed');
    sendError(res, 503, 'database unavailable');
  }
}

function intParam(url: RequestTarget, name: string, fallback: number, min: number, max: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  if (!/^\d{1,16}$/.test(raw)) return undefined;
  const n = Number(raw);
  return n >= min && n <= max ? n : undefined;
}

function describe(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown };
  return typeof e?.code === 'string' ? e.code : String(e?.message ?? error);
}
