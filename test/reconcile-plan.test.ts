/**
 * The reconcile's plan: what it writes (the difference between the live
 * set and the stored rows) and what it announces, including changes of a
 * write that failed but may have committed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { planReconcile } from '../src/reconcile-plan.js';
import { liveConnection } from './helpers/live-connection.js';

const test = suite('reconcile plan');
const none = { connected: new Set<string>(), disconnected: new Set<string>() };

test('live without a row is inserted, a row without a live connection deleted, both announced', () => {
  const [kept, fresh] = [liveConnection({ sessionId: 'kept' }), liveConnection({ sessionId: 'fresh' })];
  const plan = planReconcile([kept, fresh], ['kept', 'left'], none, (id) => id === 'kept' || id === 'fresh');
  assert.equal(plan.insert.map((u) => u.sessionId), ['fresh']);
  assert.equal(plan.delete, ['left']);
  assert.equal(plan.connected.map((u) => u.sessionId), ['fresh']);
  assert.equal(plan.disconnected, ['left']);
});

test('changes of a write that may have committed: announced when the table shows them, never a leave without its join', () => {
  const [arrived, stayed] = [liveConnection({ sessionId: 'arrived' }), liveConnection({ sessionId: 'stayed' })];
  const unconfirmed = {
    // arrived: its row is there (committed). passed: committed, then closed. missed: not committed.
    connected: new Set(['arrived', 'passed', 'missed']),
    // left: its delete committed. lingering: not committed, its row is still there.
    disconnected: new Set(['left', 'lingering']),
  };
  const live = new Set(['arrived', 'stayed', 'missed']);
  const missed = liveConnection({ sessionId: 'missed' });
  const plan = planReconcile([arrived, stayed, missed], ['arrived', 'stayed', 'passed', 'lingering'], unconfirmed, (id) => live.has(id));
  assert.equal(plan.insert.map((u) => u.sessionId), ['missed']);
  assert.equal(plan.delete.sort(), ['lingering', 'passed']);
  assert.equal(plan.connected.map((u) => u.sessionId).sort(), ['arrived', 'missed']);
  assert.equal(plan.disconnected.sort(), ['left', 'lingering']);
});

test('a row written before activity carries the latest activity', () => {
  const conn = liveConnection({ sessionId: 'busy' });
  conn.lastActiveMs = conn.connectedMs + 5000;
  const plan = planReconcile([conn], [], none, () => true);
  assert.is(plan.insert[0]!.lastActiveAt, new Date(conn.lastActiveMs).toISOString());
});

test.run();
