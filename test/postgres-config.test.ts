/**
 * PostgreSQL and node settings: parsing and validation, the CLI's exit
 * code 2 on a bad DATABASE_URL, and `db:migrate` against DATABASE_URL.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:http';
import { sql } from 'kysely';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../src/config.js';
import { NodeDefaults } from '../src/constants.js';
import { createTracker } from '../src/tracker.js';
import { runCli } from './helpers/cli.js';
import { startNode } from './helpers/multi-node.js';
import { postgresForSuite } from './helpers/postgres.js';
import { TOKEN } from './helpers/tracker.js';

const settings = suite('PostgreSQL and node settings');
const MIGRATE_CLI = fileURLToPath(new URL('../src/migrate-cli.js', import.meta.url));

const postgres = postgresForSuite(settings, 'config');

function configError(env: Record<string, string>, argv: string[] = []): string {
  try {
    loadConfig(env, argv);
  } catch (error) {
    assert.instance(error, ConfigError);
    return (error as Error).message;
  }
  assert.unreachable('accepted');
  return '';
}

settings('defaults, env and flags', () => {
  const defaults = loadConfig({}, []);
  assert.is(defaults.databaseUrl, undefined, 'SQLite stays the default');
  assert.is(defaults.nodeTtlMs, 30_000);
  assert.is(defaults.nodeHeartbeatMs, NodeDefaults.nodeHeartbeatMs);
  assert.is(defaults.poolSize, NodeDefaults.poolSize);
  const c = loadConfig(
    { DATABASE_URL: 'postgres://u:secret@db.example:5432/roster', NODE_ID: 'eu-1', POOL_SIZE: '20', DB_STATEMENT_TIMEOUT_MS: '0' },
    ['--node-ttl-ms', '9000', '--node-heartbeat-ms=1000', '--db-connect-timeout-ms', '2000', '--db-idle-timeout-ms', '3000'],
  );
  assert.equal(
    [c.databaseUrl, c.nodeId, c.poolSize, c.dbStatementTimeoutMs, c.nodeTtlMs, c.nodeHeartbeatMs, c.dbConnectTimeoutMs, c.dbIdleTimeoutMs],
    ['postgres://u:secret@db.example:5432/roster', 'eu-1', 20, 0, 9000, 1000, 2000, 3000],
  );
});

settings('bad values are refused with a message naming the setting, never the password', () => {
  assert.match(configError({ DATABASE_URL: 'not a url' }), /DATABASE_URL is not a valid URL/);
  assert.match(configError({ DATABASE_URL: 'mysql://u:pw@h/db' }), /must start with postgres:\/\//);
  assert.match(configError({ DATABASE_URL: 'postgres://u:pw@host' }), /names no database/);
  const withPassword = configError({}, ['--database-url', 'postgres://u:hunter2@h/db']);
  assert.match(withPassword, /must not contain a password/);
  assert.not.match(withPassword, /hunter2/);
  assert.match(configError({ NODE_ID: 'has space' }), /NODE_ID must be 1-64/);
  assert.match(configError({ NODE_TTL_MS: '1000', NODE_HEARTBEAT_MS: '1000' }), /NODE_TTL_MS \(1000\) must be greater than NODE_HEARTBEAT_MS/);
  assert.match(configError({ POOL_SIZE: '0' }), /POOL_SIZE must be between 1 and 1000/);
});

settings('library options are validated at construction', () => {
  const server = createServer();
  assert.throws(() => createTracker({ server, adminToken: TOKEN, databaseUrl: 'http://x/db' }), /postgres:\/\//);
  assert.throws(() => createTracker({ server, adminToken: TOKEN, databaseUrl: 'postgres://h/db', databasePath: 'x.db' }), /exactly one/);
  assert.throws(() => createTracker({ server, adminToken: TOKEN, databasePath: 'x.db', nodeId: 'a b' }), /nodeId/);
  assert.throws(() => createTracker({ server, adminToken: TOKEN, databasePath: 'x.db', nodeHeartbeatMs: 500, nodeTtlMs: 400 }), /nodeTtlMs/);
  assert.throws(() => createTracker({ server, adminToken: TOKEN, databasePath: 'x.db', poolSize: 0 }), RangeError);
});

settings('the CLI exits 2 on a malformed DATABASE_URL and on one it cannot use', async () => {
  const malformed = runCli({ DATABASE_URL: 'postgres//oops', ADMIN_TOKEN: TOKEN });
  assert.is(await malformed.exited, 2);
  assert.match(malformed.output(), /DATABASE_URL/);
  // Nothing listens on port 1: the connection is refused at start.
  const unreachable = runCli({ DATABASE_URL: 'postgres://u:s3cret@127.0.0.1:1/roster', ADMIN_TOKEN: TOKEN, DB_CONNECT_TIMEOUT_MS: '2000' });
  assert.is(await unreachable.exited, 2);
  assert.match(unreachable.output(), /cannot use DATABASE_URL postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/roster/);
  assert.not.match(unreachable.output(), /s3cret/);
});

settings('a DATABASE_URL with its own `options` keeps them, and the tracker\'s session settings too', async () => {
  const url = new URL(await postgres.freshDatabase());
  url.searchParams.set('options', '-c search_path=public -c lock_timeout=4321 -c statement_timeout=0');
  const node = await startNode(url.toString(), 'url-options', { dbStatementTimeoutMs: 1500 });
  try {
    const { rows } = await sql<Record<string, string>>`select current_setting('search_path') as search_path,
      current_setting('lock_timeout') as lock_timeout, current_setting('statement_timeout') as statement_timeout,
      current_setting('TimeZone') as time_zone, current_setting('idle_in_transaction_session_timeout') as idle`.execute(node.tracker.db);
    assert.equal(rows[0], { search_path: 'public', lock_timeout: '4321ms', statement_timeout: '1500ms', time_zone: 'UTC', idle: '3s' });
    assert.is(node.tracker.degradedReason, undefined);
  } finally {
    await node.close();
  }
});

settings('db:migrate honours DATABASE_URL', async () => {
  const url = await postgres.freshDatabase();
  const run = (cmd: string) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [MIGRATE_CLI, cmd], { env: { PATH: process.env.PATH ?? '', DATABASE_URL: url } });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('exit', (code) => resolve({ code, out }));
    });
  const latest = await run('latest');
  assert.is(latest.code, 0, latest.out);
  assert.match(latest.out, /applied: 20261123110000_add_nodes/);
  const status = await run('status');
  assert.match(status.out, /0 pending/);
  const tables = await postgres.server.query(`select count(*)::int as n from pg_tables where tablename in ('users', 'nodes')`);
  assert.is(tables.rows[0].n, 0, 'created in the test database, not the default one');
  const columns = new pg.Client({ connectionString: url });
  await columns.connect();
  try {
    const { rows } = await columns.query(
      `select column_name, data_type from information_schema.columns where table_name = 'users' and column_name in ('id', 'connected_at', 'metadata', 'node_id') order by column_name`,
    );
    assert.equal(
      rows.map((r) => `${r.column_name}:${r.data_type}`),
      ['connected_at:timestamp with time zone', 'id:uuid', 'metadata:jsonb', 'node_id:text'],
      'dialect-appropriate column types',
    );
  } finally {
    await columns.end();
  }
});

settings.run();
