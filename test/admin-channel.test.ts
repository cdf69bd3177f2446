/**
 * AdminChannel on its own, over a real ws server: the fragmented send
 * (sendInFragments) and what happens when a message fails halfway.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketServer } from 'ws';
import { AdminChannel, type AdminSession } from '../src/admin-channel.js';
import { AuthThrottle } from '../src/auth.js';
import { captureLogs } from './helpers/log-capture.js';
import { Opcode, rawUpgrade } from './helpers/raw-ws.js';
import { waitFor } from './helpers/ws-client.js';

const fragments = suite('AdminChannel.sendInFragments');

/** A channel whose every socket is accepted as authenticated and subscribed with `subscribe`. */
async function startChannel(subscribe: (channel: AdminChannel, admin: AdminSession) => void) {
  const logs = captureLogs('warn');
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const channel: AdminChannel = new AdminChannel({
    token: 'unused',
    maxAdmins: 50,
    authTimeoutMs: 5000,
    maxBufferedBytes: 1024 * 1024,
    throttle: new AuthThrottle(5, 1000),
    logger: logs.logger,
    subscribe: (admin) => subscribe(channel, admin),
    kick: () => false,
  });
  wss.on('connection', (socket) => channel.accept(socket, '127.0.0.1', true));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = async () => {
    channel.terminateAll();
    wss.close();
    await new Promise((resolve) => server.close(resolve));
  };
  return { channel, port, logs, close };
}

fragments('pieces go out as one message: a text frame, continuations, the last with FIN', async () => {
  const c = await startChannel((channel, admin) => {
    channel.sendInFragments(admin, (fragment) => {
      fragment('{"type":"snapshot",', false);
      fragment('"users":[]', false);
      fragment('}', true);
    });
    channel.join(admin);
  });
  try {
    const peer = await rawUpgrade(c.port, '/');
    await waitFor(() => peer.frames.some((f) => f.fin), 3000, 'the last fragment');
    assert.equal(peer.frames.map((f) => [f.opcode, f.fin]), [[Opcode.TEXT, false], [Opcode.CONTINUATION, false], [Opcode.CONTINUATION, true]]);
    assert.equal(JSON.parse(Buffer.concat(peer.frames.map((f) => f.payload)).toString()), { type: 'snapshot', users: [] });
    peer.destroy();
  } finally {
    await c.close();
  }
});

fragments('a message that fails after its first fragment ends that stream, logged, and the admin is forgotten', async () => {
  const c = await startChannel((channel, admin) => {
    channel.sendInFragments(admin, (fragment) => {
      fragment('{"type":"snapshot","users":[', false);
      throw new Error('serializer broke');
    });
    channel.join(admin);
  });
  try {
    const peer = await rawUpgrade(c.port, '/');
    const closed = await peer.closed;
    assert.is(closed.code, 1006, 'terminated: no close frame can follow half a message');
    assert.is(c.channel.size, 0);
    assert.is(c.channel.audienceSize, 0, 'not joined to the audience');
    assert.is(c.logs.find('admin message failed; closing its stream')[0]?.err?.message, 'serializer broke');
  } finally {
    await c.close();
  }
});

fragments.run();
