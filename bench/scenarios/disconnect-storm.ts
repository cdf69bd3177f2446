/**
 * Scenario 3: N clients close at once; timed from the first close call to
 * the moment the server holds none of them. For bare ws that is its last
 * 'close' event (at TCP close). For the tracker it is the later of its
 * last socket's TCP close and its last `disconnected` event, emitted after
 * the DELETE committed: the rows are gone (checked with a COUNT after).
 */
import { connectAll, databaseCpuMetrics, loadCpuMetric, rowsPerCommit, timedWindow, warmUp, type Metric, type Scenario } from '../lib/scenario.js';
import { wallMs } from '../lib/stats.js';

export const disconnectStorm: Scenario = {
  id: 'disconnect',
  title: 'disconnect storm',
  kinds: ['tracker', 'bare'],
  describe: (c) => `N=${c.n}; after a ${c.warmup}-connection warm-up`,
  timeoutMs: () => 120_000,
  async run(ctx) {
    const n = ctx.config.n;
    await warmUp(ctx);
    await connectAll(ctx, n);
    if (ctx.kind === 'tracker') await ctx.server.call('batches');
    const { held } = await ctx.server.call('armDrain');
    if (held !== n) throw new Error(`server holds ${held}, expected ${n}`);
    let started = 0;
    const { result: drainedAt, cpuMicros, loadCpuMicros, databaseCpuMicros } = await timedWindow(ctx, async () => {
      started = wallMs();
      await ctx.load.call('closeAll');
      return (await ctx.server.call('waitDrain')) as number;
    });
    const rows: number = await ctx.server.call('rows');
    if (rows !== 0) throw new Error(`${rows} rows left after the disconnect storm`);
    const metrics: Metric[] = [
      { name: 'closes/s', unit: '/s', value: (n / (drainedAt - started)) * 1000, better: 'higher', target: { label: '≥ 0.95× bare', minRatio: 0.95 } },
      { name: 'server CPU per close', unit: 'µs', value: cpuMicros / n, better: 'lower' },
      loadCpuMetric('close', loadCpuMicros, n),
      ...databaseCpuMetrics(ctx, 'close', databaseCpuMicros, n),
    ];
    if (ctx.kind === 'tracker') {
      metrics.push(await rowsPerCommit(ctx, 'disconnected'));
      // Negative: the rows were gone before the last TCP close (clients are forgotten at their close frame).
      const rowsGoneAt: number = await ctx.server.call('rowsGoneAt');
      const socketsGoneAt: number = await ctx.server.call('socketsGoneAt');
      metrics.push({ name: 'last row gone − last TCP close', unit: 'ms', value: rowsGoneAt - socketsGoneAt, better: 'lower' });
    }
    return metrics;
  },
};
