/**
 * Scenario 1: N connections at fixed concurrency, counted when the welcome
 * arrives. Two counts per round, each timed from the first connect to the
 * last welcome:
 *
 * - `concurrency` in flight (default 300): the throughput, with the target.
 *   A closed loop measures capacity only while it keeps the server busy.
 *   Bare `ws` is busy from ~50 in flight on this machine; the tracker needs
 *   ~200, because each welcome waits for its row's commit (issue #2: the
 *   row is inserted before the welcome), and under a storm commits are
 *   grouped, one per `WriteBatching.minIntervalMs`.
 * - `lowConcurrency` in flight (default 100): the same count where that
 *   wait still limits the rate. It has no target; it shows what a
 *   connect's extra milliseconds cost a client that waits for each one.
 */
import {
  closeAllAndDrain,
  connectAll,
  databaseCpuMetrics,
  loadCpuMetric,
  rowsPerCommit,
  timedWindow,
  warmUp,
  type Metric,
  type Scenario,
} from '../lib/scenario.js';

export const connectStorm: Scenario = {
  id: 'connect',
  title: 'connect storm',
  kinds: ['tracker', 'bare'],
  describe: (c) => `N=${c.n}, concurrency ${c.concurrency}, then ${c.lowConcurrency}; after a ${c.warmup}-connection warm-up`,
  timeoutMs: () => 180_000,
  async run(ctx) {
    const { n, concurrency, lowConcurrency } = ctx.config;
    await warmUp(ctx);
    const { result, cpuMicros, loadCpuMicros, databaseCpuMicros } = await timedWindow(ctx, () => connectAll(ctx, n, concurrency));
    const metrics: Metric[] = [
      { name: 'connects/s', unit: '/s', value: (n / result.ms) * 1000, better: 'higher', target: { label: '≥ 0.95× bare', minRatio: 0.95 } },
      // What the throughput ratio hides on a shared machine: the server's own work per connect.
      { name: 'server CPU per connect', unit: 'µs', value: cpuMicros / n, better: 'lower' },
      loadCpuMetric('connect', loadCpuMicros, n),
      ...databaseCpuMetrics(ctx, 'connect', databaseCpuMicros, n),
    ];
    if (ctx.kind === 'tracker') metrics.push(await rowsPerCommit(ctx, 'connected'));
    await closeAllAndDrain(ctx);
    const low = await connectAll(ctx, n, lowConcurrency);
    metrics.push({ name: `connects/s, ${lowConcurrency} in flight`, unit: '/s', value: (n / low.ms) * 1000, better: 'higher' });
    return metrics;
  },
};
