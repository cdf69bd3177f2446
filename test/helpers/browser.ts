/** Headless Chromium from the system packages, driven by playwright-core. */
import { chromium, type Browser, type Page } from 'playwright-core';
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
