/**
 * Protocol-level liveness. Every round pings each socket; a client or admin
 * that has not answered the previous round's ping is terminated and
 * forgotten, so a dead peer (and the MAX_ADMINS slot a dead admin holds) is
 * gone within two intervals. The work is O(N) per interval, never per event.
 * Each round also checks the SQLite file is still at its path, so that a
 * file deleted under the server is logged even when nothing polls /health.
 */
import { closeClientConnection } from './client-connection.js';
import { CloseReason, RecordedCloseCode } from './constants.js';
import type { TrackerContext } from './context.js';

/** Start the rounds; returns the function that stops them. */
export function startHeartbeat(ctx: TrackerContext, intervalMs: number): () => void {
  const timer = setInterval(() => beat(ctx), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

function beat(ctx: TrackerContext): void {
  for (const conn of ctx.live.values()) {
    if (!conn.alive) {
      conn.socket.terminate();
      closeClientConnection(ctx, conn, { code: RecordedCloseCode.ABNORMAL, reason: CloseReason.HEARTBEAT_TIMEOUT });
      continue;
    }
    conn.alive = false;
    // A row still not committed after a whole interval (a database that
    // neither answers nor fails) no longer holds up the handshake: the
    // client gets its 101 and this ping now, its welcome later.
    conn.socket.releaseHandshake();
    conn.socket.ping();
  }
  ctx.admins.heartbeat();
  // A stat() per interval; the check logs the first problem it sees.
  ctx.databaseFileProblem?.();
}
