/**
 * What every CLI command group shares: the exit codes, the error that carries one, the
 * GraphQL client for the running server, and the table / JSON output.
 *
 * Exit codes: 0 done, 1 the server refused (its code is printed), 2 bad usage or config,
 * 3 the server could not be reached (or answered something that is not GraphQL).
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';

/** The package version (package.json sits two folders up from src/cli/ and from dist/cli/). */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export const EXIT = { OK: 0, REFUSED: 1, USAGE: 2, UNREACHABLE: 3 } as const;

export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface ApiOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** Adds --url, --token and --json to a command that talks to the running server. */
export function withApiOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'server URL (env POWERPLANE_URL; default http://127.0.0.1:4000)')
    .option('--token <token>', 'API token (env POWERPLANE_TOKEN)')
    .option('--json', 'print JSON for scripts instead of tables');
}

/** The options of a command merged with its parents' (so `powerplane --json get` works too). */
export function optsOf(cmd: Command): ApiOptions {
  return cmd.optsWithGlobals() as ApiOptions;
}

export interface GqlError {
  message: string;
  extensions?: { code?: string };
}

/** A GraphQL client for the running server. */
export class Api {
  readonly url: string;
  readonly token: string | undefined;

  constructor(o: ApiOptions, env: NodeJS.ProcessEnv = process.env) {
    const raw = (o.url ?? env.POWERPLANE_URL ?? 'http://127.0.0.1:4000').replace(/\/+$/, '').replace(/\/graphql$/, '');
    try {
      new URL(raw);
    } catch {
      throw new CliError(EXIT.USAGE, `--url must be a URL such as http://127.0.0.1:4000, got "${raw}"`);
    }
    this.url = raw;
    this.token = o.token ?? (env.POWERPLANE_TOKEN || undefined);
  }

  get endpoint(): string {
    return `${this.url}/graphql`;
  }

  get authorization(): string | undefined {
    return this.token ? `Bearer ${this.token}` : undefined;
  }

  /** Runs one operation; a refusal becomes a CliError with exit 1 and the server's code. */
  async request<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...(this.authorization ? { authorization: this.authorization } : {}) },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(EXIT.UNREACHABLE, `cannot reach the powerplane server at ${this.url} (${cause?.code ?? cause?.message ?? (e as Error).message}); is it running? Set --url or POWERPLANE_URL`);
    }
    let body: { data?: T | null; errors?: GqlError[] };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new CliError(EXIT.UNREACHABLE, `${this.endpoint} answered HTTP ${res.status} with something that is not GraphQL; is --url the powerplane server?`);
    }
    if (body.errors?.length) {
      const e = body.errors[0]!;
      const code = e.extensions?.code ?? `HTTP_${res.status}`;
      const hint = code === 'UNAUTHENTICATED' ? ' (pass --token or set POWERPLANE_TOKEN)' : '';
      throw new CliError(EXIT.REFUSED, `${code}: ${e.message}${hint}`, code);
    }
    if (!body.data) throw new CliError(EXIT.UNREACHABLE, `${this.endpoint} answered HTTP ${res.status} without data`);
    return body.data;
  }
}

/** Prints `value` as JSON, or `human()` as text. */
export function print(o: ApiOptions, value: unknown, human: () => string): void {
  process.stdout.write(o.json ? JSON.stringify(value, null, 2) + '\n' : human() + '\n');
}

const cell = (v: unknown): string => {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(2);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.length ? v.join(',') : '–';
  return String(v);
};

/** A plain aligned text table: columns as [header, key or getter]. */
export function table<R>(rows: R[], columns: Array<[string, keyof R | ((r: R) => unknown)]>): string {
  if (!rows.length) return '(none)';
  const cells = rows.map((r) => columns.map(([, k]) => cell(typeof k === 'function' ? k(r) : r[k])));
  const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (cs: string[]) => cs.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map(([h]) => h)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** "key  value" lines for one object (nested objects flattened as a.b). */
export function keyValues(obj: Record<string, unknown>, prefix = ''): string {
  const out: string[] = [];
  const walk = (o: Record<string, unknown>, p: string) => {
    for (const [k, v] of Object.entries(o)) {
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, `${p}${k}.`);
      else out.push([`${p}${k}`, cell(v)].join('\t'));
    }
  };
  walk(obj, prefix);
  const w = Math.max(0, ...out.map((l) => l.indexOf('\t')));
  return out.map((l) => { const i = l.indexOf('\t'); return l.slice(0, i).padEnd(w + 2) + l.slice(i + 1); }).join('\n');
}

/** A number argument, or a usage error naming it. */
export function numberArg(name: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new CliError(EXIT.USAGE, `${name} must be a number, got "${raw}"`);
  return n;
}
