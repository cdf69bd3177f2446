/**
 * The admin stream: authentication, the snapshot-then-events subscription,
 * admin commands (kick), and fan-out with protection against slow readers.
 */
import type { RawData, WebSocket } from 'ws';
import { tokensEqual, type AuthThrottle } from './auth.js';
import { BufferPool } from './buffer-pool.js';
import { CloseCode, CloseReason, SnapshotBuffers } from './constants.js';
import { FragmentWriter } from './fragment-writer.js';
import type { JsonProducer } from './json-sink.js';
import type { Logger } from './logger.js';
import { closeSlowConsumer } from './slow-consumer.js';

export interface AdminChannelOptions {
  token: string;
  /** Authenticated admins at most (MAX_ADMINS); as many more may wait to authenticate. */
  maxAdmins: number;
  authTimeoutMs: number;
  maxBufferedBytes: number;
  /**
   * How long a snapshot may take to be handed to the kernel before its
   * admin answers pings again. Past it, a silent admin is terminated.
   */
  snapshotSendLimitMs: number;
  /** Snapshot bytes all admins may have queued at once; past it a new snapshot is refused with 1013. */
  snapshotBudgetBytes: number;
  throttle: AuthThrottle;
  logger: Logger;
  /**
   * Send the snapshot and start the live stream. Must add the admin to the
   * audience in the same step as the snapshot read, so nothing falls between.
   */
  subscribe(admin: AdminSession): void;
  /** Close a client connection; false when no such session is live. */
  kick(sessionId: string): boolean;
}

export interface AdminSession {
  readonly socket: WebSocket;
  readonly ip: string;
  authenticated: boolean;
  /** Set while the socket waits to authenticate (it counts as pending then). */
  authTimer: NodeJS.Timeout | undefined;
  /** Answered the last heartbeat ping (heartbeat.ts). */
  alive: boolean;
  /**
   * Bytes left queued when its last snapshot was sent; the buffer cap
   * counts on top of them until the buffer has drained under the cap.
   */
  snapshotQueued: number;
  /** Snapshots handed to ws whose last fragment is not yet written to the socket. */
  snapshotsSending: number;
  /** When the oldest of those began (Date.now()). */
  snapshotSendingSince: number;
}

export class AdminChannel {
  readonly #options: AdminChannelOptions;
  /** Every admin socket, authenticated or not. */
  readonly #sockets = new Set<AdminSession>();
  /** Sockets still waiting to authenticate, oldest first (a Set keeps insertion order). */
  readonly #waiting = new Set<AdminSession>();
  /** Admins that have had their snapshot and receive events. */
  readonly #audience = new Set<AdminSession>();
  /** Sockets still waiting to authenticate, per address. */
  readonly #pending = new Map<string, number>();
  /** The bytes snapshots are written into, reused from one snapshot to the next. */
  readonly #snapshotBuffers = new BufferPool(SnapshotBuffers.bytes, SnapshotBuffers.max, SnapshotBuffers.idleMs);

  constructor(options: AdminChannelOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#sockets.size;
  }

  /** Authenticated admin sockets: what MAX_ADMINS bounds. */
  get authenticatedSize(): number {
    return this.#sockets.size - this.#waiting.size;
  }

  /** Whether another admin that authenticates would pass MAX_ADMINS. */
  get full(): boolean {
    return this.authenticatedSize >= this.#options.maxAdmins;
  }

