/**
 * Dashboard at scale: a real tracker, 10,000 real ws clients held by a
 * child process (with steady churn and activity), and the real dashboard
 * in headless Chromium. Records main-thread frame times (requestAnimationFrame
 * deltas and long tasks) while the connections arrive and while the admin
 * scrolls and filters, and writes them to bench/results/dashboard.json.
 *
 * Used by `npm run bench` (bench/run.ts) and by test/dashboard-resilience.test.ts, which
 * asserts on the functional fields. Runnable directly:
 *   npx tsc -p . && node dist/bench/dashboard.js [connections]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { counter, launchBrowser, openDashboard } from '../test/helpers/browser.js';
import { labelFor, startLoadClients } from '../test/helpers/load-clients.js';
import { startTracker, TOKEN } from '../test/helpers/tracker.js';

export const RESULTS_FILE = fileURLToPath(new URL('../../bench/results/dashboard.json', import.meta.url));
/** The 10k test's own measurement: kept out of git so `npm test` leaves the tree clean. */
export const TEST_RESULTS_FILE = fileURLToPath(new URL('../../bench/results/dashboard-test-run.json', import.meta.url));

export interface DashboardBenchResult {
  connections: number;
  /** From the first client connect until the load process has them all open. */
  connectAllMs: number;
  /** From the first client connect until the page shows the full count. */
  renderAllMs: number;
  frames: number;
  frameP50Ms: number;
  frameP99Ms: number;
  frameMaxMs: number;
  longTasks: number;
  longTaskTotalMs: number;
  /** Typing into the filter until the narrowed table is on screen. */
  filterMs: number;
  /** Rows left by the filter (a label held by connections / labels clients). */
  filteredRows: number;
  /** What the page showed: connection and distinct-user counters. */
  shownConnections: number;
  shownUsers: number;
  /** Row elements in the DOM with 10,000 rows in the model (virtualisation). */
  domRows: number;
  /** Admin stream reconnects during the run (a slow consumer would cause some). */
  reconnects: number;
  /** Machine context: frame times mean little without it. */
  cpus: number;
  loadAverage1m: number;
}

export interface DashboardBenchOptions {
  connections?: number;
  labels?: number;
  /** Seconds of steady churn/activity measured after everything is connected. */
  steadySeconds?: number;
  writeResults?: boolean;
  /** Where the results go (default bench/results/dashboard.json). */
  resultsFile?: string;
}

const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!);
const round = (n: number) => Math.round(n * 100) / 100;

/** Start recording rAF deltas, long tasks and connection-state changes inside the page. */
function recordFrames(page: Page): Promise<void> {
  return page.evaluate(() => {
    // Runs in the page; the project compiles without DOM types.
    const w = globalThis as any;
    const bench = { deltas: [] as number[], longTasks: [] as number[], states: [] as string[], stop: false };
    w.__bench = bench;
    new w.PerformanceObserver((list: any) => {
      for (const entry of list.getEntries()) bench.longTasks.push(entry.duration);
    }).observe({ type: 'longtask' });
    const state = w.document.getElementById('state');
    new w.MutationObserver(() => bench.states.push(state.dataset.state)).observe(state, { attributes: true, attributeFilter: ['data-state'] });
    let last = w.performance.now();
    const loop = (t: number) => {
      bench.deltas.push(t - last);
      last = t;
      if (!bench.stop) w.requestAnimationFrame(loop);
    };
    w.requestAnimationFrame(loop);
  });
}

function collectFrames(page: Page): Promise<{ deltas: number[]; longTasks: number[]; states: string[] }> {
  return page.evaluate(() => {
    const w = globalThis as any;
    w.__bench.stop = true;
    return w.__bench;
  });
}

/** Set the filter like a user typing, then time until the table shows the result. */
function timeFilter(page: Page, text: string): Promise<number> {
  return page.evaluate(async (value) => {
    const w = globalThis as any;
    const input = w.document.getElementById('filter');
    const started = w.performance.now();
    input.value = value;
    input.dispatchEvent(new w.Event('input', { bubbles: true }));
    await new Promise((r) => w.requestAnimationFrame(() => w.requestAnimationFrame(r)));
    return w.performance.now() - started;
  }, text);
}

