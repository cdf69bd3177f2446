/**
 * A client's 101 response is held until its row is committed and leaves
 * together with the welcome; a heartbeat round or a close releases it
 * sooner. Runs on a real PostgreSQL (started by this file), where a lock
 * on `users` keeps the row's INSERT waiting for as long as a test needs.
 */
import { connect, type Socket } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TrackerOptions } from '../src/tracker-options.js';
import { encodeFrame, Opcode } from './helpers/raw-ws.js';
import { lockUsers, postgresForSuite, type UsersLock } from './helpers/postgres.js';
import { startTracker, type TestTracker } from './helpers/tracker.js';
import { waitFor } from './helpers/ws-client.js';

const hold = suite('handshake hold');

const { freshDatabase } = postgresForSuite(hold, 'hold');

/** A TCP client that sends a WebSocket upgrade and records every chunk the server sends. */
interface RawClient {
  socket: Socket;
  chunks: Buffer[];
  /** Everything received so far, as latin1 text (server frames are unmasked). */
  text(): string;
}

function openRaw(t: TestTracker): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: t.port, host: '127.0.0.1' }, () => {
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      resolve(client);
    });
    const chunks: Buffer[] = [];
    const client: RawClient = { socket, chunks, text: () => Buffer.concat(chunks).toString('latin1') };
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function welcomeSessionId(text: string): string {
  const match = /"sessionId":"([0-9a-f-]{36})"/.exec(text);
  if (match === null) throw new Error(`no welcome in ${JSON.stringify(text)}`);
  return match[1]!;
}

/**
 * A tracker on a fresh database with `users` locked, and a raw client whose
 * upgrade is under way; everything is released and closed afterwards.
 */
async function withHeldClient(
  options: Partial<TrackerOptions>,
  run: (t: TestTracker, lock: UsersLock, raw: RawClient) => Promise<void>,
): Promise<void> {
  const url = await freshDatabase();
  const t = await startTracker({ databaseUrl: url, nodeId: 'hold', ...options });
  const lock = await lockUsers(url);
  let raw: RawClient | undefined;
  try {
    raw = await openRaw(t);
    await run(t, lock, raw);
  } finally {
    raw?.socket.destroy();
    await lock.release();
    await t.close();
  }
}

hold('the 101 waits for the row\'s commit and arrives in one write with the welcome', () =>
  withHeldClient({}, async (t, lock, raw) => {
    await waitFor(() => t.tracker.connections === 1, 5000, 'connection accepted');
    // Its INSERT is waiting for the lock: nothing may reach the client yet.
    await sleep(400);
    assert.is(raw.chunks.length, 0, 'no 101 before the row is committed');
    await lock.release();
    await waitFor(() => raw.text().includes('"welcome"'), 5000, 'welcome');
    const first = raw.chunks[0]!.toString('latin1');
    assert.ok(first.startsWith('HTTP/1.1 101 Switching Protocols\r\n'), first);
    assert.ok(first.includes('"type":"welcome"'), 'the 101 and the welcome leave together');
    const rows = await t.tracker.db.selectFrom('users').select('session_id').execute();
    assert.equal(rows.map((r) => r.session_id), [welcomeSessionId(first)], 'the row exists when the client is open');
  }),
);

hold('a row still uncommitted at a heartbeat round no longer holds the 101; the welcome follows the commit', () =>
  withHeldClient({ heartbeatMs: 300 }, async (t, lock, raw) => {
    // Answer pings, so the next round does not take this client for dead.
    raw.socket.on('data', (chunk: Buffer) => {
      if (chunk.includes(Buffer.from([0x80 | Opcode.PING]))) raw.socket.write(encodeFrame({ opcode: Opcode.PONG }));
    });
    await waitFor(() => raw.text().includes('HTTP/1.1 101'), 5000, '101 released by the heartbeat');
    assert.not.ok(raw.text().includes('"welcome"'), 'no welcome before the commit');
    assert.is(await lock.count(), 0, 'row still waiting');
    await lock.release();
    await waitFor(() => raw.text().includes('"welcome"'), 5000, 'welcome after the commit');
    const rows = await t.tracker.db.selectFrom('users').select('session_id').execute();
    assert.equal(rows.map((r) => r.session_id), [welcomeSessionId(raw.text())]);
  }),
);

hold('a close never waits behind a held handshake: shutdown sends the 101, then 1001', () =>
  withHeldClient({ shutdownTimeoutMs: 3000 }, async (t, lock, raw) => {
    await waitFor(() => t.tracker.connections === 1, 5000, 'connection accepted');
    assert.is(raw.chunks.length, 0, 'held');
    const closing = t.close();
    // The close frame after the response head: FIN + opcode 8, a 1-byte length, then the code.
    const closeFrameAt = () => {
      const received = Buffer.concat(raw.chunks);
      const head = received.indexOf('\r\n\r\n');
      return head === -1 ? -1 : received.indexOf(Buffer.from([0x80 | Opcode.CLOSE]), head);
    };
    await waitFor(() => closeFrameAt() > 0, 2000, '101 and close frame released by the close');
    assert.ok(raw.text().startsWith('HTTP/1.1 101 Switching Protocols\r\n'));
    assert.is(Buffer.concat(raw.chunks).readUInt16BE(closeFrameAt() + 2), 1001);
    await lock.release();
    await closing;
  }),
);

hold.run();
