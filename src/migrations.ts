/**
 * Schema migrations through Kysely's Migrator. The migration files live in
 * db/migrations and are compiled next to this module's build output.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MIGRATION_TABLE, FileMigrationProvider, Migrator, type Kysely, type MigrationInfo, type MigrationResultSet } from 'kysely';

/** dist/src/migrations.js → dist/db/migrations */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../db/migrations', import.meta.url));

function migrationProvider(): FileMigrationProvider {
  return new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_FOLDER });
}

export function createMigrator(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider: migrationProvider() });
}

/** The migrations this version ships, oldest first (Kysely's order): no database needed. */
export async function shippedMigrations(): Promise<string[]> {
  return Object.keys(await migrationProvider().getMigrations()).sort();
}

export interface SchemaState {
  /** Every migration this version ships, oldest first, with when it was applied. */
  migrations: readonly MigrationInfo[];
  /** Shipped and not yet applied. */
  pending: string[];
  /**
   * Applied, but not shipped by this version: a newer Roster migrated the
   * database. Running on such a schema would be running against tables
   * this code was not written for.
   */
  unknown: string[];
}

/** Where the database's schema stands against this version's migrations, in one read. */
export async function schemaState(db: Kysely<any>): Promise<SchemaState> {
  const migrations = await createMigrator(db).getMigrations();
  const pending = migrations.filter((m) => m.executedAt === undefined).map((m) => m.name);
  // Kysely lists only the migrations it was given; the table may hold more.
  // With none of ours applied there is no table (or a newer one is absurd).
  let unknown: string[] = [];
  if (pending.length < migrations.length) {
    const known = new Set(migrations.map((m) => m.name));
    const applied = await db.selectFrom(DEFAULT_MIGRATION_TABLE).select('name').orderBy('name').execute();
    unknown = applied.map((row) => row.name as string).filter((name) => !known.has(name));
  }
  return { migrations, pending, unknown };
}

/** Names of the migrations not yet applied, oldest first. */
export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  return (await schemaState(db)).pending;
}

/** Apply every pending migration. Like Kysely, reports failure as a value. */
export function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  return createMigrator(db).migrateToLatest();
}

export class SchemaError extends Error {
  override name = 'SchemaError';
}

/** What to say about migrations a newer version applied (SchemaState.unknown). */
export function unknownMigrationsProblem(unknown: readonly string[]): string {
  return `the database has migrations this version does not know: ${unknown.join(', ')} (a newer Roster applied them; run that version, or revert them with its "npm run db:migrate -- down")`;
}

/**
 * Bring the schema up to date (`migrate`) or refuse to go on while any
 * migration is pending (`verify`). Either way, refuse a schema that a newer
 * version has migrated further. Returns the names it applied.
 */
export async function prepareSchema(db: Kysely<any>, mode: 'migrate' | 'verify'): Promise<string[]> {
  const { pending, unknown } = await schemaState(db);
  if (unknown.length > 0) throw new SchemaError(unknownMigrationsProblem(unknown));
  if (mode === 'verify') {
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
