/**
 * Byte buffers of one size, kept for reuse. A snapshot of 10,000 rows is
 * 3.5 MB of bytes; made in fresh memory each time, every page of it is
 * faulted in again, and on a VM that hands freed pages back to its host
 * that was a fifth of the snapshot's time (docs/performance.md). Buffers
 * come back once the socket has written them, and the pool is emptied
 * after a while without use so that it costs nothing between snapshots.
 */
export class BufferPool {
  readonly #free: Buffer[] = [];
  readonly #bufferBytes: number;
  readonly #maxKept: number;
  readonly #idleMs: number;
  #timer: NodeJS.Timeout | undefined;
  #used = false;

  /** Buffers of `bufferBytes`; at most `maxKept` kept; all let go after `idleMs` without a take(). */
  constructor(bufferBytes: number, maxKept: number, idleMs: number) {
    this.#bufferBytes = bufferBytes;
    this.#maxKept = maxKept;
    this.#idleMs = idleMs;
  }

  get bufferBytes(): number {
    return this.#bufferBytes;
  }

  /** Buffers kept now. */
  get kept(): number {
    return this.#free.length;
  }

  /** A buffer of `bufferBytes`, its content undefined. */
  take(): Buffer {
    this.#used = true;
    // allocUnsafeSlow: not a slice of Node's shared pool, so it can be kept.
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#bufferBytes);
  }

  /** Hand back a buffer from take() that nothing refers to any more. */
  give(buffer: Buffer): void {
    if (this.#free.length >= this.#maxKept) return;
    this.#free.push(buffer);
    if (this.#timer === undefined) {
      this.#used = false;
      this.#timer = setInterval(() => this.#trim(), this.#idleMs);
      this.#timer.unref();
    }
  }

  /** Let go of every kept buffer. */
  clear(): void {
    this.#free.length = 0;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #trim(): void {
    if (this.#used) this.#used = false;
    else this.clear();
  }
}
