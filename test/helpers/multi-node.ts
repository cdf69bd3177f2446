/** Multi-node test helpers: nodes on one PostgreSQL, an admin stream followed as a client would, and GET /active-users. */
import * as assert from 'uvu/assert';
import { startTracker, TOKEN, type TestTracker } from './tracker.js';
import type { TestClient } from './ws-client.js';

/** A TTL far above any event-loop stall on a loaded machine, unless a test needs reaping. */
export function startNode(databaseUrl: string, nodeId: string, extra: Record<string, unknown> = {}): Promise<TestTracker> {
  return startTracker({ databaseUrl, nodeId, nodeHeartbeatMs: 200, nodeTtlMs: 10_000, ...extra });
}

/**
 * Follow an admin stream as a client would: the latest snapshot replaces
 * the list, then events apply on top. Any duplicate connect or unknown
 * disconnect is recorded as an anomaly.
 */
export function follow(admin: TestClient): { users: Map<string, any>; anomalies: string[] } {
  const users = new Map<string, any>();
  const anomalies: string[] = [];
  const apply = (m: any) => {
    if (m.type === 'snapshot') {
      users.clear();
      for (const u of m.users) users.set(u.sessionId, u);
    } else if (m.type === 'connected') {
      if (users.has(m.user.sessionId)) anomalies.push(`duplicate connected ${m.user.sessionId}`);
      users.set(m.user.sessionId, m.user);
    } else if (m.type === 'disconnected') {
      if (!users.delete(m.sessionId)) anomalies.push(`disconnected for unknown ${m.sessionId}`);
    } else if (m.type === 'activity') {
      for (const t of m.users) {
        const u = users.get(t.sessionId);
        if (u) u.lastActiveAt = t.lastActiveAt;
      }
    }
  };
  for (const m of admin.inbox) apply(m);
  admin.ws.on('message', (data) => apply(JSON.parse(data.toString())));
  return { users, anomalies };
}

export async function activeSessionIds(node: TestTracker): Promise<string[]> {
  const { status, body } = await getActiveUsers(node);
  assert.is(status, 200);
  return (body as { users: { sessionId: string }[] }).users.map((u) => u.sessionId).sort();
}

/** GET /active-users on `node`, with how long it took. */
export async function getActiveUsers(node: TestTracker, query = ''): Promise<{ status: number; body: any; ms: number }> {
  const started = Date.now();
  // Bounded: a request stuck behind a locked table or a stalled listener fails the test instead of hanging it.
  const res = await fetch(node.httpUrl(`/active-users${query}`), { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(12_000) });
  return { status: res.status, body: await res.json(), ms: Date.now() - started };
}
