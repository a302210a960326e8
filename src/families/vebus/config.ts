/**
 * A VE.Bus link's config section: one MultiPlus / Quattro behind an MK2/MK3 (serial 2400 8N1,
 * vebus-mk2.md §1), its device id and name, its VE.Bus address, and the named **modes** the
 * dashboard offers as buttons (default: the seed's three, DEFAULT_VEBUS_MODES). A mode is a
 * small list of RAM-only writes (a mode is switched often; EEPROM writes would wear the
 * device); each is resolved at load (names known, RAM-only), so a typo is refused now with its
 * key, not at the first button press. Ranges are the device's own and are checked by the gate
 * when the mode is applied.
 */
import { z } from 'zod';
import type { FamilyConfigEntry } from '../config-types.js';
import { DEFAULT_VEBUS_MODES, expandMode, type VebusModeDef } from './check.js';

const stepSchema = z.union([
  // ramOnly is checked by expandMode below (it must be true), so a false one is refused with words.
  z.object({ setting: z.string().min(1), value: z.number(), ramOnly: z.boolean() }).strict(),
  z.object({ flag: z.string().min(1), value: z.boolean(), ramOnly: z.boolean() }).strict(),
  z.object({ ramVar: z.string().min(1), value: z.union([z.number(), z.boolean()]) }).strict(),
]);

const modeSchema = z
  .object({
    label: z.string().min(1).max(40),
    steps: z.array(stepSchema).min(1).max(8),
  })
  .strict();

const modeName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'mode names are lower-case letters, digits and "-" (e.g. "prefer-battery")');

export const vebusSchema = z
  .object({
    /** Device id of the inverter/charger in the API (e.g. "multi0"). */
    id: z.string().regex(/^[a-zA-Z][\w-]{0,31}$/, 'device ids are letters, digits, "-" or "_" (e.g. "multi0")'),
    name: z.string().min(1).max(64).optional(),
    /** VE.Bus address of the device; 0 for a single unit. */
    address: z.number().int().min(0).max(31).default(0),
    /** One poll (DC, AC, LEDs, RAM variables, current limit) every this many ms. */
    pollIntervalMs: z.number().int().min(500).max(60_000).default(2000),
    /** Old firmware: stay in compat mode and write with the two-step commands. */
    compat: z.boolean().default(false),
    /** EEPROM-wear budget for persistent setting writes. */
    persistentWritesPerHour: z.number().int().min(1).max(120).default(30),
    modes: z.record(z.string(), modeSchema).default(structuredClone(DEFAULT_VEBUS_MODES) as Record<string, VebusModeDef>),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const name of Object.keys(c.modes)) {
      const n = modeName.safeParse(name);
      if (!n.success) {
        ctx.addIssue({ code: 'custom', path: ['modes', name], message: n.error.issues[0]!.message });
        continue;
      }
      const r = expandMode(name, c.modes as Record<string, VebusModeDef>);
      if (!r.ok) ctx.addIssue({ code: 'custom', path: ['modes', name], message: r.message });
    }
  });

export type VebusConfig = z.infer<typeof vebusSchema>;

export const vebusConfig = {
  schema: vebusSchema,
  carrier: 'stream',
} as const satisfies FamilyConfigEntry<VebusConfig>;
