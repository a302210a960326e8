/**
 * A Flatpack2 link's config section, and what the config loader needs to know about the family
 * without loading its driver: the carrier it speaks over and the DC output it offers a charger.
 */
import { z } from 'zod';
import { checkPsuSetpoint } from '../../engine/gate.js';
import { flatpack2Limits } from './limits.js';
import type { FamilyConfigEntry } from '../config-types.js';
import { finiteOrNull, mul } from '../../store/energy.js';

export const serialKey = z.string().regex(/^\d{12}$/, 'PSU serial numbers are 12 decimal digits, e.g. "192750001639"');

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

export type Flatpack2Config = z.infer<typeof flatpack2Schema>;
export type PsuConfig = z.infer<typeof psuConfigSchema>;

export const flatpack2Config = {
  schema: flatpack2Schema,
  carrier: 'can',
  energy: { what: 'delivered by the rectifiers', power: (v) => finiteOrNull(v.outputPowerW) ?? mul(v.outputVoltageV, v.outputCurrentA) },
  dcOutput: {
    limits: (c: Flatpack2Config) => flatpack2Limits(c),
    fallbackVoltageV: (c: Flatpack2Config) => c.fallbackVoltageV,
    units: (c: Flatpack2Config) => Object.keys(c.psus).length,
    unitKey: serialKey,
  },
} as const satisfies FamilyConfigEntry<Flatpack2Config>;
