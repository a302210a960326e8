/** Comparing BMS limits: the charger reacts to a change, not to every repeat of the same frame. */
import type { BmsLimits } from './machine.js';

export function sameLimits(a: BmsLimits | null, b: BmsLimits | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.chargeVoltageLimitV === b.chargeVoltageLimitV &&
    a.chargeCurrentLimitA === b.chargeCurrentLimitA &&
    a.chargeAllowed === b.chargeAllowed &&
    a.blockReason === b.blockReason &&
    !!a.full === !!b.full
  );
}
