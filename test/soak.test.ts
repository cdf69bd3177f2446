/**
 * A short run of bench/soak.ts: churn from a child process ends with no
 * rows, an empty live set, and heap and handles back near the baseline.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runSoak } from '../bench/soak.js';

const test = suite('soak');
/** A leak of even 10 KB per cycle would show as 5 MB here; noise stays well under. */
const HEAP_SLACK = 4 * 1024 * 1024;

test('500 cycles of connect, messages, disconnect leave nothing behind', async () => {
  const figures = await runSoak({ cycles: 500, concurrency: 10, messages: 3, warmup: 100 });
  assert.is(figures.errors, 0);
  assert.is(figures.rows, 0);
  assert.is(figures.live, 0);
  assert.ok(figures.heapGrowthBytes < HEAP_SLACK, `heap grew by ${figures.heapGrowthBytes} bytes`);
  assert.ok(figures.handlesAfter <= figures.handlesBaseline + 1, `handles ${figures.handlesBaseline} → ${figures.handlesAfter}`);
});

test.run();
