/** Headless Chromium from the system packages, driven by playwright-core. */
import { chromium, type Browser, type Page, type WebSocketRoute } from 'playwright-core';
import type { Test } from 'uvu';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS });
}

/** One browser for a suite, launched in its `before` hook and closed in its `after`. */
export function browserForSuite(test: Test): { readonly browser: Browser } {
  let browser: Browser | undefined;
  test.before(async () => {
    browser = await launchBrowser();
  });
  test.after(async () => {
    await browser?.close();
  });
  return {
    get browser() {
      if (browser === undefined) throw new Error('the browser is launched by the suite\'s before hook');
      return browser;
    },
  };
}

export interface DashboardPage {
  page: Page;
  /** Page errors and console errors, for diagnosing failures. */
  errors: string[];
  close(): Promise<void>;
}

/** A fresh context and page, opened at `url`; records uncaught errors. */
export async function openDashboard(browser: Browser, url: string, viewport = { width: 1280, height: 800 }): Promise<DashboardPage> {
  const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  await page.goto(url);
  return { page, errors, close: () => context.close() };
}

/** The numeric value of a dashboard counter (`connections`, `users`, `idle`). */
export async function counter(page: Page, name: string): Promise<number> {
  return Number(await page.getAttribute(`#count-${name}`, 'data-value'));
}

/** Session ids of the rows currently in the table's DOM, top to bottom, excluding fading ones. */
export function visibleSessions(page: Page): Promise<string[]> {
  return page.$$eval('#rows tr[data-session-id]:not(.is-gone)', (rows) => rows.map((r) => r.getAttribute('data-session-id')!));
}

/** The text of the first element matching `selector`, or '' when it has none. */
export async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.textContent(selector)) ?? '';
}

/**
 * A page whose admin stream goes through Playwright's WebSocket route to
 * the real server, with the server's messages held back, from the first
 * one `holdFrom` picks (by default the first of all) until `release()`:
 * a message still on its way over a slow link, and everything queued
 * behind it. The page's clock is Playwright's, so minutes pass in
 * `page.clock.runFor`.
 */
export async function pageWithHeldStream(browser: Browser, url: string, holdFrom: (message: string | Buffer) => boolean = () => true) {
  const context = await browser.newContext({ locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  await page.clock.install();
  const held: (string | Buffer)[] = [];
  const routes: WebSocketRoute[] = [];
  let holding = false;
  let released = false;
  await page.routeWebSocket(/\/admin\/stream$/, (route) => {
    routes.push(route);
    route.connectToServer().onMessage((message) => {
      if (!holding && !released && holdFrom(message)) holding = true;
      if (holding) held.push(message);
      else route.send(message);
    });
  });
  await page.goto(url);
  return {
    page,
    held,
    routes,
    release() {
      holding = false;
      released = true;
      for (const message of held.splice(0)) routes[routes.length - 1]!.send(message);
    },
    /** Hold the server's messages back again, from now on. */
    hold() {
      holding = true;
    },
    close: () => context.close(),
  };
}
