/**
 * The shape of a benchmark scenario. To add one, write a module in
 * bench/scenarios/ exporting a Scenario and list it in
 * bench/scenarios/index.ts; run.ts does the rounds, alternation, medians
 * and the table.
 */
import type { Child } from './ipc.js';

export type ServerKind = 'tracker' | 'bare';

export interface BenchConfig {
  rounds: number;
  /** Connections for the connect and disconnect storms. */
  n: number;
  /** Connects and closes each server serves, untimed, before a throughput scenario (see warmUp). */
  warmup: number;
  /** Connects in flight in the connect storm's timed window (enough to keep both servers busy). */
  concurrency: number;
  /** The connect storm's second window: fewer in flight, where a connect's latency shows in the rate. */
  lowConcurrency: number;
  /** Connections and round trips per connection for the round-trip scenario. */
  rtN: number;
  rtM: number;
  /** Connections held for idle hold, fan-out and snapshot. */
  hold: number;
  admins: number;
  probes: number;
  probeIntervalMs: number;
  snapshotReps: number;
  /** Connection attempts per load process in the ceiling scenario (two processes). */
  ceilingPerLoad: number;
  /** Loopback source addresses the ceiling's load rotates over (each 127.x has its own ports). */
  sources: string[];
}

/** A target: a ratio to bare ws to reach, or a bound on the tracker's figure. */
export interface Target {
  label: string;
  minRatio?: number;
  max?: number;
}

export interface Metric {
  name: string;
  unit: string;
  value: number;
  better: 'higher' | 'lower';
  target?: Target;
}

export interface RoundContext {
  kind: ServerKind;
  config: BenchConfig;
  server: Child;
  load: Child;
  /** Fork one more load process (stopped with the round). */
  extraLoad(): Promise<Child>;
  wsUrl(path: string): string;
  httpUrl(path: string): string;
  token: string;
  /** A free-text line printed under the table (e.g. why the ceiling stopped). */
  note(text: string): void;
  /** Where the server writes its profile of the timed window (`--profile-window`), if wanted. */
  windowProfile: string | undefined;
  /** Print each timed window's pids and CLOCK_MONOTONIC bounds to stderr (`--mark-windows`). */
  markWindows: boolean;
  /** On PostgreSQL: the database server's CPU time so far, all its processes (µs). */
  databaseCpuMicros: (() => number) | undefined;
}

export interface Scenario {
  id: string;
  title: string;
  /** Which servers it runs against; bare-only figures make no sense for admin features. */
  kinds: readonly ServerKind[];
  /** Rounds for this scenario (default: config.rounds). */
  rounds?(config: BenchConfig): number;
  /** Time bound for one round against one server. */
  timeoutMs(config: BenchConfig): number;
  run(ctx: RoundContext): Promise<Metric[]>;
  /** A line of context for the table (N, sizes). */
  describe(config: BenchConfig): string;
}

/**
 * Connects in flight when a scenario sets up its clients outside a timed
 * window (and in the warm-up and the ceiling): the same for every scenario
 * whatever the connect storm's `--concurrency`.
 */
export const SETUP_CONCURRENCY = 100;

/** Connect `n` clients, `concurrency` in flight; throws if any failed. */
export async function connectAll(ctx: RoundContext, n: number, concurrency: number = SETUP_CONCURRENCY): Promise<{ ms: number }> {
  const result = await ctx.load.call('connect', {
    url: ctx.wsUrl('/ws'),
    n,
    concurrency,
    // The kernel's own port choice: binding a source address first makes
    // every connect search for a free port, slow once TIME_WAIT piles up.
    sources: [],
    timeoutMs: 120_000,
  });
  if (result.ok !== n) throw new Error(`connected ${result.ok}/${n}: ${JSON.stringify(result.errors)}`);
  return result;
}

/**
 * Serve `n` connects and closes before the timed window, the same for
 * both servers: a server in production has long since compiled its hot
 * functions and prepared its statements, and a fresh one spends its first
 * second doing that on V8's background threads.
 */
