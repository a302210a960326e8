/**
 * A PI18 inverter link's config section (Voltronic LVX6048 and kin, pi18.md). One link is one
 * unit: each inverter is its own USB-HID device (or its own RS-232 cable), so a paralleled pair
 * is two links, each naming the serial of the unit it must find there. The carrier is the
 * family's own framing on a byte stream: transport `hid` (0665:5161) or `serial` at 2400 Bd 8N1.
 */
import { z } from 'zod';
import type { FamilyConfigEntry } from '../config-types.js';
import { finiteOrNull } from '../../store/energy.js';

export const inverterSerial = z.string().regex(/^\d{6,22}$/, 'inverter serials are the digits ID reports (14 on an LVX6048, e.g. "96142109100037")');

export const pi18Schema = z
  .object({
    /** The unit's serial as `^P005ID` reports it: a different unit on this link is shown offline and never written. */
    serial: inverterSerial,
    /** Device id in the API (default "inv-<serial>"). */
    id: z.string().regex(/^[a-zA-Z][\w-]{0,31}$/, 'inverter ids are letters, digits, "-" or "_" (e.g. "inv-master")').optional(),
    name: z.string().min(1).max(64).optional(),
    /** GS + MOD every statusMs, FWS every faultsMs, PIRI (and ET) every settingsMs. */
    statusMs: z.number().int().min(1000).max(600_000).default(5000),
    faultsMs: z.number().int().min(1000).max(600_000).default(10_000),
    settingsMs: z.number().int().min(5000).max(3_600_000).default(60_000),
    /** Reply deadline per attempt (≥ 2 s at 2400 Bd, pi18.md §3.1). */
    timeoutMs: z.number().int().min(500).max(10_000).default(2000),
    /** Wait between a setter's ack and its PIRI read-back (workflow §5). */
    settleMs: z.number().int().min(0).max(5000).default(500),
    /** Failed polls in a row before the unit is shown offline. */
    offlineAfterMisses: z.number().int().min(1).max(20).default(3),
    /** Only for the built-in simulator: the unit's parallel index (0 = master) and its peer's serial. */
    simulate: z
      .object({ parallelIndex: z.number().int().min(0).max(8).default(0), peer: inverterSerial.optional() })
      .strict()
      .optional(),
  })
  .strict();

export type Pi18Config = z.infer<typeof pi18Schema>;

/** The API id of the unit a section names. */
export const pi18DeviceId = (c: Pick<Pi18Config, 'id' | 'serial'>): string => c.id ?? `inv-${c.serial}`;

export const pi18Config = {
  schema: pi18Schema,
  carrier: 'stream',
  /** PV produced: both MPPT inputs together (GS pv1 + pv2). */
  energy: { what: 'produced by the solar panels', power: (v) => finiteOrNull(v.pvPowerW) },
} as const satisfies FamilyConfigEntry<Pi18Config>;
