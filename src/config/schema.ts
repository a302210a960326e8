/**
 * The powerplane.yaml format. zod gives us one declaration that both validates and types
 * the config, and its issue paths let every error name the offending key.
 */
import { jobInputSchema } from '../engine/scheduler/spec.js';
import { z } from 'zod';
import { checkFallbackVoltage, validateChargerSettings } from '../engine/gate.js';
import { familyConfigs, familyKinds, type FamilyKind } from '../families/registry.js';
import type { FamilyConfigEntry } from '../families/config-types.js';
import { DEFAULT_CHARGER_SETTINGS, type ChargerSettings } from '../engine/charger/settings.js';
import { mqttSchema } from '../mqtt/config.js';
import { fleetSchema } from '../fleet/config.js';

const WAVESHARE_BITRATES = [1_000_000, 800_000, 500_000, 400_000, 250_000, 200_000, 125_000, 100_000, 50_000, 20_000, 10_000, 5_000] as const;
const SERIAL_BAUDS = [9600, 19200, 38400, 115200, 1_228_800, 2_000_000] as const;

const vidPid = z
  .string()
  .regex(/^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$/, 'must look like "1a86:7523" (USB vendor:product id in hex)');

export const adapterSchema = z
  .object({
    type: z.literal('waveshare-usb-can-a').default('waveshare-usb-can-a'),
    /** Serial device path; when absent the adapter is found by USB id. */
    path: z.string().min(1).optional(),
    autodetect: z.boolean().default(true),
    usbId: vidPid.default('1a86:7523'),
    serialBaud: z
      .number()
      .int()
      .refine((b) => (SERIAL_BAUDS as readonly number[]).includes(b), {
        message: `must be one of ${SERIAL_BAUDS.join(', ')}`,
      })
      .default(2_000_000),
    bitrate: z
      .number()
      .int()
      .refine((b) => (WAVESHARE_BITRATES as readonly number[]).includes(b), {
        message: `must be one of the adapter's CAN bit rates: ${WAVESHARE_BITRATES.join(', ')}`,
      })
      .default(125_000),
    /**
     * Fixed 20-byte framing carries a checksum (sum of bytes 2..18), which catches every single-bit
     * error on the serial line; the variable framing has none (most single-bit flips decode as another
     * valid frame). Both work with every CAN frame type, so fixed is the default; `variable` stays
     * available for setups that need it.
     */
    framing: z.enum(['variable', 'fixed']).default('fixed'),
    /** ID kind in the adapter's setting frame: Flatpack2 uses extended, BMS frames standard ids. */
    frameType: z.enum(['standard', 'extended']).optional(),
    stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
  })
  .strict()
  .refine((a) => a.path !== undefined || a.autodetect, {
    message: 'give either "path" or "autodetect: true" so the adapter can be found',
  });

/** Which readings are stored as samples (src/engine/sampler.ts): a rate, and deadbands that add a sample on a change. */
export const samplingRuleSchema = z
  .object({
    /** Samples per second at most while nothing changes beyond its deadband (default 1); 0: only on a change. */
    rateHz: z.number().min(0).max(1000).optional(),
    /** Absolute: one number for every numeric reading, or per reading name, e.g. { outputVoltageV: 0.05 }. */
    deadband: z.union([z.number().min(0), z.record(z.string(), z.number().min(0))]).optional(),
  })
  .strict();

/** A link's sampling rule, with rules for single devices on it by device id. */
export const linkSamplingSchema = samplingRuleSchema.extend({ devices: z.record(z.string(), samplingRuleSchema).optional() }).strict();

const linkIdSchema = z.string().regex(/^[a-zA-Z][\w-]{0,31}$/, 'link ids are letters, digits, "-" or "_" (e.g. "can0")');

/** A plain serial line (RS-232/USB-serial) carrying a family's own framing. */
export const serialTransportSchema = z
  .object({
    type: z.literal('serial'),
    /** Serial device path, or "simulated" for the built-in simulator. */
    path: z.string().min(1),
    baudRate: z.number().int().min(300).max(4_000_000),
  })
  .strict();

/** A USB-HID device (e.g. a Voltronic inverter's 0665:5161), found by USB id and, where several share it, serial number. */
export const hidTransportSchema = z
  .object({
    type: z.literal('hid'),
    usbId: vidPid.default('0665:5161'),
    /** A hidraw path, or "simulated"; when absent the device is found by USB id (and serialNumber). */
    path: z.string().min(1).optional(),
    serialNumber: z.string().min(1).optional(),
  })
  .strict();

