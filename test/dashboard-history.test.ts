/**
 * The dashboard's observability parts in headless Chromium: the history
 * section (last-hour stats, recent sessions, user filter, paging) and the
 * live table's per-connection message count.
 */
import SQLite from 'better-sqlite3';
import type { Page, Request, Route } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { insertSessions, type SessionRecord } from '../src/history-repository.js';
import { browserForSuite, openDashboard, textOf } from './helpers/browser.js';
import { startTracker, TOKEN } from './helpers/tracker.js';
import { connectClient, waitFor, type TestClient } from './helpers/ws-client.js';

const test = suite('dashboard history');
const chromium = browserForSuite(test);

const historyIds = (page: Page) => page.$$eval('#history-rows tr', (rows) => rows.map((r) => r.getAttribute('data-session-id')));

/** An ended session of `user`, `i` seconds before the newest. */
function endedSession(i: number, user: string, now = Date.now()): SessionRecord {
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    sessionId: `${user.slice(0, 8)}-${i}`,
    user,
    remoteAddress: '10.0.0.1',
    userAgent: 'test',
    connectedAt: new Date(now - 60_000 - i * 1000).toISOString(),
    disconnectedAt: new Date(now - 1000 - i * 1000).toISOString(),
    durationMs: 59_000,
    closeCode: 1000,
    closeReason: '',
    messages: i,
    bytesIn: 0,
  };
}

test('stats, recent sessions with close codes, the user filter and paging', async () => {
  const t = await startTracker();
  const clients: TestClient[] = [];
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = dash;
  try {
    await page.waitForSelector('#state[data-state="live"]');
    const now = Date.now();
    // 60 older sessions for paging (page size 50), plus two real ones.
    const seeded: SessionRecord[] = Array.from({ length: 60 }, (_, i) => ({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      sessionId: `seeded-${String(i).padStart(2, '0')}`,
      user: 'seeded',
      remoteAddress: '10.0.0.1',
      userAgent: 'test',
      connectedAt: new Date(now - 7_200_000 - i * 1000).toISOString(),
      disconnectedAt: new Date(now - 7_000_000 - i * 1000).toISOString(),
      durationMs: 200_000,
      closeCode: 1000,
      closeReason: '',
      messages: i,
      bytesIn: 0,
    }));
    await insertSessions(t.tracker.db, seeded);
    const alice = await connectClient(t.wsUrl('/ws?user=alice'));
    for (let i = 0; i < 3; i++) alice.send({ type: 'ping' });
    for (let i = 0; i < 3; i++) await alice.next((m) => m.type === 'pong');
    alice.ws.close(4100, 'bye');
    await alice.closed;
    const bob = await connectClient(t.wsUrl('/ws?user=bob'));
    clients.push(bob);
    t.tracker.kick(bob.sessionId);
    await bob.closed;
    await waitFor(() => t.tracker.connections === 0, 5000, 'both gone');

    await page.click('#history > summary');
    await waitFor(async () => (await historyIds(page)).length === 50, 5000, 'the first page');
    const ids = await historyIds(page);
    assert.equal(ids.slice(0, 2), [bob.sessionId, alice.sessionId], 'newest first');
    const aliceRow = `#history-rows tr[data-session-id="${alice.sessionId}"]`;
    assert.match(await textOf(page, `${aliceRow} td.history-close`), '4100 application · bye');
    assert.is(await textOf(page, `${aliceRow} td:nth-child(5)`), '3');
    assert.match(await textOf(page, `#history-rows tr[data-session-id="${bob.sessionId}"] td.history-close`), '4000 kicked');
    assert.is(await textOf(page, '#history-ended'), '2', 'the seeded sessions ended over an hour ago');
    assert.is(await textOf(page, '#history-started'), '2');
    assert.match(await textOf(page, '#history-median'), /ms|s/);

    await page.click('#history-more');
    await waitFor(async () => (await historyIds(page)).length === 62, 5000, 'the older page');
    assert.ok(await page.isHidden('#history-more'));
    assert.is(new Set(await historyIds(page)).size, 62, 'no session twice');

    await page.fill('#history-user', 'alice');
    await page.click('#history-form button[type="submit"]');
    await waitFor(async () => (await historyIds(page)).length === 1, 5000, 'filtered by user');
    assert.equal(await historyIds(page), [alice.sessionId]);
    assert.match(await textOf(page, '#history-status'), 'alice');
    assert.equal(dash.errors, []);
  } finally {
    for (const c of clients) c.ws.terminate();
    await dash.close();
    await t.close();
  }
});

