/**
 * The demo rig with the paralleled LVX6048 pair, on the FakeClock (issue 11 §4 "the demo rig
 * gains the pair"): two links (one USB-HID device per unit), each unit found by its serial, the
 * master at parallel index 0 and the slave at 1; readings are telemetry, a fault is a flag event,
 * every exchange is a frame record; an apply on one unit pauses only that unit's polling.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { makeSimRig, tempDbPath, type TestRig } from '../../helpers/rig.js';
import { SIM_INVERTERS, simulatedConfig } from '../../../src/rig.js';
import type { InverterView } from '../../../src/families/pi18/project.js';
import type { Pi18SimNode } from '../../../src/families/pi18/family.js';
import { pi18Service } from '../../../src/families/pi18/service.js';

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

function rigWithPair(): TestRig {
  const dbPath = tempDbPath('pp-pi18-rig-');
  return makeSimRig({ dbPath, config: simulatedConfig({ port: 0, dbPath, bms: false, inverters: true }) });
}

const inv = (t: TestRig, id: string) => t.rig.engine.devicesOfKind<InverterView>('pi18').find((v) => v.id === id)!;
const simOf = (t: TestRig, link: string) => (t.rig.sim!.pi18.get(link) as Pi18SimNode).sim;

describe('the demo rig with the LVX6048 pair', () => {
  it('two links, one unit each, by serial: master index 0 and slave index 1 online with readings and settings', async () => {
    t = rigWithPair();
    expect([...t.rig.links.keys()]).toEqual(['can0', 'inv0', 'inv1']);
    await t.clock.advance(15_000);
    const m = inv(t, 'inv-master');
    const s = inv(t, 'inv-slave');
    expect(m).toMatchObject({ online: true, serial: SIM_INVERTERS[0].serial, busId: 'inv0', role: 'master', parallelIndex: 0 });
    expect(s).toMatchObject({ online: true, serial: SIM_INVERTERS[1].serial, busId: 'inv1', role: 'slave', parallelIndex: 1 });
    expect(m.settings?.outputMode).toBe('parallel');
    expect(typeof m.readings?.batteryVoltageV).toBe('number');
    // Telemetry and frame records, per unit.
    t.store.flush();
    expect(t.store.latestSamplePerDevice().some((r) => r.deviceId === 'inv-slave')).toBe(true);
    expect(t.store.listFrames({ link: 'inv1', protocol: 'pi18' }, 10).items.length).toBeGreaterThan(4);
    // The pair answers each other's PGS (parallel status).
    expect(simOf(t, 'inv0').peer).toBe(simOf(t, 'inv1'));
  });

  it('a fault on the slave is a flag event in words; offline when its cable is pulled', async () => {
    t = rigWithPair();
    await t.clock.advance(15_000);
    simOf(t, 'inv1').setFault(86);
    await t.clock.advance(15_000);
    expect(inv(t, 'inv-slave').activeFlags.map((f) => f.text).join(' ')).toMatch(/parallel output setting different/i);
    expect(inv(t, 'inv-master').activeFlags).toEqual([]);
    t.rig.sim!.unplug('inv1');
    await t.clock.advance(30_000);
    expect(inv(t, 'inv-slave').online).toBe(false);
    expect(inv(t, 'inv-master').online).toBe(true);
  });

  it('an apply on the master holds its exchange slot and pauses its polling only; the slave keeps being polled', async () => {
    t = rigWithPair();
    await t.clock.advance(15_000);
    const svc = pi18Service(t.rig.engine);
    const plan = await (async () => {
      const p = svc.plan('inv-master', { yaml: 'max_charging_current: 30\nmax_utility_charging_current: 20' }, 'test');
      await t!.clock.advance(5_000);
      return p;
    })();
    expect(plan.plan.steps.length).toBe(2);
    const master = simOf(t, 'inv0');
    const slave = simOf(t, 'inv1');
    const applying = svc.apply(plan.id, true, 'test');
    // While the apply runs, the master hears only the apply's exchanges (ID, VFW, PIRI, FWS, GS, MOD, MCHGCR, MUCHGCR and the setters with their read-backs), no GS/MOD poll between setters.
    const masterFrom = master.received.length;
    const slaveFrom = slave.received.length;
    let row;
    void applying.then((r) => (row = r));
    // Nothing else of ours talks to the unit meanwhile: a dump or sync-check is refused, not interleaved.
    await expect(svc.dump('inv-master')).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/apply is running/) });
    await expect(svc.syncCheck('inv-master', 'inv-slave')).rejects.toMatchObject({ code: 'CONFLICT' });
    for (let i = 0; i < 40 && !row; i++) await t.clock.advance(500);
    expect(row).toMatchObject({ result: 'applied', operator: 'test' });
    const during = master.received.slice(masterFrom).map((r) => r.command);
    const firstSet = during.findIndex((c) => c.startsWith('MUCHGC') || c.startsWith('MCHGC0'));
    const afterSets = during.slice(firstSet);
    // Between the first setter and the last read-back: only setters and PIRI.
    const lastPiri = afterSets.lastIndexOf('PIRI');
    expect(afterSets.slice(0, lastPiri + 1).every((c) => c === 'PIRI' || /^M(U)?CHGC/.test(c))).toBe(true);
    expect(master.piri.maxChargingCurrentA).toBe(30);
    // Polling resumes on the master afterwards; the slave was never paused.
    const masterAfter = master.received.length;
    await t.clock.advance(6_000);
    expect(master.received.slice(masterAfter).some((r) => r.command === 'GS')).toBe(true);
    expect(slave.received.slice(slaveFrom).some((r) => r.command === 'GS')).toBe(true);
  });

  it('a unit that disappears mid-apply aborts cleanly; the audit says which step and that the rollback could not hold', async () => {
    t = rigWithPair();
    await t.clock.advance(15_000);
    const svc = pi18Service(t.rig.engine);
    const p = svc.plan('inv-slave', { yaml: 'max_charging_current: 30\nmax_utility_charging_current: 20\ncharger_priority: solar_only' }, 'night-shift');
    await t.clock.advance(5_000);
    const plan = await p;
    expect(plan.plan.steps.length).toBe(3);
    const slave = simOf(t, 'inv1');
    const before = slave.applied.length;
    let row: Awaited<ReturnType<typeof svc.apply>> | undefined;
    void svc.apply(plan.id, true, 'night-shift').then((r) => (row = r));
    // Pull the cable as soon as the first setter has been acknowledged and read back.
    const first = plan.plan.steps[0]!.command;
    for (let i = 0; i < 200 && !(inv(t, 'inv-slave').lastSetter?.command === first && inv(t, 'inv-slave').lastSetter?.outcome === 'ack'); i++) await t.clock.advance(50);
    expect(slave.applied.length).toBeGreaterThan(before);
    t.rig.sim!.unplug('inv1');
    for (let i = 0; i < 120 && !row; i++) await t.clock.advance(500);
    expect(row).toMatchObject({ action: 'apply', result: 'aborted', operator: 'night-shift', deviceId: 'inv-slave', rollbackHeld: false });
    expect(row!.abortedAtStep).toBe(2);
    expect(row!.message).toMatch(/step 2 of 3/);
    const stored = svc.records.audits({ deviceId: 'inv-slave', action: 'apply' })[0]!;
    expect(stored).toMatchObject({ id: row!.id, result: 'aborted', abortedAtStep: 2 });
    expect((stored.frames as { command: string; outcome: string }[]).slice(0, 2).map((f) => f.outcome)).toEqual(['ack', expect.stringMatching(/^(link|timeout|readback-failed)$/)]);
  });
});
