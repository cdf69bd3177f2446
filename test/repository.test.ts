import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openSqlite, type Database } from '../src/database.js';
import { migrateToLatest } from '../src/migrations.js';
import {
  countActiveUsers,
  createUser,
  createUsers,
  deleteAllUsers,
  deleteUser,
  deleteUsers,
  getUserBySessionId,
  listActiveUsers,
  touchUsers,
  withTransaction,
} from '../src/repository.js';
import type { User } from '../src/types.js';
import { tempDir } from './helpers/tracker.js';

const repo = suite('repository (SQLite)');

let dir = '';
let db: Database;

repo.before.each(async () => {
  dir = tempDir('roster-repo-');
  db = openSqlite({ path: join(dir, 'repo.db') });
  const { error } = await migrateToLatest(db);
  if (error) throw error;
});

repo.after.each(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function user(n: number, overrides: Partial<User> = {}): User {
  const at = new Date(Date.UTC(2026, 10, 23, 10, 0, n)).toISOString();
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    sessionId: `session-${n}`,
    connectedAt: at,
    lastActiveAt: at,
    metadata: { remoteAddress: '127.0.0.1', userAgent: 'ua', origin: '', path: '/ws', query: {}, user: `user-${n}` },
    ...overrides,
  };
}

repo('createUser and getUserBySessionId round-trip every field', async () => {
  const u = user(1, { metadata: { remoteAddress: '::1', userAgent: "Robert'); DROP TABLE users;--", origin: 'o', path: '/ws', query: { a: 'b' } } });
  await createUser(db, u);
  assert.equal(await getUserBySessionId(db, u.sessionId), u);
  assert.is(await getUserBySessionId(db, 'missing'), undefined);
  assert.is(await countActiveUsers(db), 1, 'hostile text is data, not SQL');
});

repo('session_id is unique', async () => {
  await createUser(db, user(1));
  try {
    await createUser(db, user(2, { sessionId: 'session-1' }));
    assert.unreachable('duplicate session_id accepted');
  } catch (error) {
    assert.match(String((error as Error).message), /UNIQUE/);
  }
});

repo('touchUsers updates a batch in one call, each row to its own time', async () => {
  await createUsers(db, [user(1), user(2), user(3)]);
  const changed = await touchUsers(db, [
    { sessionId: 'session-1', lastActiveAt: '2026-11-23T11:00:00.001Z' },
    { sessionId: 'session-3', lastActiveAt: '2026-11-23T11:00:00.003Z' },
    { sessionId: 'gone', lastActiveAt: '2026-11-23T11:00:00.009Z' },
  ]);
  assert.is(changed, 2, 'a touch for a missing row changes nothing');
  assert.is((await getUserBySessionId(db, 'session-1'))!.lastActiveAt, '2026-11-23T11:00:00.001Z');
  assert.is((await getUserBySessionId(db, 'session-2'))!.lastActiveAt, user(2).lastActiveAt);
  assert.is((await getUserBySessionId(db, 'session-3'))!.lastActiveAt, '2026-11-23T11:00:00.003Z');
  assert.is(await getUserBySessionId(db, 'gone'), undefined, 'an UPDATE never resurrects a row');
});

repo('batches larger than one statement chunk are written whole', async () => {
  const many = Array.from({ length: 2500 }, (_, i) => user(i));
  await createUsers(db, many);
  assert.is(await countActiveUsers(db), 2500);
  const touched = await touchUsers(db, many.map((u) => ({ sessionId: u.sessionId, lastActiveAt: '2026-11-24T00:00:00.000Z' })));
  assert.is(touched, 2500);
  assert.is(await deleteUsers(db, many.slice(0, 2400).map((u) => u.sessionId)), 2400);
  assert.is(await countActiveUsers(db), 100);
});

repo('deleteUser and deleteAllUsers report what they removed', async () => {
  await createUsers(db, [user(1), user(2), user(3)]);
  assert.is(await deleteUser(db, 'session-2'), true);
  assert.is(await deleteUser(db, 'session-2'), false);
  assert.is(await deleteAllUsers(db), 2);
  assert.is(await countActiveUsers(db), 0);
});

repo('listActiveUsers is newest first with limit and offset', async () => {
  await createUsers(db, [user(1), user(3), user(2), user(4)]);
  const all = await listActiveUsers(db);
  assert.equal(all.map((u) => u.sessionId), ['session-4', 'session-3', 'session-2', 'session-1']);
  assert.equal((await listActiveUsers(db, { limit: 2 })).map((u) => u.sessionId), ['session-4', 'session-3']);
  assert.equal((await listActiveUsers(db, { limit: 2, offset: 1 })).map((u) => u.sessionId), ['session-3', 'session-2']);
  assert.equal((await listActiveUsers(db, { offset: 3 })).map((u) => u.sessionId), ['session-1']);
});

repo('withTransaction commits on success and rolls back on error', async () => {
  await withTransaction(db, async (trx) => {
    await createUser(trx, user(1));
  });
  try {
    await withTransaction(db, async (trx) => {
      await createUser(trx, user(2));
      throw new Error('boom');
    });
    assert.unreachable();
  } catch (error) {
    assert.is((error as Error).message, 'boom');
  }
  assert.ok(await getUserBySessionId(db, 'session-1'));
  assert.is(await getUserBySessionId(db, 'session-2'), undefined, 'rolled back');
});

repo.run();
