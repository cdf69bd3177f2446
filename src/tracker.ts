/**
 * createTracker: composes the transport (HTTP routes and upgrades), the
 * state (live set, admin channel) and the storage (record writer) of one
 * tracker, and runs its lifecycle. All state hangs off the instance, so
 * several trackers can share a process.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type pg from 'pg';
import { WebSocketServer } from 'ws';
import { AdminChannel, type AdminSession } from './admin-channel.js';
import { AuthThrottle } from './auth.js';
import { ClosingWebSocket } from './closing-websocket.js';
import { CommittedView, type Page } from './committed-view.js';
import { coalesce } from './coalesce.js';
import { clientAddressResolver } from './client-address.js';
import { closeClientConnection, sendWelcome } from './client-connection.js';
import { CloseCode, CloseReason, Defaults, Paths, TrackerEvent, UPGRADE_LISTENER } from './constants.js';
import type { TrackerContext } from './context.js';
import { loadDashboardFiles } from './dashboard-files.js';
import { openSqlite, sqliteMainFile, type Database } from './database.js';
import { HistoryPruner } from './history-pruner.js';
import { emitToHost, userForHost } from './host-events.js';
import { startHeartbeat } from './heartbeat.js';
import { handleRequest } from './http-routes.js';
import { readHistoryStats } from './observability-routes.js';
import { serveIgnoringUpgrade } from './plain-upgrade.js';
import { LiveSet } from './live-set.js';
import { createMetrics } from './metrics.js';
import { prepareSchema } from './migrations.js';
import { createQueryLog } from './query-log.js';
import type { CommittedChange } from './batch-write.js';
import { RecordWriter } from './record-writer.js';
import { MultiNodeHub, nodeStore } from './multi-node.js';
import { serverKeepalive } from './node-lock.js';
import { clientConfig, isPostgres, openPostgres, postgresOptions } from './postgres.js';
import { archiveLostUsers } from './history-repository.js';
import { deleteAllUsers, listUsersOfNodes, withTransaction } from './repository.js';
import { shutdownTracker } from './shutdown.js';
import { lockSqliteFile, type SqliteFileLock } from './sqlite-lock.js';
import { watchDatabaseFile } from './database-file.js';
import { resolveOptions, type ResolvedOptions, type TrackerOptions } from './tracker-options.js';
import type { Touch, User } from './types.js';
import { handleUpgrade } from './upgrade-handler.js';
import { activeUsersEnvelope, SNAPSHOT_ENVELOPE } from './user-json.js';

export interface TrackerEvents {
  connected: [user: User];
  disconnected: [sessionId: string];
  activity: [touches: Touch[]];
  degraded: [reason: string];
  recovered: [];
}

export interface Tracker extends EventEmitter<TrackerEvents> {
  /** Prepare the schema, clear rows left by a crashed run, then accept sockets. */
  start(): Promise<void>;
  /** The graceful shutdown sequence; resolves when it is done. */
  stop(): Promise<void>;
  /** Answer the tracker's HTTP paths; false for any other path. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** Close a client with 4000; false when the session is not live here. */
  kick(sessionId: string): boolean;
  /** Live client connections on this tracker. */
  readonly connections: number;
  /** Authenticated admins receiving the stream. */
  readonly admins: number;
  /** Why database writes are failing, or undefined when healthy. */
  readonly degradedReason: string | undefined;
  readonly db: Database;
  /** This tracker's node id, written on the rows it owns. */
  readonly nodeId: string;
}

export function createTracker(options: TrackerOptions): Tracker {
  return new TrackerImpl(options);
}

/** The listener's connection, which also holds the NODE_ID lock: server keepalive bounded by the TTL (node-lock.ts). */
function listenerConfig(resolved: ResolvedOptions): pg.ClientConfig {
  const base = clientConfig(postgresOptions({ ...resolved, databaseUrl: resolved.databaseUrl! }));
  return {
    ...base,
    options: [base.options, ...serverKeepalive(resolved.nodeTtlMs)].join(' '),
    application_name: `roster-listener:${resolved.nodeId}`,
  };
}

