/** A live-set entry with no socket behind it, for tests that drive the record writer directly. */
import { randomUUID } from 'node:crypto';
import type { ClosingWebSocket } from '../../src/closing-websocket.js';
import type { LiveConnection } from '../../src/live-set.js';

export function liveConnection(ids: { id?: string; sessionId?: string } = {}): LiveConnection {
  const now = Date.now();
  const at = new Date(now).toISOString();
  return {
    user: {
      id: ids.id ?? randomUUID(),
      sessionId: ids.sessionId ?? randomUUID(),
      connectedAt: at,
      lastActiveAt: at,
      metadata: { remoteAddress: '127.0.0.1', userAgent: '', origin: '', path: '/ws', query: {} },
    },
    // The writer never touches the socket.
    socket: undefined as unknown as ClosingWebSocket,
    ip: '127.0.0.1',
    connectedMs: now,
    protocolErrorCode: undefined,
    lastActiveMs: now,
    alive: true,
    touchQueued: false,
    welcomed: false,
    tokens: 10,
    tokensAt: now,
    messages: 0,
    bytesIn: 0,
  };
}
