/**
 * SIGTERM with thousands of live clients: every client gets 1001, the rows
 * of the run are deleted, and the process exits within SHUTDOWN_TIMEOUT_MS.
 * Clients that never answer the close are terminated once the bound passes.
 */
import { rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CloseCode, CloseReason, Defaults } from '../src/constants.js';
import { startChildServer, type ChildServer } from './helpers/child-server.js';
import { rawUpgrade, type RawPeer } from './helpers/raw-ws.js';
import { startTracker, tempDir } from './helpers/tracker.js';
import { connect, waitFor, type TestClient } from './helpers/ws-client.js';

const test = suite('shutdown');
const CLIENTS = 3000;
/** Room for process start-up costs on a busy machine; not a speed goal. */
const SLACK_MS = 5000;

function rowCount(databasePath: string): number {
  const db = new SQLite(databasePath);
  try {
    return (db.prepare('select count(*) as n from users').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

async function connectMany(server: ChildServer, n: number): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  for (let i = 0; i < n; i += 250) {
    const wave = Array.from({ length: Math.min(250, n - i) }, () => connect(server.wsUrl('/ws')));
    await Promise.all(wave.map((c) => c.next((m) => m.type === 'welcome', 20_000)));
    clients.push(...wave);
  }
  return clients;
}

test(`SIGTERM with ${CLIENTS} live clients: 1001 for all, no rows left, done within the bound`, async () => {
  const dir = tempDir();
  const databasePath = join(dir, 'roster.db');
  let server: ChildServer | undefined;
  try {
    server = await startChildServer(databasePath, { MAX_CONNECTIONS_PER_IP: String(CLIENTS * 2) });
    const clients = await connectMany(server, CLIENTS);
    const health = (await (await fetch(server.httpUrl('/health'))).json()) as { connections: number };
    assert.is(health.connections, CLIENTS);
    assert.is(rowCount(databasePath), CLIENTS);

    const startedAt = Date.now();
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    const elapsed = Date.now() - startedAt;
    assert.is(exit.code, 0);
    assert.ok(elapsed < Defaults.shutdownTimeoutMs + SLACK_MS, `shutdown took ${elapsed} ms`);
    assert.is(server.find('shutdown: complete').length, 1);
    // Rows go both through the normal disconnects and the final sweep.
    assert.is(server.find('shutdown: rows deleted').length, 1);
    const closes = await Promise.all(clients.map((c) => c.closed));
    assert.ok(closes.every((c) => c.code === CloseCode.GOING_AWAY && c.reason === CloseReason.SHUTDOWN), 'every client got 1001');
    assert.is(rowCount(databasePath), 0);
    console.log(`  (${CLIENTS} clients: SIGTERM to exit in ${elapsed} ms)`);
  } finally {
    if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('clients that never answer the close are terminated once SHUTDOWN_TIMEOUT_MS passes', async () => {
  const dir = tempDir();
  const databasePath = join(dir, 'roster.db');
  let server: ChildServer | undefined;
  const timeoutMs = 1000;
  try {
    server = await startChildServer(databasePath, { SHUTDOWN_TIMEOUT_MS: String(timeoutMs) });
    const polite = await connectMany(server, 20);
    // These complete the upgrade and then never send a close frame back.
    const mute: RawPeer[] = [];
    for (let i = 0; i < 5; i++) {
      const peer = await rawUpgrade(server.port, '/ws');
      await peer.nextJson((m) => m.type === 'welcome');
      mute.push(peer);
    }
    const startedAt = Date.now();
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    const elapsed = Date.now() - startedAt;
    assert.is(exit.code, 0);
    assert.ok(elapsed >= timeoutMs - 50, 'waited for the close handshake up to the bound');
    assert.ok(elapsed < timeoutMs + SLACK_MS, `shutdown took ${elapsed} ms`);
    assert.is(server.find('shutdown: timeout reached; terminating remaining sockets').length, 1);
    for (const peer of mute) {
      assert.equal(await peer.closed, { code: CloseCode.GOING_AWAY, reason: CloseReason.SHUTDOWN });
      await peer.ended;
    }
    for (const c of polite) assert.is((await c.closed).code, CloseCode.GOING_AWAY);
    assert.is(rowCount(databasePath), 0);
  } finally {
    if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('upgrades that arrive while stopping get 503 and their socket closed; the listener goes once stopped', async () => {
  const t = await startTracker({ shutdownTimeoutMs: 30_000 });
  // Never answers the close frame, so stop() waits on it until we let go.
  const mute = await rawUpgrade(t.port, '/ws', { allowHalfOpen: true });
  try {
    await mute.nextJson((m) => m.type === 'welcome');
    assert.is(t.server.listenerCount('upgrade'), 1);
    const stopping = t.tracker.stop();
    assert.equal(await mute.closed, { code: CloseCode.GOING_AWAY, reason: CloseReason.SHUTDOWN }, 'shutdown under way');
    for (const path of ['/ws', '/admin/stream']) {
      const peer = await rawUpgrade(t.port, path, { allowHalfOpen: true });
      assert.is(peer.status, 503, `${path} while stopping`);
      assert.is(peer.headers.connection, 'close');
    }
    // The refused sockets are closed by the server, though these peers never close their side.
    await waitFor(async () => (await openConnections(t.server)) === 1, 5000, 'only the mute socket left');
    mute.destroy();
    await stopping;
    assert.is(t.server.listenerCount('upgrade'), 0, 'nothing left on the server once stopped');
  } finally {
    mute.destroy();
    await t.close();
  }
});

function openConnections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

test.run();
