/** Scenario 2: N connections each doing M sequential ping → pong round trips, all at once. */
import { connectAll, databaseCpuMetrics, loadCpuMetric, timedWindow, warmUp, type Scenario } from '../lib/scenario.js';

export const roundTrips: Scenario = {
  id: 'roundtrip',
  title: 'round trips',
  kinds: ['tracker', 'bare'],
  describe: (c) => `N=${c.rtN} × M=${c.rtM}; after a ${c.warmup}-connection warm-up and one untimed pass`,
  timeoutMs: () => 120_000,
  async run(ctx) {
    await warmUp(ctx);
    await connectAll(ctx, ctx.config.rtN);
    // The message path warms up too: one untimed pass of the same exchange.
    if (ctx.config.warmup > 0) await ctx.load.call('pingPong', { m: ctx.config.rtM, timeoutMs: 100_000 });
    const { result, cpuMicros, loadCpuMicros, databaseCpuMicros } = await timedWindow(ctx, () => ctx.load.call('pingPong', { m: ctx.config.rtM, timeoutMs: 100_000 }));
    const { ms, roundTrips } = result as { ms: number; roundTrips: number };
    return [
      { name: 'round trips/s', unit: '/s', value: (roundTrips / ms) * 1000, better: 'higher', target: { label: '≥ 0.95× bare', minRatio: 0.95 } },
      // As for connects and closes: the server's own work, which throughput on a shared machine hides.
      { name: 'server CPU per round trip', unit: 'µs', value: cpuMicros / roundTrips, better: 'lower' },
      loadCpuMetric('round trip', loadCpuMicros, roundTrips),
      ...databaseCpuMetrics(ctx, 'round trip', databaseCpuMicros, roundTrips),
    ];
  },
};
