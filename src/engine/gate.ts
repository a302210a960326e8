/**
 * The command gate: the one place where safety limits live. Every command passes here
 * before a driver sees it; a rejection carries a machine-readable code and a message that
 * says what is allowed, and nothing goes on the wire.
 *
 * Pure functions only — property-based tests drive them with random input.
 */

import { CHARGER_NUMERIC_KEYS, nominalTargetV, type ChargerSettings } from './charger/settings.js';
import type { Code } from '../codes.js';

/** The gate's refusals: a subset of the one list in src/codes.ts. */
export type GateCode = Extract<Code, 'OUT_OF_RANGE' | 'DEVICE_OFFLINE' | 'NOT_FOUND' | 'LINK_DOWN' | 'CHARGER_OWNS_PSU' | 'CONFLICT'>;

export type GateResult<T> = { ok: true; value: T; notes: string[] } | { ok: false; code: GateCode; message: string };

export interface Flatpack2Limits {
  minVoltageV: number;
  maxVoltageV: number;
  minCurrentA: number;
  maxCurrentA: number;
  powerRatingW: number;
  ovpV: number;
}

/** Flatpack2 48 V family limits (flatpack2.md §2.9): I_MAX = round(P / 48 V, 1). */
export function flatpack2Limits(p: { powerRatingW: number; ovpV: number }): Flatpack2Limits {
  return {
    minVoltageV: 43.5,
    maxVoltageV: 57.6,
    minCurrentA: 0.1,
    maxCurrentA: Math.round((p.powerRatingW / 48) * 10) / 10,
    powerRatingW: p.powerRatingW,
    ovpV: p.ovpV,
  };
}

/** Standby: a safe idle output that keeps the PSU logged in but pushes no real current. */
export const FLATPACK2_STANDBY = { voltageV: 48.0, currentA: 0.1 } as const;

export interface PsuSetpoint {
  /** Exactly the values that will be encoded: 0.01 V and 0.1 A resolution. */
  voltageV: number;
  currentA: number;
  ovpV: number;
  /** True when the current was reduced to keep V × I within the power rating. */
  clamped: boolean;
}

const fmt = (n: number, d = 1) => n.toFixed(d);

/**
 * Validates a Flatpack2 output request. Voltage is rounded to the wire's 0.01 V, current to
 * 0.1 A; if V × I would exceed the rating, the current is lowered (floored to 0.1 A, so the
 * encoded pair never exceeds it) rather than the request refused — what a user asking for
 * "max current" means.
 */
export function checkPsuSetpoint(limits: Flatpack2Limits, req: { voltageV: number; currentA: number }): GateResult<PsuSetpoint> {
  const { minVoltageV, maxVoltageV, minCurrentA, maxCurrentA, powerRatingW, ovpV } = limits;
  const vRange = `${fmt(minVoltageV)}–${fmt(maxVoltageV)} V`;
  const iRange = `${fmt(minCurrentA)}–${fmt(maxCurrentA)} A`;
  if (typeof req.voltageV !== 'number' || !Number.isFinite(req.voltageV)) {
    return { ok: false, code: 'OUT_OF_RANGE', message: `voltageV must be a number in ${vRange}` };
  }
  if (typeof req.currentA !== 'number' || !Number.isFinite(req.currentA)) {
    return { ok: false, code: 'OUT_OF_RANGE', message: `currentA must be a number in ${iRange}` };
  }
  const voltageV = Math.round(req.voltageV * 100) / 100;
  let currentA = Math.round(req.currentA * 10) / 10;
  if (voltageV < minVoltageV || voltageV > maxVoltageV) {
    return { ok: false, code: 'OUT_OF_RANGE', message: `voltage ${req.voltageV} V is outside ${vRange}` };
  }
  if (currentA < minCurrentA || currentA > maxCurrentA) {
    return { ok: false, code: 'OUT_OF_RANGE', message: `current ${req.currentA} A is outside ${iRange}` };
  }
  if (voltageV >= ovpV) {
    return {
      ok: false,
      code: 'OUT_OF_RANGE',
      message: `voltage ${fmt(voltageV, 2)} V must stay below the over-voltage protection of ${fmt(ovpV, 2)} V`,
    };
  }
  const notes: string[] = [];
  let clamped = false;
  if (voltageV * currentA > powerRatingW + 1e-9) {
    const limited = Math.floor((powerRatingW / voltageV) * 10 + 1e-9) / 10;
    notes.push(`current limited from ${fmt(currentA)} A to ${fmt(limited)} A to stay within ${powerRatingW} W at ${fmt(voltageV, 2)} V`);
    currentA = limited;
    clamped = true;
  }
  return { ok: true, value: { voltageV, currentA, ovpV, clamped }, notes };
}

