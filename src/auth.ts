/** Admin token checks. Tokens are compared in constant time and never logged. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { MIN_TOKEN_LENGTH } from './constants.js';

/** Hash both sides first so that the comparison also hides the length. */
export function tokensEqual(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/** The token from `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match ? match[1] : undefined;
}

/**
 * Why `token` cannot serve as an admin or metrics token, or undefined when
 * it can. It travels in an `Authorization: Bearer` header, which ends at
 * whitespace and carries no text beyond Latin-1: a token with a space or a
 * non-ASCII character would be refused on every HTTP request.
 */
export function tokenProblem(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH) return `must be at least ${MIN_TOKEN_LENGTH} characters`;
  if (!/^[\x21-\x7e]+$/.test(token)) return 'must be printable ASCII with no spaces';
  return undefined;
}

export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * Counts consecutive failed admin authentications per address. After
 * `limit` failures in a row the address is locked out for `cooldownMs`;
 * a success clears its count.
 */
const MAX_TRACKED_ADDRESSES = 10_000;

export class AuthThrottle {
  readonly #failures = new Map<string, { count: number; lockedUntil: number }>();
  readonly #limit: number;
  readonly #cooldownMs: number;

  constructor(limit: number, cooldownMs: number) {
    this.#limit = limit;
    this.#cooldownMs = cooldownMs;
  }

  isLocked(ip: string, now = Date.now()): boolean {
    return this.lockedForMs(ip, now) > 0;
  }

  /** How long the address stays locked out; 0 when it is not. */
  lockedForMs(ip: string, now = Date.now()): number {
    const entry = this.#failures.get(ip);
    if (entry === undefined || entry.lockedUntil === 0) return 0;
    if (entry.lockedUntil > now) return entry.lockedUntil - now;
    this.#failures.delete(ip);
    return 0;
  }

  /** Record a failure; true when this one triggers the lockout. */
  fail(ip: string, now = Date.now()): boolean {
    const entry = this.#failures.get(ip) ?? { count: 0, lockedUntil: 0 };
    entry.count++;
    if (entry.count >= this.#limit) entry.lockedUntil = now + this.#cooldownMs;
    // Bounded, so that a spray of addresses cannot grow it forever; the
    // oldest entry goes first.
    if (!this.#failures.has(ip) && this.#failures.size >= MAX_TRACKED_ADDRESSES) {
      this.#failures.delete(this.#failures.keys().next().value!);
    }
    this.#failures.set(ip, entry);
    return entry.lockedUntil !== 0;
  }

  succeed(ip: string): void {
    this.#failures.delete(ip);
  }
}
