/**
 * What both servers under test share: an HTTP server on loopback port 0,
 * the IPC commands the orchestrator uses to read memory and to time a
 * disconnect storm, and a clean exit (so `--cpu-prof` writes its profile).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ready, serve, type Handlers } from './ipc.js';
import { wallMs } from './stats.js';

export const BENCH_TOKEN = 'bench-admin-token-0123456789';

/**
 * Counts the connections the server still holds (for the tracker: rows
 * whose `disconnected` event, emitted after the DELETE committed, has not
 * come yet) and stamps the moment the count reaches zero after `armDrain`.
 */
export class DrainWatch {
  #held = 0;
  #armed = false;
  #drainedAt: number | undefined;
  #waiters: ((at: number) => void)[] = [];

  get held(): number {
    return this.#held;
  }

  up(): void {
    this.#held++;
  }

  down(): void {
    this.#held--;
    if (this.#armed && this.#held === 0) {
      this.#armed = false;
      this.#drainedAt = wallMs();
      for (const waiter of this.#waiters.splice(0)) waiter(this.#drainedAt);
    }
  }

  arm(): { held: number } {
    this.#armed = true;
    this.#drainedAt = undefined;
    return { held: this.#held };
  }

  wait(): Promise<number> {
    if (this.#drainedAt !== undefined) return Promise.resolve(this.#drainedAt);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

export interface BenchServer {
  handlers: Handlers;
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  onStop(): Promise<void>;
}

/** The in-process profiler of a timed window, while one runs. */
let profiler: Session | undefined;

/** Sample every 100 µs: a window holds about a second of work. */
async function startProfiler(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return session;
}

/** Start listening on 127.0.0.1:0 and serve the orchestrator's commands. */
export async function runBenchServer(setup: (server: Server) => Promise<BenchServer>): Promise<void> {
  let bench: BenchServer | undefined;
  const server = createServer((req, res) => bench!.onRequest(req, res));
  // The default backlog (511) drops SYNs during a connect storm.
  bench = await setup(server);
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  const port = (server.address() as AddressInfo).port;
  const fdLimit = readFdLimit();
  serve({
    ...bench.handlers,
    // Read at start: at the ceiling there is no descriptor left to read it with.
    fdLimit: () => fdLimit,
    /** CPU time this process has used so far (user + system, µs). */
    cpuMicros() {
      const usage = process.cpuUsage();
      return usage.user + usage.system;
    },
    /** Start sampling this process's main thread (`--profile-window`). */
    async profileStart() {
      profiler ??= await startProfiler();
      return {};
    },
    /** Stop sampling and write the profile to `file`. */
    async profileStop({ file }: { file: string }) {
      if (profiler === undefined) return {};
      const { profile } = await profiler.post('Profiler.stop');
      profiler.disconnect();
      profiler = undefined;
      writeFileSync(file, JSON.stringify(profile));
      return {};
    },
    rss() {
      globalThis.gc?.();
      const usage = process.memoryUsage();
      return { rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external };
    },
    async stop() {
      server.close();
      server.closeAllConnections();
      await bench!.onStop();
      // Exit after the reply is sent; a normal exit lets --cpu-prof write its file.
      setTimeout(() => process.exit(0), 50);
      return {};
    },
  });
  process.on('disconnect', () => process.exit(0));
  ready({ port });
}

/** The soft limit on open files, which bounds the ceiling scenario. */
function readFdLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    return line === undefined ? undefined : Number(line.split(/\s{2,}/)[1]);
  } catch {
    return undefined;
  }
}
