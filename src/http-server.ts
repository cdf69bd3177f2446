/**
 * The HTTP server Roster listens on, with the handshake limits applied in
 * one place so that the CLI and the tests run the same settings.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import { Defaults } from './constants.js';

/**
 * An http.Server whose request headers are bounded: larger than
 * `maxHeaderSize` bytes in all → Node answers 431 itself; more than
 * `maxHeadersCount` headers on an upgrade → the tracker answers 431.
 */
export function createHttpServer(listener?: RequestListener): Server {
  const server = createServer({ maxHeaderSize: Defaults.maxHeaderSize }, listener);
  // One more than the limit, so the upgrade handler can see and refuse an excess.
  server.maxHeadersCount = Defaults.maxHeadersCount + 1;
  server.headersTimeout = Defaults.headersTimeoutMs;
  server.requestTimeout = Defaults.requestTimeoutMs;
  return server;
}
