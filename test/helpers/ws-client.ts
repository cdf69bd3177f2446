/** A real ws client with an inbox, for awaiting specific messages in tests. */
import WebSocket from 'ws';

export interface Closed {
  code: number;
  reason: string;
}

export interface TestClient {
  ws: WebSocket;
  /** Every parsed JSON message received so far, in order. */
  inbox: any[];
  /** Resolve with the first message (already received or future) matching `match`. */
  next(match?: (message: any) => boolean, timeoutMs?: number): Promise<any>;
  /** Resolves when the socket closes. */
  closed: Promise<Closed>;
  send(message: unknown): void;
  close(): Promise<Closed>;
}

export function connect(url: string, options: WebSocket.ClientOptions = {}): TestClient {
  const ws = new WebSocket(url, options);
  const inbox: any[] = [];
  const waiters: { match: (m: any) => boolean; resolve: (m: any) => void; consumed: number }[] = [];
  let cursor = 0;
  ws.on('message', (data) => {
    let message: any;
    try {
      message = JSON.parse(data.toString());
    } catch {
      message = { raw: data.toString() };
    }
    inbox.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.match(message)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  });
  ws.on('error', () => {});
  const closed = new Promise<Closed>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return {
    ws,
    inbox,
    closed,
    next(match = () => true, timeoutMs = 5000) {
      // Messages are consumed in order, so repeated next() calls walk the inbox.
      for (; cursor < inbox.length; cursor++) {
        if (match(inbox[cursor])) return Promise.resolve(inbox[cursor++]);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for a message; inbox: ${JSON.stringify(inbox).slice(0, 500)}`)), timeoutMs);
        waiters.push({
          match,
          consumed: 0,
          resolve: (m) => {
            clearTimeout(timer);
            cursor = inbox.length;
            resolve(m);
          },
        });
      });
    },
    send(message) {
      ws.send(typeof message === 'string' ? message : JSON.stringify(message));
    },
    close() {
      if (ws.readyState === WebSocket.CLOSED) return closed;
      ws.close();
      return closed;
    },
  };
}

/** Connect a client and wait for its welcome. */
export async function connectClient(url: string, options?: WebSocket.ClientOptions): Promise<TestClient & { sessionId: string; id: string }> {
  const client = connect(url, options);
  const welcome = await client.next((m) => m.type === 'welcome');
  return Object.assign(client, { sessionId: welcome.sessionId as string, id: welcome.id as string });
}

/** Connect an admin with the bearer header and wait for its snapshot. */
export async function connectAdmin(url: string, token: string): Promise<TestClient & { snapshot: any[] }> {
  const admin = connect(url, { headers: { authorization: `Bearer ${token}` } });
  const snapshot = await admin.next((m) => m.type === 'snapshot');
  return Object.assign(admin, { snapshot: snapshot.users as any[] });
}

/** Resolve with the HTTP status of a refused upgrade (or 101 if accepted). */
export function upgradeStatus(url: string, options: WebSocket.ClientOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.terminate();
    });
    ws.on('error', (error) => reject(error));
  });
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
