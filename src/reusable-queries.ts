/**
 * Compile once, run many times. The hot-path writes (insert, touch,
 * delete of a batch) repeat a few statement shapes, and building a Kysely
 * query and compiling it to SQL costs as much as SQLite takes to run it
 * (see bench/micro-write-path.ts). So each shape is compiled once per
 * database and re-run with fresh parameters through `db.executeQuery`:
 * Kysely stays the one query layer (same executor, connection,
 * transaction, logging), only the repeated compile is skipped.
 *
 * Batches are cut into power-of-two chunks so that a handful of shapes
 * covers every batch size, and the statement cache in database.ts keeps
 * each of them prepared.
 */
import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';

/** Marks a key whose compiled parameters did not match the caller's: never reused. */
const NOT_REUSABLE = Symbol('not reusable');
type Entry = CompiledQuery | typeof NOT_REUSABLE;

/**
 * One cache per database, keyed by its adapter: a transaction shares its
 * parent's adapter, and two databases (two trackers) never share one. The
 * map is weak, so a closed database takes its cache with it.
 */
const caches = new WeakMap<object, Map<string, Entry>>();

/**
 * Run the query `build` describes. `key` names its shape (the same key
 * must always give the same SQL) and `parameters` are its bound values in
 * the order the compiled SQL takes them. The first run compiles and checks
 * that order against `parameters`; if it differs, the key falls back to
 * compiling every time, so a wrong order can cost speed but never rows.
 */
export function executeReusable<R>(db: Kysely<any>, key: string, parameters: readonly unknown[], build: () => Compilable<R>): Promise<QueryResult<R>> {
  const adapter = db.getExecutor().adapter;
  let cache = caches.get(adapter);
  if (cache === undefined) caches.set(adapter, (cache = new Map()));
  const cached = cache.get(key);
  if (cached !== undefined && cached !== NOT_REUSABLE) {
    return db.executeQuery({ ...(cached as CompiledQuery<R>), parameters });
  }
  const compiled = build().compile();
  if (cached === undefined) cache.set(key, sameValues(compiled.parameters, parameters) ? compiled : NOT_REUSABLE);
  return db.executeQuery(compiled);
}

/** Cut `items` into chunks whose sizes are powers of two, largest first, none above `max` (a power of two). */
export function powerOfTwoChunks<T>(items: readonly T[], max: number): T[][] {
  const out: T[][] = [];
  let size = max;
  for (let i = 0; i < items.length; i += size) {
    while (size > items.length - i) size >>= 1;
    out.push(items.slice(i, i + size));
  }
  return out;
}

function sameValues(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
