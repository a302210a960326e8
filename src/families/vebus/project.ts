/**
 * The inverter/charger view (a MultiPlus / Quattro through an MK2/MK3) and its pure projection
 * `(view, observation) → view`. Values are the device's own, scaled with its own info; null
 * until heard. RAM-only setting values are kept apart from the EEPROM copy (ReadSetting cannot
 * show them, vebus-mk2.md §10.9) and `effective` says which one is in force.
 */
import type { Observation } from '../contract.js';
import {
  applySetting,
  FLAG_NAMES,
  FLAG_WORDS,
  flagId,
  ramVarId,
  settingId,
  RAM_VAR_NAMES,
  SETTING_NAMES,
  type LedName,
  type LedState,
  type RamVarInfo,
  type SettingInfo,
} from './codec.js';
import type { VebusFact } from './driver.js';

export interface AcPhaseView {
  phase: 1 | 2 | 3 | 4;
  inVoltageV: number | null;
  inCurrentA: number | null;
  outVoltageV: number | null;
  outCurrentA: number | null;
  mainsFrequencyHz: number | null;
}

export interface RamVarView {
  id: number;
  name: string | null;
  info: RamVarInfo | null;
  value: number | boolean | null;
}

export interface SettingView {
  id: number;
  name: string | null;
  info: SettingInfo | null;
  /** The EEPROM copy (what ReadSetting returns). */
  raw: number | null;
  value: number | null;
  /** A RAM-only value written through this server, in force until the device restarts. */
  ramOnly: { raw: number; value: number | null } | null;
  /** What the device runs on: the RAM-only value if any, else the stored one. */
  effective: number | null;
  defaultValue: number | null;
  min: number | null;
  max: number | null;
}

export interface InverterChargerView {
  kind: 'vebus';
  id: string;
  busId: string;
  name: string;
  online: boolean;
  lastSeen: number | null;
  /** The driver's session: searching, init, ready, offline, no-device. */
  session: string;
  sessionDetail: string | null;
  mkVersion: number | null;
  firmware: number | null;
  battery: { voltageV: number | null; currentA: number | null; inverterCurrentA: number | null; chargerCurrentA: number | null; socPct: number | null };
  inverterFrequencyHz: number | null;
  ac: AcPhaseView[];
  state: string | null;
  stateCode: number | null;
  /** Charge sub-state from the 0x0E inquiry (bulk, absorption, float, …). */
  chargeSubState: string | null;
  leds: Record<LedName, LedState> | null;
  alarms: string[];
  vebusError: number | null;
  currentLimit: { actualA: number; minA: number; maxA: number; settable: boolean } | null;
  ramVars: Record<number, RamVarView>;
  settings: Record<number, SettingView>;
  /** Time of the last status (poll). */
  lastStatusAt: number | null;
}

export function newInverterChargerView(id: string, busId: string, name: string): InverterChargerView {
  return {
    kind: 'vebus',
    id,
    busId,
    name,
    online: false,
    lastSeen: null,
    session: 'searching',
    sessionDetail: null,
    mkVersion: null,
    firmware: null,
    battery: { voltageV: null, currentA: null, inverterCurrentA: null, chargerCurrentA: null, socPct: null },
    inverterFrequencyHz: null,
    ac: [],
    state: null,
    stateCode: null,
    chargeSubState: null,
    leds: null,
    alarms: [],
    vebusError: null,
    currentLimit: null,
    ramVars: {},
    settings: {},
    lastStatusAt: null,
  };
}

function settingView(prev: SettingView | undefined, id: number): SettingView {
  return prev ?? { id, name: SETTING_NAMES[id] ?? null, info: null, raw: null, value: null, ramOnly: null, effective: null, defaultValue: null, min: null, max: null };
}

function withEffective(s: SettingView): SettingView {
  return { ...s, effective: s.ramOnly ? s.ramOnly.value : s.value };
}

export function projectInverterCharger(v: InverterChargerView, o: Observation<VebusFact>): InverterChargerView {
  switch (o.type) {
    case 'presence':
      return {
        ...v,
        online: o.online,
        lastSeen: o.online ? o.at : v.lastSeen,
        mkVersion: typeof o.identity?.mkVersion === 'number' ? o.identity.mkVersion : v.mkVersion,
        firmware: typeof o.identity?.firmware === 'number' ? o.identity.firmware : v.firmware,
      };
    case 'identity':
      return {
        ...v,
        mkVersion: typeof o.identity.mkVersion === 'number' ? o.identity.mkVersion : v.mkVersion,
        firmware: typeof o.identity.firmware === 'number' ? o.identity.firmware : v.firmware,
      };
    case 'reading':
      return { ...v, lastSeen: o.at };
    case 'fact':
      return projectFact(v, o.fact, o.at);
    default:
      return v;
  }
}

