/**
 * The `fleet:` section of a site's config (edge forwarding to NATS JetStream) and the shared
 * NATS connection settings, also used by the central service's config (central.yaml).
 */
import { z } from 'zod';

/** A NATS subject token: no dots, spaces or wildcards, so `pp.<site>.events` has one site. */
export const siteIdSchema = z
  .string()
  .regex(/^[a-zA-Z0-9][\w-]{0,63}$/, 'a site id is letters, digits, "-" or "_" (e.g. "cabin-3"): it is a NATS subject token');

/** How to authenticate to NATS: user/password, a token, or a .creds file (JWT + nkey seed). */
export const natsCredentialsSchema = z
  .object({
    user: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    /** A NATS .creds file (decentralised auth: an account JWT per site). */
    credsFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((c) => (c.user === undefined) === (c.password === undefined), 'credentials.user and credentials.password go together')
  .refine((c) => [c.user, c.token, c.credsFile].filter((x) => x !== undefined).length <= 1, 'give one of user/password, token or credsFile');

export const natsTlsSchema = z
  .object({
    caFile: z.string().optional(),
    certFile: z.string().optional(),
    keyFile: z.string().optional(),
  })
  .strict();

export const fleetSchema = z
  .object({
    siteId: siteIdSchema,
    /** For people (the fleet's sites list); defaults to the site id. */
    name: z.string().min(1).max(128).optional(),
    /** nats://host:4222 or tls://host:4222; a list for a cluster. */
    natsUrl: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    credentials: natsCredentialsSchema.optional(),
    tls: natsTlsSchema.optional(),
    /** Rows read from SQLite and published per batch (memory bound). */
    batchSize: z.number().int().min(1).max(10_000).default(500),
    /** Messages per second at most, so a week's backlog drains without starving the control loop. */
    maxPerSecond: z.number().positive().default(2000),
    /** How often the site's backlog is reported to the central service (seconds). */
    statusIntervalS: z.number().positive().default(15),
    /** Commands from the central side (pp.<site>.commands): off unless enabled; the role the fleet acts with. */
    commands: z
      .object({ enabled: z.boolean().default(false), role: z.enum(['viewer', 'operator', 'admin']).default('operator') })
      .strict()
      .default({ enabled: false, role: 'operator' }),
  })
  .strict();

export type FleetConfig = z.infer<typeof fleetSchema>;
export type NatsCredentials = z.infer<typeof natsCredentialsSchema>;
export type NatsTls = z.infer<typeof natsTlsSchema>;
