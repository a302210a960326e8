/**
 * Profile apply against the simulated LVX6048 behind a fake HID device (FakeClock):
 * read-back after each setter, abort on NAK / timeout / CRC / mismatch / lost link, rollback
 * with read-back, identity guard, pre-flight, idempotent re-apply (pi18-profile-workflow.md §5, §8).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeClock } from '../../../src/clock.js';
import { applyPlan, type ApplyProgress, type ApplyReport } from '../../../src/families/pi18/apply.js';
import type { Pi18Frame } from '../../../src/families/pi18/codec.js';
import { planProfile, profileFromPiri, type Plan, type Profile } from '../../../src/families/pi18/profile.js';
import { hidUnit, type Pi18Unit } from '../../helpers/pi18-rig.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function unit(...args: Parameters<typeof hidUnit>): Promise<Pi18Unit> {
  const u = await hidUnit(...args);
  cleanups.push(() => u.stop());
  await u.tx.expect((f) => f.type === 'query' && f.command === 'FWS', 2000);
  await u.clock.advance(10);
  return u;
}

/** Awaits a promise while moving the FakeClock on (setters settle 500 ms, timeouts 2 s). */
async function run<T>(clock: FakeClock, p: Promise<T>, maxMs = 120_000): Promise<T> {
  let done = false;
  let value!: T;
  void p.then((v) => {
    done = true;
    value = v;
  });
  for (let t = 0; t < maxMs && !done; t += 100) await clock.advance(100);
  if (!done) throw new Error(`still running after ${maxMs} ms of fake time`);
  return value;
}

const WANTED: Profile = {
  battery_type: 'user',
  cutoff_voltage: 46,
  stop_discharge_voltage: 50,
  stop_charge_voltage: 55,
  bulk_voltage: 55.2,
  float_voltage: 54,
  max_utility_charging_current: 10,
  max_charging_current: 40,
  charger_priority: 'solar_only',
  output_source_priority: 'solar_utility_battery',
  grid_tie: true,
};

function makePlan(u: Pi18Unit, wanted: Profile = WANTED): Plan {
  const r = planProfile(wanted, u.driver.settings!, { serial: u.driver.identity!.serial, currentSteps: u.driver.currentSteps });
  if (!r.ok) throw new Error(r.violations.map((v) => v.message).join('; '));
  return r.plan;
}

const setters = (u: Pi18Unit) => u.tx.frames.filter((f): f is Pi18Frame & { type: 'set' } => f.type === 'set').map((f) => f.command);

