/** Scenario 1: N connections at fixed concurrency, counted when the welcome arrives. */
import { connectAll, rowsPerCommit, type Metric, type Scenario } from '../lib/scenario.js';

export const connectStorm: Scenario = {
  id: 'connect',
  title: 'connect storm',
  kinds: ['tracker', 'bare'],
  describe: (c) => `N=${c.n}, concurrency ${c.concurrency}`,
  timeoutMs: () => 120_000,
  async run(ctx) {
    const { ms } = await connectAll(ctx, ctx.config.n);
    const metrics: Metric[] = [{ name: 'connects/s', unit: '/s', value: (ctx.config.n / ms) * 1000, better: 'higher', target: { label: '≥ 0.95× bare', minRatio: 0.95 } }];
    if (ctx.kind === 'tracker') metrics.push(await rowsPerCommit(ctx, 'connected'));
    return metrics;
  },
};
