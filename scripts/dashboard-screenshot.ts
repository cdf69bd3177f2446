/**
 * Regenerates docs/dashboard.png: a real tracker, a realistic mix of real
 * ws clients (varied labels, browsers, addresses; some busy, some idle),
 * and the real dashboard in headless Chromium.
 *
 *   npx tsc -p . && node dist/scripts/dashboard-screenshot.js [out.png] [width] [height]
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, openDashboard } from '../test/helpers/browser.js';
import { startTracker, TOKEN } from '../test/helpers/tracker.js';
import { connectClient, type TestClient } from '../test/helpers/ws-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36',
  'node/v20.18.0 ws/8.18',
];
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj', 'olivia', 'peggy', 'rupert', 'sybil', 'trent', 'victor', 'walter'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function captureDashboard(out: string, width = 1280, height = 900): Promise<void> {
  const t = await startTracker({ touchFlushMs: 200 });
  const browser = await launchBrowser();
  const clients: TestClient[] = [];
  const open = async (i: number) => {
    // Anonymous connections (no ?user=) are realistic too.
    const user = i % 7 === 6 ? '' : `?user=${USERS[(i * 5) % USERS.length]}`;
    clients.push(
      await connectClient(t.wsUrl(`/ws${user}`), {
        headers: { 'user-agent': AGENTS[(i * 3) % AGENTS.length]! },
        localAddress: `127.0.${1 + (i % 3)}.${10 + ((i * 37) % 200)}`,
      }),
    );
  };
  try {
    // Idle after 6 s so a short run shows both busy and idle connections.
    const dash = await openDashboard(browser, t.httpUrl(`/admin?idle=6#token=${TOKEN}`), { width, height });
    let i = 0;
    // A ramp for the chart: connections arrive over ~20 s, a few leave.
    for (let step = 0; step < 14; step++) {
      for (let k = 0; k < 2 + (step % 3); k++) await open(i++);
      if (step === 6) await clients.splice(2, 3).map((c) => c.close())[0];
      for (const [n, c] of clients.entries()) if (n % 4 !== 1) c.send({ type: 'ping' });
      await sleep(2000);
    }
    await open(i++); // one fresh row, highlighted
    await sleep(1200); // the chart redraws once a second
    await dash.page.screenshot({ path: out });
    if (dash.errors.length > 0) console.error(dash.errors.join('\n'));
    await dash.close();
  } finally {
    for (const c of clients) c.ws.terminate();
    await browser.close();
    await t.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? `${ROOT}docs/dashboard.png`);
  mkdirSync(dirname(out), { recursive: true });
  await captureDashboard(out, Number(process.argv[3] ?? 1280), Number(process.argv[4] ?? 900));
  console.log(`saved ${out}`);
}
