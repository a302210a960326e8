/**
 * LiFePO4 charger settings: the `[charger]` keys of the original (flatpack2-charger-behaviour.md
 * §1) with their defaults, and the validation the original never did up front. The config
 * loader and `updateChargerSettings` call `validateChargerSettings`; the machine calls it
 * again on `start`, so an invalid configuration can never reach the PSUs.
 */
import type { Flatpack2Limits } from '../gate.js';

export interface ChargerSettings {
  cellCount: number;
  /** Per-cell CV voltage; target = round(cellCount × cellVoltageMaxV, 3), floored to 0.01 V. */
  cellVoltageMaxV: number;
  /** Only used by the SOC estimate. */
  capacityAh: number;
  /** CC current, TOTAL over the PSU group (A). */
  chargeCurrentA: number;
  /** End-of-charge current, total (A). */
  tailCurrentA: number;
  /** Counted from RAMP entry (time spent in RAMP/CC/CV). */
  safetyTimeLimitMin: number;
  detectVoltageV: number;
  /** Per PSU: the DETECT probe is one broadcast SET(detectVoltageV, detectCurrentA). */
  detectCurrentA: number;
  detectThresholdV: number;
  /** Total over the group. */
  minCurrentDetectA: number;
  disconnectDetectTimeS: number;
  rampStepVoltageV: number;
  rampStepIntervalS: number;
  voltageToleranceV: number;
  autoStart: boolean;
  /** New: DETECT without a battery gives up after this long (→ error with a reason). */
  detectTimeoutMin: number;
}

/**
 * §1 fallbacks, except cellVoltageMaxV: the original's 3.65 V gives a 58.4 V target that no
 * Flatpack2 can deliver, so every start failed without a config (§7 #10). We default to the
 * shipped flatpack2_charger.conf value 3.60 V (16 × 3.60 = 57.6 V, the PSU maximum).
 */
export const DEFAULT_CHARGER_SETTINGS: Readonly<ChargerSettings> = Object.freeze({
  cellCount: 16,
  cellVoltageMaxV: 3.6,
  capacityAh: 100,
  chargeCurrentA: 20,
  tailCurrentA: 2,
  safetyTimeLimitMin: 600,
  detectVoltageV: 48,
  detectCurrentA: 0.2,
  detectThresholdV: 1,
  minCurrentDetectA: 0.5,
  disconnectDetectTimeS: 5,
  rampStepVoltageV: 0.1,
  rampStepIntervalS: 5,
  voltageToleranceV: 0.1,
  autoStart: true,
  detectTimeoutMin: 30,
});

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** round(cellCount × cellVoltageMaxV, 3) as the original computes it (used for validation). */
export function nominalTargetV(s: Pick<ChargerSettings, 'cellCount' | 'cellVoltageMaxV'>): number {
  return round3(s.cellCount * s.cellVoltageMaxV);
}

/**
 * The CV target the machine sets: the nominal target floored to the wire's 0.01 V, so the
 * encoded value never exceeds it (the original rounded 55.296 V up to 55.30 V on the wire).
 */
export function chargeTargetV(s: Pick<ChargerSettings, 'cellCount' | 'cellVoltageMaxV'>): number {
  return Math.floor(nominalTargetV(s) * 100 + 1e-6) / 100;
}

/** True when x sits on a grid of `step` (0.01 V, 0.1 A) within float noise. */
function onGrid(x: number, perUnit: number): boolean {
  return Math.abs(x * perUnit - Math.round(x * perUnit)) < 1e-6;
}

export type ChargerSettingsCheck = { ok: true } | { ok: false; code: 'OUT_OF_RANGE'; message: string; key: keyof ChargerSettings };

/** The numeric settings (everything but autoStart); the API exposes exactly these. */
export const CHARGER_NUMERIC_KEYS = [
  'cellCount',
  'cellVoltageMaxV',
  'capacityAh',
  'chargeCurrentA',
  'tailCurrentA',
  'safetyTimeLimitMin',
  'detectVoltageV',
  'detectCurrentA',
  'detectThresholdV',
  'minCurrentDetectA',
  'disconnectDetectTimeS',
  'rampStepVoltageV',
  'rampStepIntervalS',
  'voltageToleranceV',
  'detectTimeoutMin',
] as const satisfies ReadonlyArray<keyof ChargerSettings>;

/**
 * Refuses settings the PSU group cannot honour, naming the key and what is allowed.
 * `psuCount` is the size of the group the charge would run on (at least 1 is assumed).
 */
