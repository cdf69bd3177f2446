import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WalCheckpoint } from '../src/constants.js';
import { openSqlite, walCheckpointer } from '../src/database.js';
import { migrateToLatest } from '../src/migrations.js';
import { createUsers, withTransaction } from '../src/repository.js';
import type { User } from '../src/types.js';
import { uuidV7 } from '../src/uuid-v7.js';
import { runScript } from './helpers/script-process.js';
import { tempDir } from './helpers/tracker.js';
import { waitFor } from './helpers/ws-client.js';

const wal = suite('WAL checkpoints on a worker thread');

function users(n: number): User[] {
  const at = new Date().toISOString();
  return Array.from({ length: n }, () => ({
    id: uuidV7(),
    sessionId: uuidV7(),
    connectedAt: at,
    lastActiveAt: at,
    metadata: { remoteAddress: '127.0.0.1', userAgent: 'x'.repeat(300), origin: '', path: '/ws', query: {} },
  }));
}

wal('committed pages reach the database file without the writer checkpointing, and close removes the WAL', async () => {
  const dir = tempDir('roster-wal-');
  const path = join(dir, 'w.db');
  const db = openSqlite({ path });
  try {
    const { error } = await migrateToLatest(db);
    if (error) throw error;
    const before = statSync(path).size;
    // ~1,000 pages of WAL: below the writer's own (fallback) threshold.
    for (let i = 0; i < 40; i++) await withTransaction(db, (trx) => createUsers(trx, users(100)));
    const walPages = statSync(`${path}-wal`).size / 4096;
    assert.ok(walPages < WalCheckpoint.fallbackPages, `the writer would not checkpoint by itself (${walPages} pages)`);
    // The background checkpoint copies the rows into the main file.
    await waitFor(() => statSync(path).size > before + 1_000_000, 5000, 'background checkpoint');
    const reader = new SQLite(path, { readonly: true });
    try {
      assert.is((reader.prepare('select count(*) as n from users').get() as { n: number }).n, 4000);
    } finally {
      reader.close();
    }
  } finally {
    await db.destroy();
  }
  // The checkpointer let go before the writer closed, so the writer's close was the last: no WAL left behind.
  assert.not.ok(existsSync(`${path}-wal`), 'WAL removed on close');
  const check = new SQLite(path, { readonly: true });
  try {
    assert.is(check.pragma('integrity_check', { simple: true }), 'ok');
    assert.is((check.prepare('select count(*) as n from users').get() as { n: number }).n, 4000);
  } finally {
    check.close();
  }
});

wal('checkpoint() runs one on the worker at once and says what it found; once closed, it resolves without one', async () => {
  const dir = tempDir('roster-wal-');
  const db = openSqlite({ path: join(dir, 'w.db') });
  const checkpointer = walCheckpointer(db);
  try {
    assert.ok(checkpointer, 'a file opened by openSqlite has a checkpointer');
    const { error } = await migrateToLatest(db);
    if (error) throw error;
    await withTransaction(db, (trx) => createUsers(trx, users(100)));
    // Asked twice at once: answered in order, both after a full checkpoint.
    const [first, second] = await Promise.all([checkpointer.checkpoint(), checkpointer.checkpoint()]);
    assert.ok(first.log > 0, `the WAL held frames (${first.log})`);
    assert.is(first.checkpointed, first.log, 'all of them are in the database file');
    assert.is(second.checkpointed, second.log);
    await db.destroy();
    assert.equal(await checkpointer.checkpoint(), { log: -1, checkpointed: -1 });
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

wal('an in-memory database gets no checkpointer and still works', async () => {
  const db = openSqlite({ path: ':memory:' });
  assert.is(walCheckpointer(db), undefined);
  try {
    const { error } = await migrateToLatest(db);
    if (error) throw error;
    await withTransaction(db, (trx) => createUsers(trx, users(10)));
    assert.is(Number((await db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n), 10);
  } finally {
    await db.destroy();
  }
});

wal('an open database never keeps the process alive: its checkpoint worker is unref\'d', () => {
  const dir = tempDir('roster-wal-');
  try {
    // A host that forgets db.destroy() must still be able to exit.
    const script = `import { openSqlite, walCheckpointer } from ${JSON.stringify(new URL('../src/database.js', import.meta.url).href)};
      const db = openSqlite({ path: ${JSON.stringify(join(dir, 'open.db'))} });
      const result = await walCheckpointer(db).checkpoint();
      if (result.log < 0) process.exit(3); // the worker never ran it
      openSqlite({ path: ${JSON.stringify(join(dir, 'unused.db'))} }); // and one never used`;
    const run = runScript(dir, script);
    assert.is(run.error, undefined, 'the process exited by itself');
    assert.is(run.status, 0, run.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

wal.run();
