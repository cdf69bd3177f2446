/**
 * Where a client connection is created and where it ends. An accepted
 * socket becomes a LiveConnection in the live set, its row is queued for
 * the writer, and its messages count as activity.
 */
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import type { ClosingWebSocket } from './closing-websocket.js';
import { CloseCode, CloseReason, Defaults } from './constants.js';
import { protocolErrorCloseCode, UNKNOWN_END, type ConnectionEnd } from './connection-end.js';
import type { LiveConnection, LiveSet } from './live-set.js';
import type { Logger } from './logger.js';
import type { TrackerMetrics } from './metrics.js';
import { buildMetadata } from './metadata.js';
import type { RecordWriter } from './record-writer.js';
import type { RequestTarget } from './http-util.js';
import { isoTime } from './iso-time.js';
import { closeSlowConsumer } from './slow-consumer.js';
import { uuidV7 } from './uuid-v7.js';

export interface ClientContext {
  live: LiveSet;
  writer: RecordWriter;
  logger: Logger;
  maxMessagesPerSecond: number;
  /** True once shutdown has begun: it closes the sockets, then forgets the connections itself. */
  readonly stopping: boolean;
  metrics?: Pick<TrackerMetrics, 'connectionOpened' | 'connectionClosed' | 'messageReceived'>;
}

/** Text messages longer than this cannot be `{"type":"ping"}` and are not parsed. */
const MAX_CONTROL_MESSAGE_BYTES = 128;
const PONG = JSON.stringify({ type: 'pong' });

/** `ip` is the client's address, past any trusted proxy (client-address.ts). */
export function openClientConnection(ctx: ClientContext, socket: ClosingWebSocket, req: IncomingMessage, url: RequestTarget, ip: string): LiveConnection {
  const now = Date.now();
  const iso = isoTime(now);
  const conn: LiveConnection = {
    user: {
      // Time-ordered ids keep each batch's index writes on a page or two (uuid-v7.ts).
      id: uuidV7(now),
      sessionId: uuidV7(now),
      connectedAt: iso,
      lastActiveAt: iso,
      metadata: buildMetadata(req, url, ip),
    },
    socket,
    ip,
    connectedMs: now,
    lastActiveMs: now,
    protocolErrorCode: undefined,
    alive: true,
    touchQueued: false,
    welcomed: false,
    tokens: ctx.maxMessagesPerSecond,
    tokensAt: now,
    messages: 0,
    bytesIn: 0,
  };
  ctx.live.add(conn);
  ctx.writer.insert(conn);

  // The same listener functions for every client of this tracker; each
  // finds its connection on the socket. Nothing is allocated per message,
  // nor a closure per connection.
  const on = listenersFor(ctx);
  socket.connection = conn;
  socket.on('message', on.message);
  socket.on('pong', on.pong);
  socket.on('error', on.error);
  socket.onClosing = on.closing;
  socket.on('close', on.close);
  ctx.metrics?.connectionOpened();
  ctx.logger.debug({ sessionId: conn.user.sessionId, ip: conn.ip }, 'client connected');
  return conn;
}

/** ws types a listener's `this` as its own WebSocket; ours are all ClosingWebSockets. */
interface ClientListeners {
  message(this: WebSocket, data: RawData, isBinary: boolean): void;
  pong(this: WebSocket): void;
  error(this: WebSocket, error: Error): void;
  closing(this: ClosingWebSocket, code: number, reason: string): void;
  close(this: WebSocket, code: number, reason: Buffer): void;
}

function connectionOf(socket: WebSocket): LiveConnection {
  return (socket as ClosingWebSocket).connection!;
}

/** One set per tracker (keyed by its context, so two trackers never share one). */
const listenerSets = new WeakMap<ClientContext, ClientListeners>();

function listenersFor(ctx: ClientContext): ClientListeners {
  let listeners = listenerSets.get(ctx);
  if (listeners === undefined) listenerSets.set(ctx, (listeners = createListeners(ctx)));
  return listeners;
}

