import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { listSessions } from '../src/history-repository.js';
import { getUserBySessionId } from '../src/repository.js';
import { startTracker, TOKEN } from './helpers/tracker.js';
import { closePayload, Opcode, rawUpgrade } from './helpers/raw-ws.js';
import { connectAdmin, waitFor } from './helpers/ws-client.js';

const goodbye = suite('a peer close frame ends the connection');

goodbye('the row goes at the close frame, before the TCP connection closes, with the peer code and reason', async () => {
  const t = await startTracker();
  try {
    const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    // A peer that says goodbye but never finishes the TCP close: ws's
    // 'close' event would not come until its 30 s closing timeout.
    const peer = await rawUpgrade(t.port, '/ws', { allowHalfOpen: true });
    const { sessionId } = await peer.nextJson((m) => m.type === 'welcome');
    assert.ok(await getUserBySessionId(t.tracker.db, sessionId), 'row written');
    peer.send({ opcode: Opcode.CLOSE, payload: closePayload(4321, 'bye now') });
    assert.is((await peer.closed).code, 4321, 'the server echoed the close');

    await admin.next((m) => m.type === 'disconnected' && m.sessionId === sessionId, 3000);
    assert.is(await getUserBySessionId(t.tracker.db, sessionId), undefined, 'row deleted');
    assert.is(t.tracker.connections, 0, 'forgotten');
    let tcpOpen = true;
    peer.ended.then(() => (tcpOpen = false));
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(tcpOpen && !peer.socket.writableEnded, 'the TCP connection is still open: this was the close frame, not ws\'s close event');
    const history = (await listSessions(t.tracker.db, { limit: 10 })).find((r) => r.sessionId === sessionId);
    assert.is(history?.closeCode, 4321);
    assert.is(history?.closeReason, 'bye now');

    // Finishing the TCP close later changes nothing: forgetting is idempotent.
    peer.socket.end();
    await peer.ended;
    await new Promise((r) => setTimeout(r, 50));
    assert.is((await listSessions(t.tracker.db, { limit: 10 })).filter((r) => r.sessionId === sessionId).length, 1, 'one history row');
    assert.is(admin.inbox.filter((m) => m.type === 'disconnected' && m.sessionId === sessionId).length, 1, 'one disconnected event');
    await admin.close();
  } finally {
    await t.close();
  }
});

goodbye('a close frame without a code is recorded as 1005', async () => {
  const t = await startTracker();
  try {
    const peer = await rawUpgrade(t.port, '/ws', { allowHalfOpen: true });
    const { sessionId } = await peer.nextJson((m) => m.type === 'welcome');
    peer.send({ opcode: Opcode.CLOSE });
    await peer.closed;
    await waitFor(async () => (await listSessions(t.tracker.db, { limit: 10 })).some((r) => r.sessionId === sessionId), 3000, 'history row');
    const history = (await listSessions(t.tracker.db, { limit: 10 })).find((r) => r.sessionId === sessionId);
    assert.is(history?.closeCode, 1005);
    assert.is(history?.closeReason, '');
    peer.destroy();
  } finally {
    await t.close();
  }
});

goodbye.run();
