/**
 * The admin dashboard end to end: real trackers, real ws clients, and the
 * real page in headless Chromium (Debian's /usr/bin/chromium). A rejected
 * token, a server restart and 10,000 connections are in
 * dashboard-resilience.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DASHBOARD_FOLDER } from '../src/dashboard-files.js';
import { browserForSuite, counter, openDashboard, textOf, visibleSessions } from './helpers/browser.js';
import { startTracker, TOKEN } from './helpers/tracker.js';
import { connectClient, waitFor, type TestClient } from './helpers/ws-client.js';

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const SAFARI = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';

const Dashboard = suite('dashboard');
const chromium = browserForSuite(Dashboard);

const userCells = (page: import('playwright-core').Page) =>
  page.$$eval('#rows tr[data-session-id]:not(.is-gone) td.c-user', (cells) => cells.map((c) => c.textContent));

Dashboard('the page and every asset it references are served, with no inline script or style', async () => {
  const t = await startTracker();
  try {
    const res = await fetch(t.httpUrl('/admin'));
    assert.is(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', "script-src 'self'");
    const html = await res.text();
    assert.not.match(html, /<script(?![^>]*\ssrc=)[^>]*>/, 'no inline script');
    assert.not.match(html, /<style|\sstyle=/, 'no inline style');
    const assets = [...html.matchAll(/(?:src|href)="(\/admin\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.includes('/admin/app.js') && assets.includes('/admin/style.css'));
    // Modules import each other by absolute path too.
    const app = readFileSync(join(DASHBOARD_FOLDER, 'app.js'), 'utf8');
    assets.push(...[...app.matchAll(/from '(\/admin\/[^']+)'/g)].map((m) => m[1]!));
    for (const asset of assets) assert.is((await fetch(t.httpUrl(asset))).status, 200, asset);
    // Nothing outside the package: no CDN, no external fonts.
    assert.not.match(html, /https?:\/\//);
  } finally {
    await t.close();
  }
});

Dashboard('counts and rows follow clients as they connect and disconnect', async () => {
  const t = await startTracker();
  const clients: TestClient[] = [];
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = dash;
  try {
    await page.waitForSelector('#state[data-state="live"]');
    // The token left the URL and lives in this tab's session storage only.
    assert.not.match(page.url(), '#');
    assert.is(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('roster.adminToken')), TOKEN);
    assert.is(await counter(page, 'connections'), 0);
    assert.match(await textOf(page, '#rows'), 'No connections');

    const alice = await connectClient(t.wsUrl('/ws?user=alice'));
    const bob = await connectClient(t.wsUrl('/ws?user=bob'));
    const alice2 = await connectClient(t.wsUrl('/ws?user=alice'), { headers: { 'user-agent': FIREFOX } });
    clients.push(alice, bob, alice2);
    await waitFor(async () => (await counter(page, 'connections')) === 3, 5000, 'three connections');
    assert.is(await counter(page, 'users'), 2, 'distinct labels');
    // Newest first.
    assert.equal(await visibleSessions(page), [alice2.sessionId, bob.sessionId, alice.sessionId]);
    const row = `#rows tr[data-session-id="${alice2.sessionId}"]`;
    assert.match((await page.getAttribute(row, 'class')) ?? '', 'is-new', 'new rows are highlighted');
    assert.is(await textOf(page, `${row} td.c-ua`), 'Firefox 133 · Linux');
    assert.is(await textOf(page, `${row} td.c-addr`), '127.0.0.1');
    assert.match(await textOf(page, `${row} td.c-since`), /just now|s ago/);
    // The absolute time is on hover.
    assert.match((await page.getAttribute(`${row} td.c-since time`, 'title')) ?? '', /\d{4}/);

    await bob.close();
    await waitFor(async () => (await counter(page, 'connections')) === 2, 5000, 'two connections');
    assert.is(await counter(page, 'users'), 1);
    // The row fades, then leaves the table.
    await page.waitForSelector(`#rows tr[data-session-id="${bob.sessionId}"]`, { state: 'detached', timeout: 5000 });
    assert.equal(await visibleSessions(page), [alice2.sessionId, alice.sessionId]);
    assert.equal(dash.errors, []);
  } finally {
    for (const c of clients) c.ws.terminate();
    await dash.close();
    await t.close();
  }
});

Dashboard('a fragment without a token leaves the stream alone; one with #token= switches to it', async () => {
  const t = await startTracker();
  const client = await connectClient(t.wsUrl('/ws?user=alice'));
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = dash;
  const sockets: import('playwright-core').WebSocket[] = [];
  page.on('websocket', (ws) => sockets.push(ws));
  /** Sets the fragment; resolves once the page's own hashchange listener has run. */
  const setHash = (hash: string) =>
    page.evaluate(
      (h) =>
        new Promise<void>((resolve) => {
          const g = globalThis as any;
          g.addEventListener('hashchange', () => setTimeout(resolve), { once: true });
          g.location.hash = h;
        }),
      hash,
    );
  try {
    await page.waitForSelector('#state[data-state="live"]');
    await waitFor(async () => (await visibleSessions(page)).length === 1, 5000, 'the snapshot');
    await setHash('#section'); // an in-page link
    await setHash('#idle=30'); // a hash edited by hand
    assert.is(await page.getAttribute('#state', 'data-state'), 'live', 'the stream was not restarted');
    assert.is(sockets.length, 0, 'no new socket');
    assert.is(t.tracker.admins, 1);
    assert.equal(await visibleSessions(page), [client.sessionId]);

    await setHash(`#token=${TOKEN}`);
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    assert.is(sockets.length, 1, 'a fresh socket');
    assert.not.match(page.url(), '#', 'the token left the URL');
    await waitFor(() => t.tracker.admins === 1, 5000, 'the old socket closed');
    assert.equal(await visibleSessions(page), [client.sessionId]);
    assert.equal(dash.errors, []);
  } finally {
    client.ws.terminate();
    await dash.close();
    await t.close();
  }
});

