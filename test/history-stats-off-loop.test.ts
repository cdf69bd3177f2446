/**
 * GET /history/stats on SQLite: the hour's sessions are read on a worker
 * (sqlite-reader.ts), so a big hour does not stop the server meanwhile;
 * requests that arrive together share one read (coalesce.ts); and a
 * process that used the worker still exits by itself.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { captureLogs } from './helpers/log-capture.js';
import { runScript } from './helpers/script-process.js';
import { startTracker, tempDir, TOKEN } from './helpers/tracker.js';

const test = suite('history stats off the event loop');
const AUTH = { authorization: `Bearer ${TOKEN}` };
/** About an hour at 85 disconnects a second: on the main thread, a read of several hundred ms. */
const SESSIONS = 300_000;

/** `n` sessions that ended within the last half hour, lasting 1..n ms. */
async function fillHistory(db: Kysely<any>, n: number): Promise<void> {
  await sql`
    with recursive k(i) as (select 1 union all select i + 1 from k where i < ${n})
    insert into connection_history (id, session_id, user_label, remote_address, user_agent, connected_at, disconnected_at, duration_ms, close_code)
    select printf('%08x-0000-4000-8000-%012x', i, i), printf('s%d', i), null, '127.0.0.1', 'test',
      strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-40 minutes'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%d seconds', i % 1800)), i, 1000
    from k`.execute(db);
}

test('a stats read over a full hour does not hold up other requests, and its answer is right', async () => {
  const t = await startTracker();
  try {
    await fillHistory(t.tracker.db, SESSIONS);
    const finished: string[] = [];
    const stats = fetch(t.httpUrl('/history/stats'), { headers: AUTH }).then(async (res) => {
      finished.push('stats');
      return { status: res.status, body: (await res.json()) as any };
    });
    // Long enough for the stats read to have begun; far shorter than it lasts.
    await new Promise((r) => setTimeout(r, 100));
    const health = await fetch(t.httpUrl('/health'));
    finished.push('health');
    assert.is(health.status, 200);
    const { status, body } = await stats;
    assert.equal(finished, ['health', 'stats'], '/health waited for the stats read');
    assert.is(status, 200);
    assert.is(body.ended, SESSIONS);
    assert.is(body.started, SESSIONS, 'each began 40 minutes ago, inside the hour');
    assert.is(body.medianDurationMs, (SESSIONS / 2 + (SESSIONS / 2 + 1)) / 2);
  } finally {
    await t.close();
  }
  // The worker's connection closed before the writer's, so that close was
  // the last one and removed the WAL.
  assert.not.ok(existsSync(`${t.databasePath}-wal`), 'the WAL outlived the database');
});

test('requests that arrive together share one read, and those reads are logged like any query', async () => {
  const logs = captureLogs('debug');
  const t = await startTracker({ logger: logs.logger, logQueries: true });
  try {
    await fillHistory(t.tracker.db, SESSIONS);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => fetch(t.httpUrl('/history/stats'), { headers: AUTH }).then((res) => res.json() as Promise<any>)),
    );
    assert.ok(answers.every((a) => a.ended === SESSIONS));
    const medianReads = logs.find('query').filter((l) => /order by "duration_ms"/.test(l.sql));
    assert.ok(medianReads.length >= 1, 'the reads on the worker are not logged');
    assert.ok(medianReads.length <= 2, `${medianReads.length} reads for 10 requests that arrived together`);
    assert.ok(new Set(answers.map((a) => a.since)).size <= 2);
  } finally {
    await t.close();
  }
});

test('a process that read through the worker and never closed its database exits by itself', () => {
  const dir = tempDir();
  try {
    const script = `import { openSqlite, readOffLoop } from ${JSON.stringify(new URL('../src/database.js', import.meta.url).href)};
      const db = openSqlite({ path: ${JSON.stringify(join(dir, 'open.db'))} });
      const rows = await readOffLoop(db, db.selectNoFrom((eb) => eb.val(42).as('answer')));
      if (rows[0].answer !== 42) process.exit(3);`;
    const run = runScript(dir, script);
    assert.is(run.error, undefined, 'the process exited by itself');
    assert.is(run.status, 0, run.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the database workers start under a host run with node -e --input-type=module, whose flags they would inherit', () => {
  const dir = tempDir();
  try {
    const script = `import { openSqlite, readOffLoop, walCheckpointer } from ${JSON.stringify(new URL('../src/database.js', import.meta.url).href)};
      const db = openSqlite({ path: ${JSON.stringify(join(dir, 'host.db'))} });
      const rows = await readOffLoop(db, db.selectNoFrom((eb) => eb.val(42).as('answer')));
      const checkpoint = await walCheckpointer(db).checkpoint();
      await db.destroy();
      if (rows[0].answer !== 42 || checkpoint.log < 0) process.exit(3);`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' });
    assert.is(run.status, 0, run.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
