/**
 * Admission at the WebSocket upgrade: routing by path, Origin, limits and
 * admin authentication. A refused upgrade gets a plain HTTP status and no
 * socket, so nothing is written for it.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { bearerToken, tokensEqual } from './auth.js';
import { openClientConnection } from './client-connection.js';
import type { ClosingWebSocket } from './closing-websocket.js';
import { Allow, Defaults, Paths } from './constants.js';
import type { TrackerContext } from './context.js';
import { parseTarget, rejectUpgrade, retryAfter, type RequestTarget } from './http-util.js';

/** Returns false when the path is not the tracker's, leaving it to the host app. */
export function handleUpgrade(ctx: TrackerContext, req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
  const url = parseTarget(req.url);
  const path = url?.pathname;
  if (path !== Paths.CLIENT && path !== Paths.ADMIN_STREAM) return false;
  socket.on('error', () => socket.destroy());
  if (req.method !== 'GET') {
    // Refused here like every other upgrade: ws would answer 405 in HTML, without Allow.
    rejectUpgrade(socket, 405, 'method not allowed', { Allow: Allow.UPGRADE }, req.method);
  } else if (ctx.stopping) {
    rejectUpgrade(socket, 503, 'server shutting down');
  } else if (req.rawHeaders.length / 2 > Defaults.maxHeadersCount) {
    rejectUpgrade(socket, 431, 'too many request headers');
  } else if (path === Paths.CLIENT) {
    admitClient(ctx, req, socket, head, url!);
  } else {
    admitAdmin(ctx, req, socket, head, url!);
  }
  return true;
}

function admitClient(ctx: TrackerContext, req: IncomingMessage, socket: Duplex, head: Buffer, url: RequestTarget): void {
  const { allowedOrigins, maxConnections, maxConnectionsPerIp } = ctx.options;
  const ip = ctx.clientAddress(req);
  if (allowedOrigins !== undefined && !allowedOrigins.has(req.headers.origin ?? '')) {
    rejectUpgrade(socket, 403, 'origin not allowed');
  } else if (ctx.live.size >= maxConnections) {
    rejectUpgrade(socket, 503, 'server at connection limit');
  } else if (ctx.live.countForIp(ip) >= maxConnectionsPerIp) {
    rejectUpgrade(socket, 429, 'too many connections from this address');
  } else {
    // The 101 waits in Node's buffer for the welcome (ClosingWebSocket.holdHandshake).
    socket.cork();
    // The server's WebSocket class is ClosingWebSocket (tracker.ts).
    ctx.wss.handleUpgrade(req, socket, head, (ws) => {
      (ws as ClosingWebSocket).holdHandshake(socket);
      openClientConnection(ctx, ws as ClosingWebSocket, req, url, ip);
    });
  }
}

function admitAdmin(ctx: TrackerContext, req: IncomingMessage, socket: Duplex, head: Buffer, url: RequestTarget): void {
  const ip = ctx.clientAddress(req);
  const lockedForMs = ctx.throttle.lockedForMs(ip);
  if (lockedForMs > 0) {
    rejectUpgrade(socket, 429, 'too many failed authentications; try later', retryAfter(lockedForMs));
    return;
  }
  if (url.searchParams.has('token') || url.searchParams.has('access_token')) {
    // URLs end up in logs and browser history; tokens never belong there.
    rejectUpgrade(socket, 400, 'tokens are not accepted in the URL');
    return;
  }
  const token = bearerToken(req);
  const hasHeader = req.headers.authorization !== undefined;
  if (hasHeader && (token === undefined || !tokensEqual(ctx.options.adminToken, token))) {
    ctx.throttle.fail(ip);
    ctx.logger.warn({ ip }, 'admin authentication failed');
    rejectUpgrade(socket, 401, 'invalid admin token', { 'WWW-Authenticate': 'Bearer' });
    return;
  }
  // Only authenticated admins count: sockets waiting for a token must not
  // keep a valid admin out (AdminChannel.makeRoomToWait).
  if (ctx.admins.full) {
    rejectUpgrade(socket, 503, 'too many admin connections');
    return;
  }
  if (!hasHeader && ctx.admins.pendingFrom(ip) >= Defaults.maxPendingAdminsPerIp) {
    // A socket without a header holds its place until it authenticates or times out.
    rejectUpgrade(socket, 429, 'too many unauthenticated admin sockets from this address');
    return;
  }
  ctx.wss.handleUpgrade(req, socket, head, (ws) => {
    if (!hasHeader) ctx.admins.makeRoomToWait();
    ctx.admins.accept(ws, ip, hasHeader);
  });
}
