/**
 * A loopback TCP proxy in front of PostgreSQL, for network faults the
 * server itself never produces: a connection that goes silent (no reset,
 * no data) and one that drops without PostgreSQL's error message.
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
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  frozen: boolean;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let opened = 0;
  const server: Server = createServer((client) => {
    opened++;
    const upstream = createConnection(targetPort, '127.0.0.1');
    const pair: Pair = { client, upstream, frozen: false };
    pairs.add(pair);
    client.on('data', (d) => !pair.frozen && upstream.write(d));
    upstream.on('data', (d) => !pair.frozen && client.write(d));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      upstream.destroy();
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
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise((r) => server.close(r));
    },
  };
}
