import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uuidV7 } from '../src/uuid-v7.js';

const ids = suite('uuidV7');

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The 48-bit millisecond timestamp at the front of a UUIDv7. */
function timestampOf(id: string): number {
  return parseInt(id.replace(/-/g, '').slice(0, 12), 16);
}

ids('has the v7 layout: version nibble 7, RFC 9562 variant, lowercase hex', () => {
  for (let i = 0; i < 2000; i++) assert.match(uuidV7(), V7);
});

ids('carries the given time in its first 48 bits, including times past 2^32 ms', () => {
  for (const at of [0, 1, 0xffff_ffff, 0x1_0000_0000, Date.UTC(2026, 10, 23, 6, 0, 0, 123), 2 ** 48 - 1]) {
    assert.is(timestampOf(uuidV7(at)), at, `time ${at}`);
  }
  const before = Date.now();
  const now = timestampOf(uuidV7());
  assert.ok(now >= before && now <= Date.now(), 'defaults to Date.now()');
});

ids('sorts by time: an id from a later millisecond sorts after an earlier one', () => {
  const base = Date.UTC(2026, 10, 23);
  const series = Array.from({ length: 500 }, (_, i) => uuidV7(base + i * 7));
  assert.equal([...series].sort(), series);
});

/** rand_a: the 12 bits after the version nibble. */
function counterOf(id: string): number {
  return parseInt(id.slice(15, 18), 16);
}

ids('ascends within one millisecond: a counter, starting at a random value below 2048', () => {
  const base = Date.UTC(2026, 10, 23, 12);
  const starts = new Set<number>();
  for (let ms = 0; ms < 50; ms++) {
    const series = Array.from({ length: 1000 }, () => uuidV7(base + ms));
    assert.equal([...series].sort(), series, `made in order, sorted in order (ms ${ms})`);
    assert.ok(counterOf(series[0]!) < 2048, 'room for 2048 more');
    assert.is(counterOf(series[999]!), counterOf(series[0]!) + 999, 'one step per id');
    starts.add(counterOf(series[0]!));
  }
  assert.ok(starts.size > 40, `the starting value is random (${starts.size} distinct of 50)`);
});

ids('is unique within one millisecond, across pool refills and counter overflow (62 random bits)', () => {
  const at = Date.now();
  const seen = new Set<string>();
  for (let i = 0; i < 100_000; i++) seen.add(uuidV7(at));
  assert.is(seen.size, 100_000);
  // The random tail differs, not just a counter: many distinct values in every random position.
  const tails = [...seen].slice(0, 256).map((id) => id.slice(-12));
  for (let position = 0; position < 12; position++) {
    assert.ok(new Set(tails.map((t) => t[position])).size > 8, `position ${position} varies`);
  }
});

ids.run();
