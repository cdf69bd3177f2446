/**
 * Scenario 6: a new admin's snapshot, and GET /active-users, with `hold`
 * clients connected. The first snapshot of a round is also shown on its
 * own: the server is fresh then, its code not yet optimised, and no row's
 * text has been made yet (committed-view.ts keeps them for the next one).
 */
import { connectAll, type Scenario } from '../lib/scenario.js';
import { median } from '../lib/stats.js';

export const snapshot: Scenario = {
  id: 'snapshot',
  title: 'snapshot',
  kinds: ['tracker'],
  describe: (c) => `${c.hold} rows, median of ${c.snapshotReps} per round`,
  timeoutMs: () => 120_000,
  async run(ctx) {
    const { hold, snapshotReps } = ctx.config;
    await connectAll(ctx, hold);
    const admin = await ctx.load.call('snapshots', { url: ctx.wsUrl('/admin/stream'), token: ctx.token, reps: snapshotReps });
    const http = await ctx.load.call('activeUsers', { url: ctx.httpUrl('/active-users'), token: ctx.token, reps: snapshotReps });
    if (admin.users !== hold || http.users !== hold) throw new Error(`snapshot had ${admin.users}, GET had ${http.users}, expected ${hold}`);
    const target = { label: '≤ 50 ms', max: 50 };
    return [
      { name: 'admin snapshot', unit: 'ms', value: median(admin.ms), better: 'lower', target },
      { name: 'admin snapshot, first of the round', unit: 'ms', value: admin.ms[0]!, better: 'lower' },
      { name: 'GET /active-users', unit: 'ms', value: median(http.ms), better: 'lower' },
    ];
  },
};
