/**
 * One commit's worth of writes from the record writer, and the portable
 * way to write it: a statement per kind of change, inside the transaction
 * the caller opened. PostgreSQL writes the same batch in one statement
 * instead (postgres-batch.ts).
 */
import type { Database } from './database.js';
import { insertSessions, type SessionRecord } from './history-repository.js';
import { createUsers, deleteUsers, touchUsers } from './repository.js';
import type { Touch, User } from './types.js';

/** What a commit changed in the live set; admins are told exactly this. */
export interface CommittedChange {
  connected: User[];
  activity: Touch[];
  disconnected: string[];
}

/**
 * A batch: the live-set change plus the history rows of the connections
 * that ended. A session is never both connected and disconnected, nor
 * both touched and disconnected, in one batch: the writer drops a pending
 * insert or touch when its connection closes.
 */
export interface WriteBatch extends CommittedChange {
  ended: SessionRecord[];
}

/** Write `batch` as a sequence of statements; call it inside a transaction. */
export async function writeBatchInStatements(trx: Database, batch: WriteBatch, nodeId = ''): Promise<void> {
  if (batch.connected.length > 0) await createUsers(trx, batch.connected, nodeId);
  if (batch.activity.length > 0) await touchUsers(trx, batch.activity);
  if (batch.disconnected.length > 0) await deleteUsers(trx, batch.disconnected);
  if (batch.ended.length > 0) await insertSessions(trx, batch.ended);
}
