/**
 * Logging goes through a pino-compatible interface, so a host app can pass
 * its own pino (or any logger with these methods). Secrets are redacted
 * by path as a second line of defence; the code never logs them.
 */
import pino from 'pino';
import type { LogLevel } from './constants.js';

type LogFn = (objOrMsg: unknown, msg?: string) => void;

export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

export const REDACTED_PATHS = ['token', 'adminToken', 'authorization', '*.token', '*.authorization', 'headers.authorization'];

export interface LoggerOptions {
  level?: LogLevel;
  /** Human-readable single lines instead of JSON. */
  pretty?: boolean;
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = { level: options.level ?? 'info', redact: REDACTED_PATHS, base: { service: 'roster' } };
  const stream = options.destination ?? process.stdout;
  if (options.pretty) return pino(base, prettyStream(stream)) as unknown as Logger;
  return pino(base, stream as pino.DestinationStream) as unknown as Logger;
}

/** A logger that drops everything: the library default. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' }) as unknown as Logger;
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** A tiny line formatter, so that pretty output needs no extra package. */
function prettyStream(out: NodeJS.WritableStream): pino.DestinationStream {
  return {
    write(line: string) {
      try {
        const { level, time, msg, pid: _pid, hostname: _host, service: _service, ...rest } = JSON.parse(line);
        const extra = Object.keys(rest).length > 0 ? ' ' + JSON.stringify(rest) : '';
        out.write(`${new Date(time).toISOString()} ${(LEVEL_NAMES[level] ?? level).padEnd(5)} ${msg ?? ''}${extra}\n`);
      } catch {
        out.write(line);
      }
    },
  };
}
