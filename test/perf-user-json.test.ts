/**
 * The snapshot and GET /active-users serialize rows by splicing the stored
 * metadata text (src/user-json.ts). The result must be exactly what
 * JSON.stringify of the parsed users gives. No timing here.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openSqlite, type Database } from '../src/database.js';
import { migrateToLatest } from '../src/migrations.js';
import { createUsers, listActiveUsers, listActiveUsersJson } from '../src/repository.js';
import type { User } from '../src/types.js';
import { usersJson } from '../src/user-json.js';
import { startTracker, tempDir, TOKEN } from './helpers/tracker.js';
import { connect, connectClient } from './helpers/ws-client.js';

const json = suite('user JSON splicing');

let dir = '';
let db: Database;

json.before.each(async () => {
  dir = tempDir('roster-json-');
  db = openSqlite({ path: join(dir, 'j.db') });
  const { error } = await migrateToLatest(db);
  if (error) throw error;
});

json.after.each(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const awkward = ['plain', 'quote " backslash \\ slash /', 'tab\tnewline\n', 'unicode é 漢字 😀', 'line sep \u2028 para \u2029', '</script><b>', '\u0001control'];

function users(): User[] {
  return awkward.map((text, i) => {
    const at = new Date(Date.UTC(2026, 10, 23, 10, 0, i)).toISOString();
    return {
      id: `00000000-0000-4000-8000-00000000000${i}`,
      sessionId: `session-${i}-${text}`,
      connectedAt: at,
      lastActiveAt: at,
      metadata: { remoteAddress: '127.0.0.1', userAgent: text, origin: text, path: '/ws', query: { [text]: text }, ...(i % 2 ? { user: text } : {}) },
    };
  });
}

json('usersJson of the stored rows equals JSON.stringify of the parsed users', async () => {
  await createUsers(db, users());
  const expected = JSON.stringify(await listActiveUsers(db));
  assert.is(usersJson(await listActiveUsersJson(db)), expected);
  assert.is(usersJson([]), '[]');
});

json('live message counts are added only where given, as a last member', async () => {
  await createUsers(db, users());
  const counts = new Map([[users()[1]!.sessionId, 7]]);
  const parsed = JSON.parse(usersJson(await listActiveUsersJson(db), (id) => counts.get(id)));
  const expected = (await listActiveUsers(db)).map((u) => (counts.has(u.sessionId) ? { ...u, messages: counts.get(u.sessionId) } : u));
  assert.equal(parsed, expected);
  assert.equal(Object.keys(parsed.find((u: { messages?: number }) => u.messages !== undefined)).at(-1), 'messages');
});

json('limit and offset select the same rows as listActiveUsers', async () => {
  await createUsers(db, users());
  const expected = JSON.stringify(await listActiveUsers(db, { limit: 3, offset: 2 }));
  assert.is(usersJson(await listActiveUsersJson(db, { limit: 3, offset: 2 })), expected);
});

json('a tracker\'s snapshot and GET /active-users carry the stored users', async () => {
  // No touch flush during the test: the rows stay as they were read.
  const t = await startTracker({ touchFlushMs: 60_000 });
  try {
    const a = await connectClient(t.wsUrl('/ws?user=' + encodeURIComponent('ü "x" </script>')));
    const b = await connectClient(t.wsUrl('/ws'));
    b.send({ type: 'ping' });
    await b.next((m) => m.type === 'pong');
    const stored = await listActiveUsers(t.tracker.db);
    const admin = connect(t.wsUrl('/admin/stream'), { headers: { authorization: `Bearer ${TOKEN}` } });
    const snapshot = await admin.next((m) => m.type === 'snapshot');
    assert.equal(
      snapshot.users.map(({ messages, ...user }: { messages: number }) => user),
      stored,
    );
    assert.is(snapshot.users.find((u: User) => u.sessionId === b.sessionId).messages, 1);
    assert.is(snapshot.users.find((u: User) => u.sessionId === a.sessionId).metadata.user, 'ü "x" </script>');
    const res = await fetch(t.httpUrl('/active-users'), { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.is(res.status, 200);
    assert.is(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(await res.json(), { count: 2, users: stored, next: null });
    await Promise.all([a.close(), b.close(), admin.close()]);
  } finally {
    await t.close();
  }
});

json.run();
