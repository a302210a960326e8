/** Logging through pino: structured JSON lines, cheap when a level is off. */
import { pino } from 'pino';

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { app: 'powerplane' } });
}

/** A logger that drops everything (tests) but can collect lines for assertions. */
export function silentLogger(lines?: string[]): Logger {
  const push = (lvl: string) => (_o: object, msg: string) => lines?.push(`${lvl}: ${msg}`);
  return { info: push('info'), warn: push('warn'), error: push('error'), debug: push('debug') };
}
