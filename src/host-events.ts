/**
 * Delivering the tracker's events to the host app's listeners. They are
 * emitted from inside the writer (right after a commit, on entering or
 * leaving degraded mode, during shutdown), where an exception would cut
 * that path short: the rest of the batch's welcomes and admin events, the
 * retry of a failed write (the tracker stayed degraded for good), the
 * deletes and history rows of a shutdown. EventEmitter.emit lets a
 * listener's throw out to its caller and skips the listeners after it, so
 * each listener runs here on its own: one that throws, or returns a
 * promise that rejects, is logged and the others still run. And what a
 * listener is given is its own to change (userForHost).
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from './logger.js';
import type { User } from './types.js';

type Listener = (...args: unknown[]) => unknown;

export function emitToHost(emitter: EventEmitter, logger: Logger, event: string, args: unknown[]): void {
  // rawListeners: a `once` listener's wrapper, which removes it when called.
  for (const listener of emitter.rawListeners(event) as Listener[]) {
    try {
      const result = Reflect.apply(listener, emitter, args);
      if (isThenable(result)) result.then(undefined, (error: unknown) => report(logger, event, error));
    } catch (error) {
      report(logger, event, error);
    }
  }
}

function report(logger: Logger, event: string, error: unknown): void {
  logger.error({ err: error, event }, 'tracker event listener failed');
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * The host's own copy of a user for its `connected` event. The tracker
 * keeps using the object it holds (the live connection finds its row and
 * its live-set entry by its session id, history reads its metadata, the
 * admin view serves it), so a listener that edits what it was given, say
 * to anonymise the address it keeps, must not edit those: the connection
 * was never forgotten, its row never deleted, its history never written.
 */
export function userForHost(user: User): User {
  const { metadata } = user;
  return {
    id: user.id,
    sessionId: user.sessionId,
    connectedAt: user.connectedAt,
    lastActiveAt: user.lastActiveAt,
    metadata: { ...metadata, query: { ...metadata.query } },
  };
}
