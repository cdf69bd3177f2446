/**
 * Stopping the history pruner does not wait for a whole retention backlog
 * (seconds to minutes of batches on a big table): a shutdown that did
 * would sit out its full SHUTDOWN_TIMEOUT_MS. The run stops after the
 * batch in progress; every batch commits by itself, so the next run
 * carries on from there.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openSqlite } from '../src/database.js';
import { HistoryPruner } from '../src/history-pruner.js';
import { insertSessions, listSessions } from '../src/history-repository.js';
import { silentLogger } from '../src/logger.js';
import { migrateToLatest } from '../src/migrations.js';
import { sessionRecord } from './helpers/history.js';
import { tempDir } from './helpers/tracker.js';
import { waitFor } from './helpers/ws-client.js';

const test = suite('history pruner stop');
const DAY = 86_400_000;


test('stop() during a backlog ends the run after its batch; the next run prunes the rest', async () => {
  const dir = tempDir();
  const db = openSqlite({ path: join(dir, 'roster.db') });
  try {
    const { error } = await migrateToLatest(db);
    if (error) throw error;
    const now = Date.now();
    const old = Array.from({ length: 5000 }, (_, i) => sessionRecord(now - 40 * DAY - i));
    const recent = sessionRecord(now);
    await insertSessions(db, [...old, recent]);
    const count = async () => (await listSessions(db, { limit: 10_000 })).length;

    const pruner = new HistoryPruner({ db, logger: silentLogger(), retentionDays: 30, intervalMs: 3_600_000 });
    pruner.start();
    await pruner.stop();
    const left = await count();
    assert.ok(left > 1, 'the run stopped before the backlog was gone');
    assert.ok(left < old.length + 1, 'the batch in progress was committed');

    const next = new HistoryPruner({ db, logger: silentLogger(), retentionDays: 30, intervalMs: 3_600_000 });
    next.start();
    // Until the backlog is gone, not a fixed wait: on a loaded machine 200 ms was too short.
    await waitFor(async () => (await count()) === 1, 10_000, 'the next run to prune the rest');
    await next.stop();
    assert.equal((await listSessions(db, { limit: 10 })).map((s) => s.id), [recent.id], 'the next run pruned the rest, and only those');
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
