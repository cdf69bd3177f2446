/**
 * Where a 10k-row snapshot's time goes, in one process: the query, the
 * row mapping (metadata JSON.parse), and the message's JSON.stringify;
 * then the same with the metadata spliced as text (src/user-json.ts), and
 * the single-node path: the in-memory committed view (src/committed-view.ts).
 * Run with `node dist/bench/micro-snapshot.js [rows]`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from '../src/database.js';
import { migrateToLatest } from '../src/migrations.js';
import { CommittedView } from '../src/committed-view.js';
import { createUsers, listActiveUsers, listActiveUsersJson } from '../src/repository.js';
import type { User } from '../src/types.js';
import { SNAPSHOT_ENVELOPE, usersJson } from '../src/user-json.js';

const rows = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'roster-snap-'));
const db = openSqlite({ path: join(dir, 's.db') });
await migrateToLatest(db);
const now = Date.now();
const users: User[] = Array.from({ length: rows }, (_, i) => {
  const at = new Date(now + i).toISOString();
  return {
    id: randomUUID(),
    sessionId: randomUUID(),
    connectedAt: at,
    lastActiveAt: at,
    metadata: { remoteAddress: `127.0.0.${(i % 8) + 1}`, userAgent: 'Mozilla/5.0 (X11; Linux x86_64) bench', origin: 'http://127.0.0.1', path: '/ws', query: { user: `u${i}` }, user: `u${i}` },
  };
});
await createUsers(db, users);

function time(label: string, fn: () => unknown, reps = 7): void {
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  console.log(`${label.padEnd(52)} ${samples[Math.floor(reps / 2)]!.toFixed(1).padStart(7)} ms`);
}

async function timeAsync(label: string, fn: () => Promise<unknown>, reps = 7): Promise<void> {
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  console.log(`${label.padEnd(52)} ${samples[Math.floor(reps / 2)]!.toFixed(1).padStart(7)} ms`);
}

console.log(`${rows} rows`);
await timeAsync('query only (Kysely selectAll + order by)', () => db.selectFrom('users').selectAll().orderBy('connected_at', 'desc').orderBy('session_id', 'desc').execute());
await timeAsync('listActiveUsers (query + JSON.parse metadata)', () => listActiveUsers(db));
const list = await listActiveUsers(db);
time('add live message counts ({ ...user, messages })', () => list.map((u) => ({ ...u, messages: 0 })));
const withCounts = list.map((u) => ({ ...u, messages: 0 }));
let message = '';
time('JSON.stringify snapshot message', () => (message = JSON.stringify({ type: 'snapshot', users: withCounts })));
console.log(`snapshot message: ${(message.length / 1024 / 1024).toFixed(2)} MiB`);
console.log('now (metadata spliced as text):');
await timeAsync('listActiveUsersJson (query, metadata kept as text)', () => listActiveUsersJson(db));
const rowsJson = await listActiveUsersJson(db);
time('usersJson with live message counts', () => `{"type":"snapshot","users":${usersJson(rowsJson, () => 0)}}`);
console.log('single node (committed view, no query):');
const view = new CommittedView();
view.apply({ connected: users, activity: [], disconnected: [] });
time('view.json snapshot message', () => view.json({ ...SNAPSHOT_ENVELOPE, messages: () => 0 }));
await db.destroy();
rmSync(dir, { recursive: true, force: true });
