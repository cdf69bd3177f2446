/**
 * Paging GET /active-users in tests: the same list read from every source
 * (committed view, cluster view, table) for a set of cursors, and a walk
 * of every page while connections come and go between requests.
 */
import { randomUUID } from 'node:crypto';
import * as assert from 'uvu/assert';
import type { ActiveUsersCursor } from '../../src/active-users-cursor.js';
import { encodeActiveUsersCursor } from '../../src/active-users-cursor.js';
import type { Page } from '../../src/committed-view.js';
import type { Database } from '../../src/database.js';
import { readActiveUsersPage } from '../../src/repository.js';
import type { User } from '../../src/types.js';
import { activeUsersEnvelope, usersJson } from '../../src/user-json.js';
import type { TestClient } from './ws-client.js';

/** One source's answer for a page, parsed. */
export type PageSource = (page: Page) => Promise<any> | any;

/** The table's answer, as GET /active-users sends it when the view cannot serve. */
export function tablePages(db: Database): PageSource {
  return async (page) => {
    const { count, users, next } = await readActiveUsersPage(db, page);
    const { before, after } = activeUsersEnvelope(count);
    return JSON.parse(before + usersJson(users) + after(next));
  };
}

/**
 * 60 users over 6 milliseconds (10 to a millisecond, so the session id
 * decides most of the order), given in shuffled order.
 */
export function tiedUsers(): User[] {
  const users: User[] = [];
  for (let i = 0; i < 60; i++) {
    const at = new Date(Date.UTC(2026, 10, 24, 9, 0, 0, 100 + (i % 6))).toISOString();
    users.push({ id: randomUUID(), sessionId: randomUUID(), connectedAt: at, lastActiveAt: at, metadata: { remoteAddress: '127.0.0.1', userAgent: `ua ${i}`, origin: '', path: '/ws', query: { n: String(i) } } });
  }
  return users;
}

/** Cursors to probe: every row's key, keys between rows and before/after them all. */
export function probeCursors(users: readonly User[]): ActiveUsersCursor[] {
  const keys: ActiveUsersCursor[] = users.map((u) => ({ connectedAt: u.connectedAt, sessionId: u.sessionId }));
  for (const at of new Set(users.map((u) => u.connectedAt))) {
    keys.push({ connectedAt: at, sessionId: '00000000-0000-0000-0000-000000000000' }, { connectedAt: at, sessionId: 'ffffffff-ffff-ffff-ffff-ffffffffffff' });
  }
  keys.push({ connectedAt: '2026-11-24T08:00:00.000Z', sessionId: randomUUID() }, { connectedAt: '2026-11-24T10:00:00.000Z', sessionId: randomUUID() });
  return keys;
}

/** Every page `source` gives for the probes, by cursor and by offset, plus a walk following `next`. */
export async function allAnswers(source: PageSource, users: readonly User[]): Promise<unknown[]> {
  const answers: unknown[] = [];
  for (const before of probeCursors(users)) answers.push(await source({ offset: 0, limit: 7, before }));
  for (const offset of [0, 5, 59, 60, 61]) answers.push(await source({ offset, limit: 6 }));
  answers.push(...(await followNext(source, 8)));
  return answers;
}

/** Follow `next` from the first page to the last; checks `next` is null exactly when no row follows. */
export async function followNext(source: PageSource, limit: number): Promise<any[]> {
  const pages: any[] = [];
  let before: ActiveUsersCursor | undefined;
  for (;;) {
    const page = await source(before === undefined ? { offset: 0, limit } : { offset: 0, limit, before });
    pages.push(page);
    const last = page.users.at(-1);
    if (page.next === null) break;
    assert.is(page.next, encodeActiveUsersCursor({ connectedAt: last.connectedAt, sessionId: last.sessionId }), 'next is the last row\'s key');
    before = { connectedAt: last.connectedAt, sessionId: last.sessionId };
    assert.ok(pages.length < 1000, 'the walk ends');
  }
  const seen = pages.flatMap((p) => p.users.map((u: any) => u.sessionId));
  assert.is(seen.length, pages[0].count, 'every row once, the last page ends with next null');
  return pages;
}

