/**
 * The tracker under test: the same composition as the CLI (an HTTP server
 * plus createTracker over an SQLite file), with limits raised for the load
 * and a silent logger. Forked by bench/run.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countActiveUsers } from '../src/repository.js';
import { createTracker } from '../src/tracker.js';
import { BENCH_TOKEN, DrainWatch, runBenchServer } from './lib/server-common.js';

const options = JSON.parse(process.argv[2] ?? '{}') as { touchFlushMs?: number };

/**
 * Counts commits by the events they produce: the events of one commit are
 * emitted synchronously together, so a new microtask turn means a new batch.
 */
class BatchCounter {
  #events: Record<string, number> = {};
  #batches: Record<string, number> = {};
  #open = new Set<string>();

  count(kind: string): void {
    this.#events[kind] = (this.#events[kind] ?? 0) + 1;
    if (this.#open.has(kind)) return;
    this.#open.add(kind);
    this.#batches[kind] = (this.#batches[kind] ?? 0) + 1;
    queueMicrotask(() => this.#open.delete(kind));
  }

  /** Events and commits per kind since the last call. */
  take(): Record<string, { events: number; commits: number }> {
    const out: Record<string, { events: number; commits: number }> = {};
    for (const kind of Object.keys(this.#events)) out[kind] = { events: this.#events[kind]!, commits: this.#batches[kind]! };
    this.#events = {};
    this.#batches = {};
    return out;
  }
}

await runBenchServer(async (server) => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-bench-'));
  const tracker = createTracker({
    server,
    // BENCH_DATABASE_URL=postgres://… runs the same scenarios on PostgreSQL.
    ...(process.env.BENCH_DATABASE_URL ? { databaseUrl: process.env.BENCH_DATABASE_URL } : { databasePath: join(dir, 'roster.db') }),
    adminToken: BENCH_TOKEN,
    maxConnections: 10_000_000,
    maxConnectionsPerIp: 10_000_000,
    maxMessagesPerSecond: 1_000_000,
    maxAdmins: 1000,
    ...options,
  });
  await tracker.start();
  const rows = new DrainWatch();
  // The disconnect storm ends when the rows are gone and the sockets are
  // too: the tracker forgets a client at its close frame (before TCP is
  // torn down), and bare ws counts its 'close' events, at TCP close.
  const sockets = new DrainWatch();
  server.on('connection', (socket) => {
    sockets.up();
    socket.once('close', () => sockets.down());
  });
  const batches = new BatchCounter();
  // Events come after the commit: `disconnected` means the row is gone.
  tracker.on('connected', () => {
    rows.up();
    batches.count('connected');
  });
  tracker.on('disconnected', () => {
    rows.down();
    batches.count('disconnected');
  });
  return {
    handlers: {
      armDrain: () => {
        sockets.arm();
        return rows.arm();
      },
      rowsGoneAt: () => rows.wait(),
      socketsGoneAt: () => sockets.wait(),
      waitDrain: async () => Math.max(...(await Promise.all([rows.wait(), sockets.wait()]))),
      rows: () => countActiveUsers(tracker.db),
      held: () => ({ live: tracker.connections, rows: rows.held }),
      batches: () => batches.take(),
    },
    onRequest(req, res) {
      if (!tracker.handleRequest(req, res)) {
        res.statusCode = 404;
        res.end();
      }
    },
    async onStop() {
      await tracker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
