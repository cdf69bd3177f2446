/**
 * A JSON text written into pooled byte buffers and sent as the fragments
 * of one WebSocket text message, a buffer at a time: the first fragments
 * travel while the rest are being written. Each buffer goes back to the
 * pool once ws has written it to the socket.
 */
import type { WebSocket } from 'ws';
import type { BufferPool } from './buffer-pool.js';
import type { JsonSink } from './json-sink.js';

export class FragmentWriter implements JsonSink {
  readonly #socket: WebSocket;
  readonly #pool: BufferPool;
  readonly #written: () => void;
  #buffer: Buffer | undefined;
  #used = 0;

  /** `written` runs once the last fragment is written to the socket (or the socket has failed). */
  constructor(socket: WebSocket, pool: BufferPool, written: () => void) {
    this.#socket = socket;
    this.#pool = pool;
    this.#written = written;
  }

  write(text: string): void {
    const bytes = Buffer.byteLength(text);
    if (this.#buffer !== undefined && this.#used + bytes > this.#buffer.length) this.#send(false);
    if (bytes > this.#pool.bufferBytes) {
      // Larger than any buffer (rows with very large metadata): a fragment of its own.
      this.#socket.send(Buffer.from(text), { fin: false, binary: false });
      return;
    }
    this.#buffer ??= this.#pool.take();
    this.#used += this.#buffer.write(text, this.#used);
  }

  end(): void {
    this.#send(true);
  }

  #send(last: boolean): void {
    const buffer = this.#buffer;
    const used = this.#used;
    this.#buffer = undefined;
    this.#used = 0;
    const pool = this.#pool;
    const written = this.#written;
    const piece = buffer === undefined ? Buffer.alloc(0) : buffer.subarray(0, used);
    // Back to the pool only when written: on an error ws may still hold it.
    this.#socket.send(piece, { fin: last, binary: false }, (error) => {
      if (buffer !== undefined && error == null) pool.give(buffer);
      if (last) written();
    });
  }
}
