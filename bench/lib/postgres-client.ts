/** For the PostgreSQL micro-benchmarks: Roster's schema on a server, and one plain `pg` client to drive it. */
import pg from 'pg';
import { migrateToLatest } from '../../src/migrations.js';
import { openPostgres } from '../../src/postgres.js';

/** Migrate the database at `url` to the latest schema, then connect one client to it. */
export async function migratedClient(url: string): Promise<pg.Client> {
  const db = openPostgres({ url, poolSize: 1, connectTimeoutMs: 5000, idleTimeoutMs: 10_000, statementTimeoutMs: 0 });
  const { error } = await migrateToLatest(db);
  await db.destroy();
  if (error) throw error;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}
