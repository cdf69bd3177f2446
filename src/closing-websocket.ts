/**
 * The WebSocket class the tracker's server creates (ws's `WebSocket`
 * option). It reports the moment a connection is over, which for a
 * client that says goodbye is well before ws's 'close' event.
 *
 * When the peer's close frame arrives, ws answers it by calling close()
 * on the socket with the peer's code and reason (and on a protocol error
 * it calls close() with the code it sends). 'close' fires only once the
 * TCP connection is gone: a round trip later at best, and up to ws's 30 s
 * closing timeout for a peer that never finishes. No message can follow a
 * close frame, so the tracker forgets the connection at the first close()
 * instead: the row goes and admins hear of it a round trip sooner, and a
 * storm of goodbyes is written in batches while it is still arriving. The
 * 'close' event stays the fallback for everything else (a dropped peer, a
 * terminate()), and forgetting is idempotent, so either order is safe.
 *
 * It also spares ws's redundant ends of its frame receiver at every close
 * (receiver-end.ts).
 */
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { RecordedCloseCode } from './constants.js';
import type { LiveConnection } from './live-set.js';
import { spareRedundantEnds } from './receiver-end.js';

/** What ws's WebSocket has beyond its typings: the hook WebSocketServer calls once a socket is upgraded. */
interface WebSocketInternals {
  setSocket(...args: unknown[]): void;
  _receiver: unknown;
}

export class ClosingWebSocket extends WebSocket {
  /**
   * Called once, at the first close() while open, with its code (1005 for
   * none) and reason, and `this` the socket, like an event listener.
   */
  onClosing: ((this: ClosingWebSocket, code: number, reason: string) => void) | undefined = undefined;
  /**
   * A client's connection, for listeners shared by every client of a
   * tracker (client-connection.ts): one field here instead of closures.
   */
  connection: LiveConnection | undefined = undefined;
  /** The raw socket while its handshake is held (holdHandshake). */
  #held: Duplex | undefined = undefined;

  /**
   * The tracker corks a client's raw socket before ws writes the 101
   * response (upgrade-handler.ts), and names it here, so that the 101 and
   * the welcome, sent once the row is committed, leave in one write: on
   * loopback or a LAN one TCP segment, where they were two to send,
   * receive and acknowledge. The client's `open` then also means its row
   * exists.
   */
  holdHandshake(raw: Duplex): void {
    this.#held = raw;
  }

  /** Send what the hold kept back (the 101, the welcome). Idempotent. */
  releaseHandshake(): void {
    const raw = this.#held;
    if (raw === undefined) return;
    this.#held = undefined;
    raw.uncork();
  }

  /**
   * ws's own setSocket (untyped; every argument passed on as given), then
   * the receiver's end() swapped (receiver-end.ts).
   */
  setSocket(...args: unknown[]): void {
    (WebSocket.prototype as unknown as WebSocketInternals).setSocket.apply(this, args);
    spareRedundantEnds((this as unknown as WebSocketInternals)._receiver);
  }

  override close(code?: number, data?: string | Buffer): void {
    // A close frame must never wait behind a held handshake.
    this.releaseHandshake();
    const onClosing = this.onClosing;
    if (onClosing !== undefined && this.readyState === WebSocket.OPEN) {
      this.onClosing = undefined;
      onClosing.call(this, code ?? RecordedCloseCode.NO_STATUS, data === undefined ? '' : data.toString());
    }
    super.close(code, data);
  }
}
