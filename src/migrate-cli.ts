#!/usr/bin/env node
/**
 * `npm run db:migrate -- <latest|up|down|status>` against the configured
 * database: DATABASE_URL (PostgreSQL) when set, else DATABASE_PATH.
 * Prints what it did; exits non-zero on failure (2 for bad settings).
 */
import type { MigrationResultSet } from 'kysely';
import { ConfigError, loadConfig, type ServerConfig } from './config.js';
import { openDatabase, redactUrl } from './postgres.js';
import { createMigrator, schemaState, unknownMigrationsProblem } from './migrations.js';
import { DatabaseInUseError, lockSqliteFile, type SqliteFileLock } from './sqlite-lock.js';

const COMMANDS = ['latest', 'up', 'down', 'status'] as const;

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  if (!COMMANDS.includes(command as (typeof COMMANDS)[number])) {
    process.stderr.write(`usage: npm run db:migrate -- <${COMMANDS.join('|')}> [--database-path FILE | --database-url URL]\n`);
    return 2;
  }
  let config: ServerConfig;
  try {
    config = loadConfig(process.env, rest);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`db:migrate: ${error.message}\n`);
    return 2;
  }
  const db = openDatabase(config);
  const where = config.databaseUrl !== undefined ? redactUrl(config.databaseUrl) : config.databasePath;
  let lock: SqliteFileLock | undefined;
  try {
    if (command === 'status') {
      const { migrations, pending, unknown } = await schemaState(db);
      process.stdout.write(`database: ${where}\n`);
      for (const m of migrations) {
        process.stdout.write(`  ${m.executedAt ? 'applied ' + m.executedAt.toISOString() : 'pending'.padEnd(32)}  ${m.name}\n`);
      }
      for (const name of unknown) process.stdout.write(`  ${'applied, unknown here'.padEnd(32)}  ${name}\n`);
      process.stdout.write(`${migrations.length - pending.length} applied, ${pending.length} pending${unknown.length > 0 ? `, ${unknown.length} unknown to this version (a newer Roster applied them)` : ''}\n`);
      return unknown.length > 0 ? 1 : 0;
    }
    // Not while a server runs on the file: its schema would change under it.
    if (config.databaseUrl === undefined && config.databasePath !== ':memory:') lock = lockSqliteFile(config.databasePath);
    // Kysely would call such a schema "corrupted" (and `down` would try to
    // revert a migration this version has no code for).
    const { unknown } = await schemaState(db);
    if (unknown.length > 0) {
      process.stderr.write(`db:migrate: ${unknownMigrationsProblem(unknown)}\n`);
      return 1;
    }
    const migrator = createMigrator(db);
    const result: MigrationResultSet =
      command === 'latest' ? await migrator.migrateToLatest() : command === 'up' ? await migrator.migrateUp() : await migrator.migrateDown();
    for (const r of result.results ?? []) {
      const verb = r.direction === 'Up' ? 'applied' : 'reverted';
      process.stdout.write(`${r.status === 'Success' ? verb : r.status === 'Error' ? 'FAILED' : 'skipped'}: ${r.migrationName}\n`);
    }
    if (result.error) {
      process.stderr.write(`db:migrate: ${(result.error as Error).message ?? result.error}\n`);
      return 1;
    }
    if ((result.results ?? []).length === 0) process.stdout.write('nothing to do\n');
    return 0;
  } finally {
    await db.destroy();
    lock?.release();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    // A server running on the file: one line, not a stack.
    process.stderr.write(`db:migrate: ${error instanceof DatabaseInUseError ? error.message : (error?.stack ?? error)}\n`);
    process.exit(1);
  },
);
