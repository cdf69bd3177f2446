/** Run an ES module script in a child Node process, to see how that process ends. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Written to `dir` and run from the file, as a host app is run (the
 * database workers once inherited -e's --input-type and failed at their
 * start: history-stats-off-loop.test.ts). A child still running after
 * `timeoutMs` is killed (`error` is then set).
 */
export function runScript(dir: string, source: string, timeoutMs = 10_000): SpawnSyncReturns<string> {
  const file = join(dir, 'script.mjs');
  writeFileSync(file, source);
  return spawnSync(process.execPath, [file], { timeout: timeoutMs, encoding: 'utf8' });
}

