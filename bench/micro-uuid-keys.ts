/**
 * Why connection ids are UUIDv7: the same 16-row insert transactions
 * through the repository, into a `users` table that grows to ~10k rows,
 * with random (v4) ids against time-ordered (v7) ids. Random keys spread
 * each batch over many index pages, and every dirty page is written to
 * the WAL at commit. Run with `node dist/bench/micro-uuid-keys.js`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from '../src/database.js';
import { migrateToLatest } from '../src/migrations.js';
import { createUsers, withTransaction } from '../src/repository.js';
import type { User } from '../src/types.js';
import { uuidV7 } from '../src/uuid-v7.js';
import { median } from './lib/stats.js';

const BATCH = 16;
const BATCHES = 600;
const kinds = { 'v4 (randomUUID)': () => randomUUID(), 'v7 (uuidV7)': () => uuidV7() };
const results: Record<string, number[]> = {};

for (let round = 0; round < 3; round++) {
  for (const [kind, newId] of Object.entries(kinds)) {
    const dir = mkdtempSync(join(tmpdir(), 'roster-keys-'));
    const db = openSqlite({ path: join(dir, 'k.db') });
    await migrateToLatest(db);
    const perRow: number[] = [];
    for (let i = 0; i < BATCHES; i++) {
      const at = new Date().toISOString();
      const users: User[] = Array.from({ length: BATCH }, () => ({
        id: newId(),
        sessionId: newId(),
        connectedAt: at,
        lastActiveAt: at,
        metadata: { remoteAddress: '127.0.0.1', userAgent: 'bench', origin: '', path: '/ws', query: {} },
      }));
      const t0 = performance.now();
      await withTransaction(db, (trx) => createUsers(trx, users));
      perRow.push(((performance.now() - t0) * 1000) / BATCH);
    }
    (results[kind] ??= []).push(median(perRow));
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(`${BATCHES} transactions of ${BATCH} inserts (table grows to ${BATCH * BATCHES} rows); median µs per row, 3 rounds:`);
for (const [kind, values] of Object.entries(results)) console.log(`  ${kind.padEnd(16)} ${values.map((v) => v.toFixed(1)).join('  ')}  (median ${median(values).toFixed(1)})`);
