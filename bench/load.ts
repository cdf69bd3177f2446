/**
 * The load generator, a separate process from the server under test.
 * It holds client sockets between commands, so a scenario can connect,
 * then measure, then close. Every wait is bounded by a timeout.
 * Forked by bench/run.ts; commands arrive over IPC (see lib/ipc.ts).
 */
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { ready, serve } from './lib/ipc.js';
import { percentile, wallMs } from './lib/stats.js';

const PING = JSON.stringify({ type: 'ping' });

interface Held {
  ws: WebSocket;
  /** What to do with the next message; swapped by each phase. */
  onMessage: ((data: WebSocket.RawData) => void) | undefined;
  sessionId?: string;
}

const held: Held[] = [];
const admins: WebSocket[] = [];
let admitHandler: ((message: any, at: number) => void) | undefined;

interface ConnectArgs {
  url: string;
  n: number;
  concurrency: number;
  /** Source addresses to rotate over (each 127.x has its own port range); none: the kernel picks. */
  sources: string[];
  /** Stop after this many failures in a row (the ceiling scenario). */
  stopAfterFailures?: number;
  timeoutMs: number;
}

/** Open `n` clients, at most `concurrency` in flight; each counts once its welcome arrives. */
function connect(args: ConnectArgs): Promise<{ ms: number; ok: number; failed: number; errors: Record<string, number> }> {
  const started = wallMs();
  const errors: Record<string, number> = {};
  let launched = 0;
  let ok = 0;
  let failed = 0;
  let inFlight = 0;
  let failedInRow = 0;
  let stop = false;
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(), args.timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      stop = true;
      resolve({ ms: wallMs() - started, ok, failed, errors });
    };
    const settle = (error: string | undefined) => {
      inFlight--;
      if (error === undefined) {
        ok++;
        failedInRow = 0;
      } else {
        failed++;
        failedInRow++;
        errors[error] = (errors[error] ?? 0) + 1;
        if (args.stopAfterFailures !== undefined && failedInRow >= args.stopAfterFailures) stop = true;
      }
      if (stop && inFlight === 0) finish();
      else if (!stop) pump();
      if (!stop && launched === args.n && inFlight === 0) finish();
    };
    const pump = () => {
      while (!stop && inFlight < args.concurrency && launched < args.n) {
        const source = args.sources.length > 0 ? args.sources[launched % args.sources.length] : undefined;
        launched++;
        inFlight++;
        open(args.url, source, settle);
      }
    };
    pump();
  });
}

function open(url: string, localAddress: string | undefined, settle: (error: string | undefined) => void): void {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...(localAddress ? { localAddress } : {}) });
  const client: Held = { ws, onMessage: undefined };
  let settled = false;
  const done = (error: string | undefined) => {
    if (settled) return;
    settled = true;
    if (error === undefined) held.push(client);
    else ws.terminate();
    settle(error);
  };
  client.onMessage = (data) => {
    const message = JSON.parse(data.toString());
    if (message.type !== 'welcome') return done(`unexpected first message ${message.type}`);
    client.sessionId = message.sessionId;
    client.onMessage = undefined;
    done(undefined);
  };
  // One listener for the socket's life; phases swap `onMessage`.
  ws.on('message', (data) => client.onMessage?.(data));
  ws.on('unexpected-response', (_req, res) => done(`HTTP ${res.statusCode}`));
  ws.on('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
  ws.on('close', (code) => done(`closed ${code} before welcome`));
}

/** Every held client does `m` sequential ping → pong round trips, all at once. */
function pingPong(args: { m: number; timeoutMs: number }): Promise<{ ms: number; roundTrips: number }> {
  const started = wallMs();
  let roundTrips = 0;
  let running = held.length;
  return new Promise((resolve, reject) => {
    if (running === 0) return resolve({ ms: 0, roundTrips: 0 });
    const timer = setTimeout(() => reject(new Error(`ping-pong timed out after ${roundTrips} round trips`)), args.timeoutMs);
    for (const client of held) {
      let left = args.m;
      client.onMessage = () => {
        roundTrips++;
        if (--left > 0) {
          client.ws.send(PING);
          return;
        }
        client.onMessage = undefined;
        if (--running === 0) {
          clearTimeout(timer);
          resolve({ ms: wallMs() - started, roundTrips });
        }
      };
      client.ws.send(PING);
    }
  });
}

/** Start a close handshake on every held client; the server side times the rest. */
function closeAll(): { closing: number } {
  const n = held.length;
  for (const client of held.splice(0)) client.ws.close();
  return { closing: n };
}

function terminateAll(): { terminated: number } {
  const n = held.length + admins.length;
  for (const client of held.splice(0)) client.ws.terminate();
  for (const admin of admins.splice(0)) admin.terminate();
  return { terminated: n };
}

/** Open an admin stream socket; resolves at its snapshot with the time it took. */
function openAdmin(url: string, token: string, timeoutMs: number): Promise<{ ws: WebSocket; ms: number; bytes: number }> {
  const started = wallMs();
  const ws = new WebSocket(url, { perMessageDeflate: false, headers: { authorization: `Bearer ${token}` } });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('admin snapshot timed out')), timeoutMs);
    ws.once('message', (data) => {
      const ms = wallMs() - started;
      clearTimeout(timer);
      const bytes = (data as Buffer).length;
      ws.on('message', (next) => admitHandler?.(JSON.parse(next.toString()), wallMs()));
      resolve({ ws, ms, bytes });
    });
    ws.on('unexpected-response', (_req, res) => reject(new Error(`admin HTTP ${res.statusCode}`)));
    ws.on('error', reject);
  });
}

