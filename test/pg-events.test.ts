/**
 * The pure parts of the cross-node event path: splitting a change into
 * NOTIFY payloads under the size limit, and snapshot visibility by xid.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MultiNode } from '../src/constants.js';
import { encodeChange, PgSnapshot } from '../src/pg-events.js';
import type { User } from '../src/types.js';
import { metadataJson } from '../src/user-json.js';

const events = suite('pg-events');

function user(n: number, pad = ''): User {
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    sessionId: `session-${n}`,
    connectedAt: '2026-11-23T10:00:00.000Z',
    lastActiveAt: '2026-11-23T10:00:00.000Z',
    metadata: { remoteAddress: '127.0.0.1', userAgent: pad, origin: '', path: '/ws', query: {} },
  };
}

/** Decode chunks back into one change, in order. */
function decode(chunks: string[]) {
  const out = { connected: [] as User[], refs: [] as string[], activity: [] as unknown[], disconnected: [] as string[] };
  for (const chunk of chunks) {
    const c = JSON.parse(chunk);
    out.connected.push(...(c.c ?? []));
    out.refs.push(...(c.r ?? []));
    out.activity.push(...(c.a ?? []));
    out.disconnected.push(...(c.d ?? []));
  }
  return out;
}

events('a small change is one chunk; an empty one is none', () => {
  assert.equal(encodeChange({ connected: [], activity: [], disconnected: [] }, 'n'), []);
  const chunks = encodeChange({ connected: [user(1)], activity: [], disconnected: ['session-9'] }, 'n');
  assert.is(chunks.length, 1);
  assert.equal(JSON.parse(chunks[0]!), { n: 'n', c: [user(1)], d: ['session-9'] });
});

events('a connected user is the text JSON.stringify gives, with the kept metadata text spliced in', () => {
  const u = { ...user(1), metadata: { ...user(1).metadata, user: 'ada "the" \u2028 admin' } };
  assert.is(encodeChange({ connected: [u], activity: [], disconnected: [] }, 'n')[0], `{"n":"n","c":[${JSON.stringify(u)}]}`);
  // The insert made the text before: a later change to the object (which
  // nothing does) shows that the text is reused, not made again.
  const kept = user(2);
  const text = metadataJson(kept);
  kept.metadata.userAgent = 'changed';
  const [chunk] = encodeChange({ connected: [kept], activity: [], disconnected: [] }, 'n');
  assert.ok(chunk!.includes(text), chunk);
  assert.not.ok(chunk!.includes('changed'));
});

events('a large change is split into chunks under the byte limit, nothing lost, order kept', () => {
  // Multi-byte characters: the limit is in bytes, not characters.
  const connected = Array.from({ length: 300 }, (_, i) => user(i, 'ü€'.repeat(100)));
  const activity = Array.from({ length: 2000 }, (_, i) => ({ sessionId: `session-${i}`, lastActiveAt: '2026-11-23T10:00:01.000Z' }));
  const disconnected = Array.from({ length: 2000 }, (_, i) => `gone-${i}`);
  const chunks = encodeChange({ connected, activity, disconnected }, 'node-1');
  assert.ok(chunks.length > 10);
  for (const chunk of chunks) {
    assert.ok(Buffer.byteLength(chunk) <= MultiNode.maxPayloadBytes, `chunk of ${Buffer.byteLength(chunk)} bytes`);
    assert.is(JSON.parse(chunk).n, 'node-1');
  }
  // With the `<xid>:<index>:` prefix, a payload stays below PostgreSQL's 8000 bytes.
  assert.ok(MultiNode.maxPayloadBytes + '18446744073709551615:99999:'.length < 8000);
  const back = decode(chunks);
  assert.equal(back.connected, connected);
  assert.equal(back.activity, activity);
  assert.equal(back.disconnected, disconnected);
});

events('a single user too large for a payload travels by reference', () => {
  const chunks = encodeChange({ connected: [user(1), user(2, 'x'.repeat(500))], activity: [], disconnected: [] }, 'n', 400);
  for (const chunk of chunks) assert.ok(Buffer.byteLength(chunk) <= 400);
  const back = decode(chunks);
  assert.equal(back.connected, [user(1)]);
  assert.equal(back.refs, ['session-2']);
});

events('snapshot visibility follows xmin, xmax and the in-progress list', () => {
  const snap = new PgSnapshot('100:110:103,107');
  assert.ok(snap.visible(99n), 'below xmin: committed before');
  assert.ok(snap.visible(100n) && snap.visible(105n), 'between, not in progress');
  assert.not.ok(snap.visible(103n), 'in progress at the snapshot');
  assert.not.ok(snap.visible(110n), 'at or past xmax: started after');
  assert.not.ok(snap.visible(5000n));
  assert.ok(new PgSnapshot('42:42:').visible(41n));
  assert.not.ok(new PgSnapshot('42:42:').visible(42n));
});

events.run();