function createListeners(ctx: ClientContext): ClientListeners {
  return {
    message(data, isBinary) {
      onMessage(ctx, connectionOf(this), data, isBinary);
    },
    pong() {
      connectionOf(this).alive = true;
    },
    error(error) {
      // ws has already picked the close code (1002, 1007, 1009); 'close' follows.
      const conn = connectionOf(this);
      const errorCode = (error as { code?: string }).code;
      conn.protocolErrorCode = protocolErrorCloseCode(errorCode);
      ctx.logger.debug({ sessionId: conn.user.sessionId, code: errorCode }, 'client protocol error');
    },
    // The peer's close frame (or a protocol error): over now, though TCP is
    // not torn down yet (closing-websocket.ts). Shutdown forgets its own.
    closing(code, reason) {
      if (!ctx.stopping) closeClientConnection(ctx, connectionOf(this), { code, reason });
    },
    // The fallback, and the only signal for a dropped peer: the code ws
    // reports, the peer's or 1006 when the socket ended without a close frame.
    close(code, reason) {
      const conn = connectionOf(this);
      const sent = conn.protocolErrorCode;
      closeClientConnection(ctx, conn, sent === undefined ? { code, reason: reason.toString() } : { code: sent, reason: '' });
    },
  };
}

/**
 * Send the welcome once the row exists (or the writer has given up for
 * now), together with the held 101 response.
 */
export function sendWelcome(conn: LiveConnection): void {
  if (conn.welcomed) return;
  conn.welcomed = true;
  conn.socket.send(JSON.stringify({ type: 'welcome', id: conn.user.id, sessionId: conn.user.sessionId }));
  conn.socket.releaseHandshake();
}

/**
 * Forget a connection. Idempotent: kicks and shutdown call it before 'close'
 * fires, so the first caller's `end` (the code the server sent) is the one
 * recorded in history and metrics.
 */
export function closeClientConnection(ctx: ClientContext, conn: LiveConnection, end: ConnectionEnd = UNKNOWN_END): void {
  if (ctx.live.delete(conn.user.sessionId) === undefined) return;
  ctx.writer.remove(conn, end);
  ctx.metrics?.connectionClosed(end.code);
  // The reason is client text: it goes to history, not to the logs.
  ctx.logger.debug({ sessionId: conn.user.sessionId, code: end.code, messages: conn.messages }, 'client disconnected');
}

function onMessage(ctx: ClientContext, conn: LiveConnection, data: RawData, isBinary: boolean): void {
  // ws still delivers frames that arrive after the server has closed the
  // socket (a kick, a rate limit, shutdown); the connection is over by then.
  if (conn.socket.readyState !== conn.socket.OPEN) return;
  const now = Date.now();
  if (!takeToken(conn, ctx.maxMessagesPerSecond, now)) {
    conn.socket.close(CloseCode.POLICY_VIOLATION, CloseReason.RATE_LIMITED);
    closeClientConnection(ctx, conn, { code: CloseCode.POLICY_VIOLATION, reason: CloseReason.RATE_LIMITED });
    return;
  }
  conn.lastActiveMs = now;
  conn.messages++;
  ctx.metrics?.messageReceived();
  const size = Buffer.isBuffer(data) ? data.length : data instanceof ArrayBuffer ? data.byteLength : byteLength(data);
  conn.bytesIn += size;
  ctx.writer.touch(conn);
  if (!isBinary && size <= MAX_CONTROL_MESSAGE_BYTES && isPing(data)) {
    // Each ping costs us a pong: one that never reads them would grow this
    // socket's send buffer without end, so past a small cap it goes.
    if (conn.socket.bufferedAmount > Defaults.clientMaxBufferedBytes) {
      closeSlowConsumer(conn.socket);
      closeClientConnection(ctx, conn, { code: CloseCode.TRY_AGAIN_LATER, reason: CloseReason.SLOW_CONSUMER });
      return;
    }
    conn.socket.send(PONG);
  }
}

function byteLength(chunks: Buffer[]): number {
  let n = 0;
  for (const chunk of chunks) n += chunk.length;
  return n;
}

function isPing(data: RawData): boolean {
  try {
    const message = JSON.parse(data.toString());
    return message !== null && typeof message === 'object' && message.type === 'ping';
  } catch {
    return false; // not JSON: still activity, otherwise ignored
  }
}

/**
 * Token bucket: refills at `rate` per second up to one second's worth.
 * `now` is the wall clock (it also stamps activity); when it steps back
 * (NTP) nothing refills, rather than a negative refill closing the client.
 */
function takeToken(conn: LiveConnection, rate: number, now: number): boolean {
  const refill = (Math.max(0, now - conn.tokensAt) * rate) / 1000;
  conn.tokens = Math.min(rate, conn.tokens + refill);
  conn.tokensAt = now;
  if (conn.tokens < 1) return false;
  conn.tokens -= 1;
  return true;
}
