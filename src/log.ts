/**
 * Logging through pino: cheap when a level is off. On a terminal the lines are made readable
 * (pino-pretty, in-process); anywhere else (systemd's journal, a pipe, a file) they are one
 * JSON object per line with the level as a word. LOG_FORMAT=json|pretty overrides the choice.
 */
import { pino } from 'pino';
import { createRequire } from 'node:module';

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The service's logger: a Logger whose level can change while it runs (SIGHUP). */
export interface ServiceLogger extends Logger {
  level: string;
  flush?(): void;
}

export function isLogLevel(s: string | undefined): s is LogLevel {
  return !!s && (LOG_LEVELS as readonly string[]).includes(s);
}

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', opts: { pretty?: boolean } = {}): ServiceLogger {
  const format = process.env.LOG_FORMAT;
  const usePretty = opts.pretty ?? (format === 'pretty' || (format !== 'json' && !!process.stdout.isTTY));
  const options = { level, base: { app: 'powerplane' }, formatters: { level: (label: string) => ({ level: label }) } };
  if (!usePretty) return pino(options);
  // pretty needs the numeric level in the object it formats: no level formatter there.
  // Loaded only for a terminal: a service (JSON to the journal) never pays for it.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  return pino({ level, base: undefined }, pretty({ colorize: !!process.stdout.isTTY, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,app' }));
}

/** A logger that drops everything (tests) but can collect lines for assertions. */
export function silentLogger(lines?: string[]): Logger {
  const push = (lvl: string) => (_o: object, msg: string) => lines?.push(`${lvl}: ${msg}`);
  return { info: push('info'), warn: push('warn'), error: push('error'), debug: push('debug') };
}
