/**
 * The OpenEVSE page of the gate (check.ts) and the projection (project.ts).
 */
import { describe, expect, it } from 'vitest';
import { allowedCurrentRange, checkEvseCommand, evseCheck, type EvseCheckContext } from '../../../src/families/openevse/check.js';
import { emptyEvseView, projectEvse } from '../../../src/families/openevse/project.js';
import type { EvseCommand, EvseFact, EvseView } from '../../../src/families/openevse/types.js';
import type { Observation } from '../../../src/families/contract.js';

const T = Date.UTC(2026, 0, 1);
const f = (fact: EvseFact, at = T): Observation<EvseFact> => ({ type: 'fact', at, deviceId: 'evse1', fact });

function view(over: Partial<EvseView> = {}): EvseView {
  let v = emptyEvseView('evse1');
  v = projectEvse(v, { type: 'presence', at: T, deviceId: 'evse1', online: true, identity: { firmware: '8.2.3', protocol: '5.2.1' } });
  v = projectEvse(v, f({ kind: 'range', minA: 6, maxA: 80, pilotA: 32, configuredA: 32 }));
  v = projectEvse(v, f({ kind: 'settings', capacityA: 32, ecf: 0x0001, level: 2 }));
  return { ...v, ...over };
}
const ctx = (over: Partial<EvseCheckContext> = {}): EvseCheckContext => ({ view: view(), circuitLimitA: 40, role: 'operator', name: 'EVSE garage', ...over });
const check = (cmd: EvseCommand, c: Partial<EvseCheckContext> = {}) => checkEvseCommand(cmd, ctx(c));

describe('check: current capacity', () => {
  it('inside the board range and the circuit limit is admitted unchanged', () => {
    expect(check({ kind: 'setCurrent', amps: 16 })).toEqual({ ok: true, value: { kind: 'setCurrent', amps: 16 }, notes: [] });
    expect(check({ kind: 'setCurrent', amps: 40 }).ok).toBe(true);
    expect(check({ kind: 'setCurrent', amps: 6 }).ok).toBe(true);
  });

  it('above the circuit limit is refused with the allowed range, not clamped', () => {
    const r = check({ kind: 'setCurrent', amps: 48 });
    expect(r).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(r.ok ? '' : r.message).toBe('EVSE garage: 48 A is outside the allowed 6–40 A (board 6–80 A at L2, circuit limit 40 A); choose a whole number of amps in that range');
  });

  it('above the board range (GC) or below 6 A is refused; without a circuit limit the board max applies', () => {
    expect(check({ kind: 'setCurrent', amps: 81 }, { circuitLimitA: null })).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(check({ kind: 'setCurrent', amps: 80 }, { circuitLimitA: null }).ok).toBe(true);
    const low = check({ kind: 'setCurrent', amps: 5 });
    expect(low.ok ? '' : low.message).toMatch(/6–40 A/);
    expect(check({ kind: 'setCurrent', amps: 16.5 })).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
  });

  it('L1 range follows the board (24 A)', () => {
    const v = projectEvse(view(), f({ kind: 'range', minA: 6, maxA: 24, pilotA: 12, configuredA: 12 }));
    expect(check({ kind: 'setCurrent', amps: 30 }, { view: v })).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
  });

  it('a volatile set cannot exceed the saved capacity', () => {
    const r = check({ kind: 'setCurrent', amps: 36, volatile: true });
    expect(r.ok ? '' : r.message).toMatch(/6–32 A .*volatile set cannot exceed the saved 32 A/);
  });

  it('an unknown range (GC not read) refuses with DEVICE_OFFLINE; a circuit limit below 6 A is a config error', () => {
    expect(check({ kind: 'setCurrent', amps: 16 }, { view: emptyEvseView('evse1') })).toMatchObject({ ok: false, code: 'DEVICE_OFFLINE' });
    expect(check({ kind: 'setCurrent', amps: 6 }, { circuitLimitA: 5 })).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(allowedCurrentRange(view(), 5)).toMatchObject({ error: expect.stringMatching(/below the J1772 minimum/) });
  });

  it('enable is refused while the advertised capacity is above the circuit limit', () => {
    expect(check({ kind: 'enable' }, { circuitLimitA: 20 })).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect(check({ kind: 'enable' }).ok).toBe(true);
  });
});

