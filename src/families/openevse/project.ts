/**
 * The OpenEVSE projection (contract.ts `Projection`): the device's view after one observation.
 * Pure: returns a new object when something changed, the same one otherwise.
 */
import type { Observation } from '../contract.js';
import { ECF, VFLAGS, stateInfo } from './codec.js';
import { EVSE_KIND, type EvseFact, type EvseView } from './types.js';

/** A device never heard from (or remembered, before its first observation): everything unknown, offline. */
export function emptyEvseView(id: string, opts: { busId?: string; name?: string } = {}): EvseView {
  return {
    kind: EVSE_KIND,
    id,
    busId: opts.busId ?? '',
    name: opts.name ?? id,
    lastSeen: null,
    online: false,
    firmware: null,
    protocol: null,
    state: null,
    stateName: null,
    stateText: null,
    fault: false,
    pilot: null,
    vflags: null,
    evConnected: null,
    charging: null,
    capacityA: null,
    minA: null,
    maxA: null,
    configuredA: null,
    serviceLevel: null,
    autoServiceLevel: null,
    ecf: null,
    currentA: null,
    voltageV: null,
    powerW: null,
    elapsedS: null,
    sessionWh: null,
    lifetimeKWh: null,
    temperaturesC: { ds3231: null, mcp9808: null, tmp007: null },
    faultCounters: null,
    heartbeat: { state: 'unknown', intervalS: null, fallbackA: null, trigger: null, missedCount: 0 },
    boots: 0,
    lastBootAt: null,
    updatedAt: null,
  };
}

const power = (a: number | null, v: number | null) => (a === null || v === null ? null : Math.round(a * v));

export function projectEvse(view: EvseView, o: Observation<EvseFact>): EvseView {
  switch (o.type) {
    case 'presence':
      if (o.deviceId !== view.id) return view;
      return {
        ...view,
        online: o.online,
        lastSeen: o.online ? o.at : view.lastSeen,
        firmware: typeof o.identity?.firmware === 'string' ? o.identity.firmware : view.firmware,
        protocol: typeof o.identity?.protocol === 'string' ? o.identity.protocol : view.protocol,
        updatedAt: o.at,
      };
    case 'link':
      return o.state === 'up' || !view.online ? view : { ...view, online: false, updatedAt: o.at };
    case 'fact':
      if (o.deviceId !== view.id) return view;
      return { ...applyFact(view, o.fact, o.at), lastSeen: o.at };
    default:
      return view;
  }
}

function applyFact(v: EvseView, f: EvseFact, at: number): EvseView {
  switch (f.kind) {
    case 'identity':
      return { ...v, firmware: f.firmware, protocol: f.protocol, updatedAt: at };
    case 'status': {
      const info = stateInfo(f.state);
      const vflags = f.vflags ?? v.vflags;
      // Without vflags (legacy boards), the state says it: B/C connected, C charging.
      const evConnected = f.vflags !== null ? (f.vflags & VFLAGS.EV_CONNECTED) !== 0 : f.state === 2 || f.state === 3 ? true : f.state === 1 ? false : v.evConnected;
      const charging = f.vflags !== null ? (f.vflags & VFLAGS.CHARGING_ON) !== 0 : f.state === 3;
      const currentA = charging ? v.currentA : 0;
      return {
        ...v,
        state: f.state,
        stateName: info.name,
        stateText: info.text,
        fault: info.fault,
        pilot: f.pilot ?? v.pilot,
        vflags,
        evConnected,
        charging,
        capacityA: f.capacityA ?? v.capacityA,
        elapsedS: f.elapsedS ?? v.elapsedS,
        currentA,
        powerW: power(currentA, v.voltageV),
        updatedAt: at,
      };
    }
    case 'boot':
      return { ...v, boots: v.boots + 1, lastBootAt: at, firmware: f.firmware, charging: false, currentA: 0, powerW: v.voltageV === null ? null : 0, updatedAt: at };
    case 'energy':
      return { ...v, sessionWh: Math.round((f.sessionWs / 3600) * 10) / 10, lifetimeKWh: f.lifetimeWh / 1000, updatedAt: at };
    case 'meter': {
      const currentA = f.currentMa === null ? null : f.currentMa / 1000;
      const voltageV = f.voltageMv / 1000;
      return { ...v, currentA, voltageV, powerW: power(currentA, voltageV), updatedAt: at };
    }
    case 'settings':
      return { ...v, capacityA: f.capacityA, ecf: f.ecf, serviceLevel: f.level, autoServiceLevel: (f.ecf & ECF.AUTO_SVC_LEVEL_DISABLED) === 0, updatedAt: at };
    case 'range':
      return { ...v, minA: f.minA, maxA: f.maxA, capacityA: f.pilotA, configuredA: f.configuredA, updatedAt: at };
    case 'temperatures':
      return { ...v, temperaturesC: { ds3231: f.ds3231C, mcp9808: f.mcp9808C, tmp007: f.tmp007C }, updatedAt: at };
    case 'faultCounters':
      return { ...v, faultCounters: { gfi: f.gfiTrips, noGround: f.noGroundTrips, stuckRelay: f.stuckRelayTrips }, updatedAt: at };
    case 'heartbeat':
      return {
        ...v,
        heartbeat: {
          state: f.state,
          intervalS: f.intervalS,
          fallbackA: f.fallbackA,
          trigger: f.trigger,
          missedCount: v.heartbeat.missedCount + (f.state === 'missed' ? 1 : 0),
        },
        updatedAt: at,
      };
    case 'button':
    case 'wifiRequest':
      return v;
  }
}
