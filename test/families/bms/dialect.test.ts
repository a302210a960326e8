/**
 * Defect 8.6: a wrong BMS dialect is detected from the 0x35E identity and holds guided charging;
 * a protection, alarm or request bit the tables do not name blocks charging. Simulated rig on
 * the fake clock; the BMS simulator speaks whichever dialect the test picks, independent of
 * the configuration.
 */
import type { CanAdapterLink } from '../../../src/families/can/adapter.js';
import type { BatteryView } from '../../../src/families/bms/view.js';
import { afterEach, describe, expect, it } from 'vitest';
import { makeSimRig, tempDbPath, type TestRig } from '../../helpers/rig.js';
import { simulatedConfig } from '../../../src/rig.js';
import { bmsLimitsFromSnapshot } from '../../../src/families/bms/policy.js';
import { decodeBms, encodeAlarms } from '../../../src/families/bms/codec.js';
import { decodeFp2 } from '../../../src/families/flatpack2/codec.js';
import type { BmsDialect } from '../../../src/families/bms/codec.js';
import type { BatterySnapshot } from '../../../src/families/bms/driver.js';
import type { CanFrame } from '../../../src/families/can/types.js';

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

/** The demo rig with its BMS configured as `configured`; the simulated stack speaks `speaks`. */
function rig(configured: BmsDialect, speaks: BmsDialect, socPct = 50): TestRig {
  const dbPath = tempDbPath('pp-dialect-');
  const config = simulatedConfig({ port: 0, dbPath, bms: true, vebus: false });
  config.links[1]!.bms!.dialect = configured;
  const r = makeSimRig({ dbPath, config, pack: { socPct, capacityAh: 100 } });
  // Before the first burst (it goes out on the first clock turn).
  r.rig.sim!.bms.get('can1')!.setDialect(speaks);
  return r;
}

async function runUntil(t: TestRig, cond: () => boolean, maxMs: number, stepMs = 5000): Promise<void> {
  for (let done = 0; done < maxMs && !cond(); done += stepMs) await t.clock.advance(stepMs);
}

/** Every SET the charger bus sends from now on (per-unit current, A). */
function watchSets(t: TestRig): Array<{ v: number; a: number }> {
  const sets: Array<{ v: number; a: number }> = [];
  (t.rig.links.get('can0') as CanAdapterLink).onTx((f: CanFrame) => {
    const m = decodeFp2(f);
    if (m.kind === 'set') sets.push({ v: m.voltageV, a: m.currentA ?? Infinity });
  });
  return sets;
}

