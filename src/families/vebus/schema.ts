/**
 * A MultiPlus / Quattro (VE.Bus through an MK2/MK3) in the API: the `InverterCharger` device
 * (live DC/AC, state, LEDs, RAM variables and settings with the device's own scaling, flags,
 * RAM-only values marked, the configured modes) and its writes. Every write goes through
 * `engine.command` with the family's page of the gate (check.ts): an unknown id, a value of the
 * wrong type or outside the device's own min/max is refused before the wire with a code and what
 * is allowed; the request, admission and outcome (with read-back) are events with their origin.
 */
import { GraphQLError } from 'graphql';
import { builder, apiError, OPERATOR, type Context } from '../../schema/builder.js';
import { Device, registerDeviceType } from '../../schema/devices.js';
import type { Code } from '../../codes.js';
import type { Values } from '../contract.js';
import { FLAG_NAMES, flagId, LED_NAMES, RAM_VAR_NAMES, ramVarId, ramVarScaling, SETTING_NAMES, settingId, settingMultiplier } from './codec.js';
import { expandMode, type CheckResult } from './check.js';
import type { VebusCommand } from './driver.js';
import { vebusCheck, type VebusDeviceView } from './family.js';
import { flagsOf, listText, modeActive, type AcPhaseView, type FlagView, type RamVarView, type SettingView } from './project.js';

registerDeviceType('vebus', 'InverterCharger');

const Battery = builder.objectRef<VebusDeviceView['battery']>('InverterChargerBattery').implement({
  description: 'DC side, from the DC info frame (+ current = charging the battery)',
  fields: (t) => ({
    voltageV: t.exposeFloat('voltageV', { nullable: true }),
    currentA: t.exposeFloat('currentA', { nullable: true, description: 'charger current − inverter current' }),
    inverterCurrentA: t.exposeFloat('inverterCurrentA', { nullable: true }),
    chargerCurrentA: t.exposeFloat('chargerCurrentA', { nullable: true }),
    socPct: t.exposeFloat('socPct', { nullable: true, description: 'the device\'s own state of charge (RAM variable 13), when it keeps one' }),
  }),
});

const AcPhase = builder.objectRef<AcPhaseView>('InverterChargerAcPhase').implement({
  fields: (t) => ({
    phase: t.exposeInt('phase'),
    inVoltageV: t.exposeFloat('inVoltageV', { nullable: true, description: 'AC input (mains)' }),
    inCurrentA: t.exposeFloat('inCurrentA', { nullable: true }),
    outVoltageV: t.exposeFloat('outVoltageV', { nullable: true, description: 'AC output (inverter)' }),
    outCurrentA: t.exposeFloat('outCurrentA', { nullable: true }),
    mainsFrequencyHz: t.exposeFloat('mainsFrequencyHz', { nullable: true }),
  }),
});

const Led = builder.objectRef<{ name: string; state: string }>('VebusLed').implement({
  fields: (t) => ({ name: t.exposeString('name'), state: t.exposeString('state', { description: 'off, on, blink or blink-inverse' }) }),
});

const CurrentLimit = builder.objectRef<NonNullable<VebusDeviceView['currentLimit']>>('VebusCurrentLimit').implement({
  fields: (t) => ({
    actualA: t.exposeFloat('actualA'),
    minA: t.exposeFloat('minA'),
    maxA: t.exposeFloat('maxA'),
    settable: t.exposeBoolean('settable'),
  }),
});

const RamVar = builder.objectRef<RamVarView>('VebusRamVar').implement({
  description: 'A RAM variable with the scaling the device gave (GetRAMVarInfo). RAM variables are never stored.',
  fields: (t) => ({
    id: t.exposeInt('id'),
    name: t.exposeString('name', { nullable: true }),
    kind: t.string({ description: 'signed, unsigned, bit, unsupported, or unknown (info not read yet)', resolve: (r) => (r.info ? (s => (s.kind === 'number' ? (s.signed ? 'signed' : 'unsigned') : s.kind))(ramVarScaling(r.info)) : 'unknown') }),
    value: t.float({ nullable: true, description: 'scaled value (numbers); bit variables: see bit', resolve: (r) => (typeof r.value === 'number' ? r.value : null) }),
    bit: t.boolean({ nullable: true, description: 'value of a bit variable', resolve: (r) => (typeof r.value === 'boolean' ? r.value : null) }),
    scale: t.float({ nullable: true, description: 'multiplier: value = scale × (raw + offset)', resolve: (r) => (s => (s?.kind === 'number' ? s.multiplier : null))(r.info ? ramVarScaling(r.info) : null) }),
    offset: t.int({ nullable: true, resolve: (r) => (s => (s?.kind === 'number' ? s.offset : null))(r.info ? ramVarScaling(r.info) : null) }),
    bitIndex: t.int({ nullable: true, description: 'the bit of the word a bit variable names', resolve: (r) => (s => (s?.kind === 'bit' ? s.bit : null))(r.info ? ramVarScaling(r.info) : null) }),
    rawScale: t.int({ nullable: true, description: 'the info as the device sent it', resolve: (r) => r.info?.scale ?? null }),
    rawOffset: t.int({ nullable: true, resolve: (r) => r.info?.offset ?? null }),
  }),
});

