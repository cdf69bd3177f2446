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

function namingClient(client: pg.PoolClient, names: ReadonlyMap<string, string>): PostgresPoolClient {
  const query = (textOrCursor: unknown, values?: readonly unknown[]): unknown => {
    const name = typeof textOrCursor === 'string' ? names.get(textOrCursor) : undefined;
    if (name === undefined) return client.query(textOrCursor as string, values as unknown[]);
    return client.query({ name, text: textOrCursor as string, values: values as unknown[] });
  };
  return { query: query as PostgresPoolClient['query'], release: () => client.release() };
}
