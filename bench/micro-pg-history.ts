/**
 * What a disconnect costs PostgreSQL, and how much of it is the history
 * row (issue #7). The writer's real batch statement (src/postgres-batch.ts)
 * deletes `users` rows in batches of 2,000, as a disconnect storm commits
 * them, with their notifications. Alternating passes also insert the
 * `connection_history` rows, as the writer does, or leave them out.
 * PostgreSQL's CPU time (all its processes) comes from /proc (Linux), as
 * in the bench's "database CPU" rows: the third process on the two cores.
 * Run with `node dist/bench/micro-pg-history.js [passes]`; it starts its
 * own PostgreSQL server (fsync off, as the bench runs it).
 */
import type { SessionRecord } from '../src/history-repository.js';
import { encodeChange } from '../src/pg-events.js';
import { WRITE_BATCH_STATEMENT } from '../src/postgres-batch.js';
import type { User } from '../src/types.js';
import { uuidV7 } from '../src/uuid-v7.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { processTreeCpuMicros } from './lib/process-cpu.js';
import { migratedClient } from './lib/postgres-client.js';
import { median } from './lib/stats.js';

const BATCH = 2000;
const BATCHES_PER_PASS = 5;
const passes = Number(process.argv[2] ?? 6);
const METADATA = '{"remoteAddress":"127.0.0.1","userAgent":"node","origin":"","path":"/ws","query":{}}';

function users(n: number): User[] {
  const iso = new Date().toISOString();
  return Array.from({ length: n }, () => ({ id: uuidV7(), sessionId: uuidV7(), connectedAt: iso, lastActiveAt: iso, metadata: JSON.parse(METADATA) }));
}

function historyOf(gone: User[]): SessionRecord[] {
  const now = new Date().toISOString();
  return gone.map((u) => ({
    id: u.id, sessionId: u.sessionId, user: null, remoteAddress: '127.0.0.1', userAgent: 'node',
    connectedAt: u.connectedAt, disconnectedAt: now, durationMs: 1000, closeCode: 1000, closeReason: '', messages: 3, bytesIn: 40,
  }));
}

/** The statement's 23 parameters, in postgres-batch.ts's order. */
function parameters(connected: User[], gone: User[], ended: SessionRecord[]): unknown[] {
  const sessionIds = gone.map((u) => u.sessionId);
  const pick = <K extends keyof SessionRecord>(key: K) => ended.map((r) => r[key]);
  return [
    '', connected.map((u) => u.id), connected.map((u) => u.sessionId), connected.map((u) => u.connectedAt),
    connected.map((u) => u.lastActiveAt), connected.map(() => METADATA), [], [], sessionIds,
    pick('id'), pick('sessionId'), pick('user'), pick('remoteAddress'), pick('userAgent'), pick('connectedAt'),
    pick('disconnectedAt'), pick('durationMs'), pick('closeCode'), pick('closeReason'), pick('messages'), pick('bytesIn'),
    'roster_changes', encodeChange({ connected: [], activity: [], disconnected: sessionIds }, 'node'),
  ];
}

const server = await startPostgres();
try {
  const client = await migratedClient(server.url);
  const run = (values: unknown[]) => client.query({ name: WRITE_BATCH_STATEMENT.name, text: WRITE_BATCH_STATEMENT.text, values });

  const perClose: Record<'with history' | 'without', { cpu: number[]; wall: number[] }> = {
    'with history': { cpu: [], wall: [] },
    without: { cpu: [], wall: [] },
  };
  const closes = BATCH * BATCHES_PER_PASS;
  console.log(`# node dist/bench/micro-pg-history.js ${passes}: batch statement deleting ${BATCH} users rows per run, ${BATCHES_PER_PASS} runs per pass, alternating passes (the first pair warms up)`);
  for (let pass = 0; pass < (passes + 1) * 2; pass++) {
    const kind = pass % 2 === 0 ? 'with history' : 'without';
    const rows = users(closes);
    for (let i = 0; i < BATCHES_PER_PASS; i++) await run(parameters(rows.slice(i * BATCH, (i + 1) * BATCH), [], []));
    const cpuBefore = processTreeCpuMicros(server.pid);
    const started = performance.now();
    for (let i = 0; i < BATCHES_PER_PASS; i++) {
      const gone = rows.slice(i * BATCH, (i + 1) * BATCH);
      await run(parameters([], gone, kind === 'with history' ? historyOf(gone) : []));
    }
    const wallMicros = (performance.now() - started) * 1000;
    if (pass < 2) continue;
    perClose[kind].cpu.push((processTreeCpuMicros(server.pid) - cpuBefore) / closes);
    perClose[kind].wall.push(wallMicros / closes);
  }
  for (const [kind, { cpu, wall }] of Object.entries(perClose)) {
    console.log(`  ${kind.padEnd(12)}: PostgreSQL CPU ${median(cpu).toFixed(1)} µs per close (passes ${cpu.map((v) => v.toFixed(1)).join(' ')}), wall ${median(wall).toFixed(1)} µs per close`);
  }
  await client.end();
} finally {
  await server.stop();
}
