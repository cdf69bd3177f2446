/**
 * The one-process-per-file lock holds when two trackers reach one SQLite
 * file through different symlinks (a deploy that links each release's
 * database path to a shared file): SQLite follows the links to one
 * database, so the lock must follow them to one lock file.
 */
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { listSessions } from '../src/history-repository.js';
import { getUserBySessionId } from '../src/repository.js';
import { createTracker } from '../src/tracker.js';
import { DatabaseInUseError } from '../src/sqlite-lock.js';
import { startTracker, tempDir, TOKEN } from './helpers/tracker.js';
import { connectClient } from './helpers/ws-client.js';

const test = suite('sqlite lock through symlinks');

test('a second tracker on a symlink to a file in use is refused and touches nothing', async () => {
  const dir = tempDir();
  const shared = join(dir, 'shared', 'roster.db');
  mkdirSync(join(dir, 'shared'));
  for (const release of ['release-1', 'release-2']) {
    mkdirSync(join(dir, release));
    symlinkSync(shared, join(dir, release, 'roster.db'));
  }
  const first = await startTracker({ dir, databasePath: join(dir, 'release-1', 'roster.db') });
  const second = createTracker({ server: createServer(), databasePath: join(dir, 'release-2', 'roster.db'), adminToken: TOKEN });
  try {
    const client = await connectClient(first.wsUrl('/ws'));
    let refused: unknown;
    try {
      await second.start();
    } catch (error) {
      refused = error;
    }
    assert.instance(refused, DatabaseInUseError, 'the second tracker is refused');
    assert.ok(await getUserBySessionId(first.tracker.db, client.sessionId), "the first tracker's row is still there");
    assert.equal(await listSessions(first.tracker.db, { limit: 10 }), [], 'no client recorded as lost');
    await client.close();
  } finally {
    await second.stop();
    await first.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
