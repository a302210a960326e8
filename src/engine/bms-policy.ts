/**
 * What a BMS allows the charger, derived from its snapshot. Policy, so it lives in the engine:
 * the driver only reports flags; this decides which of them block charging.
 */
import type { BatterySnapshot } from '../drivers/bms/driver.js';
import type { BmsLimits } from './charger/machine.js';

/**
 * Protections that only concern discharging (or a low battery) do not block a charge; every
 * other active protection does — when in doubt, stop pushing current.
 */
const DISCHARGE_ONLY = /discharge|under-voltage|afe-uv|afe-ocd|afe-scd/;

export function chargeBlockers(s: BatterySnapshot): string[] {
  const out: string[] = [];
  for (const p of s.protections ?? []) if (!DISCHARGE_ONLY.test(p)) out.push(`protection ${p}`);
  // 0x35C bit 7 "charge enable": a BMS that reports request flags without it asks us to stop.
  if (s.requestFlags !== null && !s.requestFlags.includes('charge-enable')) out.push('charge-enable request cleared (0x35C)');
  return out;
}

/** Full: the BMS stopped charging near the top (≥ 97 %) without any protection raised. */
const FULL_SOC_PCT = 97;

export function bmsLimitsFromSnapshot(s: BatterySnapshot): BmsLimits {
  const blockers = chargeBlockers(s);
  const noProtection = blockers.every((b) => !b.startsWith('protection'));
  const stoppedCharging = blockers.length > 0 || s.chargeCurrentLimitA === 0;
  return {
    chargeVoltageLimitV: s.chargeVoltageLimitV,
    chargeCurrentLimitA: s.chargeCurrentLimitA,
    chargeAllowed: blockers.length === 0,
    blockReason: blockers.length ? blockers.join(', ') : s.chargeCurrentLimitA === 0 ? 'charge current limit 0 A' : null,
    full: stoppedCharging && noProtection && s.socPct !== null && s.socPct >= FULL_SOC_PCT,
  };
}

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
