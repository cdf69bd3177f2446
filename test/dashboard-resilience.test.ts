/**
 * The admin dashboard when things go wrong or get large: a rejected
 * token, a server restart, 10,000 connections. Real trackers, real ws
 * clients, and the real page in headless Chromium (Debian's
 * /usr/bin/chromium). The everyday page is in dashboard.test.ts.
 */
import { rmSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runDashboardBench, TEST_RESULTS_FILE } from '../bench/dashboard.js';
import { browserForSuite, counter, openDashboard, pageWithHeldStream, textOf, visibleSessions } from './helpers/browser.js';
import { startTracker, tempDir, TOKEN } from './helpers/tracker.js';
import { connectClient, waitFor } from './helpers/ws-client.js';

const Dashboard = suite('dashboard under failure and at scale');
const chromium = browserForSuite(Dashboard);

Dashboard('a wrong token shows a clear error and no data; the sign-in form then works', async () => {
  const t = await startTracker();
  const client = await connectClient(t.wsUrl('/ws?user=alice'));
  const dash = await openDashboard(chromium.browser, t.httpUrl('/admin#token=not-the-right-token-at-all'));
  const { page } = dash;
  try {
    await page.waitForSelector('#sign-in-error:not([hidden])', { timeout: 5000 });
    assert.match(await textOf(page, '#sign-in-error'), 'rejected');
    assert.is(await page.getAttribute('#state', 'data-state'), 'failed');
    assert.ok(await page.isHidden('#board'), 'no data is shown');
    assert.equal(await visibleSessions(page), []);
    assert.not.match(await page.content(), client.sessionId);
    assert.is(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('roster.adminToken')), null, 'the bad token is forgotten');

    await page.fill('#token', TOKEN);
    await page.press('#token', 'Enter');
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    assert.ok(await page.isHidden('#sign-in'));
    assert.equal(await visibleSessions(page), [client.sessionId]);
  } finally {
    client.ws.terminate();
    await dash.close();
    await t.close();
  }
});

Dashboard('a token with + and % in it signs in from the URL fragment as it is written', async () => {
  // Any printable ASCII but space is a valid ADMIN_TOKEN.
  const token = 'correct+horse+battery%staple';
  const t = await startTracker({ adminToken: token });
  const client = await connectClient(t.wsUrl('/ws?user=alice'));
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${token}`));
  const { page } = dash;
  try {
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    assert.equal(await visibleSessions(page), [client.sessionId]);
    assert.is(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('roster.adminToken')), token);
    assert.not.match(page.url(), '#');
  } finally {
    client.ws.terminate();
    await dash.close();
    await t.close();
  }
});

Dashboard('after sign-out nothing the stream had already received is shown', async () => {
  const t = await startTracker();
  const client = await connectClient(t.wsUrl('/ws?user=alice'));
  const context = await chromium.browser.newContext();
  const page = await context.newPage();
  try {
    // The page's clock stands still: the snapshot is received but waits for its animation frame.
    await page.clock.install();
    await page.clock.pauseAt(Date.now() + 60_000);
    await page.goto(t.httpUrl(`/admin#token=${TOKEN}`));
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    assert.ok(await page.isHidden('#board'));
    await page.click('#sign-out');
    await page.clock.runFor(2000);
    assert.ok(await page.isVisible('#sign-in'));
    assert.ok(await page.isHidden('#board'), 'no data after sign-out');
    assert.not.match(await page.content(), client.sessionId);
  } finally {
    client.ws.terminate();
    await context.close();
    await t.close();
  }
});

