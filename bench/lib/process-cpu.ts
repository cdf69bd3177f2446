/**
 * CPU time of other processes, from /proc (Linux): what process.cpuUsage()
 * cannot see, such as the PostgreSQL server the tracker writes to, the
 * third process on the bench's two cores.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Kernel ticks per second, the unit of /proc/<pid>/stat's times. */
let ticksPerSecond: number | undefined;

interface ProcessTimes {
  parent: number;
  /** utime + stime + cutime + cstime: its own time and that of its reaped children, in ticks. */
  ticks: number;
}

function readTimes(pid: number): ProcessTimes | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone since the directory was listed
  }
  // The command name is in parentheses and may hold spaces; fields follow the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
  return { parent: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]) };
}

/**
 * CPU time (µs, at the kernel's tick resolution, usually 10 ms) used so far
 * by `pid` and its children: those alive now, and those already exited and
 * reaped, whose time the kernel has added to their parent's. A difference
 * of two readings is the tree's CPU time in between.
 */
export function processTreeCpuMicros(pid: number): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  let ticks = readTimes(pid)?.ticks ?? 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const times = readTimes(Number(entry));
    if (times?.parent === pid) ticks += times.ticks;
  }
  return (ticks * 1e6) / ticksPerSecond;
}