/** Connections held at once during a warm-up: far inside the file-descriptor limit. */
const WARMUP_BATCH = 2000;

export async function warmUp(ctx: RoundContext, n: number = ctx.config.warmup): Promise<void> {
  for (let left = n; left > 0; left -= WARMUP_BATCH) {
    await connectAll(ctx, Math.min(left, WARMUP_BATCH));
    await closeAllAndDrain(ctx);
  }
  if (ctx.kind === 'tracker') await ctx.server.call('batches'); // reset the per-commit counters
}

/** Close every held client and wait until the server holds none (the tracker: no rows either). */
export async function closeAllAndDrain(ctx: RoundContext): Promise<void> {
  await ctx.server.call('armDrain');
  await ctx.load.call('closeAll');
  await ctx.server.call('waitDrain');
}

/**
 * Run the timed part of a throughput scenario: returns what `work`
 * returns and the CPU time over it (µs) of the server (all threads), of
 * the load generator and, on PostgreSQL, of the database server, and
 * with `--profile-window` has the server profile exactly that window.
 */
export async function timedWindow<T>(
  ctx: RoundContext,
  work: () => Promise<T>,
): Promise<{ result: T; cpuMicros: number; loadCpuMicros: number; databaseCpuMicros: number | undefined }> {
  if (ctx.windowProfile !== undefined) await ctx.server.call('profileStart');
  const before: number = await ctx.server.call('cpuMicros');
  const loadBefore: number = await ctx.load.call('cpuMicros');
  const databaseBefore = ctx.databaseCpuMicros?.();
  const startNs = process.hrtime.bigint();
  const result = await work();
  const endNs = process.hrtime.bigint();
  const databaseAfter = ctx.databaseCpuMicros?.();
  const loadAfter: number = await ctx.load.call('cpuMicros');
  const after: number = await ctx.server.call('cpuMicros');
  if (ctx.windowProfile !== undefined) await ctx.server.call('profileStop', { file: ctx.windowProfile });
  // CLOCK_MONOTONIC, as `perf record -k CLOCK_MONOTONIC` stamps its samples (bench/perf-attribution.ts).
  if (ctx.markWindows) console.error(`window ${ctx.kind} server=${ctx.server.process.pid} load=${ctx.load.process.pid} ${startNs} ${endNs}`);
  const databaseCpuMicros = databaseBefore === undefined || databaseAfter === undefined ? undefined : databaseAfter - databaseBefore;
  return { result, cpuMicros: after - before, loadCpuMicros: loadAfter - loadBefore, databaseCpuMicros };
}

/** The load generator's CPU per operation: what the server's share of the two cores competes with. */
export function loadCpuMetric(label: string, loadCpuMicros: number, operations: number): Metric {
  return { name: `load CPU per ${label}`, unit: 'µs', value: loadCpuMicros / operations, better: 'lower' };
}

/**
 * Tracker on PostgreSQL only: the database server's CPU per operation, the
 * third process on the two cores, which "server CPU" does not count. Bare
 * `ws` uses no database, so it has no such row.
 */
export function databaseCpuMetrics(ctx: RoundContext, label: string, databaseCpuMicros: number | undefined, operations: number): Metric[] {
  if (ctx.kind !== 'tracker' || databaseCpuMicros === undefined) return [];
  return [{ name: `database CPU per ${label}`, unit: 'µs', value: databaseCpuMicros / operations, better: 'lower' }];
}

/** Tracker only: how many rows each commit carried (events per batch of events). */
export async function rowsPerCommit(ctx: RoundContext, kind: 'connected' | 'disconnected'): Promise<Metric> {
  const batches = await ctx.server.call('batches');
  const b = batches[kind] ?? { events: 0, commits: 0 };
  return { name: `rows per commit (${kind})`, unit: 'rows', value: b.commits ? b.events / b.commits : NaN, better: 'higher' };
}
