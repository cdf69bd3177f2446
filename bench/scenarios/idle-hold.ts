/** Scenario 4: server RSS growth per idle connection while holding `hold` of them (after a GC). */
import { connectAll, type Scenario } from '../lib/scenario.js';

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const idleHold: Scenario = {
  id: 'idle',
  title: 'idle hold',
  kinds: ['tracker', 'bare'],
  describe: (c) => `${c.hold} connections`,
  timeoutMs: () => 120_000,
  async run(ctx) {
    const before = await ctx.server.call('rss');
    await connectAll(ctx, ctx.config.hold);
    // Let the last batch commit and the socket buffers settle.
    await settle(1500);
    const after = await ctx.server.call('rss');
    const perConn = (after.rss - before.rss) / ctx.config.hold / 1024;
    return [
      { name: 'RSS per connection', unit: 'KiB', value: perConn, better: 'lower', target: { label: '≤ 10 KiB', max: 10 } },
      { name: 'heap per connection', unit: 'KiB', value: (after.heapUsed - before.heapUsed) / ctx.config.hold / 1024, better: 'lower' },
    ];
  },
};
