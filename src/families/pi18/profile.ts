/**
 * PI18 settings profiles (pure): the model, YAML dump/parse that round-trips, validation, diff and
 * the PLAN — the ordered exact frames with the expected PIRI after each step — per
 * pi18-profile-workflow.md (cited as WF §n). Running a plan against a unit is apply.ts.
 *
 * Safe ordering (WF §5), computed from the current vs wanted values so that every intermediate
 * state keeps `cutoff < stop_discharge` and `utility current ≤ total current` (a property test
 * checks it over random current/wanted settings):
 *   1 battery_type · 2 MCHGV · 3 PSDV/BUCD (raising: BUCD first; lowering: PSDV first) ·
 *   4 MUCHGC/MCHGC (lowering: utility first; raising: total first) · 5 PCP, POP, PSP · 6 PEI/PDI.
 */
import type { Scalar } from 'yaml';
import { yaml } from '../../lazy-yaml.js';
import {
  applySettingToPiri,
  BATTERY_TYPES,
  buildFrame,
  CHARGER_PRIORITIES,
  encodeSetting,
  hex,
  isUnknown,
  OUTPUT_SOURCE_PRIORITIES,
  SOLAR_POWER_PRIORITIES,
  type BatteryType,
  type ChargerPriority,
  type CrcVariant,
  type Firmware,
  type OutputSourcePriority,
  type Pi18Setting,
  type Piri,
  type SolarPowerPriority,
} from './codec.js';
import { checkSettings, crossFieldViolations, mergedFromPiri, rangeViolations, type Pi18CheckContext, type Violation } from './check.js';

/** A profile: a flat map of optional keys (WF §1). Voltages in volts, currents in whole amps. */
export interface Profile {
  battery_type?: BatteryType;
  cutoff_voltage?: number;
  stop_discharge_voltage?: number;
  stop_charge_voltage?: number | 'full';
  bulk_voltage?: number;
  float_voltage?: number;
  max_utility_charging_current?: number;
  max_charging_current?: number;
  output_source_priority?: OutputSourcePriority;
  charger_priority?: ChargerPriority;
  solar_power_priority?: SolarPowerPriority;
  grid_tie?: boolean;
}

export type ProfileKey = keyof Profile;

/** Written alongside a dump, never applied; compare/apply use it for safety checks (WF §3 step 4). */
export interface ProfileMeta {
  serial?: string;
  firmware?: Firmware;
  battery_rated_voltage?: number;
  dumped_at?: string;
}

export const PROFILE_KEYS: readonly ProfileKey[] = [
  'battery_type',
  'cutoff_voltage',
  'stop_discharge_voltage',
  'stop_charge_voltage',
  'bulk_voltage',
  'float_voltage',
  'max_utility_charging_current',
  'max_charging_current',
  'output_source_priority',
  'charger_priority',
  'solar_power_priority',
  'grid_tie',
];

const PAIR_OF: Partial<Record<ProfileKey, ProfileKey>> = {
  stop_discharge_voltage: 'stop_charge_voltage',
  stop_charge_voltage: 'stop_discharge_voltage',
  bulk_voltage: 'float_voltage',
  float_voltage: 'bulk_voltage',
};

const VOLTAGE_KEYS = new Set<ProfileKey>(['cutoff_voltage', 'stop_discharge_voltage', 'stop_charge_voltage', 'bulk_voltage', 'float_voltage']);

