/** History rows for tests, `before` values no row can have, and the check that a start recorded sessions as lost. */
import { randomUUID } from 'node:crypto';
import * as assert from 'uvu/assert';
import { CloseReason } from '../../src/constants.js';
import type { Database } from '../../src/database.js';
import { listSessions, type SessionRecord } from '../../src/history-repository.js';

/** A session that lasted a second and ended at `endedMs`. */
export function sessionRecord(endedMs: number, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: randomUUID(),
    sessionId: randomUUID(),
    user: null,
    remoteAddress: '127.0.0.1',
    userAgent: 'test',
    connectedAt: new Date(endedMs - 1000).toISOString(),
    disconnectedAt: new Date(endedMs).toISOString(),
    durationMs: 1000,
    closeCode: 1000,
    closeReason: '',
    messages: 0,
    bytesIn: 0,
    ...overrides,
  };
}

/** `before` values that parse as a time or cursor shape but name nothing a row can have. */
export const IMPOSSIBLE_BEFORE = [
  Buffer.from('2026-01-01T00:00:00.000Z|abc').toString('base64url'), // not a UUID: PostgreSQL's uuid column refuses it
  '0000-01-01T00:00:00Z', // PostgreSQL has no year 0
  '9999-12-31T23:59:59-23:59', // year 10000: "+010000-…" sorted before every row on SQLite
];

/** History holds exactly `sessions` (sorted), each once, as lost by a run that ended without recording them. */
export async function assertRecordedAsLost(db: Database, sessions: readonly string[]): Promise<void> {
  const history = await listSessions(db, { limit: sessions.length + 10 });
  assert.equal(history.map((s) => s.sessionId).sort(), [...sessions], 'every session recorded, once');
  for (const session of history) assert.is(session.closeReason, CloseReason.TRACKER_LOST);
}