Dashboard('signed out, the state badge says so: not "Live" after Sign out, nor "Connecting…" without a token', async () => {
  const t = await startTracker();
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = dash;
  try {
    await page.waitForSelector('#state[data-state="live"]');
    await page.click('#sign-out');
    await waitFor(() => t.tracker.admins === 0, 5000, 'the stream closed');
    assert.is(await page.getAttribute('#state', 'data-state'), 'signed-out');
    assert.is(await textOf(page, '#state-text'), 'Signed out');
    // The token is gone: opened again, the page has nothing to connect with.
    await page.reload();
    await page.waitForSelector('#sign-in:not([hidden])');
    assert.is(await textOf(page, '#state-text'), 'Signed out');
    assert.is(await page.getAttribute('#state', 'data-state'), 'signed-out');
    assert.equal(dash.errors, []);
  } finally {
    await dash.close();
    await t.close();
  }
});

Dashboard('the filter narrows the rows, and the columns sort by mouse and keyboard', async () => {
  const t = await startTracker();
  const clients: TestClient[] = [];
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = dash;
  try {
    const carol = await connectClient(t.wsUrl('/ws?user=carol'), { headers: { 'user-agent': SAFARI } });
    const alice = await connectClient(t.wsUrl('/ws?user=alice'));
    const bob = await connectClient(t.wsUrl('/ws?user=bob'), { headers: { 'user-agent': FIREFOX } });
    clients.push(carol, alice, bob);
    await waitFor(async () => (await counter(page, 'connections')) === 3, 5000, 'three connections');
    // Each row shows the random tail of its id, not the shared leading time digits of a UUIDv7.
    const shortIds = await page.$$eval('#rows tr[data-session-id] td.c-session', (cells) => cells.map((c) => c.textContent));
    assert.equal(new Set(shortIds), new Set([carol, alice, bob].map((c) => c.sessionId.slice(-8))));

    await page.fill('#filter', 'bob');
    await waitFor(async () => (await visibleSessions(page)).length === 1, 2000, 'filter by user');
    assert.equal(await visibleSessions(page), [bob.sessionId]);
    assert.match(await textOf(page, '#shown'), '1 of 3');
    await page.fill('#filter', 'SAFARI'); // user agent, case-insensitive
    await waitFor(async () => (await visibleSessions(page))[0] === carol.sessionId, 2000, 'filter by agent');
    assert.equal(await visibleSessions(page), [carol.sessionId]);
    // The random tail: UUIDv7s of one moment share their leading (time) digits.
    await page.fill('#filter', alice.sessionId.slice(-10));
    await waitFor(async () => (await visibleSessions(page))[0] === alice.sessionId, 2000, 'filter by session id');
    assert.equal(await visibleSessions(page), [alice.sessionId]);
    await page.fill('#filter', 'nobody-has-this');
    await waitFor(async () => (await visibleSessions(page)).length === 0, 2000, 'no match');
    assert.match(await textOf(page, '#rows'), 'No connection matches');
    await page.fill('#filter', '');
    await waitFor(async () => (await visibleSessions(page)).length === 3, 2000, 'filter cleared');

    await page.click('th[data-key="label"] button');
    await waitFor(async () => (await userCells(page))[0] === 'alice', 2000, 'sorted by user');
    assert.equal(await userCells(page), ['alice', 'bob', 'carol']);
    assert.is(await page.getAttribute('th[data-key="label"]', 'aria-sort'), 'ascending');
    await page.click('th[data-key="label"] button');
    await waitFor(async () => (await userCells(page))[0] === 'carol', 2000, 'sorted by user, descending');
    assert.equal(await userCells(page), ['carol', 'bob', 'alice']);
    assert.is(await page.getAttribute('th[data-key="label"]', 'aria-sort'), 'descending');

    // Keyboard: the header buttons are focusable and act on Enter.
    await page.focus('th[data-key="browser"] button');
    await page.keyboard.press('Enter');
    await waitFor(async () => (await page.getAttribute('th[data-key="browser"]', 'aria-sort')) === 'ascending', 2000, 'browser sort');
    assert.is(await page.getAttribute('th[data-key="label"]', 'aria-sort'), null);
    // Firefox, Safari, then alice's ws client, which sends no user agent ("—" sorts last).
    assert.equal(await userCells(page), ['bob', 'carol', 'alice']);
    assert.equal(dash.errors, []);
  } finally {
    for (const c of clients) c.ws.terminate();
    await dash.close();
    await t.close();
  }
});

