/** Ending a socket whose peer has stopped reading what we send it. */
import type { WebSocket } from 'ws';
import { CloseCode, CloseReason, Defaults } from './constants.js';

/**
 * Close with 1013 and queue nothing more. A reader that never drains would
 * also never finish the close handshake, so after a grace period it is
 * terminated; the grace costs no memory since nothing more is queued.
 */
export function closeSlowConsumer(socket: WebSocket): void {
  socket.close(CloseCode.TRY_AGAIN_LATER, CloseReason.SLOW_CONSUMER);
  setTimeout(() => socket.terminate(), Defaults.slowConsumerGraceMs).unref();
}
