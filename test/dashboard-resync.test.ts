/**
 * The dashboard across a resync: with several nodes on one real
 * PostgreSQL (started by this file), the page's node loses its event
 * listener, and the fresh snapshot it then sends on the live socket is
 * slow to arrive. The real page in headless Chromium, its clock
 * Playwright's so that minutes pass in `page.clock.runFor`.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { browserForSuite, pageWithHeldStream, textOf, visibleSessions } from './helpers/browser.js';
import { startNode } from './helpers/multi-node.js';
import { postgresForSuite } from './helpers/postgres.js';
import { TOKEN } from './helpers/tracker.js';
import { connectClient, waitFor, type TestClient } from './helpers/ws-client.js';

const Resync = suite('dashboard across a resync snapshot');
const chromium = browserForSuite(Resync);
const postgres = postgresForSuite(Resync, 'dashboard_resync');

/** Holds the stream from its second snapshot on: the first is the page's own, the second the resync. */
function fromSecondSnapshot(): (message: string | Buffer) => boolean {
  let snapshots = 0;
  return (message) => message.toString().startsWith('{"type":"snapshot"') && ++snapshots === 2;
}

Resync('a resync snapshot slow to arrive is waited for on the live socket, the board kept meanwhile, not asked for again', async () => {
  const url = await postgres.freshDatabase();
  const a = await startNode(url, 'dash-a');
  const b = await startNode(url, 'dash-b');
  const clients: TestClient[] = [];
  const slow = await pageWithHeldStream(chromium.browser, a.httpUrl(`/admin#token=${TOKEN}`), fromSecondSnapshot());
  const dead = await pageWithHeldStream(chromium.browser, a.httpUrl(`/admin#token=${TOKEN}`), fromSecondSnapshot());
  try {
    const before = await connectClient(b.wsUrl('/ws?user=before'));
    clients.push(before);
    for (const { page } of [slow, dead]) {
      await page.waitForSelector('#state[data-state="live"]', { timeout: 10_000 });
      await waitFor(async () => (await visibleSessions(page)).length === 1, 5000, 'the first list');
    }

    const dbName = new URL(url).pathname.slice(1);
    const killed = await postgres.server.query(
      `select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'roster-listener:dash-a' and datname = $1`,
      [dbName],
    );
    assert.is(killed.rowCount, 1, 'found node A\'s listener connection');
    const during = await connectClient(b.wsUrl('/ws?user=during'));
    clients.push(during);
    // Node A has sent the fresh snapshot; the "link" is still carrying it.
    await waitFor(() => slow.held.length >= 1 && dead.held.length >= 1, 15_000, 'the resync snapshots sent');

    // Pings every 20 s, a pong due within 10 s: three rounds go unanswered.
    await slow.page.clock.runFor(60_000);
    assert.is(await slow.page.getAttribute('#state', 'data-state'), 'live');
    assert.match(await textOf(slow.page, '#state-text'), 'refreshing');
    assert.is(slow.routes.length, 1, 'no second socket, no second snapshot');
    assert.equal(await visibleSessions(slow.page), [before.sessionId], 'the board as it was');
    slow.release();
    await waitFor(async () => (await visibleSessions(slow.page)).includes(during.sessionId), 5000, 'the fresh list');
    assert.is(await textOf(slow.page, '#state-text'), 'Live');
    assert.is(slow.routes.length, 1);

    // Bounded as a first snapshot is: past the server's own bound on writing one (5 minutes), the link is dead.
    await dead.page.clock.runFor(7 * 60_000);
    assert.is(await dead.page.getAttribute('#state', 'data-state'), 'reconnecting');
  } finally {
    for (const c of clients) await c.close();
    await slow.close();
    await dead.close();
    await a.close();
    await b.close();
  }
});

Resync.run();
