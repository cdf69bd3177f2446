/** Public data shapes shared by the protocol, the HTTP API and the library. */

/** What the tracker records about a connection's origin. Every field is bounded. */
export interface UserMetadata {
  remoteAddress: string;
  userAgent: string;
  origin: string;
  path: string;
  query: Record<string, string>;
  /** The optional `?user=` label. */
  user?: string;
}

/** One live connection, as stored in `users` and sent to admins. */
export interface User {
  id: string;
  sessionId: string;
  /** ISO-8601 UTC with milliseconds. */
  connectedAt: string;
  /** ISO-8601 UTC with milliseconds. */
  lastActiveAt: string;
  metadata: UserMetadata;
}

export interface Touch {
  sessionId: string;
  lastActiveAt: string;
  /** Messages received on the connection so far (admin stream only; optional for older peers). */
  messages?: number;
}
