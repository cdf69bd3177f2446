import { PostgresAdapter, type Kysely } from 'kysely';

// Frozen in time: this file imports nothing from src/. Multi-node support:
// every row records the node that owns it, and every node keeps a
// heartbeat row in `nodes`, so survivors can find and clear a dead node.

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  // Rows written before this migration belong to no node ('') and are
  // cleared at the next start like any stale row.
  await db.schema.alterTable('users').addColumn('node_id', 'text', (col) => col.notNull().defaultTo('')).execute();
  await db.schema.createIndex('users_node_id_idx').on('users').column('node_id').execute();
  await db.schema
    .createTable('nodes')
    .addColumn('node_id', 'text', (col) => col.primaryKey().notNull())
    .addColumn('started_at', pg ? 'timestamptz' : 'text', (col) => col.notNull())
    .addColumn('last_seen_at', pg ? 'timestamptz' : 'text', (col) => col.notNull())
    .execute();
  await db.schema.createIndex('nodes_last_seen_at_idx').on('nodes').column('last_seen_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('nodes').execute();
  await db.schema.dropIndex('users_node_id_idx').execute();
  await db.schema.alterTable('users').dropColumn('node_id').execute();
}
