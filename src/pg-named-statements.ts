/**
 * Named prepared statements under Kysely's PostgreSQL driver.
 *
 * PostgreSQL parses and plans an unnamed statement every time it runs.
 * The writer's batch (postgres-batch.ts) is one long statement run at
 * every commit, and parsing and planning it cost 0.45–0.85 ms per run:
 * more than all the rest of a run that writes 2 rows, and about 40% of
 * one that writes 20 (bench/micro-pg-prepared.ts). `pg` parses
 * a statement once per connection and reuses it when the query carries a
 * name, but Kysely's driver hands `pg` only text and values. The pool
 * given to Kysely therefore hands out clients that add the name for the
 * statement texts registered here, and pass every other query through.
 */
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

export interface NamedStatement {
  /** Unique per text: a connection keeps each name's parsed statement until it closes. */
  readonly name: string;
  readonly text: string;
}

/** `pool` as Kysely's pool, running `statements` by name. */
export function withNamedStatements(pool: pg.Pool, statements: readonly NamedStatement[]): PostgresPool {
  const names = new Map(statements.map((s) => [s.text, s.name]));
  // One facade per pooled client: Kysely keeps its connection object per
  // client it is given, so a fresh facade per checkout would make a new one each time.
  const facades = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  return {
    async connect() {
      const client = await pool.connect();
      let facade = facades.get(client);
      if (facade === undefined) {
        // The pool listens for errors only on idle clients. A checked-out
        // client whose socket ends without an error message from the server
        // (a killed backend, a reset, a timeout) emits 'error' too, which
        // unheard would end the process; the failed query already reports it.
        client.on('error', () => {});
        facade = namingClient(client, names);
        facades.set(client, facade);
      }
      return facade;
    },
    end: () => pool.end(),
  };
}

/** pg's error when a query outlives `query_timeout` (postgres.ts): the answer may still be on its way. */
const READ_TIMEOUT = 'Query read timeout';

function namingClient(client: pg.PoolClient, names: ReadonlyMap<string, string>): PostgresPoolClient {
  // A client whose query timed out on our side is still waiting for the
  // server (a hung backend, a silent network): back in the pool, it would
  // hold every later query on it. It is closed on release instead.
  let timedOut: Error | undefined;
  const noteTimeout = (error: unknown): void => {
    if ((error as Error)?.message === READ_TIMEOUT) timedOut = error as Error;
  };
  const query = (textOrCursor: unknown, values?: readonly unknown[]): unknown => {
    const name = typeof textOrCursor === 'string' ? names.get(textOrCursor) : undefined;
    const result =
      name === undefined
        ? client.query(textOrCursor as string, values as unknown[])
        : client.query({ name, text: textOrCursor as string, values: values as unknown[] });
    // Observed, not replaced: the caller gets the same promise and its rejection.
    if (result instanceof Promise) result.catch(noteTimeout);
    return result;
  };
  const release = (): void => {
    const error = timedOut;
    timedOut = undefined;
    client.release(error);
  };
  return { query: query as PostgresPoolClient['query'], release };
}
