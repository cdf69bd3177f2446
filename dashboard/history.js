// Connection history on the dashboard: the last hour's session counts and
// median length (GET /history/stats), and the recent sessions with a user
// filter and cursor paging (GET /history). Self-contained: it builds its own
// collapsible section at the foot of the board (closed, it is one line, so
// the live table keeps its room) and reads the admin token app.js keeps in
// this tab's session storage. Values reach the DOM as text, never as HTML.

import { formatAbsolute, formatCount, formatDuration, formatRelative } from '/admin/format.js';

const TOKEN_KEY = 'roster.adminToken';
const PAGE_SIZE = 50;
/** The first page and the stats refresh this often while the board is shown. */
const REFRESH_MS = 15_000;

/** Names for the close codes a session can end with. */
const CLOSE_NAMES = {
  1000: 'normal',
  1001: 'going away',
  1002: 'protocol error',
  1005: 'no code',
  1006: 'dropped',
  1007: 'invalid data',
  1008: 'policy',
  1009: 'too big',
  1011: 'server error',
  4000: 'kicked',
};

function closeText(code, reason) {
  const name = CLOSE_NAMES[code] ?? (code >= 4000 ? 'application' : '');
  const head = name ? `${code} ${name}` : String(code);
  return reason ? `${head} · ${reason}` : head;
}

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'text') node.textContent = value;
    else if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/** Text set only when it changes: a live region announces every change, even to the same words. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function stat(id, label) {
  const dd = el('dd', { id, text: '—' });
  return { node: el('div', { class: 'stat' }, [el('dt', { text: label }), dd]), dd };
}

function buildSection() {
  const ended = stat('history-ended', 'Ended, last hour');
  const started = stat('history-started', 'Started, last hour');
  const median = stat('history-median', 'Median session');
  // In the summary, so that it shows with the section closed too. Only the
  // reason is in the alert: a screen reader announces every change of an
  // alert's text, and the seconds left of a lockout change on every refresh.
  const statsAlert = el('span', { id: 'history-stats-alert', role: 'alert' });
  const statsRetry = el('span', { id: 'history-stats-retry' });
  const statsError = el('p', { id: 'history-stats-error', class: 'error history-stats-error' }, [statsAlert, statsRetry]);
  statsError.hidden = true;
  const filter = el('input', { id: 'history-user', type: 'search', placeholder: 'exact user label', spellcheck: 'false', autocomplete: 'off' });
  const refresh = el('button', { class: 'btn', type: 'submit', text: 'Refresh' });
  const form = el('form', { class: 'tools', id: 'history-form' }, [
    el('div', { class: 'field grow' }, [el('label', { for: 'history-user', text: 'User' }), filter]),
    refresh,
  ]);
  const status = el('p', { id: 'history-status', class: 'shown', role: 'status', 'aria-live': 'polite' });
  const rows = el('tbody', { id: 'history-rows' });
  const head = el('tr', {}, COLUMNS.map(([name, key]) => el('th', { scope: 'col', class: `h-${key}`, text: name })));
  const table = el('table', { class: 'history-table', id: 'history-table' }, [
    el('caption', { class: 'visually-hidden', text: 'Ended sessions, newest first' }),
    el('thead', {}, [head]),
    rows,
  ]);
  const more = el('button', { class: 'btn', type: 'button', id: 'history-more', text: 'Load older sessions' });
  more.hidden = true;
  const section = el('details', { class: 'history', id: 'history' }, [
    el('summary', {}, [el('h2', { text: 'Connection history' }), el('dl', { class: 'stats history-stats' }, [ended.node, started.node, median.node]), statsError]),
    form,
    status,
    el('div', { class: 'history-scroller' }, [table]),
    more,
  ]);
  return { section, ended: ended.dd, started: started.dd, median: median.dd, statsError, statsAlert, statsRetry, filter, form, status, rows, more };
}

/** Column headings and the class that sizes each (history.css). */
const COLUMNS = [
  ['Ended', 'ended'],
  ['User', 'user'],
  ['Address', 'addr'],
  ['Duration', 'duration'],
  ['Messages', 'msgs'],
  ['Close', 'close'],
  ['Session', 'session'],
];

