/**
 * Scenario 7: how many concurrent connections one server process holds.
 * Two load processes (each has its own file-descriptor limit) open
 * connections until `ceilingPerLoad` each or 200 failures in a row; the
 * failures say where it stopped.
 */
import { SETUP_CONCURRENCY, type Scenario } from '../lib/scenario.js';

export const ceiling: Scenario = {
  id: 'ceiling',
  title: 'ceiling',
  kinds: ['tracker', 'bare'],
  rounds: () => 1,
  describe: (c) => `2 load processes × ${c.ceilingPerLoad} attempts, until 200 failures in a row`,
  timeoutMs: () => 240_000,
  async run(ctx) {
    const second = await ctx.extraLoad();
    const args = (sources: string[]) => ({
      url: ctx.wsUrl('/ws'),
      n: ctx.config.ceilingPerLoad,
      concurrency: SETUP_CONCURRENCY,
      sources,
      stopAfterFailures: 200,
      timeoutMs: 180_000,
    });
    const half = Math.ceil(ctx.config.sources.length / 2);
    const [a, b] = await Promise.all([
      ctx.load.call('connect', args(ctx.config.sources.slice(0, half))),
      second.call('connect', args(ctx.config.sources.slice(half))),
    ]);
    const { live } = await ctx.server.call('held');
    const fdLimit = await ctx.server.call('fdLimit').catch(() => undefined);
    const errors: Record<string, number> = { ...a.errors };
    for (const [k, v] of Object.entries(b.errors as Record<string, number>)) errors[k] = (errors[k] ?? 0) + v;
    const stop = Object.entries(errors).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k}×${v}`).join(', ') || 'no failure (attempts exhausted)';
    ctx.note(`${ctx.kind}: held ${live} (server open-file limit ${fdLimit ?? 'unknown'}); stopped by: ${stop}`);
    return [{ name: 'connections held', unit: 'conns', value: live, better: 'higher' }];
  },
};
