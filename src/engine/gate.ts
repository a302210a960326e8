/**
 * The command gate: the one place where safety limits live. Every command passes here
 * before a driver sees it; a rejection carries a machine-readable code and a message that
 * says what is allowed, and nothing goes on the wire.
 *
 * Pure functions only — property-based tests drive them with random input.
 */

import { CHARGER_NUMERIC_KEYS, nominalTargetV, type ChargerSettings } from './charger/settings.js';
import type { Code } from '../codes.js';
import type { AdmittedCommand } from '../families/contract.js';
import type { DcOutputLimits } from './capabilities.js';

export type { DcOutputLimits } from './capabilities.js';

/** The gate's refusals: a subset of the one list in src/codes.ts. */
export type GateCode = Extract<Code, 'OUT_OF_RANGE' | 'DEVICE_OFFLINE' | 'NOT_FOUND' | 'LINK_DOWN' | 'CHARGER_OWNS_PSU' | 'CONFLICT' | 'STORAGE_UNAVAILABLE'>;

export type GateResult<T> = { ok: true; value: T; notes: string[] } | { ok: false; code: GateCode; message: string };

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
export function checkPsuSetpoint(limits: DcOutputLimits, req: { voltageV: number; currentA: number }): GateResult<PsuSetpoint> {
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

/**
 * The storage interlock: while the database cannot be written, nothing may push power that the
 * log cannot record. Standby and stopping a charge (the safe direction) stay allowed.
 */
export function checkStorageWritable(store: { writable: boolean; error: string | null }, opts: { standby: boolean }): GateResult<null> {
  if (store.writable || opts.standby) return { ok: true, value: null, notes: [] };
  return {
    ok: false,
    code: 'STORAGE_UNAVAILABLE',
    message: `the database cannot be written (${store.error ?? 'unknown error'}), so every charge was stopped and every bus put in standby; free space on its disk (or fix its permissions) — power commands are refused until writes work again, standby and stopCharge still work`,
  };
}

export interface DeviceGateView {
  id: string;
  /** The friendly name people know the device by (messages use it; the id stays for machines). */
  name?: string;
  /** The friendly name of the charger in ownedBy. */
  ownerName?: string | null;
  online: boolean;
  lastSeen: number | null;
  /** Charger id that currently owns this PSU, if any. */
  ownedBy: string | null;
}

/** Interlocks for a manual command on one device: it must exist, be online and not be owned. */
export function checkDeviceAvailable(
  deviceId: string,
  device: DeviceGateView | undefined,
  opts: { origin: string; standby?: boolean },
): GateResult<DeviceGateView> {
  if (!device) return { ok: false, code: 'NOT_FOUND', message: `no device "${deviceId}"; query devices { id } for the ids` };
  if (device.ownedBy && opts.origin !== 'charger' && opts.origin !== 'safety') {
    return {
      ok: false,
      code: 'CHARGER_OWNS_PSU',
      message: `${device.name ?? deviceId} is being driven by the charger "${device.ownerName ?? device.ownedBy}", so it cannot be set by hand now; stop the charge first (Charger page, Stop charge), then try again`,
    };
  }
  // Standby is accepted for an offline PSU: it becomes the bus's desired state, applied when
  // the PSU returns, so the value restored on reconnect can be made safe in advance.
  if (!device.online && !opts.standby) {
    const since = device.lastSeen ? ` (last seen ${new Date(device.lastSeen).toISOString()})` : '';
    return { ok: false, code: 'DEVICE_OFFLINE', message: `${device.name ?? deviceId} is offline${since}, so a new setting would not reach it; check its power and its cable to the adapter, and try again when it shows online` };
  }
  return { ok: true, value: device, notes: [] };
}

/**
 * The power-on (EEPROM) voltage a PSU falls back to when its login lapses: the value that
 * matters most when the controller dies, so it gets the same voltage range and OVP check.
 */
export function checkDefaultVoltage(limits: DcOutputLimits, voltageV: number): GateResult<number> {
  const r = checkPsuSetpoint(limits, { voltageV, currentA: limits.minCurrentA });
  return r.ok ? { ok: true, value: r.value.voltageV, notes: [] } : r;
}

/** The fallback voltage on a charger's bus when the config names none: the PSU minimum. */
export const CHARGER_BUS_FALLBACK_V = 43.5;
/** A float a LiFePO4 pack can sit at indefinitely (per cell): the cap for a DC-load bus's fallback. */
export const FLOAT_MAX_CELL_V = 3.4;

/**
 * The fallback (power-on) voltage of a charger's bus: what every PSU delivers at FULL current
 * when its login lapses (the controller died, the adapter was unplugged). The default, the
 * PSU minimum, is below any healthy 16-cell LiFePO4 pack, so nothing unsupervised flows into
 * it. A DC-load bus may set a float up to 3.40 V per cell: the PSUs then hold the load and
 * float the pack at full current when nobody supervises them — the note says so.
 */
export function checkFallbackVoltage(limits: DcOutputLimits, configured: number | undefined, cellCount: number): GateResult<number> {
  const v = configured ?? CHARGER_BUS_FALLBACK_V;
  const maxV = Math.floor(cellCount * FLOAT_MAX_CELL_V * 100 + 1e-6) / 100;
  const g = checkDefaultVoltage(limits, v);
  if (!g.ok) return { ok: false, code: g.code, message: `fallbackVoltageV ${g.message}` };
  if (g.value > maxV + 1e-9) {
    return {
      ok: false,
      code: 'OUT_OF_RANGE',
      message:
        `fallbackVoltageV ${g.value.toFixed(2)} V is above a LiFePO4 float of ${FLOAT_MAX_CELL_V.toFixed(2)} V × ${cellCount} cells = ${maxV.toFixed(2)} V; ` +
        `a PSU falls back to it at full current (${limits.maxCurrentA.toFixed(1)} A each) whenever the controller stops. ` +
        `Use ${CHARGER_BUS_FALLBACK_V} V (no unsupervised current) or a float ≤ ${maxV.toFixed(2)} V if the PSUs also carry a DC load`,
    };
  }
  const notes =
    g.value > CHARGER_BUS_FALLBACK_V
      ? [
          `fallback ${g.value.toFixed(2)} V: when the controller stops, every PSU holds the DC load and floats the pack at ${g.value.toFixed(2)} V with its FULL current (${limits.maxCurrentA.toFixed(1)} A each), unsupervised`,
        ]
      : [];
  return { ok: true, value: g.value, notes };
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
export function checkGroupCurrent(limits: DcOutputLimits, units: number, currentA: number): GateResult<number> {
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
 * Safe ranges of the charger settings, the same for the config file and the API. A value
 * outside them would switch a safety function off (a safety timer of 1e308 min, a tail
 * current no PSU can measure) or is not a LiFePO4 value; each range says why it stops there.
 * Cross-field rules (target vs PSU range, tail < charge current, …) follow in the validator.
 */
export const CHARGER_SETTING_RANGES: Readonly<Partial<Record<keyof ChargerSettings, { min: number; max: number; unit: string; why: string }>>> = {
  cellCount: { min: 1, max: 32, unit: '', why: 'cells in series' },
  // LiFePO4: 3.65 V is the cell maker's absolute charge limit; below 3.0 V nothing charges.
  cellVoltageMaxV: { min: 3.0, max: 3.65, unit: 'V', why: 'the LiFePO4 charge voltage range per cell' },
  capacityAh: { min: 1, max: 20_000, unit: 'Ah', why: 'used for the SOC estimate' },
  // A 0.05 C charge of an empty pack takes ~20 h; the timer must end a charge that never tapers.
  safetyTimeLimitMin: { min: 1, max: 2880, unit: 'min', why: 'the safety timer must end a charge that never tapers (48 h at most)' },
  // The PSUs report current in 0.1 A steps and share it; below 0.5 A the tail cannot be told from noise.
  tailCurrentA: { min: 0.5, max: 500, unit: 'A', why: 'the PSUs must be able to measure the tail current' },
  detectThresholdV: { min: 0.1, max: 5, unit: 'V', why: 'a battery must be told from the probe' },
  minCurrentDetectA: { min: 0.2, max: 10, unit: 'A', why: 'the current that proves a battery is connected' },
  disconnectDetectTimeS: { min: 1, max: 60, unit: 's', why: 'a disconnected battery must be noticed within a minute' },
  rampStepIntervalS: { min: 1, max: 60, unit: 's', why: 'RAMP must move (the PSU walk-in takes ~5 s)' },
  voltageToleranceV: { min: 0, max: 1, unit: 'V', why: 'the CV band below the target' },
  detectTimeoutMin: { min: 1, max: 240, unit: 'min', why: 'DETECT without a battery must give up' },
};

/**
 * Refuses settings the PSU group cannot honour, naming the key and what is allowed.
 * `psuCount` is the size of the group the charge would run on (at least 1 is assumed).
 */
export function validateChargerSettings(s: ChargerSettings, limits: DcOutputLimits, psuCount: number): ChargerSettingsCheck {
  const bad = (key: keyof ChargerSettings, message: string): ChargerSettingsCheck => ({ ok: false, code: 'OUT_OF_RANGE', key, message });
  const v2 = (x: number) => `${x.toFixed(2)} V`;
  const a1 = (x: number) => `${x.toFixed(1)} A`;
  for (const key of CHARGER_NUMERIC_KEYS) {
    const x = s[key];
    if (typeof x !== 'number' || !Number.isFinite(x)) return bad(key, `${key} must be a finite number, got ${String(x)}`);
  }
  if (typeof s.autoStart !== 'boolean') return bad('autoStart', `autoStart must be true or false, got ${String(s.autoStart)}`);
  for (const [key, r] of Object.entries(CHARGER_SETTING_RANGES) as Array<[keyof ChargerSettings, { min: number; max: number; unit: string; why: string }]>) {
    const x = s[key] as number;
    if (x < r.min || x > r.max) return bad(key, `${key} must be ${r.min}–${r.max}${r.unit ? ' ' + r.unit : ''} (${r.why}), got ${x}`);
  }
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
  if (!(s.minCurrentDetectA < s.chargeCurrentA)) {
    return bad('minCurrentDetectA', `minCurrentDetectA ${a1(s.minCurrentDetectA)} must be below chargeCurrentA ${a1(s.chargeCurrentA)}, or a charging battery would look disconnected`);
  }
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

/**
 * The interlocks a charge start passes, in order: storage, the guiding battery (online, its
 * dialect confirmed), the link, a unit online, every unit's fallback voltage confirmed.
 */
export function checkChargeStart(i: {
  chargerId: string;
  /** Friendly names for the messages (the ids when absent). */
  chargerName?: string;
  busId: string;
  storage: { writable: boolean; error: string | null };
  battery: { id: string; name?: string; online: boolean; refusal: { code: Extract<Code, 'BMS_DIALECT_MISMATCH' | 'BMS_DIALECT_PENDING'>; message: string } | null } | null;
  linkUp: boolean;
  unitsOnline: number;
  fallback: { voltageV: number | null; pendingIds: string[]; pendingNames?: string[] };
}): { ok: true } | { ok: false; code: Extract<Code, 'STORAGE_UNAVAILABLE' | 'BMS_OFFLINE' | 'BMS_DIALECT_MISMATCH' | 'BMS_DIALECT_PENDING' | 'LINK_DOWN' | 'NO_PSUS' | 'FALLBACK_PENDING'>; message: string } {
  const storage = checkStorageWritable(i.storage, { standby: false });
  if (!storage.ok) return { ok: false, code: 'STORAGE_UNAVAILABLE', message: `${i.chargerName ?? `charger ${i.chargerId}`}: ${storage.message}` };
  if (i.battery && !i.battery.online) {
    return { ok: false, code: 'BMS_OFFLINE', message: `the battery "${i.battery.name ?? i.battery.id}" is not talking (its BMS is offline), and the charge follows the limits it sends; check the BMS cable to the CAN adapter, then start again when the battery shows online` };
  }
  if (i.battery?.refusal) return { ok: false, ...i.battery.refusal };
  if (!i.linkUp) {
    // Its first command (the DETECT probe) could not reach the rectifiers, which would keep
    // whatever they were last given.
    return { ok: false, code: 'LINK_DOWN', message: `the CAN adapter of ${i.busId} is not connected, so the rectifiers cannot be reached; plug it in (or wait for it to come back) and start again when its link shows up` };
  }
  if (i.unitsOnline === 0) return { ok: false, code: 'NO_PSUS', message: `none of the rectifiers of ${i.chargerName ?? `charger ${i.chargerId}`} is online on ${i.busId}; check they have mains power, wait until they show online, then start again` };
  if (i.fallback.pendingIds.length) {
    return {
      ok: false,
      code: 'FALLBACK_PENDING',
      message: `${(i.fallback.pendingNames ?? i.fallback.pendingIds).join(', ')} have not confirmed the fallback voltage of ${i.fallback.voltageV?.toFixed(2)} V yet (what they deliver unsupervised); it is being written - try again in a few seconds`,
    };
  }
  return { ok: true };
}

/**
 * Admission: the gate's checks, and the only place an AdmittedCommand is made (a driver's
 * `execute` and a DC output's `send` take nothing else), so a check runs once and cannot be
 * skipped. The cast below is the brand's one use.
 */
function admitted<T>(r: GateResult<T>): GateResult<AdmittedCommand<T>> {
  return r.ok ? { ok: true, value: r.value as AdmittedCommand<T>, notes: r.notes } : r;
}

/** A DC output setpoint (voltage, current, OVP) for a bus with these limits. */
export function admitDcSetpoint(limits: DcOutputLimits, req: { voltageV: number; currentA: number }): GateResult<AdmittedCommand<PsuSetpoint>> {
  return admitted(checkPsuSetpoint(limits, req));
}

/** A unit's power-on (fallback) voltage. */
export function admitPowerOnDefault(limits: DcOutputLimits, voltageV: number): GateResult<AdmittedCommand<{ voltageV: number }>> {
  const g = checkDefaultVoltage(limits, voltageV);
  return g.ok ? admitted({ ok: true, value: { voltageV: g.value }, notes: g.notes }) : g;
}

/** A family command, through the family's page of the gate (its `check`). */
export function admitFamilyCommand<C, Ctx>(
  check: (cmd: C, ctx: Ctx) => { ok: true; value: C; notes: string[] } | { ok: false; code: Code; message: string },
  cmd: C,
  ctx: Ctx,
): { ok: true; value: AdmittedCommand<C>; notes: string[] } | { ok: false; code: Code; message: string } {
  const r = check(cmd, ctx);
  return r.ok ? { ok: true, value: r.value as AdmittedCommand<C>, notes: r.notes } : r;
}
