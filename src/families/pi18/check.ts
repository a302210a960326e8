/**
 * The PI18 family's page of the command gate (pure): range and step checks of every setter, and
 * the cross-field rules checked on the MERGED state — the device's settings (decoded PIRI)
 * overlaid with what is being written (pi18-profile-workflow.md §2). Every violation is returned,
 * not only the first (the seed printed them all).
 *
 * Ranges are those of a 48 V unit (pi18.md §5; workflow §2); a unit of another rated battery
 * voltage gets its BUCD lists from §5, and its other custom voltages are refused (the reference
 * gives no PSDV/MCHGV ranges for 12/24 V units).
 */
import type { Code } from '../../codes.js';
import type { FamilyCheck } from '../contract.js';
import {
  BATTERY_TYPES,
  CHARGER_PRIORITIES,
  OUTPUT_SOURCE_PRIORITIES,
  SOLAR_POWER_PRIORITIES,
  voltsToTenths,
  type BatteryType,
  type Enum,
  type Pi18Setting,
  type Piri,
} from './codec.js';
import type { Pi18Command } from './driver.js';

export interface Violation {
  /** The profile key(s) concerned, e.g. "cutoff_voltage" or "cutoff_voltage,stop_discharge_voltage". */
  key: string;
  code: Code;
  message: string;
}

export interface Pi18CheckContext {
  /** Who, for messages ("inverter lvx-1"). */
  device: string;
  /** The unit's current settings (decoded PIRI); null when not read yet. */
  settings: Piri | null;
  /** The unit's MCHGCR / MUCHGCR lists; null → the fallbacks of workflow §2. */
  currentSteps?: { charge: number[]; utility: number[] } | null;
  /** Rated battery voltage when `settings` is null (default 48). */
  batteryRatedVoltageV?: number;
  /** The unit's parallel max num (PIRI #20) for the unit index of MCHGC/MUCHGC/PCP; default 9. */
  parallelMaxNum?: number;
}

/** Fallback step lists (workflow §2). */
export const FALLBACK_CHARGE_STEPS = [10, 20, 30, 40, 50, 60, 70, 80];
export const FALLBACK_UTILITY_STEPS = [2, 10, 20, 30, 40, 50, 60, 70, 80];

/** BUCD lists per system voltage, in tenths (pi18.md §5). */
const BUCD_DISCHARGE: Record<number, number[]> = {
  48: range(440, 510, 10),
  24: range(220, 255, 5),
  12: [110, 113, 115, 118, 120, 123, 125, 128],
};
const BUCD_CHARGE: Record<number, number[]> = {
  48: range(480, 580, 10),
  24: range(240, 290, 5),
  12: [120, 123, 125, 128, 130, 133, 135, 138, 140, 143, 145],
};

function range(a: number, b: number, step: number): number[] {
  const out: number[] = [];
  for (let v = a; v <= b; v += step) out.push(v);
  return out;
}

const fmtV = (t: number) => `${(t / 10).toFixed(1)} V`;
const listV = (ts: number[]) => ts.map((t) => (t / 10).toString()).join(', ');

/** The voltage a setting carries, in tenths; null with a violation when it is not a number with ≤ 1 decimal. */
function tenths(v: unknown, key: string, out: Violation[], who: string): number | null {
  const t = typeof v === 'number' ? voltsToTenths(v) : null;
  if (t === null) {
    out.push({ key, code: 'OUT_OF_RANGE', message: `${who}: ${key} ${JSON.stringify(v)} is not a voltage with at most one decimal (e.g. 44.0)` });
    return null;
  }
  return t;
}

function systemVoltage(ctx: Pi18CheckContext): number {
  return Math.round(ctx.settings?.batteryRatedVoltageV ?? ctx.batteryRatedVoltageV ?? 48);
}

