/**
 * Schema migrations through Kysely's Migrator. The migration files live in
 * db/migrations and are compiled next to this module's build output.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, type Kysely, type MigrationResultSet } from 'kysely';

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

/** Apply every pending migration. Like Kysely, reports failure as a value. */
export function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  return createMigrator(db).migrateToLatest();
}

export class SchemaError extends Error {
  override name = 'SchemaError';
}

/**
 * Bring the schema up to date (`migrate`) or refuse to go on while any
 * migration is pending (`verify`). Returns the names it applied.
 */
export async function prepareSchema(db: Kysely<any>, mode: 'migrate' | 'verify'): Promise<string[]> {
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