/** A TCP byte stream: ser2net, or an OpenEVSE WiFi module's RAPI bridge. */
export const tcpTransportSchema = z
  .object({
    type: z.literal('tcp'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
  })
  .strict();

export const transportSchema = z.preprocess(
  // A transport without a type is the Waveshare adapter (the only kind the older `adapter:` block knew).
  (t) => (t && typeof t === 'object' && !('type' in t) ? { ...t, type: 'waveshare-usb-can-a' } : t),
  z.discriminatedUnion('type', [adapterSchema, serialTransportSchema, hidTransportSchema, tcpTransportSchema]),
);

const familySections = Object.fromEntries(familyKinds.map((k) => [k, familyConfigs[k].schema.optional()])) as {
  [K in FamilyKind]: z.ZodOptional<(typeof familyConfigs)[K]['schema']>;
};

/**
 * A link: one transport and the device family on it, under its kind's key (`flatpack2:`,
 * `bms:`, …). The keys allowed come from the family registry.
 */
export const linkSchema = z
  .object({ id: linkIdSchema, transport: transportSchema, sampling: linkSamplingSchema.optional(), ...familySections })
  .strict()
  .superRefine((l, ctx) => {
    const kinds = familyKinds.filter((k) => l[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message:
          kinds.length === 0
            ? `link "${l.id}" names no device family: add one section, one of ${familyKinds.join(', ')}`
            : `link "${l.id}" has sections for ${kinds.join(' and ')}: a link carries one device family (a CAN bus runs at one bit rate: Flatpack2 at 125 kbit/s, a BMS at 500 kbit/s); give each its own link`,
      });
      return;
    }
    const carrier = familyConfigs[kinds[0]!].carrier;
    const can = l.transport.type === 'waveshare-usb-can-a';
    if ((carrier === 'can') !== can) {
      ctx.addIssue({
        code: 'custom',
        path: ['transport', 'type'],
        message: carrier === 'can' ? `${kinds[0]} speaks CAN: its transport is a Waveshare USB-CAN-A (type: waveshare-usb-can-a)` : `${kinds[0]} is not a CAN device: give it a serial, hid or tcp transport`,
      });
    }
  });

/** The family section of a link, with its kind. */
export function familyOf(l: LinkConfig): { kind: FamilyKind; cfg: unknown } {
  const kind = familyKinds.find((k) => l[k] !== undefined);
  if (!kind) throw new Error(`link ${l.id} names no device family`);
  return { kind, cfg: l[kind] };
}

/** Like familyOf, for a config still being validated (a link may name none). */
function familyOrNull(l: LinkConfig): { kind: FamilyKind; cfg: unknown } | null {
  const kind = familyKinds.find((k) => l[k] !== undefined);
  return kind ? { kind, cfg: l[kind] } : null;
}

/** An API token: a name (recorded as the actor of its mutations), a role, and the secret. */
export const tokenSchema = z
  .object({
    name: z.string().regex(/^[\w.@-]{1,64}$/, 'token names are 1–64 letters, digits, ".", "@", "-" or "_" (e.g. "phone")'),
    role: z.enum(['viewer', 'operator', 'admin']),
    /** sha256 of the token in hex (preferred: the config then holds no secret). */
    sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'sha256 is the 64-hex-digit SHA-256 of the token, e.g. from `printf %s TOKEN | sha256sum`').optional(),
    /** The token in plain text (accepted, with a warning at start). */
    token: z.string().min(16, 'a token must be at least 16 characters').optional(),
  })
  .strict()
  .refine((t) => (t.sha256 === undefined) !== (t.token === undefined), { message: 'give exactly one of "sha256" (preferred) or "token"' });

/** Bounds on every request; the defaults suit a dashboard and a few scripts on a LAN. */
export const limitsSchema = z
  .object({
    maxDepth: z.number().int().min(2).max(100).default(15),
    maxAliases: z.number().int().min(1).max(1000).default(30),
    maxTokens: z.number().int().min(100).max(100_000).default(4000),
    /** Fields × the `first:` (or default page size) of every enclosing list. */
    maxCost: z.number().int().min(100).max(10_000_000).default(50_000),
    maxFirst: z.number().int().min(1).max(100_000).default(1000),
    maxBodyBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(256 * 1024),
    maxResponseBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(8 * 1024 * 1024),
    /** Token bucket per client address: sustained requests per second and burst. */
    ratePerSecond: z.number().positive().max(100_000).default(50),
    rateBurst: z.number().int().min(1).max(100_000).default(200),
    maxWsConnections: z.number().int().min(1).max(100_000).default(100),
    /** A WebSocket subscriber with more than this unsent skips updates and is told how many (a gap marker). */
    wsMaxBufferedBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(1024 * 1024),
  })
  .strict();

