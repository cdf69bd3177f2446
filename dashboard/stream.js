// The admin stream connection: first-message auth, reconnect with backoff
// (each reconnect takes a fresh snapshot), keepalive pings, a snapshot the
// server announces with `resync` on a live socket, and delivery of
// incoming messages in batches, once per animation frame.

const AUTH_FAILED = 'authentication failed';
const POLICY_VIOLATION = 1008;
const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** Consecutive failed attempts before giving up ("failed", with a retry button). */
const MAX_ATTEMPTS = 12;
/**
 * No snapshot this long after opening: the link is dead. A browser sees a
 * message only once all of it has arrived, and the server gives a large
 * snapshot up to 5 minutes to be written (a 15 MB one over a slow link),
 * closing the socket itself past that; giving up sooner would throw away
 * a snapshot still arriving and ask for a fresh one, again and again.
 */
const SNAPSHOT_TIMEOUT_MS = 6 * 60_000;
/**
 * Still no snapshot this long after connecting: the state is reported
 * again with `slow: true`, so the page can offer "Retry now" (a link that
 * died before the snapshot would otherwise keep it waiting the full
 * SNAPSHOT_TIMEOUT_MS). The socket itself keeps waiting.
 */
const SNAPSHOT_SLOW_MS = 15_000;
const PING_EVERY_MS = 20_000;
/** No pong this long after a ping: the link is dead. */
const PONG_TIMEOUT_MS = 10_000;
/** Hidden tabs get no animation frames; flush on a timer so the queue stays bounded. */
const FALLBACK_FLUSH_MS = 500;

export class AdminStream {
  #url;
  #token;
  #onBatch;
  #onState;
  #ws = null;
  #attempt = 0;
  #timers = new Set();
  #queue = [];
  #frame = 0;
  #fallback = 0;
  #stopped = false;
  #live = false;
  #pingTimer = 0;
  #pongTimer = 0;
  /**
   * Why the stream is down: the latest drop of this run of reconnects, sent
   * with every 'reconnecting' report (the page shows it as is, so it must
   * always be the current one). Cleared when live, and by a fresh start.
   */
  #reason = '';
  /** While a snapshot announced by `resync` is awaited: a token for that wait, else null. */
  #resync = null;

  /**
   * onBatch(messages): the parsed messages received since the last frame.
   * onState(state, detail): 'connecting' | 'live' | 'reconnecting' | 'failed';
   * 'connecting' and 'reconnecting' come again with `detail.slow` when the
   * snapshot is still awaited SNAPSHOT_SLOW_MS after connecting; 'live'
   * comes with `detail.resync` while a fresh snapshot the server announced
   * is on its way, and again without it once it is here.
   * `detail.reason` is why the stream is down, on every 'reconnecting' and
   * 'failed' report; 'connecting' and 'live' have none.
   */
  constructor({ url, token, onBatch, onState }) {
    this.#url = url;
    this.#token = token;
    this.#onBatch = onBatch;
    this.#onState = onState;
  }

  start() {
    this.#stopped = false;
    this.#reason = '';
    this.#connect();
  }

