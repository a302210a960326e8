/**
 * The PI18 page of the gate: ranges and steps of every setter (pi18.md §5, workflow §2) and the
 * cross-field rules on the merged state; every violation is reported.
 */
import { describe, expect, it } from 'vitest';
import { checkPi18, checkSettings, rangeViolations, type Pi18CheckContext } from '../../../src/families/pi18/check.js';
import type { Pi18Setting } from '../../../src/families/pi18/codec.js';
import { defaultPiri } from '../../../src/families/pi18/sim.js';

const ctx = (over: Partial<Pi18CheckContext> = {}): Pi18CheckContext => ({ device: 'inverter lvx-1', settings: defaultPiri(), ...over });
const keys = (v: { key: string }[]) => v.map((x) => x.key);

describe('PI18 check: ranges and steps', () => {
  it('accepts the edges of every 48 V range and refuses just outside them', () => {
    const good: Pi18Setting[] = [
      { key: 'cutoff_voltage', volts: 40 },
      { key: 'cutoff_voltage', volts: 48 },
      { key: 'battery_thresholds', stopDischargeV: 44, stopChargeV: 'full' },
      { key: 'battery_thresholds', stopDischargeV: 51, stopChargeV: 58 },
      { key: 'charge_voltages', bulkV: 58.4, floatV: 48 },
      { key: 'max_charging_current', amps: 80 },
      { key: 'max_utility_charging_current', amps: 2 },
      { key: 'battery_type', value: 'flooded' },
      { key: 'output_source_priority', value: 'solar_utility_battery' },
      { key: 'charger_priority', value: 'solar_only' },
      { key: 'solar_power_priority', value: 'battery_load_utility' },
      { key: 'grid_tie', enabled: true },
    ];
    for (const s of good) expect(rangeViolations(s, ctx()), JSON.stringify(s)).toEqual([]);
    const bad: Pi18Setting[] = [
      { key: 'cutoff_voltage', volts: 39.9 },
      { key: 'cutoff_voltage', volts: 48.1 },
      { key: 'cutoff_voltage', volts: 44.05 },
      { key: 'battery_thresholds', stopDischargeV: 43, stopChargeV: 'full' },
      { key: 'battery_thresholds', stopDischargeV: 45.5, stopChargeV: 'full' },
      { key: 'battery_thresholds', stopDischargeV: 45, stopChargeV: 59 },
      { key: 'charge_voltages', bulkV: 58.5, floatV: 54 },
      { key: 'charge_voltages', bulkV: 56, floatV: 47.9 },
      { key: 'max_charging_current', amps: 65 },
      { key: 'max_charging_current', amps: 90 },
      { key: 'max_utility_charging_current', amps: 5 },
      { key: 'battery_type', value: 'lifepo4' as never },
      { key: 'charger_priority', value: 'utility_first' as never },
    ];
    for (const s of bad) expect(rangeViolations(s, ctx()), JSON.stringify(s)).toHaveLength(1);
  });

  it("uses the unit's own step lists when they were read (an LV5048 with a 120 A charger)", () => {
    expect(rangeViolations({ key: 'max_charging_current', amps: 120 }, ctx())).toHaveLength(1);
    const big = ctx({ currentSteps: { charge: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120], utility: [2, 10, 20, 30] } });
    expect(rangeViolations({ key: 'max_charging_current', amps: 120 }, big)).toEqual([]);
    expect(rangeViolations({ key: 'max_utility_charging_current', amps: 40 }, big)).toHaveLength(1);
  });

  it('a 24 V unit gets the 24 V BUCD lists; its PSDV/MCHGV ranges are unknown, so they are refused', () => {
    const c = ctx({ settings: { ...defaultPiri(), batteryRatedVoltageV: 24, stopDischargeVoltageV: 23, stopChargeVoltageV: 27, cutoffVoltageV: 21 } });
    expect(rangeViolations({ key: 'battery_thresholds', stopDischargeV: 22.5, stopChargeV: 26.5 }, c)).toEqual([]);
    expect(rangeViolations({ key: 'battery_thresholds', stopDischargeV: 44, stopChargeV: 'full' }, c)).toHaveLength(1);
    expect(rangeViolations({ key: 'cutoff_voltage', volts: 21 }, c)[0]!.message).toMatch(/24 V unit/);
  });

  it('unit index of MCHGC/MUCHGC/PCP within the parallel max num', () => {
    expect(rangeViolations({ key: 'max_charging_current', amps: 60 }, ctx(), 1)).toEqual([]);
    expect(rangeViolations({ key: 'charger_priority', value: 'solar_first' }, ctx({ settings: { ...defaultPiri(), parallelMaxNum: 2 } }), 2)).toHaveLength(1);
  });
});

