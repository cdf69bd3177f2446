/**
 * The live connection map: the truth about who is connected to this
 * tracker. The `users` table is its record. Every operation is O(1).
 */
import type { ClosingWebSocket } from './closing-websocket.js';
import type { User } from './types.js';

export interface LiveConnection {
  readonly user: User;
  readonly socket: ClosingWebSocket;
  readonly ip: string;
  /** `user.connectedAt` in milliseconds since the epoch. */
  readonly connectedMs: number;
  /** Milliseconds since the epoch of the last message. */
  lastActiveMs: number;
  /** The close code ws sent for a protocol error (its 'close' then reports 1006). */
  protocolErrorCode: number | undefined;
  /** Set by a pong, cleared by each heartbeat round. */
  alive: boolean;
  /** Already waiting in the writer's touch set. */
  touchQueued: boolean;
  /** Whether the welcome has been sent. */
  welcomed: boolean;
  /** Token bucket for the message rate limit. */
  tokens: number;
  tokensAt: number;
  messages: number;
  bytesIn: number;
}

export class LiveSet {
  readonly #bySession = new Map<string, LiveConnection>();
  readonly #perIp = new Map<string, number>();

  get size(): number {
    return this.#bySession.size;
  }

  get(sessionId: string): LiveConnection | undefined {
    return this.#bySession.get(sessionId);
  }

  has(sessionId: string): boolean {
    return this.#bySession.has(sessionId);
  }

  countForIp(ip: string): number {
    return this.#perIp.get(ip) ?? 0;
  }

  add(conn: LiveConnection): void {
    this.#bySession.set(conn.user.sessionId, conn);
    this.#perIp.set(conn.ip, this.countForIp(conn.ip) + 1);
  }

  /** Remove and return the connection, or undefined if it was not here. */
  delete(sessionId: string): LiveConnection | undefined {
    const conn = this.#bySession.get(sessionId);
    if (conn === undefined) return undefined;
    this.#bySession.delete(sessionId);
    const left = this.countForIp(conn.ip) - 1;
    if (left > 0) this.#perIp.set(conn.ip, left);
    else this.#perIp.delete(conn.ip);
    return conn;
  }

  values(): IterableIterator<LiveConnection> {
    return this.#bySession.values();
  }
}
