import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Fewer B-trees to write per connect and per disconnect. Every index is
// another page dirtied by each insert and each delete, and a commit writes
// every dirty page to the WAL; the deletes of ordinary churn land on
// scattered pages, so there each index costs a page per row.
//
// SQLite only (one node, so the tracker holds the list in memory and the
// table is only its record): `users` becomes a WITHOUT ROWID table keyed
// by session_id, the key every write looks rows up by, with `id` unique;
// the connected_at and node_id indexes go (a single node orders from
// memory and never filters by node). That is two B-trees where there
// were five. The history index by user label only holds labelled
// sessions (queries filter by `user_label = ?`, which a partial index
// serves).
//
// PostgreSQL is left as it is: several nodes page through the shared
// table and reap by node, and rebuilding an index there would block the
// writes of every running node for as long as it takes.

function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

async function createLabelIndex(db: Kysely<any>, partial: boolean): Promise<void> {
  await db.schema.dropIndex('connection_history_user_idx').execute();
  let index = db.schema.createIndex('connection_history_user_idx').on('connection_history').columns(['user_label', 'disconnected_at', 'id']);
  if (partial) index = index.where(sql.ref('user_label'), 'is not', null);
  await index.execute();
}

export async function up(db: Kysely<any>): Promise<void> {
  if (isPostgres(db)) return;
  await createLabelIndex(db, true);
  await db.schema
    .createTable('users_lean')
    .addColumn('id', 'text', (col) => col.notNull())
    .addColumn('session_id', 'text', (col) => col.notNull())
    .addColumn('connected_at', 'text', (col) => col.notNull())
    .addColumn('last_active_at', 'text', (col) => col.notNull())
    .addColumn('metadata', 'text', (col) => col.notNull().defaultTo('{}'))
    .addColumn('node_id', 'text', (col) => col.notNull().defaultTo(''))
    .addPrimaryKeyConstraint('users_pk', ['session_id'])
    .modifyEnd(sql`without rowid`)
    .execute();
  await sql`insert into users_lean (id, session_id, connected_at, last_active_at, metadata, node_id)
    select id, session_id, connected_at, last_active_at, metadata, node_id from users`.execute(db);
  await db.schema.dropTable('users').execute();
  await db.schema.alterTable('users_lean').renameTo('users').execute();
  await db.schema.createIndex('users_id_unique').on('users').column('id').unique().execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  if (isPostgres(db)) return;
  await createLabelIndex(db, false);
  await db.schema
    .createTable('users_rowid')
    .addColumn('id', 'text', (col) => col.primaryKey().notNull())
    .addColumn('session_id', 'text', (col) => col.notNull())
    .addColumn('connected_at', 'text', (col) => col.notNull())
    .addColumn('last_active_at', 'text', (col) => col.notNull())
    .addColumn('metadata', 'text', (col) => col.notNull().defaultTo('{}'))
    .addColumn('node_id', 'text', (col) => col.notNull().defaultTo(''))
    .execute();
  await sql`insert into users_rowid (id, session_id, connected_at, last_active_at, metadata, node_id)
    select id, session_id, connected_at, last_active_at, metadata, node_id from users`.execute(db);
  await db.schema.dropTable('users').execute();
  await db.schema.alterTable('users_rowid').renameTo('users').execute();
  await db.schema.createIndex('users_session_id_unique').on('users').column('session_id').unique().execute();
  await db.schema.createIndex('users_connected_at_idx').on('users').column('connected_at').execute();
  await db.schema.createIndex('users_node_id_idx').on('users').column('node_id').execute();
}