  stop() {
    this.#stopped = true;
    this.#clearTimers();
    this.#detach(true);
    // What arrived but waits for its frame is dropped, not delivered: the
    // page has moved on (signed out, or another token), and a snapshot
    // landing after sign-out would show the board again, full of data.
    cancelAnimationFrame(this.#frame);
    clearTimeout(this.#fallback);
    this.#frame = this.#fallback = 0;
    this.#queue = [];
  }

  /** Skip the wait of a pending reconnect (or retry after "failed"). */
  retryNow() {
    if (this.#stopped) return;
    this.#clearTimers();
    this.#detach(true);
    this.#attempt = 0;
    // A fresh start: the drop that led here is no longer the state.
    this.#reason = '';
    this.#connect();
  }

  /** Ask the server to close a client connection. False if not live. */
  kick(sessionId) {
    return this.#send({ type: 'kick', sessionId });
  }

  #send(message) {
    if (!this.#live || this.#ws?.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(message));
    return true;
  }

  #connect() {
    const state = this.#attempt === 0 ? 'connecting' : 'reconnecting';
    const attempt = this.#attempt;
    const reason = state === 'reconnecting' ? this.#reason : undefined;
    this.#onState(state, { attempt, reason });
    let ws;
    try {
      ws = new WebSocket(this.#url);
    } catch (error) {
      this.#dropped(`cannot connect: ${error.message}`);
      return;
    }
    this.#ws = ws;
    this.#later(SNAPSHOT_SLOW_MS, () => {
      if (!this.#live && this.#ws === ws) this.#onState(state, { attempt, reason, slow: true });
    });
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'auth', token: this.#token }));
      this.#later(SNAPSHOT_TIMEOUT_MS, () => {
        if (!this.#live && this.#ws === ws) this.#dropped('no snapshot from the server');
      });
    };
    ws.onmessage = (event) => this.#receive(event.data);
    ws.onclose = (event) => {
      if (this.#ws !== ws) return;
      if (event.code === POLICY_VIOLATION && event.reason === AUTH_FAILED) {
        this.#detach(false);
        this.#stopped = true;
        this.#onState('failed', { auth: true, reason: 'The server rejected this admin token.' });
        return;
      }
      this.#dropped(event.reason ? `closed: ${event.reason} (${event.code})` : `connection lost (${event.code})`);
    };
    ws.onerror = () => {}; // close follows with the details we have
  }

  #receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    clearTimeout(this.#pongTimer);
    if (message.type === 'pong') return;
    if (message.type === 'resync') {
      // Before the first snapshot there is nothing to keep, and its own wait applies.
      if (this.#live) this.#awaitResync();
      return;
    }
    if (message.type === 'snapshot') {
      this.#live = true;
      this.#resync = null;
      this.#attempt = 0;
      this.#reason = '';
      this.#onState('live', {});
      this.#startPings();
    }
    this.#queue.push(message);
    this.#schedule();
  }

  #schedule() {
    if (this.#frame === 0) this.#frame = requestAnimationFrame(() => this.#flush());
    if (this.#fallback === 0) this.#fallback = setTimeout(() => this.#flush(), FALLBACK_FLUSH_MS);
  }

  #flush() {
    cancelAnimationFrame(this.#frame);
    clearTimeout(this.#fallback);
    this.#frame = this.#fallback = 0;
    if (this.#queue.length === 0) return;
    const batch = this.#queue;
    this.#queue = [];
    this.#onBatch(batch);
  }

  /**
   * The server has sent `resync`: a fresh snapshot follows, as large as a
   * first one, and a browser sees no message (no pong either) until all
   * of it has arrived, which over a slow link takes minutes. Silence now
   * is that snapshot arriving, not a dead link: pings stop until it is
   * here, and it is waited for as long as a first one. The board keeps
   * what it shows; the snapshot replaces it.
   */
  #awaitResync() {
    const ws = this.#ws;
    const wait = {};
    this.#resync = wait;
    clearInterval(this.#pingTimer);
    this.#onState('live', { resync: true });
    this.#later(SNAPSHOT_TIMEOUT_MS, () => {
      if (this.#resync === wait && this.#ws === ws) this.#dropped('no snapshot from the server');
    });
  }

  #startPings() {
    clearInterval(this.#pingTimer);
    const ws = this.#ws;
    this.#pingTimer = setInterval(() => {
      if (!this.#send({ type: 'ping' })) return;
      clearTimeout(this.#pongTimer);
      this.#pongTimer = setTimeout(() => {
        if (this.#ws === ws) this.#dropped('no answer from the server');
      }, PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }

  /** The link is gone: deliver what arrived, then retry with backoff or give up. */
  #dropped(reason) {
    this.#detach(true);
    this.#flush();
    if (this.#stopped) return;
    this.#reason = reason;
    this.#attempt += 1;
    if (this.#attempt > MAX_ATTEMPTS) {
      this.#onState('failed', { auth: false, reason: `Gave up after ${MAX_ATTEMPTS} attempts: ${reason}` });
      return;
    }
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** (this.#attempt - 1));
    // Jitter spreads reconnects when a restart drops many dashboards at once.
    const delayMs = Math.round(base * (0.75 + Math.random() * 0.5));
    this.#onState('reconnecting', { attempt: this.#attempt, delayMs, reason, at: Date.now() + delayMs });
    this.#later(delayMs, () => this.#connect());
  }

  #detach(close) {
    const ws = this.#ws;
    this.#ws = null;
    this.#live = false;
    this.#resync = null;
    clearInterval(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    if (ws === null) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    if (close && ws.readyState <= WebSocket.OPEN) ws.close(1000);
  }

  #later(ms, fn) {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  #clearTimers() {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
