// Wires the dashboard together: token handling and sign-in, the admin
// stream, the model, the virtual table, counts, chart and ticking clock.

import { CountChart } from '/admin/chart.js';
import { formatCount } from '/admin/format.js';
import { Store } from '/admin/store.js';
import { AdminStream } from '/admin/stream.js';
import { VirtualTable } from '/admin/table.js';

const TOKEN_KEY = 'roster.adminToken';
const TICK_MS = 1000;
const TOAST_MS = 5000;
const STREAM_RENDER_MS = 100;

const $ = (id) => document.getElementById(id);
const ui = {
  state: $('state'),
  stateText: $('state-text'),
  retry: $('retry'),
  signOut: $('sign-out'),
  signIn: $('sign-in'),
  signInForm: $('sign-in-form'),
  signInError: $('sign-in-error'),
  token: $('token'),
  board: $('board'),
  connections: $('count-connections'),
  users: $('count-users'),
  idleCount: $('count-idle'),
  filter: $('filter'),
  idle: $('idle'),
  shown: $('shown'),
  scroller: $('scroller'),
  table: $('table'),
  rows: $('rows'),
  toasts: $('toasts'),
};

const store = new Store();
const chart = new CountChart($('chart'), $('chart-caption'));
const table = new VirtualTable({ scroller: ui.scroller, table: ui.table, tbody: ui.rows, onKick: kick });
let stream = null;
let seenSnapshot = false;
let live = false;
let idleMs = 60_000;
let renderFrame = 0;
let lastRenderAt = 0;
let streamTimer = 0;
/** Recounted each tick (and on threshold change), not per frame: it is time-driven anyway. */
let idleTotal = 0;

/**
 * `token=…` from the URL fragment, or null. Not URLSearchParams: it reads
 * `+` as a space, and a token may hold any printable character, `+`
 * included. Percent-escapes are decoded (`%26` for `&`).
 */
function tokenInHash() {
  for (const part of location.hash.slice(1).split('&')) {
    if (!part.startsWith('token=')) continue;
    const raw = part.slice('token='.length);
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw; // a `%` that starts no escape is the token's own
    }
  }
  return null;
}

