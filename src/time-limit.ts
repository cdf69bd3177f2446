/** Bounding a wait without cancelling the work behind it. */

/**
 * `work`, or a rejection with `message` once `ms` have passed. The work
 * itself goes on (there is nothing to cancel a database query with); only
 * the wait is bounded. Its later failure is not left unhandled.
 */
export function withinMs<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), Math.max(0, ms));
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
