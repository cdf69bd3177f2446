/**
 * A JSON text sent as the fragments of one WebSocket text message while
 * it is being written: the first fragments travel while the rest are
 * made. The text goes into pooled buffers, a fragment each, which come
 * back to the pool once ws has written them. When the pool has none left
 * (a snapshot larger than all of them), the rest of the message goes as
 * text pieces of the same size, which Node turns into bytes only as the
 * socket takes them, in memory it frees as soon as they are written.
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
  /** Set once the pool had no buffer: text waiting to go as the next fragment. */
  #pieces: string[] | undefined;
  #piecesLength = 0;

  /** `written` runs once the last fragment is written to the socket (or the socket has failed). */
  constructor(socket: WebSocket, pool: BufferPool, written: () => void) {
    this.#socket = socket;
    this.#pool = pool;
    this.#written = written;
  }

  write(text: string): void {
    if (this.#pieces !== undefined) {
      this.#addPiece(text);
      return;
    }
    const bytes = Buffer.byteLength(text);
    if (this.#buffer !== undefined && this.#used + bytes > this.#buffer.length) this.#sendBuffer(false);
    if (bytes > this.#pool.bufferBytes) {
      // Larger than any buffer (rows with very large metadata): a fragment of its own.
      this.#socket.send(text, { fin: false });
      return;
    }
    this.#buffer ??= this.#pool.take();
    if (this.#buffer === undefined) {
      this.#pieces = [];
      this.#addPiece(text);
      return;
    }
    this.#used += this.#buffer.write(text, this.#used);
  }

  end(): void {
    if (this.#pieces === undefined) {
      this.#sendBuffer(true);
      return;
    }
    const written = this.#written;
    this.#socket.send(this.#pieces.join(''), { fin: true }, () => written());
    this.#pieces = [];
  }

  #addPiece(text: string): void {
    this.#pieces!.push(text);
    this.#piecesLength += text.length;
    if (this.#piecesLength < this.#pool.bufferBytes) return;
    this.#socket.send(this.#pieces!.join(''), { fin: false });
    this.#pieces = [];
    this.#piecesLength = 0;
  }

  #sendBuffer(last: boolean): void {
    const buffer = this.#buffer;
    const used = this.#used;
    this.#buffer = undefined;
    this.#used = 0;
    const pool = this.#pool;
    const written = this.#written;
    const piece = buffer === undefined ? Buffer.alloc(0) : buffer.subarray(0, used);
    this.#socket.send(piece, { fin: last, binary: false }, (error) => {
      if (buffer !== undefined) {
        // Back to the pool only when written: after an error ws may still hold it.
        if (error == null) pool.give(buffer);
        else pool.lose();
      }
      if (last) written();
    });
  }
}
