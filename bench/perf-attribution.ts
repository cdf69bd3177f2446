/**
 * Where each server's main thread spends its CPU during the timed windows,
 * per operation, from a system-wide `perf` recording (kernel included, which
 * the V8 profiler of `--profile-window` cannot see). Usage:
 *
 *   NODE_OPTIONS=--perf-basic-prof perf record -k CLOCK_MONOTONIC -F 1999 -g -a \
 *     -o /tmp/perf.data -- node dist/bench/run.js --only connect --n 6000 --rounds 2 \
 *     --mark-windows 2> /tmp/windows.txt
 *   perf script -i /tmp/perf.data -F tid,time,ip,sym,dso --ns > /tmp/perf.txt
 *   node dist/bench/perf-attribution.js /tmp/windows.txt /tmp/perf.txt OPS_PER_WINDOW [--load]
 *
 * Each sample inside a window, on that window's server main thread (its
 * tid is the pid; `--load`: the load generator's), goes to the first
 * category whose pattern matches a frame of its stack.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

interface Window {
  kind: string;
  tid: string;
  start: bigint;
  end: bigint;
}

/**
 * First match wins: SQLite before the JavaScript that calls it, the commit's
 * fan-out (which sends the tracker's 101 and welcome) before the writer
 * that calls it.
 */
const CATEGORIES: [string, RegExp][] = [
  ['SQLite (native)', /Statement::JS_/],
  ['bench harness (tracker events)', /server-tracker\.js|server-common/],
  ['commit fan-out (welcome, events)', /onCommitted|#welcome|committed-view|sendWelcome/],
  ['write path (JS)', /kysely|repository\.js|record-writer|reusable-queries|query-log|\/metrics\.js|prom-client|serial-queue|history-repository/],
  ['upgrade (bare: with 101 + welcome)', /onUpgrade|upgrade-handler|server-bare\.js|ws\/lib\/websocket-server/],
  ['close frames, messages', /ws\/lib\/(receiver|websocket|sender)\.js/],
  ['garbage collection', /Scavenge|MarkCompact|Heap::CollectGarbage/],
  ['timers', /uv__run_timers/],
  ['other I/O callbacks', /uv__io_poll/],
];

function readWindows(file: string, load: boolean): Window[] {
  const windows: Window[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^window (\w+) server=(\d+) load=(\d+) (\d+) (\d+)$/.exec(line.trim());
    if (m) windows.push({ kind: m[1]!, tid: load ? m[3]! : m[2]!, start: BigInt(m[4]!), end: BigInt(m[5]!) });
  }
  return windows;
}

const [windowsFile, perfFile, opsArg] = process.argv.slice(2);
if (!windowsFile || !perfFile || !opsArg) {
  console.error('usage: node dist/bench/perf-attribution.js WINDOWS.txt PERF-SCRIPT.txt OPS_PER_WINDOW [--load]');
  process.exit(2);
}
const windows = readWindows(windowsFile, process.argv.includes('--load'));
const counts = new Map<string, Map<string, number>>();
const windowsPerKind = new Map<string, number>();
for (const w of windows) windowsPerKind.set(w.kind, (windowsPerKind.get(w.kind) ?? 0) + 1);

let header: { tid: string; ns: bigint } | undefined;
let frames: string[] = [];

function take(): void {
  if (header === undefined) return;
  const { tid, ns } = header;
  const w = windows.find((x) => x.tid === tid && x.start <= ns && ns <= x.end);
  if (w === undefined) return;
  const category = CATEGORIES.find(([, re]) => frames.some((f) => re.test(f)))?.[0] ?? 'other';
  const byCategory = counts.get(w.kind) ?? new Map<string, number>();
  counts.set(w.kind, byCategory);
  byCategory.set(category, (byCategory.get(category) ?? 0) + 1);
  byCategory.set('total', (byCategory.get('total') ?? 0) + 1);
}

for await (const line of createInterface({ input: createReadStream(perfFile) })) {
  const head = /^\s*(\d+)\s+(\d+)\.(\d+):\s*$/.exec(line);
  if (head) {
    take();
    header = { tid: head[1]!, ns: BigInt(head[2]!) * 1_000_000_000n + BigInt(head[3]!.padEnd(9, '0')) };
    frames = [];
    continue;
  }
  if (line.trim() !== '') frames.push(line.trim());
}
take();

// Samples are taken at -F Hz: each stands for 1e6 / F µs of CPU.
const hz = Number(process.env.PERF_HZ ?? 1999);
const ops = Number(opsArg);
const kinds = [...counts.keys()].sort();
const perOp = (kind: string, key: string) => ((counts.get(kind)?.get(key) ?? 0) * 1e6) / hz / (ops * (windowsPerKind.get(kind) ?? 1));
console.log(`main-thread CPU per operation (µs), ${ops} operations per window, sampled at ${hz} Hz`);
console.log(`${'category'.padEnd(34)} ${kinds.map((k) => k.padStart(9)).join(' ')}`);
for (const name of [...CATEGORIES.map(([n]) => n), 'other', 'total']) {
  console.log(`${name.padEnd(34)} ${kinds.map((k) => perOp(k, name).toFixed(1).padStart(9)).join(' ')}`);
}
