/**
 * TRUST_PROXY (client-address.ts): behind trusted proxies a client's
 * address comes from X-Forwarded-For, so per-address limits, lockouts and
 * the recorded address are the client's, not the proxy's; from anyone
 * else the header is ignored, so a client cannot pick its own address.
 */
import type { IncomingMessage } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { clientAddressResolver, proxyRuleProblem, socketAddress } from '../src/client-address.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { createHttpServer } from '../src/http-server.js';
import { createTracker } from '../src/tracker.js';
import { startTracker, TOKEN } from './helpers/tracker.js';
import { connectClient, upgradeStatus } from './helpers/ws-client.js';

const test = suite('trust proxy');

function request(peer: string, forwardedFor?: string): IncomingMessage {
  const headers = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
  return { socket: { remoteAddress: peer }, headers } as unknown as IncomingMessage;
}

test('the address is read from the right, past trusted hops only', () => {
  const address = clientAddressResolver(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
  assert.is(address(request('198.51.100.4', '203.0.113.9')), '198.51.100.4', 'an untrusted peer: its header is ignored');
  assert.is(address(request('127.0.0.1')), '127.0.0.1', 'a trusted peer without the header');
  assert.is(address(request('127.0.0.1', '203.0.113.9')), '203.0.113.9');
  assert.is(address(request('127.0.0.1', '6.6.6.6, 203.0.113.9')), '203.0.113.9', 'what the client wrote itself is left of its real address');
  assert.is(address(request('127.0.0.1', '6.6.6.6, 203.0.113.9, 10.1.2.3')), '203.0.113.9', 'a chain of trusted proxies');
  assert.is(address(request('127.0.0.1', '10.9.9.9, 10.1.2.3')), '10.9.9.9', 'all trusted: the leftmost');
  assert.is(address(request('::ffff:127.0.0.1', '203.0.113.9')), '203.0.113.9', 'an IPv4-mapped peer matches its IPv4 rule');
  assert.is(address(request('fd00::1', '2001:db8::7')), '2001:db8::7');
  assert.is(address(request('127.0.0.1', '[2001:db8::7]:4711')), '2001:db8::7', 'a bracketed IPv6 hop with a port');
  assert.is(address(request('127.0.0.1', '203.0.113.9:4711')), '203.0.113.9', 'an IPv4 hop with a port');
  assert.is(address(request('127.0.0.1', 'unknown, 10.1.2.3')), '10.1.2.3', 'a hop that is no address: the last good one');
  assert.is(address(request('127.0.0.1', 'not-an-ip')), '127.0.0.1');
  assert.is(clientAddressResolver(undefined), socketAddress, 'none configured: the socket\'s peer, as before');
});

test('rules are addresses or CIDR blocks; anything else is refused by the CLI and the library', () => {
  for (const rule of ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', '0.0.0.0/0']) assert.is(proxyRuleProblem(rule), undefined, rule);
  for (const rule of ['localhost', '10.0.0.0/33', '::1/129', '10.0.0.0/8/1', '10.0.0.0/x', '']) assert.ok(proxyRuleProblem(rule), rule);
  assert.equal(loadConfig({ TRUST_PROXY: '127.0.0.1, 10.0.0.0/8' }, []).trustProxy, ['127.0.0.1', '10.0.0.0/8']);
  assert.is(loadConfig({}, []).trustProxy, undefined);
  assert.throws(() => loadConfig({ TRUST_PROXY: '10.0.0.0/33' }, []), (e: Error) => e instanceof ConfigError && /TRUST_PROXY.*prefix length/.test(e.message));
  assert.throws(() => loadConfig({}, ['--trust-proxy', 'proxy.internal']), (e: Error) => e instanceof ConfigError && /--trust-proxy.*not an IP/.test(e.message));
  const server = createHttpServer();
  const base = { server, databasePath: ':memory:', adminToken: TOKEN };
  assert.throws(() => createTracker({ ...base, trustProxy: ['localhost'] }), (e: Error) => e instanceof RangeError && /trustProxy/.test(e.message));
  assert.throws(() => createTracker({ ...base, trustProxy: '127.0.0.1' as unknown as string[] }), (e: Error) => e instanceof TypeError);
});

test('behind a trusted proxy: the row records the client, and the per-address limit counts clients, not the proxy', async () => {
  const t = await startTracker({ trustProxy: ['127.0.0.1'], maxConnectionsPerIp: 1 });
  const via = (address: string) => ({ headers: { 'x-forwarded-for': `6.6.6.6, ${address}` } });
  try {
    const a = await connectClient(t.wsUrl('/ws'), via('203.0.113.9'));
    const b = await connectClient(t.wsUrl('/ws'), via('203.0.113.10'));
    const users = ((await (await fetch(t.httpUrl('/active-users'), { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { users: any[] }).users;
    assert.equal(users.map((u: any) => u.metadata.remoteAddress).sort(), ['203.0.113.10', '203.0.113.9']);
    assert.is(await upgradeStatus(t.wsUrl('/ws'), via('203.0.113.9')), 429, 'a second connection from the same client');
    await a.close();
    await b.close();
  } finally {
    await t.close();
  }
});

test('behind a trusted proxy: one client\'s failed tokens lock out that client only', async () => {
  const t = await startTracker({ trustProxy: ['127.0.0.1'], authFailureLimit: 2 });
  const get = (address: string, token: string) =>
    fetch(t.httpUrl('/active-users'), { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': address } }).then((r) => r.status);
  try {
    assert.is(await get('203.0.113.66', 'wrong-token-0123456789'), 401);
    assert.is(await get('203.0.113.66', 'wrong-token-0123456789'), 401);
    assert.is(await get('203.0.113.66', TOKEN), 429, 'the guesser is locked out');
    assert.is(await get('203.0.113.7', TOKEN), 200, 'another admin behind the same proxy is not');
  } finally {
    await t.close();
  }
});

test('without TRUST_PROXY the header is ignored: a client cannot choose its address', async () => {
  const t = await startTracker({ maxConnectionsPerIp: 1 });
  try {
    const a = await connectClient(t.wsUrl('/ws'), { headers: { 'x-forwarded-for': '203.0.113.9' } });
    const users = ((await (await fetch(t.httpUrl('/active-users'), { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { users: any[] }).users;
    assert.is(users[0].metadata.remoteAddress, '127.0.0.1');
    assert.is(await upgradeStatus(t.wsUrl('/ws'), { headers: { 'x-forwarded-for': '203.0.113.10' } }), 429);
    await a.close();
  } finally {
    await t.close();
  }
});

test.run();