test('the live table shows each connection\'s message count', async () => {
  const t = await startTracker({ touchFlushMs: 20 });
  const clients: TestClient[] = [];
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = dash;
  try {
    await page.waitForSelector('#state[data-state="live"]');
    const client = await connectClient(t.wsUrl('/ws?user=chatty'));
    clients.push(client);
    const cell = `#rows tr[data-session-id="${client.sessionId}"] td.c-msgs`;
    await page.waitForSelector(cell);
    for (let i = 0; i < 5; i++) client.send({ type: 'ping' });
    await waitFor(async () => (await textOf(page, cell)) === '5', 5000, 'five messages shown');
    assert.match((await page.getAttribute(cell, 'title')) ?? '', /5 messages in/);
    assert.equal(dash.errors, []);
  } finally {
    for (const c of clients) c.ws.terminate();
    await dash.close();
    await t.close();
  }
});

test('the live table sorts by message count, and keeps sorting as the counts change', async () => {
  const t = await startTracker({ touchFlushMs: 20 });
  const clients: TestClient[] = [];
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = dash;
  const order = () => page.$$eval('#rows tr[data-session-id]', (rows) => rows.map((r) => r.getAttribute('data-session-id')));
  try {
    await page.waitForSelector('#state[data-state="live"]');
    const quiet = await connectClient(t.wsUrl('/ws?user=quiet'));
    const chatty = await connectClient(t.wsUrl('/ws?user=chatty'));
    const late = await connectClient(t.wsUrl('/ws?user=late'));
    clients.push(quiet, chatty, late);
    for (let i = 0; i < 5; i++) chatty.send({ type: 'ping' });
    quiet.send({ type: 'ping' });
    const msgs = (c: { sessionId: string }) => textOf(page, `#rows tr[data-session-id="${c.sessionId}"] td.c-msgs`);
    await waitFor(async () => (await msgs(chatty)) === '5' && (await msgs(quiet)) === '1', 5000, 'the counts');

    await page.click('th[data-key="messages"] button', { timeout: 2000 });
    await waitFor(async () => (await order())[0] === chatty.sessionId, 2000, 'most messages first');
    assert.equal(await order(), [chatty.sessionId, quiet.sessionId, late.sessionId]);
    assert.is(await page.getAttribute('th[data-key="messages"]', 'aria-sort'), 'descending');
    // The order follows the counts as activity comes in.
    for (let i = 0; i < 9; i++) late.send({ type: 'ping' });
    await waitFor(async () => (await order())[0] === late.sessionId, 5000, 'the new leader first');
    assert.equal(await order(), [late.sessionId, chatty.sessionId, quiet.sessionId]);
    await page.click('th[data-key="messages"] button');
    await waitFor(async () => (await order())[0] === quiet.sessionId, 2000, 'fewest first');
    assert.is(await page.getAttribute('th[data-key="messages"]', 'aria-sort'), 'ascending');
    assert.equal(dash.errors, []);
  } finally {
    for (const c of clients) c.ws.terminate();
    await dash.close();
    await t.close();
  }
});

test('a filter submitted while a history load is in flight is applied, and the older answer never lands over it', async () => {
  const t = await startTracker();
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = dash;
  // The first page load (unfiltered) is held until the test lets it go.
  let letGo!: () => void;
  const held = new Promise<void>((resolve) => (letGo = resolve));
  let heldRequest!: (request: Request) => void;
  const firstSeen = new Promise<Request>((resolve) => (heldRequest = resolve));
  let first: Request | undefined;
  await page.route('**/history?*', async (route: Route) => {
    if (first === undefined && !new URL(route.request().url()).searchParams.has('user')) {
      first = route.request();
      heldRequest(first);
      await held;
      await route.continue().catch(() => {}); // the page may have aborted it
    } else {
      await route.continue();
    }
  });
  try {
    await insertSessions(t.tracker.db, ['alice', 'bob', 'carol', 'alice', 'bob'].map((user, i) => endedSession(i, user)));
    await page.waitForSelector('#state[data-state="live"]');
    await page.click('#history > summary');
    const request = await firstSeen;
    const firstDone = new Promise<void>((resolve) => {
      const settle = (r: Request) => r === request && resolve();
      page.on('requestfinished', settle);
      page.on('requestfailed', settle);
    });
    await page.fill('#history-user', 'alice');
    await page.click('#history-form button[type="submit"]');
    const alice = ['alice-0', 'alice-3'];
    await waitFor(async () => (await historyIds(page)).join() === alice.join(), 5000, 'the filtered rows');
    assert.match(await textOf(page, '#history-status'), 'alice');

    letGo();
    await firstDone;
    // Let the page run whatever the old answer would have set off.
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 0)));
    assert.equal(await historyIds(page), alice, 'still only what the filter box asks for');
    assert.is(await page.inputValue('#history-user'), 'alice');
    assert.match(await textOf(page, '#history-status'), 'alice');
    assert.equal(dash.errors, []);
  } finally {
    letGo();
    await dash.close();
    await t.close();
  }
});

