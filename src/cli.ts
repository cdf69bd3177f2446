#!/usr/bin/env node
/**
 * The `roster` server: configuration from the environment and flags, an
 * HTTP server, and a tracker on it. Everything else lives in the library.
 */
import { sql } from 'kysely';
import { ConfigError, helpText, loadConfig, type ServerConfig } from './config.js';
import { Paths } from './constants.js';
import { generateToken } from './auth.js';
import { createHttpServer } from './http-server.js';
import { sendError } from './http-util.js';
import { createLogger, type Logger } from './logger.js';
import { SchemaError } from './migrations.js';
import { NodeIdInUseError } from './node-lock.js';
import { redactUrl } from './postgres.js';
import { DatabaseInUseError } from './sqlite-lock.js';
import { createTracker, type Tracker } from './tracker.js';

/** Bad settings (README: Configuration). */
const EXIT_CONFIG = 2;
/** Anything else that stops the server from starting. */
const EXIT_STARTUP = 1;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText() + '\n');
    return;
  }
  let config: ServerConfig;
  try {
    config = loadConfig(process.env, argv);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`roster: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }

  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty });
  const generated = config.adminToken === undefined;
  const adminToken = config.adminToken ?? generateToken();

  const server = createHttpServer((req, res) => {
    if (!tracker.handleRequest(req, res)) sendError(res, 404, 'not found');
  });

  // DATABASE_URL (PostgreSQL, several nodes) wins over the SQLite file.
  const where = config.databaseUrl !== undefined ? `DATABASE_URL ${redactUrl(config.databaseUrl)}` : `DATABASE_PATH ${config.databasePath}`;
  let tracker: Tracker;
  try {
    // Where to listen and how to log are the server's; the rest are tracker options.
    const { port: _port, host: _host, logLevel: _logLevel, logPretty: _logPretty, ...trackerConfig } = config;
    tracker = createTracker({
      ...trackerConfig,
      server,
      databasePath: config.databaseUrl === undefined ? config.databasePath : undefined,
      adminToken,
      logger,
    });
  } catch (error) {
    // A path that is a folder, a file that is not a database, no permission.
    failStartup(logger, `cannot open ${where}: ${messageOf(error)}`, error, EXIT_STARTUP);
  }
  if (config.databaseUrl !== undefined) {
    // Unreachable server, wrong credentials, missing database: a setup
    // problem, reported as such before the migrations would trip on it.
    try {
      await sql`select 1`.execute(tracker.db);
    } catch (error) {
      failStartup(logger, `cannot use ${where}: ${messageOf(error)}`, error, EXIT_CONFIG);
    }
  }
  try {
    await tracker.start();
  } catch (error) {
    const known = error instanceof SchemaError || error instanceof DatabaseInUseError || error instanceof NodeIdInUseError;
    failStartup(logger, known ? error.message : `cannot start on ${where}: ${messageOf(error)}`, error, EXIT_STARTUP);
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, resolve);
    });
  } catch (error) {
    // The tracker has started: stop it, so that what it holds is let go in order.
    await tracker.stop().catch(() => {});
    failStartup(logger, `cannot listen on ${config.host}:${config.port}: ${listenProblem(error)}`, error, EXIT_STARTUP);
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  logger.info({ address: `${host}:${port}`, database: config.databaseUrl !== undefined ? redactUrl(config.databaseUrl) : config.databasePath, nodeId: tracker.nodeId }, 'listening');
  if (generated) {
    // Printed once, on stdout only, so an operator can sign in. The fragment
    // never reaches the server or its logs.
    process.stdout.write(`\nAdmin token (generated): ${adminToken}\nDashboard: http://${host}:${port}${Paths.DASHBOARD}#token=${adminToken}\n\n`);
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutdown requested');
    server.close();
    // Idle keep-alive HTTP connections would otherwise hold the port open.
    server.closeIdleConnections();
    tracker.stop().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** One line for the operator on stderr, the details (stack included) in the log, then exit. */
function failStartup(logger: Logger, message: string, error: unknown, code: number): never {
  logger.fatal({ err: error }, message);
  process.stderr.write(`roster: ${message}\n`);
  process.exit(code);
}

function messageOf(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}

function listenProblem(error: unknown): string {
  switch ((error as { code?: unknown })?.code) {
    case 'EADDRINUSE':
      return 'the port is in use (another server is listening there)';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges)';
    case 'EADDRNOTAVAIL':
      return 'HOST is not an address of this machine';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'HOST does not resolve';
    default:
      return messageOf(error);
  }
}

main().catch((error) => {
  process.stderr.write(`roster: ${error?.stack ?? error}\n`);
  process.exit(1);
});
