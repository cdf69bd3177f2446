/** Small helpers for answering plain HTTP requests and refused upgrades. */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/** Send a body that is already JSON text. */
export function sendJsonText(res: ServerResponse, status: number, payload: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(payload);
}

export function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: message }, headers);
}

/** `Retry-After` for a 429 during a lockout: the whole seconds left, at least 1. */
export function retryAfter(lockedForMs: number): Record<string, string> {
  return { 'Retry-After': String(Math.max(1, Math.ceil(lockedForMs / 1000))) };
}

/**
 * Refuse a WebSocket upgrade with a plain HTTP status, before any
 * WebSocket frame is exchanged, and close the TCP socket. `method` is the
 * request's: a HEAD gets the headers only.
 */
export function rejectUpgrade(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}, method = 'GET'): void {
  // Node has removed its own error listener from an upgraded socket: a
  // peer's reset would otherwise be an uncaught exception.
  socket.on('error', () => socket.destroy());
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: message });
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    // As every JSON answer: a refusal (a lockout's 429, say) is not to be reused.
    'Cache-Control: no-store',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  // A response to HEAD has no body (RFC 9110 §9.3.2): its Content-Length
  // is the GET's, and a client reading a body would misparse what follows.
  socket.end(lines.join('\r\n') + '\r\n\r\n' + (method === 'HEAD' ? '' : body));
  // end() flushes first; destroy later in case the peer never reads.
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** The parts of a request target the tracker reads. */
export type RequestTarget = Pick<URL, 'pathname' | 'search' | 'searchParams'>;

/**
 * A path of these characters only, with no query, is its own WHATWG
 * pathname: no dot segments, nothing to percent-encode, no backslash.
 */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_~-]+)+\/?$/;

/** A plain path (see PLAIN_PATH) as a RequestTarget, without running the URL parser. */
class PlainPath implements RequestTarget {
  readonly search = '';
  #params: URLSearchParams | undefined;

  constructor(readonly pathname: string) {}

  get searchParams(): URLSearchParams {
    return (this.#params ??= new URLSearchParams());
  }
}

/**
 * Parse the request target; undefined for anything that is not a path.
 * Every client's upgrade comes through here, and most are a plain path
 * such as `/ws`: those skip the URL parser, the rest get its exact rules.
 */
export function parseTarget(url: string | undefined): RequestTarget | undefined {
  if (url === undefined || !url.startsWith('/') || url.startsWith('//')) return undefined;
  if (PLAIN_PATH.test(url)) return new PlainPath(url);
  try {
    return new URL(url, 'http://localhost');
  } catch {
    return undefined;
  }
}