export const serverSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(4000),
    /**
     * One admin token (the older form of `tokens`). A token is mandatory when the server
     * listens beyond loopback: a server open to the network is a switch anyone can flip.
     */
    apiToken: z.string().min(16, 'apiToken must be at least 16 characters').optional(),
    tokens: z.array(tokenSchema).default([]),
    /** Web origins other than the server's own that may call the API from a browser, e.g. "http://nas.local:8080". */
    allowedOrigins: z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin is scheme://host[:port], e.g. "http://nas.local:8080", with no path')).default([]),
    limits: limitsSchema.default(limitsSchema.parse({})),
  })
  .strict()
  .superRefine((srv, ctx) => {
    const names = new Set<string>();
    srv.tokens.forEach((t, i) => {
      if (names.has(t.name) || (srv.apiToken && t.name === 'apiToken')) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'name'], message: `duplicate token name "${t.name}"` });
      names.add(t.name);
    });
  });

export function isLoopback(host: string): boolean {
  return ['localhost', '::1'].includes(host) || host.startsWith('127.');
}

const num = z.number().refine(Number.isFinite, 'must be a finite number');

/** Every `[charger]` key of the original, camelCased, each optional over its default. */
export const chargerSettingsSchema = z
  .object({
    cellCount: z.number().int().min(1).max(32),
    cellVoltageMaxV: num,
    capacityAh: num.positive(),
    chargeCurrentA: num,
    tailCurrentA: num,
    safetyTimeLimitMin: num.positive(),
    detectVoltageV: num,
    detectCurrentA: num,
    detectThresholdV: num.positive(),
    minCurrentDetectA: num.positive(),
    disconnectDetectTimeS: num.positive(),
    rampStepVoltageV: num,
    rampStepIntervalS: num.positive(),
    voltageToleranceV: num.positive(),
    autoStart: z.boolean(),
    detectTimeoutMin: num.positive(),
  })
  .partial()
  .strict();

export const chargerSchema = z
  .object({
    id: z.string().regex(/^[a-zA-Z][\w-]{0,31}$/, 'charger ids are letters, digits, "-" or "_" (e.g. "charger1")'),
    name: z.string().min(1).max(64).optional(),
    /** The bus whose Flatpack2 PSUs this charger drives. */
    bus: z.string(),
    /** "all" PSUs on the bus, or a list of serials. A SET is broadcast, so a group is per bus. */
    psus: z.union([z.literal('all'), z.array(z.string()).min(1)]).default('all'),
    /** A battery (bms id) that guides this charger: its limits cap target and current. */
    battery: z.string().optional(),
    settings: chargerSettingsSchema.default({}),
  })
  .strict();

/**
 * The older spelling, `buses:` with an `adapter:` block, is read as `links:` with a `transport:`
 * block (each bus's adapter was a Waveshare USB-CAN-A).
 */
function upgradeOlderKeys(raw: unknown): unknown {
  if (!raw || typeof raw !== 'object' || !('buses' in raw) || 'links' in raw) return raw;
  const { buses, ...rest } = raw as { buses: unknown };
  const links = Array.isArray(buses)
    ? buses.map((b) => {
        if (!b || typeof b !== 'object' || !('adapter' in b)) return b;
        const { adapter, ...bus } = b as { adapter: unknown };
        return { ...bus, transport: adapter };
      })
    : buses;
  return { ...rest, links };
}

