/**
 * `npm run bench`: runs every scenario against the tracker and the bare
 * `ws` reference, alternating which goes first, for several rounds, each
 * in fresh server and load processes on loopback; prints medians, ratios
 * tracker/bare and the targets. See README "Performance" and --help.
 */
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Child } from './lib/ipc.js';
import { BENCH_TOKEN } from './lib/server-common.js';
import type { BenchConfig, Metric, Scenario, ServerKind } from './lib/scenario.js';
import { median } from './lib/stats.js';
import { scenarios } from './scenarios/index.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { processTreeCpuMicros } from './lib/process-cpu.js';

/** Single-node scenarios repeated on PostgreSQL; the write path differs, the socket work does not. */
const PG_SCENARIOS = ['connect', 'disconnect', 'fanout', 'snapshot'];

const HELP = `Usage: npm run bench -- [options]
  --rounds N          rounds per scenario (default 5; the ceiling runs once)
  --n N               connections in the connect and disconnect storms (default 6000)
  --warmup N          connects and closes served before the timed window of the connect,
                      round-trip and disconnect scenarios, by both servers, 2000 at a time
                      (default 12000; 0: none)
  --concurrency N     connect storm: connects in flight in the timed window (default 300, enough
                      to keep both servers busy; see docs/performance.md)
  --low-concurrency N connect storm: in flight in its second window, where a connect's latency
                      limits the rate (default 100; reported, no target)
  --rt-n N, --rt-m M  round-trip scenario: N connections × M ping/pong each (default 500 × 200)
  --hold N            connections held for idle hold, fan-out, snapshot (default 10000)
  --admins N          admins attached in the fan-out (default 10)
  --probes N          probe connections in the fan-out (default 100)
  --ceiling N         attempts per load process (two of them) in the ceiling (default 11000)
  --sources K         ceiling only: source addresses 127.0.0.1..K rotated over (default 8)
  --only a,b          run only these scenario ids (${scenarios.map((s) => s.id).join(', ')}, dashboard,
                      postgres, multi-node)
  --pg a,b            scenarios repeated on PostgreSQL (default ${PG_SCENARIOS.join(',')})
  --mn-nodes N, --mn-per-node M
                      multi-node run: N nodes × M connections on one PostgreSQL (default 4 × 15000)
  --skip a,b          skip these scenario ids
  --profile           run the tracker with --cpu-prof, profiles in bench/results/profiles
  --profile-all       the same for every server and load process
  --profile-window    connect, round trips, disconnect: profile only the timed window, in
                      both servers (bench/results/profiles/<scenario>-<server>-window-*.cpuprofile);
                      compare them with node dist/bench/profile-summary.js --diff TRACKER BARE
  --bare-spare-ends   the bare reference also skips ws's redundant receiver end() calls, as the
                      tracker does (src/receiver-end.ts): the ratios then show the tracking
                      alone, not that saving (see docs/performance.md)
  --mark-windows      print each timed window's server and load pids and CLOCK_MONOTONIC bounds
                      to stderr, for perf-attribution.js (see docs/performance.md)`;

interface Flags {
  config: BenchConfig;
  pg: string[];
  multiNode: { nodes: number; perNode: number };
  only: Set<string> | undefined;
  skip: Set<string>;
  profile: 'tracker' | 'all' | undefined;
  profileWindow: boolean;
  markWindows: boolean;
  bareSpareEnds: boolean;
}