function projectFact(v: InverterChargerView, f: VebusFact, at: number): InverterChargerView {
  switch (f.kind) {
    case 'session': {
      // After silence (offline, no-device) the Multi may have restarted and lost its RAM-only
      // values; nothing on the wire tells. The view then shows the stored values rather than
      // claim a RAM value that may be gone (the driver forgets them too).
      const lost = f.state === 'no-device' || f.state === 'offline';
      return {
        ...v,
        session: f.state,
        sessionDetail: f.detail,
        settings: lost ? Object.fromEntries(Object.entries(v.settings).map(([k, s]) => [k, withEffective({ ...s, ramOnly: null })])) : v.settings,
      };
    }
    case 'mk':
      return { ...v, mkVersion: f.version };
    case 'firmware':
      return { ...v, firmware: f.version };
    case 'ram-var-info': {
      const prev = v.ramVars[f.id];
      return { ...v, ramVars: { ...v.ramVars, [f.id]: { id: f.id, name: f.name ?? RAM_VAR_NAMES[f.id] ?? null, info: f.info, value: prev?.value ?? null } } };
    }
    case 'setting-info': {
      const s = settingView(v.settings[f.id], f.id);
      const i = f.info;
      const scaled = (raw: number) => (i.supported ? applySetting(i, raw) : null);
      return {
        ...v,
        settings: {
          ...v.settings,
          [f.id]: withEffective({
            ...s,
            info: i,
            value: s.raw === null ? null : scaled(s.raw),
            defaultValue: scaled(i.default),
            min: isFlag(f.id) ? null : scaled(i.min),
            max: isFlag(f.id) ? null : scaled(i.max),
          }),
        },
      };
    }
    case 'setting': {
      const s = settingView(v.settings[f.id], f.id);
      return { ...v, settings: { ...v.settings, [f.id]: withEffective({ ...s, raw: f.raw, value: f.value }) } };
    }
    case 'setting-ram-only': {
      const s = settingView(v.settings[f.id], f.id);
      return { ...v, settings: { ...v.settings, [f.id]: withEffective({ ...s, ramOnly: { raw: f.raw, value: f.value } }) } };
    }
    case 'status': {
      const st = f.status;
      const l1 = st.ac.find((a) => a.phase === 1);
      const ramVars = { ...v.ramVars };
      for (const [k, val] of Object.entries(st.ramVars)) {
        const id = Number(k);
        const prev = ramVars[id];
        ramVars[id] = { id, name: prev?.name ?? RAM_VAR_NAMES[id] ?? null, info: prev?.info ?? null, value: val };
      }
      const soc = st.ramVars[13];
      return {
        ...v,
        lastSeen: at,
        lastStatusAt: at,
        battery: st.dc
          ? {
              voltageV: st.dc.voltageV,
              currentA: st.dc.batteryCurrentA,
              inverterCurrentA: st.dc.inverterCurrentA,
              chargerCurrentA: st.dc.chargerCurrentA,
              socPct: typeof soc === 'number' ? Math.round(soc * 1000) / 10 : v.battery.socPct,
            }
          : v.battery,
        inverterFrequencyHz: st.dc ? st.dc.inverterFrequencyHz : v.inverterFrequencyHz,
        ac: st.ac.length
          ? st.ac.map((a) => ({ phase: a.phase, inVoltageV: a.mainsVoltageV, inCurrentA: a.mainsCurrentA, outVoltageV: a.inverterVoltageV, outCurrentA: a.inverterCurrentA, mainsFrequencyHz: a.mainsFrequencyHz }))
          : v.ac,
        state: l1 ? l1.stateName : v.state,
        stateCode: l1 ? l1.state : v.stateCode,
        chargeSubState: st.deviceState ? st.deviceState.subStateName : v.chargeSubState,
        leds: st.leds ? st.leds.leds : st.acInput ? st.acInput.leds : v.leds,
        alarms: st.leds ? st.leds.alarmNames : v.alarms,
        vebusError: st.leds ? st.leds.error : v.vebusError,
        currentLimit: st.acInput ? { actualA: st.acInput.actualLimitA, minA: st.acInput.minLimitA, maxA: st.acInput.maxLimitA, settable: st.acInput.limitRemotelySettable } : v.currentLimit,
        ramVars,
      };
    }
  }
}

const isFlag = (id: number): boolean => (FLAG_WORDS as readonly number[]).includes(id);

export interface FlagView {
  flag: number;
  name: string | null;
  /** In the EEPROM copy. */
  stored: boolean | null;
  /** In force (a RAM-only change, else the stored value). */
  effective: boolean | null;
  /** The firmware supports this bit (the flag word's max is its mask, §7.2). */
  supported: boolean;
}

