/**
 * The BMS stack simulator on a FakeClock, reading the shared LiFePO4Pack. Behaviour per
 * bms-can-simulation.md (§2 schedule, §3 model, §4 scenarios) and the modelling choices
 * documented in src/families/bms/sim.ts.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import type { CanFrame } from '../../../src/families/can/types.js';
import { decodeBms, encodeHeartbeat, type BmsMessage, type BmsMessageOf } from '../../../src/families/bms/codec.js';
import { BmsSim, type BmsSimOptions } from '../../../src/families/bms/sim.js';
import { Flatpack2Sim } from '../../../src/families/flatpack2/sim.js';
import { LiFePO4Pack } from '../../../src/sim/lifepo4-pack.js';
import { mulberry32 } from '../../helpers/rng.js';

interface Sent {
  t: number;
  frame: CanFrame;
}

function rig(opts: Partial<Omit<BmsSimOptions, 'clock' | 'pack' | 'send'>> & { socPct?: number } = {}) {
  const clock = new FakeClock();
  const t0 = clock.now();
  const pack = new LiFePO4Pack({ cells: 16, capacityAh: 100, socPct: opts.socPct ?? 50, internalResistanceOhm: 0.02 });
  const sent: Sent[] = [];
  const sim = new BmsSim({ dialect: 'deye', ...opts, clock, pack, send: (frame) => sent.push({ t: clock.now(), frame }) });
  sim.start();
  // Look 100 ms into each cycle, when the ~32 ms burst has gone out completely.
  clock.advanceSync(100);
  let loadTimer: ReturnType<FakeClock['setInterval']> | undefined;
  const r = {
    clock,
    pack,
    sim,
    sent,
    t0,
    /** Advance simulated time (no async I/O here, so synchronously). */
    run(ms: number) {
      clock.advanceSync(ms);
    },
    /** Something outside the BMS moves current through the pack (+ = charging), as the rectifiers or an inverter would. */
    load(currentA: number) {
      clock.clearInterval(loadTimer);
      loadTimer = clock.setInterval(() => pack.step(currentA, 0.1), 100);
      pack.step(currentA, 0);
    },
    /** The frames of the latest complete burst. */
    burst(): CanFrame[] {
      const at = sim.view()!.at;
      return sent.filter((s) => s.t >= at).map((s) => s.frame);
    },
    msg<K extends BmsMessage['kind']>(id: number): BmsMessageOf<K> {
      const f = r.burst().find((x) => x.id === id);
      if (!f) throw new Error(`no 0x${id.toString(16)} in the last burst`);
      return decodeBms(f, sim.dialect) as BmsMessageOf<K>;
    },
    data(id: number): Uint8Array {
      const f = r.burst().find((x) => x.id === id);
      if (!f) throw new Error(`no 0x${id.toString(16)} in the last burst`);
      return f.data;
    },
  };
  return r;
}

describe('BmsSim bus schedule (simulation doc §2)', () => {
  it('sends one burst per second, frames 1 ms apart: 10 stack frames + 11 per module', () => {
    const r = rig();
    r.run(0);
    r.run(3000);
    const starts = [...new Set(r.sent.map((s) => Math.floor((s.t - r.t0) / 1000) * 1000))];
    expect(starts).toEqual([0, 1000, 2000, 3000]);
    const first = r.sent.filter((s) => s.t - r.t0 < 1000);
    expect(first).toHaveLength(10 + 2 * 11);
    expect(first.map((s) => s.t - r.t0)).toEqual(first.map((_, i) => i));
    expect(first.map((s) => s.frame.id)).toEqual([
      0x351, 0x355, 0x356, 0x359, 0x35c, 0x35e, 0x361, 0x363, 0x364, 0x371,
      0x110, 0x150, 0x200, 0x250, 0x400, 0x550, 0x500, 0x600, 0x650, 0x700, 0x750,
      0x111, 0x151, 0x201, 0x251, 0x401, 0x551, 0x501, 0x601, 0x651, 0x701, 0x751,
    ]);
    // Every frame decodes (nothing invalid or unknown comes out of the simulator).
    for (const s of r.sent) expect(decodeBms(s.frame, 'deye').kind).not.toMatch(/invalid|unknown/);
  });

  it('sends the slow identity/counter frames every N bursts when asked, and can shuffle the order', () => {
    const r = rig({ slowFramesEvery: 10, shuffle: true, random: mulberry32(7) });
    r.run(9500);
    const per = (id: number) => r.sent.filter((s) => s.frame.id === id).length;
    expect(per(0x351)).toBe(10);
    expect(per(0x150)).toBe(10);
    expect(per(0x500)).toBe(1);
    expect(per(0x751)).toBe(1);
    const orders = new Set<string>();
    for (let c = 0; c < 5; c++) orders.add(r.sent.filter((s) => Math.floor((s.t - r.t0) / 1000) === c).map((s) => s.frame.id).join());
    expect(orders.size).toBeGreaterThan(1);
  });

  it('Pylontech dialect: only 0x351, 0x355 (DLC 4), 0x356 (DLC 6), 0x359 (DLC 7, PN), 0x35C (DLC 2), 0x35E "PYLON   "', () => {
    const r = rig({ dialect: 'pylontech' });
    r.run(0);
    expect(r.burst().map((f) => [f.id, f.data.length])).toEqual([
      [0x351, 8],
      [0x355, 4],
      [0x356, 6],
      [0x359, 7],
      [0x35c, 2],
      [0x35e, 8],
    ]);
    expect([...r.data(0x359).subarray(4)]).toEqual([2, 0x50, 0x4e]);
    expect(r.msg<'identity'>(0x35e)).toMatchObject({ text: 'PYLON', dialect: 'pylontech' });
  });
});

