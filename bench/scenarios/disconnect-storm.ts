/**
 * Scenario 3: N clients close at once; timed from the first close call to
 * the moment the server holds none of them. For the tracker that is the
 * last `disconnected` event, emitted after the DELETE committed: the rows
 * are gone (and checked with a COUNT afterwards).
 */
import { connectAll, rowsPerCommit, type Metric, type Scenario } from '../lib/scenario.js';
import { wallMs } from '../lib/stats.js';

export const disconnectStorm: Scenario = {
  id: 'disconnect',
  title: 'disconnect storm',
  kinds: ['tracker', 'bare'],
  describe: (c) => `N=${c.n}`,
  timeoutMs: () => 120_000,
  async run(ctx) {
    const n = ctx.config.n;
    await connectAll(ctx, n);
    if (ctx.kind === 'tracker') await ctx.server.call('batches');
    const { held } = await ctx.server.call('armDrain');
    if (held !== n) throw new Error(`server holds ${held}, expected ${n}`);
    const started = wallMs();
    await ctx.load.call('closeAll');
    const drainedAt: number = await ctx.server.call('waitDrain');
    const rows: number = await ctx.server.call('rows');
    if (rows !== 0) throw new Error(`${rows} rows left after the disconnect storm`);
    const metrics: Metric[] = [{ name: 'closes/s', unit: '/s', value: (n / (drainedAt - started)) * 1000, better: 'higher', target: { label: '≥ 0.95× bare', minRatio: 0.95 } }];
    if (ctx.kind === 'tracker') {
      metrics.push(await rowsPerCommit(ctx, 'disconnected'));
      // How much of the storm is the last commit, after the last socket closed.
      const liveEmptyAt: number | undefined = await ctx.server.call('liveEmptyAt');
      if (liveEmptyAt !== undefined) metrics.push({ name: 'last close → rows gone', unit: 'ms', value: drainedAt - liveEmptyAt, better: 'lower' });
    }
    return metrics;
  },
};
