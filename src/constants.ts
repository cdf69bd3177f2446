/**
 * Every protocol constant in one place: close codes, paths, defaults and
 * event names. Nothing here is mutable.
 */

/** WebSocket close codes the tracker sends. */
export const CloseCode = {
  /** Server shutting down. */
  GOING_AWAY: 1001,
  /** Bad admin authentication, bad admin message, or rate limit exceeded. */
  POLICY_VIOLATION: 1008,
  /** Message larger than `maxPayload` (sent by ws itself). */
  MESSAGE_TOO_BIG: 1009,
  /** Unexpected server failure while handling the socket. */
  INTERNAL_ERROR: 1011,
  /** Consumer too slow (an admin, or a client that never reads its pongs): its send buffer passed the cap. */
  TRY_AGAIN_LATER: 1013,
  /** Kicked by an admin. */
  KICKED: 4000,
} as const;

/**
 * Codes the tracker records (history, metrics) but never sends: 1005 for
 * a close frame without a code, and 1006, what ws reports when a socket
 * ends without a close frame, as when the heartbeat terminates a silent peer.
 */
export const RecordedCloseCode = {
  /** The peer's close frame carried no code. */
  NO_STATUS: 1005,
  ABNORMAL: 1006,
} as const;

/**
 * Close reasons are fixed short strings: client bytes are never echoed
 * back, and every reason stays far below the 123-byte frame limit.
 */
export const CloseReason = {
  SHUTDOWN: 'server shutting down',
  AUTH_TIMEOUT: 'authentication timeout',
  AUTH_FAILED: 'authentication failed',
  /** An admin socket's first message arrived while its address was locked out. */
  AUTH_LOCKED: 'too many failed authentications',
  BAD_MESSAGE: 'invalid message',
  RATE_LIMITED: 'rate limit exceeded',
  SLOW_CONSUMER: 'consumer too slow',
  KICKED: 'disconnected by admin',
  SNAPSHOT_FAILED: 'snapshot unavailable',
  /** An admin socket that authenticated once MAX_ADMINS was reached. */
  ADMINS_FULL: 'too many admin connections',
  /** The oldest admin socket waiting to authenticate, closed to make room for a newer one. */
  ADMIN_WAIT_EVICTED: 'too many admins waiting to authenticate',
  /** An admin whose snapshot would pass what all admins' snapshots may hold queued at once. */
  SNAPSHOTS_BUSY: 'too many snapshots being sent',
  /** Recorded in history for peers the heartbeat terminated; never sent. */
  HEARTBEAT_TIMEOUT: 'heartbeat timeout',
  /** Recorded in history for rows left by a crashed run or a dead node; never sent. */
  TRACKER_LOST: 'tracker lost',
} as const;

export const Paths = {
  CLIENT: '/ws',
  ADMIN_STREAM: '/admin/stream',
  HEALTH: '/health',
  ACTIVE_USERS: '/active-users',
  DASHBOARD: '/admin',
  METRICS: '/metrics',
  HISTORY: '/history',
  HISTORY_STATS: '/history/stats',
} as const;

/**
 * `Allow` on a 405. The plain HTTP paths are read-only; a WebSocket
 * handshake is always a GET (RFC 6455 §4.1).
 */
export const Allow = {
  READ: 'GET, HEAD',
  UPGRADE: 'GET',
} as const;

/** Names of the events a tracker emits for its host application. */
export const TrackerEvent = {
  CONNECTED: 'connected',
  DISCONNECTED: 'disconnected',
  ACTIVITY: 'activity',
  DEGRADED: 'degraded',
  RECOVERED: 'recovered',
} as const;

