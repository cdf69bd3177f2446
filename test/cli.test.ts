import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openSqlite } from '../src/database.js';
import { countActiveUsers } from '../src/repository.js';
import { CLI, exitCode, runCli, startCli } from './helpers/cli.js';
import { TOKEN, tempDir } from './helpers/tracker.js';
import { connectAdmin, connectClient, upgradeStatus, waitFor } from './helpers/ws-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function rowCount(file: string): Promise<number> {
  const db = openSqlite({ path: file });
  try {
    return await countActiveUsers(db);
  } finally {
    await db.destroy();
  }
}

/** `npm run db:migrate -- <command>` on the SQLite file `file`, run to its end. */
function runMigrate(file: string, command: string) {
  return spawnSync(process.execPath, [join(ROOT, 'dist/src/migrate-cli.js'), command], { env: { ...process.env, DATABASE_PATH: file }, encoding: 'utf8' });
}

const cli = suite('server process');

cli('package.json bin has exactly one entry: the CLI', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const entries = Object.values(pkg.bin);
  assert.is(entries.length, 1);
  assert.is(join(ROOT, entries[0] as string), CLI);
  assert.is(pkg.engines.node, '>=20');
});

cli('a generated admin token is printed once with the dashboard URL, and works; SIGINT stops', async () => {
  const dir = tempDir();
  // A nested folder that does not exist yet: the server creates it.
  const server = await startCli({ DATABASE_PATH: join(dir, 'nested', 'deeper', 'r.db') });
  try {
    await waitFor(() => server.output().includes('Dashboard:'), 5000, 'the printed dashboard URL');
    const match = /Dashboard: http:\/\/\S+\/admin#token=(\S+)/.exec(server.output());
    assert.ok(match, 'dashboard URL printed');
    const token = match![1]!;
    assert.is(server.output().split(token).length - 1, 2, 'token appears only in the two printed lines');
    assert.not.ok(server.logs.some((l) => JSON.stringify(l).includes(token)), 'never in a log line');
    const res = await fetch(`http://127.0.0.1:${server.port}/active-users`, { headers: { authorization: `Bearer ${token}` } });
    assert.is(res.status, 200);
    server.child.kill('SIGINT');
    assert.is(await server.exited, 0, 'SIGINT shuts down cleanly too');
    assert.ok(server.logs.some((l) => l.msg === 'shutdown: complete'));
  } finally {
    server.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

cli('SIGTERM: clients get 1001, touches are written, rows deleted, exit 0', async () => {
  const dir = tempDir();
  const file = join(dir, 'r.db');
  const server = await startCli({ DATABASE_PATH: file, ADMIN_TOKEN: TOKEN, TOUCH_FLUSH_MS: '60000' });
  try {
    const url = `ws://127.0.0.1:${server.port}`;
    const clients = await Promise.all([1, 2, 3].map(() => connectClient(`${url}/ws`)));
    const admin = await connectAdmin(`${url}/admin/stream`, TOKEN);
    clients[0]!.send({ type: 'ping' });
    await clients[0]!.next((m) => m.type === 'pong');
    assert.is(await rowCount(file), 3);
    server.child.kill('SIGTERM');
    const codes = await Promise.all([...clients, admin].map((c) => c.closed.then((x) => x.code)));
    assert.equal(codes, [1001, 1001, 1001, 1001]);
    assert.is(await server.exited, 0);
    const steps = server.logs.map((l) => l.msg).filter((m) => String(m).startsWith('shutdown'));
    assert.equal(steps, [
      'shutdown requested',
      'shutdown: stop accepting',
      'shutdown: closing sockets with 1001',
      'shutdown: writing pending touches',
      "shutdown: deleting this run's rows",
      'shutdown: rows deleted',
      'shutdown: closing database',
      'shutdown: complete',
    ]);
    assert.is(await rowCount(file), 0);
  } finally {
    server.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

cli('after kill -9 the next start moves the stale rows to history before accepting', async () => {
  const dir = tempDir();
  const file = join(dir, 'r.db');
  const first = await startCli({ DATABASE_PATH: file, ADMIN_TOKEN: TOKEN });
  const clients = await Promise.all([1, 2, 3, 4].map(() => connectClient(`ws://127.0.0.1:${first.port}/ws`)));
  first.child.kill('SIGKILL');
  assert.is(await first.exited, 'SIGKILL');
  await Promise.all(clients.map((c) => c.closed));
  assert.is(await rowCount(file), 4, 'the crash left ghost rows behind');

  const second = await startCli({ DATABASE_PATH: file, ADMIN_TOKEN: TOKEN });
  try {
    const stale = second.logs.find((l) => l.msg === 'stale rows removed');
    assert.is(stale.count, 4);
    const listeningAt = second.logs.findIndex((l) => l.msg === 'listening');
    assert.ok(second.logs.indexOf(stale) < listeningAt, 'cleanup happens before accepting');
    const admin = await connectAdmin(`ws://127.0.0.1:${second.port}/admin/stream`, TOKEN);
    assert.equal(admin.snapshot, []);
    await admin.close();
    // The lost connections are not forgotten: history records them as ended abnormally.
    const res = await fetch(`http://127.0.0.1:${second.port}/history`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const lost = ((await res.json()) as any).sessions.filter((s: any) => s.closeReason === 'tracker lost');
    assert.equal(lost.map((s: any) => s.sessionId).sort(), clients.map((c) => c.sessionId).sort());
    assert.ok(lost.every((s: any) => s.closeCode === 1006));
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

cli('SCHEMA_MODE=verify refuses to start with pending migrations, naming them', async () => {
  const dir = tempDir();
  try {
    const server = runCli({ DATABASE_PATH: join(dir, 'fresh.db'), SCHEMA_MODE: 'verify', ADMIN_TOKEN: TOKEN });
    assert.is(await server.exited, 1);
    assert.match(server.output(), /pending migrations: 20261123100000_create_users/);
    assert.not.ok(server.logs.some((l) => l.msg === 'listening'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

cli('a second server on a database file in use exits 1 in one line and touches nothing', async () => {
  const dir = tempDir();
  const file = join(dir, 'r.db');
  const first = await startCli({ DATABASE_PATH: file, ADMIN_TOKEN: TOKEN });
  try {
    const client = await connectClient(`ws://127.0.0.1:${first.port}/ws`);
    // Its start would have archived and deleted the first server's live row.
    const second = runCli({ PORT: '0', DATABASE_PATH: file, ADMIN_TOKEN: TOKEN });
    assert.is(await exitCode(second), 1);
    assert.match(second.output(), /^roster: database .*r\.db is in use by another Roster process/m);
    assert.not.match(second.output(), /\n\s+at /, 'no stack trace on stderr');
    assert.is(await rowCount(file), 1);
    const migrate = runMigrate(file, 'down');
    assert.is(migrate.status, 1, 'nor may the schema change under it');
    assert.match(migrate.stderr, /in use by another Roster process/);
    const res = await fetch(`http://127.0.0.1:${first.port}/history`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(((await res.json()) as any).sessions, [], 'its client not recorded as lost');
    await client.close();
  } finally {
    first.child.kill('SIGTERM');
    await first.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

cli('a port in use or a folder as DATABASE_PATH: exit 1 with one line naming it', async () => {
  const dir = tempDir();
  const first = await startCli({ DATABASE_PATH: join(dir, 'a.db'), ADMIN_TOKEN: TOKEN });
  try {
    const second = runCli({ PORT: String(first.port), DATABASE_PATH: join(dir, 'b.db'), ADMIN_TOKEN: TOKEN });
    assert.is(await exitCode(second), 1);
    assert.match(second.output(), new RegExp(`^roster: cannot listen on 127\\.0\\.0\\.1:${first.port}: the port is in use`, 'm'));
    assert.not.match(second.output(), /\n\s+at /, 'no stack trace on stderr');
    const folder = runCli({ PORT: '0', DATABASE_PATH: dir, ADMIN_TOKEN: TOKEN });
    assert.is(await exitCode(folder), 1);
    assert.match(folder.output(), new RegExp(`^roster: cannot open DATABASE_PATH ${dir}: `, 'm'));
    assert.not.match(folder.output(), /\n\s+at /);
  } finally {
    first.child.kill('SIGTERM');
    await first.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

cli('a database migrated by a newer version: the server refuses in both modes, status names it', async () => {
  const dir = tempDir();
  const file = join(dir, 'r.db');
  const migrate = (command: string) => runMigrate(file, command);
  try {
    assert.is(migrate('latest').status, 0);
    const db = openSqlite({ path: file });
    await sql`insert into kysely_migration (name, timestamp) values ('29990101000000_from_the_future', '2999-01-01T00:00:00.000Z')`.execute(db);
    await db.destroy();
    for (const mode of ['verify', 'migrate']) {
      const server = runCli({ PORT: '0', DATABASE_PATH: file, SCHEMA_MODE: mode, ADMIN_TOKEN: TOKEN });
      assert.is(await exitCode(server), 1, mode);
      assert.match(server.output(), /^roster: the database has migrations this version does not know: 29990101000000_from_the_future/m);
      assert.not.ok(server.logs.some((l) => l.msg === 'listening'));
    }
    const status = migrate('status');
    assert.is(status.status, 1);
    assert.match(status.stdout, /applied, unknown here\s+29990101000000_from_the_future/);
    assert.match(status.stdout, /1 unknown to this version/);
    for (const command of ['latest', 'up', 'down']) {
      const refused = migrate(command);
      assert.is(refused.status, 1, command);
      assert.match(refused.stderr, /^db:migrate: the database has migrations this version does not know: 29990101000000_from_the_future/, command);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

cli('db:migrate latest, status, down and up print what they did', () => {
  const dir = tempDir();
  const run = (command: string) => runMigrate(join(dir, 'm.db'), command);
  try {
    const status0 = run('status');
    assert.is(status0.status, 0);
    assert.match(status0.stdout, /pending\s+20261123100000_create_users/);
    assert.match(status0.stdout, /^database: .*m\.db \(no file yet/);
    assert.match(status0.stdout, /^0 applied, 4 pending$/m);
    assert.not.ok(existsSync(join(dir, 'm.db')), 'status created the file');
    const latest = run('latest');
    assert.is(latest.status, 0);
    assert.match(latest.stdout, /applied: 20261123100000_create_users/);
    assert.match(run('latest').stdout, /nothing to do/);
    const status1 = run('status');
    assert.match(status1.stdout, /0 pending/);
    const down = run('down');
    assert.is(down.status, 0);
    assert.match(down.stdout, /reverted: /);
    const up = run('up');
    assert.is(up.status, 0);
    assert.match(up.stdout, /applied: /);
    assert.is(run('sideways').status, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

cli('db:migrate down on a missing file creates nothing; a path it cannot open is one line, not a stack', () => {
  const dir = tempDir();
  try {
    const down = runMigrate(join(dir, 'typo.db'), 'down');
    assert.is(down.status, 1);
    assert.match(down.stderr, /^db:migrate: no database at .*typo\.db: nothing to revert\n$/);
    assert.not.ok(existsSync(join(dir, 'typo.db')), 'down created the file');
    for (const command of ['status', 'latest', 'down']) {
      const folder = runMigrate(dir, command); // a folder, not a file
      assert.is(folder.status, 1, command);
      assert.match(folder.stderr, /^db:migrate: cannot open .*: /, command);
      assert.not.match(folder.stderr, /\n\s+at /, `${command}: a stack trace`);
    }
    writeFileSync(join(dir, 'junk.db'), 'not a database, but long enough to be read as one '.repeat(100));
    const junk = runMigrate(join(dir, 'junk.db'), 'status');
    assert.is(junk.status, 1);
    assert.match(junk.stderr, /^db:migrate: .*not a database/);
    assert.not.match(junk.stderr, /\n\s+at /, 'a stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

cli('an unknown upgrade path on the CLI server is refused with 404', async () => {
  const dir = tempDir();
  const server = await startCli({ DATABASE_PATH: join(dir, 'r.db'), ADMIN_TOKEN: TOKEN });
  try {
    assert.is(await upgradeStatus(`ws://127.0.0.1:${server.port}/elsewhere`), 404);
    assert.is((await fetch(`http://127.0.0.1:${server.port}/elsewhere`)).status, 404);
    // A peer that resets after reading the 404 used to be an uncaught
    // ECONNRESET, which ended the server process.
    for (let i = 0; i < 3; i++) {
      const peer = await unknownPathUpgrade(server.port);
      assert.match(peer.response, /^HTTP\/1\.1 404 /);
      peer.socket.resetAndDestroy();
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.is(server.child.exitCode, null);
    assert.is((await fetch(`http://127.0.0.1:${server.port}/health`)).status, 200);
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

/** An upgrade to a path nobody serves, over raw TCP: the response as read, and the socket left open. */
async function unknownPathUpgrade(port: number): Promise<{ socket: Socket; response: string }> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write('GET /elsewhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  const response = await new Promise<string>((resolve, reject) => {
    socket.once('data', (d: Buffer) => resolve(d.toString()));
    socket.once('close', () => reject(new Error('closed without a response (is the server still running?)')));
  });
  return { socket, response };
}

cli.run();
