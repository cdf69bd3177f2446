/**
 * Methods on the tracker's HTTP paths, with a host app mounting
 * handleRequest beside its own routes (README "Library"): a wrong method on
 * a path the tracker serves is 405 with `Allow`; any other path, whatever
 * its method, is left to the app.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createTracker, type Tracker } from '../src/tracker.js';
import { TOKEN, tempDir } from './helpers/tracker.js';

const test = suite('http methods');

interface HostApp {
  port: number;
  base: string;
  tracker: Tracker;
  close(): Promise<void>;
}

/** A host app with its own routes under /admin, answering 404 for what neither serves. */
async function startHostApp(): Promise<HostApp> {
  const dir = tempDir();
  const server: Server = createServer((req, res) => {
    if (tracker.handleRequest(req, res)) return;
    if (req.url === '/admin/settings') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`host app ${req.method}`);
      return;
    }
    res.writeHead(404).end();
  });
  const tracker = createTracker({ server, databasePath: join(dir, 'roster.db'), adminToken: TOKEN });
  await tracker.start();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  return {
    port,
    base,
    tracker,
    async close() {
      await tracker.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('paths under /admin that are not dashboard files are the host app\'s, whatever the method', async () => {
  const app = await startHostApp();
  try {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE']) {
      const res = await fetch(`${app.base}/admin/settings`, { method });
      assert.is(res.status, 200, `${method} /admin/settings`);
      assert.is(await res.text(), `host app ${method}`);
    }
    assert.is((await fetch(`${app.base}/admin/no-such-file`, { method: 'POST' })).status, 404, 'the app\'s 404, not a 405');
    // The dashboard's own files keep their 405.
    for (const path of ['/admin', '/admin/', '/admin/app.js']) {
      const res = await fetch(app.base + path, { method: 'POST' });
      assert.is(res.status, 405, `POST ${path}`);
      assert.is(res.headers.get('allow'), 'GET, HEAD');
    }
    assert.is((await fetch(`${app.base}/admin/app.js`, { method: 'HEAD' })).status, 200);
  } finally {
    await app.close();
  }
});

interface RawResponse {
  status: number;
  /** Lower-cased names; the last value of a repeated header. */
  headers: Record<string, string>;
  body: string;
}

/** Send `head` as is and read everything until the server closes the connection. */
function rawRequest(port: number, head: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine?.split(' ')[1]), headers, body: text.slice(end + 4) });
    });
    socket.write(head);
  });
}

const UPGRADE_HEADERS = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

test('/ws and /admin/stream: 426 to a plain GET or HEAD, 405 with Allow to other methods, plain or upgrade', async () => {
  const app = await startHostApp();
  try {
    for (const path of ['/ws', '/admin/stream']) {
      for (const method of ['GET', 'HEAD']) {
        const res = await fetch(app.base + path, { method });
        assert.is(res.status, 426, `${method} ${path}`);
        assert.is(res.headers.get('upgrade'), 'websocket');
      }
      for (const method of ['POST', 'PUT', 'DELETE']) {
        const res = await fetch(app.base + path, { method });
        assert.is(res.status, 405, `plain ${method} ${path}`);
        assert.is(res.headers.get('allow'), 'GET, HEAD');
      }
      // An upgrade that is not a GET is refused by the tracker, as JSON with Allow, and closed.
      for (const method of ['POST', 'HEAD']) {
        const res = await rawRequest(app.port, `${method} ${path} HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEADERS}\r\n`);
        assert.is(res.status, 405, `${method} upgrade on ${path}`);
        assert.is(res.headers.allow, 'GET');
        assert.match(res.headers['content-type'] ?? '', 'application/json');
        if (method === 'HEAD') assert.is(res.body, '', 'a HEAD response has no body');
        else assert.equal(JSON.parse(res.body), { error: 'method not allowed' });
      }
    }
    assert.is(app.tracker.connections, 0);
  } finally {
    await app.close();
  }
});

test('the 426 names Upgrade in Connection and closes: a client that asks to close (or speaks HTTP/1.0) is not held open', async () => {
  const app = await startHostApp();
  try {
    for (const head of ['GET /ws HTTP/1.0\r\nHost: x\r\n\r\n', 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'GET /ws HTTP/1.1\r\nHost: x\r\n\r\n']) {
      const res = await rawRequest(app.port, head);
      assert.is(res.status, 426, head);
      assert.is(res.headers.upgrade, 'websocket');
      assert.is(res.headers.connection, 'Upgrade, close', head);
    }
  } finally {
    await app.close();
  }
});

test('a plain request carrying Upgrade: h2c (curl --http2, Java HttpClient) reaches the routes as plain HTTP; one with a body is refused', async () => {
  const app = await startHostApp();
  const h2c = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n';
  try {
    const health = await rawRequest(app.port, `GET /health HTTP/1.1\r\nHost: x\r\n${h2c}\r\n`);
    assert.is(health.status, 200, 'the tracker\'s own route');
    assert.is(JSON.parse(health.body).status, 'healthy');
    assert.is(health.headers.connection, 'close');
    const host = await rawRequest(app.port, `GET /admin/settings HTTP/1.1\r\nHost: x\r\n${h2c}\r\n`);
    assert.is(host.status, 200, 'the host app\'s route');
    assert.match(host.body, 'host app GET');
    const head = await rawRequest(app.port, `HEAD /admin/settings HTTP/1.1\r\nHost: x\r\n${h2c}\r\n`);
    assert.is(head.status, 200);
    assert.is(head.body, '', 'no body for HEAD');
    // The parser has stopped at the headers: the body would reach no route.
    const post = await rawRequest(app.port, `POST /admin/settings HTTP/1.1\r\nHost: x\r\n${h2c}Content-Length: 5\r\n\r\nhello`);
    assert.is(post.status, 400);
    assert.match(JSON.parse(post.body).error, 'body');
    // On the tracker's own paths an h2c upgrade is no WebSocket: no row.
    const ws = await rawRequest(app.port, `GET /ws HTTP/1.1\r\nHost: x\r\n${h2c}\r\n`);
    assert.is(ws.status, 400);
    assert.is(app.tracker.connections, 0);
  } finally {
    await app.close();
  }
});

test.run();
