/**
 * ws ends a connection's frame receiver (a Writable) up to three times in
 * a clean close: itself once the close frame is read, then again on the
 * socket's 'end' and again on its 'close'. Node's Writable.end() answers
 * every call after the first on a finished stream by constructing an
 * ERR_STREAM_ALREADY_FINISHED error, stack trace and formatted message
 * included, that no one ever sees: about 5 µs each in a tight loop, and
 * in the disconnect storm's profile a quarter of a stock ws server's time
 * per close (docs/performance.md, "A close without thrown-away errors").
 *
 * `endReceiverOnce` stands in for the receiver's end(): a call with no
 * arguments on a stream already ended returns at once, because there the
 * original changes no state (and, once the stream has finished, builds
 * that error). Any other call (a chunk or a callback, or the first end)
 * goes to Writable's own end().
 */
import { Writable } from 'node:stream';

type End = (this: Writable, ...args: unknown[]) => Writable;

/** Installed as an own property; every call that matters goes to the class's end(). */
export function endReceiverOnce(this: Writable, ...args: unknown[]): Writable {
  if (args.length === 0 && this.writableEnded) return this;
  return (Object.getPrototypeOf(this) as { end: End }).end.apply(this, args);
}

/** Give `receiver` the end() above, if it is a Writable that uses Writable's own. */
export function spareRedundantEnds(receiver: unknown): void {
  if (receiver instanceof Writable && receiver.end === Writable.prototype.end) receiver.end = endReceiverOnce;
}