describe('defect 8.6: a wrong BMS dialect is detected and holds guided charging', () => {
  it('defect 8.6: a Pylontech-speaking BMS on a deye config raises battery.dialect-mismatch and a guided start is refused', async () => {
    t = rig('deye', 'pylontech');
    await t.clock.advance(5000);
    const b = t.rig.engine.device<BatteryView>('bms0')!;
    expect(b.online).toBe(true);
    expect(b.snapshot!.dialectCheck).toMatchObject({ configured: 'deye', detected: 'pylontech', maker: 'PYLON', status: 'mismatch' });
    const ev = t.store.latestEvent({ types: ['battery.dialect-mismatch'], deviceId: 'bms0' })!;
    expect(ev).not.toBeNull();
    expect(ev.data).toMatchObject({ configured: 'deye', detected: 'pylontech', maker: 'PYLON' });
    expect(String(ev.data.reason)).toMatch(/dialect: pylontech/);

    const sets = watchSets(t);
    const charger = t.rig.engine.charger('charger1')!;
    const r = await charger.startCharge('api');
    expect(r).toMatchObject({ ok: false, code: 'BMS_DIALECT_MISMATCH' });
    expect(!r.ok && r.message).toMatch(/bms0.*PYLON.*set "dialect: pylontech"/);
    await t.clock.advance(30_000);
    expect(charger.phase).not.toMatch(/detect|ramp|CC|CV/);
    expect(sets.filter((s) => s.a > 0.1)).toEqual([]);
  });

  it('defect 8.6: a running guided charge holds with standby when the stack turns out to speak the other dialect', async () => {
    t = rig('deye', 'deye');
    await t.clock.advance(5000);
    expect(t.store.latestEvent({ types: ['battery.dialect-confirmed'], deviceId: 'bms0' })).not.toBeNull();
    const charger = t.rig.engine.charger('charger1')!;
    expect((await charger.startCharge('api')).ok).toBe(true);
    await runUntil(t, () => charger.phase === 'CC', 3600_000);
    expect(charger.phase).toBe('CC');

    // A Pylontech stack now talks on the same bus (swapped, or its emulation mode changed).
    t.rig.sim!.bms.get('can1')!.setDialect('pylontech');
    await t.clock.advance(5000);
    expect(t.store.latestEvent({ types: ['battery.dialect-mismatch'], deviceId: 'bms0' })).not.toBeNull();
    expect(charger.phase).toBe('paused');
    expect(charger.view().bmsHold).toMatch(/dialect mismatch/);
    expect(t.rig.engine.busSetpoint('can0')).toMatchObject({ standby: true, origin: 'charger' });
    const hold = t.store.latestEvent({ types: ['charger.bms-hold'], deviceId: 'charger1' })!;
    expect(String(hold.data.reason)).toMatch(/dialect mismatch.*set "dialect: pylontech"/);
    // It stays held (no release, no current) as long as the mismatch lasts.
    const sets = watchSets(t);
    await t.clock.advance(120_000);
    expect(charger.phase).toBe('paused');
    expect(sets.filter((s) => s.a > 0.1)).toEqual([]);
  });

  it('defect 8.6: a Deye stack on a pylontech config is a mismatch; its "cell too cold to charge" cannot pass as a discharge protection', async () => {
    t = rig('pylontech', 'deye');
    await t.clock.advance(5000);
    const bms = t.rig.sim!.bms.get('can1')!;
    expect(t.store.latestEvent({ types: ['battery.dialect-mismatch'], deviceId: 'bms0' })?.data).toMatchObject({ configured: 'pylontech', detected: 'deye' });
    // What the issue saw: Deye's 0x359 byte 0 bit 7 "cell-under-temp-charge" read with the
    // Pylontech table is "discharge-over-current", which alone does not block a charge.
    const cold = encodeAlarms({ protections: ['cell-under-temp-charge'], alarms: [] }, 'deye');
    const misread = decodeBms(cold, 'pylontech');
    expect(misread).toMatchObject({ kind: 'alarms', protections: ['discharge-over-current'] });
    const protections = misread.kind === 'alarms' ? misread.protections : [];
    bms.injectOverTemp(true, { tempC: -5 });
    await t.clock.advance(5000);
    const snap = t.rig.engine.device<BatteryView>('bms0')!.snapshot!;
    // With the snapshot's mismatch the same misread protections no longer let a charge through.
    const limits = bmsLimitsFromSnapshot({ ...snap, protections });
    expect(limits.chargeAllowed).toBe(false);
    expect(limits.blockReason).toMatch(/^dialect mismatch/);
    expect(bmsLimitsFromSnapshot(snap)).toMatchObject({ chargeAllowed: false, full: false });
    expect(await t.rig.engine.charger('charger1')!.startCharge('api')).toMatchObject({ ok: false, code: 'BMS_DIALECT_MISMATCH' });
  });

  it('defect 8.6: without any 0x35E a guided start waits (BMS_DIALECT_PENDING), then is allowed with battery.dialect-unverified', async () => {
    t = rig('deye', 'deye');
    const bms = t.rig.sim!.bms.get('can1')!;
    bms.setIdentity(null);
    await t.clock.advance(3000);
    const charger = t.rig.engine.charger('charger1')!;
    expect(t.rig.engine.device<BatteryView>('bms0')!.snapshot!.dialectCheck.status).toBe('pending');
    expect(await charger.startCharge('api')).toMatchObject({ ok: false, code: 'BMS_DIALECT_PENDING' });
    await t.clock.advance(10_000);
    const ev = t.store.latestEvent({ types: ['battery.dialect-unverified'], deviceId: 'bms0' })!;
    expect(String(ev.data.reason)).toMatch(/no 0x35E identity in 10 s/);
    expect((await charger.startCharge('api')).ok).toBe(true);
    await runUntil(t, () => charger.phase === 'CC', 3600_000);
    expect(charger.phase).toBe('CC');
  });

  it('defect 8.6: without any 0x35E, frames only the other dialect sends are a mismatch too (no 10-s grace)', async () => {
    for (const [configured, speaks, what] of [
      ['pylontech', 'deye', /frame 0x361/],
      ['deye', 'pylontech', /"PN" marker/],
    ] as const) {
      t = rig(configured, speaks);
      t.rig.sim!.bms.get('can1')!.setIdentity(null);
      await t.clock.advance(3000);
      const check = t.rig.engine.device<BatteryView>('bms0')!.snapshot!.dialectCheck;
      expect(check).toMatchObject({ status: 'mismatch', configured, detected: speaks, maker: null });
      expect(check.reason).toMatch(what);
      expect(await t.rig.engine.charger('charger1')!.startCharge('api')).toMatchObject({ ok: false, code: 'BMS_DIALECT_MISMATCH' });
      await t.clock.advance(15_000);
      expect(t.rig.engine.device<BatteryView>('bms0')!.snapshot!.dialectCheck.status).toBe('mismatch');
      await t.stop();
      t = null;
    }
  });

  it('defect 8.6: a maker that names neither dialect is unverified at once; after the BMS drops out the check starts over', async () => {
    t = rig('deye', 'deye');
    const bms = t.rig.sim!.bms.get('can1')!;
    bms.setIdentity('ACME');
    await t.clock.advance(3000);
    expect(t.rig.engine.device<BatteryView>('bms0')!.snapshot!.dialectCheck).toMatchObject({ status: 'unverified', maker: 'ACME', detected: null });
    bms.setIdentity('auto');
    await t.clock.advance(3000);
    expect(t.rig.engine.device<BatteryView>('bms0')!.snapshot!.dialectCheck).toMatchObject({ status: 'confirmed', maker: 'DY001' });
    bms.silenceAll(true);
    await t.clock.advance(15_000);
    expect(t.rig.engine.device<BatteryView>('bms0')!.online).toBe(false);
    bms.setDialect('pylontech');
    bms.silenceAll(false);
    await t.clock.advance(3000);
    expect(t.rig.engine.device<BatteryView>('bms0')!.snapshot!.dialectCheck).toMatchObject({ status: 'mismatch', detected: 'pylontech' });
  });
});

