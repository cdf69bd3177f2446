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

await runBenchServer(async (server) => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-bench-'));
  const tracker = createTracker({
    server,
    databasePath: join(dir, 'roster.db'),
    adminToken: BENCH_TOKEN,
    maxConnections: 10_000_000,
    maxConnectionsPerIp: 10_000_000,
    maxMessagesPerSecond: 1_000_000,
    maxAdmins: 1000,
    ...options,
  });
  await tracker.start();
  const rows = new DrainWatch();
  // Events come after the commit: `disconnected` means the row is gone.
  tracker.on('connected', () => rows.up());
  tracker.on('disconnected', () => rows.down());
  return {
    handlers: {
      armDrain: () => rows.arm(),
      waitDrain: () => rows.wait(),
      rows: () => countActiveUsers(tracker.db),
      held: () => ({ live: tracker.connections, rows: rows.held }),
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
