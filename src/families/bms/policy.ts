/**
 * What a BMS allows the charger, derived from its snapshot. Policy, so it lives in the engine:
 * the driver only reports flags and what the 0x35E identity says; this decides which of them
 * block charging.
 *
 * - Dialect (defect 8.6): charging is allowed only while the dialect check is `confirmed` (0x35E
 *   names the configured dialect) or `unverified` (no 0x35E after the driver's wait, or a maker
 *   that names neither dialect: nothing contradicts the configuration, and an event says so).
 *   `mismatch` blocks — a Deye stack read as Pylontech turns "cell too cold to charge" into
 *   "discharge over-current", a Pylontech stack read as Deye shows charge as discharge — and so
 *   does `pending` (the stack just came online; 0x35E comes within its first 1-s burst). We do
 *   not switch dialect on our own: the configuration is the user's statement about the wiring,
 *   and a frame that contradicts it is as likely a wrong stack on the wrong bus as a typo.
 * - Protections: only the ones known to concern discharging (or a low battery) let a charge go
 *   on; every other one does not — including a bit the tables do not name.
 * - Alarms and request flags: a known one is information; a bit the tables do not name blocks.
 */
import type { BatterySnapshot, DialectCheck } from './driver.js';
import {
  DEYE_ALARM_TABLES,
  DEYE_PROTECTION_TABLES,
  DEYE_SYSTEM_ERROR_TABLE,
  PYLON_ALARM_TABLES,
  PYLON_PROTECTION_TABLES,
  REQUEST_FLAG_TABLE,
} from './codec.js';
import type { BmsLimits } from '../../engine/charger/machine.js';

const names = (tables: ReadonlyArray<ReadonlyArray<string | null>>): Set<string> => new Set(tables.flat().filter((n): n is string => n !== null));

/** Every protection name the codec's tables define (both dialects). */
export const KNOWN_PROTECTIONS: ReadonlySet<string> = names([...DEYE_PROTECTION_TABLES, DEYE_SYSTEM_ERROR_TABLE, ...PYLON_PROTECTION_TABLES]);
/** Every alarm (warning-level) name the codec's tables define (both dialects). */
export const KNOWN_ALARMS: ReadonlySet<string> = names([...DEYE_ALARM_TABLES, ...PYLON_ALARM_TABLES]);
export const KNOWN_REQUEST_FLAGS: ReadonlySet<string> = names([REQUEST_FLAG_TABLE]);

/**
 * Protections that only concern discharging or a low battery (bms-can.md §3.4, §3.5): a charge
 * is what they ask for, or at least does not make them worse. Named one by one: a name not in
 * this list — a new table entry, an unnamed bit — blocks.
 */
export const DISCHARGE_ONLY_PROTECTIONS: ReadonlySet<string> = new Set([
  // Deye tables 1-3
  'cell-under-voltage',
  'module-under-voltage',
  'discharge-over-current',
  'cell-over-temp-discharge',
  'cell-under-temp-discharge',
  'afe-ocd1',
  'afe-ocd2',
  'afe-uv',
  'afe-ocd',
  'afe-scd',
  'afe-scdl',
  // Pylontech byte 0 (its 'discharge-over-current' is the same name)
  'under-voltage',
]);

export type DialectRefusal = { code: 'BMS_DIALECT_MISMATCH' | 'BMS_DIALECT_PENDING'; message: string };

/** Why the dialect check forbids guided charging, or null. */
export function dialectBlocker(c: DialectCheck | undefined): string | null {
  if (!c) return 'dialect not checked yet (no BMS snapshot)';
  if (c.status === 'mismatch') return `dialect mismatch: ${c.reason}`;
  if (c.status === 'pending') return 'waiting for the BMS identity (0x35E) to confirm the configured dialect';
  return null;
}

/** The refusal of a guided start because of the dialect, or null (for the charger's start). */
export function dialectRefusal(batteryId: string, s: BatterySnapshot | null): DialectRefusal | null {
  const c = s?.dialectCheck;
  if (c?.status === 'mismatch') {
    return { code: 'BMS_DIALECT_MISMATCH', message: `battery ${batteryId}: ${c.reason}; a guided charge is refused until then` };
  }
  if (!c || c.status === 'pending') {
    return { code: 'BMS_DIALECT_PENDING', message: `battery ${batteryId}: its BMS has not identified itself (0x35E) since it came online, so its dialect is not confirmed yet; try again in a few seconds` };
  }
  return null;
}

export function chargeBlockers(s: BatterySnapshot): string[] {
  const out: string[] = [];
  const dialect = dialectBlocker(s.dialectCheck);
  if (dialect) out.push(dialect);
  for (const p of s.protections ?? []) {
    if (!KNOWN_PROTECTIONS.has(p)) out.push(`protection ${p} (a bit the protocol tables do not name)`);
    else if (!DISCHARGE_ONLY_PROTECTIONS.has(p)) out.push(`protection ${p}`);
  }
  for (const a of s.alarms ?? []) if (!KNOWN_ALARMS.has(a)) out.push(`alarm ${a} (a bit the protocol tables do not name)`);
  for (const r of s.requestFlags ?? []) if (!KNOWN_REQUEST_FLAGS.has(r)) out.push(`request flag ${r} (a bit the protocol tables do not name)`);
  // 0x35C bit 7 "charge enable": a BMS that reports request flags without it asks us to stop.
  if (s.requestFlags !== null && !s.requestFlags.includes('charge-enable')) out.push('charge-enable request cleared (0x35C)');
  return out;
}

/** Full: the BMS stopped charging near the top (≥ 97 %) without any protection raised. */
const FULL_SOC_PCT = 97;

export function bmsLimitsFromSnapshot(s: BatterySnapshot): BmsLimits {
  const blockers = chargeBlockers(s);
  // Only a cleared charge-enable or a 0 A limit can mean "full"; a dialect problem, a
  // protection or an unnamed bit never does.
  const onlyStopRequest = blockers.every((b) => b.startsWith('charge-enable'));
  const stoppedCharging = blockers.length > 0 || s.chargeCurrentLimitA === 0;
  return {
    chargeVoltageLimitV: s.chargeVoltageLimitV,
    chargeCurrentLimitA: s.chargeCurrentLimitA,
    chargeAllowed: blockers.length === 0,
    blockReason: blockers.length ? blockers.join(', ') : s.chargeCurrentLimitA === 0 ? 'charge current limit 0 A' : null,
    full: stoppedCharging && onlyStopRequest && s.socPct !== null && s.socPct >= FULL_SOC_PCT,
  };
}

