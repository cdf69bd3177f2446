// A virtual table: real <table> markup, but only the rows in (or near) the
// scroller's viewport exist in the DOM. Spacer rows stand in for the rest,
// and row elements are recycled so scrolling 10,000 rows stays cheap.

import { formatAbsolute, formatCount, formatDuration, formatRelative } from '/admin/format.js';
import { HIGHLIGHT_MS } from '/admin/store.js';

const COLUMNS = 8;
/** Rows rendered above and below the viewport. */
const OVERSCAN = 8;
const FALLBACK_ROW_HEIGHT = 40;

function cell(tr, className) {
  const td = document.createElement('td');
  if (className) td.className = className;
  tr.append(td);
  return td;
}

function spacer() {
  const tr = document.createElement('tr');
  tr.className = 'spacer';
  tr.setAttribute('aria-hidden', 'true');
  const td = cell(tr, '');
  td.colSpan = COLUMNS;
  return tr;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setAttr(node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

function createRowElement() {
  const tr = document.createElement('tr');
  const session = document.createElement('code');
  cell(tr, 'c-session').append(session);
  const user = cell(tr, 'c-user');
  const address = cell(tr, 'c-addr');
  const browser = cell(tr, 'c-ua');
  const since = document.createElement('time');
  cell(tr, 'c-since').append(since);
  const activeCell = cell(tr, 'c-active');
  const active = document.createElement('time');
  const idle = document.createElement('span');
  idle.className = 'badge-idle';
  idle.textContent = 'idle';
  idle.hidden = true;
  activeCell.append(active, idle);
  const messages = cell(tr, 'c-msgs');
  const kick = document.createElement('button');
  kick.type = 'button';
  kick.className = 'btn btn-small btn-danger';
  kick.dataset.kick = '';
  kick.textContent = 'Kick';
  cell(tr, 'c-action').append(kick);
  return { tr, session, user, address, browser, since, active, idle, messages, kick, row: null };
}

export class VirtualTable {
  #scroller;
  #table;
  #tbody;
  #top = spacer();
  #bottom = spacer();
  #empty;
  /** Row elements in the DOM now, top to bottom, and detached ones to reuse. */
  #shown = [];
  #spare = [];
  #rowHeight = 0;

  constructor({ scroller, table, tbody, onKick }) {
    this.#scroller = scroller;
    this.#table = table;
    this.#tbody = tbody;
    this.#empty = document.createElement('tr');
    this.#empty.className = 'empty';
    const td = cell(this.#empty, '');
    td.colSpan = COLUMNS;
    tbody.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-kick]');
      const sessionId = button?.closest('tr')?.dataset.sessionId;
      if (sessionId && !button.disabled) onKick(sessionId);
    });
  }

  get rowHeight() {
    return this.#rowHeight || FALLBACK_ROW_HEIGHT;
  }

  /** Render the visible window of `view`. `emptyText` shows when it is empty. */
  render(view, now, idleMs, emptyText) {
    setAttr(this.#table, 'aria-rowcount', String(view.length + 1));
    if (view.length === 0) {
      setText(this.#empty.firstChild, emptyText);
      if (this.#tbody.firstChild !== this.#empty || this.#tbody.childNodes.length !== 1) this.#tbody.replaceChildren(this.#empty);
      this.#spare.push(...this.#shown);
      this.#shown = [];
      return;
    }
    const h = this.rowHeight;
    const scrollTop = this.#scroller.scrollTop;
    const height = this.#scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(scrollTop / h) - OVERSCAN);
    const last = Math.min(view.length, Math.ceil((scrollTop + height) / h) + OVERSCAN);
    // Keyed reuse: a row still in the window keeps its element, so when new
    // rows arrive on top the others move instead of being rewritten.
    const previous = new Map();
    for (const el of this.#shown) previous.set(el.row, el);
    const shown = [];
    for (let i = first; i < last; i++) {
      const el = previous.get(view[i]);
      if (el !== undefined) previous.delete(view[i]);
      shown.push(el);
    }
    const spare = this.#spare;
    for (const el of previous.values()) spare.push(el);
    const wanted = [this.#top];
    for (let i = first; i < last; i++) {
      const el = (shown[i - first] ??= spare.pop() ?? createRowElement());
      this.#fill(el, view[i], i, now, idleMs);
      wanted.push(el.tr);
    }
    this.#shown = shown;
    wanted.push(this.#bottom);
    this.#top.firstChild.style.height = `${first * h}px`;
    this.#bottom.firstChild.style.height = `${(view.length - last) * h}px`;
    this.#place(wanted);
    if (this.#rowHeight === 0 && last > first) {
      const measured = shown[0].tr.getBoundingClientRect().height;
      if (measured > 0) this.#rowHeight = measured;
    }
  }

  /** Make the tbody's children exactly `wanted`, moving as few nodes as possible. */
  #place(wanted) {
    const tbody = this.#tbody;
    let node = tbody.firstChild;
    for (const el of wanted) {
      if (node === el) {
        node = node.nextSibling;
      } else {
        tbody.insertBefore(el, node);
      }
    }
    while (node) {
      const next = node.nextSibling;
      node.remove();
      node = next;
    }
  }

  #fill(el, row, index, now, idleMs) {
    const { tr } = el;
    if (el.row !== row) {
      el.row = row;
      tr.dataset.sessionId = row.sessionId;
      // The random tail: a UUIDv7 starts with its time, the same for every row of a minute.
      setText(el.session, row.sessionId.slice(-8));
      setAttr(el.session, 'title', row.sessionId);
      setText(el.user, row.label || '—');
      setText(el.address, row.address || '—');
      setText(el.browser, row.browser);
      setAttr(el.browser, 'title', row.ua || 'no user agent');
      setAttr(el.since, 'datetime', new Date(row.connectedAt).toISOString());
      // Intl formatting is slow enough to matter per frame; once per row.
      row.connectedTitle ??= formatAbsolute(row.connectedAt);
      setAttr(el.since, 'title', row.connectedTitle);
      setAttr(el.kick, 'aria-label', `Kick session ${row.sessionId}${row.label ? ` (${row.label})` : ''}`);
    }
    setAttr(tr, 'aria-rowindex', String(index + 2));
    setText(el.since, formatRelative(row.connectedAt, now));
    if (el.active.dataset.ms !== String(row.lastActiveAt)) {
      el.active.dataset.ms = String(row.lastActiveAt);
      setAttr(el.active, 'datetime', new Date(row.lastActiveAt).toISOString());
      if (row.activeTitleMs !== row.lastActiveAt) {
        row.activeTitleMs = row.lastActiveAt;
        row.activeTitle = formatAbsolute(row.lastActiveAt);
      }
      setAttr(el.active, 'title', row.activeTitle);
    }
    setText(el.active, formatRelative(row.lastActiveAt, now));
    // Live stats: the count from the stream, over the connection's age so far.
    const count = row.messages;
    setText(el.messages, count === null ? '—' : formatCount(count));
    setAttr(el.messages, 'title', count === null ? 'message count not reported' : `${formatCount(count)} messages in ${formatDuration((row.goneAt || now) - row.connectedAt)}`);
    const gone = row.goneAt !== 0;
    const idle = !gone && now - row.lastActiveAt > idleMs;
    el.idle.hidden = !idle;
    let className = '';
    if (gone) className = 'is-gone';
    else if (row.addedAt !== 0 && now - row.addedAt < HIGHLIGHT_MS) className = 'is-new';
    if (idle) className += ' is-idle';
    if (row.kicking) className += ' is-kicking';
    if (tr.className !== className) tr.className = className;
    el.kick.disabled = gone || row.kicking;
    setText(el.kick, gone ? 'Closed' : row.kicking ? 'Kicking…' : 'Kick');
  }
}