async function attachAdmins(args: { url: string; token: string; n: number }): Promise<{ snapshotMs: number[] }> {
  const snapshotMs: number[] = [];
  for (let i = 0; i < args.n; i++) {
    const admin = await openAdmin(args.url, args.token, 30_000);
    admins.push(admin.ws);
    snapshotMs.push(admin.ms);
  }
  return { snapshotMs };
}

interface FanoutArgs {
  url: string;
  probes: number;
  intervalMs: number;
  timeoutMs: number;
}

/**
 * Connect `probes` clients one every `intervalMs`, then close them the same
 * way, timing each from the client's connect (or close) call to the event
 * at every attached admin.
 */
async function fanout(args: FanoutArgs) {
  const expected = args.probes * admins.length;
  const connected: number[] = [];
  const disconnected: number[] = [];
  const openedAt = new Map<string, number>();
  const closedAt = new Map<string, number>();
  let onProgress: (() => void) | undefined;
  admitHandler = (message, at) => {
    if (message.type === 'connected') {
      const started = openedAt.get(message.user?.metadata?.user);
      if (started !== undefined) connected.push(at - started);
    } else if (message.type === 'disconnected') {
      const started = closedAt.get(message.sessionId);
      if (started !== undefined) disconnected.push(at - started);
    } else {
      return;
    }
    onProgress?.();
  };
  const waitFor = (samples: number[]) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, args.timeoutMs);
      onProgress = () => {
        if (samples.length >= expected) {
          clearTimeout(timer);
          resolve();
        }
      };
      onProgress();
    });

  const probes: Held[] = [];
  for (let i = 0; i < args.probes; i++) {
    const label = `probe-${i}`;
    const ws = new WebSocket(`${args.url}?user=${label}`, { perMessageDeflate: false });
    const probe: Held = { ws, onMessage: undefined };
    probe.onMessage = (data) => {
      probe.sessionId = JSON.parse(data.toString()).sessionId;
      probe.onMessage = undefined;
    };
    ws.on('message', (data) => probe.onMessage?.(data));
    ws.on('error', () => {});
    openedAt.set(label, wallMs());
    probes.push(probe);
    await sleep(args.intervalMs);
  }
  await waitFor(connected);
  for (const probe of probes) {
    if (probe.sessionId === undefined) continue;
    closedAt.set(probe.sessionId, wallMs());
    probe.ws.close();
    await sleep(args.intervalMs);
  }
  await waitFor(disconnected);
  admitHandler = undefined;
  onProgress = undefined;
  for (const probe of probes) probe.ws.terminate();
  return {
    expected,
    connectedSamples: connected.length,
    disconnectedSamples: disconnected.length,
    connectedP50: percentile(connected, 50),
    connectedP99: percentile(connected, 99),
    disconnectedP50: percentile(disconnected, 50),
    disconnectedP99: percentile(disconnected, 99),
  };
}

/**
 * Between timed requests: what the last one left behind (on this side a
 * 3.5 MB message, on the server a closing socket) is dealt with here, not
 * inside the next one's window.
 */
const SETTLE_MS = 100;

/**
 * A fresh admin's snapshot, `reps` times in a row; the socket is closed
 * after each. The last snapshot is parsed, after the loop, to count its
 * users: parsing each inside the loop left 10k objects of garbage that
 * this process collected in the middle of the next one's timing.
 */
async function snapshots(args: { url: string; token: string; reps: number }) {
  const ms: number[] = [];
  let data: Buffer = Buffer.alloc(0);
  for (let i = 0; i < args.reps; i++) {
    if (i > 0) await sleep(SETTLE_MS);
    const ws = new WebSocket(args.url, { perMessageDeflate: false, headers: { authorization: `Bearer ${args.token}` } });
    const started = wallMs();
    data = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('snapshot timed out')), 30_000);
      ws.once('message', (d) => {
        clearTimeout(timer);
        resolve(d as Buffer);
      });
      ws.on('error', reject);
    });
    ms.push(wallMs() - started);
    ws.terminate();
  }
  return { ms, users: JSON.parse(data.toString()).users.length as number };
}

/** GET /active-users `reps` times; timed until the whole body has arrived. The last body is parsed, after the loop. */
async function activeUsers(args: { url: string; token: string; reps: number }) {
  const ms: number[] = [];
  let body = '';
  for (let i = 0; i < args.reps; i++) {
    if (i > 0) await sleep(SETTLE_MS);
    const started = wallMs();
    body = await new Promise<string>((resolve, reject) => {
      const req = request(args.url, { headers: { authorization: `Bearer ${args.token}` }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.setTimeout(30_000, () => req.destroy(new Error('GET timed out')));
      req.end();
    });
    ms.push(wallMs() - started);
  }
  const parsed = JSON.parse(body);
  return { ms, users: Array.isArray(parsed) ? parsed.length : (parsed.users?.length ?? 0) };
}

serve({
  connect,
  pingPong,
  closeAll,
  terminateAll,
  attachAdmins,
  fanout,
  snapshots,
  activeUsers,
  held: () => ({ held: held.length }),
  /** CPU time this process has used so far (user + system, µs). */
  cpuMicros() {
    const usage = process.cpuUsage();
    return usage.user + usage.system;
  },
  stop() {
    terminateAll();
    setTimeout(() => process.exit(0), 50);
    return {};
  },
});
process.on('disconnect', () => process.exit(0));
ready();
