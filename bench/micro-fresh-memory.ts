/**
 * Why admin snapshots are written into reused buffers (src/buffer-pool.ts):
 * 3.5 MiB of text (a 10k-row snapshot) turned into bytes in memory the
 * process has not touched before, then again once that memory has been
 * used and freed, and written into a buffer kept from before. Memory
 * touched for the first time is faulted in page by page; a server whose
 * buffers are freed only when the GC gets to them keeps asking for more.
 * Each case runs once per process, in this order, so the first is
 * really the first. Run with `node dist/bench/micro-fresh-memory.js`.
 */
const PIECE = 64 * 1024;
const PIECES = 56; // 3.5 MiB

const piece = 'x'.repeat(PIECE);

function time(label: string, fn: () => unknown): void {
  const t0 = performance.now();
  fn();
  console.log(`${label.padEnd(60)} ${(performance.now() - t0).toFixed(2).padStart(7)} ms`);
}

let kept: Buffer[] = [];
time(`${PIECES} × Buffer.from(64 KiB), first use of that memory`, () => {
  for (let i = 0; i < PIECES; i++) kept.push(Buffer.from(piece));
});
kept = [];
(globalThis as { gc?: () => void }).gc?.();
time(`${PIECES} × Buffer.from(64 KiB), after the GC freed the first`, () => {
  for (let i = 0; i < PIECES; i++) kept.push(Buffer.from(piece));
});
const reused = Buffer.allocUnsafe(PIECE);
reused.write(piece);
time(`${PIECES} × written into one kept 64 KiB buffer`, () => {
  for (let i = 0; i < PIECES; i++) reused.write(piece);
});