Dashboard('kick closes the real client with 4000 and removes its row', async () => {
  const t = await startTracker();
  const clients: TestClient[] = [];
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = dash;
  try {
    const victim = await connectClient(t.wsUrl('/ws?user=mallory'));
    const bystander = await connectClient(t.wsUrl('/ws?user=alice'));
    clients.push(victim, bystander);
    await waitFor(async () => (await counter(page, 'connections')) === 2, 5000, 'two connections');

    const button = `#rows tr[data-session-id="${victim.sessionId}"] button[data-kick]`;
    assert.match((await page.getAttribute(button, 'aria-label')) ?? '', victim.sessionId);
    await page.click(button);
    const closed = await victim.closed;
    assert.is(closed.code, 4000);
    assert.is(closed.reason, 'disconnected by admin');
    await page.waitForSelector(`#rows tr[data-session-id="${victim.sessionId}"]`, { state: 'detached', timeout: 5000 });
    assert.is(await counter(page, 'connections'), 1);
    assert.equal(await visibleSessions(page), [bystander.sessionId]);
    assert.is(bystander.ws.readyState, bystander.ws.OPEN);

    // Kicking a session that has just left: the server answers with an error,
    // which the page shows. The page's main thread is held busy while the
    // client goes, so the click lands before the page hears of the departure.
    const leaver = await connectClient(t.wsUrl('/ws?user=leaver'));
    clients.push(leaver);
    await page.waitForSelector(`#rows tr[data-session-id="${leaver.sessionId}"]`);
    const clicked = page.evaluate((sessionId) => {
      const w = globalThis as any;
      const until = Date.now() + 1500;
      while (Date.now() < until); // busy: incoming stream messages wait
      w.document.querySelector(`#rows tr[data-session-id="${sessionId}"] button[data-kick]`).click();
    }, leaver.sessionId);
    await new Promise((r) => setTimeout(r, 200));
    leaver.ws.terminate();
    await clicked;
    await page.waitForSelector('.toast', { timeout: 5000 });
    assert.match(await textOf(page, '.toast'), `unknown session: ${leaver.sessionId}`);
    await page.waitForSelector(`#rows tr[data-session-id="${leaver.sessionId}"]`, { state: 'detached', timeout: 5000 });
    assert.equal(dash.errors, []);
  } finally {
    for (const c of clients) c.ws.terminate();
    await dash.close();
    await t.close();
  }
});

