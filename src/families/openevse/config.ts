/**
 * An OpenEVSE link's config section: one board on a serial line (115200 8N1) or on the WiFi
 * module's RAPI bridge / ser2net (tcp). What the config loader needs to know without loading the
 * driver: the schema and the carrier (its own framing on a byte stream).
 *
 * ```yaml
 * links:
 *   - id: evse
 *     transport: { type: serial, path: /dev/ttyUSB2, baudRate: 115200 }   # or { type: tcp, host: openevse.local, port: 8023 }
 *     openevse:
 *       id: evse0                 # the charger's id in the API
 *       name: Garage EVSE
 *       circuitLimitA: 32         # the breaker / cable rating: no current above it is ever sent
 *       heartbeat: { intervalS: 30, fallbackA: 6 }   # the board falls back to 6 A by itself if the server stops
 * ```
 */
import { z } from 'zod';
import type { FamilyConfigEntry } from '../config-types.js';
import { finiteOrNull } from '../../store/energy.js';
import { DEFAULT_POLL_MS, type PollItem } from './driver.js';
import { EVSE_SIM_PROFILES, type EvseSimProfileName } from './sim.js';

/** J1772: the lowest current a pilot may advertise. */
const J1772_MIN_A = 6;

const pollMs = z.number().int().min(250).max(600_000);

export const openEvseSchema = z
  .object({
    /** Device id of the EVSE in the API (e.g. "evse0"). */
    id: z.string().regex(/^[a-zA-Z][\w-]{0,31}$/, 'EVSE ids are letters, digits, "-" or "_" (e.g. "evse0")'),
    name: z.string().min(1).max(64).optional(),
    /**
     * The circuit's limit (breaker, cable, supply) in whole amps. The command gate refuses any
     * current above it, whatever the board would accept.
     */
    circuitLimitA: z.number().int().min(J1772_MIN_A, `the circuit limit cannot be below the J1772 minimum of ${J1772_MIN_A} A`).max(80),
    /**
     * Heartbeat supervision armed at connect (`SY`): if the server stops pulsing for
     * `intervalS`, the board lowers its current to `fallbackA` by itself. `false` leaves the
     * board's own setting alone (not recommended for unattended charging).
     */
    heartbeat: z
      .union([
        z.literal(false),
        z
          .object({
            intervalS: z.number().int().min(5).max(3600).default(30),
            fallbackA: z.number().int().min(J1772_MIN_A, `the heartbeat fallback current cannot be below ${J1772_MIN_A} A`).max(80).default(J1772_MIN_A),
            /** Pulse period; default a third of the interval. */
            pulseMs: z.number().int().min(500).max(3_600_000).optional(),
          })
          .strict(),
      ])
      .default({ intervalS: 30, fallbackA: J1772_MIN_A }),
    /** Polling cadences (ms) overriding the defaults (GS/GG 2 s, GU 10 s, GP/GE 30 s, GF 60 s). */
    poll: z
      .object(Object.fromEntries((Object.keys(DEFAULT_POLL_MS) as PollItem[]).map((k) => [k, pollMs.optional()])) as Record<PollItem, z.ZodOptional<typeof pollMs>>)
      .strict()
      .default({}),
    /** Per-attempt reply deadline (ms). */
    timeoutMs: z.number().int().min(100).max(10_000).default(1000),
    /** Consecutive failed exchanges before the board is shown offline. */
    offlineAfter: z.number().int().min(1).max(20).default(3),
    /** The built-in simulator only (transport path "simulated"): the board's firmware profile and the demo car. */
    sim: z
      .object({
        profile: z.enum(Object.keys(EVSE_SIM_PROFILES) as [EvseSimProfileName, ...EvseSimProfileName[]]).default('us-8.2.3'),
        demoCar: z.boolean().default(true),
      })
      .strict()
      .default({ profile: 'us-8.2.3', demoCar: true }),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.heartbeat !== false && c.heartbeat.fallbackA > c.circuitLimitA) {
      ctx.addIssue({
        code: 'custom',
        path: ['heartbeat', 'fallbackA'],
        message: `the heartbeat fallback current (${c.heartbeat.fallbackA} A) is above the circuit limit (${c.circuitLimitA} A): the board would fall back to more than the circuit carries; give ${J1772_MIN_A}–${c.circuitLimitA} A`,
      });
    }
  });

export type OpenEvseConfig = z.infer<typeof openEvseSchema>;

export const openEvseConfig = {
  schema: openEvseSchema,
  carrier: 'stream',
  /** Delivered to the EV: the board's own power reading (GG, V × I). */
  energy: { what: 'delivered to the EV', power: (v) => finiteOrNull(v.powerW) },
} as const satisfies FamilyConfigEntry<OpenEvseConfig>;
