/** Start real trackers on port 0 over SQLite files in temp dirs. */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpServer } from '../../src/http-server.js';
import { createTracker, type Tracker } from '../../src/tracker.js';
import type { TrackerOptions } from '../../src/tracker-options.js';

export const TOKEN = 'test-admin-token-0123456789';

export interface TestTracker {
  tracker: Tracker;
  server: Server;
  port: number;
  dir: string;
  databasePath: string;
  /** ws://127.0.0.1:port + path */
  wsUrl(path: string): string;
  httpUrl(path: string): string;
  /** Stop the tracker and server, remove the temp dir. Safe to call twice. */
  close(): Promise<void>;
}

export function tempDir(prefix = 'roster-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * `dir`: keep the database there (not removed on close). `port`: listen on
 * this port instead of a free one, e.g. to restart a tracker in place.
 */
export async function startTracker(options: Partial<TrackerOptions> & { dir?: string; port?: number } = {}): Promise<TestTracker> {
  const dir = options.dir ?? tempDir();
  const databasePath = options.databasePath ?? join(dir, 'roster.db');
  // The CLI's server factory, so tests run the real handshake limits.
  const server = createHttpServer((req, res) => {
    if (!tracker.handleRequest(req, res)) {
      res.statusCode = 404;
      res.end();
    }
  });
  const { dir: _dir, port: fixedPort = 0, ...rest } = options;
  const tracker = createTracker({
    adminToken: TOKEN,
    touchFlushMs: 50,
    ...rest,
    server,
    ...(options.db || options.databaseUrl ? {} : { databasePath }),
  });
  await tracker.start();
  await new Promise<void>((resolve) => server.listen(fixedPort, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  return {
    tracker,
    server,
    port,
    dir,
    databasePath,
    wsUrl: (path) => `ws://127.0.0.1:${port}${path}`,
    httpUrl: (path) => `http://127.0.0.1:${port}${path}`,
    async close() {
      if (closed) return;
      closed = true;
      await tracker.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
