/**
 * Per-connection live stats on the admin stream: activity entries carry
 * the connection's message count so far, and a late admin's snapshot has
 * the counts of the connections already live.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTracker, TOKEN } from './helpers/tracker.js';
import { connectAdmin, connectClient, type TestClient } from './helpers/ws-client.js';

const test = suite('live stats');

test('activity entries and snapshots carry the message count', async () => {
  const t = await startTracker({ touchFlushMs: 20 });
  const clients: TestClient[] = [];
  try {
    const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    const client = await connectClient(t.wsUrl('/ws?user=counted'));
    clients.push(admin, client);
    for (let i = 0; i < 4; i++) client.send({ type: 'ping' });
    for (let i = 0; i < 4; i++) await client.next((m) => m.type === 'pong');
    const activity = await admin.next((m) => m.type === 'activity' && m.users.some((u: any) => u.sessionId === client.sessionId && u.messages === 4));
    assert.ok(activity);

    const late = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    clients.push(late);
    const entry = late.snapshot.find((u) => u.sessionId === client.sessionId);
    assert.is(entry.messages, 4);
  } finally {
    for (const c of clients) await c.close();
    await t.close();
  }
});

test.run();