/** Per-key guidance written as comments by dump (the seed's KEY_DOCS, phrased as constraints). */
export const KEY_DOCS: Record<ProfileKey, string> = {
  battery_type: 'agm | flooded | user — user unlocks the custom voltages below',
  cutoff_voltage: 'V 40.0..48.0 — hard shutdown; must be < stop_discharge_voltage. Needs battery_type user.',
  stop_discharge_voltage: 'V 44..51 step 1 — switch battery→grid below this (pair: stop_charge_voltage). Needs battery_type user.',
  stop_charge_voltage: 'full or V 48..58 step 1, above stop_discharge_voltage — switch grid→battery above this (pair). Needs battery_type user.',
  bulk_voltage: 'V 48.0..58.4 — CC→CV transition (pair: float_voltage; must be >= float_voltage). Needs battery_type user.',
  float_voltage: 'V 48.0..58.4 — held while on grid (pair: bulk_voltage; must be <= bulk_voltage). Needs battery_type user.',
  max_utility_charging_current: "A, one of the unit's MUCHGCR list (typ. 2,10,20..80) — grid-side cap; <= max_charging_current",
  max_charging_current: "A, one of the unit's MCHGCR list (typ. 10,20..80) — combined solar+AC cap",
  output_source_priority: 'solar_utility_battery | solar_battery_utility',
  charger_priority: 'solar_first | solar_and_utility | solar_only',
  solar_power_priority: 'battery_load_utility | load_battery_utility',
  grid_tie: 'true (PEI, grid-tie) | false (PDI, off-grid) — applied last',
};

// ---------------------------------------------------------------------------------------------
// Profile ⇄ settings ⇄ PIRI

/** Every profile key as the unit has it now (no skipping; unknown enum codes stay unknown). */
export function profileFromPiri(p: Piri): Record<ProfileKey, unknown> {
  return {
    battery_type: p.batteryType,
    cutoff_voltage: p.cutoffVoltageV,
    stop_discharge_voltage: p.stopDischargeVoltageV,
    stop_charge_voltage: p.stopChargeVoltageV === 0 ? 'full' : p.stopChargeVoltageV,
    bulk_voltage: p.bulkVoltageV,
    float_voltage: p.floatVoltageV,
    max_utility_charging_current: p.maxUtilityChargingCurrentA,
    max_charging_current: p.maxChargingCurrentA,
    output_source_priority: p.outputSourcePriority,
    charger_priority: p.chargerPriority,
    solar_power_priority: p.solarPowerPriority,
    grid_tie: isUnknown(p.machineType) ? p.machineType : p.machineType === 'grid_tie',
  };
}

/** The settings a (pair-complete) profile writes; pairs become one setting (WF §1). */
export function profileToSettings(p: Profile): Pi18Setting[] {
  const out: Pi18Setting[] = [];
  if (p.battery_type !== undefined) out.push({ key: 'battery_type', value: p.battery_type });
  if (p.cutoff_voltage !== undefined) out.push({ key: 'cutoff_voltage', volts: p.cutoff_voltage });
  if (p.stop_discharge_voltage !== undefined && p.stop_charge_voltage !== undefined) {
    out.push({ key: 'battery_thresholds', stopDischargeV: p.stop_discharge_voltage, stopChargeV: p.stop_charge_voltage });
  }
  if (p.bulk_voltage !== undefined && p.float_voltage !== undefined) out.push({ key: 'charge_voltages', bulkV: p.bulk_voltage, floatV: p.float_voltage });
  if (p.max_utility_charging_current !== undefined) out.push({ key: 'max_utility_charging_current', amps: p.max_utility_charging_current });
  if (p.max_charging_current !== undefined) out.push({ key: 'max_charging_current', amps: p.max_charging_current });
  if (p.output_source_priority !== undefined) out.push({ key: 'output_source_priority', value: p.output_source_priority });
  if (p.charger_priority !== undefined) out.push({ key: 'charger_priority', value: p.charger_priority });
  if (p.solar_power_priority !== undefined) out.push({ key: 'solar_power_priority', value: p.solar_power_priority });
  if (p.grid_tie !== undefined) out.push({ key: 'grid_tie', enabled: p.grid_tie });
  return out;
}

/** The profile keys a setting writes. */
export function settingKeys(s: Pi18Setting): ProfileKey[] {
  switch (s.key) {
    case 'battery_thresholds':
      return ['stop_discharge_voltage', 'stop_charge_voltage'];
    case 'charge_voltages':
      return ['bulk_voltage', 'float_voltage'];
    default:
      return [s.key];
  }
}

/**
 * Everything wrong with a profile for a unit, before any I/O: pair completeness (WF §2), each
 * setting's range and step, and the cross-field rules on the device's settings overlaid with the
 * profile. Every violation, not only the first.
 */
