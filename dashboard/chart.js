// A small canvas line chart of the connection count over the last few
// minutes. One sample every SAMPLE_MS; gaps (no live stream) stay gaps.

export const SAMPLE_MS = 2000;
export const WINDOW_MS = 5 * 60 * 1000;

export class CountChart {
  #canvas;
  /** [{ t, n }] with n === null while the stream was down. */
  #samples = [];
  #colors;

  #caption;

  /** CSS size, kept by a ResizeObserver: reading it while drawing would force a layout every frame. */
  #width = 0;
  #height = 0;

  constructor(canvas, caption) {
    this.#canvas = canvas;
    this.#caption = caption;
    this.#colors = this.#readColors();
    new ResizeObserver(([entry]) => {
      this.#width = entry.contentRect.width;
      this.#height = entry.contentRect.height;
      this.draw();
    }).observe(canvas);
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      this.#colors = this.#readColors();
      this.draw();
    });
  }

  /** Record the count now; `n` is null when the dashboard is not live. */
  sample(now, n) {
    const last = this.#samples[this.#samples.length - 1];
    if (last !== undefined && now - last.t < SAMPLE_MS) {
      last.n = n; // same slot: keep the latest value
    } else {
      this.#samples.push({ t: now, n });
    }
    while (this.#samples.length > 0 && now - this.#samples[0].t > WINDOW_MS) this.#samples.shift();
  }

  draw() {
    const canvas = this.#canvas;
    const ratio = window.devicePixelRatio || 1;
    const cssWidth = this.#width;
    const cssHeight = this.#height;
    if (cssWidth === 0 || cssHeight === 0) return;
    if (canvas.width !== Math.round(cssWidth * ratio) || canvas.height !== Math.round(cssHeight * ratio)) {
      canvas.width = Math.round(cssWidth * ratio);
      canvas.height = Math.round(cssHeight * ratio);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, cssWidth, cssHeight);

    const values = this.#samples.filter((s) => s.n !== null);
    const peak = values.reduce((m, s) => Math.max(m, s.n), 0);
    const top = Math.max(1, peak);
    const pad = { top: 14, bottom: 4, left: 2, right: 2 };
    const w = cssWidth - pad.left - pad.right;
    const h = cssHeight - pad.top - pad.bottom;
    const now = this.#samples.length > 0 ? this.#samples[this.#samples.length - 1].t : 0;
    // Until WINDOW_MS of history exists, the x axis spans what there is.
    const span = Math.min(WINDOW_MS, Math.max(SAMPLE_MS * 10, now - (this.#samples[0]?.t ?? now)));
    const x = (t) => pad.left + w - ((now - t) / span) * w;
    const y = (n) => pad.top + h - (n / top) * h;
    const c = this.#colors;

    ctx.strokeStyle = c.grid;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(pad.left, pad.top + h + 0.5);
    ctx.lineTo(pad.left + w, pad.top + h + 0.5);
    ctx.stroke();

    // Each unbroken run of samples is one filled segment.
    let run = [];
    const flush = () => {
      if (run.length === 0) return;
      ctx.beginPath();
      ctx.moveTo(x(run[0].t), y(run[0].n));
      for (const s of run) ctx.lineTo(x(s.t), y(s.n));
      ctx.strokeStyle = c.line;
      ctx.lineWidth = 1.5;
      ctx.stroke();
      ctx.lineTo(x(run[run.length - 1].t), pad.top + h);
      ctx.lineTo(x(run[0].t), pad.top + h);
      ctx.closePath();
      ctx.fillStyle = c.fill;
      ctx.fill();
      run = [];
    };
    for (const s of this.#samples) {
      if (s.n === null) flush();
      else run.push(s);
    }
    flush();

    ctx.fillStyle = c.text;
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    ctx.fillText(`peak ${peak.toLocaleString()}`, pad.left, 0);

    const latest = values.length > 0 ? values[values.length - 1].n : 0;
    const spanText = span >= WINDOW_MS ? `${WINDOW_MS / 60_000} minutes` : span >= 120_000 ? `${Math.round(span / 60_000)} minutes` : `${Math.round(span / 1000)} s`;
    const caption = `Connections, last ${spanText}`;
    if (this.#caption.textContent !== caption) this.#caption.textContent = caption;
    const summary = `Connections over the last ${spanText}: now ${latest.toLocaleString()}, peak ${peak.toLocaleString()}`;
    if (this.#canvas.getAttribute('aria-label') !== summary) this.#canvas.setAttribute('aria-label', summary);
  }

  #readColors() {
    const style = getComputedStyle(document.documentElement);
    const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    return {
      line: read('--chart-line', '#2563eb'),
      fill: read('--chart-fill', 'rgba(37, 99, 235, 0.15)'),
      grid: read('--border', '#d0d7de'),
      text: read('--muted', '#57606a'),
    };
  }
}
