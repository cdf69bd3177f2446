/** Scenario 2: N connections each doing M sequential ping → pong round trips, all at once. */
import { connectAll, type Scenario } from '../lib/scenario.js';

export const roundTrips: Scenario = {
  id: 'roundtrip',
  title: 'round trips',
  kinds: ['tracker', 'bare'],
  describe: (c) => `N=${c.rtN} × M=${c.rtM}`,
  timeoutMs: () => 120_000,
  async run(ctx) {
    await connectAll(ctx, ctx.config.rtN);
    const { ms, roundTrips } = await ctx.load.call('pingPong', { m: ctx.config.rtM, timeoutMs: 100_000 });
    return [{ name: 'round trips/s', unit: '/s', value: (roundTrips / ms) * 1000, better: 'higher', target: { label: '≥ 0.95× bare', minRatio: 0.95 } }];
  },
};