Dashboard('after a server restart the page reconnects and shows the new state', async () => {
  const dir = tempDir();
  const first = await startTracker({ dir });
  let second: Awaited<ReturnType<typeof startTracker>> | undefined;
  const before = await connectClient(first.wsUrl('/ws?user=before'));
  const dash = await openDashboard(chromium.browser, first.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = dash;
  try {
    await waitFor(async () => (await visibleSessions(page)).length === 1, 5000, 'the first server state');
    await first.close();
    await page.waitForSelector('#state[data-state="reconnecting"]', { timeout: 5000 });

    // Same port, same database file: a restart.
    second = await startTracker({ dir, port: first.port });
    const after = await connectClient(second.wsUrl('/ws?user=after'));
    try {
      await page.waitForSelector('#state[data-state="live"]', { timeout: 15_000 });
      await waitFor(async () => (await visibleSessions(page))[0] === after.sessionId, 5000, 'the new server state');
      await page.waitForSelector(`#rows tr[data-session-id="${before.sessionId}"]`, { state: 'detached', timeout: 5000 });
      assert.equal(await visibleSessions(page), [after.sessionId]);
      assert.is(await counter(page, 'connections'), 1);
      assert.is(await textOf(page, '#rows td.c-user'), 'after');
    } finally {
      after.ws.terminate();
    }
  } finally {
    before.ws.terminate();
    await dash.close();
    await first.close();
    await second?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

Dashboard('a snapshot slow to arrive is waited for, as long as the server gives it, not asked for again', async () => {
  const t = await startTracker();
  const client = await connectClient(t.wsUrl('/ws?user=alice'));
  const slow = await pageWithHeldStream(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const dead = await pageWithHeldStream(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  try {
    // The server has sent the snapshot; the "link" is still carrying it.
    await waitFor(() => slow.held.length === 1, 5000, 'the snapshot sent');
    await slow.page.clock.runFor(60_000);
    assert.is(await slow.page.getAttribute('#state', 'data-state'), 'connecting');
    assert.is(slow.routes.length, 1, 'no second socket, no second snapshot');
    slow.release();
    await slow.page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    assert.equal(await visibleSessions(slow.page), [client.sessionId]);
    assert.is(slow.routes.length, 1);

    // Past the server's own bound on writing a snapshot (5 minutes), the link is dead.
    await waitFor(() => dead.held.length === 1, 5000, 'the other snapshot sent');
    await dead.page.clock.runFor(7 * 60_000);
    assert.is(await dead.page.getAttribute('#state', 'data-state'), 'reconnecting');
  } finally {
    client.ws.terminate();
    await slow.close();
    await dead.close();
    await t.close();
  }
});

Dashboard('a snapshot long awaited offers Retry now, which starts a fresh connection; the page itself keeps waiting', async () => {
  const t = await startTracker();
  const client = await connectClient(t.wsUrl('/ws?user=alice'));
  const slow = await pageWithHeldStream(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = slow;
  try {
    await waitFor(() => slow.held.length === 1, 5000, 'the snapshot sent');
    assert.ok(await page.isHidden('#retry'), 'no retry while merely connecting');
    await page.clock.runFor(16_000);
    assert.is(await page.getAttribute('#state', 'data-state'), 'connecting');
    assert.match(await textOf(page, '#state-text'), 'waiting for the live list');
    assert.ok(await page.isVisible('#retry'), 'retry offered');
    // Short of the snapshot timeout the page does not give up on the socket by itself.
    await page.clock.runFor(5 * 60_000);
    assert.is(slow.routes.length, 1, 'no second socket');
    assert.is(await page.getAttribute('#state', 'data-state'), 'connecting');

    assert.is(t.tracker.admins, 1);
    await page.click('#retry');
    await waitFor(() => slow.routes.length === 2, 5000, 'a fresh socket');
    assert.ok(await page.isHidden('#retry'), 'a fresh wait starts');
    assert.match(await textOf(page, '#state-text'), 'Connecting');
    slow.held.splice(0, 1); // the old socket's snapshot
    await waitFor(() => slow.held.length === 1, 5000, 'the fresh snapshot sent');
    // The old socket was closed: one admin on the server, not two.
    await waitFor(() => t.tracker.admins === 1, 5000, 'the old socket closed');
    slow.release();
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    assert.equal(await visibleSessions(page), [client.sessionId]);
    assert.ok(await page.isHidden('#retry'));
  } finally {
    client.ws.terminate();
    await slow.close();
    await t.close();
  }
});

Dashboard('the state tooltip gives the reason of the current drop, and none once connecting afresh or live', async () => {
  const t = await startTracker();
  const stream = await pageWithHeldStream(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page, routes } = stream;
  const title = () => page.getAttribute('#state', 'title');
  try {
    await waitFor(() => stream.held.length === 1, 5000, 'the snapshot sent');
    stream.release();
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    stream.hold();

    routes[0]!.close({ code: 4001, reason: 'first drop' });
    await page.waitForSelector('#state[data-state="reconnecting"]', { timeout: 5000 });
    assert.is(await title(), 'closed: first drop (4001)');
    // Retry now: a fresh connection, not that drop any more.
    await page.click('#retry');
    await waitFor(() => routes.length === 2, 5000, 'a fresh socket');
    assert.is(await page.getAttribute('#state', 'data-state'), 'connecting');
    assert.is(await title(), null, 'no reason left from the first drop');

    routes[1]!.close({ code: 4002, reason: 'second drop' });
    await page.waitForSelector('#state[data-state="reconnecting"]', { timeout: 5000 });
    assert.is(await title(), 'closed: second drop (4002)');
    // The backoff ends: the attempt under way is still for that drop.
    await page.clock.runFor(2000);
    await waitFor(() => routes.length === 3, 5000, 'the reconnect');
    assert.match(await textOf(page, '#state-text'), 'Reconnecting…');
    assert.is(await title(), 'closed: second drop (4002)');
    await waitFor(() => stream.held.length > 0, 5000, 'the new snapshot sent');
    stream.release();
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    assert.is(await title(), null, 'no reason once live');
  } finally {
    await stream.close();
    await t.close();
  }
});

Dashboard('10,000 connections: the page shows the count and stays responsive', async () => {
  const result = await runDashboardBench({ connections: 10_000, resultsFile: TEST_RESULTS_FILE });
  console.log(`  dashboard at 10k: ${JSON.stringify(result)}`);
  // Churn (20 closes and reopens a second) keeps a few connections in flight at any moment.
  assert.ok(Math.abs(result.shownConnections - 10_000) <= 100, `shown ${result.shownConnections}`);
  assert.ok(result.shownUsers >= 490 && result.shownUsers <= 500, `users ${result.shownUsers}`);
  // Virtual scrolling: a screenful of rows in the DOM, not ten thousand.
  assert.ok(result.domRows > 0 && result.domRows < 100, `dom rows ${result.domRows}`);
  // The filter still works at this size: label user-0042 is held by 20 clients.
  assert.ok(result.filteredRows >= 15 && result.filteredRows <= 25, `filtered ${result.filteredRows}`);
  assert.ok(result.frames > 0);
  assert.is(result.reconnects, 0, 'the page kept up with the stream');
});

Dashboard.run();