export function validateChargerSettings(s: ChargerSettings, limits: Flatpack2Limits, psuCount: number): ChargerSettingsCheck {
  const bad = (key: keyof ChargerSettings, message: string): ChargerSettingsCheck => ({ ok: false, code: 'OUT_OF_RANGE', key, message });
  const v2 = (x: number) => `${x.toFixed(2)} V`;
  const a1 = (x: number) => `${x.toFixed(1)} A`;
  for (const key of CHARGER_NUMERIC_KEYS) {
    const x = s[key];
    if (typeof x !== 'number' || !Number.isFinite(x)) return bad(key, `${key} must be a finite number, got ${String(x)}`);
  }
  if (typeof s.autoStart !== 'boolean') return bad('autoStart', `autoStart must be true or false, got ${String(s.autoStart)}`);
  const units = Math.max(1, Math.floor(psuCount));

  if (!Number.isInteger(s.cellCount) || s.cellCount < 1) return bad('cellCount', `cellCount must be a whole number ≥ 1, got ${s.cellCount}`);
  if (!(s.cellVoltageMaxV > 0)) return bad('cellVoltageMaxV', `cellVoltageMaxV must be > 0 V, got ${s.cellVoltageMaxV}`);
  const target = nominalTargetV(s);
  const what = `target voltage cellCount × cellVoltageMaxV = ${s.cellCount} × ${s.cellVoltageMaxV} = ${v2(target)}`;
  if (target > limits.maxVoltageV + 1e-9) {
    const maxCell = Math.floor((limits.maxVoltageV / s.cellCount) * 1000) / 1000;
    return bad('cellVoltageMaxV', `${what} exceeds the PSU maximum of ${v2(limits.maxVoltageV)}; set cellVoltageMaxV to at most ${maxCell.toFixed(3)} V for ${s.cellCount} cells`);
  }
  if (target >= limits.ovpV) return bad('cellVoltageMaxV', `${what} must stay below the PSU over-voltage protection of ${v2(limits.ovpV)}`);
  if (target < limits.minVoltageV) return bad('cellVoltageMaxV', `${what} is below the PSU minimum of ${v2(limits.minVoltageV)}; this charger needs a 48 V-class pack`);

  if (!(s.capacityAh > 0)) return bad('capacityAh', `capacityAh must be > 0 Ah, got ${s.capacityAh}`);

  if (!(s.chargeCurrentA > 0)) return bad('chargeCurrentA', `chargeCurrentA must be > 0 A, got ${s.chargeCurrentA}`);
  const groupMaxA = Math.round(units * limits.maxCurrentA * 10) / 10;
  if (s.chargeCurrentA > groupMaxA + 1e-9) {
    return bad('chargeCurrentA', `chargeCurrentA ${a1(s.chargeCurrentA)} exceeds what ${units} PSU(s) can deliver (${units} × ${a1(limits.maxCurrentA)} = ${a1(groupMaxA)})`);
  }
  const groupMinA = Math.round(units * limits.minCurrentA * 10) / 10;
  if (s.chargeCurrentA < groupMinA - 1e-9) {
    return bad('chargeCurrentA', `chargeCurrentA ${a1(s.chargeCurrentA)} is too small to share over ${units} PSU(s); each needs at least ${a1(limits.minCurrentA)} (≥ ${a1(groupMinA)} total)`);
  }
  if (!(s.tailCurrentA > 0)) return bad('tailCurrentA', `tailCurrentA must be > 0 A, got ${s.tailCurrentA}`);
  if (!(s.tailCurrentA < s.chargeCurrentA)) {
    return bad('tailCurrentA', `tailCurrentA ${a1(s.tailCurrentA)} must be below chargeCurrentA ${a1(s.chargeCurrentA)}, or CV would end at once`);
  }
  if (!(s.safetyTimeLimitMin > 0)) return bad('safetyTimeLimitMin', `safetyTimeLimitMin must be > 0 min, got ${s.safetyTimeLimitMin}`);

  const dv = s.detectVoltageV;
  if (dv < limits.minVoltageV || dv > limits.maxVoltageV) {
    return bad('detectVoltageV', `detectVoltageV ${v2(dv)} is outside the PSU range ${v2(limits.minVoltageV)}–${v2(limits.maxVoltageV)}`);
  }
  if (!onGrid(dv, 100)) return bad('detectVoltageV', `detectVoltageV ${dv} must be a multiple of 0.01 V (the PSU's resolution)`);
  if (!(s.detectThresholdV > 0)) return bad('detectThresholdV', `detectThresholdV must be > 0 V, got ${s.detectThresholdV}`);
  if (!(dv + s.detectThresholdV < target)) {
    return bad('detectVoltageV', `detectVoltageV + detectThresholdV = ${v2(dv + s.detectThresholdV)} must be below the ${what}, or a battery could not be told from the probe`);
  }
  const di = s.detectCurrentA;
  if (di < limits.minCurrentA || di > limits.maxCurrentA) {
    return bad('detectCurrentA', `detectCurrentA ${di} A (per PSU) is outside the PSU range ${a1(limits.minCurrentA)}–${a1(limits.maxCurrentA)}`);
  }
  if (!onGrid(di, 10)) return bad('detectCurrentA', `detectCurrentA ${di} must be a multiple of 0.1 A (the PSU's resolution)`);
  if (dv * di > limits.powerRatingW) {
    return bad('detectCurrentA', `detectVoltageV × detectCurrentA = ${(dv * di).toFixed(0)} W exceeds the ${limits.powerRatingW} W rating`);
  }
  if (!(s.minCurrentDetectA > 0)) return bad('minCurrentDetectA', `minCurrentDetectA must be > 0 A, got ${s.minCurrentDetectA}`);
  if (!(s.disconnectDetectTimeS > 0)) return bad('disconnectDetectTimeS', `disconnectDetectTimeS must be > 0 s, got ${s.disconnectDetectTimeS}`);
  if (!(s.rampStepVoltageV >= 0.01 && s.rampStepVoltageV <= 1)) {
    // Large steps overshoot the PSU's current limiter (upstream fix 3.0.2); below 0.01 V nothing moves on the wire.
    return bad('rampStepVoltageV', `rampStepVoltageV must be 0.01–1.00 V, got ${s.rampStepVoltageV}`);
  }
  if (!(s.rampStepIntervalS > 0)) return bad('rampStepIntervalS', `rampStepIntervalS must be > 0 s, got ${s.rampStepIntervalS}`);
  if (!(s.voltageToleranceV >= 0 && s.voltageToleranceV < target - dv)) {
    return bad('voltageToleranceV', `voltageToleranceV must be ≥ 0 V and below target − detectVoltageV (${v2(target - dv)}), got ${s.voltageToleranceV}`);
  }
  if (!(s.detectTimeoutMin > 0)) return bad('detectTimeoutMin', `detectTimeoutMin must be > 0 min, got ${s.detectTimeoutMin}`);
  return { ok: true };
}