const Setting = builder.objectRef<SettingView>('VebusSetting').implement({
  description: 'A setting with the device\'s own scaling and limits (GetSettingInfo). value is the stored (EEPROM) copy; a RAM-only write is shown apart (the device cannot report it) and is lost when the device restarts.',
  fields: (t) => ({
    id: t.exposeInt('id'),
    name: t.exposeString('name', { nullable: true }),
    supported: t.boolean({ nullable: true, resolve: (s) => s.info?.supported ?? null }),
    value: t.exposeFloat('value', { nullable: true, description: 'stored (EEPROM) value' }),
    raw: t.exposeInt('raw', { nullable: true }),
    ramOnly: t.boolean({ description: 'a RAM-only value written through this server is in force', resolve: (s) => s.ramOnly !== null }),
    ramOnlyValue: t.float({ nullable: true, resolve: (s) => s.ramOnly?.value ?? null }),
    effective: t.exposeFloat('effective', { nullable: true, description: 'what the device runs on: the RAM-only value if any, else the stored one' }),
    defaultValue: t.exposeFloat('defaultValue', { nullable: true }),
    min: t.exposeFloat('min', { nullable: true }),
    max: t.exposeFloat('max', { nullable: true }),
    scale: t.float({ nullable: true, description: 'multiplier: value = scale × (raw + offset)', resolve: (s) => (s.info?.supported ? settingMultiplier(s.info) : null) }),
    offset: t.int({ nullable: true, resolve: (s) => s.info?.offset ?? null }),
    access: t.int({ nullable: true, description: '0x01 access-protected, 0x80 takes effect after a reset (firmware ≥ 308)', resolve: (s) => s.info?.access ?? null }),
  }),
});

const Flag = builder.objectRef<FlagView>('VebusFlag').implement({
  fields: (t) => ({
    flag: t.exposeInt('flag'),
    name: t.exposeString('name', { nullable: true }),
    stored: t.exposeBoolean('stored', { nullable: true, description: 'in the EEPROM copy' }),
    effective: t.exposeBoolean('effective', { nullable: true, description: 'in force (a RAM-only change, else stored)' }),
    ramOnly: t.boolean({ description: 'a RAM-only change differs from the stored value', resolve: (f) => f.stored !== null && f.effective !== null && f.stored !== f.effective }),
    supported: t.exposeBoolean('supported'),
  }),
});

type ModeRow = { name: string; label: string; steps: string[]; active: boolean | null };
const Mode = builder.objectRef<ModeRow>('VebusMode').implement({
  description: 'A configured mode: a small list of RAM-only writes applied with applyVebusMode',
  fields: (t) => ({
    name: t.exposeString('name'),
    label: t.exposeString('label'),
    steps: t.exposeStringList('steps'),
    active: t.exposeBoolean('active', { nullable: true, description: 'every step\'s value is what the device runs on now (null: not known yet)' }),
  }),
});

const stepText = (s: Record<string, unknown>): string =>
  'setting' in s ? `setting ${String(s.setting)} = ${String(s.value)} (RAM only)` : 'flag' in s ? `${s.value ? 'set' : 'clear'} flag ${String(s.flag)} (RAM only)` : `RAM variable ${String(s.ramVar)} = ${String(s.value)}`;

