/**
 * Summarise a V8 .cpuprofile (from `npm run bench -- --profile`): self
 * time by package/area and the top functions, so the README can say where
 * the time goes. Usage: node dist/bench/profile-summary.js FILE... [--top N]
 *
 * With `--diff TRACKER BARE` (two window profiles of the same scenario,
 * from `npm run bench -- --profile-window`): the functions whose self time
 * differs most between them, in ms, i.e. where the tracker's extra goes.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Which part of the stack a frame belongs to. */
function area(url: string, name: string): string {
  if (name === '(idle)') return '(idle)';
  if (name === '(garbage collector)') return '(gc)';
  if (name === '(program)') return '(program)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.includes('/dist/src/')) return 'roster src/';
  if (url.includes('/dist/bench/')) return 'bench harness';
  if (url.startsWith('node:') || url === '') return 'node internals / native';
  return url;
}

function summarise(file: string, top: number): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt);
    total += dt;
  }
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    const a = area(frame.url, frame.functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
    const where = frame.url ? `${frame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName || '(anonymous)'} ${where}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
  }
  // Inclusive time of our own functions: where the tracker's time goes, callees included.
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (!frame.url.includes('/dist/src/')) continue;
      const key = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/dist\//, '')}:${frame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  const busy = total - (areas.get('(idle)') ?? 0);
  const pct = (us: number) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  console.log(`\n${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (percentages of busy time)`);
  console.log('  by area:');
  for (const [a, us] of [...areas].filter(([a]) => a !== '(idle)').sort((x, y) => y[1] - x[1])) console.log(`    ${pct(us)}  ${a}`);
  console.log(`  top ${top} functions (self time):`);
  for (const [f, us] of [...fns].filter(([f]) => !f.startsWith('(idle)')).sort((x, y) => y[1] - x[1]).slice(0, top)) {
    console.log(`    ${pct(us)}  ${f}`);
  }
  if (inclusive.size === 0) return;
  console.log(`  top ${top} roster functions (inclusive time, callees included):`);
  for (const [f, us] of [...inclusive].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`    ${pct(us)}  ${f}`);
}

/** Self time (µs) per function, and the busy total, of one profile. */
function selfTimes(file: string): { byFunction: Map<string, number>; busy: number } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // The in-process profiler's own frames (its session's dispatch) are not the server's work.
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const inProfiler = (id: number): boolean => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) if (byId.get(at)!.callFrame.url === 'node:inspector') return true;
    return false;
  };
  const byFunction = new Map<string, number>();
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = byId.get(profile.samples[i]!)!.callFrame;
    if (frame.functionName === '(idle)' || inProfiler(profile.samples[i]!)) continue;
    const dt = profile.timeDeltas[i] ?? 0;
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + dt);
    busy += dt;
  }
  return { byFunction, busy };
}

function diff(trackerFile: string, bareFile: string, top: number): void {
  const tracker = selfTimes(trackerFile);
  const bare = selfTimes(bareFile);
  const ms = (us: number) => (us / 1000).toFixed(1).padStart(7);
  console.log(`busy: tracker ${ms(tracker.busy)} ms, bare ${ms(bare.busy)} ms`);
  console.log(`top ${top} differences in self time (tracker − bare, ms; then tracker and bare):`);
  const keys = new Set([...tracker.byFunction.keys(), ...bare.byFunction.keys()]);
  const rows = [...keys].map((k) => [k, tracker.byFunction.get(k) ?? 0, bare.byFunction.get(k) ?? 0] as const);
  rows.sort((x, y) => y[1] - y[2] - (x[1] - x[2]));
  for (const [key, t, b] of rows.slice(0, top)) console.log(`  ${ms(t - b)}  (${ms(t)} ${ms(b)})  ${key}`);
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt === -1 ? 25 : Number(args.splice(topAt, 2)[1]);
const diffAt = args.indexOf('--diff');
if (diffAt !== -1) diff(args[diffAt + 1]!, args[diffAt + 2]!, top);
else for (const file of args) summarise(file, top);