/** Take the token from `#token=…` (then drop it from the URL), else from this tab's session. */
function takeToken() {
  const fromHash = tokenInHash();
  if (fromHash !== null) {
    history.replaceState(null, '', location.pathname + location.search);
    if (fromHash) sessionStorage.setItem(TOKEN_KEY, fromHash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function streamUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/admin/stream`;
}

function start(token) {
  stream?.stop();
  seenSnapshot = false;
  ui.signIn.hidden = true;
  ui.signOut.hidden = false;
  stream = new AdminStream({ url: streamUrl(), token, onBatch: apply, onState: showState });
  stream.start();
}

function signOut(message) {
  stream?.stop();
  stream = null;
  live = false;
  sessionStorage.removeItem(TOKEN_KEY);
  store.clear();
  render();
  ui.board.hidden = true;
  ui.signOut.hidden = true;
  ui.retry.hidden = true;
  ui.signIn.hidden = false;
  // No stream now: the badge would keep saying "Live" after Sign out, or
  // "Connecting…" (the page's first words) on a page opened without a
  // token. A rejected token (the message) keeps "Failed: token rejected".
  if (!message) {
    ui.state.dataset.state = 'signed-out';
    ui.stateText.textContent = 'Signed out';
    ui.state.removeAttribute('title');
  }
  ui.signInError.hidden = !message;
  ui.signInError.textContent = message ?? '';
  ui.token.value = '';
  ui.token.focus();
}

function showState(state, detail) {
  live = state === 'live';
  ui.state.dataset.state = state;
  ui.board.toggleAttribute('data-stale', !live);
  // A snapshot long in coming may be a dead link: offer a retry, but keep waiting.
  ui.retry.hidden = state !== 'reconnecting' && state !== 'failed' && !detail.slow;
  // Set from every report, never kept: the stream sends the reason the link
  // is down with each report that has one, so a title left from an earlier
  // drop (before Retry now, a new token or a sign-in) would describe a
  // state that is over.
  if (detail.reason) ui.state.title = detail.reason;
  else ui.state.removeAttribute('title');
  if (state === 'connecting') {
    ui.stateText.textContent = detail.slow ? 'Still waiting for the live list (a large one takes time over a slow link)…' : 'Connecting…';
  }
  if (state === 'live') {
    // After the server lost its event feed: the list shown stays until the fresh one replaces it.
    ui.stateText.textContent = detail.resync ? 'Live, refreshing the list…' : 'Live';
    if (detail.resync) ui.state.title = 'The server is sending a fresh copy of the list; a large one takes time over a slow link.';
  }
  if (state === 'reconnecting') {
    const wait = detail.delayMs ? ` in ${Math.ceil(detail.delayMs / 1000)} s` : '…';
    const what = detail.slow ? ': still waiting for the live list…' : wait;
    ui.stateText.textContent = `Reconnecting${what} (attempt ${detail.attempt})`;
  }
  if (state === 'failed') {
    ui.stateText.textContent = detail.auth ? 'Failed: token rejected' : 'Failed';
    if (detail.auth) signOut(`${detail.reason} Check the token and sign in again.`);
    else toast(detail.reason);
  }
}

/** One animation frame's worth of stream messages. */
function apply(messages) {
  const now = Date.now();
  for (const m of messages) {
    switch (m.type) {
      case 'snapshot':
        // Highlight only what changed while we were away, not the first load.
        store.replace(Array.isArray(m.users) ? m.users : [], now, seenSnapshot);
        seenSnapshot = true;
        idleTotal = store.idleCount(now, idleMs);
        ui.board.hidden = false;
        break;
      case 'connected':
        if (m.user) store.add(m.user, now);
        break;
      case 'disconnected':
        store.remove(m.sessionId, now);
        break;
      case 'activity':
        for (const u of m.users ?? []) store.touch(u.sessionId, u.lastActiveAt, u.messages);
        break;
      case 'error':
        unmarkKick(m.sessionId);
        toast(m.sessionId ? `${m.error}: ${m.sessionId}` : String(m.error));
        break;
    }
  }
  renderSoon();
}

/**
 * Stream-driven renders are spaced STREAM_RENDER_MS apart: during a burst the
 * model takes every frame's batch, but repainting the table 60 times a
 * second would buy nothing readable and cost the main thread most of its
 * time. Scrolling, filtering and sorting still render on the next frame.
 */
function renderSoon() {
  const wait = lastRenderAt + STREAM_RENDER_MS - performance.now();
  if (wait <= 0) render();
  else if (streamTimer === 0) {
    streamTimer = setTimeout(() => {
      streamTimer = 0;
      scheduleRender();
    }, wait);
  }
}

function kick(sessionId) {
  const row = store.rows.get(sessionId);
  if (row === undefined || row.goneAt !== 0) return;
  if (!stream?.kick(sessionId)) {
    toast('Not connected to the server; try again when live.');
    return;
  }
  row.kicking = true;
  render();
}

function unmarkKick(sessionId) {
  const row = store.rows.get(sessionId);
  if (row !== undefined) row.kicking = false;
}

function render() {
  cancelAnimationFrame(renderFrame);
  renderFrame = 0;
  lastRenderAt = performance.now();
  const now = Date.now();
  store.derive();
  setCount(ui.connections, store.live);
  setCount(ui.users, store.labels.size);
  setCount(ui.idleCount, idleTotal);
  if (store.filter) {
    // Open connections only: fading rows are not counted anywhere.
    let shown = 0;
    for (const row of store.view) if (row.goneAt === 0) shown++;
    ui.shown.textContent = `${formatCount(shown)} of ${formatCount(store.live)} shown`;
  } else {
    ui.shown.textContent = '';
  }
  const empty = store.filter ? 'No connection matches the filter.' : 'No connections right now.';
  table.render(store.view, now, idleMs, empty);
  // The sample follows the count between ticks; drawing waits for the tick.
  if (live) chart.sample(now, store.live);
}

function scheduleRender() {
  if (renderFrame === 0) renderFrame = requestAnimationFrame(render);
}

function setCount(el, n) {
  const value = String(n);
  if (el.dataset.value === value) return;
  el.dataset.value = value;
  el.textContent = formatCount(n);
}

function toast(text) {
  const el = document.createElement('p');
  el.className = 'toast';
  el.textContent = text;
  ui.toasts.append(el);
  setTimeout(() => el.remove(), TOAST_MS);
}

/** Every second: drop faded rows, tick relative times, sample the chart. */
function tick() {
  const now = Date.now();
  store.expire(now);
  idleTotal = store.idleCount(now, idleMs);
  render();
  chart.sample(now, live ? store.live : null);
  chart.draw();
}

function initIdle() {
  // `/admin?idle=SECONDS` presets the threshold (bookmarkable, and handy in tests).
  const fromQuery = Number(new URLSearchParams(location.search).get('idle'));
  if (Number.isFinite(fromQuery) && fromQuery > 0) {
    const value = String(Math.round(fromQuery));
    if (![...ui.idle.options].some((o) => o.value === value)) ui.idle.add(new Option(`${value} s`, value));
    ui.idle.value = value;
  }
  idleMs = Number(ui.idle.value) * 1000;
  ui.idle.addEventListener('change', () => {
    idleMs = Number(ui.idle.value) * 1000;
    idleTotal = store.idleCount(Date.now(), idleMs);
    render();
  });
}

function initSorting() {
  const headers = [...ui.table.querySelectorAll('th[data-key]')];
  const mark = () => {
    for (const th of headers) {
      const active = th.dataset.key === store.sort.key;
      if (active) th.setAttribute('aria-sort', store.sort.dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    }
  };
  for (const th of headers) {
    th.querySelector('button').addEventListener('click', () => {
      store.setSort(th.dataset.key);
      mark();
      render();
    });
  }
  mark();
}

ui.filter.addEventListener('input', () => {
  store.setFilter(ui.filter.value);
  ui.scroller.scrollTop = 0;
  scheduleRender();
});
ui.scroller.addEventListener('scroll', scheduleRender, { passive: true });
window.addEventListener('resize', scheduleRender);
ui.retry.addEventListener('click', () => stream?.retryNow());
ui.signOut.addEventListener('click', () => signOut());
ui.signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = ui.token.value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  ui.token.value = '';
  start(token);
});
window.addEventListener('hashchange', () => {
  // Only a new token restarts the stream; an in-page link or an edited hash leaves it alone.
  if (tokenInHash() === null) return;
  const token = takeToken();
  if (token) start(token);
});

initIdle();
initSorting();
setInterval(tick, TICK_MS);
const token = takeToken();
if (token) start(token);
else signOut();
tick();
