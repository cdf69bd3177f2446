/**
 * How a client connection ended, and the history row that records it.
 * The close code is the one ws reported for the peer's close, or the one
 * the server sent when it ended the connection itself (4000 kick, 1008
 * rate limit, 1001 shutdown, 1006 heartbeat termination).
 */
import { RecordedCloseCode } from './constants.js';
import { isoTime } from './iso-time.js';
import type { SessionRecord } from './history-repository.js';
import type { LiveConnection } from './live-set.js';
import { cutText, storableText } from './storable-text.js';

export interface ConnectionEnd {
  code: number;
  reason: string;
}

/** For callers that do not know: ended without a close frame. */
export const UNKNOWN_END: ConnectionEnd = Object.freeze({ code: RecordedCloseCode.ABNORMAL, reason: '' });

/** A close frame's reason is at most 123 bytes; anything longer is not from ws. */
const MAX_REASON_LENGTH = 123;

export function toSessionRecord(conn: LiveConnection, end: ConnectionEnd, endedMs: number): SessionRecord {
  const { user } = conn;
  return {
    id: user.id,
    sessionId: user.sessionId,
    user: user.metadata.user ?? null,
    remoteAddress: user.metadata.remoteAddress,
    userAgent: user.metadata.userAgent,
    connectedAt: user.connectedAt,
    disconnectedAt: isoTime(endedMs),
    durationMs: Math.max(0, endedMs - conn.connectedMs),
    closeCode: end.code,
    closeReason: storableText(cutText(end.reason, MAX_REASON_LENGTH)),
    messages: conn.messages,
    bytesIn: conn.bytesIn,
  };
}

/**
 * The close code ws sends for each of its protocol errors (see ws's
 * receiver). Its 'close' event then reports 1006, since it stops reading
 * before the peer's reply, so the tracker records this one instead.
 */
export function protocolErrorCloseCode(errorCode: string | undefined): number | undefined {
  switch (errorCode) {
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
    case 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH':
      return 1009;
    case 'WS_ERR_INVALID_UTF8':
      return 1007;
    case 'WS_ERR_TOO_MANY_BUFFERED_PARTS':
      return 1008;
    default:
      // Every other receiver error is a protocol error; anything else keeps ws's code.
      return errorCode?.startsWith('WS_ERR_') ? 1002 : undefined;
  }
}

/**
 * History rows waiting for the writer's next transaction, by session id.
 * They are the one thing the writer keeps through a database outage (the
 * live set cannot rebuild them), so they are bounded: past `max` the
 * oldest are dropped and counted.
 */
export class PendingSessions {
  readonly #records = new Map<string, SessionRecord>();
  readonly #max: number;
  #dropped = 0;

  constructor(max: number) {
    this.#max = max;
  }

  add(record: SessionRecord): void {
    if (!this.#records.has(record.sessionId) && this.#records.size >= this.#max) {
      // Map keeps insertion order: the first key is the oldest.
      this.#records.delete(this.#records.keys().next().value!);
      this.#dropped++;
    }
    this.#records.set(record.sessionId, record);
  }

  /** Everything pending, emptying the set; `putBack` them if the write fails. */
  take(): SessionRecord[] {
    const records = [...this.#records.values()];
    this.#records.clear();
    return records;
  }

  /**
   * Return what `take` gave to a write that failed. Those sessions ended
   * before any added since, so they go back in front: past `max`, the
   * oldest are still the ones dropped.
   */
  putBack(records: readonly SessionRecord[]): void {
    const since = [...this.#records.values()];
    this.#records.clear();
    for (const record of records) this.add(record);
    for (const record of since) this.add(record);
  }

  /** How many were dropped since the last call. */
  takeDropped(): number {
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }
}
