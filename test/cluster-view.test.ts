import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClusterView, type ClusterChange } from '../src/cluster-view.js';
import { PgSnapshot } from '../src/pg-events.js';
import type { User } from '../src/types.js';

const view = suite('ClusterView');

// Snapshot taken while 103 and 105 were in progress: 100–102 and 104 had committed.
const snapshot = new PgSnapshot('103:106:103,105');

function user(sessionId: string, connectedAt = '2026-11-23T10:00:00.000Z'): User {
  return {
    id: `id-${sessionId}`,
    sessionId,
    connectedAt,
    lastActiveAt: connectedAt,
    metadata: { remoteAddress: '127.0.0.1', userAgent: '', origin: '', path: '/ws', query: {} },
  };
}

function change(xid: number, parts: Partial<Omit<ClusterChange, 'xid'>>): ClusterChange {
  return { xid: BigInt(xid), connected: [], activity: [], disconnected: [], ...parts };
}

type Listed = User & { messages?: number };
/** The view's JSON, written into a sink (ended once, nothing after) and joined. */
function listed(v: ClusterView, messages: (sessionId: string) => number | undefined = () => undefined): Listed[] {
  const texts: string[] = [];
  let ends = 0;
  v.writeJson({ write: (text) => (assert.is(ends, 0), void texts.push(text)), end: () => ends++ }, { messages });
  assert.is(ends, 1, 'ended once');
  return JSON.parse(texts.join(''));
}
const sessionIds = (v: ClusterView) => listed(v).map((u) => u.sessionId);

view('changes delivered during the load: those the snapshot holds are skipped, the rest applied', () => {
  const v = new ClusterView();
  v.beginLoad();
  assert.not.ok(v.ready);
  // 102 committed before the snapshot (its row is in the read); 103 was in progress.
  assert.not.ok(v.apply(change(102, { connected: [user('a')] })));
  assert.not.ok(v.apply(change(103, { connected: [user('b')] })));
  assert.equal(sessionIds(v), [], 'nothing is served while loading');
  assert.ok(v.finishLoad(snapshot, [user('a')]));
  assert.ok(v.ready);
  assert.equal(sessionIds(v).sort(), ['a', 'b'], 'a once, from the read; b from the buffer');
});

view('a late notification of a change the load holds is skipped, until the first it lacks', () => {
  const v = new ClusterView();
  v.beginLoad();
  v.finishLoad(snapshot, [user('a'), user('c')]);
  // 104 committed before the snapshot; its NOTIFY arrives after the load.
  assert.not.ok(v.apply(change(104, { disconnected: ['c'] })), 'already held: no event for anyone');
  assert.equal(sessionIds(v).sort(), ['a', 'c'], 'the read, taken after 104, is what counts');
  // 105 was in progress at the snapshot: new, and it ends the filter (commit order).
  assert.ok(v.apply(change(105, { connected: [user('d')] })));
  // An old xid after that cannot be a late one any more: it is applied.
  assert.ok(v.apply(change(101, { disconnected: ['a'] })));
  assert.equal(sessionIds(v).sort(), ['c', 'd']);
});

view('activity moves last_active_at and carries the holding node\'s message count', () => {
  const v = new ClusterView();
  v.beginLoad();
  v.finishLoad(snapshot, [user('a'), user('b')]);
  assert.ok(v.apply(change(110, { activity: [{ sessionId: 'a', lastActiveAt: '2026-11-23T10:00:05.000Z', messages: 7 }] })));
  const byId = new Map(listed(v, (id) => (id === 'b' ? 3 : undefined)).map((u) => [u.sessionId, u]));
  assert.is(byId.get('a')!.lastActiveAt, '2026-11-23T10:00:05.000Z');
  assert.is(byId.get('a')!.messages, 7, 'held elsewhere: the count its node last reported');
  assert.is(byId.get('b')!.messages, 3, 'held here: the live count');
});

view('rows come newest connection first, whatever order the changes came in', () => {
  const v = new ClusterView();
  v.beginLoad();
  v.finishLoad(snapshot, [user('old', '2026-11-23T09:00:00.000Z'), user('mid', '2026-11-23T10:00:00.000Z')]);
  v.apply(change(110, { connected: [user('new', '2026-11-23T11:00:00.000Z')] }));
  v.apply(change(111, { connected: [user('older', '2026-11-23T08:00:00.000Z')] }));
  assert.equal(sessionIds(v), ['new', 'mid', 'old', 'older']);
});

view('a reload starts from nothing; an abandoned load serves nothing and takes no changes', () => {
  const v = new ClusterView();
  v.beginLoad();
  v.finishLoad(snapshot, [user('a')]);
  v.beginLoad();
  assert.not.ok(v.ready);
  v.abandonLoad();
  assert.not.ok(v.finishLoad(snapshot, [user('late')]), 'no load under way');
  assert.not.ok(v.ready);
  assert.not.ok(v.apply(change(120, { connected: [user('b')] })));
  assert.equal(sessionIds(v), []);
  v.beginLoad();
  v.finishLoad(new PgSnapshot('130:130:'), [user('c')]);
  assert.equal(sessionIds(v), ['c'], 'only the new read: the old rows are gone');
});

view.run();
