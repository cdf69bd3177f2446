/**
 * Builds the bounded `metadata` stored for each connection from the
 * upgrade request. Every value is cut to a fixed length and the whole is
 * capped, so a hostile query string or user agent cannot bloat the table.
 */
import type { IncomingMessage } from 'node:http';
import { MetadataLimits } from './constants.js';
import type { RequestTarget } from './http-util.js';
import { cutText, storableText } from './storable-text.js';
import type { UserMetadata } from './types.js';

const MAX_QUERY_PARAMS = 16;

/** Cut to the field limit and made storable (storable-text.ts): nothing PostgreSQL refuses. */
function clip(value: string | undefined): string {
  if (value === undefined) return '';
  return storableText(cutText(value, MetadataLimits.maxFieldLength));
}

/** Most clients send no query: they all share this one (frozen; nothing writes to a stored query). */
const NO_QUERY: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** `remoteAddress` is the client's, past any trusted proxy (client-address.ts). */
export function buildMetadata(req: IncomingMessage, url: RequestTarget, remoteAddress: string): UserMetadata {
  // Reading searchParams builds a URLSearchParams; most clients send no query.
  const searchParams = url.search === '' ? undefined : url.searchParams;
  const query: Record<string, string> = searchParams === undefined ? NO_QUERY : {};
  let params = 0;
  for (const [key, value] of searchParams ?? []) {
    if (++params > MAX_QUERY_PARAMS) break;
    // Object.create(null) would serialize the same; a plain object with a
    // "__proto__" key must still never reach the prototype.
    if (key === '__proto__') continue;
    query[clip(key)] = clip(value);
  }
  const metadata: UserMetadata = {
    remoteAddress: clip(remoteAddress),
    userAgent: clip(req.headers['user-agent']),
    origin: clip(req.headers.origin),
    path: clip(url.pathname),
    query,
  };
  const user = searchParams?.get('user');
  if (user) metadata.user = clip(user);
  // Serializing to measure costs more than everything above; skip it when
  // even worst-case escaping (6 bytes per character) cannot pass the cap.
  if (rawLength(metadata) * 6 + 128 <= MetadataLimits.maxTotalLength) return metadata;
  if (JSON.stringify(metadata).length > MetadataLimits.maxTotalLength) metadata.query = {};
  if (JSON.stringify(metadata).length > MetadataLimits.maxTotalLength) {
    // Only the free-text fields can still be long; cut them harder.
    metadata.userAgent = cutText(metadata.userAgent, 128);
    metadata.origin = cutText(metadata.origin, 128);
    metadata.path = cutText(metadata.path, 128);
    if (metadata.user) metadata.user = cutText(metadata.user, 128);
  }
  return metadata;
}

/** Characters in every key and value, before JSON escaping and punctuation. */
function rawLength(metadata: UserMetadata): number {
  let n = metadata.remoteAddress.length + metadata.userAgent.length + metadata.origin.length + metadata.path.length + (metadata.user?.length ?? 0);
  for (const key in metadata.query) n += key.length + metadata.query[key]!.length + 6;
  return n;
}
