import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this file imports nothing from src/. Column types follow
// the dialect (PostgreSQL gets native uuid, timestamptz and jsonb), while
// SQLite keeps ISO-8601 text, which sorts in time order.

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  await db.schema
    .createTable('users')
    .addColumn('id', pg ? 'uuid' : 'text', (col) => col.primaryKey().notNull())
    .addColumn('session_id', 'text', (col) => col.notNull())
    .addColumn('connected_at', pg ? 'timestamptz' : 'text', (col) => col.notNull())
    .addColumn('last_active_at', pg ? 'timestamptz' : 'text', (col) => col.notNull())
    .addColumn('metadata', pg ? 'jsonb' : 'text', (col) => col.notNull().defaultTo(pg ? sql`'{}'::jsonb` : '{}'))
    .execute();
  await db.schema.createIndex('users_session_id_unique').on('users').column('session_id').unique().execute();
  await db.schema.createIndex('users_connected_at_idx').on('users').column('connected_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('users').execute();
}
