/**
 * What GET /history/stats costs the server while it reads an hour of
 * sessions: a tracker over a temp SQLite file with N sessions that ended
 * in the last half hour, then one stats request at a time. Reported per
 * request: its time end to end, and the event loop's longest delay
 * meanwhile (monitorEventLoopDelay), which is what every socket waits.
 * The read runs on the reader worker (sqlite-reader.ts); before it ran on
 * the event loop, and the two figures were about equal. Run with
 * `node dist/bench/micro-history-stats.js [sessions] [requests]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { sql } from 'kysely';
import { createHttpServer } from '../src/http-server.js';
import { createTracker, type Tracker } from '../src/tracker.js';
import { median } from './lib/stats.js';

const sessions = Number(process.argv[2] ?? 300_000);
const requests = Number(process.argv[3] ?? 7);
const TOKEN = 'micro-history-stats-token-0123';

const dir = mkdtempSync(join(tmpdir(), 'roster-stats-'));
let tracker: Tracker;
const server = createHttpServer((req, res) => {
  if (!tracker.handleRequest(req, res)) res.writeHead(404).end();
});
tracker = createTracker({ server, databasePath: join(dir, 'roster.db'), adminToken: TOKEN });
await tracker.start();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/history/stats`;
try {
  // Durations spread over 0..N ms in no order, so the median's sort has work to do.
  await sql`
    with recursive k(i) as (select 1 union all select i + 1 from k where i < ${sessions})
    insert into connection_history (id, session_id, user_label, remote_address, user_agent, connected_at, disconnected_at, duration_ms, close_code)
    select printf('%08x-0000-4000-8000-%012x', i, i), printf('s%d', i), null, '127.0.0.1', 'bench',
      strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-40 minutes'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%d seconds', i % 1800)),
      (i * 7919) % ${sessions}, 1000
    from k`.execute(tracker.db);
  const rows: { requestMs: number; loopDelayMs: number }[] = [];
  for (let i = 0; i < requests; i++) {
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const startedAt = performance.now();
    const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    const body = (await res.json()) as { ended: number };
    const requestMs = performance.now() - startedAt;
    delay.disable();
    if (body.ended !== sessions) throw new Error(`stats counted ${body.ended} of ${sessions} sessions`);
    rows.push({ requestMs, loopDelayMs: delay.max / 1e6 });
  }
  const fmt = (ms: number) => ms.toFixed(1);
  console.log(`${sessions} sessions in the hour, ${requests} requests one after another`);
  console.log(`request (ms):              ${rows.map((r) => fmt(r.requestMs)).join(' ')}  median ${fmt(median(rows.map((r) => r.requestMs)))}`);
  console.log(`longest event-loop delay:  ${rows.map((r) => fmt(r.loopDelayMs)).join(' ')}  median ${fmt(median(rows.map((r) => r.loopDelayMs)))}`);
} finally {
  await tracker.stop();
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
