/**
 * The write path under steady churn, before and after the lean-schema
 * migration (20261123130000_lean_write_path): with LIVE rows held, each
 * round connects BATCH new clients in one transaction and disconnects
 * BATCH random ones in another (delete + history row), as the tracker's
 * writer does. Both schemas are reached through the real migrations, and
 * the writes go through the repository (Kysely, cached statements).
 * Run: node dist/bench/micro-schema.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from '../src/database.js';
import type { SessionRecord } from '../src/history-repository.js';
import { insertSessions } from '../src/history-repository.js';
import { createMigrator } from '../src/migrations.js';
import { createUsers, deleteUsers, withTransaction } from '../src/repository.js';
import type { User } from '../src/types.js';
import { uuidV7 } from '../src/uuid-v7.js';
import { median } from './lib/stats.js';

const LIVE = 10_000;
const BATCH = 12;
const ROUNDS = 400;
const BEFORE = '20261123120000_create_connection_history';

function newUser(now: number): User {
  const iso = new Date(now).toISOString();
  return {
    id: uuidV7(now),
    sessionId: uuidV7(now),
    connectedAt: iso,
    lastActiveAt: iso,
    metadata: { remoteAddress: '127.0.0.1', userAgent: 'Mozilla/5.0 (bench)', origin: 'http://localhost', path: '/ws', query: {} },
  };
}

function toRecord(user: User, now: number): SessionRecord {
  return {
    id: user.id,
    sessionId: user.sessionId,
    user: null,
    remoteAddress: user.metadata.remoteAddress,
    userAgent: user.metadata.userAgent,
    connectedAt: user.connectedAt,
    disconnectedAt: new Date(now).toISOString(),
    durationMs: 1000,
    closeCode: 1000,
    closeReason: '',
    messages: 3,
    bytesIn: 60,
  };
}

async function measure(schema: 'before' | 'after'): Promise<{ connect: number; disconnect: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'roster-micro-schema-'));
  const db = openSqlite({ path: join(dir, 'a.db') });
  try {
    const migrator = createMigrator(db);
    const result = schema === 'before' ? await migrator.migrateTo(BEFORE) : await migrator.migrateToLatest();
    if (result.error) throw result.error;
    const live: User[] = [];
    for (let i = 0; i < LIVE; i += 500) {
      const users = Array.from({ length: 500 }, () => newUser(Date.now()));
      await withTransaction(db, (trx) => createUsers(trx, users));
      live.push(...users);
    }
    const connects: number[] = [];
    const disconnects: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const now = Date.now();
      const users = Array.from({ length: BATCH }, () => newUser(now));
      let t0 = performance.now();
      await withTransaction(db, (trx) => createUsers(trx, users));
      connects.push(((performance.now() - t0) * 1000) / BATCH);
      live.push(...users);
      const gone: User[] = [];
      for (let i = 0; i < BATCH; i++) gone.push(live.splice(Math.floor(Math.random() * live.length), 1)[0]!);
      const records = gone.map((u) => toRecord(u, now));
      t0 = performance.now();
      await withTransaction(db, async (trx) => {
        await deleteUsers(trx, gone.map((u) => u.sessionId));
        await insertSessions(trx, records);
      });
      disconnects.push(((performance.now() - t0) * 1000) / BATCH);
    }
    return { connect: median(connects), disconnect: median(disconnects) };
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Record<string, { connect: number[]; disconnect: number[] }> = { before: { connect: [], disconnect: [] }, after: { connect: [], disconnect: [] } };
for (let round = 0; round < 3; round++) {
  for (const schema of round % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const)) {
    const r = await measure(schema);
    results[schema]!.connect.push(r.connect);
    results[schema]!.disconnect.push(r.disconnect);
  }
}
console.log(`${LIVE} live rows; ${ROUNDS} rounds of ${BATCH} connects (one transaction) and ${BATCH} random disconnects with history (one transaction); median µs per row, 3 alternating runs:`);
for (const schema of ['before', 'after'] as const) {
  const { connect, disconnect } = results[schema]!;
  console.log(`  ${schema.padEnd(7)} connect ${median(connect).toFixed(1).padStart(6)}   disconnect ${median(disconnect).toFixed(1).padStart(6)}   (runs: ${connect.map((v) => v.toFixed(1)).join(' ')} / ${disconnect.map((v) => v.toFixed(1)).join(' ')})`);
}
