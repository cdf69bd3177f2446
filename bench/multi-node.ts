/**
 * Multi-node benchmark: a throwaway PostgreSQL, N tracker nodes (real CLI
 * processes sharing it), each holding M client connections from its own
 * load process (several 127.x source addresses), and one admin on node 0
 * that must see all N×M. Reports the admin's snapshot time, the time of
 * GET /active-users for the whole list on node 0, and the cross-node
 * event latency (a probe connects/leaves on the last node, the admin on
 * node 0 hears it).
 *
 *   node dist/bench/multi-node.js [--nodes 4] [--per-node 15000] [--probes 40]
 *
 * Everything is bounded: loopback only, load processes exit by themselves,
 * and the whole run is abandoned after --timeout-ms.
 */
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { ActiveUsersLimits } from '../src/constants.js';
import { startCli, type CliProcess } from '../test/helpers/cli.js';
import { startLoadClients, type LoadHandle } from '../test/helpers/load-clients.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { median } from './lib/stats.js';

export interface MultiNodeBenchOptions {
  nodes: number;
  perNode: number;
  probes: number;
  timeoutMs: number;
  log?: (line: string) => void;
}

export interface MultiNodeBenchResult {
  nodes: number;
  connections: number;
  /** Admin bearer upgrade sent → snapshot received, ms. */
  snapshotMs: number;
  snapshotUsers: number;
  /** GET /active-users for the whole list on node 0, request sent → body parsed, ms. */
  activeUsersMs: number;
  /** Probe on the last node: upgrade sent → admin on node 0 hears `connected`, ms. */
  connectLatencyMs: { median: number; p95: number };
  /** Probe closes → admin on node 0 hears `disconnected`, ms. */
  disconnectLatencyMs: { median: number; p95: number };
  /** Time to open every load connection, ms. */
  fillMs: number;
}

const TOKEN = 'bench-multi-node-token-0123456789';

function p95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? NaN;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

