import { PostgresAdapter, type Kysely } from 'kysely';

// Frozen in time: this file imports nothing from src/. One row per ended
// connection. PostgreSQL gets native uuid, timestamptz and bigint; SQLite
// keeps ISO-8601 text (which sorts in time order) and 64-bit integers.
// `duration_ms` is derived, but storing it keeps the median query portable.

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const time = pg ? 'timestamptz' : 'text';
  const count = pg ? 'bigint' : 'integer';
  await db.schema
    .createTable('connection_history')
    .addColumn('id', pg ? 'uuid' : 'text', (col) => col.primaryKey().notNull())
    .addColumn('session_id', 'text', (col) => col.notNull())
    .addColumn('user_label', 'text')
    .addColumn('remote_address', 'text', (col) => col.notNull())
    .addColumn('user_agent', 'text', (col) => col.notNull())
    .addColumn('connected_at', time, (col) => col.notNull())
    .addColumn('disconnected_at', time, (col) => col.notNull())
    .addColumn('duration_ms', count, (col) => col.notNull())
    .addColumn('close_code', 'integer', (col) => col.notNull())
    .addColumn('close_reason', 'text', (col) => col.notNull().defaultTo(''))
    .addColumn('messages', count, (col) => col.notNull().defaultTo(0))
    .addColumn('bytes_in', count, (col) => col.notNull().defaultTo(0))
    .execute();
  // Newest-first pages walk (disconnected_at, id); the user filter walks
  // the same order within one label. Retention deletes by disconnected_at.
  await db.schema
    .createIndex('connection_history_disconnected_idx')
    .on('connection_history')
    .columns(['disconnected_at', 'id'])
    .execute();
  await db.schema
    .createIndex('connection_history_user_idx')
    .on('connection_history')
    .columns(['user_label', 'disconnected_at', 'id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('connection_history').execute();
}
