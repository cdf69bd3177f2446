/**
 * Group commit in the record writer (WriteBatching.minIntervalMs): a
 * burst of connects is still written completely, each welcome still comes
 * after its row exists, and a flush held back by the interval is not lost
 * when the writer closes. No timing assertions.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openSqlite } from '../src/database.js';
import { LiveSet } from '../src/live-set.js';
import { silentLogger } from '../src/logger.js';
import { migrateToLatest } from '../src/migrations.js';
import { RecordWriter } from '../src/record-writer.js';
import { getUserBySessionId, listSessionIds } from '../src/repository.js';
import { liveConnection } from './helpers/live-connection.js';
import { startTracker, tempDir } from './helpers/tracker.js';
import { connectClient, waitFor } from './helpers/ws-client.js';

const group = suite('group commit');

group('a burst of connects: every welcome comes after its row, then every row goes', async () => {
  const t = await startTracker();
  try {
    const url = t.wsUrl('/ws');
    const clients = await Promise.all(
      Array.from({ length: 40 }, () =>
        connectClient(url).then(async (c) => {
          // The welcome is sent after the commit, so the row is already there.
          assert.ok(await getUserBySessionId(t.tracker.db, c.sessionId), `row for ${c.sessionId} at its welcome`);
          return c;
        }),
      ),
    );
    assert.equal((await listSessionIds(t.tracker.db)).sort(), clients.map((c) => c.sessionId).sort());
    await Promise.all(clients.map((c) => c.close()));
    await waitFor(async () => (await listSessionIds(t.tracker.db)).length === 0, 5000, 'rows deleted');
  } finally {
    await t.close();
  }
});

group('close() writes a flush the interval was holding back', async () => {
  const dir = tempDir('roster-group-');
  const db = openSqlite({ path: join(dir, 'g.db') });
  try {
    const { error } = await migrateToLatest(db);
    if (error) throw error;
    let committed = 0;
    let firstCommit: () => void = () => {};
    const first = new Promise<void>((resolve) => (firstCommit = resolve));
    const writer = new RecordWriter({
      db,
      live: new LiveSet(),
      touchFlushMs: 60_000,
      logger: silentLogger(),
      onCommitted: (change) => {
        committed += change.connected.length;
        firstCommit();
      },
      onUnrecorded: () => {},
      onDegraded: () => {},
      onRecovered: () => {},
    });
    writer.start();
    writer.insert(liveConnection({ id: 'id-1', sessionId: 's-1' }));
    await first;
    // Right after a commit: these wait for the group-commit interval.
    writer.insert(liveConnection({ id: 'id-2', sessionId: 's-2' }));
    writer.insert(liveConnection({ id: 'id-3', sessionId: 's-3' }));
    await writer.close();
    assert.is(committed, 3);
    assert.equal((await listSessionIds(db)).sort(), ['s-1', 's-2', 's-3']);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

group.run();