export async function runMultiNodeBench(options: MultiNodeBenchOptions): Promise<MultiNodeBenchResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const pg = await startPostgres();
  const nodes: CliProcess[] = [];
  const loads: LoadHandle[] = [];
  let admin: WebSocket | undefined;
  const abandon = setTimeout(() => {
    log(`multi-node: timed out after ${options.timeoutMs} ms; stopping`);
    for (const n of nodes) n.child.kill('SIGKILL');
    void pg.stop().finally(() => process.exit(1));
  }, options.timeoutMs);
  abandon.unref();
  try {
    const url = await pg.createDatabase('bench');
    const ports: number[] = [];
    for (let i = 0; i < options.nodes; i++) {
      // LOG_LEVEL info: startCli waits for the 'listening' line; per-connection lines are debug.
      const node = await startCli({
        DATABASE_URL: url,
        NODE_ID: `bench-${i}`,
        ADMIN_TOKEN: TOKEN,
        LOG_LEVEL: 'info',
        MAX_CONNECTIONS: String(options.perNode + 1000),
        MAX_CONNECTIONS_PER_IP: String(options.perNode + 1000),
        POOL_SIZE: '5',
      });
      nodes.push(node);
      ports.push(node.port);
    }
    log(`multi-node: ${options.nodes} nodes up on ports ${ports.join(', ')}`);

    const fillStart = performance.now();
    await Promise.all(
      ports.map(async (port) => {
        const load = await startLoadClients({ url: `ws://127.0.0.1:${port}/ws`, count: options.perNode, concurrency: 100, lifetimeMs: options.timeoutMs });
        loads.push(load);
        if (load.failed > 0) log(`multi-node: ${load.failed} load connections failed on port ${port}`);
      }),
    );
    const fillMs = performance.now() - fillStart;
    const connections = loads.reduce((n, l) => n + l.opened, 0);
    log(`multi-node: ${connections} connections open in ${Math.round(fillMs)} ms`);

    // Let the last inserts commit before the snapshot.
    await new Promise((r) => setTimeout(r, 1000));
    const snapStart = performance.now();
    admin = new WebSocket(`ws://127.0.0.1:${ports[0]}/admin/stream`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const waiters = new Map<string, (at: number) => void>();
    /** Arrival of every `connected` event: it may come before the probe's own welcome. */
    const connectedAt = new Map<string, number>();
    const snapshot = await new Promise<any>((resolve, reject) => {
      admin!.on('message', (data) => {
        const at = performance.now();
        const message = JSON.parse(data.toString());
        if (message.type === 'snapshot') resolve(message);
        else if (message.type === 'connected') {
          if (message.user.metadata?.user === 'probe') connectedAt.set(message.user.sessionId, at);
          waiters.get(`c:${message.user.sessionId}`)?.(at);
        }
        else if (message.type === 'disconnected') waiters.get(`d:${message.sessionId}`)?.(at);
      });
      admin!.once('error', reject);
    });
    const snapshotMs = performance.now() - snapStart;
    log(`multi-node: admin snapshot of ${snapshot.users.length} users in ${Math.round(snapshotMs)} ms`);

    const listStart = performance.now();
    const res = await fetch(`http://127.0.0.1:${ports[0]}/active-users?limit=${ActiveUsersLimits.maxPage}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    if (!res.ok) throw new Error(`GET /active-users answered ${res.status}`);
    const listed = (await res.json()) as { users: unknown[] };
    const activeUsersMs = performance.now() - listStart;
    log(`multi-node: GET /active-users of ${listed.users.length} users in ${Math.round(activeUsersMs)} ms`);

    const lastPort = ports[ports.length - 1]!;
    const connectLatency: number[] = [];
    const disconnectLatency: number[] = [];
    const heard = (key: string) => new Promise<number>((resolve) => waiters.set(key, (at) => (waiters.delete(key), resolve(at))));
    for (let i = 0; i < options.probes; i++) {
      const sent = performance.now();
      const probe = new WebSocket(`ws://127.0.0.1:${lastPort}/ws?user=probe`, { localAddress: '127.0.0.9' });
      const welcome = await new Promise<any>((resolve, reject) => {
        probe.on('message', (d) => {
          const m = JSON.parse(d.toString());
          if (m.type === 'welcome') resolve(m);
        });
        probe.once('error', reject);
      });
      // The welcome is sent after the commit, so the admin may have heard it already.
      const at =
        connectedAt.get(welcome.sessionId) ??
        (await Promise.race([heard(`c:${welcome.sessionId}`), new Promise<number>((r) => setTimeout(() => r(NaN), 10_000))]));
      connectLatency.push(at - sent);
      const gone = heard(`d:${welcome.sessionId}`);
      const closing = performance.now();
      probe.close();
      disconnectLatency.push((await Promise.race([gone, new Promise<number>((r) => setTimeout(() => r(NaN), 10_000))])) - closing);
      await new Promise((r) => setTimeout(r, 50));
    }
    return {
      nodes: options.nodes,
      connections,
      snapshotMs: round(snapshotMs),
      snapshotUsers: snapshot.users.length,
      activeUsersMs: round(activeUsersMs),
      connectLatencyMs: { median: round(median(connectLatency)), p95: round(p95(connectLatency)) },
      disconnectLatencyMs: { median: round(median(disconnectLatency)), p95: round(p95(disconnectLatency)) },
      fillMs: Math.round(fillMs),
    };
  } finally {
    clearTimeout(abandon);
    admin?.terminate();
    await Promise.all(loads.map((l) => l.stop()));
    for (const node of nodes) node.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => Promise.race([n.exited, new Promise((r) => setTimeout(r, 10_000))])));
    for (const node of nodes) node.child.kill('SIGKILL');
    await pg.stop();
  }
}

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} needs a positive whole number`);
  return n;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await runMultiNodeBench({
    nodes: flag('nodes', 4),
    perNode: flag('per-node', 15_000),
    probes: flag('probes', 40),
    timeoutMs: flag('timeout-ms', 300_000),
  });
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