function parseFlags(argv: string[]): Flags {
  const values = new Map<string, string>();
  let profile: Flags['profile'];
  let profileWindow = false;
  let markWindows = false;
  let bareSpareEnds = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      console.log(HELP);
      process.exit(0);
    }
    if (arg === '--mark-windows') {
      markWindows = true;
      continue;
    }
    if (arg === '--bare-spare-ends') {
      bareSpareEnds = true;
      continue;
    }
    if (arg === '--profile-window') {
      profileWindow = true;
      continue;
    }
    if (arg === '--profile' || arg === '--profile-all') {
      profile = arg === '--profile' ? 'tracker' : 'all';
      continue;
    }
    const eq = arg.indexOf('=');
    const key = eq === -1 ? arg : arg.slice(0, eq);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (!key.startsWith('--') || value === undefined) throw new Error(`bad argument ${arg}; see --help`);
    values.set(key.slice(2), value);
  }
  const int = (key: string, fallback: number, min = 1) => {
    const raw = values.get(key);
    values.delete(key);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${key} must be an integer ≥ ${min}`);
    return n;
  };
  const list = (key: string) => {
    const raw = values.get(key);
    values.delete(key);
    return raw === undefined ? undefined : new Set(raw.split(',').map((s) => s.trim()));
  };
  const sources = int('sources', 8);
  const config: BenchConfig = {
    rounds: int('rounds', 5),
    n: int('n', 6000),
    warmup: int('warmup', 12_000, 0),
    concurrency: int('concurrency', 300),
    lowConcurrency: int('low-concurrency', 100),
    rtN: int('rt-n', 500),
    rtM: int('rt-m', 200),
    hold: int('hold', 10_000),
    admins: int('admins', 10),
    probes: int('probes', 100),
    probeIntervalMs: int('probe-interval', 10),
    snapshotReps: int('snapshot-reps', 5),
    ceilingPerLoad: int('ceiling', 11_000),
    sources: Array.from({ length: sources }, (_, i) => `127.0.0.${i + 1}`),
  };
  const only = list('only');
  const skip = list('skip') ?? new Set();
  const pg = [...(list('pg') ?? PG_SCENARIOS)];
  const multiNode = { nodes: int('mn-nodes', 4), perNode: int('mn-per-node', 15_000) };
  if (values.size > 0) throw new Error(`unknown option --${[...values.keys()][0]}; see --help`);
  return { config, only, skip, profile, profileWindow, markWindows, bareSpareEnds, pg, multiNode };
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const profileDir = fileURLToPath(new URL('../../bench/results/profiles', import.meta.url));

function windowProfileFile(scenario: string, kind: ServerKind): string {
  mkdirSync(profileDir, { recursive: true });
  return `${profileDir}/${scenario}-${kind}-window-${Date.now()}.cpuprofile`;
}

type Samples = Map<string, { metric: Metric; values: Record<ServerKind, number[]> }>;

/** `databaseCpuMicros`: on PostgreSQL, the database server's CPU so far (bench/lib/process-cpu.ts). */
async function runRound(scenario: Scenario, kind: ServerKind, flags: Flags, samples: Samples, notes: string[], databaseCpuMicros?: () => number): Promise<void> {
  const profiled = (who: string) => {
    if (flags.profile === undefined || (flags.profile === 'tracker' && who !== 'tracker')) return [];
    mkdirSync(profileDir, { recursive: true });
    return ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `${scenario.id}-${who}-${Date.now()}.cpuprofile`];
  };
  const serverArgs = kind === 'bare' && flags.bareSpareEnds ? ['--spare-ends'] : [];
  const server = new Child(here(`./server-${kind}.js`), serverArgs, ['--expose-gc', ...profiled(kind)]);
  const loads = [new Child(here('./load.js'), [], profiled(`load-vs-${kind}`))];
  let timer: NodeJS.Timeout | undefined;
  try {
    const { port } = await server.ready();
    await loads[0]!.ready();
    const work = scenario.run({
      kind,
      config: flags.config,
      server,
      load: loads[0]!,
      async extraLoad() {
        const load = new Child(here('./load.js'), [], profiled(`load${loads.length}-vs-${kind}`));
        loads.push(load);
        await load.ready();
        return load;
      },
      wsUrl: (path) => `ws://127.0.0.1:${port}${path}`,
      httpUrl: (path) => `http://127.0.0.1:${port}${path}`,
      token: BENCH_TOKEN,
      note: (text) => notes.push(`${scenario.id}: ${text}`),
      windowProfile: flags.profileWindow ? windowProfileFile(scenario.id, kind) : undefined,
      markWindows: flags.markWindows,
      databaseCpuMicros,
    });
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${scenario.timeoutMs(flags.config)} ms`)), scenario.timeoutMs(flags.config));
    });
    const metrics = await Promise.race([work, limit]);
    for (const metric of metrics) {
      const key = `${scenario.id}\u0000${metric.name}`;
      let entry = samples.get(key);
      if (!entry) samples.set(key, (entry = { metric, values: { tracker: [], bare: [] } }));
      entry.values[kind].push(metric.value);
      console.log(`  ${scenario.id} ${kind.padEnd(7)} ${metric.name}: ${fmt(metric.value)} ${metric.unit}`);
    }
  } catch (error) {
    notes.push(`${scenario.id} (${kind}) failed: ${(error as Error).message.split('\n')[0]}`);
    console.log(`  ${scenario.id} ${kind} FAILED: ${(error as Error).message.split('\n')[0]}`);
  } finally {
    clearTimeout(timer);
    await Promise.all(loads.map((l) => l.call('terminateAll').catch(() => {})));
    await Promise.all([server.stop(), ...loads.map((l) => l.stop())]);
  }
}

function fmt(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) >= 100) return Math.round(value).toString();
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function status(metric: Metric, tracker: number, ratio: number): string {
  const t = metric.target;
  if (!t || !Number.isFinite(tracker)) return '';
  if (t.minRatio !== undefined) return Number.isFinite(ratio) ? (ratio >= t.minRatio ? 'met' : 'UNMET') : '';
  if (t.max !== undefined) return tracker <= t.max ? 'met' : 'UNMET';
  return '';
}

function printTable(samples: Samples, ran: Scenario[], flags: Flags, notes: string[], extra: string[][]): void {
  const rows: string[][] = [['scenario', 'metric', 'tracker', 'bare ws', 'tracker/bare', 'ratio range', 'target', 'status']];
  // tracker and bare ws: medians over the rounds; tracker/bare: median of the per-round ratios.
  for (const scenario of ran) {
    for (const [key, { metric, values }] of samples) {
      if (!key.startsWith(scenario.id + '\u0000')) continue;
      const t = median(values.tracker);
      const b = median(values.bare);
      // Rounds run in pairs close in time, so the ratio is the median of the
      // per-round ratios: a slow spell on the shared machine then hits both sides.
      const paired = values.tracker.length === values.bare.length;
      const ratios = paired ? values.tracker.map((v, i) => v / values.bare[i]!) : [t / b];
      const ratio = median(ratios);
      rows.push([
        scenario.title,
        `${metric.name} (${metric.unit})`,
        fmt(t),
        values.bare.length ? fmt(b) : '—',
        values.bare.length ? ratio.toFixed(2) : '—',
        // How far the rounds disagree: the noise a single ratio carries.
        values.bare.length && ratios.length > 1 ? `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}` : '—',
        metric.target?.label ?? '',
        status(metric, t, ratio),
      ]);
    }
  }
  rows.push(...extra);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => (c ?? '').padEnd(widths[i]!)).join(' | ') + ' |';
  console.log('');
  console.log(line(rows[0]!));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows.slice(1)) console.log(line(r));
  console.log('');
  console.log('tracker, bare ws: medians over the rounds; tracker/bare: median of the per-round ratios; ratio range: their lowest and highest.');
  if (flags.bareSpareEnds) console.log('bare ws ran with --spare-ends: it skips ws\'s redundant receiver ends as the tracker does, so the ratios show the tracking alone.');
  console.log('Sizes:');
  for (const scenario of ran) {
    const rounds = scenario.rounds?.(flags.config) ?? flags.config.rounds;
    console.log(`  ${scenario.title}: ${scenario.describe(flags.config)}; ${rounds} round(s), median shown`);
  }
  for (const note of notes) console.log(`Note: ${note}`);
}

/** The dashboard bench is another module; include it when it exists and can run. */
async function dashboardRows(notes: string[]): Promise<string[][]> {
  if (!existsSync(here('./dashboard.js'))) {
    notes.push('dashboard: bench/dashboard.ts not present; skipped');
    return [];
  }
  try {
    const mod = await import(here('./dashboard.js').replace(/^/, 'file://'));
    if (typeof mod.runDashboardBench !== 'function') throw new Error('no runDashboardBench export');
    const result = await mod.runDashboardBench();
    const rows: string[][] = [];
    const add = (name: string, value: unknown) =>
      rows.push(['dashboard', name, typeof value === 'number' ? fmt(value) : String(value), '—', '—', '—', '', '']);
    // The figures that say how the page copes; the module's own output has the rest.
    const shown = ['connections', 'frameP50Ms', 'frameP99Ms', 'frameMaxMs', 'longTasks', 'filterMs'];
    if (typeof result === 'number') add('frame time (ms)', result);
    else if (result && typeof result === 'object') {
      const entries = Object.entries(result).filter(([, v]) => typeof v === 'number');
      const picked = entries.filter(([k]) => shown.includes(k));
      for (const [k, v] of picked.length > 0 ? picked : entries) add(k, v);
      if ('loadAverage1m' in result) notes.push(`dashboard: measured at load average ${(result as { loadAverage1m: number }).loadAverage1m}`);
    } else notes.push('dashboard: runDashboardBench returned nothing (skipped?)');
    return rows;
  } catch (error) {
    notes.push(`dashboard: skipped (${(error as Error).message.split('\n')[0]})`);
    return [];
  }
}

async function runScenario(scenario: Scenario, flags: Flags, samples: Samples, notes: string[], databaseCpuMicros?: () => number): Promise<void> {
  const rounds = scenario.rounds?.(flags.config) ?? flags.config.rounds;
  console.log(`${scenario.title} (${scenario.describe(flags.config)})`);
  for (let round = 0; round < rounds; round++) {
    // Alternate who goes first so warm caches and drifting load favour neither.
    const order = round % 2 === 0 ? scenario.kinds : [...scenario.kinds].reverse();
    for (const kind of order) await runRound(scenario, kind, flags, samples, notes, databaseCpuMicros);
  }
}

/** The same scenario with the tracker on PostgreSQL (bare ws is unchanged). */
function onPostgres(scenario: Scenario): Scenario {
  return { ...scenario, id: `${scenario.id}-pg`, title: `${scenario.title} (PostgreSQL)` };
}

/** 4 nodes × 15,000 connections on one PostgreSQL, one admin seeing all of them. */
async function multiNodeRows(flags: Flags, notes: string[]): Promise<string[][]> {
  const { nodes, perNode } = flags.multiNode;
  console.log(`multi-node (${nodes} nodes × ${perNode} connections, one admin)`);
  try {
    const mod = await import(here('./multi-node.js').replace(/^/, 'file://'));
    const r = await mod.runMultiNodeBench({ nodes, perNode, probes: 40, timeoutMs: 600_000, log: (line: string) => console.log(`  ${line}`) });
    const row = (name: string, value: number) => ['multi-node', name, fmt(value), '—', '—', '—', '', ''];
    return [
      row('connections held (conns)', r.connections),
      row('admin snapshot (ms)', r.snapshotMs),
      row('GET /active-users (ms)', r.activeUsersMs),
      row('cross-node connected median (ms)', r.connectLatencyMs.median),
      row('cross-node connected p95 (ms)', r.connectLatencyMs.p95),
      row('cross-node disconnected median (ms)', r.disconnectLatencyMs.median),
      row('cross-node disconnected p95 (ms)', r.disconnectLatencyMs.p95),
    ];
  } catch (error) {
    notes.push(`multi-node: failed (${(error as Error).message.split('\n')[0]})`);
    return [];
  }
}

/**
 * Run after everything else, though the table shows them in place. The
 * ceiling fills the kernel's TCP tables with ~40k connections, and what it
 * leaves behind slowed the scenarios after it for minutes: cross-node
 * `disconnected` events took 14–17 ms after it against 4 ms without
 * (docs/performance.md, "The ceiling's aftermath").
 */
const RUNS_LAST = new Set(['ceiling']);

function loadAverage(): string {
  return os.loadavg().map((n) => n.toFixed(1)).join(' / ');
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const ran = scenarios.filter((s) => (!flags.only || flags.only.has(s.id)) && !flags.skip.has(s.id));
  const cpus = os.cpus();
  console.log(`Roster bench: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, Node ${process.version}, ${os.platform()} ${os.release()}`);
  console.log(`Started ${new Date().toISOString()}; argv: ${process.argv.slice(2).join(' ') || '(defaults)'}; load average ${loadAverage()}`);
  const started = Date.now();
  const samples: Samples = new Map();
  const notes: string[] = [];
  for (const scenario of ran) if (!RUNS_LAST.has(scenario.id)) await runScenario(scenario, flags, samples, notes);
  const wanted = (id: string) => (!flags.only || flags.only.has(id)) && !flags.skip.has(id);
  const extra = wanted('dashboard') ? await dashboardRows(notes) : [];
  const pgRan = wanted('postgres') ? scenarios.filter((s) => flags.pg.includes(s.id)).map(onPostgres) : [];
  if (pgRan.length > 0) {
    const pg = await startPostgres();
    try {
      // The tracker server reads BENCH_DATABASE_URL; forked children inherit it.
      process.env.BENCH_DATABASE_URL = pg.url;
      for (const scenario of pgRan) await runScenario(scenario, flags, samples, notes, () => processTreeCpuMicros(pg.pid));
    } finally {
      delete process.env.BENCH_DATABASE_URL;
      await pg.stop();
    }
  }
  // The multi-node run starts its own PostgreSQL and CLI nodes.
  if (wanted('multi-node')) extra.push(...(await multiNodeRows(flags, notes)));
  for (const scenario of ran) if (RUNS_LAST.has(scenario.id)) await runScenario(scenario, flags, samples, notes);
  printTable(samples, [...ran, ...pgRan], flags, notes, extra);
  console.log(`Finished in ${((Date.now() - started) / 1000).toFixed(0)} s; load average ${loadAverage()} (other work on the machine skews every figure).`);
}

main().catch((error) => {
  console.error(error?.stack ?? error);
  process.exit(1);
});
