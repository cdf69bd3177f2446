/**
 * An upgrade request that no listener takes, served as the plain HTTP
 * request it also is. Node emits 'upgrade' for any `Upgrade` header once
 * one listener exists (nodejs/node#57054), and an attached tracker is one:
 * `curl --http2` and Java's HttpClient send `Upgrade: h2c` with plain
 * requests, which then reached no route (`/health` answered 404). RFC 9110
 * §7.8 lets a server ignore Upgrade, and Node does when no one listens.
 */
import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { rejectUpgrade, sendError } from './http-util.js';

export function serveIgnoringUpgrade(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  // Node's parser stopped at the headers, so a body would reach no one; an
  // app that read an empty body where one was sent would be worse off than
  // with a refusal.
  if (hasBody(req) || head.length > 0) {
    rejectUpgrade(socket, 400, 'a request with a body cannot ask for Upgrade here; send it without', {}, req.method);
    return;
  }
  const res = new ServerResponse(req);
  // One response, then close: this connection's parser is gone.
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.on('finish', () => {
    res.detachSocket(socket as Socket);
    (socket as Socket).destroySoon();
  });
  if (!server.emit('request', req, res)) sendError(res, 404, 'not found');
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