/** A text cell; the layout cuts long values short, so the full text is in its title. */
function textCell(text, props = {}) {
  return el('td', { ...props, title: text, text });
}

function sessionRow(s, now) {
  const ended = Date.parse(s.disconnectedAt);
  const when = el('time', { datetime: s.disconnectedAt, title: formatAbsolute(ended), text: formatRelative(ended, now) });
  // The random tail: a UUIDv7 starts with its time (see table.js).
  const session = el('code', { title: s.sessionId, text: s.sessionId.slice(-8) });
  return el('tr', { 'data-session-id': s.sessionId }, [
    el('td', {}, [when]),
    textCell(s.user ?? '—'),
    textCell(s.remoteAddress || '—'),
    el('td', { class: 'num', text: formatDuration(s.durationMs) }),
    el('td', { class: 'num', text: formatCount(s.messages) }),
    textCell(closeText(s.closeCode, s.closeReason), { class: 'history-close', 'data-code': String(s.closeCode) }),
    el('td', {}, [session]),
  ]);
}

/**
 * A refused request. Its message says why, in the server's words (its
 * `{"error"}`: "too many failed authentications; try later", "database
 * unavailable"), with the status and, for a lockout, when to try again;
 * `reason` is the same without the seconds left, which change from one
 * request to the next while the reason stays.
 */
class Refusal extends Error {
  constructor(what, status, retryAfter) {
    super(`${what} (${status}${retryAfter ? `, try again in ${retryAfter} s` : ''})`);
    this.reason = `${what} (${status})`;
    this.retryAfter = retryAfter;
  }
}

async function refusal(res, path) {
  const body = await res.json().catch(() => null);
  const what = typeof body?.error === 'string' ? body.error : `${path.split('?')[0]} answered`;
  return new Refusal(what, res.status, res.headers.get('retry-after'));
}

class HistoryView {
  #ui;
  #board;
  #cursor = null;
  #pagedOlder = false;
  #timer = 0;
  /** The page load in flight, if any: a newer request aborts it. */
  #pageLoad = null;
  /** Whether the load in flight is an older page. */
  #loadingOlder = false;
  /** "Load older" clicked while a fresh load was in flight: page on once it lands. */
  #olderWanted = false;
  /** The user filter the rows shown were loaded with; older pages keep to it. */
  #shownUser = '';

