import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SnapshotBuffers } from '../src/constants.js';
import { listActiveUsers } from '../src/repository.js';
import { Opcode, rawUpgrade } from './helpers/raw-ws.js';
import { TOKEN, startTracker } from './helpers/tracker.js';
import { connect, connectAdmin, connectClient, upgradeStatus, waitFor, type TestClient } from './helpers/ws-client.js';

const auth = suite('admin authentication');

auth('a valid bearer header at the upgrade gets the snapshot at once', async () => {
  const t = await startTracker();
  try {
    const client = await connectClient(t.wsUrl('/ws?user=bob'));
    const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    assert.is(admin.snapshot.length, 1);
    assert.is(admin.snapshot[0].sessionId, client.sessionId);
    assert.is(admin.snapshot[0].metadata.user, 'bob');
    await admin.close();
    await client.close();
  } finally {
    await t.close();
  }
});

auth('a wrong bearer header gets HTTP 401 and no upgrade', async () => {
  const t = await startTracker();
  try {
    assert.is(await upgradeStatus(t.wsUrl('/admin/stream'), { headers: { authorization: 'Bearer not-the-token-at-all' } }), 401);
    assert.is(await upgradeStatus(t.wsUrl('/admin/stream'), { headers: { authorization: 'Basic abc' } }), 401);
    assert.is(t.tracker.admins, 0);
  } finally {
    await t.close();
  }
});

auth('a token in the URL is refused with 400', async () => {
  const t = await startTracker();
  try {
    assert.is(await upgradeStatus(t.wsUrl(`/admin/stream?token=${TOKEN}`)), 400);
  } finally {
    await t.close();
  }
});

auth('first-message auth with the right token streams the snapshot', async () => {
  const t = await startTracker();
  try {
    const admin = connect(t.wsUrl('/admin/stream'));
    await new Promise((r) => admin.ws.once('open', r));
    admin.send({ type: 'auth', token: TOKEN });
    const snapshot = await admin.next((m) => m.type === 'snapshot');
    assert.equal(snapshot.users, []);
    const client = await connectClient(t.wsUrl('/ws'));
    const event = await admin.next((m) => m.type === 'connected');
    assert.is(event.user.sessionId, client.sessionId);
    await client.close();
    await admin.close();
  } finally {
    await t.close();
  }
});

async function expectPolicyClose(t: { wsUrl(p: string): string }, first: string | undefined): Promise<TestClient> {
  const admin = connect(t.wsUrl('/admin/stream'));
  await new Promise((r) => admin.ws.once('open', r));
  if (first !== undefined) admin.ws.send(first);
  const closed = await admin.closed;
  assert.is(closed.code, 1008);
  assert.ok(!admin.inbox.some((m) => m.type === 'snapshot'), 'no data before authentication');
  return admin;
}

auth('a wrong token, a missing token or non-JSON closes with 1008', async () => {
  const t = await startTracker({ authFailureLimit: 100 });
  try {
    await expectPolicyClose(t, JSON.stringify({ type: 'auth', token: 'wrong-wrong-wrong-wrong' }));
    await expectPolicyClose(t, JSON.stringify({ type: 'auth' }));
    await expectPolicyClose(t, JSON.stringify({ type: 'kick', sessionId: 'x' }));
    await expectPolicyClose(t, 'this is not json');
  } finally {
    await t.close();
  }
});

auth('silence past the auth timeout closes with 1008', async () => {
  const t = await startTracker({ adminAuthTimeoutMs: 200 });
  try {
    const admin = await expectPolicyClose(t, undefined);
    assert.equal(admin.inbox, []);
  } finally {
    await t.close();
  }
});

const stream = suite('admin stream');

stream('connected, activity and disconnected follow the snapshot', async () => {
  const t = await startTracker({ touchFlushMs: 30 });
  try {
    const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    const client = await connectClient(t.wsUrl('/ws?user=carol'));
    const connected = await admin.next((m) => m.type === 'connected');
    assert.equal(Object.keys(connected.user).sort(), ['connectedAt', 'id', 'lastActiveAt', 'metadata', 'sessionId']);
    assert.is(connected.user.metadata.user, 'carol');
    client.send({ type: 'ping' });
    const activity = await admin.next((m) => m.type === 'activity');
    assert.is(activity.users.length, 1);
    assert.is(activity.users[0].sessionId, client.sessionId);
    assert.match(activity.users[0].lastActiveAt, /Z$/);
    await client.close();
    const disconnected = await admin.next((m) => m.type === 'disconnected');
    assert.equal(disconnected, { type: 'disconnected', sessionId: client.sessionId });
    await admin.close();
  } finally {
    await t.close();
  }
});

