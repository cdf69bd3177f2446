/**
 * Library options: defaults spread first, then validated once at
 * construction. Misuse throws TypeError or RangeError right away; nothing
 * is checked again at run time.
 */
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { tokenProblem } from './auth.js';
import { proxyRuleProblem } from './client-address.js';
import { Defaults, MultiNode, NodeDefaults, SchemaMode } from './constants.js';
import type { Database } from './database.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';
import { isPostgres, validateDatabaseUrl } from './postgres.js';

export interface TrackerOptions {
  /** The HTTP server whose upgrades the tracker handles. Required. */
  server: Server;
  /** An open database the caller owns; or give `databasePath`. */
  db?: Database;
  /** SQLite file the tracker opens, and closes on stop. */
  databasePath?: string;
  /** Admin bearer token, at least 16 characters. Required. */
  adminToken: string;
  schemaMode?: SchemaMode;
  touchFlushMs?: number;
  heartbeatMs?: number;
  maxPayload?: number;
  /** Exact Origin values allowed on /ws; undefined allows any. */
  allowedOrigins?: readonly string[];
  /**
   * Addresses or CIDR blocks of the reverse proxies in front: a request
   * from one of them is from the address its X-Forwarded-For names
   * (client-address.ts). Undefined: the socket's peer.
   */
  trustProxy?: readonly string[];
  maxConnections?: number;
  maxConnectionsPerIp?: number;
  maxMessagesPerSecond?: number;
  maxAdmins?: number;
  shutdownTimeoutMs?: number;
  adminAuthTimeoutMs?: number;
  adminMaxBufferedBytes?: number;
  authFailureLimit?: number;
  authCooldownMs?: number;
  logger?: Logger;
  /**
   * postgres:// URL: the tracker opens a pool (closed on stop) and runs as
   * one node of several sharing that database. Instead of `db`/`databasePath`.
   */
  databaseUrl?: string;
  poolSize?: number;
  dbConnectTimeoutMs?: number;
  dbIdleTimeoutMs?: number;
  /** Per-statement limit on PostgreSQL; 0 for none. */
  dbStatementTimeoutMs?: number;
  /** This node's id, written on the rows it owns; default random per tracker. */
  nodeId?: string;
  nodeHeartbeatMs?: number;
  /** A node not seen for this long is declared dead and its rows deleted. */
  nodeTtlMs?: number;
  /** Bearer token required by GET /metrics; undefined leaves it open. */
  metricsToken?: string;
  /** Ended sessions older than this many days are pruned from history. */
  historyRetentionDays?: number;
  historyPruneIntervalMs?: number;
  /** Log every query (SQL text and duration, never parameters) on a database the tracker opens. */
  logQueries?: boolean;
  /** Log queries at least this slow at warn; 0 turns it off. */
  slowQueryMs?: number;
}

export type ResolvedOptions = Required<Omit<TrackerOptions, 'db' | 'databasePath' | 'databaseUrl' | 'allowedOrigins' | 'metricsToken' | 'trustProxy'>> &
  Pick<TrackerOptions, 'db' | 'databasePath' | 'databaseUrl' | 'metricsToken' | 'trustProxy'> & { allowedOrigins: ReadonlySet<string> | undefined };

const INTEGER_LIMITS = {
  touchFlushMs: [10, 60_000],
  heartbeatMs: [100, 3_600_000],
  maxPayload: [64, 16 * 1024 * 1024],
  maxConnections: [1, 10_000_000],
  maxConnectionsPerIp: [1, 10_000_000],
  maxMessagesPerSecond: [1, 1_000_000],
  maxAdmins: [1, 10_000],
  shutdownTimeoutMs: [100, 600_000],
  adminAuthTimeoutMs: [100, 600_000],
  adminMaxBufferedBytes: [1024, 1024 * 1024 * 1024],
  authFailureLimit: [1, 1000],
  authCooldownMs: [0, 86_400_000],
  poolSize: [1, 1000],
  dbConnectTimeoutMs: [100, 600_000],
  dbIdleTimeoutMs: [100, 86_400_000],
  dbStatementTimeoutMs: [0, 86_400_000],
  nodeHeartbeatMs: [50, 3_600_000],
  nodeTtlMs: [100, 86_400_000],
  historyRetentionDays: [1, 36_500],
  historyPruneIntervalMs: [10, 86_400_000],
  slowQueryMs: [0, 3_600_000],
} as const;