/** Range and step checks of one setting on its own (pi18.md §5; workflow §2). */
export function rangeViolations(s: Pi18Setting, ctx: Pi18CheckContext, unit?: number): Violation[] {
  const out: Violation[] = [];
  const who = ctx.device;
  const sys = systemVoltage(ctx);
  const only48 = (key: string) => {
    if (sys !== 48) out.push({ key, code: 'OUT_OF_RANGE', message: `${who} is a ${sys} V unit; ranges for ${key} are known only for 48 V units, so it is not written — set it on the unit's panel` });
    return sys === 48;
  };
  const enumCheck = (key: string, v: unknown, names: readonly string[]) => {
    if (typeof v !== 'string' || !names.includes(v)) out.push({ key, code: 'OUT_OF_RANGE', message: `${who}: ${key} ${JSON.stringify(v)} is not one of ${names.join(', ')}` });
  };
  const unitCheck = (key: string) => {
    if (unit === undefined) return;
    const max = ctx.settings?.parallelMaxNum ?? ctx.parallelMaxNum ?? 9;
    if (!Number.isInteger(unit) || unit < 0 || unit > Math.max(0, Math.min(9, max - 1))) {
      out.push({ key, code: 'OUT_OF_RANGE', message: `${who}: parallel unit index ${unit} for ${key} is not 0…${Math.max(0, Math.min(9, max - 1))}` });
    }
  };
  switch (s.key) {
    case 'battery_type':
      enumCheck('battery_type', s.value, BATTERY_TYPES);
      break;
    case 'cutoff_voltage': {
      const t = tenths(s.volts, 'cutoff_voltage', out, who);
      if (t !== null && only48('cutoff_voltage') && (t < 400 || t > 480)) {
        out.push({ key: 'cutoff_voltage', code: 'OUT_OF_RANGE', message: `${who}: cutoff_voltage ${fmtV(t)} is outside 40.0–48.0 V` });
      }
      break;
    }
    case 'battery_thresholds': {
      const d = tenths(s.stopDischargeV, 'stop_discharge_voltage', out, who);
      const list = BUCD_DISCHARGE[sys];
      if (!list) {
        out.push({ key: 'stop_discharge_voltage,stop_charge_voltage', code: 'OUT_OF_RANGE', message: `${who}: no BUCD values are known for a ${sys} V unit` });
        break;
      }
      if (d !== null && !list.includes(d)) out.push({ key: 'stop_discharge_voltage', code: 'OUT_OF_RANGE', message: `${who}: stop_discharge_voltage ${fmtV(d)} is not one of ${listV(list)} V` });
      if (s.stopChargeV !== 'full') {
        const c = tenths(s.stopChargeV, 'stop_charge_voltage', out, who);
        const cl = BUCD_CHARGE[sys]!;
        if (c !== null && !cl.includes(c)) out.push({ key: 'stop_charge_voltage', code: 'OUT_OF_RANGE', message: `${who}: stop_charge_voltage ${fmtV(c)} is not "full" or one of ${listV(cl)} V` });
      }
      break;
    }
    case 'charge_voltages': {
      const b = tenths(s.bulkV, 'bulk_voltage', out, who);
      const f = tenths(s.floatV, 'float_voltage', out, who);
      if (!only48('bulk_voltage,float_voltage')) break;
      if (b !== null && (b < 480 || b > 584)) out.push({ key: 'bulk_voltage', code: 'OUT_OF_RANGE', message: `${who}: bulk_voltage ${fmtV(b)} is outside 48.0–58.4 V` });
      if (f !== null && (f < 480 || f > 584)) out.push({ key: 'float_voltage', code: 'OUT_OF_RANGE', message: `${who}: float_voltage ${fmtV(f)} is outside 48.0–58.4 V` });
      break;
    }
    case 'max_charging_current': {
      const steps = ctx.currentSteps?.charge ?? FALLBACK_CHARGE_STEPS;
      if (!Number.isInteger(s.amps) || !steps.includes(s.amps)) {
        out.push({ key: 'max_charging_current', code: 'OUT_OF_RANGE', message: `${who}: max_charging_current ${s.amps} A is not one of the unit's steps ${steps.join(', ')} A` });
      }
      unitCheck('max_charging_current');
      break;
    }
    case 'max_utility_charging_current': {
      const steps = ctx.currentSteps?.utility ?? FALLBACK_UTILITY_STEPS;
      if (!Number.isInteger(s.amps) || !steps.includes(s.amps)) {
        out.push({ key: 'max_utility_charging_current', code: 'OUT_OF_RANGE', message: `${who}: max_utility_charging_current ${s.amps} A is not one of the unit's steps ${steps.join(', ')} A` });
      }
      unitCheck('max_utility_charging_current');
      break;
    }
    case 'output_source_priority':
      enumCheck('output_source_priority', s.value, OUTPUT_SOURCE_PRIORITIES);
      break;
    case 'charger_priority':
      enumCheck('charger_priority', s.value, CHARGER_PRIORITIES);
      unitCheck('charger_priority');
      break;
    case 'solar_power_priority':
      enumCheck('solar_power_priority', s.value, SOLAR_POWER_PRIORITIES);
      break;
    case 'grid_tie':
      if (typeof s.enabled !== 'boolean') out.push({ key: 'grid_tie', code: 'OUT_OF_RANGE', message: `${who}: grid_tie must be true or false` });
      break;
    default:
      out.push({ key: String((s as { key: unknown }).key), code: 'OUT_OF_RANGE', message: `${who}: ${JSON.stringify((s as { key: unknown }).key)} is not a setting this family writes` });
  }
  return out;
}