export const InverterCharger = builder.objectRef<VebusDeviceView>('InverterCharger').implement({
  description: 'A Victron MultiPlus / Quattro behind an MK2/MK3 (VE.Bus)',
  interfaces: [Device],
  isTypeOf: (d) => (d as VebusDeviceView).kind === 'vebus',
  fields: (t) => ({
    session: t.exposeString('session', { description: 'searching, init, ready, offline or no-device' }),
    sessionDetail: t.exposeString('sessionDetail', { nullable: true }),
    mkVersion: t.exposeInt('mkVersion', { nullable: true }),
    firmware: t.exposeInt('firmware', { nullable: true }),
    battery: t.field({ type: Battery, resolve: (d) => d.battery }),
    inverterFrequencyHz: t.exposeFloat('inverterFrequencyHz', { nullable: true }),
    ac: t.field({ type: [AcPhase], resolve: (d) => d.ac }),
    state: t.exposeString('state', { nullable: true, description: 'device state of L1 (inverting, charging, passthru, …)' }),
    stateCode: t.exposeInt('stateCode', { nullable: true }),
    chargeSubState: t.exposeString('chargeSubState', { nullable: true, description: 'bulk, absorption, float, …' }),
    leds: t.field({ type: [Led], resolve: (d) => (d.leds ? LED_NAMES.map((n) => ({ name: n, state: d.leds![n] })) : []) }),
    alarms: t.exposeStringList('alarms'),
    vebusError: t.exposeInt('vebusError', { nullable: true }),
    currentLimit: t.field({ type: CurrentLimit, nullable: true, resolve: (d) => d.currentLimit }),
    ramVars: t.field({ type: [RamVar], resolve: (d) => Object.values(d.ramVars).sort((a, b) => a.id - b.id) }),
    settings: t.field({ type: [Setting], resolve: (d) => Object.values(d.settings).sort((a, b) => a.id - b.id) }),
    flags: t.field({ type: [Flag], resolve: (d) => flagsOf(d) }),
    modes: t.field({ type: [Mode], resolve: (d) => Object.entries(d.modes ?? {}).map(([name, m]) => ({ name, label: m.label, steps: m.steps.map((s) => stepText(s as never)), active: modeActive(d, m.steps as never) })) }),
    lastStatusAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.lastStatusAt }),
    listText: t.string({ description: 'the settings list as the seed\'s `write.py --list` prints it', resolve: (d) => listText(d) }),
  }),
});

// ---------------------------------------------------------------------------------- writes

export interface VebusWriteOutcome {
  deviceId: string;
  command: string;
  sent: boolean;
  message: string;
  notes: string[];
  readBack: Values | null;
}

const WriteResult = builder.objectRef<VebusWriteOutcome>('VebusWriteResult').implement({
  fields: (t) => ({
    deviceId: t.exposeID('deviceId'),
    command: t.exposeString('command', { description: 'what was asked, in words' }),
    sent: t.exposeBoolean('sent', { description: 'false when nothing had to be written (a persistent write equal to the stored value)' }),
    message: t.exposeString('message'),
    notes: t.exposeStringList('notes', { description: 'what the gate noted (rounded to the device step, access-protected, needs a reset)' }),
    readBack: t.field({ type: 'JSON', nullable: true, description: 'what the device reads back after the write (a RAM-only setting cannot be read back: said so)', resolve: (r) => r.readBack }),
  }),
});

type Resolved = { ok: true; id: number } | { ok: false; code: Code; message: string };

/** A name from the reference's tables ("VS_USAGE") or a plain id ("15"). */
function resolveId(what: string, text: string, byName: (n: string) => number | null, table: Record<number, string>): Resolved {
  const t = text.trim();
  if (/^\d{1,3}$/.test(t)) return { ok: true, id: Number(t) };
  const id = byName(t);
  return id === null ? { ok: false, code: 'NOT_FOUND', message: `unknown ${what} "${text}"; give an id (a number) or one of ${Object.values(table).join(', ')}` } : { ok: true, id };
}

/**
 * Runs one VE.Bus command through the engine (the gate, the events, the driver). A refusal or a
 * failure is an API error with its code and the read-back, if any, in `extensions.readBack`.
 */
async function runCommand(ctx: Context, deviceId: string, cmd: VebusCommand | Resolved & { ok: false }, describe: string): Promise<VebusWriteOutcome> {
  let notes: string[] = [];
  const check = (c: VebusCommand, cx: { device: unknown }): CheckResult => {
    // A name that resolved to nothing is refused here, so the refusal is an event like any other.
    if ('ok' in (c as object)) return c as unknown as CheckResult;
    const r = vebusCheck(c, cx);
    if (r.ok) notes = r.notes;
    return r;
  };
  const d = ctx.engine.device(deviceId);
  if (d && d.kind !== 'vebus') throw apiError('NOT_FOUND', `device "${deviceId}" is a ${d.kind} device, not a VE.Bus inverter/charger; query inverterChargers { id } for the ids`);
  const r = await ctx.engine.command('api', deviceId, cmd as VebusCommand, check, describe);
  if (!r.ok) throw new GraphQLError(r.message, { extensions: { code: r.code, ...('readBack' in r && r.readBack ? { readBack: r.readBack } : {}) } });
  return { deviceId, command: describe, sent: r.sent, message: r.message ?? describe, notes, readBack: r.readBack ?? null };
}

const label = (table: Record<number, string>, id: number) => (table[id] ? `${table[id]} (${id})` : String(id));

