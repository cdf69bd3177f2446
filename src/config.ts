/**
 * Server configuration: read from the environment and from matching CLI
 * flags (`PORT` ↔ `--port`), validated once, and frozen. A bad value throws
 * a ConfigError naming the setting; the CLI turns it into exit code 2.
 */
import { tokenProblem } from './auth.js';
import { proxyRuleProblem } from './client-address.js';
import { Defaults, LogLevels, MultiNode, NodeDefaults, SchemaMode, type LogLevel } from './constants.js';
import { isPasswordParam } from './postgres.js';

export interface ServerConfig {
  port: number;
  host: string;
  databasePath: string;
  adminToken: string | undefined;
  touchFlushMs: number;
  heartbeatMs: number;
  maxPayload: number;
  logLevel: LogLevel;
  schemaMode: SchemaMode;
  allowedOrigins: string[] | undefined;
  trustProxy: string[] | undefined;
  maxConnections: number;
  maxConnectionsPerIp: number;
  maxMessagesPerSecond: number;
  maxAdmins: number;
  shutdownTimeoutMs: number;
  databaseUrl: string | undefined;
  poolSize: number;
  dbConnectTimeoutMs: number;
  dbIdleTimeoutMs: number;
  dbStatementTimeoutMs: number;
  nodeId: string | undefined;
  nodeHeartbeatMs: number;
  nodeTtlMs: number;
  logPretty: boolean;
  logQueries: boolean;
  slowQueryMs: number;
  metricsToken: string | undefined;
  historyRetentionDays: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Kind = 'url' | 'id' | 'port' | 'int' | 'string' | 'secret' | 'list' | 'proxies' | 'enum' | 'bool';

interface OptionSpec {
  key: keyof ServerConfig;
  env: string;
  kind: Kind;
  min?: number;
  max?: number;
  values?: readonly string[];
  help: string;
}

/** The single source for every setting: parser, `--help` and README table. */
export const OPTIONS: readonly OptionSpec[] = [
  { key: 'port', env: 'PORT', kind: 'port', help: `TCP port to listen on, 0 for any (default ${Defaults.port})` },
  { key: 'host', env: 'HOST', kind: 'string', help: `address to bind (default ${Defaults.host})` },
  { key: 'databasePath', env: 'DATABASE_PATH', kind: 'string', help: `SQLite file; its folder is created (default ${Defaults.databasePath})` },
  { key: 'adminToken', env: 'ADMIN_TOKEN', kind: 'secret', help: 'admin bearer token, at least 16 printable ASCII characters, no spaces; generated and printed once when unset' },
  { key: 'touchFlushMs', env: 'TOUCH_FLUSH_MS', kind: 'int', min: 10, max: 60_000, help: `how often gathered activity is written (default ${Defaults.touchFlushMs})` },
  { key: 'heartbeatMs', env: 'HEARTBEAT_MS', kind: 'int', min: 100, max: 3_600_000, help: `protocol ping interval; silent peers go within twice this (default ${Defaults.heartbeatMs})` },
  { key: 'maxPayload', env: 'MAX_PAYLOAD', kind: 'int', min: 64, max: 16 * 1024 * 1024, help: `largest accepted message in bytes, above it close 1009 (default ${Defaults.maxPayload})` },
  { key: 'logLevel', env: 'LOG_LEVEL', kind: 'enum', values: LogLevels, help: `one of ${LogLevels.join(', ')} (default ${Defaults.logLevel})` },
  { key: 'schemaMode', env: 'SCHEMA_MODE', kind: 'enum', values: SchemaMode, help: `migrate: apply pending migrations; verify: refuse to start if any are pending (default ${Defaults.schemaMode})` },
  { key: 'allowedOrigins', env: 'ALLOWED_ORIGINS', kind: 'list', help: 'comma-separated exact Origin values; when set, others get 403 (default: any)' },
  { key: 'trustProxy', env: 'TRUST_PROXY', kind: 'proxies', help: 'comma-separated addresses or CIDR blocks of the reverse proxies in front (127.0.0.1,10.0.0.0/8); a request from one is from the address X-Forwarded-For names, read from the right past these (default: none, the socket\'s peer)' },
  { key: 'maxConnections', env: 'MAX_CONNECTIONS', kind: 'int', min: 1, max: 10_000_000, help: `client connections in all, beyond it 503 (default ${Defaults.maxConnections})` },
  { key: 'maxConnectionsPerIp', env: 'MAX_CONNECTIONS_PER_IP', kind: 'int', min: 1, max: 10_000_000, help: `client connections per remote address, beyond it 429 (default ${Defaults.maxConnectionsPerIp})` },
  { key: 'maxMessagesPerSecond', env: 'MAX_MESSAGES_PER_SECOND', kind: 'int', min: 1, max: 1_000_000, help: `per-connection token bucket, beyond it close 1008 (default ${Defaults.maxMessagesPerSecond})` },
  { key: 'maxAdmins', env: 'MAX_ADMINS', kind: 'int', min: 1, max: 10_000, help: `authenticated admin stream sockets, beyond it 503; as many more may wait for their token (default ${Defaults.maxAdmins})` },
  { key: 'shutdownTimeoutMs', env: 'SHUTDOWN_TIMEOUT_MS', kind: 'int', min: 100, max: 600_000, help: `bound on the graceful shutdown; then clients are terminated (default ${Defaults.shutdownTimeoutMs})` },
  { key: 'databaseUrl', env: 'DATABASE_URL', kind: 'url', help: 'postgres://user:password@host:5432/db: use PostgreSQL (several nodes may share it) instead of DATABASE_PATH; a URL with a password is accepted from the environment only (default: unset, SQLite)' },
  { key: 'poolSize', env: 'POOL_SIZE', kind: 'int', min: 1, max: 1000, help: `PostgreSQL connections per node, plus one for LISTEN (default ${NodeDefaults.poolSize})` },
  { key: 'dbConnectTimeoutMs', env: 'DB_CONNECT_TIMEOUT_MS', kind: 'int', min: 100, max: 600_000, help: `PostgreSQL connection attempt timeout (default ${NodeDefaults.dbConnectTimeoutMs})` },
  { key: 'dbIdleTimeoutMs', env: 'DB_IDLE_TIMEOUT_MS', kind: 'int', min: 100, max: 86_400_000, help: `idle pooled PostgreSQL connections are closed after this (default ${NodeDefaults.dbIdleTimeoutMs})` },
  { key: 'dbStatementTimeoutMs', env: 'DB_STATEMENT_TIMEOUT_MS', kind: 'int', min: 0, max: 86_400_000, help: `PostgreSQL statement_timeout, 0 for none (default ${NodeDefaults.dbStatementTimeoutMs})` },
  { key: 'nodeId', env: 'NODE_ID', kind: 'id', help: 'this node\'s id on PostgreSQL, 1-64 of [A-Za-z0-9._-]; keep it across restarts (default: random per process)' },
  { key: 'nodeHeartbeatMs', env: 'NODE_HEARTBEAT_MS', kind: 'int', min: 50, max: 3_600_000, help: `how often a node records that it is alive and looks for dead nodes (default ${NodeDefaults.nodeHeartbeatMs})` },
  { key: 'nodeTtlMs', env: 'NODE_TTL_MS', kind: 'int', min: 100, max: 86_400_000, help: `a node silent this long is declared dead and its rows deleted; above NODE_HEARTBEAT_MS (default ${NodeDefaults.nodeTtlMs})` },
  { key: 'logPretty', env: 'LOG_PRETTY', kind: 'bool', help: 'human-readable log lines instead of JSON: 1/0, true/false or yes/no (default 0)' },
  { key: 'logQueries', env: 'DB_LOG_QUERIES', kind: 'bool', help: 'log every database query with its duration (SQL text only, never values): 1/0, true/false or yes/no (default 0)' },
  { key: 'slowQueryMs', env: 'SLOW_QUERY_MS', kind: 'int', min: 0, max: 3_600_000, help: 'log queries at least this slow at warn, 0 for off (default 0)' },
  { key: 'metricsToken', env: 'METRICS_TOKEN', kind: 'secret', help: 'bearer token required by GET /metrics, at least 16 printable ASCII characters, no spaces (default: /metrics is open)' },
  { key: 'historyRetentionDays', env: 'HISTORY_RETENTION_DAYS', kind: 'int', min: 1, max: 36_500, help: `days ended sessions are kept in connection_history (default ${Defaults.historyRetentionDays})` },
];

const DEFAULTS: ServerConfig = {
  port: Defaults.port,
  host: Defaults.host,
  databasePath: Defaults.databasePath,
  adminToken: undefined,
  touchFlushMs: Defaults.touchFlushMs,
  heartbeatMs: Defaults.heartbeatMs,
  maxPayload: Defaults.maxPayload,
  logLevel: Defaults.logLevel,
  schemaMode: Defaults.schemaMode,
  allowedOrigins: undefined,
  trustProxy: undefined,
  maxConnections: Defaults.maxConnections,
  maxConnectionsPerIp: Defaults.maxConnectionsPerIp,
  maxMessagesPerSecond: Defaults.maxMessagesPerSecond,
  maxAdmins: Defaults.maxAdmins,
  shutdownTimeoutMs: Defaults.shutdownTimeoutMs,
  databaseUrl: undefined,
  poolSize: NodeDefaults.poolSize,
  dbConnectTimeoutMs: NodeDefaults.dbConnectTimeoutMs,
  dbIdleTimeoutMs: NodeDefaults.dbIdleTimeoutMs,
  dbStatementTimeoutMs: NodeDefaults.dbStatementTimeoutMs,
  nodeId: undefined,
  nodeHeartbeatMs: NodeDefaults.nodeHeartbeatMs,
  nodeTtlMs: NodeDefaults.nodeTtlMs,
  logPretty: false,
  logQueries: false,
  slowQueryMs: Defaults.slowQueryMs,
  metricsToken: undefined,
  historyRetentionDays: Defaults.historyRetentionDays,
};

export function flagName(env: string): string {
  return '--' + env.toLowerCase().replace(/_/g, '-');
}

/**
 * Build the configuration from `env` and `argv` (flags win over the
 * environment). Throws ConfigError on an unknown flag or a bad value.
 */
export function loadConfig(env: NodeJS.ProcessEnv, argv: readonly string[]): ServerConfig {
  const raw = new Map<OptionSpec, { value: string; source: string }>();
  for (const spec of OPTIONS) {
    const value = env[spec.env];
    if (value !== undefined && value !== '') raw.set(spec, { value, source: spec.env });
  }
  const byFlag = new Map(OPTIONS.map((spec) => [flagName(spec.env), spec]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const spec = byFlag.get(flag);
    if (!spec) throw new ConfigError(`unknown option ${JSON.stringify(flag)} (try --help)`);
    if (spec.kind === 'secret') {
      // A token on the command line shows up in `ps` and shell history.
      throw new ConfigError(`${flag} is not accepted on the command line; set ${spec.env} in the environment`);
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else value = argv[++i];
    if (value === undefined) throw new ConfigError(`${flag} needs a value`);
    raw.set(spec, { value, source: flag });
  }

  const config: ServerConfig = { ...DEFAULTS };
  for (const [spec, { value, source }] of raw) {
    (config as unknown as Record<string, unknown>)[spec.key] = parseValue(spec, value, source);
  }
  if (config.nodeTtlMs <= config.nodeHeartbeatMs) {
    throw new ConfigError(`NODE_TTL_MS (${config.nodeTtlMs}) must be greater than NODE_HEARTBEAT_MS (${config.nodeHeartbeatMs})`);
  }
  return Object.freeze(config);
}

function parseValue(spec: OptionSpec, value: string, source: string): unknown {
  switch (spec.kind) {
    case 'port':
      return parseInteger(value, source, 0, 65535);
    case 'int':
      return parseInteger(value, source, spec.min!, spec.max!);
    case 'enum':
      if (!spec.values!.includes(value)) {
        throw new ConfigError(`${source} must be one of ${spec.values!.join(', ')}, got ${JSON.stringify(value)}`);
      }
      return value;
    case 'list':
      return parseList(value, source);
    case 'proxies': {
      const rules = parseList(value, source);
      for (const rule of rules) {
        const problem = proxyRuleProblem(rule);
        if (problem !== undefined) throw new ConfigError(`${source}: ${problem}`);
      }
      return rules;
    }
    case 'secret':
      {
        const problem = tokenProblem(value);
        if (problem !== undefined) throw new ConfigError(`${source} ${problem}`);
      }
      return value;
    case 'string':
      return value;
    case 'url':
      return parseDatabaseUrl(value, source);
    case 'id':
      if (!MultiNode.nodeIdPattern.test(value)) {
        throw new ConfigError(`${source} must be 1-64 letters, digits, dots, dashes or underscores, got ${JSON.stringify(value.slice(0, 80))}`);
      }
      return value;
    case 'bool':
      if (BOOLEAN_VALUES[value.trim().toLowerCase()] === undefined) {
        throw new ConfigError(`${source} must be 1 or 0 (or true/false), got ${JSON.stringify(value)}`);
      }
      return BOOLEAN_VALUES[value.trim().toLowerCase()];
  }
}

function parseList(value: string, source: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new ConfigError(`${source} must list at least one value`);
  return items;
}

const BOOLEAN_VALUES: Readonly<Record<string, boolean>> = { '1': true, true: true, yes: true, '0': false, false: false, no: false };

/** A postgres:// URL, checked for shape only; the password is never echoed. */
function parseDatabaseUrl(value: string, source: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${source} is not a valid URL; expected postgres://user:password@host:5432/database`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`${source} must start with postgres:// or postgresql://, got ${JSON.stringify(url.protocol + '//')}`);
  }
  if (url.hostname === '' && !url.searchParams.has('host')) throw new ConfigError(`${source} has no host`);
  if (url.pathname.length <= 1) throw new ConfigError(`${source} names no database (postgres://host:5432/DATABASE)`);
  if (source.startsWith('--') && (url.password !== '' || [...url.searchParams.keys()].some(isPasswordParam))) {
    // A password on the command line shows up in `ps` and shell history.
    throw new ConfigError(`${source} must not contain a password; set DATABASE_URL in the environment`);
  }
  return value;
}

function parseInteger(value: string, source: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim())) {
    throw new ConfigError(`${source} must be a whole number, got ${JSON.stringify(value)}`);
  }
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(`${source} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function helpText(): string {
  const lines = ['Usage: roster [options]', '', 'Every option can also be set through the environment variable shown.', ''];
  for (const spec of OPTIONS) {
    const flag = spec.kind === 'secret' ? '(env only)' : `${flagName(spec.env)} <value>`;
    // Every number is checked against its range at start (exit 2 outside it).
    const range = spec.kind === 'int' ? ` [${spec.min}-${spec.max}]` : '';
    lines.push(`  ${flag.padEnd(34)} ${spec.env.padEnd(24)} ${spec.help}${range}`);
  }
  return lines.join('\n');
}
