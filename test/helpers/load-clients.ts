/**
 * A child process that holds many real ws clients against a loopback
 * tracker, so the process under test (and the browser) do not pay for
 * them. Bounded on every axis: loopback only, at most MAX_CLIENTS, and it
 * exits by itself after `lifetimeMs` even if its parent forgets it.
 *
 * Parent side: `startLoadClients(options)` forks it and resolves once every
 * client is open; `stop()` closes them all and waits for the exit.
 * While held, `churnPerSecond` clients close and reconnect every second and
 * `activityPerSecond` clients send a ping, so the admin stream carries a
 * steady flow of connected / disconnected / activity events.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export const MAX_CLIENTS = 20_000;
const MAX_LIFETIME_MS = 180_000;

export interface LoadOptions {
  /** ws://127.x.x.x:port/ws */
  url: string;
  count: number;
  /** Distinct `?user=` labels, assigned round-robin: user-0000, user-0001, … */
  labels?: number;
  concurrency?: number;
  churnPerSecond?: number;
  activityPerSecond?: number;
  /** The child exits by itself after this long. */
  lifetimeMs?: number;
}

export interface LoadHandle {
  opened: number;
  failed: number;
  /** Close every client and wait for the process to exit. */
  stop(): Promise<void>;
}

const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'node/v20.18.0 ws/8.18',
];

export function labelFor(i: number, labels: number): string {
  return `user-${String(i % labels).padStart(4, '0')}`;
}

function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== 'localhost') throw new RangeError(`load clients only target loopback, not ${host}`);
}

export function startLoadClients(options: LoadOptions): Promise<LoadHandle> {
  assertLoopback(options.url);
  if (!(options.count >= 1 && options.count <= MAX_CLIENTS)) throw new RangeError(`count must be 1..${MAX_CLIENTS}`);
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`load clients exited early (${code})`)));
    child.once('message', (message: any) => {
      resolve({
        opened: message.opened,
        failed: message.failed,
        async stop() {
          if (child.connected) child.send('stop');
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        },
      });
    });
  });
}

// ---- child side ----

async function runChild(options: LoadOptions): Promise<void> {
  assertLoopback(options.url);
  const count = Math.min(options.count, MAX_CLIENTS);
  const labels = options.labels ?? 500;
  const concurrency = options.concurrency ?? 200;
  const clients: (WebSocket | undefined)[] = new Array(count);
  let failed = 0;
  let stopping = false;

  const open = (i: number) =>
    new Promise<void>((resolve) => {
      const ws = new WebSocket(`${options.url}?user=${labelFor(i, labels)}`, {
        headers: { 'user-agent': AGENTS[i % AGENTS.length]! },
        // Several loopback sources: each has its own ephemeral port range.
        localAddress: `127.0.0.${1 + (i % 8)}`,
      });
      clients[i] = ws;
      ws.once('open', () => resolve());
      ws.once('error', () => {
        failed++;
        resolve();
      });
      ws.on('close', () => {
        if (clients[i] === ws) clients[i] = undefined;
      });
    });

  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count && !stopping) await open(next++);
    }),
  );
  process.send?.({ opened: count - failed, failed });

  let tick = 0;
  const ping = JSON.stringify({ type: 'ping' });
  const steady = setInterval(() => {
    tick++;
    for (let k = 0; k < (options.activityPerSecond ?? 0); k++) {
      const ws = clients[(tick * 7919 + k * 104_729) % count];
      if (ws?.readyState === WebSocket.OPEN) ws.send(ping);
    }
    for (let k = 0; k < (options.churnPerSecond ?? 0); k++) {
      const i = (tick * 131 + k * 9973) % count;
      clients[i]?.close();
      void open(i);
    }
  }, 1000);

  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    clearInterval(steady);
    for (const ws of clients) ws?.terminate();
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('message', shutdown);
  process.on('disconnect', shutdown);
  setTimeout(shutdown, Math.min(options.lifetimeMs ?? 120_000, MAX_LIFETIME_MS)).unref();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runChild(JSON.parse(process.argv[2]!) as LoadOptions);
}
