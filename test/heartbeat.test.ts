import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { getUserBySessionId } from '../src/repository.js';
import { startTracker, TOKEN } from './helpers/tracker.js';
import { connect, connectAdmin, connectClient, waitFor } from './helpers/ws-client.js';

const heartbeat = suite('heartbeat');

heartbeat('a peer that stops answering pings is terminated and its row deleted', async () => {
  const heartbeatMs = 150;
  const t = await startTracker({ heartbeatMs });
  try {
    const live = await connectClient(t.wsUrl('/ws'));
    // autoPong off: this peer receives pings but never answers them.
    const silent = await connectClient(t.wsUrl('/ws'), { autoPong: false });
    const started = Date.now();
    const closed = await silent.closed;
    const elapsed = Date.now() - started;
    assert.is(closed.code, 1006, 'terminated, not closed politely');
    assert.ok(elapsed >= heartbeatMs, 'not before one round has passed');
    await waitFor(async () => (await getUserBySessionId(t.tracker.db, silent.sessionId)) === undefined, 2000, 'row removal');
    // The answering peer survives several rounds.
    await new Promise((r) => setTimeout(r, heartbeatMs * 3));
    assert.is(live.ws.readyState, live.ws.OPEN);
    assert.ok(await getUserBySessionId(t.tracker.db, live.sessionId));
    await live.close();
  } finally {
    await t.close();
  }
});

heartbeat('an admin that stops answering pings is terminated the same way, and its slot freed', async () => {
  const heartbeatMs = 150;
  const t = await startTracker({ heartbeatMs, maxAdmins: 1 });
  try {
    const silent = connect(t.wsUrl('/admin/stream'), { headers: { authorization: `Bearer ${TOKEN}` }, autoPong: false });
    await silent.next((m) => m.type === 'snapshot');
    const started = Date.now();
    const closed = await Promise.race([silent.closed, new Promise((r) => setTimeout(() => r('still open'), heartbeatMs * 10))]);
    assert.equal(closed, { code: 1006, reason: '' }, 'terminated, not closed politely');
    assert.ok(Date.now() - started >= heartbeatMs, 'not before one round has passed');
    // Its MAX_ADMINS slot is free at once; an answering admin survives several rounds.
    const live = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    await new Promise((r) => setTimeout(r, heartbeatMs * 3));
    assert.is(live.ws.readyState, live.ws.OPEN);
    assert.is(t.tracker.admins, 1);
    await live.close();
  } finally {
    await t.close();
  }
});

heartbeat.run();
