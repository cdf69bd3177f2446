/**
 * GET /active-users paged by cursor (`before=` the previous page's
 * `next`) on one node: the cursor's own parsing, the same pages from the
 * committed view, the cluster view and the SQLite table, 400s for bad
 * cursors, and a walk of every page under churn that sees each
 * connection live throughout exactly once, where the same walk by
 * offset repeats and skips rows.
 */
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeActiveUsersCursor, parseActiveUsersCursor } from '../src/active-users-cursor.js';
import { ClusterView } from '../src/cluster-view.js';
import { CommittedView } from '../src/committed-view.js';
import { openSqlite } from '../src/database.js';
import { migrateToLatest } from '../src/migrations.js';
import { createUsers } from '../src/repository.js';
import { activeUsersEnvelope } from '../src/user-json.js';
import { allAnswers, assertDescending, churnWalk, exactlyOnce, followNext, tablePages, tiedUsers, type PageSource } from './helpers/active-users-pages.js';
import { startTracker, tempDir, TOKEN, type TestTracker } from './helpers/tracker.js';
import { connectClient, waitFor, type TestClient } from './helpers/ws-client.js';

const test = suite('GET /active-users by cursor, one node');

async function get(t: TestTracker, query: string): Promise<{ status: number; body: any }> {
  const res = await fetch(t.httpUrl(`/active-users${query}`), { headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, body: await res.json() };
}

const SESSION = '01935a3c-7b2e-7c4d-8e5f-0123456789ab';
const b64 = (text: string) => Buffer.from(text).toString('base64url');

test('a cursor is a stored time and a lowercase session id; anything else is refused', () => {
  const key = { connectedAt: '2026-11-24T09:00:00.123Z', sessionId: SESSION };
  assert.equal(parseActiveUsersCursor(encodeActiveUsersCursor(key)), key);
  for (const bad of [
    '', 'not a cursor', 'x'.repeat(300), b64('2026-11-24T09:00:00.123Z'), b64(`2026-11-24T09:00:00Z|${SESSION}`),
    b64(`2026-02-30T09:00:00.123Z|${SESSION}`), b64(`2026-11-24T09:00:00.123+01:00|${SESSION}`),
    b64(`2026-11-24T09:00:00.123Z|${SESSION.toUpperCase()}`), b64(`2026-11-24T09:00:00.123Z|${SESSION}|x`), `${encodeActiveUsersCursor(key)}=`,
  ]) assert.is(parseActiveUsersCursor(bad), null, bad);
});

test('the committed view, the cluster view and the SQLite table give the same pages, ties included', async () => {
  const dir = tempDir();
  const db = openSqlite({ path: join(dir, 'pages.db') });
  try {
    const { error } = await migrateToLatest(db);
    if (error) throw error;
    const users = tiedUsers();
    await createUsers(db, users);
    const committed = new CommittedView();
    committed.apply({ connected: users, activity: [], disconnected: [] });
    const cluster = new ClusterView();
    cluster.beginLoad();
    cluster.finishLoad({ visible: () => true }, users);
    const fromView = (view: CommittedView | ClusterView): PageSource => (page) => JSON.parse(view.json({ page, ...activeUsersEnvelope(view.size) }));
    const expected = await allAnswers(tablePages(db), users);
    assert.equal(await allAnswers(fromView(committed), users), expected, 'committed view = table');
    assert.equal(await allAnswers(fromView(cluster), users), expected, 'cluster view = table');
    // A cursor whose row has gone still finds its place (the rows after its key).
    const pages = await followNext(tablePages(db), 8);
    const gone = pages[2].users.at(-1);
    committed.apply({ connected: [], activity: [], disconnected: [gone.sessionId] });
    const after = JSON.parse(committed.json({ page: { offset: 0, limit: 8, before: { connectedAt: gone.connectedAt, sessionId: gone.sessionId } }, ...activeUsersEnvelope(committed.size) }));
    assert.equal(after.users, pages[3].users);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad cursors and a cursor with an offset are 400s; next is null on the last page, and offset pages carry it too', async () => {
  const t = await startTracker();
  const clients: TestClient[] = [];
  try {
    for (let i = 0; i < 4; i++) clients.push(await connectClient(t.wsUrl('/ws')));
    for (const bad of ['nope', b64('2026-11-24T09:00:00.123Z|x'), 'x'.repeat(201), '']) {
      const { status, body } = await get(t, `?before=${encodeURIComponent(bad)}`);
      assert.is(status, 400, bad);
      assert.is(body.error, 'before must be a cursor from `next`');
    }
    const first = await get(t, '?limit=2');
    assert.is(first.body.count, 4);
    assert.type(first.body.next, 'string');
    const both = await get(t, `?limit=2&offset=0&before=${first.body.next}`);
    assert.equal([both.status, both.body.error], [400, 'before and offset cannot be used together']);
    const second = await get(t, `?limit=2&before=${first.body.next}`);
    assert.is(second.status, 200);
    assert.is(second.body.next, null, 'nothing follows the last page, though it is full');
    assert.equal(second.body.users, (await get(t, '?limit=2&offset=2')).body.users, 'the same rows as by offset');
    assert.is((await get(t, '?limit=3&offset=0')).body.next, encodeActiveUsersCursor(second.body.users[0]), 'an offset page gives the cursor of its last row');
    assert.is((await get(t, '?limit=2&offset=9')).body.next, null, 'past the end');
  } finally {
    for (const c of clients) await c.close();
    await t.close();
  }
});

async function walkUnderChurn(mode: 'before' | 'offset') {
  const t = await startTracker();
  const clients: TestClient[] = [];
  try {
    const initial = [];
    for (let i = 0; i < 24; i++) initial.push(await connectClient(t.wsUrl(`/ws?user=first-${i}`)));
    clients.push(...initial);
    const walk = await churnWalk({
      mode,
      limit: 4,
      initial,
      connect: (i) => connectClient(t.wsUrl(`/ws?user=new-${i}`)),
      get: (query) => get(t, query),
      // The committed view holds a close once the writer has committed it.
      settle: (open) => waitFor(async () => (await get(t, '?limit=1')).body.count === open, 5000, `${open} rows`),
    });
    clients.push(...walk.clients);
    return walk;
  } finally {
    for (const c of clients) await c.close();
    await t.close();
  }
}

test('walking every page by cursor under churn sees each connection live throughout exactly once', async () => {
  const walk = await walkUnderChurn('before');
  assert.equal(exactlyOnce(walk), { repeated: [], missing: [] });
  assertDescending(walk);
  assert.ok(walk.pages.length >= 5, `${walk.pages.length} pages`);
});

test('the same walk by offset repeats and skips rows (why the cursor exists)', async () => {
  const { repeated, missing } = exactlyOnce(await walkUnderChurn('offset'));
  assert.ok(repeated.length > 0, 'rows pushed down by new connections are served twice');
  assert.ok(missing.length > 0, 'rows pulled up by disconnects above the page are never served');
});

test.run();