/**
 * Every option there is. A name not here is a mistake, and a misspelt one
 * would otherwise leave its default in force without a word. (`satisfies`
 * keeps the list and TrackerOptions the same set of names.)
 */
const OPTION_NAMES: ReadonlySet<string> = new Set(
  Object.keys({
    server: true,
    db: true,
    databasePath: true,
    adminToken: true,
    schemaMode: true,
    touchFlushMs: true,
    heartbeatMs: true,
    maxPayload: true,
    allowedOrigins: true,
    trustProxy: true,
    maxConnections: true,
    maxConnectionsPerIp: true,
    maxMessagesPerSecond: true,
    maxAdmins: true,
    shutdownTimeoutMs: true,
    adminAuthTimeoutMs: true,
    adminMaxBufferedBytes: true,
    authFailureLimit: true,
    authCooldownMs: true,
    logger: true,
    databaseUrl: true,
    poolSize: true,
    dbConnectTimeoutMs: true,
    dbIdleTimeoutMs: true,
    dbStatementTimeoutMs: true,
    nodeId: true,
    nodeHeartbeatMs: true,
    nodeTtlMs: true,
    metricsToken: true,
    historyRetentionDays: true,
    historyPruneIntervalMs: true,
    logQueries: true,
    slowQueryMs: true,
  } satisfies Record<keyof TrackerOptions, true>),
);

