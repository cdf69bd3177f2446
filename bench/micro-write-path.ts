/**
 * Where the write path's time goes, in one process without sockets: the
 * cost per row of a batch written through Roster's repository (Kysely:
 * build + compile + cached prepare + run, in a transaction) against the
 * same SQL compiled once, and against raw better-sqlite3. Used to decide
 * what to optimise; run with `node dist/bench/micro-write-path.js`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openNativeSqlite, openSqlite } from '../src/database.js';
import { migrateToLatest } from '../src/migrations.js';
import { createUsers, deleteUsers, touchUsers, withTransaction } from '../src/repository.js';
import type { User } from '../src/types.js';

const dir = mkdtempSync(join(tmpdir(), 'roster-micro-'));
const db = openSqlite({ path: join(dir, 'a.db') });
await migrateToLatest(db);

function makeUsers(n: number): User[] {
  const now = new Date().toISOString();
  return Array.from({ length: n }, () => ({
    id: randomUUID(),
    sessionId: randomUUID(),
    connectedAt: now,
    lastActiveAt: now,
    metadata: { remoteAddress: '127.0.0.1', userAgent: '', origin: '', path: '/ws', query: {} },
  }));
}

async function time(label: string, batch: number, reps: number, fn: (users: User[]) => Promise<unknown>, setup?: (users: User[]) => Promise<unknown>) {
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const users = makeUsers(batch);
    if (setup) await setup(users);
    const t0 = performance.now();
    await fn(users);
    samples.push(performance.now() - t0);
    await db.deleteFrom('users').execute();
  }
  samples.sort((a, b) => a - b);
  const med = samples[Math.floor(samples.length / 2)]!;
  console.log(`${label.padEnd(44)} batch ${String(batch).padStart(4)}: ${((med * 1000) / batch).toFixed(1).padStart(7)} µs/row  (${(med * 1000).toFixed(0)} µs/batch)`);
}

const reps = Number(process.argv[2] ?? 200);
for (const batch of [1, 10, 100, 1000]) {
  const r = batch >= 100 ? Math.max(10, reps / 10) : reps;
  await time('insert: tx + createUsers', batch, r, (u) => withTransaction(db, (trx) => createUsers(trx, u)));
  await time('insert: compile only (no execute)', batch, r, async (u) => {
    db.insertInto('users').values(u.map((x) => ({ id: x.id, session_id: x.sessionId, connected_at: x.connectedAt, last_active_at: x.lastActiveAt, metadata: JSON.stringify(x.metadata) }))).compile();
  });
  await time('touch: tx + touchUsers', batch, r, (u) => withTransaction(db, (trx) => touchUsers(trx, u.map((x) => ({ sessionId: x.sessionId, lastActiveAt: x.lastActiveAt })))), (u) => createUsers(db, u));
  await time('delete: tx + deleteUsers', batch, r, (u) => withTransaction(db, (trx) => deleteUsers(trx, u.map((x) => x.sessionId))), (u) => createUsers(db, u));
}

// The floor: raw better-sqlite3, one cached single-row statement, one transaction.
const native = openNativeSqlite(join(dir, 'a.db'));
const insert = native.prepare('insert into "users" ("id", "session_id", "connected_at", "last_active_at", "metadata") values (?, ?, ?, ?, ?)');
const many = native.transaction((users: User[]) => {
  for (const u of users) insert.run(u.id, u.sessionId, u.connectedAt, u.lastActiveAt, JSON.stringify(u.metadata));
});
for (const batch of [1, 10, 100, 1000]) {
  await time('insert: raw better-sqlite3 (floor)', batch, batch >= 100 ? 20 : reps, async (u) => many(u));
}
native.close();
await db.destroy();
rmSync(dir, { recursive: true, force: true });