export function validateProfile(p: Profile, ctx: Pi18CheckContext): Violation[] {
  const out: Violation[] = [];
  const pair = (a: ProfileKey, b: ProfileKey) => {
    if ((p[a] === undefined) !== (p[b] === undefined)) {
      const has = p[a] === undefined ? b : a;
      const missing = p[a] === undefined ? a : b;
      out.push({ key: `${a},${b}`, code: 'OUT_OF_RANGE', message: `${ctx.device}: ${has} is written together with ${missing} (one frame); give both or neither` });
    }
  };
  pair('stop_discharge_voltage', 'stop_charge_voltage');
  pair('bulk_voltage', 'float_voltage');
  out.push(...checkSettings(profileToSettings(p).map((setting) => ({ setting })), ctx));
  return out;
}

// ---------------------------------------------------------------------------------------------
// dump (WF §3) and YAML

export interface Skipped {
  key: ProfileKey;
  value: unknown;
  reason: string;
}

/**
 * The profile of a unit's current settings. Any value `apply` could not write back is omitted
 * with a reason (unknown enum codes, currents off the step list, voltages out of range, a pair
 * with an unsettable half — both omitted, custom voltages on a non-user battery type, a key in a
 * cross-field conflict), so a dumped profile always validates and round-trips.
 */
export function dumpProfile(piri: Piri, ctx: Omit<Pi18CheckContext, 'settings'>): { profile: Profile; skipped: Skipped[] } {
  const all = profileFromPiri(piri);
  const skipped: Skipped[] = [];
  const profile: Record<string, unknown> = {};
  const c: Pi18CheckContext = { ...ctx, settings: piri };
  const skip = (key: ProfileKey, reason: string) => {
    if (key in profile) {
      skipped.push({ key, value: profile[key], reason });
      delete profile[key];
    }
  };
  for (const key of PROFILE_KEYS) {
    const v = all[key];
    if (typeof v === 'object' && v !== null && 'unknown' in v) {
      skipped.push({ key, value: v, reason: `unknown code ${(v as { unknown: number }).unknown} — not written back` });
      continue;
    }
    profile[key] = v;
  }
  const pairs: [ProfileKey, ProfileKey][] = [
    ['stop_discharge_voltage', 'stop_charge_voltage'],
    ['bulk_voltage', 'float_voltage'],
  ];
  // Each setting on its own: a failing one is omitted (a pair as a whole).
  for (const s of profileToSettings(profile as Profile)) {
    const v = rangeViolations(s, c);
    if (v.length) for (const k of settingKeys(s)) skip(k, v.map((x) => x.message).join('; '));
  }
  for (const [a, b] of pairs) {
    if ((a in profile) !== (b in profile)) {
      skip(a, `its pair ${b} cannot be written back`);
      skip(b, `its pair ${a} cannot be written back`);
    }
  }
  if (piri.batteryType !== 'user') {
    for (const k of VOLTAGE_KEYS) skip(k, 'custom voltages are only written with battery_type user; this unit has another type');
  }
  // Cross-field conflicts already on the unit: omit the key that can be left out on its own.
  for (let guard = 0; guard < 6; guard++) {
    const v = validateProfile(profile as Profile, c);
    if (!v.length) break;
    for (const x of v) {
      // Leave out the key that can go on its own (cutoff, utility current) if it is there, else the rest.
      const keys = x.key.split(',') as ProfileKey[];
      const single = keys.find((k) => (k === 'cutoff_voltage' || k === 'max_utility_charging_current') && k in profile);
      const drop = single ? [single] : keys;
      for (const k of drop) {
        skip(k, x.message);
        const mate = PAIR_OF[k];
        if (mate) skip(mate, `its pair ${k} is left out (${x.message})`);
      }
    }
  }
  return { profile: profile as Profile, skipped };
}

function voltScalar(v: number): Scalar {
  const s = new (yaml().Scalar)(v);
  s.minFractionDigits = 1;
  return s;
}

