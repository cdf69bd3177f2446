/**
 * Correctness of the compile-once write path (src/reusable-queries.ts):
 * a reused compiled query must write exactly what a freshly built one
 * would. No timing here; speed is measured by `npm run bench`.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openSqlite, type Database } from '../src/database.js';
import { migrateToLatest } from '../src/migrations.js';
import { createUsers, deleteUsers, getUserBySessionId, listActiveUsers, listSessionIds, touchUsers, withTransaction } from '../src/repository.js';
import { insertSessions, listSessions, type SessionRecord } from '../src/history-repository.js';
import { executeReusable, powerOfTwoChunks } from '../src/reusable-queries.js';
import type { User } from '../src/types.js';
import { tempDir } from './helpers/tracker.js';

const reuse = suite('reusable compiled queries');

let dir = '';
let db: Database;

reuse.before.each(async () => {
  dir = tempDir('roster-perf-');
  db = openSqlite({ path: join(dir, 'perf.db') });
  const { error } = await migrateToLatest(db);
  if (error) throw error;
});

reuse.after.each(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

let serial = 0;
function users(count: number, label: string): User[] {
  return Array.from({ length: count }, () => {
    const n = serial++;
    const at = new Date(Date.UTC(2026, 10, 23, 10, 0, 0, n)).toISOString();
    return {
      id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
      sessionId: `${label}-${n}`,
      connectedAt: at,
      lastActiveAt: at,
      metadata: { remoteAddress: '127.0.0.1', userAgent: `agent ${n}`, origin: '', path: '/ws', query: { n: String(n) } },
    };
  });
}

const bySession = (list: User[]) => [...list].sort((a, b) => a.sessionId.localeCompare(b.sessionId));

reuse('powerOfTwoChunks keeps order and cuts into powers of two up to max', () => {
  for (const n of [0, 1, 2, 3, 7, 128, 129, 511, 512, 1000, 1537]) {
    const items = Array.from({ length: n }, (_, i) => i);
    const chunks = powerOfTwoChunks(items, 512);
    assert.equal(chunks.flat(), items, `order for ${n}`);
    for (const chunk of chunks) {
      assert.ok(chunk.length <= 512 && (chunk.length & (chunk.length - 1)) === 0, `chunk of ${chunk.length} for ${n}`);
    }
  }
});

reuse('repeated batch inserts of every shape store exactly the given rows', async () => {
  // Same sizes twice: the second pass runs only cached compiled queries.
  const written: User[] = [];
  for (const pass of ['a', 'b']) {
    for (const size of [1, 3, 5, 130, 700]) {
      const batch = users(size, `${pass}${size}`);
      await createUsers(db, batch);
      written.push(...batch);
    }
  }
  assert.equal(bySession(await listActiveUsers(db)), bySession(written));
  const one = written[written.length - 1]!;
  assert.equal(await getUserBySessionId(db, one.sessionId), one);
});

reuse('repeated touches set each row its own time and skip rows that are gone', async () => {
  const batch = users(300, 't');
  await createUsers(db, batch);
  for (const round of [1, 2]) {
    const touches = batch.map((u, i) => ({ sessionId: u.sessionId, lastActiveAt: new Date(Date.UTC(2026, 10, 24, round, 0, 0, i)).toISOString() }));
    const changed = await touchUsers(db, [...touches, { sessionId: 'missing', lastActiveAt: touches[0]!.lastActiveAt }]);
    assert.is(changed, 300);
    const stored = new Map((await listActiveUsers(db)).map((u) => [u.sessionId, u.lastActiveAt]));
    for (const t of touches) assert.is(stored.get(t.sessionId), t.lastActiveAt);
  }
  assert.is(await listActiveUsers(db).then((l) => l.length), 300, 'a touch never adds a row');
});

reuse('repeated batch deletes remove exactly the given rows and count only existing ones', async () => {
  const batch = users(600, 'd');
  await createUsers(db, batch);
  const first = batch.slice(0, 130).map((u) => u.sessionId);
  const second = batch.slice(130, 260).map((u) => u.sessionId);
  assert.is(await deleteUsers(db, [...first, 'nope']), 130);
  assert.is(await deleteUsers(db, [...second, 'nope']), 130);
  assert.equal((await listSessionIds(db)).sort(), batch.slice(260).map((u) => u.sessionId).sort());
});

reuse('repeated history inserts store exactly the given sessions, and a repeat changes nothing', async () => {
  const records: SessionRecord[] = [];
  for (const pass of ['a', 'b']) {
    for (const size of [1, 3, 130]) {
      const batch = Array.from({ length: size }, (_, i): SessionRecord => {
        const n = serial++;
        return {
          id: `h-${pass}-${size}-${i}`,
          sessionId: `hs-${n}`,
          user: n % 2 ? null : `label ${n}`,
          remoteAddress: '127.0.0.1',
          userAgent: `agent ${n}`,
          connectedAt: new Date(Date.UTC(2026, 10, 23, 9, 0, 0, n)).toISOString(),
          disconnectedAt: new Date(Date.UTC(2026, 10, 23, 10, 0, 0, n)).toISOString(),
          durationMs: 3_600_000,
          closeCode: 1000 + (n % 3),
          closeReason: n % 3 ? '' : 'bye',
          messages: n,
          bytesIn: n * 10,
        };
      });
      await insertSessions(db, batch);
      records.push(...batch);
    }
  }
  await insertSessions(db, records.slice(0, 3)); // already there: left alone
  const stored = await listSessions(db, { limit: 1000 });
  const byId = (list: SessionRecord[]) => [...list].sort((a, b) => a.id.localeCompare(b.id));
  assert.equal(byId(stored), byId(records));
});

reuse('reused queries run inside the caller transaction (rolled back with it)', async () => {
  await createUsers(db, users(3, 'warm'));
  const batch = users(3, 'rollback');
  try {
    await withTransaction(db, async (trx) => {
      await createUsers(trx, batch);
      throw new Error('abort');
    });
  } catch (error) {
    assert.is((error as Error).message, 'abort');
  }
  for (const u of batch) assert.is(await getUserBySessionId(db, u.sessionId), undefined);
});

reuse('a key whose parameters do not match is never reused', async () => {
  const batch = users(2, 'k');
  await createUsers(db, batch);
  const lookup = (sessionId: string) =>
    executeReusable(db, 'lookup', ['not the real parameter'], () => db.selectFrom('users').select('session_id').where('session_id', '=', sessionId));
  // Were the first compile cached, the second call would bind the wrong value and find nothing.
  assert.equal((await lookup(batch[0]!.sessionId)).rows, [{ session_id: batch[0]!.sessionId }]);
  assert.equal((await lookup(batch[1]!.sessionId)).rows, [{ session_id: batch[1]!.sessionId }]);
});

reuse('each hot-path shape is compiled once: later batches of the same size compile nothing', async () => {
  // A plugin sees every query Kysely compiles; a reused one is not compiled again.
  let compiles = 0;
  const counted = db.withPlugin({
    transformQuery: ({ node }) => {
      compiles++;
      return node;
    },
    transformResult: async ({ result }) => result,
  });
  const history = (batch: User[]): SessionRecord[] =>
    batch.map((u) => ({
      id: u.id, sessionId: u.sessionId, user: null, remoteAddress: '127.0.0.1', userAgent: '', connectedAt: u.connectedAt,
      disconnectedAt: u.lastActiveAt, durationMs: 0, closeCode: 1000, closeReason: '', messages: 0, bytesIn: 0,
    }));
  const round = async (label: string) => {
    const batch = users(16, label);
    await createUsers(counted, batch, 'node-a');
    await touchUsers(counted, batch.map((u) => ({ sessionId: u.sessionId, lastActiveAt: u.connectedAt })));
    await deleteUsers(counted, batch.map((u) => u.sessionId));
    await insertSessions(counted, history(batch));
  };
  await round('first');
  assert.ok(compiles >= 4, `the first round compiles its shapes (${compiles})`);
  compiles = 0;
  await round('second');
  await round('third');
  assert.is(compiles, 0, 'later rounds reuse every compiled shape');
  assert.is((await listSessions(db, { limit: 100 })).length, 48);
});

reuse.run();
