/** Roster's library entry point. */
export { createTracker, type Tracker, type TrackerEvents } from './tracker.js';
export type { TrackerOptions } from './tracker-options.js';
export { openSqlite, type Database } from './database.js';
export { openPostgres, openDatabase, type PostgresOptions, type DatabaseConfig } from './postgres.js';
export { listNodes, type NodeRow } from './node-repository.js';
export { migrateToLatest, pendingMigrations, prepareSchema, createMigrator, SchemaError } from './migrations.js';
export { DatabaseInUseError } from './sqlite-lock.js';
export { NodeIdInUseError } from './node-lock.js';
export {
  createUser,
  createUsers,
  getUserBySessionId,
  touchUsers,
  deleteUser,
  deleteUsers,
  deleteAllUsers,
  deleteUsersOfNode,
  listSessionIdsOfNode,
  listActiveUsers,
  countActiveUsers,
  withTransaction,
} from './repository.js';
export { createLogger, silentLogger, type Logger } from './logger.js';
export { createHttpServer } from './http-server.js';
export { createQueryLog, type QueryLog, type QueryLogOptions } from './query-log.js';
export {
  insertSessions,
  listSessions,
  pruneSessions,
  sessionStats,
  type SessionRecord,
  type HistoryCursor,
  type HistoryQuery,
  type SessionStats,
} from './history-repository.js';
export { CloseCode, CloseReason, Paths, TrackerEvent, Defaults, NodeDefaults } from './constants.js';
export type { User, UserMetadata, Touch } from './types.js';
