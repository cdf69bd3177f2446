import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeActiveUsersCursor } from '../src/active-users-cursor.js';
import { CommittedView } from '../src/committed-view.js';
import { listActiveUsers } from '../src/repository.js';
import type { User } from '../src/types.js';
import { metadataJson } from '../src/user-json.js';
import { TOKEN, startTracker } from './helpers/tracker.js';
import { connectAdmin, connectClient, waitFor } from './helpers/ws-client.js';

const view = suite('CommittedView');

function user(sessionId: string, connectedAt: string): User {
  return { id: `id-${sessionId}`, sessionId, connectedAt, lastActiveAt: connectedAt, metadata: { remoteAddress: '127.0.0.1', userAgent: 'ua "quoted"', origin: '', path: '/ws', query: { q: 'a\nb' } } };
}

const sessionIds = (v: CommittedView): string[] => JSON.parse(v.json()).map((u: User) => u.sessionId);

const T1 = '2026-11-23T10:00:00.001Z';
const T2 = '2026-11-23T10:00:00.002Z';
const T3 = '2026-11-23T10:00:00.003Z';

view('applies commits: inserts, committed touches, deletes', () => {
  const v = new CommittedView();
  v.apply({ connected: [user('a', T1), user('b', T2)], activity: [], disconnected: [] });
  v.apply({ connected: [], activity: [{ sessionId: 'a', lastActiveAt: T3 }, { sessionId: 'gone', lastActiveAt: T3 }], disconnected: [] });
  v.apply({ connected: [user('c', T3)], activity: [], disconnected: ['b'] });
  const users = JSON.parse(v.json({ messages: (id) => (id === 'a' ? 7 : undefined) }));
  assert.equal(users, [
    { ...user('c', T3) },
    { ...user('a', T1), lastActiveAt: T3, messages: 7 },
  ]);
  // Same keys in the same order as a User: the JSON is byte for byte what JSON.stringify gives.
  const expected = JSON.stringify([user('c', T3), { ...user('a', T1), lastActiveAt: T3 }]);
  assert.is(v.json({ messages: () => undefined }), expected);
  assert.is(v.json(), expected, 'no counts without a lookup');
  assert.is(v.json({ before: '{"users":', after: '}' }), `{"users":${expected}}`, 'an envelope around the array');
  const page = { messages: (id: string) => (id === 'c' ? 0 : 2), page: { offset: 1, limit: 5 } };
  assert.is(v.json(page), JSON.stringify([{ ...user('a', T1), lastActiveAt: T3, messages: 2 }]), 'a page');
  assert.is(v.json({ page: { offset: 5, limit: 5 } }), '[]', 'a page past the end');
  v.apply({ connected: [], activity: [], disconnected: ['a', 'c'] });
  assert.is(v.json({ messages: () => undefined }), '[]');
});

view('orders newest first, ties by session id descending, whatever the commit order', () => {
  const v = new CommittedView();
  // Same-millisecond connects committed in random session order, then a
  // reconcile re-inserting older rows after newer ones.
  v.apply({ connected: [user('s2', T2), user('s9', T2), user('s1', T2), user('s5', T2)], activity: [], disconnected: [] });
  v.apply({ connected: [user('s7', T3)], activity: [], disconnected: [] });
  v.apply({ connected: [user('old-b', T1), user('old-a', T1)], activity: [], disconnected: [] });
  const order = sessionIds(v);
  assert.equal(order, ['s7', 's9', 's5', 's2', 's1', 'old-b', 'old-a']);
});

view('a badly shuffled view still comes out sorted (full-sort fallback)', () => {
  const v = new CommittedView();
  const rows = Array.from({ length: 300 }, (_, i) => user(`s${String(i).padStart(3, '0')}`, new Date(Date.UTC(2026, 10, 23, 10, 0, 0, i % 50)).toISOString()));
  // Oldest first is the worst case for the reverse-then-insertion pass.
  const shuffled = [...rows].sort((a, b) => (a.sessionId < b.sessionId ? 1 : -1)).reverse();
  v.apply({ connected: shuffled, activity: [], disconnected: [] });
  const got = sessionIds(v);
  const want = [...rows]
    .sort((a, b) => (a.connectedAt !== b.connectedAt ? (a.connectedAt < b.connectedAt ? 1 : -1) : a.sessionId < b.sessionId ? 1 : -1))
    .map((u) => u.sessionId);
  assert.equal(got, want);
});

