/** The power-flow parts of the PI18 inverter, the MultiPlus and the EVSE (web-client/src/flow/parts.ts), in node. */
import { describe, expect, it } from 'vitest';
import { evseFlow, pi18Flow, vebusFlow } from '../../web-client/src/flow/parts.js';
import type { FlowContext } from '../../web-client/src/devices/types.js';
import type { Device } from '../../web-client/src/types.js';

const dev = (x: Partial<Device> & { __typename: string }): Device => ({ id: 'd', kind: 'k', name: 'Unit', busId: 'b', online: true, lastSeen: null, ...x }) as Device;
const ctx = (devices: Device[] = []): FlowContext => ({ now: Date.UTC(2026, 0, 1, 12), devices: new Map(devices.map((d) => [d.id, d])), buses: [], chargers: [], events: [], name: (id) => id });

describe('power flow parts of the inverters and the EVSE', () => {
  it('a PI18 inverter: PV on the PV path, AC out on the load path, its battery side counted only without a BMS', () => {
    const inv = dev({ __typename: 'Inverter', name: 'Inverter 1', pvPowerW: 1820, acOutputPowerW: 430, loadPct: 7, batteryVoltageV: 52, batteryCurrentA: 20, batterySocPct: 64 });
    const p = pi18Flow(inv, ctx());
    expect(p).toMatchObject({ role: 'pv', watts: 1820, active: true });
    expect(p.paths).toEqual([{ role: 'load', watts: 430 }, { role: 'battery', watts: 1040, inTotals: true }]);
    expect(p.sentence).toBe('Inverter 1 makes 1.8 kW from PV, powers 430 W of AC loads (7 % of its rating) and charges its battery with 1.0 kW, battery at 64 %.');
    const withBms = pi18Flow(inv, ctx([dev({ __typename: 'Battery', id: 'bms0' })]));
    expect(withBms.paths![1]).toEqual({ role: 'battery', watts: 1040, inTotals: false });
    const night = pi18Flow({ ...inv, pvPowerW: 0, acOutputPowerW: 0, batteryCurrentA: 0 }, ctx());
    expect(night).toMatchObject({ watts: 0, active: false, sentence: 'Inverter 1 is on, with no PV and no load, battery at 64 %.' });
    const off = pi18Flow({ ...inv, online: false, lastSeen: new Date(Date.UTC(2026, 0, 1, 11, 50)).toISOString() }, ctx());
    expect(off).toMatchObject({ watts: null, active: false });
    expect(off.sentence).toMatch(/^Inverter 1 offline since \d\d:\d\d \(10 min ago\): no reply from it\.$/);
  });

  it('a MultiPlus: AC in as a source while charging, AC out as a load while inverting', () => {
    const ac = (inV: number, inA: number, outV: number, outA: number) => [{ phase: 1, inVoltageV: inV, inCurrentA: inA, outVoltageV: outV, outCurrentA: outA }];
    const charging = dev({ __typename: 'InverterCharger', name: 'MultiPlus', state: 'charge', chargeSubState: 'bulk', ac: ac(230, 4, 230, 1.5), battery: { voltageV: 53, currentA: 10, socPct: 55 } });
    const c = vebusFlow(charging, ctx());
    expect(c).toMatchObject({ role: 'grid', watts: 920, active: true });
    expect(c.paths).toEqual([{ role: 'load', watts: 345 }, { role: 'battery', watts: 530, inTotals: true }]);
    expect(c.sentence).toBe('MultiPlus takes 920 W from AC in: charges the battery with 530 W (bulk) and passes 345 W through to AC out, battery at 55 %.');
    const inverting = dev({ __typename: 'InverterCharger', name: 'MultiPlus', state: 'invert_full', ac: ac(0, 0, 230, 2), battery: { voltageV: 51, currentA: -10, socPct: 50 } });
    const i = vebusFlow(inverting, ctx([dev({ __typename: 'Battery', id: 'bms0' })]));
    expect(i).toMatchObject({ role: 'load', watts: 460, active: true, sentence: 'MultiPlus is inverting: 460 W to AC out (510 W from the battery), battery at 50 %.' });
    expect(i.paths).toEqual([{ role: 'battery', watts: -510, inTotals: false }]);
    const off = vebusFlow({ ...inverting, state: 'off', ac: ac(0, 0, 0, 0), battery: { voltageV: 51, currentA: 0, socPct: 50 } }, ctx());
    expect(off).toMatchObject({ role: 'load', watts: 0, active: false, sentence: 'MultiPlus is off, battery at 50 %.' });
  });

  it('the EV charger: the EV as a load with its watts and the session’s kWh in one sentence', () => {
    const ev = dev({ __typename: 'EvCharger', name: 'Garage EVSE', status: 'charging', powerW: 7200, sessionKWh: 4.3, vehicleConnected: true });
    expect(evseFlow(ev, ctx())).toEqual({ role: 'load', watts: 7200, active: true, sentence: 'EV charging at 7.2 kW, 4.3 kWh this session (Garage EVSE).' });
    expect(evseFlow({ ...ev, status: 'plugged', powerW: 0 }, ctx())).toMatchObject({ watts: 0, active: false, sentence: 'EV plugged in, not charging; 4.3 kWh this session (Garage EVSE).' });
    expect(evseFlow({ ...ev, status: 'ready', powerW: 0, vehicleConnected: false }, ctx()).sentence).toBe('Garage EVSE: no EV plugged in.');
    expect(evseFlow({ ...ev, status: 'fault', stateText: 'GFI fault', powerW: 0 }, ctx())).toMatchObject({ active: true, sentence: 'Garage EVSE has stopped on a fault: GFI fault. Unplug the vehicle and plug it in again; if it stays, reset the EVSE.' });
  });
});