export interface DeviceGateView {
  id: string;
  online: boolean;
  lastSeen: number | null;
  /** Charger id that currently owns this PSU, if any. */
  ownedBy: string | null;
}

/** Interlocks for a manual command on one device: it must exist, be online and not be owned. */
export function checkDeviceAvailable(
  deviceId: string,
  device: DeviceGateView | undefined,
  opts: { origin: string },
): GateResult<DeviceGateView> {
  if (!device) return { ok: false, code: 'NOT_FOUND', message: `no device "${deviceId}"; query devices { id } for the ids` };
  if (device.ownedBy && opts.origin !== 'charger' && opts.origin !== 'safety') {
    return {
      ok: false,
      code: 'CHARGER_OWNS_PSU',
      message: `${deviceId} is driven by charger "${device.ownedBy}"; stop the charge first (stopCharge)`,
    };
  }
  if (!device.online) {
    const since = device.lastSeen ? ` (last seen ${new Date(device.lastSeen).toISOString()})` : '';
    return { ok: false, code: 'DEVICE_OFFLINE', message: `${deviceId} is offline${since}; a setpoint would not reach it` };
  }
  return { ok: true, value: device, notes: [] };
}

/**
 * The power-on (EEPROM) voltage a PSU falls back to when its login lapses: the value that
 * matters most when the controller dies, so it gets the same voltage range and OVP check.
 */
export function checkDefaultVoltage(limits: Flatpack2Limits, voltageV: number): GateResult<number> {
  const r = checkPsuSetpoint(limits, { voltageV, currentA: limits.minCurrentA });
  return r.ok ? { ok: true, value: r.value.voltageV, notes: [] } : r;
}

// ---- charger settings ---------------------------------------------------------------

export type ChargerSettingsCheck = { ok: true } | { ok: false; code: 'OUT_OF_RANGE'; message: string; key: keyof ChargerSettings };

/** True when x sits on a grid of `step` (0.01 V, 0.1 A) within float noise. */
function onGrid(x: number, perUnit: number): boolean {
  return Math.abs(x * perUnit - Math.round(x * perUnit)) < 1e-6;
}

/**
 * A total charge current shared over `units` PSUs of a broadcast group: each unit needs at
 * least the minimum and can give at most the maximum. Used by the settings check and by a
 * running charger's current change.
 */
export function checkGroupCurrent(limits: Flatpack2Limits, units: number, currentA: number): GateResult<number> {
  const n = Math.max(1, Math.floor(units));
  const a1 = (x: number) => `${x.toFixed(1)} A`;
  const groupMaxA = Math.round(n * limits.maxCurrentA * 10) / 10;
  const groupMinA = Math.round(n * limits.minCurrentA * 10) / 10;
  if (!Number.isFinite(currentA) || !(currentA > 0)) return { ok: false, code: 'OUT_OF_RANGE', message: `charge current must be > 0 A, got ${currentA}` };
  if (currentA > groupMaxA + 1e-9) {
    return { ok: false, code: 'OUT_OF_RANGE', message: `${a1(currentA)} exceeds what ${n} PSU(s) can deliver (${n} × ${a1(limits.maxCurrentA)} = ${a1(groupMaxA)})` };
  }
  if (currentA < groupMinA - 1e-9) {
    return { ok: false, code: 'OUT_OF_RANGE', message: `${a1(currentA)} is too small to share over ${n} PSU(s); each needs at least ${a1(limits.minCurrentA)} (≥ ${a1(groupMinA)} total)` };
  }
  return { ok: true, value: currentA, notes: [] };
}

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
  const group = checkGroupCurrent(limits, units, s.chargeCurrentA);
  if (!group.ok) return bad('chargeCurrentA', `chargeCurrentA ${group.message}`);
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