describe('PI18 check: cross-field rules on the merged state', () => {
  it('cutoff < stop_discharge is checked against the device when only one side changes', () => {
    // Device: cutoff 44.0, stop-discharge 48.0.
    expect(checkSettings([{ setting: { key: 'cutoff_voltage', volts: 47.9 } }], ctx())).toEqual([]);
    const v = checkSettings([{ setting: { key: 'cutoff_voltage', volts: 48 } }], ctx());
    expect(keys(v)).toEqual(['cutoff_voltage,stop_discharge_voltage']);
    expect(v[0]!.code).toBe('CONFLICT');
    // …and passes when the same change raises stop-discharge too.
    expect(checkSettings([{ setting: { key: 'cutoff_voltage', volts: 48 } }, { setting: { key: 'battery_thresholds', stopDischargeV: 49, stopChargeV: 54 } }], ctx())).toEqual([]);
  });

  it('utility current ≤ total current, float ≤ bulk, stop-charge above stop-discharge unless full', () => {
    expect(keys(checkSettings([{ setting: { key: 'max_utility_charging_current', amps: 70 } }], ctx()))).toEqual(['max_utility_charging_current,max_charging_current']);
    expect(keys(checkSettings([{ setting: { key: 'max_charging_current', amps: 20 } }], ctx()))).toEqual(['max_utility_charging_current,max_charging_current']);
    expect(keys(checkSettings([{ setting: { key: 'charge_voltages', bulkV: 54, floatV: 55 } }], ctx()))).toEqual(['bulk_voltage,float_voltage']);
    expect(keys(checkSettings([{ setting: { key: 'battery_thresholds', stopDischargeV: 50, stopChargeV: 50 } }], ctx()))).toEqual(['stop_discharge_voltage,stop_charge_voltage']);
    expect(checkSettings([{ setting: { key: 'battery_thresholds', stopDischargeV: 50, stopChargeV: 'full' } }], ctx())).toEqual([]);
  });

  it('custom voltages need battery type user, in the change or already on the unit', () => {
    const agm = ctx({ settings: { ...defaultPiri(), batteryType: 'agm' } });
    expect(keys(checkSettings([{ setting: { key: 'cutoff_voltage', volts: 42 } }], agm))).toEqual(['battery_type']);
    expect(checkSettings([{ setting: { key: 'battery_type', value: 'user' } }, { setting: { key: 'cutoff_voltage', volts: 42 } }], agm)).toEqual([]);
    const unknown = ctx({ settings: { ...defaultPiri(), batteryType: { unknown: 3 } } });
    expect(checkSettings([{ setting: { key: 'charge_voltages', bulkV: 56, floatV: 54 } }], unknown)[0]!.message).toMatch(/code 3/);
  });

  it('reports every violation, not only the first', () => {
    const v = checkSettings(
      [
        { setting: { key: 'cutoff_voltage', volts: 49 } },
        { setting: { key: 'max_charging_current', amps: 65 } },
        { setting: { key: 'max_utility_charging_current', amps: 70 } },
        { setting: { key: 'charge_voltages', bulkV: 54, floatV: 55 } },
      ],
      ctx(),
    );
    expect(keys(v)).toEqual([
      'cutoff_voltage',
      'max_charging_current',
      'cutoff_voltage,stop_discharge_voltage',
      'bulk_voltage,float_voltage',
      'max_utility_charging_current,max_charging_current',
    ]);
  });

  it('checkPi18 (the FamilyCheck): every message in one refusal; OUT_OF_RANGE wins over CONFLICT', () => {
    expect(checkPi18({ key: 'max_charging_current', amps: 60 }, ctx())).toEqual({ ok: true, value: { key: 'max_charging_current', amps: 60 }, notes: [] });
    const r = checkPi18({ key: 'cutoff_voltage', volts: 48.5 }, ctx());
    expect(r).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(!r.ok && r.message).toMatch(/outside 40.0–48.0 V.*; .*must be below stop_discharge_voltage/);
    expect(checkPi18({ key: 'cutoff_voltage', volts: 48 }, ctx())).toMatchObject({ ok: false, code: 'CONFLICT', message: expect.stringMatching(/^inverter lvx-1: /) });
    expect(checkPi18({ key: 'cutoff_voltage', volts: 42 }, ctx({ settings: null }))).toMatchObject({ ok: false, code: 'CONFLICT', message: expect.stringMatching(/battery_type user/) });
  });
});

describe('PI18 check: the unit state', () => {
  it("a rule the unit already breaks on keys the change does not touch does not refuse the change (found by the dump property)", () => {
    const odd = ctx({ settings: { ...defaultPiri(), maxChargingCurrentA: 10, maxUtilityChargingCurrentA: 30 } });
    expect(checkSettings([{ setting: { key: 'grid_tie', enabled: true } }], odd)).toEqual([]);
    expect(keys(checkSettings([{ setting: { key: 'max_charging_current', amps: 20 } }], odd))).toEqual(['max_utility_charging_current,max_charging_current']);
    expect(checkSettings([{ setting: { key: 'max_utility_charging_current', amps: 10 } }], odd)).toEqual([]);
  });
});