export function resolveOptions(options: TrackerOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('createTracker: options must be an object');
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) throw new TypeError(`createTracker: unknown option \`${name}\``);
  }
  const resolved = {
    schemaMode: Defaults.schemaMode,
    touchFlushMs: Defaults.touchFlushMs,
    heartbeatMs: Defaults.heartbeatMs,
    maxPayload: Defaults.maxPayload,
    maxConnections: Defaults.maxConnections,
    maxConnectionsPerIp: Defaults.maxConnectionsPerIp,
    maxMessagesPerSecond: Defaults.maxMessagesPerSecond,
    maxAdmins: Defaults.maxAdmins,
    shutdownTimeoutMs: Defaults.shutdownTimeoutMs,
    adminAuthTimeoutMs: Defaults.adminAuthTimeoutMs,
    adminMaxBufferedBytes: Defaults.adminMaxBufferedBytes,
    authFailureLimit: Defaults.authFailureLimit,
    authCooldownMs: Defaults.authCooldownMs,
    logger: silentLogger(),
    ...NodeDefaults,
    nodeId: randomUUID(),
    historyRetentionDays: Defaults.historyRetentionDays,
    historyPruneIntervalMs: Defaults.historyPruneIntervalMs,
    logQueries: false,
    slowQueryMs: Defaults.slowQueryMs,
    ...stripUndefined(options),
  } as ResolvedOptions & { allowedOrigins: unknown };

  if (!resolved.server || typeof resolved.server.on !== 'function') {
    throw new TypeError('createTracker: `server` must be an http.Server');
  }
  const sources = [resolved.db, resolved.databasePath, resolved.databaseUrl].filter((s) => s !== undefined).length;
  if (sources !== 1) {
    throw new TypeError('createTracker: give exactly one of `db`, `databasePath` or `databaseUrl`');
  }
  if (resolved.db !== undefined && typeof (resolved.db as { getExecutor?: unknown } | null)?.getExecutor !== 'function') {
    throw new TypeError('createTracker: `db` must be a Kysely instance');
  }
  if (resolved.db !== undefined && isPostgres(resolved.db)) {
    // A `db` runs as the only node: its start clears every row in `users`.
    // On a shared PostgreSQL those are the other nodes' live rows.
    throw new TypeError('createTracker: a PostgreSQL `db` would run as the only node and clear every node\'s rows at start; pass `databaseUrl` instead');
  }
  if (resolved.databaseUrl !== undefined) {
    if (typeof resolved.databaseUrl !== 'string') throw new TypeError('createTracker: `databaseUrl` must be a string');
    validateDatabaseUrl(resolved.databaseUrl);
  }
  if (typeof resolved.nodeId !== 'string' || !MultiNode.nodeIdPattern.test(resolved.nodeId)) {
    throw new RangeError('createTracker: `nodeId` must be 1-64 letters, digits, dots, dashes or underscores');
  }
  if (resolved.databasePath !== undefined) {
    if (typeof resolved.databasePath !== 'string') throw new TypeError('createTracker: `databasePath` must be a string');
    if (resolved.databasePath === '') throw new RangeError('createTracker: `databasePath` is empty (use \':memory:\' for a database in memory)');
  }
  if (typeof resolved.adminToken !== 'string') throw new TypeError('createTracker: `adminToken` must be a string');
  const adminTokenProblem = tokenProblem(resolved.adminToken);
  if (adminTokenProblem !== undefined) throw new RangeError(`createTracker: \`adminToken\` ${adminTokenProblem}`);
  if (resolved.metricsToken !== undefined) {
    if (typeof resolved.metricsToken !== 'string') throw new TypeError('createTracker: `metricsToken` must be a string');
    const metricsTokenProblem = tokenProblem(resolved.metricsToken);
    if (metricsTokenProblem !== undefined) throw new RangeError(`createTracker: \`metricsToken\` ${metricsTokenProblem}`);
  }
  if (typeof resolved.logQueries !== 'boolean') throw new TypeError('createTracker: `logQueries` must be a boolean');
  if (!SchemaMode.includes(resolved.schemaMode)) {
    throw new RangeError(`createTracker: \`schemaMode\` must be one of ${SchemaMode.join(', ')}`);
  }
  for (const [key, [min, max]] of Object.entries(INTEGER_LIMITS)) {
    const value = (resolved as unknown as Record<string, unknown>)[key];
    if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`createTracker: \`${key}\` must be an integer`);
    if (value < min || value > max) throw new RangeError(`createTracker: \`${key}\` must be between ${min} and ${max}`);
  }
  if (resolved.nodeTtlMs <= resolved.nodeHeartbeatMs) {
    throw new RangeError('createTracker: `nodeTtlMs` must be greater than `nodeHeartbeatMs`');
  }
  const origins = options.allowedOrigins;
  if (origins !== undefined && (!Array.isArray(origins) || origins.some((o) => typeof o !== 'string'))) {
    throw new TypeError('createTracker: `allowedOrigins` must be an array of strings');
  }
  // An empty list would refuse every client; leaving it out allows any origin.
  if (origins !== undefined && origins.length === 0) {
    throw new RangeError('createTracker: `allowedOrigins` is empty; leave it out to allow any origin');
  }
  const proxies = options.trustProxy;
  if (proxies !== undefined) {
    if (!Array.isArray(proxies) || proxies.some((p) => typeof p !== 'string')) throw new TypeError('createTracker: `trustProxy` must be an array of strings');
    for (const rule of proxies) {
      const problem = proxyRuleProblem(rule);
      if (problem !== undefined) throw new RangeError(`createTracker: \`trustProxy\`: ${problem}`);
    }
  }
  if (!isLogger(resolved.logger)) {
    throw new TypeError('createTracker: `logger` must be pino-compatible (trace, debug, info, warn, error, fatal and child functions)');
  }
  resolved.allowedOrigins = origins === undefined ? undefined : new Set(origins);
  return resolved as ResolvedOptions;
}

const LOGGER_METHODS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'child'] as const;

function isLogger(value: unknown): value is Logger {
  return typeof value === 'object' && value !== null && LOGGER_METHODS.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