/** The values the cross-field rules look at; null where unknown (device not read, not in the change). */
export interface MergedSettings {
  batteryType: Enum<BatteryType> | null;
  cutoffV: number | null;
  stopDischargeV: number | null;
  /** 0 = full. */
  stopChargeV: number | null;
  bulkV: number | null;
  floatV: number | null;
  maxChargingA: number | null;
  maxUtilityA: number | null;
}

export function mergedFromPiri(p: Piri | null): MergedSettings {
  return {
    batteryType: p?.batteryType ?? null,
    cutoffV: p?.cutoffVoltageV ?? null,
    stopDischargeV: p?.stopDischargeVoltageV ?? null,
    stopChargeV: p?.stopChargeVoltageV ?? null,
    bulkV: p?.bulkVoltageV ?? null,
    floatV: p?.floatVoltageV ?? null,
    maxChargingA: p?.maxChargingCurrentA ?? null,
    maxUtilityA: p?.maxUtilityChargingCurrentA ?? null,
  };
}

/** Overlays settings on a merged state (a new object). */
export function overlay(m: MergedSettings, settings: readonly Pi18Setting[]): MergedSettings {
  const out = { ...m };
  for (const s of settings) {
    switch (s.key) {
      case 'battery_type':
        out.batteryType = s.value;
        break;
      case 'cutoff_voltage':
        out.cutoffV = s.volts;
        break;
      case 'battery_thresholds':
        out.stopDischargeV = s.stopDischargeV;
        out.stopChargeV = s.stopChargeV === 'full' ? 0 : s.stopChargeV;
        break;
      case 'charge_voltages':
        out.bulkV = s.bulkV;
        out.floatV = s.floatV;
        break;
      case 'max_charging_current':
        out.maxChargingA = s.amps;
        break;
      case 'max_utility_charging_current':
        out.maxUtilityA = s.amps;
        break;
      default:
        break;
    }
  }
  return out;
}

const lt = (a: number, b: number) => Math.round(a * 10) < Math.round(b * 10);
const le = (a: number, b: number) => Math.round(a * 10) <= Math.round(b * 10);

