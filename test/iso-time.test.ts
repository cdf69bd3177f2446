import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isoTime } from '../src/iso-time.js';

const iso = suite('isoTime');

iso('matches Date#toISOString, across seconds, minutes, days and years', () => {
  const edges = [0, 1, 9, 10, 99, 100, 999, 1000, 59_999, 60_000, 86_399_999, 86_400_000, Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2027, 0, 1), Date.UTC(9999, 11, 31, 23, 59, 59, 999)];
  for (const ms of edges) assert.is(isoTime(ms), new Date(ms).toISOString(), `at ${ms}`);
  // Going back and forth in time, as touches and closes interleave.
  let ms = Date.UTC(2026, 10, 23, 7, 59, 58, 0);
  for (let i = 0; i < 5000; i++) {
    ms += Math.floor(Math.random() * 7) - 2;
    assert.is(isoTime(ms), new Date(ms).toISOString());
  }
});

iso.run();
