/**
 * Defect 8.9 (the simulator contradicted itself: rectifiers 0 A, BMS +30 A, SOC still rising):
 * - the pack's current is one value, the sum of what the PSU simulators deliver, read by the
 *   BMS simulator at the moment it measures (not the last physics step's);
 * - the BMS simulator keeps up with its period on a sped-up clock whose timers cannot wait
 *   1 ms of simulated time (RealClock at 100× has a 100 ms floor), instead of queueing frames
 *   without end and reporting values from ever further in the past.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, type TimerHandle } from '../../src/clock.js';
import type { CanFrame } from '../../src/families/can/types.js';
import { decodeBms } from '../../src/families/bms/codec.js';
import { BmsSim } from '../../src/families/bms/sim.js';
import { LiFePO4Pack } from '../../src/sim/lifepo4-pack.js';
import { simulatedConfig, SIM_PSU_SERIALS } from '../../src/rig.js';
import { makeSimRig, tempDbPath, type TestRig } from '../helpers/rig.js';

/** Timers no shorter than `floorMs`: what RealClock(speed) gives with Node's 1 ms real floor. */
class CoarseClock extends FakeClock {
  constructor(private readonly floorMs: number) {
    super();
  }
  override setTimeout(fn: () => void, ms: number): TimerHandle {
    return super.setTimeout(fn, Math.max(ms, this.floorMs));
  }
}

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

describe('the BMS simulator on a sped-up clock', () => {
  it('defect 8.9: with 100 ms timer resolution every burst still goes out within its period, with current values', async () => {
    const clock = new CoarseClock(100);
    const pack = new LiFePO4Pack({ cells: 16, capacityAh: 100, socPct: 50, internalResistanceOhm: 0.02 });
    let packA = 0;
    pack.attachSource(() => packA);
    const sent: Array<{ at: number; frame: CanFrame }> = [];
    const sim = new BmsSim({ clock, pack, dialect: 'deye', send: (frame) => sent.push({ at: clock.now(), frame }) });
    sim.start();
    await clock.advance(30_000);
    packA = 30;
    await clock.advance(30_000);
    await clock.advance(500); // the burst that just began goes out
    sim.stop();
    const bursts = sim.stats.bursts;
    expect(bursts).toBeGreaterThanOrEqual(60);
    // Every frame of every burst was sent (nothing left queued behind), in time.
    const measurements = sent.filter((s) => s.frame.id === 0x356);
    expect(measurements.length).toBe(bursts);
    // The latest measurement says what flows now, not what flowed half a minute ago.
    const last = decodeBms(measurements.at(-1)!.frame, 'deye');
    expect(last).toMatchObject({ kind: 'measurements', currentA: 30 });
    expect(clock.now() - measurements.at(-1)!.at).toBeLessThanOrEqual(1000);
  });
});

describe('the simulated pack current', () => {
  it('defect 8.9: equals the sum of the PSU sims’ output currents throughout a charge, after a PSU drop and an adapter unplug', async () => {
    const dbPath = tempDbPath('pp-packA-');
    const config = simulatedConfig({ port: 0, dbPath, bms: true, vebus: false });
    t = makeSimRig({ dbPath, config, pack: { socPct: 90 } });
    const sim = t.rig.sim!;
    const fp2 = sim.flatpack2.get('can0')!;
    const bms = sim.bms.get('can1')!;
    const psuSum = () => SIM_PSU_SERIALS.reduce((a, s) => a + fp2.psu(s).outputA, 0);
    let checks = 0;
    const check = (what: string) => {
      checks++;
      expect(sim.pack.currentA, what).toBeCloseTo(psuSum(), 9);
      // What the BMS reported at its last cycle is what the PSUs delivered then, unless a
      // setpoint changed since; after a quiet second both must agree.
      const v = bms.view();
      if (v && Math.abs(v.currentA - psuSum()) > 0.2) {
        expect(clock.now() - v.at, `${what}: BMS ${v.currentA} A vs PSUs ${psuSum()} A`).toBeLessThan(1000);
      }
    };
    const clock = t.clock;
    const run = async (ms: number, what: string, step = 250) => {
      for (let d = 0; d < ms; d += step) {
        await clock.advance(step);
        check(what);
      }
    };
    await run(5000, 'before the charge');
    const charger = t.rig.engine.charger('charger1')!;
    await charger.startCharge('api');
    await run(60_000, 'ramp and CC');
    expect(charger.phase).toBe('CC');
    expect(psuSum()).toBeGreaterThan(25);

    // One PSU drops out: the pack current follows at once, the BMS within a cycle.
    fp2.setPresent(SIM_PSU_SERIALS[1], false);
    check('right after the PSU drop');
    await run(30_000, 'after the PSU drop');
    fp2.setPresent(SIM_PSU_SERIALS[1], true);
    await run(30_000, 'after the PSU came back');

    // The adapter is unplugged: the PSUs log out and fall back to their default voltage, and
    // whatever they deliver then is what the pack (and the BMS) sees.
    sim.unplug('can0');
    await run(30_000, 'unplugged');
    sim.replug('can0');
    await run(60_000, 'replugged');

    for (let i = 0; i < 120 && charger.phase !== 'done' && charger.phase !== 'error'; i++) await run(30_000, 'to the end', 1000);
    await run(5000, 'after the charge');
    // After the charge nothing flows, and the BMS says so (the defect: +30 A and SOC rising).
    expect(psuSum()).toBeLessThan(0.5);
    expect(Math.abs(bms.view()!.currentA)).toBeLessThan(0.5);
    const soc = bms.view()!.socPct;
    await run(10_000, 'after the charge, idle');
    expect(bms.view()!.socPct).toBe(soc);
    expect(checks).toBeGreaterThan(500);
  }, 120_000);
});
