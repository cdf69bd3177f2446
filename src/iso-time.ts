/**
 * `new Date(ms).toISOString()` for the hot paths (every connect, close
 * and touch), without building a Date and formatting every field: the
 * text up to the second is kept for the current second, and only the
 * milliseconds are appended. Output is identical for every time from
 * 1970 to 9999.
 */

/** The second whose text is cached, and that text ("YYYY-MM-DDTHH:MM:SS."). */
let cachedSecond = Number.NaN;
let cachedPrefix = '';

export function isoTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  const milli = ms - second * 1000;
  return cachedPrefix + (milli < 10 ? '00' : milli < 100 ? '0' : '') + milli + 'Z';
}
