/**
 * What a retention prune of a large backlog costs the event loop, in one
 * process: N expired history rows in a temp SQLite file (opened by
 * openSqlite, so with its checkpoint worker), deleted by the loop the
 * pruner used before (500 rows per DELETE, a setImmediate between
 * batches), by that loop with the writer's fallback checkpoint switched
 * off (wal_autocheckpoint = 0: what the DELETEs cost by themselves, so
 * the difference is that checkpoint on the event loop), and by
 * pruneSessions as it is now. Reported per run: the
 * prune's wall time, the DELETE statements' times (Kysely's log hook),
 * the longest gap between ticks of a 1 ms interval timer (what a ping
 * waiting on this thread would lose), and the -wal file's size at the
 * end, which is the WAL's peak (it is only truncated past
 * journal_size_limit). Ids are random (v4, as rows written before uuid-v7.ts)
 * or time-ordered (v7, as now). Run with
 * `node dist/bench/micro-prune.js [rows] [passes]`.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, copyFileSync, fsyncSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/types.js';
import { openSqlite } from '../src/database.js';
import { pruneSessions } from '../src/history-repository.js';
import { migrateToLatest } from '../src/migrations.js';
import { uuidV7 } from '../src/uuid-v7.js';
import { median, percentile } from './lib/stats.js';

const ROWS = Number(process.argv[2] ?? 300_000);
const PASSES = Number(process.argv[3] ?? 3);
const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'roster-prune-'));

/** A database file holding ROWS history rows that ended 40 days ago, one every 5 ms. */
async function seed(keys: 'v4' | 'v7'): Promise<string> {
  const path = join(dir, `seed-${keys}.db`);
  const db = openSqlite({ path });
  const { error } = await migrateToLatest(db);
  if (error) throw error;
  await db.destroy();
  const native = new SQLite(path);
  native.pragma('journal_mode = WAL');
  const insert = native.prepare(`insert into connection_history (id, session_id, user_label, remote_address, user_agent,
    connected_at, disconnected_at, duration_ms, close_code, close_reason, messages, bytes_in) values (?,?,?,?,?,?,?,?,?,?,?,?)`);
  const start = Date.now() - 40 * DAY;
  native.transaction(() => {
    for (let i = 0; i < ROWS; i++) {
      const ended = start + i * 5;
      const id = keys === 'v4' ? randomUUID() : uuidV7(ended - 60_000);
      insert.run(id, randomUUID(), i % 3 ? null : `user-${i % 1000}`, '127.0.0.1', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36',
        new Date(ended - 60_000).toISOString(), new Date(ended).toISOString(), 60_000, 1000, '', 12, 1400);
    }
  })();
  native.pragma('wal_checkpoint(TRUNCATE)');
  native.close();
  return path;
}

/** The pruner's loop before this change (history-repository.ts at 21627f5). */
async function pruneBefore(db: Kysely<DB>, cutoff: string): Promise<number> {
  let total = 0;
  for (;;) {
    const oldest = db.selectFrom('connection_history').select('id').where('disconnected_at', '<', cutoff).orderBy('disconnected_at').limit(500);
    const deleted = Number((await db.deleteFrom('connection_history').where('id', 'in', oldest).executeTakeFirst()).numDeletedRows);
    total += deleted;
    if (deleted < 500) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

interface Run { seconds: number; deleteP50: number; deleteMax: number; over30: number; stallMax: number; walPeakPages: number }
const runs: Record<string, Run[]> = {};

type Kind = 'before' | 'before, no fallback' | 'now';

async function run(kind: Kind, keys: 'v4' | 'v7', seeded: string): Promise<void> {
  const path = join(dir, 'p.db');
  copyFileSync(seeded, path);
  // The copy's dirty pages would otherwise be written back during the
  // run, and the checkpoint's fsync would wait for all of them.
  const fd = openSync(path, 'r+');
  fsyncSync(fd);
  closeSync(fd);
  const deletes: number[] = [];
  const db = openSqlite({ path, log: (e) => { if (e.level === 'query' && e.query.sql.startsWith('delete')) deletes.push(e.queryDurationMillis); } });
  if (kind === 'before, no fallback') await sql`pragma wal_autocheckpoint = 0`.execute(db);
  const cutoff = new Date(Date.now() - 30 * DAY).toISOString();
  let last = performance.now();
  let stallMax = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    stallMax = Math.max(stallMax, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  const count = await (kind === 'now' ? pruneSessions(db, cutoff) : pruneBefore(db, cutoff));
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(ticker);
  if (count !== ROWS) throw new Error(`pruned ${count} of ${ROWS}`);
  const walPeakPages = Math.round(statSync(`${path}-wal`).size / 4096);
  await db.destroy();
  rmSync(path, { force: true });
  (runs[`${kind.padEnd(20)} ${keys}`] ??= []).push({ seconds, deleteP50: median(deletes), deleteMax: percentile(deletes, 100), over30: deletes.filter((ms) => ms > 30).length, stallMax, walPeakPages });
}

try {
  for (const keys of ['v4', 'v7'] as const) {
    const seeded = await seed(keys);
    for (let pass = 0; pass < PASSES; pass++) {
      const kinds: Kind[] = ['before', 'before, no fallback', 'now'];
      for (const kind of pass % 2 ? kinds.reverse() : kinds) await run(kind, keys, seeded);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(`${ROWS} expired rows pruned per run; ${PASSES} passes each, medians (and maxima) over the passes:`);
for (const [name, r] of Object.entries(runs)) {
  const m = (f: (x: Run) => number, digits = 1) => `${median(r.map(f)).toFixed(digits).padStart(6)} (${Math.max(...r.map(f)).toFixed(digits).padStart(6)})`;
  console.log(`  ${name}  prune s ${m((x) => x.seconds, 2)}  DELETE ms p50 ${m((x) => x.deleteP50)} max ${m((x) => x.deleteMax)} >30 ms ${m((x) => x.over30, 0)}  longest event-loop gap ms ${m((x) => x.stallMax)}  WAL peak pages ${m((x) => x.walPeakPages, 0)}`);
}