/** The YAML text of a profile: a header, each key with its guidance comment, the metadata block. */
export function profileToYaml(profile: Profile, meta: ProfileMeta = {}, skipped: Skipped[] = []): string {
  const { Document, YAMLMap, Scalar } = yaml();
  const doc = new Document();
  const map = new YAMLMap();
  for (const key of PROFILE_KEYS) {
    const v = profile[key];
    if (v === undefined) continue;
    const k = new Scalar(key);
    k.commentBefore = ` ${KEY_DOCS[key]}`;
    map.add(doc.createPair(k, VOLTAGE_KEYS.has(key) && typeof v === 'number' ? voltScalar(v) : v));
  }
  if (Object.keys(meta).length) {
    const k = new Scalar('metadata');
    k.commentBefore = ' Read from the unit at dump time; not applied (apply checks serial and rated voltage against it).';
    map.add(doc.createPair(k, doc.createNode(meta)));
  }
  doc.contents = map;
  const lines = [' LVX6048 (PI18) settings profile. All keys are optional; a key left out is not changed.', ' `profile diff` previews the changes; `profile plan` lists the exact frames; `profile apply --confirm` writes.'];
  if (skipped.length) {
    lines.push('', ' skipped (not settable back to the unit as read):');
    for (const s of skipped) lines.push(`   ${s.key} = ${JSON.stringify(s.value)}: ${s.reason}`);
  }
  doc.commentBefore = lines.join('\n');
  return doc.toString({ lineWidth: 0 });
}

export type ParsedProfile = { ok: true; profile: Profile; meta: ProfileMeta } | { ok: false; violations: Violation[] };

const ALIASES: Record<string, Record<string, unknown>> = {
  battery_type: { AGM: 'agm', FLOODED: 'flooded', USER: 'user' },
  solar_power_priority: { battery_load_utility_ac: 'battery_load_utility' }, // the seed's name
  grid_tie: { enabled: true, disabled: false }, // the seed's values
};

/**
 * Reads a profile from YAML (or an already-parsed object): unknown keys, wrong types and
 * unknown enum names are violations (all of them). The seed's spellings are accepted
 * (AGM/FLOODED/USER, battery_load_utility_ac, grid_tie enabled/disabled, stop_charge 0 = full).
 */
export function parseProfile(input: string | Record<string, unknown>, device = 'profile'): ParsedProfile {
  let raw: unknown;
  if (typeof input === 'string') {
    try {
      raw = yaml().parse(input) ?? {};
    } catch (err) {
      return { ok: false, violations: [{ key: '', code: 'BAD_USER_INPUT', message: `${device}: not valid YAML: ${(err as Error).message}` }] };
    }
  } else raw = input;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, violations: [{ key: '', code: 'BAD_USER_INPUT', message: `${device}: a profile is a map of keys (battery_type: user, …)` }] };
  }
  const v: Violation[] = [];
  const out: Record<string, unknown> = {};
  let meta: ProfileMeta = {};
  for (const [key, value0] of Object.entries(raw as Record<string, unknown>)) {
    if (key === 'metadata') {
      if (typeof value0 === 'object' && value0 !== null) meta = value0 as ProfileMeta;
      continue;
    }
    if (!(PROFILE_KEYS as readonly string[]).includes(key)) {
      v.push({ key, code: 'BAD_USER_INPUT', message: `${device}: unknown key ${key} (known: ${PROFILE_KEYS.join(', ')})` });
      continue;
    }
    const alias = ALIASES[key];
    const value = alias && typeof value0 === 'string' && value0 in alias ? alias[value0] : value0;
    const bad = (want: string) => v.push({ key, code: 'BAD_USER_INPUT', message: `${device}: ${key} ${JSON.stringify(value0)} is not ${want}` });
    switch (key as ProfileKey) {
      case 'battery_type':
        if (!(BATTERY_TYPES as readonly unknown[]).includes(value)) bad(BATTERY_TYPES.join(' | '));
        else out[key] = value;
        break;
      case 'output_source_priority':
        if (!(OUTPUT_SOURCE_PRIORITIES as readonly unknown[]).includes(value)) bad(OUTPUT_SOURCE_PRIORITIES.join(' | '));
        else out[key] = value;
        break;
      case 'charger_priority':
        if (!(CHARGER_PRIORITIES as readonly unknown[]).includes(value)) bad(CHARGER_PRIORITIES.join(' | '));
        else out[key] = value;
        break;
      case 'solar_power_priority':
        if (!(SOLAR_POWER_PRIORITIES as readonly unknown[]).includes(value)) bad(SOLAR_POWER_PRIORITIES.join(' | '));
        else out[key] = value;
        break;
      case 'grid_tie':
        if (typeof value !== 'boolean') bad('true or false');
        else out[key] = value;
        break;
      case 'stop_charge_voltage':
        if (value === 'full' || value === 0) out[key] = 'full';
        else if (typeof value !== 'number' || !Number.isFinite(value)) bad('"full" or a voltage');
        else out[key] = value;
        break;
      case 'max_charging_current':
      case 'max_utility_charging_current':
        if (typeof value !== 'number' || !Number.isInteger(value)) bad('a whole number of amps');
        else out[key] = value;
        break;
      default:
        if (typeof value !== 'number' || !Number.isFinite(value)) bad('a voltage (e.g. 44.0)');
        else out[key] = value;
    }
  }
  return v.length ? { ok: false, violations: v } : { ok: true, profile: out as Profile, meta };
}

