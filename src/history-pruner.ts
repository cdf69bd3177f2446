/**
 * Enforces HISTORY_RETENTION_DAYS: deletes ended sessions past retention
 * once at start and then on an unref'd timer, one run at a time. Failures
 * are logged and retried at the next tick; they never reach the caller.
 */
import type { Database } from './database.js';
import { pruneSessions } from './history-repository.js';
import type { Logger } from './logger.js';

const DAY_MS = 86_400_000;

export class HistoryPruner {
  readonly #db: Database;
  readonly #logger: Logger;
  readonly #retentionDays: number;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: { db: Database; logger: Logger; retentionDays: number; intervalMs: number }) {
    this.#db = options.db;
    this.#logger = options.logger;
    this.#retentionDays = options.retentionDays;
    this.#intervalMs = options.intervalMs;
  }

  start(): void {
    this.#run();
    this.#timer = setInterval(() => this.#run(), this.#intervalMs);
    this.#timer.unref();
  }

  /** No new runs; a run in progress stops after its current batch. Resolves once it has (before the database closes). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
  }

  #run(): void {
    if (this.#running !== undefined || this.#stopped) return;
    const cutoff = new Date(Date.now() - this.#retentionDays * DAY_MS).toISOString();
    this.#running = pruneSessions(this.#db, cutoff, () => this.#stopped)
      .then(
        (count) => {
          if (count > 0) this.#logger.info({ count, before: cutoff }, 'history pruned');
        },
        (error) => this.#logger.warn({ err: error }, 'history prune failed; will retry'),
      )
      .finally(() => {
        this.#running = undefined;
      });
  }
}
