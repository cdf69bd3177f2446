/**
 * The address a request comes from. Behind a reverse proxy or a load
 * balancer the socket's peer is the proxy, so every client would share
 * one address: one per-address connection limit for all of them, one
 * lockout that a single wrong token sets off for every admin, and the
 * proxy's address in every row and history record. With trusted proxies
 * configured (TRUST_PROXY), the address is read from X-Forwarded-For,
 * from the right, past the trusted hops: the rightmost address that no
 * trusted proxy gave is one the client could not forge.
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** Gives the client address of a request. */
export type ClientAddress = (req: IncomingMessage) => string;

/** The socket's peer: the client when no proxy stands between. */
export function socketAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? '';
}

/**
 * Why `rule` is not an address or a CIDR block (`10.0.0.0/8`, `::1`,
 * `fd00::/8`), or undefined when it is one.
 */
export function proxyRuleProblem(rule: string): string | undefined {
  const [address, bits, extra] = rule.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return `${JSON.stringify(rule)} is not an IP address or CIDR block`;
  if (bits === undefined) return undefined;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `${JSON.stringify(rule)} has a prefix length outside 0-${max}`;
  return undefined;
}

/**
 * A ClientAddress for requests that arrive through the proxies in
 * `trusted` (addresses or CIDR blocks, checked by proxyRuleProblem first);
 * none: the socket's peer.
 */
export function clientAddressResolver(trusted: readonly string[] | undefined): ClientAddress {
  if (trusted === undefined || trusted.length === 0) return socketAddress;
  const list = new BlockList();
  for (const rule of trusted) {
    const [address, bits] = rule.split('/') as [string, string | undefined];
    const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  // BlockList matches an IPv4-mapped IPv6 peer (::ffff:10.0.0.1) against IPv4 rules too.
  const isTrusted = (address: string) => list.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
  return (req) => {
    let address = socketAddress(req);
    if (!isTrusted(address)) return address;
    const header = req.headers['x-forwarded-for'];
    if (header === undefined) return address;
    // Node joins repeated X-Forwarded-For headers with ', ', in order.
    const hops = (Array.isArray(header) ? header.join(',') : header).split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hopAddress(hops[i]!.trim());
      // Something no proxy writes: stop at the last hop that is known good.
      if (hop === undefined) return address;
      address = hop;
      if (!isTrusted(hop)) return hop;
    }
    return address;
  };
}

/** An X-Forwarded-For entry's address, without the port some proxies add; undefined if it is none. */
function hopAddress(entry: string): string | undefined {
  if (isIP(entry) !== 0) return entry;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (bracketed && isIP(bracketed[1]!) === 6) return bracketed[1];
  const withPort = /^([\d.]+):\d+$/.exec(entry);
  if (withPort && isIP(withPort[1]!) === 4) return withPort[1];
  return undefined;
}
