#!/usr/bin/env node
/**
 * `npm run db:migrate -- <latest|up|down|status>` against the configured
 * database: DATABASE_URL (PostgreSQL) when set, else DATABASE_PATH.
 * Prints what it did; exits non-zero on failure (2 for bad settings).
 */
import { existsSync } from 'node:fs';
import type { MigrationResultSet } from 'kysely';
import { ConfigError, loadConfig, type ServerConfig } from './config.js';
import type { Database } from './database.js';
import { openDatabase, redactUrl } from './postgres.js';
import { createMigrator, schemaState, shippedMigrations, unknownMigrationsProblem } from './migrations.js';
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
  const where = config.databaseUrl !== undefined ? redactUrl(config.databaseUrl) : config.databasePath;
  // Opening a missing SQLite file creates it: right for `latest` and `up`,
  // but `status` and `down` only read or undo, and a mistyped path should
  // not leave an empty database behind.
  const missing = config.databaseUrl === undefined && config.databasePath !== ':memory:' && !existsSync(config.databasePath);
  if (missing && command === 'status') {
    process.stdout.write(`database: ${where} (no file yet: \`npm start\` or \`db:migrate latest\` creates it)\n`);
    const shipped = await shippedMigrations();
    for (const name of shipped) process.stdout.write(`  ${'pending'.padEnd(32)}  ${name}\n`);
    process.stdout.write(`0 applied, ${shipped.length} pending\n`);
    return 0;
  }
  if (missing && command === 'down') {
    process.stderr.write(`db:migrate: no database at ${where}: nothing to revert\n`);
    return 1;
  }
  let db: Database;
  try {
    db = openDatabase(config);
  } catch (error) {
    // A folder, a file that is not a database, no permission.
    process.stderr.write(`db:migrate: cannot open ${where}: ${(error as Error)?.message ?? error}\n`);
    return 1;
  }
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
    // A server running on the file, or what the database or the system
    // refused (an error with a code: read-only, locked, unreachable): one
    // line. Anything else is a defect, and its stack is the report.
    const operational = error instanceof DatabaseInUseError || typeof error?.code === 'string';
    process.stderr.write(`db:migrate: ${operational ? error.message : (error?.stack ?? error)}\n`);
    process.exit(1);
  },
);
