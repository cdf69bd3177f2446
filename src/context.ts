/** The state one tracker shares between its transport, state and storage layers. */
import type { WebSocketServer } from 'ws';
import type { AdminChannel } from './admin-channel.js';
import type { AuthThrottle } from './auth.js';
import type { ClientAddress } from './client-address.js';
import type { ClientContext } from './client-connection.js';
import type { Page } from './committed-view.js';
import type { DashboardFiles } from './dashboard-files.js';
import type { Database } from './database.js';
import type { TrackerMetrics } from './metrics.js';
import type { HistoryStatsBody } from './observability-routes.js';
import type { ResolvedOptions } from './tracker-options.js';

export interface TrackerContext extends ClientContext {
  options: ResolvedOptions;
  db: Database;
  admins: AdminChannel;
  /** Failed admin-token attempts per address (every admin path). */
  throttle: AuthThrottle;
  /**
   * Failed METRICS_TOKEN attempts, counted apart: a scraper's success must
   * not clear an address's admin failures, nor its failures lock admins out.
   */
  metricsThrottle: AuthThrottle;
  wss: WebSocketServer;
  /** Where a request comes from: the socket's peer, or past trusted proxies (TRUST_PROXY). */
  clientAddress: ClientAddress;
  dashboard: DashboardFiles;
  metrics: TrackerMetrics;
  startedAt: number;
  /** True from the first step of shutdown on. */
  stopping: boolean;
  /**
   * The GET /active-users body, `{"count":…,"users":[…]}`, for a page of
   * the list, from memory. One node: the table as committed
   * (committed-view.ts). Several: the cluster view, once a barrier has
   * come back (multi-node.ts); undefined when the view cannot serve, and
   * GET /active-users then reads the shared table.
   */
  activeUsersBody(page: Page): string | Promise<string | undefined>;
  /**
   * The GET /history/stats body for the last hour. Requests that arrive
   * while one read runs share the next (coalesce.ts): each read scans the
   * hour's sessions.
   */
  historyStats(): Promise<HistoryStatsBody>;
  /**
   * Several nodes: whether this node's change listener is connected (while
   * it is not, admins here miss other nodes' changes and new ones wait).
   */
  eventsListening?(): boolean;
  /**
   * An SQLite file the tracker opened itself: what happened to it, if it is
   * no longer the file at its path (database-file.ts).
   */
  databaseFileProblem?(): string | undefined;
}
