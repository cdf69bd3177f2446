/**
 * A loopback TCP proxy in front of PostgreSQL, for network faults the
 * server itself never produces: a connection that goes silent (no reset,
 * no data), one that drops without PostgreSQL's error message, and one
 * partitioned at a chosen message (the server never hears of it).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Connections opened through the proxy so far, closed ones included. */
  readonly opened: number;
  /** Stop forwarding on the open connections without closing them (new ones forward). */
  freeze(): void;
  /** Reset every open connection at once, as a dead peer or a firewall would. */
  reset(): void;
  /**
   * Arm a partition: the first connection for which `trigger` returns true
   * on a chunk its client sends drops that chunk and everything after it,
   * both ways, and its server side is never closed, not even when the
   * client gives up. `trigger` sees each chunk as latin1 text, with a
   * scratch object per connection for what it saw before.
   */
  partitionOn(trigger: (chunk: string, seen: Record<string, unknown>) => boolean): void;
  /** Connections partitioned so far. */
  readonly partitioned: number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  frozen: boolean;
  seen: Record<string, unknown>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  /** Their server side stays open until close(). */
  const cut = new Set<Pair>();
  let opened = 0;
  let trigger: ((chunk: string, seen: Record<string, unknown>) => boolean) | undefined;
  const server: Server = createServer((client) => {
    opened++;
    const upstream = createConnection(targetPort, '127.0.0.1');
    const pair: Pair = { client, upstream, frozen: false, seen: {} };
    pairs.add(pair);
    client.on('data', (d) => {
      if (!pair.frozen && trigger?.(d.toString('latin1'), pair.seen)) {
        trigger = undefined;
        pair.frozen = true;
        cut.add(pair);
      }
      if (!pair.frozen) upstream.write(d);
    });
    upstream.on('data', (d) => !pair.frozen && client.write(d));
    client.on('error', () => !cut.has(pair) && upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      if (!cut.has(pair)) upstream.destroy();
      pairs.delete(pair);
    });
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    get opened() {
      return opened;
    },
    freeze() {
      for (const pair of pairs) pair.frozen = true;
    },
    reset() {
      for (const pair of pairs) {
        pair.client.resetAndDestroy();
        pair.upstream.destroy();
      }
    },
    partitionOn(test) {
      trigger = test;
    },
    get partitioned() {
      return cut.size;
    },
    async close() {
      for (const pair of [...pairs, ...cut]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise((r) => server.close(r));
    },
  };
}
