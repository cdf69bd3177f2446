/**
 * One run of an expensive read serves every caller that asked while it was
 * waiting to start. A caller never gets a result from a run that began
 * before it asked (it waits for the next one), and no more than one run is
 * in flight or queued at a time: fifty dashboards polling the same stats
 * cost two runs at most, not fifty.
 */
export function coalesce<T>(task: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let queued: Promise<T> | undefined;
  const run = (): Promise<T> => {
    const current = task();
    running = current;
    const done = () => {
      if (running === current) running = undefined;
    };
    current.then(done, done);
    return current;
  };
  return () => {
    if (queued !== undefined) return queued;
    if (running === undefined) return run();
    const ignore = () => {};
    queued = running.then(ignore, ignore).then(() => {
      queued = undefined;
      return run();
    });
    return queued;
  };
}
