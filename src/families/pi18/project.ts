/**
 * The inverter view of one PI18 unit and its projection (pure): `(view, observation) → view`.
 * Returns the same object when the observation changes nothing the view shows (frame records,
 * other devices' observations), a new one otherwise.
 */
import type { LinkState } from '../../link/types.js';
import type { Observation, Values } from '../contract.js';
import type { DeviceViewBase } from '../types.js';
import { enumText, type Firmware, type Piri } from './codec.js';
import type { Pi18Fact, SetterOutcome } from './driver.js';

export interface InverterFlag {
  group: string;
  name: string;
  text: string;
}

/** The view of one inverter; `id` is the driver's deviceId. */
export interface InverterView extends DeviceViewBase {
  kind: 'pi18';
  /** Why the unit is offline (missed replies, wrong serial, link down), for people. */
  offlineReason: string | null;
  linkState: LinkState | null;
  serial: string | null;
  firmware: Firmware | null;
  batteryRatedVoltageV: number | null;
  ratedPowerW: number | null;
  /** GS + MOD values (driver.readingValues), the last received. */
  readings: Values | null;
  readingsAt: number | null;
  mode: string | null;
  parallelIndex: number | null;
  /** 'single' unit, or 'master' (index 0) / 'slave' of a parallel system (PIRI output mode + GS #28). */
  role: 'single' | 'master' | 'slave' | null;
  /** Decoded PIRI. */
  settings: Piri | null;
  settingsAt: number | null;
  faultCode: number | null;
  faultText: string | null;
  /** Active faults and warnings, in words. */
  activeFlags: InverterFlag[];
  currentSteps: { charge: number[]; utility: number[] } | null;
  lastSetter: { command: string; outcome: SetterOutcome['outcome']; at: number } | null;
}

export function emptyInverterView(id: string, busId: string = id, name: string = id): InverterView {
  return {
    kind: 'pi18',
    id,
    busId,
    name,
    lastSeen: null,
    online: false,
    offlineReason: null,
    linkState: null,
    serial: null,
    firmware: null,
    batteryRatedVoltageV: null,
    ratedPowerW: null,
    readings: null,
    readingsAt: null,
    mode: null,
    parallelIndex: null,
    role: null,
    settings: null,
    settingsAt: null,
    faultCode: null,
    faultText: null,
    activeFlags: [],
    currentSteps: null,
    lastSetter: null,
  };
}

function roleOf(settings: Piri | null, index: number | null): InverterView['role'] {
  if (!settings) return index === null ? null : index === 0 ? 'master' : 'slave';
  const mode = enumText(settings.outputMode);
  if (mode === 'single') return 'single';
  if (index === null) return null;
  return index === 0 ? 'master' : 'slave';
}

export function projectInverter(view: InverterView, o: Observation<Pi18Fact>): InverterView {
  if ('deviceId' in o && o.deviceId !== null && o.deviceId !== view.id) return view;
  const next = project(view, o);
  // Heard from: anything the unit said (presence online, a reading, a reply, flags, a fact).
  if (next !== view && o.type !== 'link' && !(o.type === 'presence' && !o.online)) return { ...next, lastSeen: o.at };
  return next;
}

function project(view: InverterView, o: Observation<Pi18Fact>): InverterView {
  switch (o.type) {
    case 'link':
      return o.state === view.linkState ? view : { ...view, linkState: o.state, ...(o.state !== 'up' ? { online: false, offlineReason: `link ${o.state}: ${o.detail}` } : {}) };
    case 'presence': {
      const next: InverterView = { ...view, online: o.online, offlineReason: o.online ? null : (o.reason ?? 'offline') };
      if (o.identity) {
        const id = o.identity;
        if (typeof id.serial === 'string') next.serial = id.serial;
        if (typeof id.batteryRatedVoltageV === 'number') next.batteryRatedVoltageV = id.batteryRatedVoltageV;
        if (typeof id.ratedPowerW === 'number') next.ratedPowerW = id.ratedPowerW;
        if (typeof id.firmware === 'string') next.firmware = { main: id.firmware, slave1: String(id.firmwareSlave1 ?? ''), slave2: String(id.firmwareSlave2 ?? '') };
      }
      return next;
    }
    case 'reading': {
      const idx = typeof o.values.parallelIndex === 'number' ? o.values.parallelIndex : view.parallelIndex;
      return {
        ...view,
        readings: o.values,
        readingsAt: o.at,
        mode: typeof o.values.mode === 'string' ? o.values.mode : view.mode,
        parallelIndex: idx,
        role: roleOf(view.settings, idx),
      };
    }
    case 'flags': {
      let flags = view.activeFlags;
      for (const c of o.changes) {
        flags = flags.filter((f) => !(f.group === c.group && f.name === c.name));
        if (c.active) flags = [...flags, { group: c.group, name: c.name, text: c.text ?? c.name }];
      }
      return { ...view, activeFlags: flags };
    }
    case 'fact': {
      const f = o.fact;
      switch (f.kind) {
        case 'identity':
          return {
            ...view,
            serial: f.identity.serial,
            firmware: f.identity.firmware,
            batteryRatedVoltageV: f.identity.batteryRatedVoltageV,
            ratedPowerW: f.identity.ratedPowerW,
          };
        case 'settings':
          return { ...view, settings: f.piri, settingsAt: o.at, role: roleOf(f.piri, view.parallelIndex) };
        case 'faults':
          return { ...view, faultCode: f.faults.faultCode, faultText: f.faults.faultText };
        case 'current-steps':
          return { ...view, currentSteps: { charge: f.charge, utility: f.utility } };
        case 'setter':
          return { ...view, lastSetter: { command: f.command, outcome: f.outcome, at: o.at }, ...(f.readBack ? { settings: f.readBack, settingsAt: o.at } : {}) };
        case 'status':
          return view; // the 'reading' observation carries the same values
      }
      return view;
    }
    default:
      return view;
  }
}
