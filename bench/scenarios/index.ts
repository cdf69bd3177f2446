/** Every scenario, in the order the table shows them. Add new ones here. */
import type { Scenario } from '../lib/scenario.js';
import { adminFanout } from './admin-fanout.js';
import { ceiling } from './ceiling.js';
import { connectStorm } from './connect-storm.js';
import { disconnectStorm } from './disconnect-storm.js';
import { idleHold } from './idle-hold.js';
import { roundTrips } from './round-trips.js';
import { snapshot } from './snapshot.js';

export const scenarios: readonly Scenario[] = [connectStorm, roundTrips, disconnectStorm, idleHold, adminFanout, snapshot, ceiling];