describe('check: dangerous commands and safety switches', () => {
  for (const cmd of [
    { kind: 'reset' },
    { kind: 'calibrateAmmeter', scale: 220, offset: 0 },
    { kind: 'setHardwareMax', amps: 48 },
    { kind: 'setLifetimeEnergy', wh: 0 },
  ] as EvseCommand[]) {
    it(`${cmd.kind}: FORBIDDEN without admin, admitted for admin`, () => {
      expect(check(cmd)).toMatchObject({ ok: false, code: 'FORBIDDEN' });
      expect(check(cmd, { role: 'admin' }).ok).toBe(true);
    });
  }

  it('6.x-only commands need a board that reported RAPI 6.0.0', () => {
    expect(check({ kind: 'resetFaultCounters' }, { role: 'admin' })).toMatchObject({ ok: false, code: 'CONFLICT' });
    const d9 = projectEvse(view(), f({ kind: 'identity', firmware: '9.0.1', protocol: '6.0.0' }));
    expect(check({ kind: 'resetFaultCounters' }, { role: 'admin', view: d9 }).ok).toBe(true);
  });

  it('FF E is refused (echo quirk, rapi §12.1); switching a safety check off needs admin', () => {
    expect(check({ kind: 'feature', letter: 'E', on: false }, { role: 'admin' })).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect(check({ kind: 'feature', letter: 'G', on: false })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(check({ kind: 'feature', letter: 'G', on: true }).ok).toBe(true);
    expect(check({ kind: 'feature', letter: 'B', on: false }).ok).toBe(true);
  });

  it('heartbeat: off needs admin; the fallback must be within the allowed range', () => {
    expect(check({ kind: 'heartbeat', intervalS: 0, fallbackA: 6 })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(check({ kind: 'heartbeat', intervalS: 30, fallbackA: 50 })).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(check({ kind: 'heartbeat', intervalS: 30, fallbackA: 6 }).ok).toBe(true);
  });
});

describe('check: other commands', () => {
  it('LCD text must fit the 31-character frame with a seq id and checksum', () => {
    expect(check({ kind: 'lcdText', x: 0, y: 0, text: 'HELLO' }).ok).toBe(true);
    const r = check({ kind: 'lcdText', x: 10, y: 1, text: 'CHARGING AT 32 A' });
    expect(r).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(r.ok ? '' : r.message).toMatch(/at most \d+ fit/);
    expect(check({ kind: 'lcdText', x: 0, y: 2, text: 'x' })).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(check({ kind: 'lcdText', x: 0, y: 0, text: 'a$b' })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
  });

  it('limits: ranges, 15-minute steps noted', () => {
    expect(check({ kind: 'setLimits', timeMinutes: 50 })).toMatchObject({ ok: true, notes: ['the board counts in 15-minute steps: 60 minutes'] });
    expect(check({ kind: 'setLimits', energyKWh: 300 })).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(check({ kind: 'setLimits', timeMinutes: null }).ok).toBe(true);
    expect(check({ kind: 'setLimits' })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
  });

  it('delay timer and voltage', () => {
    expect(check({ kind: 'delayTimer', start: '22:30', end: '06:00' }).ok).toBe(true);
    expect(check({ kind: 'delayTimer', start: '25:00', end: '06:00' })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(check({ kind: 'setVoltage', voltageV: 400 })).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
  });
});

describe('evseCheck (the engine.command shape)', () => {
  it('reads the range from the device view the engine passes, with the role and circuit limit of the caller', () => {
    const c = evseCheck({ circuitLimitA: 20, role: 'operator' });
    const device = { ...view(), name: 'garage' };
    expect(c({ kind: 'setCurrent', amps: 20 }, { device }).ok).toBe(true);
    const r = c({ kind: 'setCurrent', amps: 21 }, { device });
    expect(r.ok ? '' : r.message).toMatch(/^EVSE garage: 21 A is outside the allowed 6–20 A/);
    expect(c({ kind: 'reset' }, { device })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
  });
});

describe('projection', () => {
  it('builds the view from facts: state in words, power, energy, heartbeat, counters; same object for foreign observations', () => {
    let v = view();
    v = projectEvse(v, f({ kind: 'status', source: 'AT', state: 3, pilot: 3, vflags: 0x0540, capacityA: 32, elapsedS: null }));
    v = projectEvse(v, f({ kind: 'meter', currentMa: 31870, voltageMv: 240000 }));
    v = projectEvse(v, f({ kind: 'energy', sessionWs: 7200, lifetimeWh: 15339 }));
    v = projectEvse(v, f({ kind: 'heartbeat', state: 'armed', intervalS: 30, fallbackA: 6, trigger: 0 }));
    v = projectEvse(v, f({ kind: 'faultCounters', gfiTrips: 0, noGroundTrips: 1, stuckRelayTrips: 0 }));
    v = projectEvse(v, f({ kind: 'temperatures', ds3231C: 23.5, mcp9808C: null, tmp007C: null }));
    expect(v).toMatchObject({
      online: true,
      firmware: '8.2.3',
      protocol: '5.2.1',
      stateName: 'charging',
      stateText: 'charging',
      fault: false,
      evConnected: true,
      charging: true,
      currentA: 31.87,
      voltageV: 240,
      powerW: 7649,
      sessionWh: 2,
      lifetimeKWh: 15.339,
      heartbeat: { state: 'armed', intervalS: 30, fallbackA: 6, trigger: 0, missedCount: 0 },
      faultCounters: { gfi: 0, noGround: 1, stuckRelay: 0 },
      temperaturesC: { ds3231: 23.5, mcp9808: null, tmp007: null },
      minA: 6,
      maxA: 80,
      serviceLevel: 2,
      autoServiceLevel: true,
    });
    v = projectEvse(v, f({ kind: 'status', source: 'AT', state: 6, pilot: 0, vflags: 0x0580, capacityA: 32, elapsedS: null }));
    expect(v).toMatchObject({ stateName: 'gfci_fault', fault: true, charging: false, currentA: 0, powerW: 0 });
    v = projectEvse(v, f({ kind: 'heartbeat', state: 'missed', intervalS: 30, fallbackA: 6, trigger: 2 }));
    expect(v.heartbeat.missedCount).toBe(1);
    const other: Observation<EvseFact> = { type: 'fact', at: T, deviceId: 'evse2', fact: { kind: 'boot', state: 0, firmware: 'x' } };
    expect(projectEvse(v, other)).toBe(v);
    v = projectEvse(v, f({ kind: 'boot', state: 0, firmware: '8.2.3' }));
    expect(v).toMatchObject({ boots: 1, charging: false });
  });
});
