/** Run an ES module script in a child Node process, to see how that process ends. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Written to `dir` and run from the file, not with -e: workers inherit
 * --input-type, which then fails them at their start. A child still
 * running after `timeoutMs` is killed (`error` is then set).
 */
export function runScript(dir: string, source: string, timeoutMs = 10_000): SpawnSyncReturns<string> {
  const file = join(dir, 'script.mjs');
  writeFileSync(file, source);
  return spawnSync(process.execPath, [file], { timeout: timeoutMs, encoding: 'utf8' });
}

