/** central.yaml: the central service's config (NATS, PostgreSQL, the fleet API). */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../config/load.js';
import { natsCredentialsSchema, natsTlsSchema } from './config.js';

export const centralConfigSchema = z
  .object({
    nats: z
      .object({
        url: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
        credentials: natsCredentialsSchema.optional(),
        tls: natsTlsSchema.optional(),
        /** The JetStream stream that holds every site's subjects (created when missing). */
        stream: z.string().regex(/^[A-Za-z0-9_-]+$/).default('POWERPLANE'),
        durablePrefix: z.string().regex(/^[A-Za-z0-9_-]+$/).default('pp-central'),
        /** How long the stream remembers message ids to drop a re-send (seconds). Beyond it, PostgreSQL's keys still do. */
        duplicateWindowS: z.number().positive().default(3600),
        /** How long the stream keeps messages (seconds); 0 = until limits. */
        maxAgeS: z.number().min(0).default(7 * 24 * 3600),
      })
      .strict(),
    postgres: z.object({ url: z.string().min(1) }).strict(),
    server: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(4100),
        /** Bearer token the fleet API requires (mandatory beyond loopback). */
        token: z.string().min(16, 'server.token must be at least 16 characters').optional(),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 4100 }),
    /** A site is online while its last message is at most this old (seconds). */
    onlineWithinS: z.number().positive().default(60),
    /** Messages written per PostgreSQL transaction. */
    batchSize: z.number().int().min(1).max(10_000).default(500),
    /** Event types counted as alarms besides those that name an alarm or a fault. */
    alarmTypes: z.array(z.string()).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    const h = c.server.host;
    const loop = ['localhost', '::1'].includes(h) || h.startsWith('127.');
    if (!loop && !c.server.token) ctx.addIssue({ code: 'custom', path: ['server', 'token'], message: `listening on ${h} needs server.token so that only you can read the fleet; or listen on 127.0.0.1` });
  });

export type CentralConfig = z.infer<typeof centralConfigSchema>;

export function parseCentralConfig(raw: unknown, where = 'central config'): CentralConfig {
  const r = centralConfigSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new ConfigError(`${where} is not valid:\n${lines.join('\n')}`);
  }
  return r.data;
}

export function loadCentralConfig(path: string): CentralConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${path} (${(e as Error).message}): pass --config central.yaml`);
  }
  return parseCentralConfig(parse(text), path);
}
