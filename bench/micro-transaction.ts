/**
 * What one commit of the writer costs besides SQLite's own work: the same
 * 16-row insert, compiled once, committed through repository's
 * withTransaction, through Kysely's controlled transaction (what it used
 * before), through one connection with BEGIN/COMMIT run as compiled
 * queries, and through raw better-sqlite3 (the floor). In one process without sockets; run with
 * `node dist/bench/micro-transaction.js [commits]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledQuery } from 'kysely';
import { openNativeSqlite, openSqlite } from '../src/database.js';
import { migrateToLatest } from '../src/migrations.js';
import { createUsers, deleteAllUsers, withTransaction } from '../src/repository.js';
import type { User } from '../src/types.js';
import { uuidV7 } from '../src/uuid-v7.js';
import { median } from './lib/stats.js';

const BATCH = 16;
// About as many commits as a connect storm's warm-up and window make: few
// enough that code run once per commit is still in V8's baseline tier, as
// it is in the server (thousands of iterations would optimise it all).
const commits = Number(process.argv[2] ?? 600);
const dir = mkdtempSync(join(tmpdir(), 'roster-micro-tx-'));
const path = join(dir, 'a.db');
const db = openSqlite({ path });
await migrateToLatest(db);
const native = openNativeSqlite(path);

function makeUsers(): User[] {
  const now = Date.now();
  const iso = new Date(now).toISOString();
  return Array.from({ length: BATCH }, () => ({
    id: uuidV7(now),
    sessionId: uuidV7(now),
    connectedAt: iso,
    lastActiveAt: iso,
    metadata: { remoteAddress: '127.0.0.1', userAgent: 'node', origin: '', path: '/ws', query: {} },
  }));
}

const values = Array.from({ length: BATCH }, () => '(?, ?, ?, ?, ?, ?)').join(', ');
const rawInsert = native.prepare(`insert into "users" ("id", "node_id", "session_id", "connected_at", "last_active_at", "metadata") values ${values}`);
const BEGIN = CompiledQuery.raw('begin');
const COMMIT = CompiledQuery.raw('commit');
const rawBegin = native.prepare('begin');
const rawCommit = native.prepare('commit');

const compiledInsert = db
  .insertInto('users')
  .values(makeUsers().map((u) => ({ id: u.id, node_id: '', session_id: u.sessionId, connected_at: u.connectedAt, last_active_at: u.lastActiveAt, metadata: '' })))
  .compile();

const variants: Record<string, (users: User[]) => unknown> = {
  'raw better-sqlite3 (floor)': (users) => {
    rawBegin.run();
    rawInsert.run(users.flatMap((u) => [u.id, '', u.sessionId, u.connectedAt, u.lastActiveAt, JSON.stringify(u.metadata)]));
    rawCommit.run();
  },
  'withTransaction + createUsers': (users) => withTransaction(db, (trx) => createUsers(trx, users)),
  // What withTransaction did before: Kysely's controlled transaction.
  'startTransaction() + createUsers': async (users) => {
    const trx = await db.startTransaction().execute();
    await createUsers(trx, users);
    await trx.commit().execute();
  },
  'connection() + begin/commit + createUsers': (users) =>
    db.connection().execute(async (conn) => {
      await conn.executeQuery(BEGIN);
      await createUsers(conn, users);
      await conn.executeQuery(COMMIT);
    }),
  'driver connection + begin/commit + createUsers': (users) =>
    db.getExecutor().provideConnection(async (connection) => {
      await connection.executeQuery(BEGIN);
      await connection.executeQuery({ ...compiledInsert, parameters: users.flatMap((u) => [u.id, '', u.sessionId, u.connectedAt, u.lastActiveAt, JSON.stringify(u.metadata)]) });
      await connection.executeQuery(COMMIT);
    }),
};

const samples: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
// Interleaved, so drift on a shared machine hits every variant alike.
const entries = Object.entries(variants);
for (let i = 0; i < commits; i++) {
  // Rotated each round, so no variant always follows the same one.
  for (let k = 0; k < entries.length; k++) {
    const [name, run] = entries[(i + k) % entries.length]!;
    const users = makeUsers();
    const t0 = performance.now();
    await run(users);
    samples[name]!.push((performance.now() - t0) * 1000);
  }
  // Keep the table near a live server's size.
  if (i % 600 === 599) await deleteAllUsers(db);
}
console.log(`# node dist/bench/micro-transaction.js ${commits}: ${BATCH}-row insert commits, median µs per commit (second half)`);
for (const [name, list] of Object.entries(samples)) {
  console.log(`${name.padEnd(40)} ${median(list.slice(list.length / 2)).toFixed(1).padStart(8)} µs`);
}
native.close();
await db.destroy();
rmSync(dir, { recursive: true, force: true });
