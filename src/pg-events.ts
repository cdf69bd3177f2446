/**
 * Row changes between nodes over PostgreSQL LISTEN/NOTIFY.
 *
 * Publishing: every write sends the NOTIFY in its own transaction: the
 * writer's batch statement does (postgres-batch.ts, with `encodeChange`'s
 * chunks), and other writes call `publishChange`. PostgreSQL delivers
 * notifications only after commit, in commit order, never interleaving two
 * transactions, and drops them with a rollback. Each notification is
 * tagged with the writer's transaction id (`pg_current_xact_id()`), which
 * lets a reader tell whether a change is already inside a given snapshot.
 *
 * Payloads stay under PostgreSQL's 8000-byte limit: a change is split into
 * chunks (`<xid>:<index>:<json>`), all sent by one statement. A single
 * connected user too large for a chunk (hostile metadata full of escapes)
 * travels as a reference and is read back by session id on arrival.
 *
 * Listening: one dedicated `pg` client per node (not a pool connection),
 * whose session also holds the node's NODE_ID lock (node-lock.ts, taken
 * by `onConnect` before each LISTEN). When it is lost, it reconnects with backoff and reports `onListening`
 * again, so the owner can send admins a fresh snapshot for what was missed.
 */
import pg from 'pg';
import type { CommittedChange } from './batch-write.js';
import type { Database } from './database.js';
import { MultiNode, RetryBackoff } from './constants.js';
import type { Logger } from './logger.js';
import { SerialQueue } from './serial-queue.js';
import { sql } from 'kysely';
import type { Touch, User } from './types.js';
import { metadataJson, userJson } from './user-json.js';

/** One chunk of a change as it travels. */
interface WireChunk {
  /** Publishing node. */
  n: string;
  c?: User[];
  /** Session ids of connected users too large to inline. */
  r?: string[];
  a?: Touch[];
  d?: string[];
}

export interface RemoteChange extends CommittedChange {
  /** Transaction id of the write, as a decimal string (xid8). */
  xid: bigint;
  nodeId: string;
}

/** Split a change into JSON chunks each at most `maxBytes` long. */
export function encodeChange(change: CommittedChange, nodeId: string, maxBytes: number = MultiNode.maxPayloadBytes): string[] {
  const chunks: string[] = [];
  const head = `{"n":${JSON.stringify(nodeId)}`;
  let parts: Record<'c' | 'r' | 'a' | 'd', string[]> = { c: [], r: [], a: [], d: [] };
  // Bytes of the head, the closing brace and each key's `,"k":[]` wrapper.
  const wrapper = 7;
  let size = Buffer.byteLength(head) + 1;
  const flush = () => {
    let out = head;
    for (const key of ['c', 'r', 'a', 'd'] as const) if (parts[key].length > 0) out += `,"${key}":[${parts[key].join(',')}]`;
    chunks.push(out + '}');
    parts = { c: [], r: [], a: [], d: [] };
    size = Buffer.byteLength(head) + 1;
  };
  const add = (key: 'c' | 'r' | 'a' | 'd', json: string) => {
    const bytes = Buffer.byteLength(json) + 1 + (parts[key].length === 0 ? wrapper : 0);
    if (size + bytes > maxBytes && size > Buffer.byteLength(head) + 1) flush();
    parts[key].push(json);
    size += Buffer.byteLength(json) + 1 + (parts[key].length === 1 ? wrapper : 0);
  };
  for (const user of change.connected) {
    // The same text as JSON.stringify(user), with the metadata's kept JSON
    // spliced in: the batch statement serializes it for the row anyway.
    const json = userJson(user, user.lastActiveAt, metadataJson(user), undefined);
    if (Buffer.byteLength(json) + Buffer.byteLength(head) + 1 + wrapper > maxBytes) add('r', JSON.stringify(user.sessionId));
    else add('c', json);
  }
  for (const touch of change.activity) add('a', JSON.stringify(touch));
  for (const sessionId of change.disconnected) add('d', JSON.stringify(sessionId));
  if (parts.c.length + parts.r.length + parts.a.length + parts.d.length > 0) flush();
  return chunks;
}