view('writes into a sink the same text json() returns, rows joined a few kilobytes at a time, ended once', () => {
  const v = new CommittedView();
  // About 300 bytes a row: 100 rows are several writes.
  v.apply({ connected: Array.from({ length: 100 }, (_, i) => user(`s${String(i).padStart(3, '0')}`, `2026-11-23T10:00:00.${String(i).padStart(3, '0')}Z`)), activity: [], disconnected: [] });
  const options = { before: '{"type":"snapshot","users":', after: '}', messages: () => 3 };
  const written = (extra = {}) => {
    const texts: string[] = [];
    let ends = 0;
    v.writeJson(
      {
        write: (text) => {
          assert.is(ends, 0, 'nothing after end()');
          texts.push(text);
        },
        end: () => ends++,
      },
      { ...options, ...extra },
    );
    assert.is(ends, 1);
    return texts;
  };
  const texts = written();
  assert.is(texts.join(''), v.json(options));
  assert.equal(JSON.parse(texts.join('')).users.length, 100);
  assert.is(texts[0], '{"type":"snapshot","users":[', 'the message opens first');
  assert.ok(texts.length > 3 && texts.length < 100, `${texts.length} writes: rows joined, not one write each nor all in one`);
  const page = { page: { offset: 1, limit: 3 } };
  assert.is(written(page).join(''), v.json({ ...options, ...page }));
  assert.equal(JSON.parse(written(page).join('')).users.map((u: User) => u.sessionId), ['s098', 's097', 's096']);
  v.apply({ connected: [], activity: [], disconnected: JSON.parse(v.json()).map((u: User) => u.sessionId) });
  assert.equal(written().join(''), '{"type":"snapshot","users":[]}', 'an empty view');
});

view('stays sorted across snapshots: rows late after a sort, and a row re-inserted with another connect time', () => {
  const v = new CommittedView();
  v.apply({ connected: [user('b', T2), user('a', T1)], activity: [], disconnected: [] });
  assert.equal(sessionIds(v), ['b', 'a'], 'the first snapshot sorts');
  // In order after that sort: appended last, so no sort is needed...
  v.apply({ connected: [user('c', T3)], activity: [], disconnected: [] });
  assert.equal(sessionIds(v), ['c', 'b', 'a']);
  // ...but one older than the newest held row is late again, even with that row deleted.
  v.apply({ connected: [user('a2', T1)], activity: [], disconnected: ['c'] });
  assert.equal(sessionIds(v), ['b', 'a2', 'a']);
  // A reconcile replacing a row keeps its Map slot: with a new connect time it has to move.
  v.apply({ connected: [user('a', T3)], activity: [], disconnected: [] });
  assert.equal(sessionIds(v), ['a', 'b', 'a2']);
});

view('splices each row\'s metadata text as its insert wrote it', () => {
  const v = new CommittedView();
  const u = user('a', T1);
  const written = metadataJson(u);
  assert.is(written, JSON.stringify(u.metadata));
  // The text lives on the user without showing in its JSON or its keys.
  assert.is(JSON.stringify(u), JSON.stringify({ ...u }));
  assert.equal(Object.keys(u), ['id', 'sessionId', 'connectedAt', 'lastActiveAt', 'metadata']);
  v.apply({ connected: [u], activity: [], disconnected: [] });
  // Changed after its row was written: the view, like the table, keeps what was written.
  u.metadata.path = '/changed';
  assert.is(JSON.parse(v.json())[0].metadata.path, '/ws');
  assert.is(metadataJson({ ...u }), written, 'a copy carries the text along');
});

const snapshot = suite('single-node admin snapshot');

snapshot('equals the users table, row for row and in its order, after connects, touches and disconnects', async () => {
  const t = await startTracker({ touchFlushMs: 20 });
  try {
    const clients = [];
    for (let i = 0; i < 12; i++) clients.push(await connectClient(t.wsUrl(`/ws?user=u${i}`)));
    // A few ms after the connects, so a touched row's last_active_at differs from its connect time.
    await new Promise((r) => setTimeout(r, 5));
    for (const c of clients.slice(0, 6)) c.send({ type: 'ping' });
    for (const c of clients.slice(0, 6)) await c.next((m) => m.type === 'pong');
    await Promise.all(clients.slice(8).map((c) => c.close()));
    await waitFor(() => t.tracker.connections === 8, 3000, 'closes seen');
    // Let the touches and deletes commit, then compare with the table itself.
    await new Promise((r) => setTimeout(r, 80));
    const stored = await listActiveUsers(t.tracker.db);
    const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    assert.is(stored.length, 8);
    assert.equal(
      admin.snapshot.map(({ messages, ...u }: any) => u),
      stored,
      'snapshot rows equal the table (newest first, committed last_active_at)',
    );
    const pinged = new Set(clients.slice(0, 6).map((c) => c.sessionId));
    for (const u of admin.snapshot) assert.is(u.messages, pinged.has(u.sessionId) ? 1 : 0, 'live message counts ride along');
    // GET /active-users is served from the same view: the table's rows, pages and count.
    const get = async (query: string) => {
      const res = await fetch(t.httpUrl(`/active-users${query}`), { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.is(res.status, 200);
      return (await res.json()) as { count: number; users: unknown[] };
    };
    assert.equal(await get(''), { count: 8, users: stored, next: null }, 'no message counts: the User shape');
    assert.equal(await get('?limit=3&offset=2'), { count: 8, users: await listActiveUsers(t.tracker.db, { limit: 3, offset: 2 }), next: encodeActiveUsersCursor(stored[4]!) });
    assert.equal(await get('?limit=5&offset=6'), { count: 8, users: stored.slice(6), next: null });
    assert.equal(await get('?offset=20'), { count: 8, users: [], next: null });
    await admin.close();
    await Promise.all(clients.slice(0, 8).map((c) => c.close()));
  } finally {
    await t.close();
  }
});

view.run();
snapshot.run();