describe('BmsSim queue bound', () => {
  it('defect 15.6: the simulated BMS frame queue stays bounded (bursts skipped, counted) when its bursts outlast the period', () => {
    // 2 modules: 32 frames a burst; 50 ms apart that is 1.6 s of bus time per 1 s period.
    const r = rig({ frameGapMs: 50 });
    let maxQueued = 0;
    for (let i = 0; i < 600; i++) {
      r.run(100);
      maxQueued = Math.max(maxQueued, r.sim.queued);
    }
    // Without the bound the queue grows by ~20 frames a second (about 1,200 after a minute).
    expect(maxQueued).toBeLessThanOrEqual(2 * 32 + 1000 / 50);
    expect(r.sim.stats.skippedBursts).toBeGreaterThan(0);
    expect(r.sim.stats.skippedFrames).toBe(32 * r.sim.stats.skippedBursts);
    // Every burst not skipped goes out whole.
    expect(r.sim.stats.frames + r.sim.queued).toBe(32 * r.sim.stats.bursts);
  });

  it('a burst that fits the period is never skipped', () => {
    const r = rig();
    r.run(60_000);
    expect(r.sim.stats.skippedBursts).toBe(0);
    expect(r.sim.queued).toBe(0);
  });
});

describe('BmsSim reads the shared pack', () => {
  it('the Flatpack2 simulator charging the same pack shows in 0x356 with the dialect sign, and SOC follows', () => {
    const clock = new FakeClock();
    const pack = new LiFePO4Pack({ cells: 16, capacityAh: 100, socPct: 50, internalResistanceOhm: 0.02 });
    const sent: CanFrame[] = [];
    const bms = new BmsSim({ clock, pack, dialect: 'deye', send: (f) => sent.push(f) });
    // A logged-out rectifier still charges at its default 53.5 V (flatpack2.md §2.5).
    const fp2 = new Flatpack2Sim({ clock, pack, psus: [{ serial: '192750001639' }], send: () => {} });
    fp2.start();
    bms.start();
    clock.advanceSync(10_100);
    const last = (id: number) => decodeBms(sent.filter((f) => f.id === id).at(-1)!, bms.dialect);

    expect(fp2.totalCurrentA).toBeGreaterThan(30);
    const meas = last(0x356) as BmsMessageOf<'measurements'>;
    // Deye wire: charging is negative (§3.3); the decoded current is + = charging.
    expect(meas.wireCurrentA).toBeLessThan(-30);
    expect(meas.currentA).toBeCloseTo(fp2.totalCurrentA, 0);
    expect(meas.voltageV).toBeCloseTo(pack.terminalV(pack.lastCurrentA), 1);
    const m1 = last(0x150) as BmsMessageOf<'module-status'>;
    const m2 = last(0x151) as BmsMessageOf<'module-status'>;
    expect(m1.currentA + m2.currentA).toBeCloseTo(meas.currentA, 0);
    expect(m1.currentA).toBeGreaterThan(m2.currentA); // 52 % / 48 % split
    expect(last(0x400)).toMatchObject({ mode: 'charge', subState: 0x0f });

    bms.setDialect('pylontech');
    clock.advanceSync(1000);
    const pm = last(0x356) as BmsMessageOf<'measurements'>;
    expect(pm.wireCurrentA).toBeGreaterThan(30); // Pylontech: + = charge
    expect(pm.currentA).toBeCloseTo(fp2.totalCurrentA, 0);

    // SOC follows the pack the rectifiers are filling.
    const socBefore = pack.socPct;
    clock.advanceSync(30 * 60_000);
    expect(pack.socPct).toBeGreaterThan(socBefore + 15);
    expect((last(0x355) as BmsMessageOf<'soc'>).socPct).toBe(Math.round(pack.socPct));
    fp2.stop();
    bms.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('every frame matches the simulator ground truth within one LSB', () => {
    const r = rig({ socPct: 64 });
    r.load(-37);
    r.run(5000);
    const v = r.sim.view()!;
    expect(r.msg(0x356)).toMatchObject({ voltageV: v.voltageV, currentA: v.currentA, direction: 'discharge', tempC: v.tempC });
    expect(r.msg<'measurements'>(0x356).wireCurrentA).toBeCloseTo(37, 1);
    expect(r.msg(0x355)).toEqual({ kind: 'soc', socPct: v.socPct, sohPct: 100 });
    expect(r.msg(0x361)).toMatchObject({ cellHighV: v.cellHighV, cellLowV: v.cellLowV, tempHighC: v.tempHighC, tempLowC: v.tempLowC });
    expect(r.msg(0x351)).toEqual({ kind: 'charge-limits', chargeVoltageLimitV: 57.6, chargeCurrentLimitA: 100, dischargeCurrentLimitA: 100, dischargeVoltageV: 48 });
    for (const mv of v.modules) {
      const n = mv.index - 1;
      const st = r.msg<'module-status'>(0x150 + n);
      expect(Math.abs(st.voltageV - mv.voltageV)).toBeLessThanOrEqual(0.05 + 1e-9);
      expect(st.currentA).toBeCloseTo(mv.currentA, 1);
      expect(st.socPct).toBeCloseTo(mv.socPct, 1);
      expect(r.msg(0x200 + n)).toMatchObject({ cellHighV: mv.cellHighV, cellLowV: mv.cellLowV });
      expect(r.msg(0x550 + n)).toMatchObject({ chargedKWh: mv.chargedKWh, dischargedKWh: mv.dischargedKWh });
      expect(r.msg(0x400 + n)).toMatchObject({ mode: 'discharge', subState: 0x09, cycles: mv.cycles });
    }
  });

  it('discharging 60 A for 30 min: SOC falls 15 %, wire current +600, discharged energy ~1.5 kWh (scenario "Discharge")', () => {
    const r = rig({ socPct: 80 });
    r.run(0);
    const e0 = [0, 1].map((n) => r.msg<'module-energy'>(0x550 + n).dischargedKWh);
    r.load(-60);
    r.run(30 * 60_000);
    expect(r.msg(0x355)).toMatchObject({ socPct: 50 });
    expect(r.msg<'measurements'>(0x356).wireCurrentA).toBeCloseTo(60, 1);
    const e1 = [0, 1].map((n) => r.msg<'module-energy'>(0x550 + n).dischargedKWh);
    const total = e1[0]! - e0[0]! + (e1[1]! - e0[1]!);
    // 30 Ah at ~52 V; the bms-can-simulation.md figure is for its 200 Ah stack at 51.2 V.
    expect(total).toBeGreaterThan(1.4);
    expect(total).toBeLessThan(1.7);
    expect(r.msg(0x400)).toMatchObject({ mode: 'discharge' });
  });
});

describe('BmsSim limits and request flags', () => {
  function at(socPct: number) {
    const r = rig({ socPct });
    r.run(0);
    return r;
  }

  it('charge limit tapers above 90 % SOC to ~10 % and is 0 when full; discharge limit falls near empty', () => {
    const charge = (soc: number) => at(soc).msg<'charge-limits'>(0x351).chargeCurrentLimitA;
    const discharge = (soc: number) => at(soc).msg<'charge-limits'>(0x351).dischargeCurrentLimitA;
    expect(charge(50)).toBe(100); // 2 modules × 50 A (1 C of 50 Ah each)
    expect(charge(89)).toBe(100);
    const c94 = charge(94);
    expect(c94).toBeGreaterThan(40);
    expect(c94).toBeLessThan(70);
    expect(charge(97)).toBeLessThan(c94);
    expect(charge(98.6)).toBe(10); // the seed screenshot: 11 A at 98.6 % on its 200 Ah stack
    expect(charge(99.6)).toBe(0); // reported 100 %
    expect(discharge(50)).toBe(100);
    expect(discharge(8)).toBeGreaterThan(0);
    expect(discharge(8)).toBeLessThan(100);
    expect(discharge(4)).toBe(0);
  });

  it('full: charge disabled (0x35C 0x40), 0x364 both refusing charge, 0x110 MOS 0x21; released below 96 %', () => {
    const r = at(99.6);
    expect(r.data(0x35c)).toEqual(Uint8Array.of(0x40, 0));
    expect(r.msg(0x364)).toEqual({ kind: 'module-counts', normal: 2, chargeBlocked: 2, dischargeBlocked: 0, lost: 0, total: 2 });
    expect(r.data(0x110)[7]).toBe(0x21);
    expect(r.msg(0x371)).toMatchObject({ chargeCurrentLimitA: 0, dischargeCurrentLimitA: 100 });
    r.pack.socPct = 97; // hysteresis: still full
    r.run(1000);
    expect(r.data(0x35c)[0]).toBe(0x40);
    r.pack.socPct = 95;
    r.run(1000);
    expect(r.data(0x35c)[0]).toBe(0xc0);
    expect(r.data(0x110)[7]).toBe(0x31);
  });

  it('empty: discharge disabled (0x80) and force charge below 20 % until above 23 % (0xF0 with both enables)', () => {
    const r = at(4);
    expect(r.data(0x35c)[0]).toBe(0xb0); // charge enable + force charge I + II
    expect(r.data(0x111)[7]).toBe(0x11);
    r.pack.socPct = 15;
    r.run(1000);
    expect(r.data(0x35c)[0]).toBe(0xf0);
    r.pack.socPct = 22;
    r.run(1000);
    expect(r.data(0x35c)[0]).toBe(0xf0);
    r.pack.socPct = 24;
    r.run(1000);
    expect(r.data(0x35c)[0]).toBe(0xc0);
  });

  it('requests a full charge when SOC has not reached 97 % within the interval', () => {
    const r = rig({ fullChargeIntervalMs: 5000 });
    r.run(5000);
    expect(r.msg(0x35c)).toMatchObject({ flags: ['charge-enable', 'discharge-enable'] });
    r.run(1000);
    expect(r.msg(0x35c)).toMatchObject({ flags: ['charge-enable', 'discharge-enable', 'full-charge'] });
    r.pack.socPct = 97.2;
    r.run(1000);
    expect(r.msg(0x35c)).toMatchObject({ flags: ['charge-enable', 'discharge-enable'] });
  });
});

describe('BmsSim injected faults (simulation doc §4)', () => {
  it('cell over-voltage: 0x359 byte0 bit0 + byte4 bit0, 0x110 too, charge blocked, fault level 2; clears after', () => {
    const r = rig();
    r.run(1000);
    expect([...r.data(0x359)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    r.sim.injectCellOverVoltage(true);
    r.run(1000);
    const b = r.data(0x359);
    expect(b[0]! & 0x01).toBe(0x01); // protection: cell over-voltage
    expect(b[4]! & 0x01).toBe(0x01); // alarm: cell high voltage
    expect(r.msg(0x359)).toMatchObject({ protections: ['cell-over-voltage'], alarms: ['cell-high-voltage', 'cell-voltage-difference'] });
    expect(r.data(0x110)[0]! & 0x01).toBe(0x01);
    expect(r.data(0x111)[0]).toBe(0); // only module 1 has the bad cell
    expect(r.msg(0x200)).toMatchObject({ cellHighV: 3.66 });
    expect(r.msg(0x400)).toMatchObject({ faultLevel: 'major' });
    expect(r.msg(0x351)).toMatchObject({ chargeCurrentLimitA: 50 }); // module 2 still takes charge
    expect(r.data(0x110)[7]).toBe(0x21); // module 1 charge MOS open
    expect(r.msg(0x364)).toMatchObject({ normal: 1, chargeBlocked: 1 });
    expect(r.msg(0x700)).toMatchObject({ overCharge: 1 });

    r.sim.injectCellOverVoltage(false);
    r.run(1000);
    // The protection releases once the cell is back below 3.45 V; the alarm lingers 3 s.
    expect(r.msg(0x359)).toMatchObject({ protections: [], alarms: ['cell-high-voltage', 'cell-voltage-difference'] });
    r.run(3000);
    expect([...r.data(0x359)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(r.msg(0x351)).toMatchObject({ chargeCurrentLimitA: 100 });
  });

  it('an injected 3.62 V cell is an alarm only (below the 3.65 V protection)', () => {
    const r = rig({ socPct: 96 });
    r.sim.injectCellOverVoltage(true, { module: 2, cellV: 3.62 });
    r.run(1000);
    expect(r.msg(0x359)).toMatchObject({ protections: [], alarms: ['cell-high-voltage'] });
    expect(r.data(0x111)[4]! & 0x01).toBe(0x01);
    expect(r.msg(0x401)).toMatchObject({ faultLevel: 'minor' });
  });

  it('over-temperature: Deye bits byte0 bit6, byte1 bit1, byte4 bit6, byte5 bit0; Pylontech byte0 bit3, byte2 bit3', () => {
    const r = rig();
    r.sim.injectOverTemp(true);
    r.run(1000);
    const b = r.data(0x359);
    expect([b[0], b[1], b[4], b[5]]).toEqual([0x40, 0x02, 0x40, 0x01]);
    expect(r.msg(0x361)).toMatchObject({ tempHighC: 65 });
    expect(r.msg(0x250)).toMatchObject({ chargeCurrentLimitA: 0, dischargeCurrentLimitA: 0 });
    expect(r.msg(0x351)).toMatchObject({ chargeCurrentLimitA: 50, dischargeCurrentLimitA: 50 });
    expect(r.msg(0x750)).toMatchObject({ chargeOverTemp: 1, dischargeOverTemp: 1 });

    r.sim.setDialect('pylontech');
    r.run(1000);
    expect([...r.data(0x359)]).toEqual([0x08, 0x00, 0x08, 0x00, 2, 0x50, 0x4e]);
    expect(r.msg(0x359)).toMatchObject({ protections: ['over-temp'], alarms: ['high-temp'] });
  });

  it('module 2 lost: its frames stop at once; after ~3 s 0x364 lost 1, internal comm fail, stack limits halve', () => {
    const r = rig();
    r.run(1000);
    r.sim.silenceModule(2, true);
    r.run(1000);
    const module2Ids = [0x111, 0x151, 0x201, 0x251, 0x401, 0x501, 0x551, 0x601, 0x651, 0x701, 0x751];
    expect(r.burst().filter((f) => module2Ids.includes(f.id))).toEqual([]);
    expect(r.burst().filter((f) => f.id === 0x150)).toHaveLength(1);
    expect(r.msg(0x364)).toMatchObject({ lost: 0 });
    r.run(2000);
    expect(r.msg(0x364)).toEqual({ kind: 'module-counts', normal: 1, chargeBlocked: 0, dischargeBlocked: 0, lost: 1, total: 2 });
    expect(r.data(0x359)[3]).toBe(0x20);
    expect(r.msg(0x351)).toMatchObject({ chargeCurrentLimitA: 50, dischargeCurrentLimitA: 50 });
    r.sim.silenceModule(2, false);
    r.run(1000);
    expect(r.msg(0x364)).toMatchObject({ lost: 0, normal: 2 });
    expect(r.burst().filter((f) => f.id === 0x151)).toHaveLength(1);
  });

  it('silenceAll stops every frame; the model keeps running', () => {
    const r = rig();
    r.run(1000);
    r.sim.silenceAll(true);
    const n = r.sent.length;
    r.run(5000);
    expect(r.sent.length).toBe(n);
    r.sim.silenceAll(false);
    r.run(1000);
    expect(r.sent.length).toBe(n + 32);
  });

  it('inverter heartbeat 0x305: heard, then missing for 10 s → PCS comm fail (byte3 bit6)', () => {
    const r = rig();
    r.run(0);
    r.sim.receive(encodeHeartbeat(r.clock.now()));
    expect(r.sim.stats.heartbeats).toBe(1);
    r.run(10_000);
    expect(r.data(0x359)[3]).toBe(0);
    r.run(1000);
    expect(r.data(0x359)[3]).toBe(0x40);
    r.sim.receive(encodeHeartbeat(null));
    r.run(1000);
    expect(r.data(0x359)[3]).toBe(0);
  });

  it('charge over-current: alarm at once, protection after 2 s, held 60 s, counted (scenario "Discharge over-current" mirrored)', () => {
    const r = rig({ socPct: 30 });
    r.load(120); // > 1.05 × 100 A stack rating
    r.run(1000);
    expect(r.msg(0x359)).toMatchObject({ protections: [], alarms: ['charge-high-current'] });
    r.run(2000);
    expect(r.msg(0x359)).toMatchObject({ protections: ['charge-over-current'] });
    expect(r.msg(0x351)).toMatchObject({ chargeCurrentLimitA: 0 });
    r.load(0);
    r.run(30_000);
    expect(r.msg(0x359)).toMatchObject({ protections: ['charge-over-current'] });
    r.run(31_000);
    expect(r.msg(0x359)).toMatchObject({ protections: [], alarms: [] });
    expect(r.msg(0x750)).toMatchObject({ chargeOverCurrent: 1 });
  });

  it('stop() leaves no timers behind', () => {
    const r = rig();
    r.run(1500);
    r.sim.stop();
    expect(r.clock.pendingTimers()).toBe(0);
  });
});