export const Defaults = {
  port: 8080,
  host: '127.0.0.1',
  databasePath: './data/roster.db',
  touchFlushMs: 1000,
  heartbeatMs: 30_000,
  maxPayload: 64 * 1024,
  logLevel: 'info',
  schemaMode: 'migrate',
  adminAuthTimeoutMs: 5000,
  maxConnections: 50_000,
  maxConnectionsPerIp: 1000,
  maxMessagesPerSecond: 100,
  maxAdmins: 50,
  /**
   * Admin sockets from one address still waiting to authenticate. Each
   * holds a MAX_ADMINS slot for up to the auth timeout, so without a cap
   * one address could keep every slot taken; a dashboard needs one.
   */
  maxPendingAdminsPerIp: 3,
  /** Bytes queued on an admin socket before it is closed with 1013. */
  adminMaxBufferedBytes: 8 * 1024 * 1024,
  /**
   * How long an admin's snapshot may take to be written before the
   * heartbeat stops sparing it: a 15 MB snapshot (60,000 connections) at
   * 50 KB/s. Only an authenticated admin holds one, MAX_ADMINS at most.
   */
  adminSnapshotSendLimitMs: 300_000,
  /**
   * Snapshot bytes all admins together may have queued and not yet written
   * (a snapshot a fast reader takes is gone in milliseconds). Past it, a new
   * admin is closed 1013 and reconnects with backoff, rather than memory
   * growing by a snapshot per admin: 50 slow dashboards at 15 MB each.
   */
  adminSnapshotBudgetBytes: 256 * 1024 * 1024,
  /**
   * Bytes queued on a client socket before a ping from it closes it with
   * 1013. Clients only ever get a welcome and pongs, so anything near this
   * means one that asks for pongs and never reads them.
   */
  clientMaxBufferedBytes: 64 * 1024,
  /**
   * How long a socket closed for being too slow gets to read what is queued
   * and answer the close, before it is terminated. Nothing more is queued
   * for it meanwhile, so the wait costs no memory.
   */
  slowConsumerGraceMs: 5000,
  shutdownTimeoutMs: 5000,
  /** Consecutive failed admin authentications from one address before a cooldown. */
  authFailureLimit: 5,
  authCooldownMs: 60_000,
  /** ws limits against fragment floods. */
  maxFragments: 1024,
  maxBufferedChunks: 4096,
  /** Node's http limits for the handshake. */
  maxHeaderSize: 16 * 1024,
  maxHeadersCount: 64,
  /** Give a slow or silent client this long to send its request headers. */
  headersTimeoutMs: 10_000,
  /** And this long for the whole request. */
  requestTimeoutMs: 30_000,
  /** GET /health answers 503 when the database has not answered its check by then. */
  healthCheckTimeoutMs: 2000,
  /** Ended sessions older than this are pruned from `connection_history`. */
  historyRetentionDays: 30,
  historyPruneIntervalMs: 3_600_000,
  /** 0: slow-query warnings off. */
  slowQueryMs: 0,
} as const;

/** Shortest admin or metrics token accepted. */
export const MIN_TOKEN_LENGTH = 16;

export const ActiveUsersLimits = {
  /** GET /active-users page size when `limit` is absent, and its ceiling. */
  defaultPage: 10_000,
  maxPage: 100_000,
  /** Longest `before=` accepted; a cursor from `next` is 82 characters. */
  maxCursorLength: 200,
} as const;

export const HistoryLimits = {
  /** GET /history page size when `limit` is absent, and its ceiling. */
  defaultPage: 50,
  maxPage: 1000,
  /**
   * Ended sessions kept in memory while the database is failing, to be
   * written by the reconcile. Beyond it the oldest are dropped (and counted)
   * so that an outage under churn cannot grow memory without bound.
   */
  maxPending: 10_000,
  /** Window of GET /history/stats. */
  statsWindowMs: 3_600_000,
  /** Longest `?user=` filter value; labels are stored cut to this length. */
  maxUserLength: 512,
} as const;

/** Bounds on what a client can make us store in `metadata`. */
export const MetadataLimits = {
  /** Longest value kept for any single field; longer ones are cut. */
  maxFieldLength: 512,
  /** Longest serialized metadata; beyond it the query is dropped first. */
  maxTotalLength: 2048,
} as const;

/**
 * Checkpoints of the SQLite WAL (copying committed pages back into the
 * database file, then fsync) run on a worker thread every `intervalMs`
 * (wal-checkpointer.ts). The writer's own automatic checkpoint, which
 * would stall the event loop for the copy and the fsync, is pushed out to
 * `fallbackPages` so that it only runs if the background one falls
 * behind; `journalSizeLimitBytes` truncates a WAL that grew past it.
 */
export const WalCheckpoint = {
  intervalMs: 500,
  fallbackPages: 10_000,
  journalSizeLimitBytes: 64 * 1024 * 1024,
  /** How long closing the database waits for the checkpointer to let go of the file. */
  stopWaitMs: 2000,
} as const;

/**
 * The retention prune (pruneSessions in history-repository.ts) deletes
 * `batchRows` rows per commit. Back to back, its batches wrote WAL pages
 * far faster than the checkpoint worker's every-500-ms round cleared them
 * (~370 pages per 500 rows with random ids): the WAL reached
 * WalCheckpoint.fallbackPages every ~27 batches, and the writer's own
 * checkpoint then stalled the event loop for 80–180 ms. So the prune waits
 * for checkpoints on the worker whenever its batches since the last wait
 * have written about `walPages` pages (judged from what the last
 * checkpoint found; `firstBatchesPerCheckpoint` before the first), which
 * keeps the WAL well under the fallback (bench/results/micro-prune.txt).
 */
export const HistoryPrune = {
  batchRows: 250,
  walPages: 4000,
  firstBatchesPerCheckpoint: 8,
} as const;