/** The cross-field rules of workflow §2 on a merged state; every one that fails. */
export function crossFieldViolations(m: MergedSettings, who: string): Violation[] {
  const out: Violation[] = [];
  if (m.cutoffV !== null && m.stopDischargeV !== null && !lt(m.cutoffV, m.stopDischargeV)) {
    out.push({ key: 'cutoff_voltage,stop_discharge_voltage', code: 'CONFLICT', message: `${who}: cutoff_voltage ${m.cutoffV} V must be below stop_discharge_voltage ${m.stopDischargeV} V` });
  }
  if (m.bulkV !== null && m.floatV !== null && !le(m.floatV, m.bulkV)) {
    out.push({ key: 'bulk_voltage,float_voltage', code: 'CONFLICT', message: `${who}: float_voltage ${m.floatV} V must not exceed bulk_voltage ${m.bulkV} V` });
  }
  if (m.stopChargeV !== null && m.stopChargeV !== 0 && m.stopDischargeV !== null && !lt(m.stopDischargeV, m.stopChargeV)) {
    out.push({ key: 'stop_discharge_voltage,stop_charge_voltage', code: 'CONFLICT', message: `${who}: stop_charge_voltage ${m.stopChargeV} V must be above stop_discharge_voltage ${m.stopDischargeV} V (or "full")` });
  }
  if (m.maxUtilityA !== null && m.maxChargingA !== null && m.maxUtilityA > m.maxChargingA) {
    out.push({ key: 'max_utility_charging_current,max_charging_current', code: 'CONFLICT', message: `${who}: max_utility_charging_current ${m.maxUtilityA} A must not exceed max_charging_current ${m.maxChargingA} A` });
  }
  return out;
}

const CUSTOM_VOLTAGE_KEYS = new Set<Pi18Setting['key']>(['cutoff_voltage', 'battery_thresholds', 'charge_voltages']);

/**
 * Every violation of a set of settings written together (a profile's changes, or one command):
 * each one's ranges, then the cross-field rules on the device's settings overlaid with all of
 * them, including "custom voltages need battery type user" (in the change or on the unit).
 */
export function checkSettings(settings: readonly { setting: Pi18Setting; unit?: number }[], ctx: Pi18CheckContext): Violation[] {
  const out: Violation[] = [];
  for (const { setting, unit } of settings) out.push(...rangeViolations(setting, ctx, unit));
  const merged = overlay(mergedFromPiri(ctx.settings), settings.map((s) => s.setting));
  const custom = settings.filter((s) => CUSTOM_VOLTAGE_KEYS.has(s.setting.key));
  if (custom.length && merged.batteryType !== 'user') {
    const bt = merged.batteryType === null ? 'unknown (not read yet)' : typeof merged.batteryType === 'object' ? `code ${merged.batteryType.unknown}` : merged.batteryType;
    out.push({
      key: 'battery_type',
      code: 'CONFLICT',
      message: `${ctx.device}: custom voltages (${custom.map((s) => s.setting.key).join(', ')}) need battery_type user, but it is ${bt} — set battery_type: user too`,
    });
  }
  // A rule the unit already breaks on keys this change does not touch is the unit's state, not
  // this change's fault (and the change cannot fix it): only rules touching a written key count.
  const written = new Set(settings.flatMap((s) => profileKeysOf(s.setting)));
  out.push(...crossFieldViolations(merged, ctx.device).filter((v) => v.key.split(',').some((k) => written.has(k))));
  return out;
}

/** The profile keys a setting writes (pairs: both halves). */
export function profileKeysOf(s: Pi18Setting): string[] {
  if (s.key === 'battery_thresholds') return ['stop_discharge_voltage', 'stop_charge_voltage'];
  if (s.key === 'charge_voltages') return ['bulk_voltage', 'float_voltage'];
  return [s.key];
}

/** The family's check of one command (its page of the gate): every violation in one message. */
export const checkPi18: FamilyCheck<Pi18Command, Pi18CheckContext> = (cmd, ctx) => {
  const { unit, ...setting } = cmd;
  const v = checkSettings([{ setting: setting as Pi18Setting, unit }], ctx);
  if (v.length === 0) {
    const notes = ctx.settings ? [] : [`${ctx.device}: settings not read yet; cross-field rules were checked on the command alone`];
    return { ok: true, value: cmd, notes };
  }
  const code: Code = v.some((x) => x.code === 'OUT_OF_RANGE') ? 'OUT_OF_RANGE' : 'CONFLICT';
  return { ok: false, code, message: v.map((x) => x.message).join('; ') };
};