stream('a snapshot larger than a fragment\'s buffer arrives as one message in fragments, and events follow it whole', async () => {
  const t = await startTracker();
  const clients: TestClient[] = [];
  try {
    // Rows of about 250 bytes: more than two buffers' worth.
    const count = Math.ceil((SnapshotBuffers.bytes * 2.5) / 250);
    for (let i = 0; i < count; i += 50) clients.push(...(await Promise.all(Array.from({ length: Math.min(50, count - i) }, () => connectClient(t.wsUrl('/ws'))))));
    await waitFor(async () => (await listActiveUsers(t.tracker.db)).length === count, 5000, 'rows written');
    const admin = await rawUpgrade(t.port, '/admin/stream', { headers: { Authorization: `Bearer ${TOKEN}` } });
    await waitFor(() => admin.frames.some((f) => f.fin), 5000, 'the last fragment');
    const frames = admin.frames.splice(0);
    assert.ok(frames.length >= 3, `${frames.length} fragments`);
    assert.equal(frames.map((f) => f.opcode), [Opcode.TEXT, ...frames.slice(1).map(() => Opcode.CONTINUATION)]);
    assert.equal(frames.map((f) => f.fin), frames.map((_, i) => i === frames.length - 1));
    assert.ok(frames.every((f) => f.payload.length <= SnapshotBuffers.bytes));
    const snapshot = JSON.parse(Buffer.concat(frames.map((f) => f.payload)).toString());
    assert.is(snapshot.type, 'snapshot');
    assert.equal(snapshot.users.map((u: { sessionId: string }) => u.sessionId).sort(), clients.map((c) => (c as TestClient & { sessionId: string }).sessionId).sort());
    const leaving = clients.pop()! as TestClient & { sessionId: string };
    await leaving.close();
    const event = await admin.nextJson((m) => m.type === 'disconnected');
    assert.is(event.sessionId, leaving.sessionId);
    assert.ok(admin.frames.every((f) => f.fin), 'an event is one whole frame');
    admin.destroy();
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await t.close();
  }
});

stream('an admin joining during churn misses and duplicates nothing', async () => {
  const t = await startTracker();
  try {
    const clients: TestClient[] = [];
    let running = true;
    // Churn: keep opening and closing clients while admins join.
    const churn = (async () => {
      while (running) {
        const c = connect(t.wsUrl('/ws'));
        clients.push(c);
        await new Promise((r) => setTimeout(r, 2));
        if (clients.length > 5) void clients.shift()!.close();
      }
    })();
    const admins: TestClient[] = [];
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 15));
      admins.push(connect(t.wsUrl('/admin/stream'), { headers: { authorization: `Bearer ${TOKEN}` } }));
    }
    await new Promise((r) => setTimeout(r, 100));
    running = false;
    await churn;
    await Promise.all(clients.map((c) => c.close()));
    await waitFor(() => t.tracker.connections === 0, 5000, 'all clients gone');
    // The last deletes may still be in the writer's queue behind snapshot reads.
    await waitFor(async () => (await listActiveUsers(t.tracker.db)).length === 0, 5000, 'an empty table');
    // Events for those deletes were sent at commit; a pong queued behind them proves delivery.
    for (const admin of admins) {
      admin.send({ type: 'ping' });
      await admin.next((m) => m.type === 'pong');
    }

    const snapshotSizes = admins.map((a) => a.inbox.find((m) => m.type === 'snapshot')?.users.length ?? 0);
    assert.ok(snapshotSizes.some((n) => n > 0), 'some admins joined while clients were live');
    for (const admin of admins) {
      // Rebuild the view from the snapshot plus events; it must stay consistent throughout.
      const view = new Set<string>();
      let snapshotSeen = false;
      for (const message of admin.inbox) {
        if (message.type === 'snapshot') {
          assert.not.ok(snapshotSeen, 'one snapshot');
          snapshotSeen = true;
          for (const u of message.users) view.add(u.sessionId);
        } else if (message.type === 'connected') {
          assert.ok(snapshotSeen, 'no event before the snapshot');
          assert.not.ok(view.has(message.user.sessionId), `duplicate connected ${message.user.sessionId}`);
          view.add(message.user.sessionId);
        } else if (message.type === 'disconnected') {
          assert.ok(view.delete(message.sessionId), `disconnected for a session never seen: ${message.sessionId}`);
        }
      }
      assert.ok(snapshotSeen);
      assert.ok(admin.inbox.some((m) => m.type === 'disconnected'), 'the admin saw churn');
      assert.is(view.size, 0, 'the rebuilt view matches the empty table');
      await admin.close();
    }
  } finally {
    await t.close();
  }
});

stream('kick closes the client with 4000 and streams the disconnect', async () => {
  const t = await startTracker();
  try {
    const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    const client = await connectClient(t.wsUrl('/ws'));
    await admin.next((m) => m.type === 'connected');
    admin.send({ type: 'kick', sessionId: client.sessionId });
    const closed = await client.closed;
    assert.equal(closed, { code: 4000, reason: 'disconnected by admin' });
    const gone = await admin.next((m) => m.type === 'disconnected');
    assert.is(gone.sessionId, client.sessionId);
    admin.send({ type: 'kick', sessionId: 'no-such-session' });
    const error = await admin.next((m) => m.type === 'error');
    assert.is(error.sessionId, 'no-such-session');
    assert.is(admin.ws.readyState, admin.ws.OPEN);
    admin.send({ type: 'unknown-command' });
    assert.is((await admin.closed).code, 1008);
  } finally {
    await t.close();
  }
});

auth.run();
stream.run();
