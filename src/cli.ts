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
import { createLogger } from './logger.js';
import { SchemaError } from './migrations.js';
import { redactUrl } from './postgres.js';
import { createTracker } from './tracker.js';

const EXIT_CONFIG = 2;

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

  const tracker = createTracker({
    ...config,
    server,
    // DATABASE_URL (PostgreSQL, several nodes) wins over the SQLite file.
    databasePath: config.databaseUrl === undefined ? config.databasePath : undefined,
    adminToken,
    logger,
  });
  if (config.databaseUrl !== undefined) {
    // Unreachable server, wrong credentials, missing database: a setup
    // problem, reported as such before the migrations would trip on it.
    try {
      await sql`select 1`.execute(tracker.db);
    } catch (error) {
      const message = `cannot use DATABASE_URL ${redactUrl(config.databaseUrl)}: ${(error as Error)?.message ?? String(error)}`;
      logger.fatal({ err: error }, message);
      process.stderr.write(`roster: ${message}\n`);
      process.exit(EXIT_CONFIG);
    }
  }
  try {
    await tracker.start();
  } catch (error) {
    if (error instanceof SchemaError) {
      logger.fatal({ err: error }, error.message);
      process.stderr.write(`roster: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
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

main().catch((error) => {
  process.stderr.write(`roster: ${error?.stack ?? error}\n`);
  process.exit(1);
});