export const configSchema = z.preprocess(upgradeOlderKeys, z
  .object({
    server: serverSchema.default(serverSchema.parse({})),
    database: z
      .object({
        path: z.string().default('powerplane.db'),
        retainFramesDays: z.number().positive().default(7),
        retainSamplesDays: z.number().positive().default(90),
        /** Per-minute telemetry rollups; hourly rollups are kept for ever. */
        retainMinuteRollupsDays: z.number().positive().default(365),
        /** Which readings are stored as samples, for every device (links and devices refine it). */
        sampling: samplingRuleSchema.optional(),
      })
      .strict()
      .default({ path: 'powerplane.db', retainFramesDays: 7, retainSamplesDays: 90, retainMinuteRollupsDays: 365 }),
    links: z.array(linkSchema).min(1, 'name at least one link (a CAN bus, a serial line, a USB-HID device…) under "links:"'),
    chargers: z.array(chargerSchema).default([]),
    /** Scheduled jobs (read-only in the API); references are checked against the rig at load. */
    jobs: z.array(jobInputSchema).default([]),
    /** Forwarding of the event log to a central service over NATS JetStream (off when absent). */
    fleet: fleetSchema.optional(),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info') })
      .strict()
      .default({ level: 'info' }),
    /** Optional: state, Home Assistant discovery and commands over MQTT (src/mqtt/). */
    mqtt: mqttSchema.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.links.forEach((l, i) => {
      if (seen.has(l.id)) ctx.addIssue({ code: 'custom', path: ['links', i, 'id'], message: `duplicate link id "${l.id}"` });
      seen.add(l.id);
    });
    const batteries = new Set(c.links.flatMap((l) => {
      const f = familyOrNull(l);
      const entry = f ? (familyConfigs[f.kind] as FamilyConfigEntry<unknown>) : null;
      return f && entry?.batteryId ? [entry.batteryId(f.cfg)] : [];
    }));
    c.chargers.forEach((ch, i) => {
      const li = c.links.findIndex((l) => l.id === ch.bus);
      const link = c.links[li];
      const fam = link ? familyOrNull(link) : null;
      const dc = fam ? (familyConfigs[fam.kind] as FamilyConfigEntry<unknown>).dcOutput : undefined;
      if (!link || !fam || !dc) {
        ctx.addIssue({ code: 'custom', path: ['chargers', i, 'bus'], message: `charger "${ch.id}" names link "${ch.bus}", which is not a link with a DC output (a flatpack2 section)` });
        return;
      }
      if (c.chargers.some((o, j) => j < i && o.bus === ch.bus)) {
        ctx.addIssue({ code: 'custom', path: ['chargers', i, 'bus'], message: `link "${ch.bus}" already has a charger: a SET is broadcast, so one charger drives a link` });
      }
      if (ch.psus !== 'all') {
        ch.psus.forEach((p, k) => {
          const r = dc.unitKey.safeParse(p);
          if (!r.success) ctx.addIssue({ code: 'custom', path: ['chargers', i, 'psus', k], message: r.error.issues[0]?.message ?? 'not a unit id' });
        });
      }
      if (ch.battery && !batteries.has(ch.battery)) {
        ctx.addIssue({ code: 'custom', path: ['chargers', i, 'battery'], message: `charger "${ch.id}" names battery "${ch.battery}", but no link has a bms section with that id` });
      }
      const settings: ChargerSettings = { ...DEFAULT_CHARGER_SETTINGS, ...ch.settings };
      const limits = dc.limits(fam.cfg);
      const fb = checkFallbackVoltage(limits, dc.fallbackVoltageV(fam.cfg), settings.cellCount);
      if (!fb.ok) ctx.addIssue({ code: 'custom', path: ['links', li, fam.kind, 'fallbackVoltageV'], message: fb.message });
      const count = ch.psus === 'all' ? Math.max(1, dc.units(fam.cfg)) : ch.psus.length;
      const check = validateChargerSettings(settings, limits, count);
      if (!check.ok) ctx.addIssue({ code: 'custom', path: ['chargers', i, 'settings', check.key], message: check.message });
    });
    const jobIds = new Set<string>();
    c.jobs.forEach((j, i) => {
      if (!j.id) ctx.addIssue({ code: 'custom', path: ['jobs', i, 'id'], message: `give job "${j.name}" an id (it keys the job's run history)` });
      else if (jobIds.has(j.id)) ctx.addIssue({ code: 'custom', path: ['jobs', i, 'id'], message: `duplicate job id "${j.id}"` });
      if (j.id) jobIds.add(j.id);
    });
    if (!isLoopback(c.server.host) && !c.server.apiToken && c.server.tokens.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['server', 'tokens'],
        message: `listening on ${c.server.host} (beyond this machine) needs server.tokens (or server.apiToken) so that only you can read and change the rig; or listen on 127.0.0.1`,
      });
    }
  }));

export type PowerplaneConfig = z.infer<typeof configSchema>;
export type LinkConfig = z.infer<typeof linkSchema>;
/** The older name of a link. */
export type BusConfig = LinkConfig;
export type TransportConfig = z.infer<typeof transportSchema>;
export type { Flatpack2Config, PsuConfig } from '../families/flatpack2/config.js';
export type { BmsConfig } from '../families/bms/config.js';
export type { OpenEvseConfig } from '../families/openevse/config.js';
export type { VebusConfig } from '../families/vebus/config.js';
export type ChargerConfig = z.infer<typeof chargerSchema>;
export type ServerConfig = z.infer<typeof serverSchema>;
export type LimitsConfig = z.infer<typeof limitsSchema>;
export type TokenConfig = z.infer<typeof tokenSchema>;
