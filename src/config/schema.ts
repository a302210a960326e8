/**
 * The powerplane.yaml format. zod gives us one declaration that both validates and types
 * the config, and its issue paths let every error name the offending key.
 */
import { z } from 'zod';
import { checkFallbackVoltage, checkPsuSetpoint, flatpack2Limits, validateChargerSettings } from '../engine/gate.js';
import { DEFAULT_CHARGER_SETTINGS, type ChargerSettings } from '../engine/charger/settings.js';

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

const serialKey = z.string().regex(/^\d{12}$/, 'PSU serial numbers are 12 decimal digits, e.g. "192750001639"');

export const psuConfigSchema = z
  .object({
    name: z.string().min(1).max(64).optional(),
    /** Output applied when the PSU is first seen after start (if applyOnStart). */
    startup: z
      .object({ voltageV: z.number(), currentA: z.number() })
      .strict()
      .optional(),
    applyOnStart: z.boolean().default(false),
  })
  .strict()
  .refine((p) => !p.applyOnStart || p.startup !== undefined, {
    message: 'applyOnStart needs a "startup: { voltageV, currentA }" block',
  });

export const flatpack2Schema = z
  .object({
    /** Over-voltage protection sent with every SET; the set voltage must stay below it. */
    ovpV: z.number().min(43.5).max(65.0).default(59.5),
    powerRatingW: z.number().int().min(500).max(3000).default(2000),
    walkIn: z.enum(['short', 'long']).default('short'),
    /** Login refresh period: the PSU logs out after ~12.8 s without one. */
    keepAliveMs: z.number().int().min(200).max(5000).default(1000),
    /** A PSU whose status frames stop for this long is shown offline. */
    statusTimeoutMs: z.number().int().min(1000).max(60_000).default(5000),
    /** Reopen the adapter when no frame at all arrives for this long while PSUs are known. */
    linkWatchdogMs: z.number().int().min(5000).max(600_000).default(30_000),
    /**
     * The PSUs' power-on (EEPROM) voltage, what they fall back to at FULL current when nothing
     * logs them in. Default: 43.5 V (the lowest) on a bus a charger uses, so an unsupervised
     * PSU pushes nothing into a healthy pack; leave out on a bus without a charger to keep the
     * PSUs' own value. A DC-load bus sets a float voltage explicitly (≤ 3.40 V per cell).
     */
    fallbackVoltageV: z.number().min(43.5).max(57.6).optional(),
    psus: z.record(z.string(), psuConfigSchema).default({}),
  })
  .strict()
  .superRefine((f, ctx) => {
    for (const key of Object.keys(f.psus)) {
      const r = serialKey.safeParse(key);
      if (!r.success) ctx.addIssue({ code: 'custom', path: ['psus', key], message: r.error.issues[0].message });
    }
    // Startup values go through the same command gate at load, so a bad one is refused now
    // with the key named, not at every start.
    const limits = flatpack2Limits(f);
    for (const [key, p] of Object.entries(f.psus)) {
      if (!p.startup) continue;
      const g = checkPsuSetpoint(limits, p.startup);
      if (!g.ok) ctx.addIssue({ code: 'custom', path: ['psus', key, 'startup'], message: g.message });
    }
    // A SET is broadcast: every PSU on one bus gets the same output, so differing startup
    // values could never both hold — refuse them here rather than let the last one win.
    const starts = Object.entries(f.psus).filter(([, p]) => p.applyOnStart && p.startup);
    const distinct = new Set(starts.map(([, p]) => `${p.startup!.voltageV}/${p.startup!.currentA}`));
    if (distinct.size > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['psus'],
        message: `PSUs ${starts.map(([k]) => k).join(', ')} have different startup values, but a Flatpack2 SET is broadcast to the whole bus: give them the same voltageV/currentA`,
      });
    }
  });

export const bmsSchema = z
  .object({
    /** Device id of the battery in the API (e.g. "bms0"). */
    id: z.string().regex(/^[a-zA-Z][\w-]{0,31}$/, 'battery ids are letters, digits, "-" or "_" (e.g. "bms0")'),
    name: z.string().min(1).max(64).optional(),
    dialect: z.enum(['deye', 'pylontech']),
    /** No valid stack frame for this long: battery offline, and a guided charge stops. */
    offlineAfterMs: z.number().int().min(2000).max(300_000).default(10_000),
    /** Send the inverter-side 0x305 heartbeat at this period (ms); leave out to only listen. */
    heartbeatMs: z.number().int().min(200).max(60_000).optional(),
  })
  .strict();