Dashboard('the layout fits a phone screen: no sideways scrolling, the kick button in reach', async () => {
  const t = await startTracker();
  const client = await connectClient(t.wsUrl('/ws?user=a-rather-long-user-label-for-a-small-screen'), { headers: { 'user-agent': SAFARI } });
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`), { width: 390, height: 844 });
  const { page } = dash;
  try {
    await waitFor(async () => (await visibleSessions(page)).length === 1, 5000, 'the row');
    const widths = await page.evaluate(() => {
      const d = (globalThis as any).document.documentElement;
      return { scroll: d.scrollWidth, client: d.clientWidth };
    });
    assert.ok(widths.scroll <= widths.client, `page is ${widths.scroll}px wide in a ${widths.client}px screen`);
    assert.ok(await page.isVisible(`#rows tr[data-session-id="${client.sessionId}"] button[data-kick]`));
    assert.ok(await page.isVisible('#filter'));
    assert.ok(await page.isHidden(`#rows tr[data-session-id="${client.sessionId}"] td.c-addr`), 'secondary columns fold away');
    const box = await page.locator(`#rows tr[data-session-id="${client.sessionId}"] button[data-kick]`).boundingBox();
    assert.ok(box !== null && box.x + box.width <= 390, 'kick button on screen');
  } finally {
    client.ws.terminate();
    await dash.close();
    await t.close();
  }
});

Dashboard('connections idle past the threshold are marked', async () => {
  const t = await startTracker();
  const idler = await connectClient(t.wsUrl('/ws?user=idler'));
  const busy = await connectClient(t.wsUrl('/ws?user=busy'));
  const pinger = setInterval(() => busy.send({ type: 'ping' }), 200);
  // ?idle=2: two seconds without a message counts as idle.
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin?idle=2#token=${TOKEN}`));
  const { page } = dash;
  try {
    const idleRow = `#rows tr[data-session-id="${idler.sessionId}"]`;
    await page.waitForSelector(`${idleRow}.is-idle`, { timeout: 8000 });
    assert.ok(await page.isVisible(`${idleRow} .badge-idle`), 'a visible "idle" badge, not colour alone');
    assert.not.match((await page.getAttribute(`#rows tr[data-session-id="${busy.sessionId}"]`, 'class')) ?? '', 'is-idle');
    // The idle counter is recounted once a second.
    await waitFor(async () => (await counter(page, 'idle')) === 1, 3000, 'one idle connection counted');
  } finally {
    clearInterval(pinger);
    idler.ws.terminate();
    busy.ws.terminate();
    await dash.close();
    await t.close();
  }
});

Dashboard.run();
