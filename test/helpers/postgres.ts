/**
 * A throwaway PostgreSQL server for one test file: initdb into a temp dir
 * owned by the `postgres` user, start it on a free loopback port with trust
 * auth, and hand back a connection URL. `stop()` shuts it down and removes
 * the directory. Nothing is skipped: CI installs the server binaries.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Test } from 'uvu';

export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  /** The postmaster's process id (every backend is its child): for bench/lib/process-cpu.ts. */
  pid: number;
  /** A fresh database on this server; returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Run one SQL statement as the superuser on the default database. */
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
  stop(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(root, versions[0]!, 'bin');
  }
  throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (run .ci/run, which installs them)');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** Run a server binary as `postgres` when we are root (initdb refuses root). */
function asPostgres(bin: string, args: string[]): void {
  const isRoot = process.getuid?.() === 0;
  const [cmd, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const result = spawnSync(cmd, argv, { encoding: 'utf8', cwd: '/' });
  if (result.status !== 0) throw new Error(`${bin} failed (${result.status}): ${result.stderr}${result.stdout}`);
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'roster-pg-'));
  chmodSync(dir, 0o700);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const port = await freePort();
  try {
    asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-sync']);
    asPostgres(join(bin, 'pg_ctl'), [
      '-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '30',
      '-o', `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200`,
      'start',
    ]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  // pg_ctl -w returned, so postmaster.pid is written; its first line is the pid.
  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    try {
      asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  // A test file that dies (failed assertion outside try/finally, uncaught
  // error) must not leave a server running: stop it on the way out.
  process.once('exit', stopSync);
  const query = async (text: string, values?: unknown[]) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await client.query(text, values);
    } finally {
      await client.end();
    }
  };
  return {
    url,
    port,
    pid,
    query,
    async createDatabase(name) {
      await query(`create database "${name.replace(/"/g, '')}"`);
      return `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(name)}`;
    },
    async stop() {
      process.off('exit', stopSync);
      stopSync();
    },
  };
}

/**
 * One server for a suite, started in its `before` hook and stopped in its
 * `after`. `freshDatabase()` makes a new database (`<prefix>_<n>`) for each
 * test, so tests never see each other's rows.
 */
export function postgresForSuite(test: Test, prefix: string): { readonly server: TestPostgres; freshDatabase(): Promise<string> } {
  let server: TestPostgres | undefined;
  let count = 0;
  test.before(async () => {
    server = await startPostgres();
  });
  test.after(async () => {
    await server?.stop();
  });
  const started = (): TestPostgres => {
    if (server === undefined) throw new Error('PostgreSQL is started by the suite\'s before hook');
    return server;
  };
  return {
    get server() {
      return started();
    },
    freshDatabase: () => started().createDatabase(`${prefix}_${++count}`),
  };
}

/** A session holding an ACCESS EXCLUSIVE lock on `users`: every read and write of it by others waits. */
export interface UsersLock {
  /** Rows in `users` as the lock holder sees them. */
  count(): Promise<number>;
  /** Roll back, which lets the waiting statements through. Safe to call twice. */
  release(): Promise<void>;
}

export async function lockUsers(url: string): Promise<UsersLock> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('begin');
  await client.query('lock table users in access exclusive mode');
  let released = false;
  return {
    async count() {
      const result = await client.query<{ n: number }>('select count(*)::int as n from users');
      return result.rows[0]!.n;
    },
    async release() {
      if (released) return;
      released = true;
      await client.query('rollback');
      await client.end();
    },
  };
}
