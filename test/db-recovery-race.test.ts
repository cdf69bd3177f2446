/**
 * The resynchronising transaction after a database fault can take real
 * time (a network database, a NOTIFY in the store's batch write). Clients
 * that connect or leave while it is in flight must still end up in the
 * table, or out of it, once the writer reports itself healthy.
 */
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeBatchInStatements } from '../src/batch-write.js';
import { openSqlite, type Database } from '../src/database.js';
import { LiveSet, type LiveConnection } from '../src/live-set.js';
import { silentLogger } from '../src/logger.js';
import { prepareSchema } from '../src/migrations.js';
import { RecordWriter, type RecordWriterOptions, type RowStore } from '../src/record-writer.js';
import { listSessionIds, withTransaction } from '../src/repository.js';
import { liveConnection } from './helpers/live-connection.js';
import { tempDir } from './helpers/tracker.js';
import { waitFor } from './helpers/ws-client.js';

const test = suite('recovery race');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function newWriter(db: Database, live: LiveSet, store: RowStore, hooks: Partial<RecordWriterOptions>): RecordWriter {
  return new RecordWriter({
    db,
    live,
    touchFlushMs: 50,
    logger: silentLogger(),
    store,
    onCommitted() {},
    onUnrecorded() {},
    onDegraded() {},
    onRecovered() {},
    ...hooks,
  });
}

/** What a writer announces, as `+sessionId` and `-sessionId` in order. */
function announcements(): { announced: string[]; onCommitted: RecordWriterOptions['onCommitted'] } {
  const announced: string[] = [];
  return {
    announced,
    onCommitted(change) {
      for (const u of change.connected) announced.push(`+${u.sessionId}`);
      for (const id of change.disconnected) announced.push(`-${id}`);
    },
  };
}

/** Open and close connections as the tracker does: the live set first, then the writer. */
function lifecycle(live: LiveSet, writer: RecordWriter): { open(conn: LiveConnection): void; close(conn: LiveConnection): void } {
  return {
    open(conn) {
      live.add(conn);
      writer.insert(conn);
    },
    close(conn) {
      live.delete(conn.user.sessionId);
      writer.remove(conn);
    },
  };
}

test('connects and disconnects during the resynchronising transaction are not lost', async () => {
  const dir = tempDir();
  const db = openSqlite({ path: join(dir, 'roster.db') });
  let slow = false;
  let inWindow = false;
  // A store whose batch write takes a while, as a network database's does:
  // it runs after the live set was read, before the commit.
  const store: RowStore = {
    listOwnSessionIds: (d) => listSessionIds(d),
    async writeBatch(d, batch) {
      if (slow) {
        inWindow = true;
        await sleep(50);
        inWindow = false;
      }
      await writeBatchInStatements(d, batch);
    },
  };
  const live = new LiveSet();
  let recovered = 0;
  const writer = newWriter(db, live, store, { onRecovered: () => recovered++ });
  const { open, close } = lifecycle(live, writer);
  try {
    await prepareSchema(db, 'migrate');
    writer.start();
    const early = liveConnection();
    open(early);
    await writer.flush();
    assert.equal(await listSessionIds(db), [early.user.sessionId]);

    await sql`pragma query_only = 1`.execute(db);
    const during = liveConnection();
    open(during);
    await waitFor(() => writer.degradedReason !== undefined, 5000, 'the fault');
    slow = true;
    await sql`pragma query_only = 0`.execute(db);
    await waitFor(() => inWindow, 5000, 'the resynchronising transaction');
    // In flight now: one arrives, one leaves.
    const late = liveConnection();
    open(late);
    close(early);
    slow = false;

    await waitFor(() => writer.degradedReason === undefined, 5000, 'recovery');
    await writer.flush();
    const expected = [during, late].map((c) => c.user.sessionId).sort();
    assert.equal((await listSessionIds(db)).sort(), expected, 'the table equals the live set');
    assert.is(recovered, 1);
  } finally {
    await writer.close();
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a forced resync of a healthy writer writes and announces each change once', async () => {
  const dir = tempDir();
  const db = openSqlite({ path: join(dir, 'roster.db') });
  let slow = false;
  let inWindow = false;
  // Reading the stored ids takes a while (a network round trip): connects
  // and disconnects land while it is in flight.
  const store: RowStore = {
    async listOwnSessionIds(d) {
      if (slow) {
        inWindow = true;
        await sleep(50);
        inWindow = false;
      }
      return listSessionIds(d);
    },
    writeBatch: (d, batch) => writeBatchInStatements(d, batch),
  };
  const live = new LiveSet();
  const { announced, onCommitted } = announcements();
  const writer = newWriter(db, live, store, { onCommitted });
  const { open } = lifecycle(live, writer);
  try {
    await prepareSchema(db, 'migrate');
    writer.start();
    const early = liveConnection();
    open(early);
    await writer.flush();
    slow = true;
    const resync = writer.resync();
    await waitFor(() => inWindow, 5000, 'the resync read');
    const late = liveConnection();
    open(late);
    live.delete(early.user.sessionId);
    writer.remove(early);
    slow = false;
    await resync;
    await writer.flush();
    assert.is(writer.degradedReason, undefined, 'no duplicate insert sent the writer into degraded mode');
    assert.equal(await listSessionIds(db), [late.user.sessionId]);
    assert.equal(announced.filter((a) => a === `-${early.user.sessionId}`).length, 1, 'one disconnected');
    assert.equal(announced.filter((a) => a === `+${late.user.sessionId}`).length, 1, 'one connected');
  } finally {
    await writer.close();
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a write that committed but reported a failure: the reconcile announces its changes once', async () => {
  const dir = tempDir();
  const db = openSqlite({ path: join(dir, 'roster.db') });
  // One self-committing statement, as on PostgreSQL; the answer is lost
  // after the commit, as when the connection drops at that moment.
  let loseAnswers = 0;
  const store: RowStore = {
    singleStatement: true,
    listOwnSessionIds: (d) => listSessionIds(d),
    async writeBatch(d, batch) {
      // Alone it is its own transaction; the reconcile calls it inside one.
      if (d === db) await withTransaction(d, (trx) => writeBatchInStatements(trx, batch));
      else await writeBatchInStatements(d, batch);
      if (loseAnswers > 0) {
        loseAnswers--;
        throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
      }
    },
  };
  const live = new LiveSet();
  const { announced, onCommitted } = announcements();
  const writer = newWriter(db, live, store, { onCommitted });
  const { open, close } = lifecycle(live, writer);
  try {
    await prepareSchema(db, 'migrate');
    writer.start();
    const [stays, leaves] = [liveConnection(), liveConnection()];
    open(stays);
    open(leaves);
    await writer.flush();
    announced.length = 0;

    // One batch: a connect that stays, a connect that leaves before the
    // reconcile, and a disconnect; all three commit, the answer is lost.
    loseAnswers = 1;
    const [arrives, passes] = [liveConnection(), liveConnection()];
    open(arrives);
    open(passes);
    close(leaves);
    await writer.flush();
    assert.ok(writer.degradedReason !== undefined, 'the failure was reported');
    close(passes);

    await waitFor(() => writer.degradedReason === undefined, 5000, 'recovery');
    const id = (c: LiveConnection) => c.user.sessionId;
    assert.equal((await listSessionIds(db)).sort(), [id(stays), id(arrives)].sort());
    // arrives: announced once, now. leaves: its delete committed, announced now.
    // passes: never announced as connected, so not as gone either.
    assert.equal(announced.sort(), [`+${id(arrives)}`, `-${id(leaves)}`].sort());
  } finally {
    await writer.close();
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
