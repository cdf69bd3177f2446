/**
 * Schema migrations through Kysely's Migrator. The migration files live in
 * db/migrations and are compiled next to this module's build output.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MIGRATION_TABLE, FileMigrationProvider, Migrator, type Kysely, type MigrationResultSet } from 'kysely';

/** dist/src/migrations.js → dist/db/migrations */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../db/migrations', import.meta.url));

export function createMigrator(db: Kysely<any>): Migrator {
  return new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_FOLDER }),
  });
}

/** Names of the migrations not yet applied, oldest first. */
export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  const all = await createMigrator(db).getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}

/**
 * Names of migrations the database has applied that this version does not
 * ship, oldest first: a newer Roster migrated it. Running on such a schema
 * would be running against tables this code was not written for.
 */
export async function unknownMigrations(db: Kysely<any>): Promise<string[]> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === DEFAULT_MIGRATION_TABLE)) return [];
  const known = new Set((await createMigrator(db).getMigrations()).map((m) => m.name));
  const applied = await db.selectFrom(DEFAULT_MIGRATION_TABLE).select('name').orderBy('name').execute();
  return applied.map((row) => row.name as string).filter((name) => !known.has(name));
}

/** Apply every pending migration. Like Kysely, reports failure as a value. */
export function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  return createMigrator(db).migrateToLatest();
}

export class SchemaError extends Error {
  override name = 'SchemaError';
}

/**
 * Bring the schema up to date (`migrate`) or refuse to go on while any
 * migration is pending (`verify`). Either way, refuse a schema that a newer
 * version has migrated further. Returns the names it applied.
 */
export async function prepareSchema(db: Kysely<any>, mode: 'migrate' | 'verify'): Promise<string[]> {
  const unknown = await unknownMigrations(db);
  if (unknown.length > 0) {
    throw new SchemaError(
      `the database has migrations this version does not know: ${unknown.join(', ')} (a newer Roster applied them; run that version, or revert them with its "npm run db:migrate -- down")`,
    );
  }
  if (mode === 'verify') {
    const pending = await pendingMigrations(db);
    if (pending.length > 0) {
      throw new SchemaError(`schema is out of date; pending migrations: ${pending.join(', ')} (run "npm run db:migrate -- latest")`);
    }
    return [];
  }
  const { error, results } = await migrateToLatest(db);
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new SchemaError(`migration ${failed ?? '(unknown)'} failed: ${(error as Error).message ?? String(error)}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
