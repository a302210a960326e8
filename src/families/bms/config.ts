/** A BMS link's config section (Deye/Pylontech on CAN), and the battery it names. */
import { z } from 'zod';
import type { FamilyConfigEntry } from '../config-types.js';
import { finiteOrNull, mul } from '../../store/energy.js';

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

export type BmsConfig = z.infer<typeof bmsSchema>;

export const bmsConfig = {
  schema: bmsSchema,
  carrier: 'can',
  energy: { what: 'charged into the battery', reverse: 'taken from the battery', power: (v) => finiteOrNull(v.powerW) ?? mul(v.voltageV, v.currentA) },
  batteryId: (c: BmsConfig) => c.id,
} as const satisfies FamilyConfigEntry<BmsConfig>;
