/**
 * The dashboard's observability parts in headless Chromium: the history
 * section (last-hour stats, recent sessions, user filter, paging) and the
 * live table's per-connection message count.
 */
import type { Page } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { insertSessions, type SessionRecord } from '../src/history-repository.js';
import { browserForSuite, openDashboard, textOf } from './helpers/browser.js';
import { startTracker, TOKEN } from './helpers/tracker.js';
import { connectClient, waitFor, type TestClient } from './helpers/ws-client.js';

const test = suite('dashboard history');
const chromium = browserForSuite(test);

const historyIds = (page: Page) => page.$$eval('#history-rows tr', (rows) => rows.map((r) => r.getAttribute('data-session-id')));

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

test.run();
