/**
 * The VE.Bus family's page of the command gate (pure). A write is checked against what the
 * device itself said about the id (GetSettingInfo min/max, GetRAMVarInfo scaling; cached by the
 * driver and handed in as `ctx`), before anything reaches the wire:
 *
 * - unknown id, or one the device does not support          → NOT_FOUND
 * - a value of the wrong type (number for a bit variable or
 *   flag, boolean for a number, NaN, a fractional id, …)    → BAD_USER_INPUT
 * - outside the device's min…max (settings) or what the
 *   RAM word can carry (RAM variables); a flag bit outside
 *   the flag word's supported mask                          → OUT_OF_RANGE
 *
 * Each message names the device and says what is allowed. Flags0 bits 7, 9, 10 and 12 are
 * refused (vebus-mk2.md §9.1: 7 follows bit 3, the others "not to be changed").
 *
 * Named modes (issue 12; the seed's three: prefer battery, prefer AC, charge) are data: a list of
 * writes by name, RAM-only only (a mode is switched often; EEPROM writes would wear the device).
 * `expandMode` turns a mode into an `apply-mode` command; `checkVebusCommand` checks an
 * `apply-mode` step by step and refuses steps that are not the configured mode's.
 */
import type { Code } from '../../codes.js';
import {
  applySetting,
  flagId,
  flagLocation,
  FLAG_NAMES,
  isFlagWord,
  PROTECTED_FLAGS,
  ramVarId,
  ramVarRange,
  ramVarScaling,
  RAM_VAR_NAMES,
  rawOfRamVar,
  rawOfSetting,
  settingId,
  SETTING_NAMES,
  type RamVarInfo,
  type SettingInfo,
} from './codec.js';
import type { VebusCommand, VebusWrite } from './driver.js';

export interface VebusCheckContext {
  /** For messages: "MultiPlus multi". */
  deviceName: string;
  /** The device's own RAM-variable info, by id (the driver's cache). */
  ramVars: ReadonlyMap<number, RamVarInfo>;
  /** The device's own setting info, by id (the driver's cache). */
  settings: ReadonlyMap<number, SettingInfo>;
  /** The configured modes (default DEFAULT_VEBUS_MODES). */
  modes?: Readonly<Record<string, VebusModeDef>>;
}

export type CheckResult = { ok: true; value: VebusCommand; notes: string[] } | { ok: false; code: Code; message: string };

/** One step of a mode, by name as the seed's command line has it. */
export type VebusModeStep =
  | { setting: string; value: number; ramOnly: true }
  | { flag: string; value: boolean; ramOnly: true }
  | { ramVar: string; value: number | boolean };

export interface VebusModeDef {
  /** Words for the button. */
  label: string;
  steps: VebusModeStep[];
}

/**
 * The seed's three modes (mk2.py README): "dedicated ignore AC input" virtual switch
 * (VS_USAGE 3) and DISABLE_CHARGE, both RAM-only.
 */
export const DEFAULT_VEBUS_MODES: Readonly<Record<string, VebusModeDef>> = {
  'prefer-battery': {
    label: 'Prefer battery',
    steps: [
      { setting: 'VS_USAGE', value: 3, ramOnly: true },
      { flag: 'DISABLE_CHARGE', value: true, ramOnly: true },
    ],
  },
  'prefer-ac': {
    label: 'Prefer AC',
    steps: [
      { setting: 'VS_USAGE', value: 0, ramOnly: true },
      { flag: 'DISABLE_CHARGE', value: true, ramOnly: true },
    ],
  },
  charge: {
    label: 'Charge',
    steps: [
      { setting: 'VS_USAGE', value: 0, ramOnly: true },
      { flag: 'DISABLE_CHARGE', value: false, ramOnly: true },
    ],
  },
};

type Fail = { ok: false; code: Code; message: string };
const fail = (code: Code, message: string): Fail => ({ ok: false, code, message });

/** Resolves a mode step's names to ids; a name that is no known id (or a number) is refused. */
export function resolveModeStep(step: VebusModeStep): { ok: true; write: VebusWrite } | Fail {
  // A name from the tables, or a plain id ("15") for ids the tables do not name.
  const idOf = (name: string, byName: (n: string) => number | null, _table: Record<number, string>): number | null =>
    /^\d+$/.test(name.trim()) ? Number(name) : byName(name);
  if ('setting' in step) {
    const id = idOf(step.setting, settingId, SETTING_NAMES);
    if (id === null) return fail('NOT_FOUND', `unknown setting "${step.setting}"; known: ${Object.values(SETTING_NAMES).join(', ')}`);
    if (step.ramOnly !== true) return fail('BAD_USER_INPUT', `a mode may only write settings RAM-only (EEPROM wear); "${step.setting}" is not`);
    return { ok: true, write: { kind: 'write-setting', id, value: step.value, ramOnly: true } };
  }
  if ('flag' in step) {
    const id = idOf(step.flag, flagId, FLAG_NAMES);
    if (id === null) return fail('NOT_FOUND', `unknown flag "${step.flag}"; known: ${Object.values(FLAG_NAMES).join(', ')}`);
    if (step.ramOnly !== true) return fail('BAD_USER_INPUT', `a mode may only set flags RAM-only (EEPROM wear); "${step.flag}" is not`);
    return { ok: true, write: { kind: 'set-flag', flag: id, value: step.value, ramOnly: true } };
  }
  const id = idOf(step.ramVar, ramVarId, RAM_VAR_NAMES);
  if (id === null) return fail('NOT_FOUND', `unknown RAM variable "${step.ramVar}"; known: ${Object.values(RAM_VAR_NAMES).join(', ')}`);
  return { ok: true, write: { kind: 'write-ram-var', id, value: step.value } };
}

