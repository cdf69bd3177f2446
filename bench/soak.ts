/**
 * Soak: bounded connection churn from a child process against a real
 * tracker (SQLite file in a temp dir) in this process. At the end the
 * table must be empty, the live set empty, and heap and open handles back
 * near the baseline taken after a warm-up.
 *
 *   npm run build && node dist/bench/soak.js [--cycles 20000] [--concurrency 20] [--messages 3]
 *
 * Prints its figures as JSON and exits 1 when a check fails. A smaller run
 * of the same code is part of `npm test` (test/soak.test.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createHttpServer } from '../src/http-server.js';
import { countActiveUsers } from '../src/repository.js';
import { createTracker } from '../src/tracker.js';
import type { ChurnResult } from './churn-client.js';

const CHURN_CLIENT = fileURLToPath(new URL('./churn-client.js', import.meta.url));

export interface SoakOptions {
  cycles: number;
  concurrency?: number;
  messages?: number;
  /** Cycles run before the baseline, so lazy init and JIT are not counted as growth. */
  warmup?: number;
}

export interface SoakFigures {
  cycles: number;
  errors: number;
  churnMs: number;
  cyclesPerSecond: number;
  rows: number;
  live: number;
  heapBaselineBytes: number;
  heapAfterBytes: number;
  heapGrowthBytes: number;
  handlesBaseline: number;
  handlesAfter: number;
  rssAfterBytes: number;
}

/** A real gc(), whatever flags the process was started with. */
function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

async function settledHeap(gc: () => void): Promise<number> {
  let heap = Infinity;
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
    heap = Math.min(heap, process.memoryUsage().heapUsed);
  }
  return heap;
}

function openHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
}

function runChurnChild(url: string, cycles: number, concurrency: number, messages: number): Promise<ChurnResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHURN_CLIENT, url, String(cycles), String(concurrency), String(messages)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`churn client exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!));
    });
  });
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('soak: state did not settle');
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function runSoak(options: SoakOptions): Promise<SoakFigures> {
  const { cycles, concurrency = 20, messages = 3, warmup = 200 } = options;
  const gc = exposeGc();
  const dir = mkdtempSync(join(tmpdir(), 'roster-soak-'));
  const server = createHttpServer((req, res) => {
    if (!tracker.handleRequest(req, res)) res.writeHead(404).end();
  });
  const tracker = createTracker({
    server,
    databasePath: join(dir, 'roster.db'),
    adminToken: 'soak-admin-token-0123456789',
    touchFlushMs: 100,
    maxConnectionsPerIp: concurrency * 4,
  });
  try {
    await tracker.start();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
    const settled = () => until(async () => tracker.connections === 0 && (await countActiveUsers(tracker.db)) === 0, 30_000);

    await runChurnChild(url, warmup, concurrency, messages);
    await settled();
    const heapBaselineBytes = await settledHeap(gc);
    const handlesBaseline = openHandles();

    const result = await runChurnChild(url, cycles, concurrency, messages);
    await settled();
    const heapAfterBytes = await settledHeap(gc);
    return {
      cycles: result.cycles,
      errors: result.errors,
      churnMs: result.ms,
      cyclesPerSecond: Math.round((result.cycles * 1000) / result.ms),
      rows: await countActiveUsers(tracker.db),
      live: tracker.connections,
      heapBaselineBytes,
      heapAfterBytes,
      heapGrowthBytes: heapAfterBytes - heapBaselineBytes,
      handlesBaseline,
      handlesAfter: openHandles(),
      rssAfterBytes: process.memoryUsage().rss,
    };
  } finally {
    await tracker.stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
}

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isMain) {
  const figures = await runSoak({ cycles: flag('cycles', 20_000), concurrency: flag('concurrency', 20), messages: flag('messages', 3) });
  process.stdout.write(JSON.stringify(figures, null, 2) + '\n');
  /** Near the baseline: allocator and JIT noise, not growth per cycle. */
  const HEAP_SLACK = 8 * 1024 * 1024;
  const ok = figures.rows === 0 && figures.live === 0 && figures.errors === 0 && figures.heapGrowthBytes < HEAP_SLACK && figures.handlesAfter <= figures.handlesBaseline + 2;
  process.stdout.write(ok ? 'soak: ok\n' : 'soak: FAILED\n');
  process.exit(ok ? 0 : 1);
}
