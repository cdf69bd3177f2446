/**
 * The real `roster` CLI in a child process, for crash and signal tests:
 * started on port 0, its JSON log lines collected from stdout, and its
 * address taken from the `listening` line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TOKEN } from './tracker.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface ChildServer {
  child: ChildProcess;
  port: number;
  /** Every JSON log line so far. */
  logs: any[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  find(msg: string): any[];
  wsUrl(path: string): string;
  httpUrl(path: string): string;
}

export function startChildServer(databasePath: string, env: Record<string, string> = {}, timeoutMs = 15_000): Promise<ChildServer> {
  const child = spawn(process.execPath, [CLI], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATABASE_PATH: databasePath, ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'info', LOG_PRETTY: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: any[] = [];
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start; stderr: ${stderr}`));
    }, timeoutMs);
    child.stderr!.on('data', (d) => (stderr += d));
    let pending = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line);
        logs.push(entry);
        if (entry.msg === 'listening') {
          clearTimeout(timer);
          const port = Number(String(entry.address).split(':').pop());
          resolve({
            child,
            port,
            logs,
            exited,
            find: (msg) => logs.filter((l) => l.msg === msg),
            wsUrl: (path) => `ws://127.0.0.1:${port}${path}`,
            httpUrl: (path) => `http://127.0.0.1:${port}${path}`,
          });
        }
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening; stderr: ${stderr}`));
    });
  });
}
