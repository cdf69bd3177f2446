/**
 * A PostgreSQL that stops answering, without closing anything: a loopback
 * proxy stops forwarding on the open connections, as a hung server or a
 * network that drops packets would. Every wait on it must be bounded.
 */
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { activeSessionIds } from './helpers/multi-node.js';
import { lockUsers, postgresForSuite } from './helpers/postgres.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { startTracker, type TestTracker } from './helpers/tracker.js';
import { connect, connectClient, waitFor, type TestClient } from './helpers/ws-client.js';

const test = suite('PostgreSQL that stops answering');

const postgres = postgresForSuite(test, 'hang');

/** A node whose one pooled connection (and listener) go through a proxy. */
async function startProxiedNode(options: Record<string, unknown>): Promise<{ node: TestTracker; proxy: TcpProxy; direct: string }> {
  const direct = await postgres.freshDatabase();
  const url = new URL(direct);
  const proxy = await startTcpProxy(Number(url.port));
  url.port = String(proxy.port);
  const node = await startTracker({ databaseUrl: url.toString(), nodeId: 'hang', nodeHeartbeatMs: 200, nodeTtlMs: 60_000, poolSize: 1, ...options });
  return { node, proxy, direct };
}

/** Stop the node, failing (not hanging the run) if that takes longer than `ms`. */
async function closeWithin(node: TestTracker, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`stop() still running after ${ms} ms`)), ms);
  });
  try {
    await Promise.race([node.close(), late]);
  } finally {
    clearTimeout(timer);
  }
}

test('a connection that stops answering is replaced: /health answers 503 at its bound, and writes go on over a new connection', async () => {
  const statementTimeoutMs = 300;
  const { node, proxy } = await startProxiedNode({ dbStatementTimeoutMs: statementTimeoutMs });
  const clients: TestClient[] = [];
  try {
    const first = await connectClient(node.wsUrl('/ws'));
    clients.push(first);
    const opened = proxy.opened;
    proxy.freeze();
    const second = connect(node.wsUrl('/ws'));
    clients.push(second);

    // The pool's one connection is silent now: whichever query reaches it
    // first (this check, the write, the heartbeat) holds it, and the check
    // answers 503 at its own bound instead of waiting.
    const health = await fetch(node.httpUrl('/health'), { signal: AbortSignal.timeout(10_000) });
    assert.is(health.status, 503);
    assert.is(((await health.json()) as { reason: string }).reason, 'database check timed out');

    // That query fails on our side statementTimeoutMs + PostgresLimits.clientTimeoutGraceMs
    // later and its connection is closed, not pooled again: the row is written over a new one.
    const welcome = await second.next((m) => m.type === 'welcome', 15_000);
    const expected = [first.sessionId, welcome.sessionId].sort();
    const bound = Date.now() + 15_000;
    let ids = await activeSessionIds(node);
    while (JSON.stringify(ids) !== JSON.stringify(expected) && Date.now() < bound) {
      await new Promise((r) => setTimeout(r, 100));
      ids = await activeSessionIds(node);
    }
    assert.equal(ids, expected);
    assert.ok(proxy.opened > opened, 'a new connection was opened');
    await waitFor(() => node.tracker.degradedReason === undefined, 15_000, 'the node healthy');
    // The listener's frozen session still holds the NODE_ID lock as far as
    // the server knows: the node ends that session of its own and listens again.
    await waitFor(async () => (await fetch(node.httpUrl('/health'))).status === 200, 15_000, 'the listener back');
  } finally {
    for (const c of clients) await c.close();
    await closeWithin(node, 10_000).catch(() => {});
    await proxy.close();
  }
});

test('stop() finishes within its bound even while a write waits forever (no statement timeout)', async () => {
  const shutdownTimeoutMs = 1000;
  const { node, proxy } = await startProxiedNode({ dbStatementTimeoutMs: 0, shutdownTimeoutMs });
  const clients: TestClient[] = [];
  try {
    clients.push(await connectClient(node.wsUrl('/ws')));
    proxy.freeze();
    clients.push(connect(node.wsUrl('/ws')));
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await closeWithin(node, 10_000);
    const took = Date.now() - started;
    // The bound, the close grace, and slack for a loaded machine.
    assert.ok(took < shutdownTimeoutMs + 1000 + 2000, `stop() took ${took} ms`);
  } finally {
    for (const c of clients) await c.close();
    await closeWithin(node, 10_000).catch(() => {});
    await proxy.close();
  }
});

test('a COMMIT lost in a partition: the server ends the orphaned transaction, its locks go, and the node recovers', async () => {
  const statementTimeoutMs = 500;
  const { node, proxy, direct } = await startProxiedNode({ dbStatementTimeoutMs: statementTimeoutMs });
  const clients: TestClient[] = [];
  try {
    const gone = await connectClient(node.wsUrl('/ws'));
    // Writes wait on this lock past the statement timeout: the node degrades and retries its reconcile.
    const lock = await lockUsers(direct);
    await gone.close();
    const stays = connect(node.wsUrl('/ws'));
    clients.push(stays);
    await waitFor(() => node.tracker.degradedReason !== undefined, 10_000, 'the node degraded');
    // The next reconcile (a transaction holding the batch statement) loses
    // its COMMIT: its backend stays idle in the transaction, rows locked.
    proxy.partitionOn((chunk, seen) => {
      if (chunk.includes('begin\0')) seen.batch = false;
      if (chunk.includes('roster_write_batch')) seen.batch = true;
      return seen.batch === true && chunk.includes('commit\0');
    });
    await lock.release();
    const welcome = await stays.next((m) => m.type === 'welcome', 15_000);
    await waitFor(() => proxy.partitioned === 1, 10_000, 'a COMMIT partitioned');
    // Without idle_in_transaction_session_timeout every reconcile after it
    // waits on the orphan's locks and fails, for as long as the server keeps it.
    const ids = async () => {
      const client = new pg.Client({ connectionString: direct });
      await client.connect();
      try {
        return (await client.query(`select session_id from users where node_id = 'hang'`)).rows.map((r) => r.session_id as string);
      } finally {
        await client.end();
      }
    };
    await waitFor(async () => node.tracker.degradedReason === undefined && JSON.stringify(await ids()) === JSON.stringify([welcome.sessionId]), 20_000, 'the node recovered');
  } finally {
    for (const c of clients) await c.close();
    await closeWithin(node, 10_000).catch(() => {});
    await proxy.close();
  }
});

test.run();
