/**
 * What running the writer's batch statement by name saves on PostgreSQL
 * (src/pg-named-statements.ts): the same batches, one at a time on one
 * connection, sent unnamed (parsed and planned every time) and named
 * (parsed once), alternating. Each batch inserts `rows` new rows and
 * deletes the previous batch's, as a connect and disconnect storm would.
 * Run with `node dist/bench/micro-pg-prepared.js [rows]`; starts its own
 * PostgreSQL server.
 */
import { randomUUID } from 'node:crypto';
import { WRITE_BATCH_STATEMENT } from '../src/postgres-batch.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { migratedClient } from './lib/postgres-client.js';
import { median } from './lib/stats.js';

const rows = Number(process.argv[2] ?? 20);
const RUNS = 400;
const METADATA = '{"remoteAddress":"127.0.0.1","userAgent":"","origin":"","path":"/ws","query":{"user":"u1"},"user":"u1"}';

/** The statement's 23 parameters: `rows` inserts, and deletes of `gone`; no touches, history or notifications. */
function parameters(sessionIds: string[], gone: string[]): unknown[] {
  const now = new Date().toISOString();
  const none: unknown[] = [];
  const history = Array.from({ length: 12 }, () => none);
  return ['', sessionIds.map(() => randomUUID()), sessionIds, sessionIds.map(() => now), sessionIds.map(() => now), sessionIds.map(() => METADATA), none, none, gone, ...history, 'roster', none];
}

const server = await startPostgres();
try {
  const client = await migratedClient(server.url);
  const { name, text } = WRITE_BATCH_STATEMENT;
  console.log(`batch statement, ${rows} rows inserted and ${rows} deleted per run, ${RUNS} runs per pass, one connection`);
  // The first pass warms the server's caches and is not shown.
  for (const [pass, named] of [false, false, true, false, true, false, true].entries()) {
    const ms: number[] = [];
    let previous: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const sessionIds = Array.from({ length: rows }, () => randomUUID());
      const values = parameters(sessionIds, previous);
      const started = performance.now();
      await client.query(named ? { name, text, values } : { text, values });
      ms.push(performance.now() - started);
      previous = sessionIds;
    }
    if (pass > 0) console.log(`  ${named ? 'named  ' : 'unnamed'}: median ${median(ms).toFixed(3)} ms per run`);
  }
  await client.end();
} finally {
  await server.stop();
}
