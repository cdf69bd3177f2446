/**
 * PgListener against a real PostgreSQL, through a loopback TCP proxy that
 * can go silent: a half-open connection (no reset, no data) is detected by
 * the probe, and the listener reconnects and reports it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../src/logger.js';
import { PgListener, type PgListenerOptions, type RemoteChange } from '../src/pg-events.js';
import { clientConfig, openPostgres } from '../src/postgres.js';
import { postgresForSuite } from './helpers/postgres.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { waitFor } from './helpers/ws-client.js';
import { publishChange } from '../src/pg-events.js';

const listener = suite('PgListener');

const postgres = postgresForSuite(listener, 'listener');

/** A listener on `url` that records what it reports; `fetchUsers` as given. */
function recordingListener(url: string, probeMs: number, fetchUsers: PgListenerOptions['fetchUsers']) {
  const received: RemoteChange[] = [];
  const listening: boolean[] = [];
  const lost: string[] = [];
  const l = new PgListener({
    config: clientConfig({ url, poolSize: 1, connectTimeoutMs: 2000, idleTimeoutMs: 10_000, statementTimeoutMs: 0 }),
    logger: silentLogger(),
    probeMs,
    fetchUsers,
    onChange: (change) => received.push(change),
    onListening: (reconnected) => listening.push(reconnected),
    onLost: (reason) => lost.push(reason),
    onKick: () => {},
    onBarrier: () => {},
  });
  return { l, received, listening, lost };
}

listener('a silent (half-open) connection is detected by the probe; the listener reconnects', async () => {
  const proxy = await startTcpProxy(postgres.server.port);
  const url = `postgres://postgres@127.0.0.1:${proxy.port}/postgres`;
  const writer = openPostgres({ url: postgres.server.url, poolSize: 2, connectTimeoutMs: 2000, idleTimeoutMs: 10_000, statementTimeoutMs: 0 });
  const { l, received, listening, lost } = recordingListener(url, 300, async () => []);
  try {
    await l.start();
    assert.equal(listening, [false]);
    await writer.transaction().execute((trx) => publishChange(trx, { connected: [], activity: [], disconnected: ['s1'] }, 'w'));
    await waitFor(() => received.length === 1, 5000, 'first notification');
    assert.equal(received[0]!.disconnected, ['s1']);
    assert.is(received[0]!.nodeId, 'w');
    assert.ok(typeof received[0]!.xid === 'bigint' && received[0]!.xid > 0n, 'tagged with the writer\'s xid');

    proxy.freeze();
    await waitFor(() => lost.length === 1, 5000, 'the probe notices the silent connection');
    assert.match(lost[0]!, /probe timed out/);
    await waitFor(() => listening.length === 2, 5000, 'reconnected');
    assert.equal(listening, [false, true], 'reported as a reconnect');
    await writer.transaction().execute((trx) => publishChange(trx, { connected: [], activity: [], disconnected: ['s2'] }, 'w'));
    await waitFor(() => received.length === 2, 5000, 'notifications flow again');
    assert.equal(received[1]!.disconnected, ['s2']);
  } finally {
    await l.stop();
    await writer.destroy();
    await proxy.close();
  }
});

listener('a change whose rows cannot be fetched makes the listener reconnect, so its owner reloads', async () => {
  const writer = openPostgres({ url: postgres.server.url, poolSize: 2, connectTimeoutMs: 2000, idleTimeoutMs: 10_000, statementTimeoutMs: 0 });
  let fetches = 0;
  const { l, received, listening, lost } = recordingListener(postgres.server.url, 5000, async () => {
    fetches++;
    throw new Error('pool: timeout exceeded when trying to connect');
  });
  try {
    await l.start();
    // Escaped characters make the user too large to travel inline: it goes by reference.
    const now = new Date().toISOString();
    const big = { id: crypto.randomUUID(), sessionId: 'big', connectedAt: now, lastActiveAt: now, metadata: { remoteAddress: '1', userAgent: 'x', origin: '', path: '/ws', query: { q: '\u0001'.repeat(1900) } } };
    await writer.transaction().execute((trx) => publishChange(trx, { connected: [big], activity: [], disconnected: ['left'] }, 'w'));
    await waitFor(() => listening.length === 2, 5000, 'the listener to reconnect');
    assert.is(fetches, 1);
    assert.equal(received, [], 'no partial change was applied');
    assert.match(lost[0]!, /timeout exceeded/);
    assert.equal(listening, [false, true], 'reported as a reconnect, which reloads the owner\'s view');
  } finally {
    await l.stop();
    await writer.destroy();
  }
});

listener.run();