/**
 * Group commit for connects and disconnects. A commit costs about the
 * same for one row as for dozens (it is mostly WAL I/O), so under a storm
 * the writer commits at most once per `minIntervalMs` and gathers what
 * arrives in between; a lone connect after a quiet spell is still written
 * on the next tick, with no added delay.
 */
export const WriteBatching = {
  minIntervalMs: 5,
} as const;

/**
 * Admin stream messages that are not snapshots, events or replies.
 * `RESYNC` (`{"type":"resync"}`) goes out immediately before a snapshot
 * sent on a socket that already had one (with several nodes, after the
 * node's event listener reconnected and the view was reloaded): it tells
 * the client that a message as large as its first snapshot is coming on a
 * live socket, so that it does not take the pongs held up behind it for a
 * dead link, and that the snapshot then replaces its list.
 */
export const AdminNotice = {
  RESYNC: '{"type":"resync"}',
} as const;

/**
 * The buffers admins' snapshots are written into, one fragment of the
 * message each: the first fragments travel while the rest are still being
 * written. Reused from one snapshot to the next (buffer-pool.ts), `max`
 * of them at most (4 MiB: a 10k-row snapshot and more; past them a
 * snapshot goes on as text, fragment-writer.ts), all let go after
 * `idleMs` unused.
 */
export const SnapshotBuffers = {
  bytes: 64 * 1024,
  max: 64,
  idleMs: 60_000,
} as const;

/**
 * Marks a tracker's upgrade listener on the host's server, so that a second
 * tracker on that server sees it and refuses to start (tracker.ts).
 * Symbol.for: a second copy of the package in the process sees it too.
 */
export const UPGRADE_LISTENER = Symbol.for('roster.upgradeListener');

/** How long to wait between retries while the database is failing. */
export const RetryBackoff = {
  initialMs: 100,
  maxMs: 5000,
} as const;

/** Multi-node (PostgreSQL) settings and their defaults. */
export const NodeDefaults = {
  /** pg pool size per node. */
  poolSize: 10,
  dbConnectTimeoutMs: 5000,
  /** An idle pooled connection is closed after this. */
  dbIdleTimeoutMs: 10_000,
  /** Server-side limit per statement; 0 disables it. */
  dbStatementTimeoutMs: 10_000,
  /** How often a node writes its heartbeat row (and looks for dead nodes). */
  nodeHeartbeatMs: 5000,
  /** A node whose heartbeat is older than this is declared dead. */
  nodeTtlMs: 30_000,
} as const;

export const ShutdownLimits = {
  /**
   * Past `shutdownTimeoutMs`, closing the writer, the change listener and
   * the database gets this much longer, then shutdown completes without them.
   */
  closeGraceMs: 1000,
} as const;

export const PostgresLimits = {
  /**
   * A query is abandoned on the client this long after the server's own
   * statement_timeout would have ended it: the server is not answering.
   * Its connection is then closed, not returned to the pool.
   */
  clientTimeoutGraceMs: 2000,
  /**
   * idle_in_transaction_session_timeout is this many times the statement
   * timeout. A client that loses its connection between a statement and
   * its COMMIT (a network partition: the server is never told) leaves a
   * backend idle in its transaction, holding the rows it wrote locked;
   * every later write of those rows would wait on it until the server's
   * TCP stack gave up, hours later. The server ends such a session and
   * frees its locks instead. Our transactions never pause between
   * statements for more than a few ms of JavaScript, so twice the
   * statement timeout leaves ample room for an event-loop stall.
   */
  idleInTransactionFactor: 2,
} as const;

export const MultiNode = {
  /** LISTEN/NOTIFY channel that carries row changes between nodes. */
  channel: 'roster_events',
  /**
   * PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. Each
   * notification carries `<xid>:<index>:` (under 32 bytes) before the
   * JSON, so the JSON part is kept within this budget.
   */
  maxPayloadBytes: 7900,
  /** NODE_ID: letters, digits, dot, dash, underscore. */
  nodeIdPattern: /^[A-Za-z0-9._-]{1,64}$/,
  /**
   * GET /active-users waits this long for its barrier to come back through
   * the listener before it reads the table instead: a request is never
   * held for as long as a half-open listener connection takes to detect.
   */
  barrierTimeoutMs: 2000,
} as const;

/** The NODE_ID lock (node-lock.ts). */
export const NodeLock = {
  /** Prefix of the advisory lock's key text, so it cannot meet another application's locks by accident. */
  namespace: 'roster:node:',
  /** While a start waits for a NODE_ID's holder to go, it tries again this often. */
  startRetryMs: 250,
  /** Unanswered server-side keepalive probes before PostgreSQL drops the lock's connection. */
  keepaliveCount: 3,
} as const;

export const SchemaMode = ['migrate', 'verify'] as const;
export type SchemaMode = (typeof SchemaMode)[number];

export const LogLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LogLevels)[number];
