/**
 * GET /metrics under real clients: every roster_* metric moves when it
 * should, default process metrics are present, METRICS_TOKEN protects the
 * endpoint, and two trackers in one process keep separate registries.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTracker, TOKEN, type TestTracker } from './helpers/tracker.js';
import { connect, connectAdmin, connectClient, waitFor, type TestClient } from './helpers/ws-client.js';

const test = suite('metrics');
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

/** Parse the text exposition into `name{labels}` → value. */
async function scrape(t: TestTracker, headers: Record<string, string> = {}): Promise<Map<string, number>> {
  const res = await fetch(t.httpUrl('/metrics'), { headers });
  assert.is(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const values = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

function value(metrics: Map<string, number>, key: string): number {
  return metrics.get(key) ?? 0;
}

async function pingPong(client: TestClient, n: number): Promise<void> {
  for (let i = 0; i < n; i++) client.send({ type: 'ping' });
  for (let i = 0; i < n; i++) await client.next((m) => m.type === 'pong');
}

test('every roster metric moves with real clients, and the default metrics are there', async () => {
  const t = await startTracker({ touchFlushMs: 20, maxMessagesPerSecond: 5 });
  const clients: TestClient[] = [];
  try {
    let m = await scrape(t);
    for (const name of [
      'roster_active_connections',
      'roster_connections_total',
      'roster_messages_total',
      'roster_admins',
      'roster_touch_flush_seconds_count',
      'roster_db_query_seconds_count',
      'roster_db_errors_total',
      'process_cpu_user_seconds_total',
      'nodejs_heap_size_used_bytes',
    ]) {
      assert.ok(m.has(name), `${name} is exported`);
    }
    assert.is(value(m, 'roster_active_connections'), 0);
    assert.is(value(m, 'roster_connections_total'), 0);
    // Migrations and the stale-row delete already ran through the log hook.
    const queriesAtStart = value(m, 'roster_db_query_seconds_count');
    assert.ok(queriesAtStart > 0);

    const admin = await connectAdmin(t.wsUrl('/admin/stream'), TOKEN);
    const a = await connectClient(t.wsUrl('/ws?user=a'));
    const b = await connectClient(t.wsUrl('/ws?user=b'));
    const c = await connectClient(t.wsUrl('/ws?user=c'));
    clients.push(admin, a, b, c);
    await pingPong(a, 3);
    await pingPong(b, 2);
    // The touches are flushed within touchFlushMs; the histogram sees each flush.
    await waitFor(async () => value(await scrape(t), 'roster_touch_flush_seconds_count') > 0, 5000, 'a touch flush');

    m = await scrape(t);
    assert.is(value(m, 'roster_active_connections'), 3);
    assert.is(value(m, 'roster_connections_total'), 3);
    assert.is(value(m, 'roster_messages_total'), 5);
    assert.is(value(m, 'roster_admins'), 1);
    assert.ok(value(m, 'roster_db_query_seconds_count') > queriesAtStart);
    assert.is(value(m, 'roster_db_errors_total'), 0);

    // Three ways to end: the client's own close code, a kick, the rate limit.
    a.ws.close(4321, 'bye');
    await a.closed;
    admin.send({ type: 'kick', sessionId: b.sessionId });
    assert.is((await b.closed).code, 4000);
    for (let i = 0; i < 20; i++) c.send({ type: 'ping' });
    assert.is((await c.closed).code, 1008);
    await waitFor(() => t.tracker.connections === 0, 5000, 'all clients gone');

    m = await scrape(t);
    assert.is(value(m, 'roster_active_connections'), 0);
    assert.is(value(m, 'roster_connections_total'), 3);
    assert.is(value(m, 'roster_disconnections_total{code="4xxx"}'), 1, 'a client-chosen 4321 is folded into its range');
    assert.is(value(m, 'roster_disconnections_total{code="4000"}'), 1);
    assert.is(value(m, 'roster_disconnections_total{code="1008"}'), 1);
    assert.ok(value(m, 'roster_messages_total') >= 5 + 5, 'messages up to the rate limit count');

    await admin.close();
    await waitFor(async () => value(await scrape(t), 'roster_admins') === 0, 5000, 'the admin gauge to drop');
  } finally {
    for (const c of clients) await c.close();
    await t.close();
  }
});

test('database errors are counted', async () => {
  const t = await startTracker();
  const clients: TestClient[] = [];
  try {
    assert.is(value(await scrape(t), 'roster_db_errors_total'), 0);
    await sql`pragma query_only = 1`.execute(t.tracker.db);
    // The insert fails; the client is still welcomed (served from memory).
    clients.push(await connectClient(t.wsUrl('/ws')));
    await waitFor(() => t.tracker.degradedReason !== undefined, 5000, 'degraded');
    assert.ok(value(await scrape(t), 'roster_db_errors_total') >= 1);
    await sql`pragma query_only = 0`.execute(t.tracker.db);
    await waitFor(() => t.tracker.degradedReason === undefined, 10_000, 'recovery');
  } finally {
    for (const c of clients) await c.close();
    await t.close();
  }
});

test('a client that vanishes is counted under 1006', async () => {
  const t = await startTracker({ heartbeatMs: 100 });
  try {
    // autoPong off: the client never answers pings, so the heartbeat terminates it.
    const silent = connect(t.wsUrl('/ws'), { autoPong: false });
    await silent.next((m) => m.type === 'welcome');
    await silent.closed;
    await waitFor(async () => value(await scrape(t), 'roster_disconnections_total{code="1006"}') === 1, 5000, '1006 counted');
  } finally {
    await t.close();
  }
});

test('METRICS_TOKEN protects /metrics; the admin token does not open it', async () => {
  const t = await startTracker({ metricsToken: METRICS_TOKEN });
  try {
    assert.is((await fetch(t.httpUrl('/metrics'))).status, 401);
    assert.is((await fetch(t.httpUrl('/metrics'), { headers: { authorization: `Bearer ${TOKEN}` } })).status, 401);
    const m = await scrape(t, { authorization: `Bearer ${METRICS_TOKEN}` });
    assert.ok(m.has('roster_active_connections'));
    assert.is((await fetch(t.httpUrl('/metrics'), { method: 'POST' })).status, 405);
  } finally {
    await t.close();
  }
});

test('two trackers in one process keep separate registries', async () => {
  const one = await startTracker();
  const two = await startTracker();
  const clients: TestClient[] = [];
  try {
    clients.push(await connectClient(one.wsUrl('/ws')), await connectClient(one.wsUrl('/ws')));
    clients.push(await connectClient(two.wsUrl('/ws')));
    const [m1, m2] = [await scrape(one), await scrape(two)];
    assert.is(value(m1, 'roster_connections_total'), 2);
    assert.is(value(m2, 'roster_connections_total'), 1);
    // Default metrics register once per registry: a second scrape still works.
    assert.ok((await scrape(one)).has('process_cpu_user_seconds_total'));
    assert.ok((await scrape(two)).has('process_cpu_user_seconds_total'));
  } finally {
    for (const c of clients) await c.close();
    await one.close();
    await two.close();
  }
});

test('a stopped tracker that was scraped can be garbage-collected', async () => {
  // The default metrics' observers are process-wide; they must not keep a stopped tracker.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  async function scrapedAndStopped(): Promise<WeakRef<object>> {
    const t = await startTracker();
    try {
      await scrape(t);
      return new WeakRef(t.tracker);
    } finally {
      await t.close();
    }
  }
  const ref = await scrapedAndStopped();
  for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    gc();
  }
  assert.is(ref.deref(), undefined, 'the tracker was collected');
});

test.run();