export const busSchema = z
  .object({
    id: z.string().regex(/^[a-zA-Z][\w-]{0,31}$/, 'bus ids are letters, digits, "-" or "_" (e.g. "can0")'),
    adapter: adapterSchema,
    flatpack2: flatpack2Schema.optional(),
    bms: bmsSchema.optional(),
  })
  .strict()
  .refine((b) => !(b.flatpack2 && b.bms), {
    message: 'a bus carries either flatpack2 or bms (they run at different bit rates: 125 kbit/s and 500 kbit/s)',
  });

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
    psus: z.union([z.literal('all'), z.array(serialKey).min(1)]).default('all'),
    /** A battery (bms id) that guides this charger: its limits cap target and current. */
    battery: z.string().optional(),
    settings: chargerSettingsSchema.default({}),
  })
  .strict();

export const configSchema = z
  .object({
    server: serverSchema.default(serverSchema.parse({})),
    database: z
      .object({
        path: z.string().default('powerplane.db'),
        retainFramesDays: z.number().positive().default(7),
        retainSamplesDays: z.number().positive().default(90),
      })
      .strict()
      .default({ path: 'powerplane.db', retainFramesDays: 7, retainSamplesDays: 90 }),
    buses: z.array(busSchema).min(1, 'name at least one bus'),
    chargers: z.array(chargerSchema).default([]),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.buses.forEach((b, i) => {
      if (seen.has(b.id)) ctx.addIssue({ code: 'custom', path: ['buses', i, 'id'], message: `duplicate bus id "${b.id}"` });
      seen.add(b.id);
    });
    c.chargers.forEach((ch, i) => {
      const bus = c.buses.find((b) => b.id === ch.bus);
      if (!bus || !bus.flatpack2) {
        ctx.addIssue({ code: 'custom', path: ['chargers', i, 'bus'], message: `charger "${ch.id}" names bus "${ch.bus}", which is not a bus with a flatpack2 section` });
        return;
      }
      if (c.chargers.some((o, j) => j < i && o.bus === ch.bus)) {
        ctx.addIssue({ code: 'custom', path: ['chargers', i, 'bus'], message: `bus "${ch.bus}" already has a charger: a SET is broadcast, so one charger drives a bus` });
      }
      if (ch.battery && !c.buses.some((b) => b.bms?.id === ch.battery)) {
        ctx.addIssue({ code: 'custom', path: ['chargers', i, 'battery'], message: `charger "${ch.id}" names battery "${ch.battery}", but no bus has a bms section with that id` });
      }
      const settings: ChargerSettings = { ...DEFAULT_CHARGER_SETTINGS, ...ch.settings };
      const fb = checkFallbackVoltage(flatpack2Limits(bus.flatpack2), bus.flatpack2.fallbackVoltageV, settings.cellCount);
      if (!fb.ok) ctx.addIssue({ code: 'custom', path: ['buses', c.buses.indexOf(bus), 'flatpack2', 'fallbackVoltageV'], message: fb.message });
      const count = ch.psus === 'all' ? Math.max(1, Object.keys(bus.flatpack2.psus).length) : ch.psus.length;
      const check = validateChargerSettings(settings, flatpack2Limits(bus.flatpack2), count);
      if (!check.ok) ctx.addIssue({ code: 'custom', path: ['chargers', i, 'settings', check.key], message: check.message });
    });
    if (!isLoopback(c.server.host) && !c.server.apiToken && c.server.tokens.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['server', 'tokens'],
        message: `listening on ${c.server.host} (beyond this machine) needs server.tokens (or server.apiToken) so that only you can read and change the rig; or listen on 127.0.0.1`,
      });
    }
  });

export type PowerplaneConfig = z.infer<typeof configSchema>;
export type BusConfig = z.infer<typeof busSchema>;
export type Flatpack2Config = z.infer<typeof flatpack2Schema>;
export type PsuConfig = z.infer<typeof psuConfigSchema>;
export type ChargerConfig = z.infer<typeof chargerSchema>;
export type BmsConfig = z.infer<typeof bmsSchema>;
export type ServerConfig = z.infer<typeof serverSchema>;
export type LimitsConfig = z.infer<typeof limitsSchema>;
export type TokenConfig = z.infer<typeof tokenSchema>;
