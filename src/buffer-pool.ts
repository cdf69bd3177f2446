/**
 * Byte buffers of one size, reused. Bytes written into memory a process
 * has not used before cost ~40× more here than into memory in use (page
 * faults: docs/performance.md, bench/micro-fresh-memory.ts), and a
 * snapshot of 10,000 rows is 3.5 MB of them. A buffer comes back once the
 * socket has written it. There are never more than `max` buffers, taken
 * or kept, so a large snapshot cannot grow the pool without bound: past
 * them, take() answers undefined and the caller does without. All are
 * let go after a while without use, so the pool costs nothing between
 * snapshots.
 */
export class BufferPool {
  readonly #free: Buffer[] = [];
  readonly #bufferBytes: number;
  readonly #max: number;
  readonly #idleMs: number;
  /** Buffers of this pool in existence: kept, or taken and not yet given back or lost. */
  #count = 0;
  #timer: NodeJS.Timeout | undefined;
  #used = false;

  /** Buffers of `bufferBytes`, at most `max` of them; all let go after `idleMs` without a take(). */
  constructor(bufferBytes: number, max: number, idleMs: number) {
    this.#bufferBytes = bufferBytes;
    this.#max = max;
    this.#idleMs = idleMs;
  }

  get bufferBytes(): number {
    return this.#bufferBytes;
  }

  /** Buffers kept now, ready to be taken. */
  get kept(): number {
    return this.#free.length;
  }

  /** A buffer of `bufferBytes`, its content undefined; undefined when all `max` are taken. */
  take(): Buffer | undefined {
    this.#used = true;
    const kept = this.#free.pop();
    if (kept !== undefined) return kept;
    if (this.#count >= this.#max) return undefined;
    this.#count++;
    // allocUnsafeSlow: not a slice of Node's shared pool, so it can be kept.
    return Buffer.allocUnsafeSlow(this.#bufferBytes);
  }

  /** Hand back a buffer from take() that nothing refers to any more. */
  give(buffer: Buffer): void {
    this.#free.push(buffer);
    if (this.#timer === undefined) {
      this.#used = false;
      this.#timer = setInterval(() => this.#trim(), this.#idleMs);
      this.#timer.unref();
    }
  }

  /** A buffer from take() that will not come back (something may still refer to it): one more may be made. */
  lose(): void {
    this.#count--;
  }

  /** Let go of every kept buffer. */
  clear(): void {
    this.#count -= this.#free.length;
    this.#free.length = 0;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #trim(): void {
    if (this.#used) this.#used = false;
    else this.clear();
  }
}