test('stats that cannot be refreshed say so, with the section closed too, and come back once they can', async () => {
  const t = await startTracker();
  await insertSessions(t.tracker.db, [endedSession(0, 'alice')]);
  const context = await chromium.browser.newContext({ locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  let other: SQLite.Database | undefined;
  try {
    // Playwright's clock: the 15 s refresh comes when the test says.
    await page.clock.install();
    await page.goto(t.httpUrl(`/admin#token=${TOKEN}`));
    await waitFor(async () => (await textOf(page, '#history-ended')) === '1', 5000, 'the stats');
    // The history table goes away under the tracker: /history/stats answers 503.
    other = new SQLite(t.databasePath);
    other.exec('ALTER TABLE connection_history RENAME TO connection_history_away');
    await page.clock.runFor(15_000);
    await page.waitForSelector('#history-stats-error:not([hidden])', { timeout: 5000 });
    assert.ok(await page.isVisible('#history-stats-error'), 'seen with the section closed');
    assert.match(await textOf(page, '#history-stats-error'), 'unavailable');
    assert.is(await textOf(page, '#history-ended'), '—', 'no stale figure passed off as current');

    other.exec('ALTER TABLE connection_history_away RENAME TO connection_history');
    await page.clock.runFor(15_000);
    await waitFor(async () => (await textOf(page, '#history-ended')) === '1', 5000, 'the stats again');
    assert.ok(await page.isHidden('#history-stats-error'));
  } finally {
    other?.close();
    await context.close();
    await t.close();
  }
});

test('a stats failure is announced once, again only for a new reason or after a recovery; the seconds left stay current', async () => {
  const t = await startTracker();
  await insertSessions(t.tracker.db, [endedSession(0, 'alice')]);
  const context = await chromium.browser.newContext({ locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  let other: SQLite.Database | undefined;
  /** What the alert said each time its text changed while shown: what a screen reader announces. */
  const announced = () => page.evaluate(() => (globalThis as any).announced as string[]);
  const line = () => textOf(page, '#history-stats-error');
  /** The next 15 s refresh, once the page has shown its answer (the figures are set on each). */
  const refresh = async () => {
    const before = await page.evaluate(() => (globalThis as any).renders as number);
    await page.clock.runFor(15_000);
    await waitFor(async () => (await page.evaluate(() => (globalThis as any).renders as number)) > before, 5000, 'a refresh shown');
  };
  const setToken = (token: string) => page.evaluate((tk) => (globalThis as any).sessionStorage.setItem('roster.adminToken', tk), token);
  try {
    await page.clock.install();
    await page.goto(t.httpUrl(`/admin#token=${TOKEN}`));
    await waitFor(async () => (await textOf(page, '#history-ended')) === '1', 5000, 'the stats');
    await page.evaluate(() => {
      const g = globalThis as any;
      const errorLine = g.document.getElementById('history-stats-error');
      g.announced = [];
      g.renders = 0;
      new g.MutationObserver((records: any[]) => {
        for (const r of records) {
          const node = r.target.nodeType === 1 ? r.target : r.target.parentElement;
          if (node.closest('#history-ended')) g.renders++;
          const alert = node.closest('[role="alert"]');
          if (alert && !errorLine.hidden && alert.textContent) g.announced.push(alert.textContent);
        }
      }).observe(errorLine.parentElement, { subtree: true, childList: true, characterData: true });
    });

    other = new SQLite(t.databasePath);
    other.exec('ALTER TABLE connection_history RENAME TO connection_history_away');
    await refresh();
    assert.match(await line(), 'Stats unavailable');
    assert.is((await announced()).length, 1, 'the failure announced');
    await refresh();
    await refresh();
    assert.match(await line(), 'Stats unavailable');
    assert.is((await announced()).length, 1, 'not again while it fails the same way');

    await setToken('not-the-admin-token-at-all');
    await refresh();
    assert.match(await line(), 'rejected');
    assert.is((await announced()).length, 2, 'a new reason is announced');
    assert.match((await announced())[1]!, 'rejected');

    await setToken(TOKEN);
    other.exec('ALTER TABLE connection_history_away RENAME TO connection_history');
    await refresh();
    assert.ok(await page.isHidden('#history-stats-error'), 'recovered');
    other.exec('ALTER TABLE connection_history RENAME TO connection_history_away');
    await refresh();
    assert.is((await announced()).length, 3, 'a failure after a recovery is announced');

    // A lockout: its seconds left change on each refresh, its reason does not.
    for (let i = 0; i < 5; i++) await fetch(t.httpUrl('/history'), { headers: { authorization: 'Bearer not-the-admin-token-at-all' } });
    await refresh();
    const seconds = async () => Number(/try again in (\d+) s/i.exec(await line())?.[1]);
    assert.match(await line(), 'too many failed authentications');
    const first = await seconds();
    assert.ok(first > 0, await line());
    assert.is((await announced()).length, 4, 'the lockout announced');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await refresh();
    assert.ok((await seconds()) < first, 'the seconds left are current');
    assert.is((await announced()).length, 4, 'and not announced again');
  } finally {
    other?.close();
    await context.close();
    await t.close();
  }
});

test('"Load older sessions" clicked while the list is being refreshed pages on once the refresh lands', async () => {
  const t = await startTracker();
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = dash;
  let letGo: () => void = () => {};
  try {
    await insertSessions(t.tracker.db, Array.from({ length: 60 }, (_, i) => endedSession(i, 'seeded')));
    await page.waitForSelector('#state[data-state="live"]');
    await page.click('#history > summary');
    await waitFor(async () => (await historyIds(page)).length === 50, 5000, 'the first page');
    assert.ok(await page.isVisible('#history-more'));

    // The next first-page load (a refresh) is held until the test lets it go.
    const held = new Promise<void>((resolve) => (letGo = resolve));
    let seen!: () => void;
    const refreshSeen = new Promise<void>((resolve) => (seen = resolve));
    await page.route('**/history?*', async (route: Route) => {
      if (!new URL(route.request().url()).searchParams.has('before')) {
        seen();
        await held;
      }
      await route.continue().catch(() => {});
    });
    await page.click('#history-form button[type="submit"]');
    await refreshSeen;
    await page.click('#history-more');
    letGo();
    await waitFor(async () => (await historyIds(page)).length === 60, 5000, 'the older page after the refresh');
    assert.is(new Set(await historyIds(page)).size, 60, 'no session twice');
    assert.ok(await page.isHidden('#history-more'));
    assert.equal(dash.errors, []);
  } finally {
    letGo();
    await dash.close();
    await t.close();
  }
});

test('a refused history request shows the server\'s reason and when to try again', async () => {
  const t = await startTracker();
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = dash;
  try {
    await page.waitForSelector('#state[data-state="live"]');
    // Five wrong tokens from this address lock it out of /history for 60 s, the page included.
    for (let i = 0; i < 5; i++) {
      const res = await fetch(t.httpUrl('/history'), { headers: { authorization: 'Bearer not-the-admin-token-at-all' } });
      assert.is(res.status, 401);
    }
    await page.click('#history > summary');
    await waitFor(async () => (await textOf(page, '#history-status')).includes('unavailable'), 5000, 'the list refused');
    assert.match(await textOf(page, '#history-status'), /too many failed authentications; try later \(429, try again in \d+ s\)/);
    // The stats are a request of their own, which may answer after the list.
    await waitFor(async () => (await textOf(page, '#history-stats-error')).includes('too many failed authentications'), 5000, 'the stats refused');
  } finally {
    await dash.close();
    await t.close();
  }
});

test('a 512-character user label is cut short in its cell, with the full text in its title; the table keeps its width', async () => {
  const t = await startTracker();
  const dash = await openDashboard(chromium.browser, t.httpUrl(`/admin#token=${TOKEN}`));
  const { page } = dash;
  try {
    const long = 'L'.repeat(512);
    await insertSessions(t.tracker.db, [endedSession(0, long), endedSession(1, 'short')]);
    await page.waitForSelector('#state[data-state="live"]');
    await page.click('#history > summary');
    await waitFor(async () => (await historyIds(page)).length === 2, 5000, 'both sessions');
    const cell = '#history-rows tr:first-child td:nth-child(2)';
    assert.is(await page.getAttribute(cell, 'title'), long);
    const sizes = await page.evaluate((selector) => {
      const { document, getComputedStyle } = globalThis as any;
      const td = document.querySelector(selector);
      return {
        table: document.getElementById('history-table').getBoundingClientRect().width as number,
        scroller: document.querySelector('.history-scroller').clientWidth as number,
        cell: td.clientWidth as number,
        text: td.scrollWidth as number,
        overflow: getComputedStyle(td).textOverflow as string,
      };
    }, cell);
    assert.ok(sizes.table <= sizes.scroller, `table ${sizes.table}px in a ${sizes.scroller}px scroller`);
    assert.ok(sizes.text > sizes.cell, 'the label is longer than its cell');
    assert.is(sizes.overflow, 'ellipsis');
    assert.equal(dash.errors, []);
  } finally {
    await dash.close();
    await t.close();
  }
});

test.run();