builder.queryFields((t) => ({
  inverterChargers: t.field({ type: [InverterCharger], resolve: (_r, _a, ctx) => ctx.engine.devicesOfKind<VebusDeviceView>('vebus') }),
}));

builder.mutationFields((t) => ({
  writeRamVar: t.field({
    ...OPERATOR,
    type: WriteResult,
    description: 'Writes a RAM variable (WriteViaID) and reads it back. value: a number in the device\'s units, or true/false for a bit variable.',
    args: {
      deviceId: t.arg.id({ required: true }),
      id: t.arg.string({ required: true, description: 'RAM variable id or name (e.g. "13" or "CHARGE_STATE")' }),
      value: t.arg({ type: 'JSON', required: true }),
    },
    resolve: async (_r, a, ctx) => {
      const id = resolveId('RAM variable', a.id, ramVarId, RAM_VAR_NAMES);
      const describe = `write RAM variable ${id.ok ? label(RAM_VAR_NAMES, id.id) : a.id} = ${JSON.stringify(a.value)}`;
      return runCommand(ctx, String(a.deviceId), id.ok ? { kind: 'write-ram-var', id: id.id, value: a.value as number } : id, describe);
    },
  }),
  writeSetting: t.field({
    ...OPERATOR,
    type: WriteResult,
    description: 'Writes a setting, stored (EEPROM: rate-limited, read back; a different read-back is a failure, not retried) or RAM-only (in force until the device restarts; cannot be read back).',
    args: {
      deviceId: t.arg.id({ required: true }),
      id: t.arg.string({ required: true, description: 'setting id or name (e.g. "15" or "VS_USAGE")' }),
      value: t.arg.float({ required: true, description: 'in the device\'s units (V, A, Hz…), within its own min…max' }),
      ramOnly: t.arg.boolean({ required: false, defaultValue: false }),
    },
    resolve: async (_r, a, ctx) => {
      const id = resolveId('setting', a.id, settingId, SETTING_NAMES);
      const ramOnly = a.ramOnly ?? false;
      const describe = `write setting ${id.ok ? label(SETTING_NAMES, id.id) : a.id} = ${a.value}${ramOnly ? ' (RAM only)' : ''}`;
      return runCommand(ctx, String(a.deviceId), id.ok ? { kind: 'write-setting', id: id.id, value: a.value, ramOnly } : id, describe);
    },
  }),
  setFlag: t.field({
    ...OPERATOR,
    type: WriteResult,
    description: 'Sets (value: true) or clears (false) a flag bit of a flag word, stored or RAM-only.',
    args: {
      deviceId: t.arg.id({ required: true }),
      flag: t.arg.string({ required: true, description: 'flag number 0–63 or name (e.g. "DISABLE_CHARGE")' }),
      value: t.arg.boolean({ required: true }),
      ramOnly: t.arg.boolean({ required: false, defaultValue: false }),
    },
    resolve: async (_r, a, ctx) => {
      const id = resolveId('flag', a.flag, flagId, FLAG_NAMES);
      const ramOnly = a.ramOnly ?? false;
      const describe = `${a.value ? 'set' : 'clear'} flag ${id.ok ? label(FLAG_NAMES, id.id) : a.flag}${ramOnly ? ' (RAM only)' : ''}`;
      return runCommand(ctx, String(a.deviceId), id.ok ? { kind: 'set-flag', flag: id.id, value: a.value, ramOnly } : id, describe);
    },
  }),
  applyVebusMode: t.field({
    ...OPERATOR,
    type: WriteResult,
    description: 'Applies a configured mode (its RAM-only writes, in order) as one command and one event. A step that fails says which earlier steps stay applied.',
    args: { deviceId: t.arg.id({ required: true }), mode: t.arg.string({ required: true, description: 'a mode name from inverterChargers { modes { name } }' }) },
    resolve: async (_r, a, ctx) => {
      const d = ctx.engine.device<VebusDeviceView>(String(a.deviceId));
      const def = d?.kind === 'vebus' && Object.prototype.hasOwnProperty.call(d.modes, a.mode) ? d.modes[a.mode] : undefined;
      const describe = `apply mode ${a.mode}${def ? ` (${def.label})` : ''}`;
      // The configured mode's writes, expanded as the gate expands them (the check compares).
      const e = d?.kind === 'vebus' ? expandMode(a.mode, d.modes) : null;
      const cmd: VebusCommand | (Resolved & { ok: false }) = e === null ? { kind: 'apply-mode', mode: a.mode, steps: [] } : e.ok ? e.command : { ok: false, code: e.code, message: `${d!.name}: ${e.message}` };
      return runCommand(ctx, String(a.deviceId), cmd, describe);
    },
  }),
}));
