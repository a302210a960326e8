import { readFileSync } from 'node:fs';
import { yaml } from '../lazy-yaml.js';
import type { ZodError } from 'zod';
import { configSchema, type PowerplaneConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Formats zod issues as "path.to.key: what is allowed" lines. */
export function formatIssues(source: string, err: ZodError): string {
  const lines = err.issues.map((i) => {
    const path = i.path.length ? i.path.join('.') : '(top level)';
    return `  ${path}: ${i.message}`;
  });
  return `${source} is not a valid powerplane config:\n${lines.join('\n')}`;
}

export function parseConfig(raw: unknown, source = 'config'): PowerplaneConfig {
  const r = configSchema.safeParse(raw ?? {});
  if (!r.success) {
    // A config in the older spelling (`buses:` / `adapter:`) hears about its own keys.
    const older = !!raw && typeof raw === 'object' && 'buses' in raw && !('links' in raw);
    if (older) {
      for (const i of r.error.issues) {
        if (i.path[0] === 'links') i.path[0] = 'buses';
        if (i.path[0] === 'buses' && i.path[2] === 'transport') i.path[2] = 'adapter';
      }
    }
    const msg = formatIssues(source, r.error);
    throw new ConfigError(older ? `${msg}\n(this config uses the older "buses:" / "adapter:" keys, still read as "links:" / "transport:"; see the README for the new shape)` : msg);
  }
  return r.data;
}

/** Command-line settings; they go through the same validation as the file (no check is skipped). */
export interface ConfigOverrides {
  host?: string;
  port?: number;
  dbPath?: string;
}

/** `raw` (a config as read) with the overrides applied, before validation. */
export function applyOverrides(raw: unknown, o: ConfigOverrides = {}): unknown {
  const r = (raw && typeof raw === 'object' ? { ...(raw as Record<string, unknown>) } : {}) as Record<string, Record<string, unknown> | undefined>;
  if (o.host !== undefined || o.port !== undefined) r.server = { ...r.server, ...(o.host !== undefined ? { host: o.host } : {}), ...(o.port !== undefined ? { port: o.port } : {}) };
  if (o.dbPath !== undefined) r.database = { ...r.database, path: o.dbPath };
  return r;
}

export function loadConfigFile(path: string, overrides: ConfigOverrides = {}): PowerplaneConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  const doc = yaml().parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    throw new ConfigError(`${path} is not valid YAML:\n${doc.errors.map((e) => '  ' + e.message).join('\n')}`);
  }
  return parseConfig(applyOverrides(doc.toJS(), overrides), path);
}