  /**
   * Make room for one more socket to wait for its token. Waiting sockets
   * are bounded by MAX_ADMINS too; when that many wait, the oldest is
   * closed. A dashboard sends its token as soon as its socket opens, so it
   * waits one round trip: sockets that hold a place without a token (from
   * many addresses, past the per-address cap) are the old ones, and they,
   * not newcomers, give way.
   */
  makeRoomToWait(): void {
    if (this.#waiting.size < this.#options.maxAdmins) return;
    const oldest = this.#waiting.values().next().value!;
    this.#options.logger.warn({ ip: oldest.ip }, 'admin socket waiting to authenticate closed to make room');
    this.#refuse(oldest, CloseReason.ADMIN_WAIT_EVICTED, CloseCode.TRY_AGAIN_LATER);
  }

  get audienceSize(): number {
    return this.#audience.size;
  }

  /** Sockets from this address still waiting to authenticate. */
  pendingFrom(ip: string): number {
    return this.#pending.get(ip) ?? 0;
  }

  accept(socket: WebSocket, ip: string, preAuthenticated: boolean): AdminSession {
    const admin: AdminSession = { socket, ip, authenticated: false, authTimer: undefined, alive: true, snapshotQueued: 0, snapshotsSending: 0, snapshotSendingSince: 0 };
    this.#sockets.add(admin);
    socket.on('message', (data, isBinary) => this.#onMessage(admin, data, isBinary));
    socket.on('pong', () => (admin.alive = true));
    socket.on('error', () => {}); // 'close' follows; nothing to add
    socket.on('close', () => this.#forget(admin));
    if (preAuthenticated) {
      this.#authenticated(admin);
    } else {
      this.#pending.set(ip, this.pendingFrom(ip) + 1);
      this.#waiting.add(admin);
      // Silence counts as a failure: otherwise sockets that never send a
      // token could hold admin slots, reconnecting, without ever being locked out.
      admin.authTimer = setTimeout(() => this.#failed(admin, CloseReason.AUTH_TIMEOUT), this.#options.authTimeoutMs);
      admin.authTimer.unref();
    }
    return admin;
  }

  /** Add to the audience; called by `subscribe` once the snapshot is sent. */
  join(admin: AdminSession): void {
    if (this.#sockets.has(admin)) this.#audience.add(admin);
  }

  /** Serialize once, send to every subscribed admin. */
  broadcast(message: object): void {
    if (this.#audience.size === 0) return;
    const data = JSON.stringify(message);
    for (const admin of this.#audience) this.send(admin, data);
  }

  /**
   * Send unless the admin has stopped reading: past the buffer cap it is
   * closed with 1013 so that one stuck reader cannot grow server memory.
   */
  send(admin: AdminSession, data: string): void {
    if (this.#readable(admin)) admin.socket.send(data);
  }

  /**
   * Send a snapshot as one message in consecutive fragments: `produce`
   * writes the whole JSON text before it returns, and each buffer it fills
   * goes out as a fragment (fragment-writer.ts). Nothing can come between
   * them, since it all happens in this call; the kernel and the admin take
   * the first pieces while the rest are being made. The snapshot counts
   * against the budget all admins share, and spares its admin the
   * heartbeat until written (see heartbeat()).
   * `notice`, when given, is sent as its own message just before the
   * first fragment, in the same step, so nothing can come between them;
   * it is not sent when the snapshot is refused.
   */
  sendSnapshot(admin: AdminSession, produce: JsonProducer, notice?: string): void {
    if (!this.#readable(admin)) return;
    const queued = this.#snapshotBytesQueued();
    if (queued >= this.#options.snapshotBudgetBytes) {
      this.#options.logger.warn({ ip: admin.ip, queued }, 'admin snapshot refused: snapshots for other admins still queued');
      this.#refuse(admin, CloseReason.SNAPSHOTS_BUSY, CloseCode.TRY_AGAIN_LATER);
      return;
    }
    const socket = admin.socket;
    if (admin.snapshotsSending++ === 0) admin.snapshotSendingSince = Date.now();
    const written = () => this.#snapshotWritten(admin);
    try {
      if (notice !== undefined) socket.send(notice);
      produce(new FragmentWriter(socket, this.#snapshotBuffers, written));
      // A snapshot can be larger than the cap (it grows with the live set,
      // the cap does not): an admin still reading it is not slow.
      admin.snapshotQueued = socket.bufferedAmount;
    } catch (error) {
      // A message cut off after its first fragment leaves nothing to
      // recover on that stream.
      this.#options.logger.error({ err: error, ip: admin.ip }, 'admin message failed; closing its stream');
      socket.terminate();
      this.#forget(admin);
    }
  }

  /** What the admins still being written a snapshot have queued: O(admins), once per snapshot. */
  #snapshotBytesQueued(): number {
    let bytes = 0;
    for (const admin of this.#sockets) if (admin.snapshotsSending > 0) bytes += admin.socket.bufferedAmount;
    return bytes;
  }

  /** Whether the admin's socket is open and reading; one that has stopped is closed here. */
  #readable(admin: AdminSession): boolean {
    const socket = admin.socket;
    if (socket.readyState !== socket.OPEN) return false;
    const buffered = socket.bufferedAmount;
    if (buffered <= this.#options.maxBufferedBytes) {
      admin.snapshotQueued = 0; // drained: the cap alone applies from here on
      return true;
    }
    if (buffered <= this.#options.maxBufferedBytes + admin.snapshotQueued) return true;
    this.#options.logger.warn({ ip: admin.ip, buffered }, 'admin too slow; closing');
    closeSlowConsumer(socket);
    this.#forget(admin);
    return false;
  }

  /**
   * The last fragment of a snapshot reached the socket (or the socket
   * closed). The ping queued behind it goes out now, so the admin gets a
   * whole heartbeat interval from here to answer it.
   */
  #snapshotWritten(admin: AdminSession): void {
    admin.snapshotsSending--;
    admin.alive = true;
  }

  /**
   * One heartbeat round (heartbeat.ts): an admin that has not answered the
   * last ping is terminated, the others pinged. A ping queued behind a
   * snapshot is not answered until the snapshot has been read, which on a
   * slow link takes longer than an interval; while its snapshot is being
   * written the admin is spared, up to `snapshotSendLimitMs`.
   */
  heartbeat(now: number = Date.now()): void {
    for (const admin of this.#sockets) {
      if (admin.alive) {
        admin.alive = false;
        admin.socket.ping();
        continue;
      }
      if (admin.snapshotsSending > 0) {
        if (now - admin.snapshotSendingSince < this.#options.snapshotSendLimitMs) continue;
        this.#options.logger.warn({ ip: admin.ip, buffered: admin.socket.bufferedAmount }, 'admin snapshot not read in time; closing');
      }
      this.terminate(admin);
    }
  }

  closeAll(code: number, reason: string): void {
    for (const admin of this.#sockets) admin.socket.close(code, reason);
  }

  /** Drop an admin at once (no close frame), freeing its slot now rather than when TCP gives up. */
  terminate(admin: AdminSession): void {
    admin.socket.terminate();
    this.#forget(admin);
  }

  terminateAll(): void {
    for (const admin of this.#sockets) admin.socket.terminate();
    this.#snapshotBuffers.clear();
  }

  sockets(): IterableIterator<AdminSession> {
    return this.#sockets.values();
  }

  #forget(admin: AdminSession): void {
    this.#settle(admin);
    this.#sockets.delete(admin);
    this.#audience.delete(admin);
  }

  /** No longer waiting to authenticate, whatever the outcome. Idempotent. */
  #settle(admin: AdminSession): void {
    if (admin.authTimer === undefined) return;
    clearTimeout(admin.authTimer);
    admin.authTimer = undefined;
    this.#waiting.delete(admin);
    const left = this.pendingFrom(admin.ip) - 1;
    if (left > 0) this.#pending.set(admin.ip, left);
    else this.#pending.delete(admin.ip);
  }

  #failed(admin: AdminSession, reason: string): void {
    this.#options.throttle.fail(admin.ip);
    this.#options.logger.warn({ ip: admin.ip }, 'admin authentication failed');
    this.#refuse(admin, reason);
  }

  #refuse(admin: AdminSession, reason: string, code: number = CloseCode.POLICY_VIOLATION): void {
    admin.socket.close(code, reason);
    this.#forget(admin);
  }

  #authenticated(admin: AdminSession): void {
    this.#settle(admin);
    admin.authenticated = true;
    this.#options.throttle.succeed(admin.ip);
    this.#options.logger.info({ ip: admin.ip }, 'admin authenticated');
    this.#options.subscribe(admin);
  }

  #onMessage(admin: AdminSession, data: RawData, isBinary: boolean): void {
    // ws still delivers what arrived with the message that got the socket
    // refused: a later token must neither count as another failure nor get in.
    if (!this.#sockets.has(admin)) return;
    const message = isBinary ? undefined : parseObject(data);
    if (!admin.authenticated) {
      // A socket opened before its address was locked out would otherwise
      // keep guessing, and get in, through the lockout.
      if (this.#options.throttle.isLocked(admin.ip)) {
        this.#refuse(admin, CloseReason.AUTH_LOCKED);
        return;
      }
      const token = message?.type === 'auth' && typeof message.token === 'string' ? message.token : undefined;
      if (token !== undefined && tokensEqual(this.#options.token, token)) {
        // Others may have filled MAX_ADMINS while this one waited.
        if (this.full) {
          this.#options.throttle.succeed(admin.ip);
          this.#refuse(admin, CloseReason.ADMINS_FULL, CloseCode.TRY_AGAIN_LATER);
          return;
        }
        this.#authenticated(admin);
        return;
      }
      this.#failed(admin, CloseReason.AUTH_FAILED);
      return;
    }
    switch (message?.type) {
      case 'auth':
        return; // already authenticated; a repeat is harmless
      case 'ping':
        this.send(admin, JSON.stringify({ type: 'pong' }));
        return;
      case 'kick': {
        const sessionId = message.sessionId;
        if (typeof sessionId !== 'string') break;
        if (this.#options.kick(sessionId)) {
          this.#options.logger.info({ ip: admin.ip, sessionId }, 'admin kicked a connection');
        } else {
          this.send(admin, JSON.stringify({ type: 'error', error: 'unknown session', sessionId: sessionId.slice(0, 64) }));
        }
        return;
      }
    }
    // Junk, wrong types and unknown commands end an admin session.
    this.#refuse(admin, CloseReason.BAD_MESSAGE);
  }
}

function parseObject(data: RawData): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(data.toString());
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
