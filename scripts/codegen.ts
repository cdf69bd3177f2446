/**
 * Regenerate db/types.ts (or, with --verify, check it) from a freshly
 * migrated SQLite database, using kysely-codegen.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSqlite } from '../src/database.js';
import { migrateToLatest } from '../src/migrations.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Run kysely-codegen against a fresh database; returns its exit status and output. */
export async function runCodegen(options: { verify: boolean; outFile?: string }): Promise<{ status: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'roster-codegen-'));
  const file = join(dir, 'schema.db');
  try {
    const db = openSqlite({ path: file });
    const { error } = await migrateToLatest(db);
    await db.destroy();
    if (error) throw error;
    const args = ['--dialect', 'sqlite', '--url', file, '--out-file', options.outFile ?? join(ROOT, 'db/types.ts')];
    if (options.verify) args.push('--verify');
    const bin = join(ROOT, 'node_modules/.bin/kysely-codegen');
    const result = spawnSync(bin, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, DATABASE_URL: '' } });
    return { status: result.status ?? 1, output: `${result.stdout}${result.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const verify = process.argv.includes('--verify');
  const { status, output } = await runCodegen({ verify });
  process.stdout.write(output);
  process.exit(status);
}
