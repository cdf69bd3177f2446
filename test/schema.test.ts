import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCodegen } from '../scripts/codegen.js';
import { openNativeSqlite, openSqlite } from '../src/database.js';
import { createMigrator, migrateToLatest, pendingMigrations, prepareSchema, SchemaError } from '../src/migrations.js';

const schema = suite('schema');

function tempFile(): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'roster-schema-'));
  return { dir, file: join(dir, 'schema.db') };
}

schema('SQLite opens with WAL, synchronous=NORMAL, a busy timeout and foreign keys', () => {
  const { dir, file } = tempFile();
  const db = openNativeSqlite(file);
  try {
    assert.is(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.is(db.pragma('synchronous', { simple: true }), 1);
    assert.ok((db.pragma('busy_timeout', { simple: true }) as number) > 0);
    assert.is(db.pragma('foreign_keys', { simple: true }), 1);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

schema('migrations create users keyed by session_id (WITHOUT ROWID) with a unique id, and no other index', async () => {
  const { dir, file } = tempFile();
  const db = openSqlite({ path: file });
  try {
    assert.ok((await pendingMigrations(db)).length > 0);
    const { error } = await migrateToLatest(db);
    assert.is(error, undefined);
    assert.equal(await pendingMigrations(db), []);
    const table = await sql<{ wr: number }>`select wr from pragma_table_list where name = 'users'`.execute(db);
    assert.is(table.rows[0]?.wr, 1, 'WITHOUT ROWID: the rows live in the session_id B-tree');
    const keys = await sql<{ name: string; pk: number }>`select name, pk from pragma_table_info('users') where pk > 0`.execute(db);
    assert.equal(keys.rows.map((r) => r.name), ['session_id']);
    const indexes = await sql<{ name: string; unique: number; origin: string }>`select name, "unique", origin from pragma_index_list('users')`.execute(db);
    // Every index is another page written per connect and per disconnect.
    assert.equal(indexes.rows.filter((r) => r.origin !== 'pk').map((r) => [r.name, r.unique]), [['users_id_unique', 1]]);
    const columns = await sql<{ name: string }>`select name from pragma_table_info('users')`.execute(db);
    for (const name of ['id', 'session_id', 'connected_at', 'last_active_at', 'metadata', 'node_id']) {
      assert.ok(columns.rows.some((c) => c.name === name), `column ${name}`);
    }
    // Duplicate ids and session ids are still refused.
    const row = { id: 'i1', session_id: 's1', connected_at: 't', last_active_at: 't', metadata: '{}', node_id: '' };
    await db.insertInto('users').values(row).execute();
    for (const clash of [{ ...row, session_id: 's2' }, { ...row, id: 'i2' }]) {
      try {
        await db.insertInto('users').values(clash).execute();
        assert.unreachable('duplicate accepted');
      } catch (error) {
        assert.match(String((error as Error).message), /UNIQUE/);
      }
    }
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

schema('the history index by user label holds labelled sessions only, and serves the label filter', async () => {
  const { dir, file } = tempFile();
  const db = openSqlite({ path: file });
  try {
    await migrateToLatest(db);
    const index = await sql<{ sql: string }>`select sql from sqlite_master where name = 'connection_history_user_idx'`.execute(db);
    assert.match(index.rows[0]!.sql, /where "?user_label"? is not null/i);
    const plan = await sql<{ detail: string }>`explain query plan select * from connection_history
      where user_label = ${'alice'} order by disconnected_at desc, id desc limit 10`.execute(db);
    assert.ok(plan.rows.some((r) => r.detail.includes('connection_history_user_idx')), JSON.stringify(plan.rows));
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

schema('rebuilding users keeps its rows, up and down', async () => {
  const { dir, file } = tempFile();
  const db = openSqlite({ path: file });
  try {
    const migrator = createMigrator(db);
    const names = (await migrator.getMigrations()).map((m) => m.name);
    const rebuild = names.indexOf('20261123130000_lean_write_path');
    assert.ok(rebuild > 0, 'the rebuild migration exists');
    assert.is((await migrator.migrateTo(names[rebuild - 1]!)).error, undefined);
    const row = { id: 'id-1', session_id: 'session-1', connected_at: '2026-11-23T10:00:00.000Z', last_active_at: '2026-11-23T10:00:01.000Z', metadata: '{"path":"/ws"}', node_id: 'n' };
    await sql`insert into users (id, session_id, connected_at, last_active_at, metadata, node_id)
      values (${row.id}, ${row.session_id}, ${row.connected_at}, ${row.last_active_at}, ${row.metadata}, ${row.node_id})`.execute(db);
    assert.is((await migrator.migrateToLatest()).error, undefined);
    assert.equal(await db.selectFrom('users').selectAll().execute(), [row]);
    assert.is((await migrator.migrateTo(names[rebuild - 1]!)).error, undefined);
    assert.equal((await sql`select * from users`.execute(db)).rows, [row]);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Everything that describes the schema, in a stable order. */
async function schemaOf(db: Kysely<any>): Promise<unknown[]> {
  return (await sql`select type, name, tbl_name, sql from sqlite_master order by type, name`.execute(db)).rows;
}

async function fillUsers(db: Kysely<any>, rows: number): Promise<void> {
  await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${rows})
    insert into users (id, session_id, connected_at, last_active_at, metadata, node_id)
    select 'id-' || i, 'session-' || i, '2026-11-23T10:00:00.000Z', '2026-11-23T10:00:01.000Z',
      '{"remoteAddress":"203.0.113.7","userAgent":"Mozilla/5.0 (a user agent long enough to fill pages)"}', 'n' from n`.execute(db);
}

/**
 * Fill `users` and cap the file at its size plus a few pages, on the
 * migrations' own connection: the next rebuild of `users` gets through its
 * first steps and fails with SQLITE_FULL while copying the rows.
 */
async function fillAndCap(db: Kysely<any>): Promise<void> {
  await fillUsers(db, 3000);
  const { rows: pages } = await sql<{ page_count: number }>`pragma page_count`.execute(db);
  await sql.raw(`pragma max_page_count = ${pages[0]!.page_count + 8}`).execute(db);
}

async function uncap(db: Kysely<any>): Promise<void> {
  await sql`pragma max_page_count = 1073741823`.execute(db);
}

schema('a migration that fails halfway on SQLite leaves the file as it was, and a rerun succeeds', async () => {
  const { dir, file } = tempFile();
  const db = openSqlite({ path: file });
  try {
    const migrator = createMigrator(db);
    assert.is((await migrator.migrateTo('20261123120000_create_connection_history')).error, undefined);
    await fillAndCap(db);
    const before = await schemaOf(db);
    const users = (await sql`select * from users order by session_id`.execute(db)).rows;

    const failed = await migrator.migrateToLatest();
    assert.match(String((failed.error as { code?: string })?.code), /SQLITE_FULL/, String(failed.error));
    assert.equal(failed.results?.map((r) => [r.migrationName, r.status]), [['20261123130000_lean_write_path', 'Error']]);
    // Nothing of the rebuild's first steps (index swap, users_lean) is left.
    assert.equal(await schemaOf(db), before);
    assert.equal(await pendingMigrations(db), ['20261123130000_lean_write_path']);
    assert.equal((await sql`select * from users order by session_id`.execute(db)).rows, users);

    await uncap(db);
    assert.is((await migrator.migrateToLatest()).error, undefined);
    assert.equal(await pendingMigrations(db), []);
    assert.is((await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n, 3000);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

schema('a down migration that fails halfway on SQLite leaves the file as it was, and a rerun succeeds', async () => {
  const { dir, file } = tempFile();
  const db = openSqlite({ path: file });
  try {
    const migrator = createMigrator(db);
    assert.is((await migrator.migrateToLatest()).error, undefined);
    await fillAndCap(db);
    const before = await schemaOf(db);
    const users = (await sql`select * from users order by session_id`.execute(db)).rows;

    const failed = await migrator.migrateDown();
    assert.match(String((failed.error as { code?: string })?.code), /SQLITE_FULL/, String(failed.error));
    assert.equal(failed.results?.map((r) => [r.migrationName, r.status]), [['20261123130000_lean_write_path', 'Error']]);
    assert.equal(await schemaOf(db), before);
    assert.equal(await pendingMigrations(db), []);
    assert.equal((await sql`select * from users order by session_id`.execute(db)).rows, users);

    await uncap(db);
    assert.is((await migrator.migrateDown()).error, undefined);
    assert.equal(await pendingMigrations(db), ['20261123130000_lean_write_path']);
    assert.is((await sql<{ n: number }>`select count(*) as n from users`.execute(db)).rows[0]!.n, 3000);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

schema('a migration that SQLite itself rolls back reports its own error, and leaves the file as it was', async () => {
  const { dir, file } = tempFile();
  const db = openSqlite({ path: file });
  try {
    const migrator = createMigrator(db);
    assert.is((await migrator.migrateTo('20261123120000_create_connection_history')).error, undefined);
    await fillUsers(db, 100);
    // SQLite ends the transaction by itself on a really full disk
    // (SQLITE_FULL while writing the WAL) or an I/O error; RAISE(ROLLBACK)
    // does the same on demand, here once the rebuild is done and the
    // Migrator records it.
    await sql`create trigger fault before insert on kysely_migration begin select raise(rollback, 'injected fault'); end`.execute(db);
    const before = await schemaOf(db);
    const users = (await sql`select * from users order by session_id`.execute(db)).rows;

    const failed = await migrator.migrateToLatest();
    assert.match(String((failed.error as Error)?.message), /injected fault/, String(failed.error));
    assert.equal(failed.results?.map((r) => [r.migrationName, r.status]), [['20261123130000_lean_write_path', 'Error']]);
    assert.equal(await schemaOf(db), before);
    assert.equal((await sql`select * from users order by session_id`.execute(db)).rows, users);

    await sql`drop trigger fault`.execute(db);
    assert.is((await migrator.migrateToLatest()).error, undefined);
    assert.equal(await pendingMigrations(db), []);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

schema('every migration goes down and up again', async () => {
  const { dir, file } = tempFile();
  const db = openSqlite({ path: file });
  try {
    const migrator = createMigrator(db);
    await migrator.migrateToLatest();
    const count = (await migrator.getMigrations()).length;
    for (let i = 0; i < count; i++) assert.is((await migrator.migrateDown()).error, undefined);
    assert.is((await pendingMigrations(db)).length, count);
    assert.is((await migrator.migrateToLatest()).error, undefined);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

schema('verify mode refuses a database with pending migrations and names them', async () => {
  const { dir, file } = tempFile();
  const db = openSqlite({ path: file });
  try {
    const pending = await pendingMigrations(db);
    try {
      await prepareSchema(db, 'verify');
      assert.unreachable('verify should throw');
    } catch (error) {
      assert.instance(error, SchemaError);
      for (const name of pending) assert.ok((error as Error).message.includes(name), `names ${name}`);
    }
    await prepareSchema(db, 'migrate');
    assert.equal(await prepareSchema(db, 'verify'), []);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

schema('db/types.ts matches the migrations (kysely-codegen --verify)', async () => {
  const result = await runCodegen({ verify: true });
  assert.is(result.status, 0, result.output);
});

schema('the verify check fails on stale generated types', async () => {
  const { dir } = tempFile();
  const root = new URL('../..', import.meta.url);
  const stale = join(dir, 'types.ts');
  try {
    copyFileSync(new URL('db/types.ts', root), stale);
    writeFileSync(stale, readFileSync(stale, 'utf8').replace('last_active_at: string;', ''));
    const result = await runCodegen({ verify: true, outFile: stale });
    assert.is.not(result.status, 0, 'a types file missing a column must fail verification');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

schema.run();