describe('profile apply', () => {
  it('applies every step in the safe order with a PIRI read-back after each; progress step by step; polling paused', async () => {
    const u = await unit();
    const plan = makePlan(u);
    expect(plan.steps.map((s) => s.command)).toEqual(['MCHGV552,540', 'BUCD500,550', 'PSDV460', 'MUCHGC0,010', 'MCHGC0,040', 'PCP0,2', 'POP0', 'PEI']);
    u.tx.clear();
    const progress: ApplyProgress[] = [];
    const report = await run(u.clock, applyPlan(u.driver, plan, { confirm: true, onProgress: (p) => progress.push(p) }));
    expect(report).toMatchObject({ result: 'applied', serial: '96142109100037', firmware: { main: '05220' } });
    expect(report.steps.map((s) => [s.command, s.outcome])).toEqual(plan.steps.map((s) => [s.command, 'ack']));
    expect(report.steps[0]!.frameHex).toBe('5e 53 30 31 35 4d 43 48 47 56 35 35 32 2c 35 34 30 88 e8 0d');
    expect(report.steps[0]!.replyHex).toBe('5e 31 0b c2 0d');
    expect(report.before).toMatchObject({ cutoffVoltageV: 44 });
    expect(report.after).toMatchObject({ cutoffVoltageV: 46, maxChargingCurrentA: 40, machineType: 'grid_tie' });
    expect(progress.filter((p) => p.phase === 'step').map((p) => (p as { command: string }).command)).toEqual(plan.steps.map((s) => s.command));
    expect(progress.at(-1)).toMatchObject({ phase: 'done' });
    // Every setter is followed by a PIRI query before the next frame goes out; no GS polls in between.
    const seq = u.tx.frames.map((f) => (f.type === 'set' ? 'SET' : f.type === 'query' ? f.command : f.type));
    const firstSet = seq.indexOf('SET');
    const during = seq.slice(firstSet, seq.lastIndexOf('SET') + 2);
    expect(during.filter((c) => c === 'GS' || c === 'FWS')).toEqual([]);
    for (let i = 0; i < during.length; i++) if (during[i] === 'SET') expect(during[i + 1]).toBe('PIRI');
    expect(profileFromPiri(u.sim.piri)).toMatchObject({ cutoff_voltage: 46, grid_tie: true, max_charging_current: 40 });
  });

  it('re-applying an applied profile sends nothing (idempotent)', async () => {
    const u = await unit();
    await run(u.clock, applyPlan(u.driver, makePlan(u), { confirm: true }));
    u.tx.clear();
    const again = await run(u.clock, applyPlan(u.driver, makePlan(u), { confirm: true }));
    expect(again).toMatchObject({ result: 'nothing-to-do', steps: [] });
    expect(setters(u)).toEqual([]);
  });

  it('a NAK mid-apply aborts and the rollback restores the original PIRI, with read-back', async () => {
    const u = await unit();
    const original = structuredClone(u.sim.piri);
    u.sim.script.next('nak', { when: (c) => c.startsWith('MCHGC') });
    const report = await run(u.clock, applyPlan(u.driver, makePlan(u), { confirm: true }));
    expect(report).toMatchObject({ result: 'aborted', code: 'CONFLICT', abortedAtStep: 5, rollback: { held: true } });
    expect(report.steps.map((s) => s.outcome)).toEqual(['ack', 'ack', 'ack', 'ack', 'nak']);
    expect(report.message).toMatch(/step 5 of 8 \(MCHGC0,040\) failed.*refused.*Rolled back 4 steps/);
    // Rollback in the safe order from where the unit is now: cutoff 46 < the restored stop-discharge 48, so BUCD first.
    expect(report.rollback!.steps.map((s) => s.command)).toEqual(['MCHGV564,540', 'BUCD480,530', 'PSDV440', 'MUCHGC0,030']);
    expect(u.sim.piri).toEqual(original);
    expect(report.after).toEqual(original);
  });

  it('a read-back mismatch aborts and rolls back', async () => {
    const u = await unit();
    const original = structuredClone(u.sim.piri);
    u.sim.script.next('ignore', { when: (c) => c.startsWith('PCP') });
    const report = await run(u.clock, applyPlan(u.driver, makePlan(u), { confirm: true }));
    expect(report).toMatchObject({ result: 'aborted', abortedAtStep: 6, rollback: { held: true } });
    expect(report.steps.at(-1)).toMatchObject({ command: 'PCP0,2', outcome: 'mismatch' });
    expect(u.sim.piri).toEqual(original);
  });

  it('a lost ack (timeout) aborts without re-sending the setter; the rollback undoes it too', async () => {
    const u = await unit();
    const original = structuredClone(u.sim.piri);
    u.sim.script.next('drop-reply', { when: (c) => c === 'PSDV460' });
    u.tx.clear();
    const report = await run(u.clock, applyPlan(u.driver, makePlan(u), { confirm: true }));
    expect(report).toMatchObject({ result: 'aborted', code: 'DEVICE_OFFLINE', abortedAtStep: 3, rollback: { held: true } });
    expect(setters(u).filter((c) => c === 'PSDV460')).toHaveLength(1);
    expect(report.rollback!.steps.map((s) => s.command)).toContain('PSDV440');
    expect(u.sim.piri).toEqual(original);
  });

  it('a CRC failure on an ack aborts and rolls back', async () => {
    const u = await unit();
    const original = structuredClone(u.sim.piri);
    u.sim.script.next('corrupt-crc', { when: (c) => c === 'POP0' });
    const report = await run(u.clock, applyPlan(u.driver, makePlan(u), { confirm: true }));
    expect(report).toMatchObject({ result: 'aborted', abortedAtStep: 7, rollback: { held: true } });
    expect(report.steps.at(-1)!.outcome).toBe('corrupt');
    expect(u.sim.piri).toEqual(original);
  });

  it('a rollback that is refused too is reported as not held', async () => {
    const u = await unit();
    u.sim.script.next('nak', { when: (c) => c.startsWith('MCHGC') }).next('nak', { when: (c) => c === 'PSDV440' });
    const report = await run(u.clock, applyPlan(u.driver, makePlan(u), { confirm: true }));
    expect(report).toMatchObject({ result: 'aborted', rollback: { held: false, message: expect.stringMatching(/Rollback failed at PSDV440/) } });
  });

  it('switching back from user to AGM on rollback writes the voltages before the type', async () => {
    const u = await unit({ sim: { piri: { batteryType: 'agm' } } });
    const original = structuredClone(u.sim.piri);
    u.sim.script.next('nak', { when: (c) => c.startsWith('PEI') });
    const report = await run(u.clock, applyPlan(u.driver, makePlan(u), { confirm: true }));
    expect(report.steps[0]!.command).toBe('PBT2');
    expect(report.rollback).toMatchObject({ held: true });
    expect(report.rollback!.steps.at(-1)!.command).toBe('PBT0');
    expect(u.sim.piri).toEqual(original);
  });

  it('the unit disappears mid-apply: aborts cleanly, says which step, rollback not held', async () => {
    const u = await unit();
    let steps = 0;
    const report = await run(
      u.clock,
      applyPlan(u.driver, makePlan(u), {
        confirm: true,
        onProgress: (p) => {
          if (p.phase === 'step' && ++steps === 2) u.dev.unplug();
        },
      }),
    );
    expect(report).toMatchObject({ result: 'aborted', code: 'LINK_DOWN', abortedAtStep: 3, rollback: { held: false } });
    expect(report.message).toMatch(/step 3 of 8/);
  });

  it('refusals before any write: no confirm, another serial (identity guard), an active fault, a changed unit', async () => {
    const u = await unit();
    const plan = makePlan(u);
    u.tx.clear();
    expect(await applyPlan(u.driver, plan, { confirm: false })).toMatchObject({ result: 'refused', code: 'BAD_USER_INPUT' });
    const other: ApplyReport = await run(u.clock, applyPlan(u.driver, { ...plan, serial: '96142408100255' }, { confirm: true }));
    expect(other).toMatchObject({ result: 'refused', code: 'CONFLICT', message: expect.stringMatching(/serial 96142109100037, but the plan was made for 96142408100255/) });
    u.sim.setFault(86);
    const faulted = await run(u.clock, applyPlan(u.driver, plan, { confirm: true }));
    expect(faulted).toMatchObject({ result: 'refused', message: expect.stringMatching(/active fault 86 \(parallel output setting different\)/) });
    u.sim.setFault(0);
    u.sim.piri.machineType = 'grid_tie'; // changed behind the plan's back (on the panel): PEI is no longer needed
    const stale = await run(u.clock, applyPlan(u.driver, plan, { confirm: true }));
    expect(stale).toMatchObject({ result: 'refused', message: expect.stringMatching(/changed since the plan was made/) });
    expect(setters(u)).toEqual([]);
  });
});
