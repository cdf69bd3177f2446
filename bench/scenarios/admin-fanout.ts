/**
 * Scenario 5: with `hold` clients connected and `admins` admins attached,
 * probe clients connect (then close) one at a time; the latency is from
 * the probe's connect (or close) call to the event at each admin.
 */
import { connectAll, type Scenario } from '../lib/scenario.js';

export const adminFanout: Scenario = {
  id: 'fanout',
  title: 'admin fan-out',
  kinds: ['tracker'],
  describe: (c) => `${c.hold} conns, ${c.admins} admins, ${c.probes} probes every ${c.probeIntervalMs} ms`,
  timeoutMs: () => 180_000,
  async run(ctx) {
    const { hold, admins, probes, probeIntervalMs } = ctx.config;
    await connectAll(ctx, hold);
    await ctx.load.call('attachAdmins', { url: ctx.wsUrl('/admin/stream'), token: ctx.token, n: admins });
    const r = await ctx.load.call('fanout', { url: ctx.wsUrl('/ws'), probes, intervalMs: probeIntervalMs, timeoutMs: 20_000 });
    if (r.connectedSamples < r.expected || r.disconnectedSamples < r.expected) {
      throw new Error(`missing admin events: ${JSON.stringify(r)}`);
    }
    const target = { label: '≤ 50 ms', max: 50 };
    return [
      { name: 'connected p50', unit: 'ms', value: r.connectedP50, better: 'lower' },
      { name: 'connected p99', unit: 'ms', value: r.connectedP99, better: 'lower', target },
      { name: 'disconnected p50', unit: 'ms', value: r.disconnectedP50, better: 'lower' },
      { name: 'disconnected p99', unit: 'ms', value: r.disconnectedP99, better: 'lower', target },
    ];
  },
};
