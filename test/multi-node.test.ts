/**
 * Several tracker nodes on one real PostgreSQL (started by this file):
 * one view for every admin, cross-node events and kicks, large changes,
 * admins joining under churn. Failures are in multi-node-failures.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { activeSessionIds, follow, getActiveUsers, startNode } from './helpers/multi-node.js';
import { postgresForSuite } from './helpers/postgres.js';
import { TOKEN } from './helpers/tracker.js';
import { connect, connectAdmin, connectClient, waitFor, type TestClient } from './helpers/ws-client.js';

const multi = suite('multi-node on PostgreSQL');

const { freshDatabase } = postgresForSuite(multi, 'multi');

multi('two nodes: snapshots, /active-users and live events cover both nodes', async () => {
  const url = await freshDatabase();
  const a = await startNode(url, 'node-a');
  const b = await startNode(url, 'node-b');
  const clients: TestClient[] = [];
  try {
    const onA = await connectClient(a.wsUrl('/ws?user=alice'));
    const onB = await connectClient(b.wsUrl('/ws?user=bob'));
    clients.push(onA, onB);

    const adminA = await connectAdmin(a.wsUrl('/admin/stream'), TOKEN);
    const adminB = await connectAdmin(b.wsUrl('/admin/stream'), TOKEN);
    clients.push(adminA, adminB);
    const expected = [onA.sessionId, onB.sessionId].sort();
    assert.equal(adminA.snapshot.map((u) => u.sessionId).sort(), expected, 'admin on A sees B\'s client');
    assert.equal(adminB.snapshot.map((u) => u.sessionId).sort(), expected, 'admin on B sees A\'s client');
    const bob = adminA.snapshot.find((u) => u.sessionId === onB.sessionId);
    assert.is(bob.metadata.user, 'bob');
    assert.match(bob.connectedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'timestamps are ISO strings');
    assert.equal(await activeSessionIds(a), expected);
    assert.equal(await activeSessionIds(b), expected);
    // Live stats: the message count is in memory, so only the holding node knows it.
    assert.type(adminA.snapshot.find((u) => u.sessionId === onA.sessionId).messages, 'number');
    assert.is(bob.messages, undefined);
    assert.equal(bob.metadata, { remoteAddress: '127.0.0.1', userAgent: '', origin: '', path: '/ws', query: { user: 'bob' }, user: 'bob' }, 'metadata is an object');

    // A connect on B reaches the admin on A, with the same shape as locally.
    const carol = await connectClient(b.wsUrl('/ws?user=carol'));
    clients.push(carol);
    const event = await adminA.next((m) => m.type === 'connected' && m.user.sessionId === carol.sessionId);
    assert.is(event.user.metadata.user, 'carol');
    assert.match(event.user.connectedAt, /Z$/);

    // Activity on B reaches A.
    carol.send({ type: 'ping' });
    const activity = await adminA.next((m) => m.type === 'activity' && m.users.some((t: any) => t.sessionId === carol.sessionId));
    assert.match(activity.users[0].lastActiveAt, /Z$/);

    // A disconnect on A reaches B.
    await onA.close();
    await adminB.next((m) => m.type === 'disconnected' && m.sessionId === onA.sessionId);
    assert.equal(await activeSessionIds(b), [onB.sessionId, carol.sessionId].sort());
  } finally {
    for (const c of clients) await c.close();
    await a.close();
    await b.close();
  }
});

multi('a client whose metadata is cut at an emoji is stored, and other clients\' writes go on', async () => {
  const url = await freshDatabase();
  const node = await startNode(url, 'emoji');
  const clients: TestClient[] = [];
  try {
    // Cut inside the emoji, the value ended in half a surrogate pair, which
    // JSON.stringify writes as \ud83d and jsonb refuses: every batch failed.
    const user = 'a'.repeat(511) + '\u{1F600}';
    const cut = await connectClient(node.wsUrl(`/ws?user=${encodeURIComponent(user)}`));
    const plain = await connectClient(node.wsUrl('/ws?user=bob'));
    clients.push(cut, plain);
    assert.is(node.tracker.degradedReason, undefined);
    assert.equal(await activeSessionIds(node), [cut.sessionId, plain.sessionId].sort());
    const { body } = await getActiveUsers(node);
    assert.is(body.users.find((u: any) => u.sessionId === cut.sessionId).metadata.user, 'a'.repeat(511));
  } finally {
    for (const c of clients) await c.close();
    await node.close();
  }
});

multi('a client sending NUL in its query and its close reason is stored, and other clients\' writes go on', async () => {
  const url = await freshDatabase();
  const node = await startNode(url, 'nul');
  const clients: TestClient[] = [];
  try {
    // `%00` decodes to U+0000, which PostgreSQL's jsonb and text refuse: the
    // batch failed, then every retry, and the history row kept failing after.
    const nul = await connectClient(node.wsUrl('/ws?user=%00bad'));
    const plain = await connectClient(node.wsUrl('/ws?user=bob'));
    clients.push(nul, plain);
    assert.is(node.tracker.degradedReason, undefined);
    assert.equal(await activeSessionIds(node), [nul.sessionId, plain.sessionId].sort());
    nul.ws.close(4001, 'bye\0now');
    await nul.closed;
    const history = async () => {
      const res = await fetch(node.httpUrl('/history?user=%00bad'), { headers: { authorization: `Bearer ${TOKEN}` } });
      return { status: res.status, body: (await res.json()) as any };
    };
    await waitFor(async () => (await history()).body.sessions?.length === 1, 5000, 'the history row');
    const { status, body } = await history();
    assert.is(status, 200, 'the filter holds a NUL too, and finds the stored label');
    assert.is(body.sessions[0].user, '\ufffdbad');
    assert.is(body.sessions[0].closeReason, 'bye\ufffdnow');
    const later = await connectClient(node.wsUrl('/ws'));
    clients.push(later);
    assert.equal(await activeSessionIds(node), [plain.sessionId, later.sessionId].sort());
    assert.is(node.tracker.degradedReason, undefined);
  } finally {
    for (const c of clients) await c.close();
    await node.close();
  }
});

multi('an admin on one node kicks a client held by another', async () => {
  const url = await freshDatabase();
  const a = await startNode(url, 'kick-a');
  const b = await startNode(url, 'kick-b');
  const clients: TestClient[] = [];
  try {
    const victim = await connectClient(b.wsUrl('/ws'));
    const bystander = await connectClient(b.wsUrl('/ws'));
    clients.push(victim, bystander);
    const admin = await connectAdmin(a.wsUrl('/admin/stream'), TOKEN);
    clients.push(admin);
    admin.send({ type: 'kick', sessionId: victim.sessionId });
    const closed = await victim.closed;
    assert.is(closed.code, 4000, 'closed by its own node with the kick code');
    await admin.next((m) => m.type === 'disconnected' && m.sessionId === victim.sessionId);
    assert.equal(await activeSessionIds(a), [bystander.sessionId]);
    assert.is(bystander.ws.readyState, bystander.ws.OPEN);
    assert.not.ok(admin.inbox.some((m) => m.type === 'error'), 'no "unknown session" for a session on another node');
  } finally {
    for (const c of clients) await c.close();
    await a.close();
    await b.close();
  }
});

multi('a change too large for one NOTIFY is split, and every connect arrives', async () => {
  const url = await freshDatabase();
  const a = await startNode(url, 'split-a');
  const b = await startNode(url, 'split-b');
  const clients: TestClient[] = [];
  try {
    const admin = await connectAdmin(a.wsUrl('/admin/stream'), TOKEN);
    clients.push(admin);
    const view = follow(admin);
    // 60 connects opened at once land in few transactions of ~1 KB users each: far past 8000 bytes.
    const long = 'x'.repeat(500);
    const opened = await Promise.all(
      Array.from({ length: 60 }, (_, i) => connectClient(b.wsUrl(`/ws?user=u${i}&pad=${long}`), { headers: { 'user-agent': long } })),
    );
    clients.push(...opened);
    await waitFor(() => view.users.size === 60, 10_000, 'all 60 connects on the admin of the other node');
    assert.equal([...view.users.keys()].sort(), opened.map((c) => c.sessionId).sort());
    assert.equal(view.anomalies, []);
  } finally {
    for (const c of clients) await c.close();
    await a.close();
    await b.close();
  }
});

multi('new admins under cross-node churn neither miss nor duplicate an event', async () => {
  const url = await freshDatabase();
  const a = await startNode(url, 'order-a');
  const b = await startNode(url, 'order-b');
  const views: { users: Map<string, any>; anomalies: string[] }[] = [];
  const admins: TestClient[] = [];
  const open = new Set<TestClient & { sessionId: string }>();
  let churning = true;
  try {
    // Churn on B: clients keep connecting and leaving.
    const churn = (async () => {
      let i = 0;
      while (churning) {
        const c = await connectClient(b.wsUrl(`/ws?user=c${i++}`));
        open.add(c);
        if (open.size > 8) {
          const victim = [...open][0]!;
          open.delete(victim);
          victim.ws.close();
        }
      }
    })();
    // Admins join on A (and B) in the middle of it.
    for (let i = 0; i < 8; i++) {
      const node = i % 2 === 0 ? a : b;
      const admin = connect(node.wsUrl('/admin/stream'), { headers: { authorization: `Bearer ${TOKEN}` } });
      admins.push(admin);
      views.push(follow(admin));
      await new Promise((r) => setTimeout(r, 40));
    }
    churning = false;
    await churn;
    const finalIds = [...open].map((c) => c.sessionId).sort();
    await waitFor(async () => (await activeSessionIds(a)).join() === finalIds.join(), 10_000, 'table settles');
    for (const [i, view] of views.entries()) {
      await waitFor(() => [...view.users.keys()].sort().join() === finalIds.join(), 10_000, `admin ${i} converges`);
      assert.equal(view.anomalies, [], `admin ${i} saw no duplicate or unknown event`);
    }
  } finally {
    churning = false;
    for (const c of open) await c.close();
    for (const admin of admins) await admin.close();
    await a.close();
    await b.close();
  }
});

multi.run();
