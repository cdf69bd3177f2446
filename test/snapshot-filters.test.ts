import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PgSnapshot } from '../src/pg-events.js';
import { SnapshotFilters } from '../src/snapshot-filters.js';

const filters = suite('SnapshotFilters');

// Snapshot taken while 103 and 105 were in progress: 100–102 and 104 had committed.
const snapshot = new PgSnapshot('103:106:103,105');

filters('a late notification of a change the snapshot holds is skipped for that admin only', () => {
  const f = new SnapshotFilters<string>();
  f.set('late-admin', snapshot);
  // 104 committed before the snapshot; its NOTIFY arrives after the admin got it.
  assert.equal([...f.skipFor(104n)], ['late-admin']);
  assert.equal([...f.skipFor(101n)], ['late-admin'], 'still filtering: nothing past the snapshot yet');
  assert.is(f.size, 1);
});

filters('the first change the snapshot lacks ends the filter (commit order)', () => {
  const f = new SnapshotFilters<string>();
  f.set('a', snapshot);
  f.set('b', new PgSnapshot('110:110:'));
  // 105 was in progress at the first snapshot: not in it, so 'a' gets it and stops filtering.
  assert.equal([...f.skipFor(105n)], ['b']);
  assert.is(f.size, 1);
  // Whatever comes next is sent to 'a' even if its xid is old (104 cannot come after 105 in commit order).
  assert.equal([...f.skipFor(104n)], ['b']);
  assert.equal([...f.skipFor(110n)], []);
  assert.is(f.size, 0);
});

filters('admits answers for one key and leaves the others filtered', () => {
  const f = new SnapshotFilters<string>();
  f.set('new-admin', snapshot);
  f.set('other', new PgSnapshot('100:100:'));
  // Buffered while the new admin's snapshot was read: 102 is in it, 103 was in progress.
  assert.not.ok(f.admits('new-admin', 102n));
  assert.ok(f.admits('new-admin', 103n));
  assert.ok(f.admits('new-admin', 104n), 'released after the first change the snapshot lacks');
  assert.equal([...f.skipFor(99n)], ['other'], 'the other key is untouched');
  assert.ok(f.admits('never-filtered', 1n));
});

filters('deleted keys are no longer filtered', () => {
  const f = new SnapshotFilters<string>();
  f.set('gone', snapshot);
  f.delete('gone');
  assert.equal([...f.skipFor(100n)], []);
});

filters.run();
