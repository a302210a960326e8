/**
 * PI18 profiles (pure): dump that always validates and round-trips through YAML, parse with every
 * violation, diff, and the plan's safe ordering (pi18-profile-workflow.md §3–§5) — including the
 * fast-check property: every intermediate state keeps cutoff < stop_discharge and utility ≤ total.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSetterCommand, type Piri } from '../../../src/families/pi18/codec.js';
import { Pi18Sim, defaultPiri } from '../../../src/families/pi18/sim.js';
import {
  compareProfiles,
  diffProfile,
  dumpProfile,
  parseProfile,
  planProfile,
  profileToYaml,
  stateViolations,
  validateProfile,
  type Profile,
} from '../../../src/families/pi18/profile.js';
import { buildFrame } from '../../../src/families/pi18/codec.js';

const ctx = { device: 'inverter lvx-1' };
function parsedOk(text: string) {
  const r = parseProfile(text);
  if (!r.ok) throw new Error(r.violations.map((v) => v.message).join('\n'));
  return r;
}

describe('profile dump and YAML', () => {
  it('dumps every key of a User unit, with guidance comments and metadata, and round-trips', () => {
    const piri = defaultPiri();
    const { profile, skipped } = dumpProfile(piri, ctx);
    expect(skipped).toEqual([]);
    expect(profile).toEqual({
      battery_type: 'user',
      cutoff_voltage: 44,
      stop_discharge_voltage: 48,
      stop_charge_voltage: 53,
      bulk_voltage: 56.4,
      float_voltage: 54,
      max_utility_charging_current: 30,
      max_charging_current: 60,
      output_source_priority: 'solar_battery_utility',
      charger_priority: 'solar_and_utility',
      solar_power_priority: 'load_battery_utility',
      grid_tie: false,
    });
    const meta = { serial: '96142109100037', firmware: { main: '05220', slave1: '03110', slave2: '00000' }, battery_rated_voltage: 48, dumped_at: '2026-01-01T00:00:00.000Z' };
    const yaml = profileToYaml(profile, meta);
    expect(yaml).toMatch(/# V 40\.0\.\.48\.0 — hard shutdown; must be < stop_discharge_voltage/);
    expect(yaml).toMatch(/^cutoff_voltage: 44\.0$/m);
    expect(yaml).toMatch(/^bulk_voltage: 56\.4$/m);
    const back = parsedOk(yaml);
    expect(back.profile).toEqual(profile);
    expect(back.meta).toEqual(meta);
    expect(validateProfile(back.profile, { ...ctx, settings: piri })).toEqual([]);
    // Dumped from the unit → nothing to change.
    expect(diffProfile(back.profile, piri)).toEqual([]);
  });

  it('omits, with reasons, what apply could not write back: unknown codes, off-step currents, out-of-range pairs, voltages on AGM', () => {
    const odd: Piri = { ...defaultPiri(), batteryType: { unknown: 3 }, maxChargingCurrentA: 65, floatVoltageV: 47, chargerPriority: { unknown: 7 } };
    const { profile, skipped } = dumpProfile(odd, ctx);
    expect(Object.keys(profile)).not.toContain('battery_type');
    expect(Object.keys(profile)).not.toContain('max_charging_current');
    expect(Object.keys(profile)).not.toContain('charger_priority');
    // The float is out of range: both halves of MCHGV go; voltages also need type user, which is unknown here.
    expect(Object.keys(profile)).not.toContain('bulk_voltage');
    expect(Object.keys(profile)).not.toContain('float_voltage');
    expect(skipped.map((s) => s.key)).toEqual(expect.arrayContaining(['battery_type', 'max_charging_current', 'charger_priority', 'bulk_voltage', 'float_voltage']));
    expect(validateProfile(profile, { ...ctx, settings: odd })).toEqual([]);
    const yaml = profileToYaml(profile, {}, skipped);
    expect(yaml).toMatch(/skipped/);
    expect(parsedOk(yaml).profile).toEqual(profile);

    const agm = dumpProfile({ ...defaultPiri(), batteryType: 'agm' }, ctx);
    expect(agm.profile.cutoff_voltage).toBeUndefined();
    expect(agm.profile.battery_type).toBe('agm');
    expect(validateProfile(agm.profile, { ...ctx, settings: { ...defaultPiri(), batteryType: 'agm' } })).toEqual([]);
  });

  it('a dump of random unit states always validates and round-trips (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          cutoff: fc.integer({ min: 380, max: 500 }),
          sd: fc.integer({ min: 430, max: 520 }),
          sc: fc.integer({ min: 0, max: 590 }),
          bulk: fc.integer({ min: 470, max: 590 }),
          float: fc.integer({ min: 470, max: 590 }),
          bt: fc.integer({ min: 0, max: 3 }),
          mc: fc.integer({ min: 0, max: 130 }),
          mu: fc.integer({ min: 0, max: 130 }),
        }),
        (r) => {
          const types = ['agm', 'flooded', 'user'] as const;
          const piri: Piri = {
            ...defaultPiri(),
            cutoffVoltageV: r.cutoff / 10,
            stopDischargeVoltageV: r.sd / 10,
            stopChargeVoltageV: r.sc / 10,
            bulkVoltageV: r.bulk / 10,
            floatVoltageV: r.float / 10,
            batteryType: r.bt < 3 ? types[r.bt]! : { unknown: r.bt },
            maxChargingCurrentA: r.mc,
            maxUtilityChargingCurrentA: r.mu,
          };
          const { profile, skipped } = dumpProfile(piri, ctx);
          expect(validateProfile(profile, { ...ctx, settings: piri })).toEqual([]);
          expect(parsedOk(profileToYaml(profile, {}, skipped)).profile).toEqual(profile);
          expect(diffProfile(profile, piri)).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('parse reports every bad key and value; accepts the seed spellings', () => {
    const r = parseProfile('battery_type: lithium\ncutoff_voltage: low\nmax_charging_current: 60.5\nfoo: 1\n');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.violations.map((v) => v.key)).toEqual(['battery_type', 'cutoff_voltage', 'max_charging_current', 'foo']);
    expect(parsedOk('battery_type: USER\nsolar_power_priority: battery_load_utility_ac\ngrid_tie: enabled\nstop_charge_voltage: 0\nstop_discharge_voltage: 48\n').profile).toEqual({
      battery_type: 'user',
      solar_power_priority: 'battery_load_utility',
      grid_tie: true,
      stop_charge_voltage: 'full',
      stop_discharge_voltage: 48,
    });
    expect(parseProfile('- a\n- b\n').ok).toBe(false);
    expect(parseProfile('a: [').ok).toBe(false);
  });

  it('validate: a half pair, ranges and cross-field rules on the merged state, all listed', () => {
    const v = validateProfile({ bulk_voltage: 56, cutoff_voltage: 49, max_utility_charging_current: 70 }, { ...ctx, settings: defaultPiri() });
    expect(v.map((x) => x.key)).toEqual(['bulk_voltage,float_voltage', 'cutoff_voltage', 'cutoff_voltage,stop_discharge_voltage', 'max_utility_charging_current,max_charging_current']);
  });
});

describe('profile diff and compare', () => {
  it('lists only keys whose device value differs (voltages within 0.05 V); pairs as one entry', () => {
    const piri = defaultPiri();
    const d = diffProfile({ cutoff_voltage: 44.04, bulk_voltage: 56.4, float_voltage: 53.5, grid_tie: true, max_charging_current: 60 }, piri);
    expect(d.map((x) => [x.keys, x.from, x.to])).toEqual([
      [['bulk_voltage', 'float_voltage'], [56.4, 54], [56.4, 53.5]],
      [['grid_tie'], [false], [true]],
    ]);
  });

  it('compare: equal, differing and one-sided keys', () => {
    const c = compareProfiles({ cutoff_voltage: 44, grid_tie: true, battery_type: 'user' }, { cutoff_voltage: 44.0, grid_tie: false, max_charging_current: 60 });
    expect(c).toEqual({ equal: ['cutoff_voltage'], differ: [{ key: 'grid_tie', a: true, b: false }], onlyA: ['battery_type'], onlyB: ['max_charging_current'] });
  });
});

describe('profile plan (safe ordering, exact frames, expected read-back)', () => {
  it('orders battery type, MCHGV, thresholds, currents, priorities, grid-tie; each step with its frame and expected PIRI', () => {
    const piri = { ...defaultPiri(), batteryType: 'agm' as const };
    const wanted: Profile = {
      grid_tie: true,
      charger_priority: 'solar_only',
      max_charging_current: 40,
      max_utility_charging_current: 10,
      cutoff_voltage: 46,
      stop_discharge_voltage: 50,
      stop_charge_voltage: 'full',
      bulk_voltage: 55.2,
      float_voltage: 54,
      battery_type: 'user',
    };
    const r = planProfile(wanted, piri, { serial: '96142109100037' });
    if (!r.ok) throw new Error(JSON.stringify(r.violations));
    const p = r.plan;
    // Raising the thresholds: BUCD first, then PSDV. Lowering the currents: utility first.
    expect(p.steps.map((s) => s.command)).toEqual(['PBT2', 'MCHGV552,540', 'BUCD500,000', 'PSDV460', 'MUCHGC0,010', 'MCHGC0,040', 'PCP0,2', 'PEI']);
    expect(p.steps[1]!.frameHex).toBe('5e 53 30 31 35 4d 43 48 47 56 35 35 32 2c 35 34 30 88 e8 0d'); // pi18.md §2.1
    expect(p.steps[1]!.frameText).toBe('^S015MCHGV552,540');
    expect(p.steps[2]!.expect).toMatchObject({ stopDischargeVoltageV: 50, stopChargeVoltageV: 0, cutoffVoltageV: 44 });
    expect(p.steps.at(-1)!.expect).toEqual(p.after);
    expect(p.serial).toBe('96142109100037');
  });

  it('lowering the thresholds sets PSDV first; raising the currents sets the total first', () => {
    const piri = { ...defaultPiri(), cutoffVoltageV: 46, stopDischargeVoltageV: 50, maxChargingCurrentA: 20, maxUtilityChargingCurrentA: 20 };
    const r = planProfile({ cutoff_voltage: 42, stop_discharge_voltage: 45, stop_charge_voltage: 53, max_charging_current: 80, max_utility_charging_current: 60 }, piri);
    expect(r.ok && r.plan.steps.map((s) => s.command)).toEqual(['PSDV420', 'BUCD450,530', 'MCHGC0,080', 'MUCHGC0,060']);
  });

  it('an invalid profile gives every violation and no plan; a matching profile an empty plan', () => {
    const bad = planProfile({ cutoff_voltage: 49, max_charging_current: 65 }, defaultPiri());
    expect(!bad.ok && bad.violations).toHaveLength(3);
    const same = planProfile(dumpProfile(defaultPiri(), ctx).profile, defaultPiri());
    expect(same.ok && same.plan.steps).toEqual([]);
  });

  it('uses the unit index for MCHGC/MUCHGC/PCP', () => {
    const r = planProfile({ max_charging_current: 50, charger_priority: 'solar_first' }, defaultPiri(), { unit: 1 });
    expect(r.ok && r.plan.steps.map((s) => s.command)).toEqual(['MCHGC1,050', 'PCP1,0']);
  });

  it('property: for random valid current/wanted settings every intermediate state keeps cutoff < stop_discharge and utility ≤ total, and a strict unit accepts every step', () => {
    const tenthsIn = (a: number, b: number) => fc.integer({ min: a, max: b }).map((t) => t / 10);
    const stepV = (a: number, b: number) => fc.integer({ min: a, max: b }).map((v) => v);
    const charge = fc.constantFrom(10, 20, 30, 40, 50, 60, 70, 80);
    const utility = fc.constantFrom(2, 10, 20, 30, 40, 50, 60, 70, 80);
    const settings = fc.record({
      cutoff: tenthsIn(400, 480),
      sd: stepV(44, 51),
      sc: fc.oneof(fc.constant('full' as const), stepV(48, 58)),
      bulk: tenthsIn(480, 584),
      float: tenthsIn(480, 584),
      mc: charge,
      mu: utility,
    });
    const keysArb = fc.subarray(['cutoff', 'thresholds', 'voltages', 'mc', 'mu', 'pcp', 'grid'] as const);
    fc.assert(
      fc.property(settings, settings, keysArb, (cur, want, keys) => {
        const current: Piri = {
          ...defaultPiri(),
          cutoffVoltageV: cur.cutoff,
          stopDischargeVoltageV: cur.sd,
          stopChargeVoltageV: cur.sc === 'full' ? 0 : cur.sc,
          bulkVoltageV: Math.max(cur.bulk, cur.float),
          floatVoltageV: Math.min(cur.bulk, cur.float),
          maxChargingCurrentA: cur.mc,
          maxUtilityChargingCurrentA: cur.mu,
        };
        fc.pre(stateViolations(current).length === 0);
        const wanted: Profile = {};
        if (keys.includes('cutoff')) wanted.cutoff_voltage = want.cutoff;
        if (keys.includes('thresholds')) Object.assign(wanted, { stop_discharge_voltage: want.sd, stop_charge_voltage: want.sc });
        if (keys.includes('voltages')) Object.assign(wanted, { bulk_voltage: Math.max(want.bulk, want.float), float_voltage: Math.min(want.bulk, want.float) });
        if (keys.includes('mc')) wanted.max_charging_current = want.mc;
        if (keys.includes('mu')) wanted.max_utility_charging_current = want.mu;
        if (keys.includes('pcp')) wanted.charger_priority = 'solar_only';
        if (keys.includes('grid')) wanted.grid_tie = true;
        const r = planProfile(wanted, current);
        fc.pre(r.ok);
        if (!r.ok) return;
        // Every intermediate state (the expected PIRI after each step) satisfies the cross-field rules.
        for (const s of r.plan.steps) expect(stateViolations(s.expect), s.command).toEqual([]);
        // A unit that refuses any step breaking them accepts every step, and ends at the plan's state.
        const sim = new Pi18Sim({ piri: current, enforceCrossField: true });
        for (const s of r.plan.steps) {
          const replies = sim.receive(buildFrame({ type: 'set', command: s.command }));
          expect(replies.map((b) => b[1]), s.command).toEqual([0x31]); // '^1'
          expect(decodeSetterCommand(s.command).ok).toBe(true);
        }
        expect(diffProfile(wanted, sim.piri)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});
