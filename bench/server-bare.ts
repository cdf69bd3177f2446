/**
 * The physical reference: a plain `ws` server speaking the client protocol
 * (a welcome on connect, `{"type":"ping"}` → `{"type":"pong"}`) and doing
 * no tracking at all. Same ws options as the tracker. Forked by bench/run.ts.
 * With --spare-ends (run.ts --bare-spare-ends) it also skips ws's redundant
 * receiver ends as the tracker does, so that a run can show the cost of
 * the tracking without that saving.
 */
import { randomUUID } from 'node:crypto';
import { WebSocketServer, type RawData } from 'ws';
import { Defaults, Paths } from '../src/constants.js';
import { spareRedundantEnds } from '../src/receiver-end.js';
import { DrainWatch, runBenchServer } from './lib/server-common.js';

const PONG = JSON.stringify({ type: 'pong' });
const spareEnds = process.argv.includes('--spare-ends');

function isPing(data: RawData): boolean {
  try {
    const message = JSON.parse(data.toString());
    return message !== null && typeof message === 'object' && message.type === 'ping';
  } catch {
    return false;
  }
}

await runBenchServer(async (server) => {
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: Defaults.maxPayload });
  const open = new DrainWatch();
  server.on('upgrade', (req, socket, head) => {
    if (!req.url?.startsWith(Paths.CLIENT)) {
      socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    wss.handleUpgrade(req, socket, head, (ws) => {
      open.up();
      if (spareEnds) spareRedundantEnds((ws as unknown as { _receiver: unknown })._receiver);
      ws.on('message', (data, isBinary) => {
        if (!isBinary && isPing(data)) ws.send(PONG);
      });
      ws.on('error', () => {});
      ws.on('close', () => open.down());
      ws.send(JSON.stringify({ type: 'welcome', id: randomUUID(), sessionId: randomUUID() }));
    });
  });
  return {
    handlers: {
      armDrain: () => open.arm(),
      waitDrain: () => open.wait(),
      rows: () => open.held,
      held: () => ({ live: open.held, rows: open.held }),
    },
    onRequest(_req, res) {
      res.statusCode = 404;
      res.end();
    },
    async onStop() {},
  };
});