/** NOTIFY the change inside the caller's transaction (no-op when empty). */
export async function publishChange(trx: Database, change: CommittedChange, nodeId: string): Promise<void> {
  const chunks = encodeChange(change, nodeId);
  if (chunks.length === 0) return;
  // One round trip for every chunk; the ordinal keeps two equal chunks
  // distinct (PostgreSQL folds identical notifications of a transaction).
  await sql`select pg_notify(${MultiNode.channel}, pg_current_xact_id()::text || ':' || p.i || ':' || p.payload)
    from unnest(${chunks}::text[]) with ordinality as p(payload, i)`.execute(trx);
}

/** Kick requests and barriers share the channel; no xid-tagged payload starts with a letter. */
const KICK_PREFIX = 'k:';
const BARRIER_PREFIX = 'b:';

/**
 * Ask every node to kick `sessionId`; the one holding it closes it with
 * 4000 and its delete is announced like any other leave.
 */
export async function publishKick(db: Database, sessionId: string): Promise<void> {
  await sql`select pg_notify(${MultiNode.channel}, ${KICK_PREFIX + JSON.stringify({ s: sessionId })})`.execute(db);
}

/**
 * A barrier: a notification of its own, in its own transaction. Since
 * notifications arrive in commit order, once a listener has it, it has
 * every change committed before this call (see `onBarrier`).
 */
export async function publishBarrier(db: Database, token: string): Promise<void> {
  await sql`select pg_notify(${MultiNode.channel}, ${BARRIER_PREFIX + token})`.execute(db);
}

export interface PgListenerOptions {
  config: pg.ClientConfig;
  logger: Logger;
  /**
   * Every this many ms the listener runs a trivial query on its own
   * connection; no answer within the same time counts as a lost connection.
   * A half-open TCP connection (peer gone without a reset) would otherwise
   * look healthy while no notification ever arrives.
   */
  probeMs: number;
  /** Fetch users announced by reference (too large for a payload). */
  fetchUsers(sessionIds: string[]): Promise<User[]>;
  /** Each chunk, in commit order, after decoding. */
  onChange(change: RemoteChange): void;
  /**
   * Run on each new connection before it LISTENs (the NODE_ID lock). If it
   * throws, the attempt fails: start() rejects with its error, or the
   * reconnect is retried with backoff.
   */
  onConnect?(client: pg.Client): Promise<void>;
  /** The LISTEN is (again) in place; changes from before may have been missed. */
  onListening(reconnected: boolean): void;
  /** The connection was lost; changes are being missed until onListening. */
  onLost(reason: string): void;
  /** An admin on some node asked for this session to be kicked (see `publishKick`). */
  onKick(sessionId: string): void;
  /** A barrier arrived (any node's; see `publishBarrier`), after every change committed before it. */
  onBarrier(token: string): void;
}

export class PgListener {
  readonly #options: PgListenerOptions;
  /** Keeps decoding (and reference fetches) in arrival order. */
  readonly #queue = new SerialQueue();
  #client: pg.Client | undefined;
  #listening = false;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelay: number = RetryBackoff.initialMs;
  #connects = 0;
  #probeTimer: NodeJS.Timeout | undefined;
  #probing = false;

  constructor(options: PgListenerOptions) {
    this.#options = options;
  }

  get listening(): boolean {
    return this.#listening;
  }

  /** Connect and LISTEN; rejects if the first attempt fails. */
  async start(): Promise<void> {
    await this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#probeTimer);
    const client = this.#client;
    this.#client = undefined;
    this.#listening = false;
    if (client) await client.end().catch(() => {});
    await this.#queue.idle();
  }

