import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
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