// ---------------------------------------------------------------------------------------------
// diff (WF §4)

export interface DiffEntry {
  keys: ProfileKey[];
  from: unknown[];
  to: unknown[];
  setting: Pi18Setting;
}

const sameVolt = (a: unknown, b: unknown) => typeof a === 'number' && typeof b === 'number' && Math.abs(a - b) <= 0.05 + 1e-9;
function sameValue(key: ProfileKey, a: unknown, b: unknown): boolean {
  if (VOLTAGE_KEYS.has(key)) return a === b || sameVolt(a, b);
  return a === b;
}

/** Every setting of `wanted` whose device value differs (voltages at 0.05 V); absent keys are ignored. */
export function diffProfile(wanted: Profile, piri: Piri): DiffEntry[] {
  const have = profileFromPiri(piri);
  const out: DiffEntry[] = [];
  for (const s of profileToSettings(wanted)) {
    const keys = settingKeys(s);
    if (keys.every((k) => sameValue(k, have[k], wanted[k]))) continue;
    out.push({ keys, from: keys.map((k) => have[k]), to: keys.map((k) => wanted[k]), setting: s });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// plan (WF §5, §8 "Dry-run / plan")

export interface PlanStep {
  /** 1-based. */
  index: number;
  keys: ProfileKey[];
  from: unknown[];
  to: unknown[];
  setting: Pi18Setting;
  /** Command text, e.g. "MCHGC0,040". */
  command: string;
  /** The exact frame, as text and hex. */
  frameText: string;
  frameHex: string;
  /** The PIRI the read-back after this step must show (on `keys`; the rest unchanged). */
  expect: Piri;
}

export interface Plan {
  /** The unit the plan is for (identity guard); null when made without an identity. */
  serial: string | null;
  batteryRatedVoltageV: number;
  unit: number;
  before: Piri;
  after: Piri;
  wanted: Profile;
  steps: PlanStep[];
}

export type PlanResult = { ok: true; plan: Plan } | { ok: false; violations: Violation[] };

/**
 * The settings of a diff in the safe order (WF §5). Pure; exported for the property test.
 */
export function orderSettings(diff: readonly Pi18Setting[], current: Piri): Pi18Setting[] {
  const by = new Map(diff.map((s) => [s.key, s]));
  const out: Pi18Setting[] = [];
  const take = (k: Pi18Setting['key']) => {
    const s = by.get(k);
    if (s) out.push(s);
  };
  take('battery_type');
  take('charge_voltages');
  // Thresholds: keep cutoff < stop_discharge after each step.
  const psdv = by.get('cutoff_voltage') as (Pi18Setting & { key: 'cutoff_voltage' }) | undefined;
  const bucd = by.get('battery_thresholds') as (Pi18Setting & { key: 'battery_thresholds' }) | undefined;
  if (psdv && bucd) {
    // BUCD first is safe when the current cutoff is below the new stop-discharge (raising);
    // otherwise (lowering) PSDV first: then new cutoff < new stop-discharge ≤ old cutoff < old stop-discharge.
    if (Math.round(current.cutoffVoltageV * 10) < Math.round(bucd.stopDischargeV * 10)) out.push(bucd, psdv);
    else out.push(psdv, bucd);
  } else {
    take('battery_thresholds');
    take('cutoff_voltage');
  }
  // Currents: keep utility ≤ total after each step.
  const mu = by.get('max_utility_charging_current') as (Pi18Setting & { key: 'max_utility_charging_current' }) | undefined;
  const mc = by.get('max_charging_current') as (Pi18Setting & { key: 'max_charging_current' }) | undefined;
  if (mu && mc) {
    if (mu.amps <= current.maxChargingCurrentA) out.push(mu, mc);
    else out.push(mc, mu);
  } else {
    take('max_utility_charging_current');
    take('max_charging_current');
  }
  take('charger_priority');
  take('output_source_priority');
  take('solar_power_priority');
  take('grid_tie');
  return out;
}

export interface PlanOptions {
  /** Parallel unit index for MCHGC/MUCHGC/PCP (GS #28); default 0. */
  unit?: number;
  serial?: string | null;
  crcVariant?: CrcVariant;
  currentSteps?: { charge: number[]; utility: number[] } | null;
  device?: string;
}

/**
 * The plan to bring a unit from `piri` to `wanted`: validated first (every violation), then the
 * diff in the safe order, each step with its exact frame and the expected PIRI after it. A
 * profile that matches the unit gives an empty plan (re-applying sends nothing).
 */
export function planProfile(wanted: Profile, piri: Piri, opts: PlanOptions = {}): PlanResult {
  const device = opts.device ?? (opts.serial ? `inverter ${opts.serial}` : 'inverter');
  const ctx: Pi18CheckContext = { device, settings: piri, currentSteps: opts.currentSteps ?? null };
  const violations = validateProfile(wanted, ctx);
  if (violations.length) return { ok: false, violations };
  const unit = opts.unit ?? 0;
  const diff = diffProfile(wanted, piri);
  const ordered = orderSettings(
    diff.map((d) => d.setting),
    piri,
  );
  const steps: PlanStep[] = [];
  let state: Piri = { ...piri };
  for (const setting of ordered) {
    const d = diff.find((x) => x.setting === setting)!;
    const enc = encodeSetting(setting, unit);
    if (!enc.ok) return { ok: false, violations: [{ key: d.keys.join(','), code: 'OUT_OF_RANGE', message: `${device}: ${enc.reason}` }] };
    const bytes = buildFrame({ type: 'set', command: enc.command }, opts.crcVariant);
    const next = { ...state };
    applySettingToPiri(next, setting);
    steps.push({
      index: steps.length + 1,
      keys: d.keys,
      from: d.from,
      to: d.to,
      setting,
      command: enc.command,
      frameText: `^S${String.fromCharCode(...bytes.subarray(2, bytes.length - 3))}`,
      frameHex: hex(bytes),
      expect: next,
    });
    state = next;
  }
  return {
    ok: true,
    plan: { serial: opts.serial ?? null, batteryRatedVoltageV: piri.batteryRatedVoltageV, unit, before: piri, after: state, wanted, steps },
  };
}

/** The cross-field rules on a PIRI (for the property test and for apply's own sanity check). */
export function stateViolations(p: Piri, device = 'inverter'): Violation[] {
  return crossFieldViolations(mergedFromPiri(p), device);
}

/** For compare (WF §6): key by key, voltages at 0.05 V. */
export function compareProfiles(a: Profile, b: Profile): { equal: ProfileKey[]; differ: { key: ProfileKey; a: unknown; b: unknown }[]; onlyA: ProfileKey[]; onlyB: ProfileKey[] } {
  const equal: ProfileKey[] = [];
  const differ: { key: ProfileKey; a: unknown; b: unknown }[] = [];
  const onlyA: ProfileKey[] = [];
  const onlyB: ProfileKey[] = [];
  for (const k of PROFILE_KEYS) {
    const inA = a[k] !== undefined;
    const inB = b[k] !== undefined;
    if (inA && inB) (sameValue(k, a[k], b[k]) ? equal.push(k) : differ.push({ key: k, a: a[k], b: b[k] }));
    else if (inA) onlyA.push(k);
    else if (inB) onlyB.push(k);
  }
  return { equal, differ, onlyA, onlyB };
}
