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

schema('migrations create users with a unique session_id and a connected_at index', async () => {
  const { dir, file } = tempFile();
  const db = openSqlite({ path: file });
  try {
    assert.ok((await pendingMigrations(db)).length > 0);
    const { error } = await migrateToLatest(db);
    assert.is(error, undefined);
    assert.equal(await pendingMigrations(db), []);
    const indexes = await sql<{ name: string; unique: number }>`select name, "unique" from pragma_index_list('users')`.execute(db);
    const byName = new Map(indexes.rows.map((r) => [r.name, r.unique]));
    assert.is(byName.get('users_session_id_unique'), 1);
    assert.is(byName.get('users_connected_at_idx'), 0);
    const columns = await sql<{ name: string }>`select name from pragma_table_info('users')`.execute(db);
    for (const name of ['id', 'session_id', 'connected_at', 'last_active_at', 'metadata']) {
      assert.ok(columns.rows.some((c) => c.name === name), `column ${name}`);
    }
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
