/** The Flatpack2 48 V family's output limits: what its page of the gate checks a setpoint against. */
import type { DcOutputLimits } from '../../engine/capabilities.js';

export type { DcOutputLimits as Flatpack2Limits } from '../../engine/capabilities.js';

/** Standby: a safe idle output that keeps the PSU logged in but pushes no real current. */
export const FLATPACK2_STANDBY = { voltageV: 48.0, currentA: 0.1 } as const;

/** Flatpack2 48 V family limits (flatpack2.md §2.9): I_MAX = round(P / 48 V, 1). */
export function flatpack2Limits(p: { powerRatingW: number; ovpV: number }): DcOutputLimits {
  return {
    standby: FLATPACK2_STANDBY,
    minVoltageV: 43.5,
    maxVoltageV: 57.6,
    minCurrentA: 0.1,
    maxCurrentA: Math.round((p.powerRatingW / 48) * 10) / 10,
    powerRatingW: p.powerRatingW,
    ovpV: p.ovpV,
  };
}
