/**
 * The graceful shutdown sequence, bounded by `shutdownTimeoutMs`:
 *   1. stop accepting (new upgrades get 503);  2. close clients and admins with 1001;
 *   3. write pending touches;  4. delete this run's rows (kept if the
 *      database is still failing, to be recorded as lost later);
 *   5. close the database.  (The CLI then exits 0.)
 * Sockets still open when the bound passes are terminated. Closing gets
 * a short grace past the bound; a database that does not answer by then
 * is left behind.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { closeClientConnection } from './client-connection.js';
import { CloseCode, CloseReason, ShutdownLimits } from './constants.js';
import type { TrackerContext } from './context.js';
import type { MultiNodeHub } from './multi-node.js';
import { deleteUsersOfNode } from './repository.js';
import { withinMs } from './time-limit.js';

export interface ShutdownParts {
  ctx: TrackerContext;
  /** Whether start() ran: before it there are no rows of ours to touch. */
  started: boolean;
  /** Close the database at the end (the tracker opened it). */
  ownsDb: boolean;
  multi: MultiNodeHub | undefined;
  onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Stops timers (heartbeat, history prune); resolves when their work is done. */
  stopTimers(): Promise<void>;
}

export async function shutdownTracker(parts: ShutdownParts): Promise<void> {
  const { ctx } = parts;
  ctx.stopping = true;
  ctx.logger.info({ connections: ctx.live.size, admins: ctx.admins.size }, 'shutdown: stop accepting');
  try {
    await shutdownSteps(parts);
  } finally {
    // The listener stays while stopping, so that upgrades to our paths are
    // answered 503 (upgrade-handler.ts): without any upgrade listener, Node
    // would hand them to the request handler, which answers 426.
    ctx.options.server.off('upgrade', parts.onUpgrade);
  }
}

async function shutdownSteps(parts: ShutdownParts): Promise<void> {
  const { ctx, multi } = parts;
  const { admins, db, live, logger, options, writer } = ctx;
  const deadline = Date.now() + options.shutdownTimeoutMs;
  const timersStopped = parts.stopTimers();

  logger.info('shutdown: closing sockets with 1001');
  const sockets: WebSocket[] = [...live.values()].map((c) => c.socket as WebSocket).concat([...admins.sockets()].map((a) => a.socket));
  const closed = Promise.all(sockets.map(closeEvent));
  for (const socket of sockets) socket.close(CloseCode.GOING_AWAY, CloseReason.SHUTDOWN);

  if (parts.started) {
    await untilDeadline(deadline, 'database steps', async () => {
      logger.info('shutdown: writing pending touches');
      await writer.flush();
      // Forget the clients only now, so that the touches above were written
      // while their rows existed, and their history rows (1001) go in the
      // same transaction as the deletes below.
      for (const conn of [...live.values()]) closeClientConnection(ctx, conn, { code: CloseCode.GOING_AWAY, reason: CloseReason.SHUTDOWN });
      logger.info("shutdown: deleting this run's rows");
      await writer.flush();
      await multi?.stopHeartbeat();
      if (writer.degradedReason !== undefined) {
        // The flush could not write the history rows of the rows still
        // there. Deleting those rows now (a small DELETE may get through
        // where the flush did not, as on a full disk) would lose those
        // sessions for good; left in place, they are recorded as lost by
        // the next start (SQLite, or the same NODE_ID) or by the node
        // that reaps this one once NODE_TTL_MS has passed.
        logger.error({ reason: writer.degradedReason }, "shutdown: database still failing; this run's rows are left for the next start to record");
        return;
      }
      // Only this node's rows: other nodes sharing the database keep theirs.
      const removed = await writer.exclusive(() =>
        multi !== undefined ? multi.retire() : deleteUsersOfNode(db, options.nodeId).then((ids) => ids.length),
      );
      logger.info({ count: removed }, 'shutdown: rows deleted');
    }).catch((error) => logger.error({ err: error }, 'shutdown: database steps failed'));
  }
  // Closing waits for work already sent to the database. One that has
  // stopped answering would hold these forever, so they get the rest of
  // the bound plus a short grace, then are left behind: the process can exit.
  const closeBy = Math.max(deadline, Date.now()) + ShutdownLimits.closeGraceMs;
  const abandon = (error: unknown) => logger.warn({ err: error }, 'shutdown: gave up waiting');
  await untilDeadline(closeBy, 'the writer', () => writer.close()).catch(abandon);
  await untilDeadline(closeBy, 'the change listener', async () => multi?.stop()).catch(abandon);

  const finished = await untilDeadline(deadline, 'sockets', () => closed).then(() => true, () => false);
  if (!finished) {
    logger.warn('shutdown: timeout reached; terminating remaining sockets');
    for (const socket of sockets) socket.terminate();
  }
  for (const conn of [...live.values()]) closeClientConnection(ctx, conn);
  await untilDeadline(closeBy, 'timers', () => timersStopped).catch(abandon);
  if (parts.ownsDb) {
    logger.info('shutdown: closing database');
    await untilDeadline(closeBy, 'the database', () => db.destroy()).catch(abandon);
  }
  ctx.metrics.close();
  logger.info('shutdown: complete');
}

function closeEvent(socket: WebSocket): Promise<unknown> | undefined {
  return socket.readyState === socket.CLOSED ? undefined : new Promise((resolve) => socket.once('close', resolve));
}

/** Run `fn`, rejecting if it is not done by `deadline` (epoch ms). */
function untilDeadline<T>(deadline: number, what: string, fn: () => Promise<T>): Promise<T> {
  return withinMs(fn(), deadline - Date.now(), `shutdown deadline passed (${what})`);
}