/** A named mode → the `apply-mode` command the gate then checks (pure). */
export function expandMode(name: string, modes: Readonly<Record<string, VebusModeDef>> = DEFAULT_VEBUS_MODES): { ok: true; command: Extract<VebusCommand, { kind: 'apply-mode' }> } | Fail {
  const def = Object.prototype.hasOwnProperty.call(modes, name) ? modes[name] : undefined;
  if (!def) return fail('NOT_FOUND', `no VE.Bus mode "${name}"; configured modes: ${Object.keys(modes).join(', ') || '(none)'}`);
  const steps: VebusWrite[] = [];
  for (const s of def.steps) {
    const r = resolveModeStep(s);
    if (!r.ok) return fail(r.code, `mode "${name}": ${r.message}`);
    steps.push(r.write);
  }
  return { ok: true, command: { kind: 'apply-mode', mode: name, steps } };
}

const isInt = (x: unknown, lo: number, hi: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;
const fmt = (x: number): string => String(Math.round(x * 1e6) / 1e6);
const settingLabel = (id: number) => `setting ${id}${SETTING_NAMES[id] ? ` (${SETTING_NAMES[id]})` : ''}`;
const ramLabel = (id: number) => `RAM variable ${id}${RAM_VAR_NAMES[id] ? ` (${RAM_VAR_NAMES[id]})` : ''}`;

function checkWrite(w: VebusWrite, ctx: VebusCheckContext, notes: string[]): { ok: true; value: VebusWrite } | Fail {
  const dev = ctx.deviceName;
  const raw = w as unknown as Record<string, unknown>;
  switch (raw.kind) {
    case 'write-setting': {
      if (!isInt(raw.id, 0, 0xff)) return fail('BAD_USER_INPUT', `${dev}: a setting id is an integer 0–255, got ${JSON.stringify(raw.id)}`);
      if (typeof raw.ramOnly !== 'boolean') return fail('BAD_USER_INPUT', `${dev}: say whether the write is RAM-only (ramOnly: true or false)`);
      const id = raw.id;
      const info = ctx.settings.get(id);
      if (!info || !info.supported) {
        const known = [...ctx.settings.entries()].filter(([, i]) => i.supported).map(([k]) => k);
        return fail('NOT_FOUND', `${dev} has no ${settingLabel(id)}${info ? ' (the device does not support it)' : ' (or its info was not read)'}; known settings: ${known.join(', ') || 'none yet (device not initialised)'}`);
      }
      if (typeof raw.value !== 'number' || !Number.isFinite(raw.value)) return fail('BAD_USER_INPUT', `${dev}: ${settingLabel(id)} takes a number, got ${JSON.stringify(raw.value)}`);
      const value = raw.value;
      const r = rawOfSetting(info, value);
      if (isFlagWord(id)) {
        if (!isInt(r, 0, 0xffff)) return fail('OUT_OF_RANGE', `${dev}: flag word ${settingLabel(id)} is a 16-bit integer 0–65535, got ${value}`);
      } else if (r < info.min || r > info.max) {
        const lo = applySetting(info, info.min)!;
        const hi = applySetting(info, info.max)!;
        return fail('OUT_OF_RANGE', `${dev}: ${settingLabel(id)} = ${value} is outside what the device allows: ${fmt(lo)}…${fmt(hi)} in steps of ${fmt(Math.abs(applySetting(info, 1)! - applySetting(info, 0)!))}`);
      }
      const exact = applySetting(info, r)!;
      if (Math.abs(exact - value) > 1e-9) notes.push(`${settingLabel(id)}: ${value} rounded to the device's step: ${fmt(exact)}`);
      if (info.access !== null && info.access & 0x01) notes.push(`${settingLabel(id)} is access-protected: the device may refuse it without the installer password`);
      if (info.access !== null && info.access & 0x80) notes.push(`${settingLabel(id)} takes effect after a device reset`);
      return { ok: true, value: { kind: 'write-setting', id, value: exact, ramOnly: raw.ramOnly } };
    }
    case 'set-flag': {
      if (!isInt(raw.flag, 0, 63)) return fail('BAD_USER_INPUT', `${dev}: a flag is an integer 0–63, got ${JSON.stringify(raw.flag)}`);
      if (typeof raw.value !== 'boolean') return fail('BAD_USER_INPUT', `${dev}: a flag is set (true) or cleared (false), got ${JSON.stringify(raw.value)}`);
      if (typeof raw.ramOnly !== 'boolean') return fail('BAD_USER_INPUT', `${dev}: say whether the flag change is RAM-only (ramOnly: true or false)`);
      const flag = raw.flag;
      if (PROTECTED_FLAGS.has(flag)) {
        return fail('BAD_USER_INPUT', `${dev}: flag ${flag} must not be changed by hand (${flag === 7 ? 'it follows flag 3, DISABLE_WAVE_CHECK' : 'reserved: "not to be changed"'}); change flag 3 instead`);
      }
      const loc = flagLocation(flag)!;
      const info = ctx.settings.get(loc.settingId);
      if (!info || !info.supported) return fail('NOT_FOUND', `${dev} has no flag word ${settingLabel(loc.settingId)} for flag ${flag}${FLAG_NAMES[flag] ? ` (${FLAG_NAMES[flag]})` : ''}`);
      if (((info.max >> loc.bit) & 1) === 0) {
        const bits = Array.from({ length: 16 }, (_x, b) => b).filter((b) => (info.max >> b) & 1).map((b) => (FLAG_WORD_BASE[loc.settingId] ?? 0) + b);
        return fail('OUT_OF_RANGE', `${dev}: flag ${flag} is not supported by this firmware (mask 0x${info.max.toString(16)}); supported flags of this word: ${bits.join(', ')}`);
      }
      return { ok: true, value: { kind: 'set-flag', flag, value: raw.value, ramOnly: raw.ramOnly } };
    }
    case 'write-ram-var': {
      if (!isInt(raw.id, 0, 0xff)) return fail('BAD_USER_INPUT', `${dev}: a RAM variable id is an integer 0–255 (WriteViaID takes one byte), got ${JSON.stringify(raw.id)}`);
      const id = raw.id;
      const info = ctx.ramVars.get(id);
      const sc = info ? ramVarScaling(info) : null;
      if (!info || !sc || sc.kind === 'unsupported') {
        const known = [...ctx.ramVars.entries()].filter(([, i]) => ramVarScaling(i).kind !== 'unsupported').map(([k]) => k);
        return fail('NOT_FOUND', `${dev} has no ${ramLabel(id)}${info ? ' (the device does not support it)' : ' (or its info was not read)'}; known RAM variables: ${known.join(', ') || 'none yet'}`);
      }
      if (sc.kind === 'bit') {
        if (typeof raw.value !== 'boolean') return fail('BAD_USER_INPUT', `${dev}: ${ramLabel(id)} is a bit variable: write true or false, got ${JSON.stringify(raw.value)}`);
        return { ok: true, value: { kind: 'write-ram-var', id, value: raw.value } };
      }
      if (typeof raw.value !== 'number' || !Number.isFinite(raw.value)) return fail('BAD_USER_INPUT', `${dev}: ${ramLabel(id)} takes a number, got ${JSON.stringify(raw.value)}`);
      if (rawOfRamVar(info, raw.value) === null) {
        const range = ramVarRange(info)!;
        return fail('OUT_OF_RANGE', `${dev}: ${ramLabel(id)} = ${raw.value} cannot be represented; allowed ${fmt(range.min)}…${fmt(range.max)} in steps of ${fmt(sc.multiplier)}`);
      }
      return { ok: true, value: { kind: 'write-ram-var', id, value: raw.value } };
    }
    default:
      return fail('BAD_USER_INPUT', `${dev}: unknown write kind ${JSON.stringify(raw.kind)}; use write-ram-var, write-setting or set-flag`);
  }
}

const FLAG_WORD_BASE: Record<number, number> = { 0: 0, 1: 16, 60: 32, 61: 48 };

/** The family check (FamilyCheck<VebusCommand, VebusCheckContext>). Pure. */
export function checkVebusCommand(cmd: VebusCommand, ctx: VebusCheckContext): CheckResult {
  const notes: string[] = [];
  if (cmd.kind === 'apply-mode') {
    const modes = ctx.modes ?? DEFAULT_VEBUS_MODES;
    const expanded = expandMode(cmd.mode, modes);
    if (!expanded.ok) return expanded;
    // The steps must be the configured mode's: a caller cannot smuggle other writes in under a mode's name.
    if (JSON.stringify(cmd.steps) !== JSON.stringify(expanded.command.steps)) {
      return fail('BAD_USER_INPUT', `${ctx.deviceName}: the writes given for mode "${cmd.mode}" are not the configured ones; send the mode by name (expandMode)`);
    }
    const steps: VebusWrite[] = [];
    for (const s of expanded.command.steps) {
      const r = checkWrite(s, ctx, notes);
      if (!r.ok) return fail(r.code, `mode "${cmd.mode}": ${r.message}`);
      steps.push(r.value);
    }
    return { ok: true, value: { kind: 'apply-mode', mode: cmd.mode, steps }, notes };
  }
  const r = checkWrite(cmd, ctx, notes);
  return r.ok ? { ok: true, value: r.value, notes } : r;
}