export async function runDashboardBench(options: DashboardBenchOptions = {}): Promise<DashboardBenchResult> {
  const connections = options.connections ?? 10_000;
  const labels = options.labels ?? 500;
  const steadyMs = (options.steadySeconds ?? 3) * 1000;
  const t = await startTracker({ maxConnectionsPerIp: connections * 2, maxConnections: connections * 2, touchFlushMs: 250 });
  const browser = await launchBrowser();
  let load: Awaited<ReturnType<typeof startLoadClients>> | undefined;
  try {
    const dash = await openDashboard(browser, t.httpUrl(`/admin#token=${TOKEN}`));
    const page = dash.page;
    await page.waitForSelector('#state[data-state="live"]');
    await recordFrames(page);

    const started = Date.now();
    load = await startLoadClients({
      url: t.wsUrl('/ws'),
      count: connections,
      labels,
      churnPerSecond: 20,
      activityPerSecond: 500,
      lifetimeMs: 120_000,
    });
    const connectAllMs = Date.now() - started;
    if (load.failed > 0) throw new Error(`${load.failed} load clients failed to connect`);
    // Churn keeps the count moving by a few; "all there" means within them.
    // Poll in the page, slowly: a tight CDP polling loop would itself load both processes.
    await page.waitForFunction(
      (n) => Number((globalThis as any).document.getElementById('count-connections').dataset.value) >= n,
      connections - 40,
      { polling: 200, timeout: 90_000 },
    );
    const renderAllMs = Date.now() - started;

    // Steady stream of events, while the admin scrolls through the table.
    const scrollUntil = Date.now() + steadyMs;
    await page.hover('#scroller');
    while (Date.now() < scrollUntil) {
      await page.mouse.wheel(0, 1200);
      await page.waitForTimeout(100);
    }
    const domRows = await page.$$eval('#rows tr[data-session-id]', (rows) => rows.length);
    const label = labelFor(42, labels);
    const filterMs = await timeFilter(page, label);
    const filteredRows = await page.$$eval('#rows tr[data-session-id]', (rows) => rows.length);
    const labelsOk = await page.$$eval('#rows tr[data-session-id] td.c-user', (cells, l) => cells.every((c) => c.textContent === l), label);
    if (!labelsOk) throw new Error('the filter left rows of other users');
    const shownConnections = await counter(page, 'connections');
    const shownUsers = await counter(page, 'users');
    const { deltas, longTasks, states } = await collectFrames(page);
    if (dash.errors.length > 0) throw new Error(`page errors: ${dash.errors.join('; ')}`);
    await dash.close();

    const sorted = deltas.slice(1).sort((a, b) => a - b);
    const result: DashboardBenchResult = {
      connections,
      connectAllMs,
      renderAllMs,
      frames: sorted.length,
      frameP50Ms: round(percentile(sorted, 50)),
      frameP99Ms: round(percentile(sorted, 99)),
      frameMaxMs: round(sorted[sorted.length - 1] ?? 0),
      longTasks: longTasks.length,
      longTaskTotalMs: round(longTasks.reduce((a, b) => a + b, 0)),
      filterMs: round(filterMs),
      filteredRows,
      shownConnections,
      shownUsers,
      domRows,
      reconnects: states.filter((s) => s === 'reconnecting').length,
      cpus: cpus().length,
      loadAverage1m: round(loadavg()[0]!),
    };
    if (options.writeResults !== false) {
      const file = options.resultsFile ?? RESULTS_FILE;
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify({ measuredAt: new Date().toISOString(), ...result }, null, 2) + '\n');
    }
    return result;
  } finally {
    await load?.stop();
    await browser.close();
    await t.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await runDashboardBench({ connections: Number(process.argv[2] ?? 10_000) });
  console.log(JSON.stringify(result, null, 2));
}
