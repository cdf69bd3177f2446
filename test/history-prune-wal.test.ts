/**
 * A retention prune of a large backlog keeps the SQLite WAL under the
 * writer's fallback checkpoint threshold. Back to back, its batches used
 * to fill the WAL faster than the checkpoint worker emptied it, and the
 * writer's own checkpoint (WalCheckpoint.fallbackPages) then ran on the
 * event loop for 80–180 ms at a time. The prune now waits for the worker
 * between batches; the -wal file, only truncated past
 * journal_size_limit, shows the WAL's peak.
 */
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WalCheckpoint } from '../src/constants.js';
import { openSqlite } from '../src/database.js';
import { insertSessions, listSessions, pruneSessions, type SessionRecord } from '../src/history-repository.js';
import { migrateToLatest } from '../src/migrations.js';
import { sessionRecord } from './helpers/history.js';
import { tempDir } from './helpers/tracker.js';

const test = suite('history prune and the WAL');
const DAY = 86_400_000;
/** WAL file header, and a frame: its header and one 4 KiB page. */
const WAL_HEADER_BYTES = 32;
const WAL_FRAME_BYTES = 24 + 4096;

/** Random ids (as rows written before uuid-v7.ts): the most WAL pages per deleted row. */
function record(endedMs: number): SessionRecord {
  return sessionRecord(endedMs, { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36', messages: 12, bytesIn: 1400 });
}


test('pruning 60,000 expired rows never lets the WAL reach the writer fallback checkpoint; only expired rows go', async () => {
  const dir = tempDir();
  const path = join(dir, 'roster.db');
  try {
    const now = Date.now();
    const recent = Array.from({ length: 5 }, (_, i) => record(now - i * 1000));
    const seed = openSqlite({ path });
    try {
      const { error } = await migrateToLatest(seed);
      if (error) throw error;
      await insertSessions(seed, Array.from({ length: 60_000 }, (_, i) => record(now - 40 * DAY + i * 5)));
      await insertSessions(seed, recent);
    } finally {
      // The last close checkpoints and removes the WAL: the prune starts with none.
      await seed.destroy();
    }

    const db = openSqlite({ path });
    try {
      assert.is(await pruneSessions(db, new Date(now - 30 * DAY).toISOString()), 60_000);
      const walPages = (statSync(`${path}-wal`).size - WAL_HEADER_BYTES) / WAL_FRAME_BYTES;
      assert.ok(walPages < WalCheckpoint.fallbackPages, `the WAL peaked at ${walPages} pages (fallback at ${WalCheckpoint.fallbackPages})`);
      assert.equal((await listSessions(db, { limit: 100 })).map((s) => s.id).sort(), recent.map((s) => s.id).sort());
    } finally {
      await db.destroy();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
