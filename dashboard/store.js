// The dashboard's model: every known connection, the distinct user labels,
// and the filtered + sorted view the table renders. Stream events mutate it;
// `derive()` brings the view up to date at most once per frame.

import { shortBrowser } from '/admin/format.js';

/** How long a new row stays highlighted, and a closed row lingers faded. */
export const HIGHLIGHT_MS = 2000;
export const GONE_MS = 1500;

const STRING_KEYS = new Set(['sessionId', 'label', 'address', 'browser']);
export const SORT_KEYS = ['sessionId', 'label', 'address', 'browser', 'connectedAt', 'lastActiveAt', 'messages'];

function toRow(user, addedAt) {
  const metadata = user.metadata ?? {};
  const label = typeof metadata.user === 'string' ? metadata.user : '';
  const address = metadata.remoteAddress ?? '';
  const ua = metadata.userAgent ?? '';
  const browser = shortBrowser(ua);
  return {
    sessionId: user.sessionId,
    label,
    address,
    ua,
    browser,
    connectedAt: Date.parse(user.connectedAt),
    lastActiveAt: Date.parse(user.lastActiveAt),
    // Sort keys and the filter haystack are computed once per row, not per frame.
    // Blank labels sort after every named one.
    keys: { sessionId: user.sessionId, label: label === '' ? '\uffff' : label.toLowerCase(), address, browser: browser.toLowerCase() },
    haystack: `${label}\n${address}\n${user.sessionId}\n${ua}\n${browser}`.toLowerCase(),
    addedAt,
    goneAt: 0,
    kicking: false,
    // Messages so far (admin stream `messages`); null when the server did not say.
    messages: typeof user.messages === 'number' ? user.messages : null,
  };
}

export class Store {
  /** sessionId → row; closed rows stay until their fade ends. */
  rows = new Map();
  /** label → number of open connections carrying it. */
  labels = new Map();
  /** Open connections (rows not yet closed). */
  live = 0;
  view = [];
  filter = '';
  sort = { key: 'connectedAt', dir: -1 };
  #rebuild = true;
  #resort = false;
  #dropped = false;
  #added = [];

  /** Replace everything with a snapshot. `highlight` marks rows we had not seen. */
  replace(users, now, highlight) {
    const previous = this.rows;
    this.rows = new Map();
    this.labels = new Map();
    this.live = 0;
    for (const user of users) {
      const row = toRow(user, highlight && !previous.has(user.sessionId) ? now : 0);
      this.rows.set(row.sessionId, row);
      this.#count(row, 1);
    }
    this.#rebuild = true;
  }

  clear() {
    this.replace([], 0, false);
  }

  add(user, now) {
    const existing = this.rows.get(user.sessionId);
    if (existing !== undefined) {
      if (existing.goneAt === 0) return;
      this.rows.delete(user.sessionId);
      this.#dropped = true;
    }
    const row = toRow(user, now);
    row.messages ??= 0; // a connection seen arriving has sent nothing yet
    this.rows.set(row.sessionId, row);
    this.#count(row, 1);
    this.#added.push(row);
  }

  /** Mark closed: counts drop now, the row fades out over GONE_MS. */
  remove(sessionId, now) {
    const row = this.rows.get(sessionId);
    if (row === undefined || row.goneAt !== 0) return;
    row.goneAt = now;
    row.kicking = false;
    this.#count(row, -1);
  }

  touch(sessionId, lastActiveAt, messages) {
    const row = this.rows.get(sessionId);
    if (row === undefined) return;
    if (typeof messages === 'number' && messages > (row.messages ?? -1)) {
      row.messages = messages;
      if (this.sort.key === 'messages') this.#resort = true;
    }
    const t = Date.parse(lastActiveAt);
    if (t > row.lastActiveAt) {
      row.lastActiveAt = t;
      if (this.sort.key === 'lastActiveAt') this.#resort = true;
    }
  }

  /** Forget rows whose fade has ended. Returns true if any went. */
  expire(now) {
    let any = false;
    for (const row of this.rows.values()) {
      if (row.goneAt !== 0 && now - row.goneAt >= GONE_MS) {
        this.rows.delete(row.sessionId);
        any = true;
      }
    }
    if (any) this.#dropped = true;
    return any;
  }

  idleCount(now, idleMs) {
    let n = 0;
    for (const row of this.rows.values()) if (row.goneAt === 0 && now - row.lastActiveAt > idleMs) n++;
    return n;
  }

  setFilter(text) {
    const filter = text.trim().toLowerCase();
    if (filter === this.filter) return;
    this.filter = filter;
    this.#rebuild = true;
  }

  /** Same key flips the direction; a new key starts descending for times and counts, ascending for text. */
  setSort(key) {
    if (!SORT_KEYS.includes(key)) return;
    this.sort = this.sort.key === key ? { key, dir: -this.sort.dir } : { key, dir: STRING_KEYS.has(key) ? 1 : -1 };
    this.#resort = true;
  }

  /** Bring `view` up to date; returns true if it changed. */
  derive() {
    const compare = this.#comparator();
    const filter = this.filter;
    const matches = (row) => filter === '' || row.haystack.includes(filter);
    if (this.#rebuild) {
      this.view = [];
      for (const row of this.rows.values()) if (matches(row)) this.view.push(row);
      this.view.sort(compare);
    } else if (this.#dropped || this.#added.length > 0 || this.#resort) {
      if (this.#dropped) this.view = this.view.filter((row) => this.rows.get(row.sessionId) === row);
      for (const row of this.#added) if (matches(row)) this.view.push(row);
      // TimSort finds the already-sorted run, so this is near-linear.
      this.view.sort(compare);
    } else {
      return false;
    }
    this.#rebuild = this.#resort = this.#dropped = false;
    this.#added = [];
    return true;
  }

  #count(row, delta) {
    this.live += delta;
    if (row.label === '') return;
    const n = (this.labels.get(row.label) ?? 0) + delta;
    if (n > 0) this.labels.set(row.label, n);
    else this.labels.delete(row.label);
  }

  #comparator() {
    const { key, dir } = this.sort;
    if (STRING_KEYS.has(key)) {
      return (a, b) => {
        const x = a.keys[key];
        const y = b.keys[key];
        if (x !== y) return x < y ? -dir : dir;
        return a.sessionId < b.sessionId ? -dir : a.sessionId > b.sessionId ? dir : 0;
      };
    }
    // An unreported message count (null) sorts as less than none.
    return (a, b) => {
      const d = (a[key] ?? -1) - (b[key] ?? -1);
      if (d !== 0) return d * dir;
      return a.sessionId < b.sessionId ? -dir : a.sessionId > b.sessionId ? dir : 0;
    };
  }
}
