/**
 * What ws's redundant receiver ends cost per close, in one process: a ws
 * server and CONNECTIONS clients on loopback, all clients closing at once,
 * with the server's sockets left stock or given endReceiverOnce
 * (src/receiver-end.ts). Client work is the same in both, so the
 * difference in process CPU per close is the server's saving. Alternating
 * passes, medians. Run with `node dist/bench/micro-close-end.js`.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { spareRedundantEnds } from '../src/receiver-end.js';
import { median } from './lib/stats.js';

const CONNECTIONS = 2000;
const PASSES = 7;
const KINDS = ['stock ws', 'receiver ends once'] as const;

async function pass(spare: boolean): Promise<{ cpuUs: number; redundant: number; redundantUs: number }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', clientTracking: false, perMessageDeflate: false });
  await once(wss, 'listening');
  let closed = 0;
  let redundant = 0;
  let redundantNs = 0n;
  let allClosed!: () => void;
  const done = new Promise<void>((resolve) => (allClosed = resolve));
  wss.on('connection', (ws) => {
    const receiver = (ws as unknown as { _receiver: { end(): unknown; writableEnded: boolean } })._receiver;
    if (spare) spareRedundantEnds(receiver);
    // Count and time ws's ends of a receiver that has already ended (both kinds).
    const end = receiver.end as (...a: unknown[]) => unknown;
    receiver.end = function (this: typeof receiver, ...args: unknown[]) {
      if (!(args.length === 0 && this.writableEnded)) return end.apply(this, args);
      redundant++;
      const t0 = process.hrtime.bigint();
      const result = end.apply(this, args);
      redundantNs += process.hrtime.bigint() - t0;
      return result;
    };
    ws.on('close', () => {
      if (++closed === CONNECTIONS) allClosed();
    });
  });
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const clients: WebSocket[] = [];
  for (let i = 0; i < CONNECTIONS; i += 100) {
    const batch = Array.from({ length: Math.min(100, CONNECTIONS - i) }, () => new WebSocket(url, { perMessageDeflate: false }));
    await Promise.all(batch.map((c) => once(c, 'open')));
    clients.push(...batch);
  }
  const before = process.cpuUsage();
  for (const c of clients) c.close(1000);
  await done;
  await Promise.all(clients.map((c) => (c.readyState === WebSocket.CLOSED ? undefined : once(c, 'close'))));
  const used = process.cpuUsage(before);
  wss.close();
  return { cpuUs: (used.user + used.system) / CONNECTIONS, redundant: redundant / CONNECTIONS, redundantUs: Number(redundantNs) / 1000 / CONNECTIONS };
}

const cpu: Record<string, number[]> = { [KINDS[0]]: [], [KINDS[1]]: [] };
const inRedundant: Record<string, number[]> = { [KINDS[0]]: [], [KINDS[1]]: [] };
const redundantPerClose: Record<string, number> = {};
await pass(false); // warm-up
for (let i = 0; i < PASSES; i++) {
  for (const kind of i % 2 === 0 ? KINDS : [...KINDS].reverse()) {
    const r = await pass(kind === KINDS[1]);
    cpu[kind]!.push(r.cpuUs);
    inRedundant[kind]!.push(r.redundantUs);
    redundantPerClose[kind] = r.redundant;
  }
}
console.log(`# node dist/bench/micro-close-end.js   (one process: ws server and ${CONNECTIONS} clients on loopback; machine shared, noisy)`);
console.log(`${CONNECTIONS} clients close at once, ${PASSES} alternating passes, medians per close:`);
console.log('  server: wall µs inside the ends ws makes of an already-ended receiver (how many per close)');
console.log('  process: CPU µs of server and clients together (the clients\' work is the same in both)');
for (const kind of KINDS) {
  const list = (values: number[]) => values.map((v) => v.toFixed(1)).join(' ');
  console.log(`  ${kind.padEnd(20)} server ${median(inRedundant[kind]!).toFixed(2)} µs in ${redundantPerClose[kind]!.toFixed(2)} ends   process ${median(cpu[kind]!).toFixed(1)} µs (passes: ${list(cpu[kind]!)})`);
}
