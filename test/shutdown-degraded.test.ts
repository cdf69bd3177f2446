/**
 * A graceful stop while the database is failing must not delete rows
 * whose history rows it could not write: those sessions would be gone for
 * good. Left in place, the next start records them as lost, once each.
 * On a nearly full disk the shutdown's resync (every pending history row
 * in one transaction) fails where its small DELETE of the rows still gets
 * through; a trigger that refuses history inserts stands in for that here.
 */
import { rmSync } from 'node:fs';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assertRecordedAsLost } from './helpers/history.js';
import { startTracker, tempDir } from './helpers/tracker.js';
import { connectClient, waitFor } from './helpers/ws-client.js';

const test = suite('shutdown while the database is failing');

test('rows whose history could not be written are left for the next start, which records them as lost', async () => {
  const dir = tempDir();
  try {
    const first = await startTracker({ dir, touchFlushMs: 20 });
    const clients = [];
    for (let i = 0; i < 4; i++) clients.push(await connectClient(first.wsUrl(`/ws?user=c${i}`)));
    const sessions = clients.map((c) => c.sessionId).sort();
    // History inserts fail from now on (on the tracker's own connection); deletes still work.
    await sql`create temp trigger refuse_history before insert on connection_history begin select raise(abort, 'history unwritable'); end`.execute(first.tracker.db);
    await clients[0]!.close();
    await waitFor(() => first.tracker.degradedReason !== undefined, 5_000, 'the history write fails');
    await first.close();

    const file = new SQLite(first.databasePath, { readonly: true });
    const left = (file.prepare('select session_id from users').all() as { session_id: string }[]).map((r) => r.session_id).sort();
    file.close();
    assert.equal(left, sessions, 'rows without a history row are not deleted');

    const next = await startTracker({ dir });
    try {
      await assertRecordedAsLost(next.tracker.db, sessions);
    } finally {
      await next.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
