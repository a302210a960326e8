/**
 * Sync-check of a simulated parallel pair and compare of two units (pi18-profile-workflow.md §6,
 * §7): every finding, not only the first; "both idle" is inconclusive and skips the divergence rules.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeClock } from '../../../src/clock.js';
import { compareUnits, syncCheck, type SyncSnapshot } from '../../../src/families/pi18/sync.js';
import { hidPair, type Pi18Unit } from '../../helpers/pi18-rig.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function pair(): Promise<[Pi18Unit, Pi18Unit]> {
  const [a, b] = await hidPair();
  cleanups.push(() => a.stop(), () => b.stop());
  await a.clock.advance(100);
  return [a, b];
}

async function snap(clock: FakeClock, u: Pi18Unit): Promise<SyncSnapshot> {
  const p = u.driver.readSync();
  let r: Awaited<typeof p> | null = null;
  void p.then((x) => (r = x));
  for (let i = 0; i < 100 && !r; i++) await clock.advance(10);
  const got = r as Awaited<typeof p> | null;
  if (!got || !got.ok) throw new Error(`readSync failed: ${got ? got.message : 'no result'}`);
  return got.value;
}

async function check(a: Pi18Unit, b: Pi18Unit) {
  return syncCheck(await snap(a.clock, a), await snap(a.clock, b));
}

describe('sync-check on a simulated pair', () => {
  it('a healthy pair: no findings', async () => {
    const [a, b] = await pair();
    expect(await check(a, b)).toEqual({ findings: [], ok: true, inconclusive: false });
  });

  it('both idle → inconclusive (a warning), and the divergence rules are skipped', async () => {
    const [a, b] = await pair();
    a.sim.status.mode = 'standby';
    b.sim.status.mode = 'standby';
    b.sim.status.acOutputFrequencyHz = 60;
    const r = await check(a, b);
    expect(r.findings.map((f) => [f.rule, f.severity])).toEqual([['both_idle', 'warning']]);
    expect(r).toMatchObject({ ok: true, inconclusive: true });
    expect(r.findings[0]!.message).toMatch(/inconclusive/);
  });

  it('reports every finding at once: firmware, same index, no master, faults with words, warnings, mode, frequency, voltage', async () => {
    const [a, b] = await pair();
    b.sim.firmware = { ...b.sim.firmware, main: '05210' };
    a.sim.parallelIndex = 1; // both claim index 1: same index, and no master
    b.sim.setFault(86);
    b.sim.status.mode = 'hybrid'; // still inverting, but with the fault code set
    a.sim.warnings.overload = true;
    a.sim.status.mode = 'battery';
    b.sim.status.acOutputFrequencyHz = 50.3;
    b.sim.status.acOutputVoltageV = 226.5;
    const r = await check(a, b);
    expect(r.findings.map((f) => f.rule)).toEqual([
      'firmware_mismatch',
      'same_parallel_index',
      'no_master',
      'warning_flags',
      'fault',
      'mode_differs',
      'frequency_diverges',
      'voltage_diverges',
    ]);
    expect(r.ok).toBe(false);
    expect(r.findings.find((f) => f.rule === 'fault')!.message).toMatch(/96142408100255\): active fault 86 parallel output setting different \(a parallel fault\)/);
    expect(r.findings.find((f) => f.rule === 'firmware_mismatch')!.message).toMatch(/05220 vs .* 05210/);
  });

  it('0.1 Hz and 2 V apart are still in sync (the limits are exclusive)', async () => {
    const [a, b] = await pair();
    b.sim.status.acOutputFrequencyHz = 50.1;
    b.sim.status.acOutputVoltageV = 232;
    expect((await check(a, b)).findings).toEqual([]);
  });
});

describe('compare two units', () => {
  it('settings key by key (voltages at 0.05 V) and metadata differences', async () => {
    const [a, b] = await pair();
    b.sim.piri = { ...b.sim.piri, cutoffVoltageV: 45, maxChargingCurrentA: 65, parallelMaxNum: 2 };
    b.sim.firmware = { ...b.sim.firmware, slave1: '03100' };
    await a.clock.advance(60_000);
    const r = compareUnits(
      { label: 'lvx-1', piri: a.driver.settings!, firmware: a.driver.identity!.firmware },
      { label: 'lvx-2', piri: b.driver.settings!, firmware: (await snap(a.clock, b)).firmware },
    );
    expect(r.differ).toEqual([{ key: 'cutoff_voltage', a: 44, b: 45 }]);
    expect(r.onlyA).toEqual(['max_charging_current']); // 65 A is off the step list: not in B's dump
    expect(r.metadata).toEqual([
      { what: 'firmware slave 1 CPU', a: '03110', b: '03100' },
      { what: 'parallel max num', a: 9, b: 2 },
    ]);
  });
});
