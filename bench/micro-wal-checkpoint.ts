/**
 * What WAL checkpoints cost the writer, in one process: 4,000 connection
 * lifecycles through the repository (inserts 16 per commit, then deletes
 * plus history rows 256 per commit) with SQLite's default automatic
 * checkpoint on the writing connection, against openSqlite's checkpoint
 * worker (src/wal-checkpointer.ts). Wall time per row, which is what the
 * event loop loses. Run with `node dist/bench/micro-wal-checkpoint.js`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openSqlite } from '../src/database.js';
import { insertSessions } from '../src/history-repository.js';
import { migrateToLatest } from '../src/migrations.js';
import { createUsers, deleteUsers, withTransaction } from '../src/repository.js';
import type { User } from '../src/types.js';
import { uuidV7 } from '../src/uuid-v7.js';
import { median } from './lib/stats.js';

const LIFECYCLES = 4000;
const results: Record<string, Record<string, number[]>> = {};

async function run(kind: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'roster-wal-'));
  const db = openSqlite({ path: join(dir, 'w.db') });
  await migrateToLatest(db);
  // The writer checkpointing by itself at 1000 pages, as SQLite does by default.
  if (kind === 'writer checkpoints (default)') await sql`pragma wal_autocheckpoint = 1000`.execute(db);
  const live: User[] = [];
  let t0 = performance.now();
  for (let i = 0; i < LIFECYCLES / 16; i++) {
    const at = new Date().toISOString();
    const users: User[] = Array.from({ length: 16 }, () => ({
      id: uuidV7(),
      sessionId: uuidV7(),
      connectedAt: at,
      lastActiveAt: at,
      metadata: { remoteAddress: '127.0.0.1', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36', origin: 'http://127.0.0.1', path: '/ws', query: {} },
    }));
    await withTransaction(db, (trx) => createUsers(trx, users));
    live.push(...users);
  }
  const connect = ((performance.now() - t0) * 1000) / LIFECYCLES;
  live.sort(() => Math.random() - 0.5);
  t0 = performance.now();
  for (let i = 0; i < live.length; i += 256) {
    const batch = live.slice(i, i + 256);
    const end = new Date().toISOString();
    await withTransaction(db, async (trx) => {
      await deleteUsers(trx, batch.map((u) => u.sessionId));
      await insertSessions(trx, batch.map((u) => ({ id: u.id, sessionId: u.sessionId, user: null, remoteAddress: '127.0.0.1', userAgent: 'bench', connectedAt: u.connectedAt, disconnectedAt: end, durationMs: 1, closeCode: 1000, closeReason: '', messages: 0, bytesIn: 0 })));
    });
  }
  const disconnect = ((performance.now() - t0) * 1000) / LIFECYCLES;
  const r = (results[kind] ??= {});
  (r.connect ??= []).push(connect);
  (r.disconnect ??= []).push(disconnect);
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
}

for (let round = 0; round < 5; round++) {
  for (const kind of round % 2 ? ['checkpoint worker', 'writer checkpoints (default)'] : ['writer checkpoints (default)', 'checkpoint worker']) await run(kind);
}
console.log(`${LIFECYCLES} lifecycles; mean wall µs per row on the writer's thread, median of 5 rounds:`);
for (const [kind, r] of Object.entries(results)) {
  console.log(`  ${kind.padEnd(30)} connect (16/commit) ${median(r.connect!).toFixed(1).padStart(5)}   disconnect + history (256/commit) ${median(r.disconnect!).toFixed(1).padStart(5)}`);
}
