/**
 * A kill -9 in the middle of a burst of connects, touches and disconnects
 * leaves a database that the next start opens cleanly, and the start-up
 * removes every row the dead run left behind.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startChildServer, type ChildServer } from './helpers/child-server.js';
import { tempDir, TOKEN } from './helpers/tracker.js';
import { connect, waitFor, type TestClient } from './helpers/ws-client.js';

const test = suite('crash');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Connect, speak and leave in a loop until `stop()`; returns how many were opened. */
function burst(server: ChildServer) {
  let stopped = false;
  const clients: TestClient[] = [];
  let opened = 0;
  const loop = async () => {
    while (!stopped) {
      const c = connect(server.wsUrl(`/ws?user=burst${opened++}`));
      clients.push(c);
      c.ws.on('open', () => {
        for (let i = 0; i < 3; i++) c.send({ type: 'ping' });
        // Half leave again at once; the rest stay until the crash.
        if (opened % 2 === 0) setTimeout(() => c.ws.close(), 5);
      });
      await sleep(1);
    }
  };
  const running = Promise.all([loop(), loop(), loop()]);
  return {
    get opened() {
      return opened;
    },
    async stop() {
      stopped = true;
      await running;
      for (const c of clients) c.ws.terminate();
    },
  };
}

function inspect(databasePath: string): { rows: number; integrity: string } {
  const db = new SQLite(databasePath);
  try {
    const rows = (db.prepare('select count(*) as n from users').get() as { n: number }).n;
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    return { rows, integrity };
  } finally {
    db.close();
  }
}

async function activeCount(server: ChildServer): Promise<number> {
  const res = await fetch(server.httpUrl('/active-users'), { headers: { authorization: `Bearer ${TOKEN}` } });
  return ((await res.json()) as { count: number }).count;
}

test('kill -9 during a burst: the next start opens cleanly and removes the ghost rows', async () => {
  const dir = tempDir();
  const databasePath = join(dir, 'roster.db');
  const children: ChildServer[] = [];
  try {
    for (let round = 0; round < 2; round++) {
      const server = await startChildServer(databasePath, { TOUCH_FLUSH_MS: '20' });
      children.push(server);
      assert.is(server.find('stale rows removed')[0]?.count, 0, 'nothing left over before this round');
      const load = burst(server);
      await waitFor(async () => (await activeCount(server)) >= 40, 10_000, 'rows written during the burst');
      await sleep(50 * (round + 1));
      server.child.kill('SIGKILL');
      const exit = await server.exited;
      assert.is(exit.signal, 'SIGKILL');
      await load.stop();

      const left = inspect(databasePath);
      assert.is(left.integrity, 'ok');
      assert.ok(left.rows > 0, 'the crash left rows behind (or the test proves nothing)');

      const next = await startChildServer(databasePath);
      children.push(next);
      assert.is(next.find('stale rows removed')[0]?.count, left.rows);
      assert.is(await activeCount(next), 0, 'no ghost rows after start-up');
      const health = await fetch(next.httpUrl('/health'));
      assert.is(health.status, 200);
      const client = connect(next.wsUrl('/ws'));
      await client.next((m) => m.type === 'welcome');
      assert.is(await activeCount(next), 1);
      await client.close();
      next.child.kill('SIGTERM');
      assert.is((await next.exited).code, 0);
      assert.is(inspect(databasePath).rows, 0, 'a clean stop leaves no rows');
    }
  } finally {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