describe('defect 8.6: a protection, alarm or request bit the policy does not know blocks charging', () => {
  const base: BatterySnapshot = {
    chargeVoltageLimitV: 57.6,
    chargeCurrentLimitA: 50,
    socPct: 60,
    requestFlags: ['charge-enable', 'discharge-enable'],
    protections: [],
    alarms: [],
    dialectCheck: { configured: 'pylontech', detected: 'pylontech', maker: 'PYLON', status: 'confirmed', since: 0, reason: '' },
  } as unknown as BatterySnapshot;

  it('defect 8.6: an unknown protection bit blocks charging', () => {
    // Pylontech 0x359 byte 0 bit 0 is not in the v1.2 table (§3.5): the codec names it by position.
    const f = encodeAlarms({ protections: [], alarms: [], moduleCount: 2 }, 'pylontech');
    f.data[0] = 0x01;
    const m = decodeBms(f, 'pylontech');
    expect(m).toMatchObject({ kind: 'alarms', protections: ['byte0-bit0'] });
    const protections = m.kind === 'alarms' ? m.protections : [];
    expect(bmsLimitsFromSnapshot({ ...base, protections })).toMatchObject({ chargeAllowed: false, blockReason: expect.stringMatching(/protection byte0-bit0 \(a bit the protocol tables do not name\)/) });
    // Deye 0x359 byte 7 is unused (§3.4): a bit there is reported, and blocks, instead of vanishing.
    const deye = decodeBms({ id: 0x359, extended: false, remote: false, data: Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0x04) }, 'deye');
    expect(deye).toMatchObject({ kind: 'alarms', protections: ['byte7-bit2'] });
    const deyeProt = deye.kind === 'alarms' ? deye.protections : [];
    expect(bmsLimitsFromSnapshot({ ...base, protections: deyeProt }).chargeAllowed).toBe(false);
  });

  it('defect 8.6: an unknown alarm or request bit blocks too; known alarms and discharge-only protections do not', () => {
    expect(bmsLimitsFromSnapshot({ ...base, alarms: ['byte2-bit0'] }).chargeAllowed).toBe(false);
    expect(bmsLimitsFromSnapshot({ ...base, requestFlags: ['charge-enable', 'byte0-bit1'] }).chargeAllowed).toBe(false);
    expect(bmsLimitsFromSnapshot({ ...base, alarms: ['low-temp', 'high-voltage'] }).chargeAllowed).toBe(true);
    expect(bmsLimitsFromSnapshot({ ...base, protections: ['under-voltage', 'discharge-over-current'] }).chargeAllowed).toBe(true);
    expect(bmsLimitsFromSnapshot({ ...base, protections: ['under-temp'] }).chargeAllowed).toBe(false);
  });

  it('defect 8.6: a dialect mismatch or a pending check blocks, and is never mistaken for "full"', () => {
    const mismatch = { ...base, socPct: 100, chargeCurrentLimitA: 0, dialectCheck: { ...base.dialectCheck, detected: 'deye' as const, status: 'mismatch' as const, reason: 'x' } };
    expect(bmsLimitsFromSnapshot(mismatch)).toMatchObject({ chargeAllowed: false, full: false, blockReason: expect.stringMatching(/^dialect mismatch/) });
    expect(bmsLimitsFromSnapshot({ ...base, dialectCheck: { ...base.dialectCheck, status: 'pending' } }).chargeAllowed).toBe(false);
    expect(bmsLimitsFromSnapshot({ ...base, dialectCheck: { ...base.dialectCheck, status: 'unverified' } }).chargeAllowed).toBe(true);
  });
});
