/** Scenario 1: N connections at fixed concurrency, counted when the welcome arrives. */
import { connectAll, loadCpuMetric, rowsPerCommit, timedWindow, warmUp, type Metric, type Scenario } from '../lib/scenario.js';

export const connectStorm: Scenario = {
  id: 'connect',
  title: 'connect storm',
  kinds: ['tracker', 'bare'],
  describe: (c) => `N=${c.n}, concurrency ${c.concurrency}; after a ${c.warmup}-connection warm-up`,
  timeoutMs: () => 120_000,
  async run(ctx) {
    await warmUp(ctx);
    const { result, cpuMicros, loadCpuMicros } = await timedWindow(ctx, () => connectAll(ctx, ctx.config.n));
    const { ms } = result;
    const metrics: Metric[] = [
      { name: 'connects/s', unit: '/s', value: (ctx.config.n / ms) * 1000, better: 'higher', target: { label: '≥ 0.95× bare', minRatio: 0.95 } },
      // What the throughput ratio hides on a shared machine: the server's own work per connect.
      { name: 'server CPU per connect', unit: 'µs', value: cpuMicros / ctx.config.n, better: 'lower' },
      loadCpuMetric('connect', loadCpuMicros, ctx.config.n),
    ];
    if (ctx.kind === 'tracker') metrics.push(await rowsPerCommit(ctx, 'connected'));
    return metrics;
  },
};
