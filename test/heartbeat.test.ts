import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { getUserBySessionId } from '../src/repository.js';
import { startTracker } from './helpers/tracker.js';
import { connectClient, waitFor } from './helpers/ws-client.js';

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

heartbeat.run();
