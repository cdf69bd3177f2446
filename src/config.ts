/**
 * Server configuration: read from the environment and from matching CLI
 * flags (`PORT` ↔ `--port`), validated once, and frozen. A bad value throws
 * a ConfigError naming the setting; the CLI turns it into exit code 2.
 */
import { Defaults, LogLevels, SchemaMode, type LogLevel } from './constants.js';

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
  maxConnections: number;
  maxConnectionsPerIp: number;
  maxMessagesPerSecond: number;
  maxAdmins: number;
  shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Kind = 'port' | 'int' | 'string' | 'secret' | 'list' | 'enum';

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
  { key: 'adminToken', env: 'ADMIN_TOKEN', kind: 'secret', help: 'admin bearer token, at least 16 characters; generated and printed once when unset' },
  { key: 'touchFlushMs', env: 'TOUCH_FLUSH_MS', kind: 'int', min: 10, max: 60_000, help: `how often gathered activity is written (default ${Defaults.touchFlushMs})` },
  { key: 'heartbeatMs', env: 'HEARTBEAT_MS', kind: 'int', min: 100, max: 3_600_000, help: `protocol ping interval; silent peers go within twice this (default ${Defaults.heartbeatMs})` },
  { key: 'maxPayload', env: 'MAX_PAYLOAD', kind: 'int', min: 64, max: 16 * 1024 * 1024, help: `largest accepted message in bytes, above it close 1009 (default ${Defaults.maxPayload})` },
  { key: 'logLevel', env: 'LOG_LEVEL', kind: 'enum', values: LogLevels, help: `one of ${LogLevels.join(', ')} (default ${Defaults.logLevel})` },
  { key: 'schemaMode', env: 'SCHEMA_MODE', kind: 'enum', values: SchemaMode, help: `migrate: apply pending migrations; verify: refuse to start if any are pending (default ${Defaults.schemaMode})` },
  { key: 'allowedOrigins', env: 'ALLOWED_ORIGINS', kind: 'list', help: 'comma-separated exact Origin values; when set, others get 403 (default: any)' },
  { key: 'maxConnections', env: 'MAX_CONNECTIONS', kind: 'int', min: 1, max: 10_000_000, help: `client connections in all, beyond it 503 (default ${Defaults.maxConnections})` },
  { key: 'maxConnectionsPerIp', env: 'MAX_CONNECTIONS_PER_IP', kind: 'int', min: 1, max: 10_000_000, help: `client connections per remote address, beyond it 429 (default ${Defaults.maxConnectionsPerIp})` },
  { key: 'maxMessagesPerSecond', env: 'MAX_MESSAGES_PER_SECOND', kind: 'int', min: 1, max: 1_000_000, help: `per-connection token bucket, beyond it close 1008 (default ${Defaults.maxMessagesPerSecond})` },
  { key: 'maxAdmins', env: 'MAX_ADMINS', kind: 'int', min: 1, max: 10_000, help: `admin stream sockets at once, beyond it 503 (default ${Defaults.maxAdmins})` },
  { key: 'shutdownTimeoutMs', env: 'SHUTDOWN_TIMEOUT_MS', kind: 'int', min: 100, max: 600_000, help: `bound on the graceful shutdown; then clients are terminated (default ${Defaults.shutdownTimeoutMs})` },
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
  maxConnections: Defaults.maxConnections,
  maxConnectionsPerIp: Defaults.maxConnectionsPerIp,
  maxMessagesPerSecond: Defaults.maxMessagesPerSecond,
  maxAdmins: Defaults.maxAdmins,
  shutdownTimeoutMs: Defaults.shutdownTimeoutMs,
};

export const MIN_TOKEN_LENGTH = 16;

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
    case 'list': {
      const items = value.split(',').map((s) => s.trim()).filter(Boolean);
      if (items.length === 0) throw new ConfigError(`${source} must list at least one value`);
      return items;
    }
    case 'secret':
      if (value.length < MIN_TOKEN_LENGTH) {
        throw new ConfigError(`${source} must be at least ${MIN_TOKEN_LENGTH} characters`);
      }
      return value;
    case 'string':
      return value;
  }
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
    lines.push(`  ${flag.padEnd(34)} ${spec.env.padEnd(24)} ${spec.help}`);
  }
  return lines.join('\n');
}