class TrackerImpl extends EventEmitter<TrackerEvents> implements Tracker {
  readonly #ctx: TrackerContext;
  readonly #ownsDb: boolean;
  /** Set on PostgreSQL (`databaseUrl`): heartbeat, reaping and cross-node events. */
  readonly #multi: MultiNodeHub | undefined;
  /** Single node: the table as committed, for admin snapshots (committed-view.ts). */
  readonly #committed = new CommittedView();
  #stopHeartbeat: (() => void) | undefined;
  #pruner: HistoryPruner | undefined;
  #started = false;
  /** Held from start() to the end of stop() when the tracker opened an SQLite file itself. */
  #fileLock: SqliteFileLock | undefined;
  #stopping: Promise<void> | undefined;
  readonly #onUpgrade = Object.assign(
    (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const handled = handleUpgrade(this.#ctx, req, socket, head);
      // Another upgrade listener may own this path; when we are alone, it is
      // a plain request for the app's routes (plain-upgrade.ts).
      const { server } = this.#ctx.options;
      if (!handled && server.listenerCount('upgrade') === 1) serveIgnoringUpgrade(server, req, socket, head);
    },
    { [UPGRADE_LISTENER]: true },
  );

  constructor(options: TrackerOptions) {
    super();
    const resolved = resolveOptions(options);
    this.#ownsDb = resolved.db === undefined;
    const logger = resolved.logger;
    // Gauges read the live state at scrape time, through the context.
    const metrics = createMetrics({ connections: () => this.#ctx.live.size, admins: () => this.#ctx.admins.audienceSize });
    // Query logging and query metrics need Kysely's log hook, so they cover
    // only a database the tracker opens itself.
    const log = createQueryLog({
      logger,
      logQueries: resolved.logQueries,
      slowQueryMs: resolved.slowQueryMs,
      onQuery: metrics.observeQuery,
      onError: metrics.queryFailed,
    });
    const db = resolved.db ??
      (resolved.databaseUrl !== undefined
        ? openPostgres({ ...postgresOptions({ ...resolved, databaseUrl: resolved.databaseUrl }), log })
        : openSqlite({ path: resolved.databasePath!, log }));
    const multiNode = resolved.db === undefined && resolved.databaseUrl !== undefined;
    const live = new LiveSet();
    const throttle = new AuthThrottle(resolved.authFailureLimit, resolved.authCooldownMs);
    const metricsThrottle = new AuthThrottle(resolved.authFailureLimit, resolved.authCooldownMs);
    const writer = new RecordWriter({
      db,
      live,
      touchFlushMs: resolved.touchFlushMs,
      logger,
      onCommitted: (change) => this.#onCommitted(change),
      onUnrecorded: (sessionIds) => this.#welcome(sessionIds),
      onDegraded: (reason) => this.#emit(TrackerEvent.DEGRADED, reason),
      onRecovered: () => this.#emit(TrackerEvent.RECOVERED),
      store: nodeStore(resolved.nodeId, { postgres: isPostgres(db), multiNode, fence: () => this.#multi?.ownerError }),
      metrics,
    });
    const admins = new AdminChannel({
      token: resolved.adminToken,
      maxAdmins: resolved.maxAdmins,
      authTimeoutMs: resolved.adminAuthTimeoutMs,
      maxBufferedBytes: resolved.adminMaxBufferedBytes,
      snapshotSendLimitMs: Defaults.adminSnapshotSendLimitMs,
      snapshotBudgetBytes: Defaults.adminSnapshotBudgetBytes,
      throttle,
      logger,
      subscribe: (admin) => this.#subscribe(admin),
      // With several nodes, a session held elsewhere is kicked by its owner.
      kick: (sessionId) => this.kick(sessionId) || this.#multi?.kickRemote(sessionId) === true,
    });
    this.#multi = multiNode
      ? new MultiNodeHub({
          db,
          nodeId: resolved.nodeId,
          heartbeatMs: resolved.nodeHeartbeatMs,
          ttlMs: resolved.nodeTtlMs,
          listenerConfig: listenerConfig(resolved),
          logger,
          admins,
          resync: () => void writer.resync().catch(() => {}),
          kickLocal: (sessionId) => this.kick(sessionId),
          messages: (sessionId) => live.get(sessionId)?.messages,
        })
      : undefined;
    const wss = new WebSocketServer({
      noServer: true,
      // Reports a peer's close frame before ws's 'close' (closing-websocket.ts).
      WebSocket: ClosingWebSocket,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: resolved.maxPayload,
      maxFragments: Defaults.maxFragments,
      maxBufferedChunks: Defaults.maxBufferedChunks,
    });
    this.#ctx = {
      options: resolved,
      db,
      live,
      writer,
      admins,
      throttle,
      metricsThrottle,
      wss,
      clientAddress: clientAddressResolver(resolved.trustProxy),
      logger,
      maxMessagesPerSecond: resolved.maxMessagesPerSecond,
      dashboard: loadDashboardFiles(),
      metrics,
      startedAt: Date.now(),
      stopping: false,
      historyStats: coalesce(() => readHistoryStats(this.#ctx)),
      ...(multiNode
        ? { eventsListening: () => this.#multi!.listening, activeUsersBody: (page: Page) => this.#multi!.activeUsersBody(page) }
        : { activeUsersBody: (page: Page) => this.#committed.json({ page, ...activeUsersEnvelope(this.#committed.size) }) }),
    };
  }

  get connections(): number {
    return this.#ctx.live.size;
  }

  get admins(): number {
    return this.#ctx.admins.audienceSize;
  }

  get degradedReason(): string | undefined {
    return this.#ctx.writer.degradedReason;
  }

  get db(): Database {
    return this.#ctx.db;
  }

  get nodeId(): string {
    return this.#ctx.options.nodeId;
  }

  async start(): Promise<void> {
    if (this.#stopping !== undefined) throw new Error('tracker stopped; create a new one');
    if (this.#started) throw new Error('tracker already started');
    this.#refuseSharedServer();
    try {
      await this.#start();
    } catch (error) {
      // What a failed start took stays taken until stop(): the SQLite
      // file's lock (a new tracker on the file, or db:migrate, would be
      // refused as "in use"), the database, the change listener. A tracker
      // starts once anyway, so let go of it all now.
      await this.stop();
      throw error;
    }
  }

  async #start(): Promise<void> {
    const { db, logger, options, writer } = this.#ctx;
    // Before anything touches a row: a second tracker on a file in use must
    // not clear the rows of the one serving (sqlite-lock.ts). Nor may its
    // stop() then delete them, so it is not marked started either.
    if (this.#ownsDb && options.databaseUrl === undefined && options.databasePath !== ':memory:') {
      this.#fileLock = lockSqliteFile(options.databasePath!);
      this.#ctx.databaseFileProblem = watchDatabaseFile(options.databasePath!, logger);
    } else if (!this.#ownsDb) {
      // A `db` the host passes in: its file too, or two trackers given
      // one db (or one file) would each clear the other's live rows.
      const file = await sqliteMainFile(db);
      if (this.#stopping !== undefined) throw new Error('tracker stopped during start');
      if (file !== '') this.#fileLock = lockSqliteFile(file);
    }
    this.#started = true;
    logger.info({ owned: this.#ownsDb, ...(this.#ownsDb ? { path: options.databasePath } : {}) }, 'database opened');
    const applied = await prepareSchema(db, options.schemaMode);
    logger.info({ applied }, applied.length > 0 ? 'migrations applied' : 'schema up to date');
    if (this.#multi !== undefined) {
      // LISTEN, register this node (clearing what a previous run with the
      // same NODE_ID left), reap dead nodes, start the heartbeat.
      await this.#multi.start();
    } else {
      // SQLite serves one node: every row already in the file is stale, left
      // by a run that died; history records them as lost.
      const stale = await withTransaction(db, async (trx) => {
        await archiveLostUsers(trx, await listUsersOfNodes(trx));
        return deleteAllUsers(trx);
      });
      logger.info({ count: stale }, 'stale rows removed');
    }
    // stop() during the awaits above has already stopped the timers and is
    // removing the upgrade listener: starting them now would leave them
    // running for good, on a closed database.
    if (this.#stopping !== undefined) throw new Error('tracker stopped during start');
    // Again: another tracker may have finished its own start meanwhile.
    this.#refuseSharedServer();
    writer.start();
    this.#stopHeartbeat = startHeartbeat(this.#ctx, options.heartbeatMs);
    this.#pruner = new HistoryPruner({ db, logger, retentionDays: options.historyRetentionDays, intervalMs: options.historyPruneIntervalMs });
    this.#pruner.start();
    this.#ctx.startedAt = Date.now();
    options.server.on('upgrade', this.#onUpgrade);
  }

  /**
   * The tracker's paths are fixed, so a second tracker on the same server
   * would take the same upgrades: ws throws on the socket the first one
   * already took, out of the server's upgrade event, and the host crashes
   * at the first client.
   */
  #refuseSharedServer(): void {
    if (this.#ctx.options.server.listeners('upgrade').some((listener) => UPGRADE_LISTENER in listener)) {
      throw new Error(`another Roster tracker already serves ${Paths.CLIENT} and ${Paths.ADMIN_STREAM} on this server; give each tracker its own http.Server`);
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown().finally(() => this.#fileLock?.release());
    return this.#stopping;
  }

  #shutdown(): Promise<void> {
    return shutdownTracker({
      ctx: this.#ctx,
      started: this.#started,
      ownsDb: this.#ownsDb,
      multi: this.#multi,
      onUpgrade: this.#onUpgrade,
      stopTimers: async () => {
        this.#stopHeartbeat?.();
        await this.#pruner?.stop();
      },
    });
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    return handleRequest(this.#ctx, req, res);
  }

  kick(sessionId: string): boolean {
    const conn = this.#ctx.live.get(sessionId);
    if (conn === undefined) return false;
    conn.socket.close(CloseCode.KICKED, CloseReason.KICKED);
    // Forget it now rather than after the peer's close frame: a peer that
    // never answers must not keep its row.
    closeClientConnection(this.#ctx, conn, { code: CloseCode.KICKED, reason: CloseReason.KICKED });
    return true;
  }

  #onCommitted(change: CommittedChange): void {
    const { admins } = this.#ctx;
    if (this.#multi === undefined) this.#committed.apply(change);
    for (const user of change.connected) {
      this.#welcome([user.sessionId]);
      if (this.#multi === undefined) admins.broadcast({ type: 'connected', user });
      if (this.listenerCount(TrackerEvent.CONNECTED) > 0) this.#emit(TrackerEvent.CONNECTED, userForHost(user));
    }
    if (change.activity.length > 0) {
      if (this.#multi === undefined) admins.broadcast({ type: 'activity', users: change.activity });
      this.#emit(TrackerEvent.ACTIVITY, change.activity);
    }
    for (const sessionId of change.disconnected) {
      if (this.#multi === undefined) admins.broadcast({ type: 'disconnected', sessionId });
      this.#emit(TrackerEvent.DISCONNECTED, sessionId);
    }
  }

  /** A host listener that throws must not cut the writer's path short (host-events.ts). */
  #emit<K extends keyof TrackerEvents>(event: K, ...args: TrackerEvents[K]): void {
    // Every close passes here: with no host listener, allocate nothing more.
    if (this.listenerCount(event) === 0) return;
    emitToHost(this as EventEmitter, this.#ctx.logger, event, args);
  }

  #welcome(sessionIds: string[]): void {
    for (const sessionId of sessionIds) {
      const conn = this.#ctx.live.get(sessionId);
      if (conn !== undefined) sendWelcome(conn);
    }
  }

  /**
   * Single node: the snapshot comes from the committed view, which changes
   * only together with the broadcast of each commit's events; sending it
   * and joining the audience in one synchronous step means every commit
   * is either in the snapshot or arrives as an event after it: never
   * both, never neither.
   */
  #subscribe(admin: AdminSession): void {
    if (this.#multi !== undefined) {
      // Several nodes: snapshot and events both come from the database.
      this.#multi.subscribe(admin);
      return;
    }
    const { admins, live } = this.#ctx;
    if (admin.socket.readyState !== admin.socket.OPEN) return;
    // Live stats for the dashboard: the message count is in memory, not in the row.
    const options = { ...SNAPSHOT_ENVELOPE, messages: (sessionId: string) => live.get(sessionId)?.messages };
    admins.sendSnapshot(admin, (sink) => this.#committed.writeJson(sink, options));
    admins.join(admin);
  }
}
