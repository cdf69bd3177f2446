/**
 * Methods on the tracker's HTTP paths, with a host app mounting
 * handleRequest beside its own routes (README "Library"): a wrong method on
 * a path the tracker serves is 405 with `Allow`; any other path, whatever
 * its method, is left to the app.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createTracker, type Tracker } from '../src/tracker.js';
import { TOKEN, tempDir } from './helpers/tracker.js';

const test = suite('http methods');

interface HostApp {
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
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
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

test.run();