  /** Lost if the connection does not answer a trivial query within `probeMs`. */
  #probe(): void {
    const client = this.#client;
    if (client === undefined || this.#probing) return;
    this.#probing = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('listener probe timed out')), this.#options.probeMs);
    });
    Promise.race([client.query('select 1'), timeout])
      .catch((error: Error) => {
        // Emitting 'error' runs the same lost-connection path as a reset.
        if (this.#client === client) client.emit('error', error);
      })
      .finally(() => {
        clearTimeout(timer);
        this.#probing = false;
      });
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(this.#options.config);
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      if (this.#client !== client) return;
      this.#client = undefined;
      this.#listening = false;
      client.end().catch(() => {});
      if (this.#stopped) return;
      const reason = error ? ((error as { code?: string }).code ?? error.message) : 'connection ended';
      this.#options.logger.warn({ reason }, 'event listener lost; reconnecting');
      this.#options.onLost(reason);
      this.#scheduleRetry();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (message) => {
      if (this.#client !== client || message.channel !== MultiNode.channel || message.payload === undefined) return;
      const payload = message.payload;
      this.#queue.run(() => this.#deliver(payload)).catch((error) => {
        this.#options.logger.error({ err: error }, 'event notification could not be delivered');
        // A change that could not be applied (its rows could not be fetched)
        // leaves the owner's view behind the table. Dropping the connection
        // runs the reconnect path, whose reload from the table covers it.
        if (this.#client === client) client.emit('error', error);
      });
    });
    this.#client = client;
    try {
      await client.connect();
      await this.#options.onConnect?.(client);
      await client.query(`LISTEN ${MultiNode.channel}`);
    } catch (error) {
      if (this.#client === client) this.#client = undefined;
      lost = true;
      client.end().catch(() => {});
      throw error;
    }
    if (this.#stopped || this.#client !== client) {
      await client.end().catch(() => {});
      return;
    }
    this.#listening = true;
    this.#retryDelay = RetryBackoff.initialMs;
    if (this.#probeTimer === undefined) {
      this.#probeTimer = setInterval(() => this.#probe(), this.#options.probeMs);
      this.#probeTimer.unref();
    }
    const reconnected = this.#connects++ > 0;
    // Queued behind anything still decoding, so the owner's resync comes
    // after every change received on the old connection.
    await this.#queue.run(async () => this.#options.onListening(reconnected));
  }

  #scheduleRetry(): void {
    if (this.#stopped) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#connect().catch((error) => {
        // Debug only: a NODE_ID taken by another process is logged once, as an error, by its owner.
        this.#options.logger.debug({ err: error }, 'event listener reconnect failed');
        this.#scheduleRetry();
      });
    }, this.#retryDelay);
    this.#retryTimer.unref();
    this.#retryDelay = Math.min(this.#retryDelay * 2, RetryBackoff.maxMs);
  }

  async #deliver(payload: string): Promise<void> {
    if (payload.startsWith(KICK_PREFIX)) {
      const sessionId = (JSON.parse(payload.slice(KICK_PREFIX.length)) as { s?: unknown }).s;
      if (typeof sessionId === 'string') this.#options.onKick(sessionId);
      return;
    }
    if (payload.startsWith(BARRIER_PREFIX)) {
      this.#options.onBarrier(payload.slice(BARRIER_PREFIX.length));
      return;
    }
    const first = payload.indexOf(':');
    const second = payload.indexOf(':', first + 1);
    if (first <= 0 || second <= first) return;
    const xid = BigInt(payload.slice(0, first));
    const chunk = JSON.parse(payload.slice(second + 1)) as WireChunk;
    const connected = chunk.c ?? [];
    if (chunk.r && chunk.r.length > 0) connected.push(...(await this.#options.fetchUsers(chunk.r)));
    this.#options.onChange({ xid, nodeId: chunk.n, connected, activity: chunk.a ?? [], disconnected: chunk.d ?? [] });
  }
}

/**
 * A PostgreSQL snapshot (`pg_current_snapshot()` text, `xmin:xmax:xip,…`)
 * and the one question asked of it: is transaction `xid` visible, i.e.
 * committed before the snapshot was taken? Same rule as
 * `pg_visible_in_snapshot`, evaluated here so no extra query is needed.
 */
export class PgSnapshot {
  readonly xmin: bigint;
  readonly xmax: bigint;
  readonly xip: ReadonlySet<bigint>;

  constructor(text: string) {
    const [xmin, xmax, xip] = text.split(':');
    if (xmin === undefined || xmax === undefined) throw new Error(`bad snapshot ${JSON.stringify(text)}`);
    this.xmin = BigInt(xmin);
    this.xmax = BigInt(xmax);
    this.xip = new Set(xip ? xip.split(',').filter(Boolean).map((x) => BigInt(x)) : []);
  }

  visible(xid: bigint): boolean {
    if (xid < this.xmin) return true;
    if (xid >= this.xmax) return false;
    return !this.xip.has(xid);
  }
}
