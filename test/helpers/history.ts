/** History rows for tests, and the check that a start recorded sessions as lost. */
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

/** History holds exactly `sessions` (sorted), each once, as lost by a run that ended without recording them. */
export async function assertRecordedAsLost(db: Database, sessions: readonly string[]): Promise<void> {
  const history = await listSessions(db, { limit: sessions.length + 10 });
  assert.equal(history.map((s) => s.sessionId).sort(), [...sessions], 'every session recorded, once');
  for (const session of history) assert.is(session.closeReason, CloseReason.TRACKER_LOST);
}
