/**
 * A tiny request/reply protocol over the Node IPC channel of a forked
 * child. The orchestrator sends `{ id, cmd, args }`; the child answers
 * `{ id, result }` or `{ id, error }`. Children register handlers with
 * `serve`; the parent calls them with `Child.call`.
 */
import { fork, type ChildProcess } from 'node:child_process';

interface Request {
  id: number;
  cmd: string;
  args: unknown;
}

interface Reply {
  id: number;
  result?: unknown;
  error?: string;
}

export type Handlers = Record<string, (args: any) => unknown>;

/** In a child: answer requests with `handlers`; the channel keeps the process alive. */
export function serve(handlers: Handlers): void {
  process.on('message', (raw) => {
    const request = raw as Request;
    const handler = handlers[request.cmd];
    const reply = (message: Reply) => process.send?.(message);
    if (handler === undefined) {
      reply({ id: request.id, error: `unknown command ${request.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(request.args))
      .then(
        (result) => reply({ id: request.id, result }),
        (error) => reply({ id: request.id, error: String(error?.stack ?? error) }),
      );
  });
}

/** In a child: tell the parent we are ready (with details such as the port). */
export function ready(details: unknown = {}): void {
  process.send?.({ id: 0, result: details });
}

export class Child {
  readonly process: ChildProcess;
  #next = 1;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  readonly #ready: Promise<any>;
  #exited = false;

  constructor(script: string, args: string[] = [], execArgv: string[] = []) {
    this.process = fork(script, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#ready = new Promise((resolve, reject) => {
      this.#pending.set(0, { resolve, reject });
    });
    this.process.on('message', (raw) => {
      const reply = raw as Reply;
      const waiter = this.#pending.get(reply.id);
      if (waiter === undefined) return;
      this.#pending.delete(reply.id);
      if (reply.error !== undefined) waiter.reject(new Error(reply.error));
      else waiter.resolve(reply.result);
    });
    this.process.on('exit', (code, signal) => {
      this.#exited = true;
      for (const waiter of this.#pending.values()) waiter.reject(new Error(`${script} exited (${code ?? signal})`));
      this.#pending.clear();
    });
  }

  /** Resolves with the child's ready details. */
  ready(): Promise<any> {
    return this.#ready;
  }

  call<T = any>(cmd: string, args: unknown = {}): Promise<T> {
    if (this.#exited) return Promise.reject(new Error('child has exited'));
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.process.send({ id, cmd, args } satisfies Request);
    });
  }

  /** Ask the child to stop; kill it if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    this.call('stop').catch(() => {});
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.#exited) this.process.kill('SIGKILL');
  }
}
