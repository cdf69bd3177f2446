/** Run the real CLI (`dist/src/cli.js`) as a child process and read its JSON logs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface CliProcess {
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: any[];
  /** Raw stdout and stderr so far. */
  output(): string;
  /** Resolve with the first log line matching `match`. */
  waitForLog(match: (line: any) => boolean, timeoutMs?: number): Promise<any>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

export function runCli(env: Record<string, string>, args: string[] = []): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: any[] = [];
  let raw = '';
  let pending = '';
  const waiters: { match: (l: any) => boolean; resolve: (l: any) => void }[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    raw += chunk;
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let parsed: any;
      try {
        parsed = JSON.parse(line);
      } catch {
        continue;
      }
      logs.push(parsed);
      for (const w of [...waiters]) {
        if (w.match(parsed)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    raw += chunk;
  });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    logs,
    output: () => raw,
    exited,
    waitForLog(match, timeoutMs = 10_000) {
      const found = logs.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line; output so far:\n${raw.slice(-2000)}`)), timeoutMs);
        exited.then(() => setTimeout(() => reject(new Error(`process exited; output:\n${raw.slice(-2000)}`)), 50));
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
  };
}

/** Start the CLI on port 0 and resolve with its port once it is listening. */
export async function startCli(env: Record<string, string>, args: string[] = []): Promise<CliProcess & { port: number }> {
  const cli = runCli({ PORT: '0', ...env }, args);
  const listening = await cli.waitForLog((l) => l.msg === 'listening');
  const port = Number(String(listening.address).split(':').pop());
  return Object.assign(cli, { port });
}

/** Resolves with the exit code; a process still running after `ms` is killed, and resolves 'SIGKILL'. */
export async function exitCode(cli: CliProcess, ms = 15_000): Promise<number | string> {
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), ms);
  try {
    return await cli.exited;
  } finally {
    clearTimeout(timer);
  }
}