/** The flags of every flag word the view knows (§9.1), stored and effective. Pure. */
export function flagsOf(v: InverterChargerView): FlagView[] {
  const out: FlagView[] = [];
  FLAG_WORDS.forEach((word, w) => {
    const s = v.settings[word];
    if (!s || !s.info?.supported) return;
    for (let bit = 0; bit < 16; bit++) {
      const flag = w * 16 + bit;
      const eff = s.ramOnly ? s.ramOnly.raw : s.raw;
      out.push({
        flag,
        name: FLAG_NAMES[flag] ?? null,
        stored: s.raw === null ? null : ((s.raw >> bit) & 1) === 1,
        effective: eff === null ? null : ((eff >> bit) & 1) === 1,
        supported: ((s.info.max >> bit) & 1) === 1,
      });
    }
  });
  return out;
}

/** The check context for the gate, from a view (what the device said about its ids). */
export function checkContextOf(v: InverterChargerView): { deviceName: string; ramVars: Map<number, RamVarInfo>; settings: Map<number, SettingInfo> } {
  const ramVars = new Map<number, RamVarInfo>();
  for (const r of Object.values(v.ramVars)) if (r.info) ramVars.set(r.id, r.info);
  const settings = new Map<number, SettingInfo>();
  for (const s of Object.values(v.settings)) if (s.info) settings.set(s.id, s.info);
  return { deviceName: v.name, ramVars, settings };
}

const num = (x: number | null): string => (x === null ? '?' : String(Math.round(x * 1e6) / 1e6));

/**
 * The seed's `write.py --list` text (mk2.py README), from a view: RAM vars with signedness,
 * value, scale and offset; settings with value/default/min/max/scale/offset (RAM-only changes
 * are not reflected in `value`, as in the seed, but shown after it); flags. Pure.
 */
export function listText(v: InverterChargerView): string {
  const out: string[] = ['RAM vars:'];
  for (const r of Object.values(v.ramVars).sort((a, b) => a.id - b.id)) {
    if (!r.info) continue;
    const sc = ramVarScalingText(r.info);
    if (sc === null) continue;
    out.push(`    ${r.name ?? `RAM_${r.id}`}: ${sc.kind} value=${r.value === null ? '?' : String(r.value)}${sc.rest}`);
  }
  out.push('settings (note that RAM-only changes will not be reflected here):');
  for (const s of Object.values(v.settings).sort((a, b) => a.id - b.id)) {
    if (!s.info?.supported) continue;
    const mult = s.info.scale < 0 ? 1 / -s.info.scale : s.info.scale;
    const ram = s.ramOnly ? ` (RAM only: ${num(s.ramOnly.value)})` : '';
    out.push(`    ${s.name ?? `SETTING_${s.id}`}: value=${num(s.value)}${ram} default=${num(s.defaultValue)} min=${num(s.min)} max=${num(s.max)} scale=${num(mult)} offset=${s.info.offset}`);
  }
  out.push('flags:');
  for (const f of flagsOf(v)) {
    if (!f.name || !f.supported) continue;
    const ram = f.effective !== f.stored ? ` (RAM only: ${String(f.effective)})` : '';
    out.push(`    ${f.name}: value=${f.stored === null ? '?' : f.stored ? 'True' : 'False'}${ram}`);
  }
  return out.join('\n');
}

function ramVarScalingText(info: RamVarInfo): { kind: string; rest: string } | null {
  if (!info.supported || info.scale === 0) return null;
  if ((info.offset & 0xffff) === 0x8000) return { kind: 'bit', rest: ` bit=${info.scale - 1}` };
  const abs = Math.abs(info.scale);
  if (abs >= 0x8000) return null;
  const mult = abs >= 0x4000 ? 1 / (0x8000 - abs) : abs;
  return { kind: info.scale < 0 ? 'signed' : 'unsigned', rest: ` scale=${num(mult)} offset=${info.offset}` };
}

/** Whether the device runs on every value of a mode's steps (from its view; null while a value is unknown). */
export function modeActive(v: InverterChargerView, steps: ReadonlyArray<Record<string, unknown>>): boolean | null {
  const idOf = (name: unknown, byName: (n: string) => number | null) => (/^\d+$/.test(String(name)) ? Number(name) : byName(String(name)));
  const flags = flagsOf(v);
  let all = true;
  for (const s of steps) {
    let now: unknown;
    if ('setting' in s) now = v.settings[idOf(s.setting, settingId) ?? -1]?.effective;
    else if ('flag' in s) now = flags.find((f) => f.flag === idOf(s.flag, flagId))?.effective;
    else now = v.ramVars[idOf(s.ramVar, ramVarId) ?? -1]?.value;
    if (now === null || now === undefined) return null;
    if (now !== s.value) all = false;
  }
  return all;
}

/** The name of the first configured mode the device runs on now, or null (none, or not known yet). */
export function activeMode(v: InverterChargerView, modes: Readonly<Record<string, { steps: ReadonlyArray<unknown> }>>): string | null {
  for (const [name, m] of Object.entries(modes)) if (modeActive(v, m.steps as ReadonlyArray<Record<string, unknown>>) === true) return name;
  return null;
}
