/**
 * Who is asking, from the Authorization header (or graphql-ws connectionParams): a role
 * and a name. Tokens come from the config as SHA-256 hashes (or plain text, hashed here);
 * a presented token is hashed and compared in constant time.
 *
 * On loopback with no token configured every local client has full access as "local": a
 * single-user machine keeps working without setup, and the start-up log says so.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isLoopback, type TokenConfig } from './config/schema.js';
import type { Logger } from './log.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  /** null: no valid token presented (and the server is not open). */
  role: Role | null;
  /** Token name, "local" on an open loopback server, or "anonymous". */
  actor: string;
}

export const sha256Hex = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/** True when `role` is at least `needed` (viewer < operator < admin). */
export function roleAtLeast(role: Role | null, needed: Role): boolean {
  return role !== null && ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export class Authenticator {
  private readonly tokens: Array<{ name: string; role: Role; hash: Buffer }>;
  /** Loopback and no token configured: everyone local is admin. */
  readonly open: boolean;

  constructor(opts: { host: string; tokens?: TokenConfig[]; apiToken?: string }, log?: Logger) {
    const list = [...(opts.tokens ?? [])];
    if (opts.apiToken) list.push({ name: 'apiToken', role: 'admin', token: opts.apiToken });
    this.tokens = list.map((t) => ({ name: t.name, role: t.role, hash: Buffer.from(t.sha256 ? t.sha256.toLowerCase() : sha256Hex(t.token!), 'hex') }));
    this.open = this.tokens.length === 0 && isLoopback(opts.host);
    for (const t of list) {
      if (t.token && t.name !== 'apiToken') log?.warn({ token: t.name }, `token "${t.name}" is in the config in plain text; store its sha256 instead (printf %s TOKEN | sha256sum)`);
    }
    if (this.open) log?.info({ host: opts.host }, `no API token configured and listening on loopback (${opts.host}): local clients have full access as "local"`);
    else log?.info({ tokens: this.tokens.map((t) => `${t.name}:${t.role}`) }, `API tokens required: ${this.tokens.map((t) => `${t.name} (${t.role})`).join(', ')}`);
  }

  /** The principal for an Authorization value of any type (a non-string is simply not a token). */
  resolve(authorization: unknown): Principal {
    if (this.open) return { role: 'admin', actor: 'local' };
    if (typeof authorization !== 'string' || authorization.length > 4096) return { role: null, actor: 'anonymous' };
    const presented = Buffer.from(sha256Hex(authorization.replace(/^Bearer\s+/i, '')), 'hex');
    let found: Principal = { role: null, actor: 'anonymous' };
    for (const t of this.tokens) if (timingSafeEqual(presented, t.hash)) found = { role: t.role, actor: t.name };
    return found;
  }
}
