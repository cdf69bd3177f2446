/** A real pino logger writing into memory, so tests can read what was logged. */
import { createLogger, type Logger } from '../../src/logger.js';

export interface CapturedLogs {
  logger: Logger;
  /** Every log line, parsed. */
  lines: any[];
  /** Every log line as written, for "never contains" checks. */
  raw(): string;
  /** Lines whose `msg` equals `msg`. */
  find(msg: string): any[];
}

export function captureLogs(level: 'debug' | 'info' | 'warn' = 'debug'): CapturedLogs {
  const lines: any[] = [];
  const written: string[] = [];
  const destination = {
    write(chunk: string) {
      written.push(chunk);
      for (const line of chunk.split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line));
      return true;
    },
  };
  const logger = createLogger({ level, destination: destination as unknown as NodeJS.WritableStream });
  return {
    logger,
    lines,
    raw: () => written.join(''),
    find: (msg) => lines.filter((l) => l.msg === msg),
  };
}
