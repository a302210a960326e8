/**
 * What the config loader knows of a family without loading it (its driver may need node-hid):
 * the schema of its link section, the carrier it speaks over, and the capabilities a charger
 * looks for in the config (a DC output with its limits, a battery id).
 */
import type { z } from 'zod';
import type { DcOutputLimits } from '../engine/capabilities.js';
import type { EnergySource } from '../store/energy.js';

export type Carrier = 'can' | 'stream';

export interface FamilyConfigEntry<Cfg> {
  schema: z.ZodType<Cfg>;
  /** 'can': frames through a Waveshare USB-CAN-A; 'stream': the family's own framing on a serial, HID or TCP transport. */
  carrier: Carrier;
  /** The section offers a DC output a charger can drive. */
  dcOutput?: {
    limits(c: Cfg): DcOutputLimits;
    fallbackVoltageV(c: Cfg): number | undefined;
    /** Units the config names (a charger's current is checked against them). */
    units(c: Cfg): number;
    /** How a unit is named in a charger's `psus:` list. */
    unitKey: z.ZodType<string>;
  };
  /** The section names a battery (a charger may be guided by it). */
  batteryId?(c: Cfg): string;
  /** Which reading of its devices is power, for energy by day. */
  energy?: EnergySource;
}