  constructor(board) {
    this.#board = board;
    this.#ui = buildSection();
    board.append(this.#ui.section);
    this.#ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.refresh();
    });
    this.#ui.more.addEventListener('click', () => void this.#loadPage(true));
    this.#ui.section.addEventListener('toggle', () => {
      if (this.#ui.section.open) void this.refresh();
    });
    // Refresh whenever the board appears (sign-in), then on a timer while it shows.
    new MutationObserver(() => this.#visibilityChanged()).observe(board, { attributes: true, attributeFilter: ['hidden'] });
    this.#visibilityChanged();
  }

  #visibilityChanged() {
    clearInterval(this.#timer);
    this.#timer = 0;
    if (this.#board.hidden) return;
    void this.refresh();
    this.#timer = setInterval(() => {
      void this.#loadStats();
      // Paging back in time must not be undone under the reader, nor a load
      // the reader started cut short by the timer.
      if (this.#ui.section.open && !this.#pagedOlder && this.#pageLoad === null) void this.#loadPage(false);
    }, REFRESH_MS);
  }

  /** Stats always; the list only while the section is open. */
  refresh() {
    this.#pagedOlder = false;
    this.#olderWanted = false;
    return Promise.all([this.#loadStats(), this.#ui.section.open ? this.#loadPage(false) : undefined]);
  }

  async #get(path, signal) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return null;
    const res = await fetch(path, { headers: { authorization: `Bearer ${token}` }, cache: 'no-store', signal });
    if (res.status === 401) throw new Error('the server rejected this admin token');
    if (!res.ok) throw await refusal(res, path);
    return res.json();
  }

  async #loadStats() {
    try {
      const stats = await this.#get('/history/stats');
      if (stats === null) return;
      this.#ui.ended.textContent = formatCount(stats.ended);
      this.#ui.started.textContent = formatCount(stats.started);
      this.#ui.median.textContent = formatDuration(stats.medianDurationMs);
      this.#showStatsError(null);
    } catch (error) {
      // The last figures would pass for current ones: say they are not.
      for (const dd of [this.#ui.ended, this.#ui.started, this.#ui.median]) dd.textContent = '—';
      this.#showStatsError(error);
    }
  }

  /**
   * The stats error line, or none (null). A failure is announced once: the
   * alert's text is set only when the reason changes, not again on each
   * 15 s refresh that fails the same way (setting even the same text would
   * be announced again). The seconds left of a lockout, outside the alert,
   * stay current. Recovery empties the alert, so a later failure is
   * announced even when its reason is the same.
   */
  #showStatsError(error) {
    const { statsError, statsAlert, statsRetry } = this.#ui;
    if (error === null) {
      statsError.hidden = true;
      statsAlert.textContent = statsRetry.textContent = '';
      return;
    }
    setText(statsAlert, `Stats unavailable: ${error.reason ?? error.message}.`);
    setText(statsRetry, error.retryAfter ? ` Try again in ${error.retryAfter} s.` : '');
    statsError.hidden = false;
  }

  /**
   * A fresh load (the first page, for the filter as it is now) aborts any
   * load in flight, so the table always ends up matching the filter box:
   * a filter submitted during a slow load is never dropped, and the older
   * answer never lands over the newer one. Paging older waits its turn:
   * clicked during a fresh load (opening the section, the 15 s refresh, a
   * new filter), it pages on from what that load shows; clicked during
   * another older page, it is the same click twice.
   */
  async #loadPage(older) {
    if (older && this.#pageLoad !== null) {
      if (!this.#loadingOlder) this.#olderWanted = true;
      return;
    }
    this.#pageLoad?.abort();
    const load = new AbortController();
    this.#pageLoad = load;
    this.#loadingOlder = older;
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    const user = older ? this.#shownUser : this.#ui.filter.value.trim();
    if (user) params.set('user', user);
    if (older && this.#cursor) params.set('before', this.#cursor);
    try {
      const page = await this.#get(`/history?${params}`, load.signal);
      if (page === null || load.signal.aborted) return;
      this.#shownUser = user;
      const now = Date.now();
      const rows = page.sessions.map((s) => sessionRow(s, now));
      if (older) {
        this.#pagedOlder = true;
        this.#ui.rows.append(...rows);
      } else {
        this.#ui.rows.replaceChildren(...rows);
      }
      this.#cursor = page.next;
      this.#ui.more.hidden = page.next === null;
      const shown = this.#ui.rows.childElementCount;
      const scope = user ? ` for “${user}”` : '';
      this.#showStatus(shown === 0 ? `No ended sessions${scope} yet.` : `${formatCount(shown)} sessions${scope}, newest first.`);
    } catch (error) {
      if (!load.signal.aborted) this.#showStatus(`History unavailable: ${error.message}.`);
    } finally {
      if (this.#pageLoad === load) {
        this.#pageLoad = null;
        const wanted = this.#olderWanted;
        this.#olderWanted = false;
        if (wanted && !this.#ui.more.hidden) void this.#loadPage(true);
      }
    }
  }

  #showStatus(text) {
    this.#ui.status.textContent = text;
  }
}

const board = document.getElementById('board');
if (board !== null) new HistoryView(board);
