/**
 * Prometheus metrics for one tracker. Each tracker owns its Registry (never
 * prom-client's global one), so two trackers in a process do not collide.
 * The rest of the code sees only the narrow TrackerMetrics interface.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface TrackerMetrics {
  connectionOpened(): void;
  /** A client connection ended with this close code (as ws reported it, or as the server sent it). */
  connectionClosed(code: number): void;
  /** One client message; on the hot path, so it only bumps a number. */
  messageReceived(): void;
  /** A finished database query, in seconds. */
  observeQuery(seconds: number): void;
  queryFailed(): void;
  /** One flush of gathered activity, in seconds. */
  observeTouchFlush(seconds: number): void;
  /** The Prometheus text exposition. */
  render(): Promise<string>;
  /** At stop: drop every metric (see the comment in createMetrics). */
  close(): void;
  readonly contentType: string;
}

export interface MetricsSources {
  /** Live client connections now. */
  connections(): number;
  /** Subscribed admins now. */
  admins(): number;
}

/** Seconds; database work is usually well under a millisecond on SQLite. */
const QUERY_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Close codes become label values, and a client picks its own code, so
 * the label set is bounded: the standard codes as they are, the tracker's
 * 4000, and every other application code folded into its range.
 */
export function closeCodeLabel(code: number): string {
  if (code >= 1000 && code <= 1015) return String(code);
  if (code === 4000) return '4000';
  if (code >= 3000 && code <= 3999) return '3xxx';
  if (code >= 4001 && code <= 4999) return '4xxx';
  return 'other';
}

export function createMetrics(sources: MetricsSources): TrackerMetrics {
  const registry = new Registry();
  let messages = 0;
  let defaultsRegistered = false;
  let closed = false;

  new Gauge({
    name: 'roster_active_connections',
    help: 'Live client connections on this tracker.',
    registers: [registry],
    collect() {
      this.set(sources.connections());
    },
  });
  // Per-event counts are plain numbers, copied in at scrape time: a
  // prom-client inc() hashes its labels on every call, and these run on
  // every connect and close.
  let accepted = 0;
  const closedByCode = new Map<string, number>();
  new Counter({
    name: 'roster_connections_total',
    help: 'Client connections accepted.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(accepted);
    },
  });
  new Counter({
    name: 'roster_disconnections_total',
    help: 'Client connections ended, by close code.',
    labelNames: ['code'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [code, count] of closedByCode) this.inc({ code }, count);
    },
  });
  new Counter({
    name: 'roster_messages_total',
    help: 'Messages received from clients.',
    registers: [registry],
    collect() {
      // Counted as a plain number per message; copied in at scrape time.
      this.reset();
      this.inc(messages);
    },
  });
  new Gauge({
    name: 'roster_admins',
    help: 'Authenticated admins subscribed to the stream.',
    registers: [registry],
    collect() {
      this.set(sources.admins());
    },
  });
  const touchFlush = new Histogram({
    name: 'roster_touch_flush_seconds',
    help: 'Duration of each transaction that writes gathered activity.',
    buckets: QUERY_BUCKETS,
    registers: [registry],
  });
  const queries = new Histogram({
    name: 'roster_db_query_seconds',
    help: 'Duration of each database query (from Kysely\'s log hook).',
    buckets: QUERY_BUCKETS,
    registers: [registry],
  });
  const dbErrors = new Counter({
    name: 'roster_db_errors_total',
    help: 'Database queries that failed.',
    registers: [registry],
  });

  return {
    connectionOpened: () => {
      accepted++;
    },
    connectionClosed: (code) => {
      const label = closeCodeLabel(code);
      closedByCode.set(label, (closedByCode.get(label) ?? 0) + 1);
    },
    messageReceived: () => {
      messages++;
    },
    observeQuery: (seconds) => queries.observe(seconds),
    queryFailed: () => dbErrors.inc(),
    observeTouchFlush: (seconds) => touchFlush.observe(seconds),
    render() {
      // Process and Node.js metrics start their observers (GC, event-loop
      // delay) on the first scrape, so trackers nobody scrapes pay nothing.
      // They can be registered only once per registry.
      if (!defaultsRegistered && !closed) {
        defaultsRegistered = true;
        collectDefaultMetrics({ register: registry });
      }
      return registry.metrics();
    },
    close() {
      // The default metrics' GC observer and event-loop-delay monitor are
      // process-wide and prom-client cannot stop them. They reach the
      // registry, and through its gauges this tracker's whole state: a
      // stopped tracker that had been scraped was never collected. Emptying
      // the registry cuts that path; /metrics answers empty from then on.
      closed = true;
      registry.clear();
    },
    contentType: registry.contentType,
  };
}