type Client = TestClient & { sessionId: string };

export interface ChurnWalk {
  /** Session ids in the order the pages gave them. */
  seen: string[];
  /** Clients connected before the walk and never closed during it. */
  liveThroughout: string[];
  pages: any[];
}

/**
 * Walk every page of `limit` rows, by `before=next` or by `offset=`, with
 * churn between requests: after odd pages two rows already seen (one of
 * them the page's last, the cursor's own row) disconnect, pulling the
 * rows below up; after even pages two new clients connect above the
 * page, pushing them down; after every page the oldest client not yet
 * seen disconnects. `settle` waits until `open` clients are committed.
 */
export async function churnWalk(options: {
  mode: 'before' | 'offset';
  limit: number;
  initial: Client[];
  connect(i: number): Promise<Client>;
  get(query: string): Promise<{ status: number; body: any }>;
  settle(open: number): Promise<void>;
}): Promise<ChurnWalk & { clients: TestClient[] }> {
  const { mode, limit, initial } = options;
  const open = new Map<string, Client>(initial.map((c) => [c.sessionId, c]));
  const closedDuringWalk = new Set<string>();
  const clients: TestClient[] = [...initial];
  const seen: string[] = [];
  const pages: any[] = [];
  let next: string | null = null;
  let added = 0;
  const close = async (sessionId: string | undefined) => {
    const client = sessionId === undefined ? undefined : open.get(sessionId);
    if (client === undefined) return;
    open.delete(sessionId!);
    closedDuringWalk.add(sessionId!);
    await client.close();
  };
  for (let k = 1; ; k++) {
    const query = mode === 'before' ? `?limit=${limit}${next === null ? '' : `&before=${next}`}` : `?limit=${limit}&offset=${seen.length}`;
    const { status, body } = await options.get(query);
    assert.is(status, 200, `page ${k}: ${JSON.stringify(body)}`);
    pages.push(body);
    const page: string[] = body.users.map((u: any) => u.sessionId);
    seen.push(...page);
    next = body.next;
    if (mode === 'before' ? next === null : page.length < limit) break;
    assert.ok(k < 200, 'the walk ends');
    if (k % 2 === 1) {
      await close(page.at(-1));
      await close(page[0]);
    } else {
      for (let i = 0; i < 2; i++) {
        const client = await options.connect(added++);
        clients.push(client);
        open.set(client.sessionId, client);
      }
    }
    const seenSet = new Set(seen);
    await close(initial.find((c) => open.has(c.sessionId) && !seenSet.has(c.sessionId))?.sessionId);
    await options.settle(open.size);
  }
  return { seen, liveThroughout: initial.map((c) => c.sessionId).filter((id) => !closedDuringWalk.has(id)), pages, clients };
}

/** Every client live throughout the walk seen exactly once, and no row twice. */
export function exactlyOnce(walk: ChurnWalk): { repeated: string[]; missing: string[] } {
  const counts = new Map<string, number>();
  for (const id of walk.seen) counts.set(id, (counts.get(id) ?? 0) + 1);
  return {
    repeated: [...counts].filter(([, n]) => n > 1).map(([id]) => id),
    missing: walk.liveThroughout.filter((id) => !counts.has(id)),
  };
}

/** The walk's rows in the list's order: newest first, strictly, across pages. */
export function assertDescending(walk: ChurnWalk): void {
  const rows = walk.pages.flatMap((p) => p.users);
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1];
    const b = rows[i];
    assert.ok(a.connectedAt > b.connectedAt || (a.connectedAt === b.connectedAt && a.sessionId > b.sessionId), `row ${i} follows row ${i - 1}`);
  }
}
