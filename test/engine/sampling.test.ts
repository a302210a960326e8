/**
 * Telemetry sampling per device (issue 15 item 2): the history keeps a sample per second by
 * default plus every change beyond a deadband, configurable per link, device and reading; live
 * subscribers still get every reading and every raw frame is still recorded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Sampler, type SamplingLevels } from '../../src/engine/sampler.js';
import { makeSimRig, tempDbPath, type TestRig } from '../helpers/rig.js';
import { simulatedConfig } from '../../src/rig.js';
import { parseConfig } from '../../src/config/load.js';

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

describe('Sampler', () => {
  it('keeps one sample per interval, plus a numeric change beyond its deadband, a text change, a reading appearing or gone', () => {
    const s = new Sampler(() => [{ deadband: { v: 0.05 } }, { rateHz: 1 }]);
    const keep = (ts: number, values: Record<string, number | string | null>) => s.admit('d', ts, values);
    expect(keep(0, { v: 53.5, a: 10, state: 'normal' })).toBe(true);
    // 5 Hz readings inside the second: small moves are dropped (a has no deadband: only the rate).
    expect(keep(200, { v: 53.52, a: 30, state: 'normal' })).toBe(false);
    expect(keep(400, { v: 53.54, a: 31, state: 'normal' })).toBe(false);
    // Beyond the deadband against the last sample KEPT (53.5), not the last seen.
    expect(keep(600, { v: 53.56, a: 31, state: 'normal' })).toBe(true);
    expect(keep(800, { v: 53.6, a: 31, state: 'normal' })).toBe(false);
    // Periodic samples stay on their 1 s grid (a change in between does not move it).
    expect(keep(1000, { v: 53.6, a: 31, state: 'normal' })).toBe(true);
    expect(keep(1100, { v: 53.6, a: 31, state: 'walk-in' })).toBe(true);
    expect(keep(1200, { v: 53.6, a: 31, state: 'walk-in', fault: null })).toBe(true);
    expect(keep(1300, { v: 53.6, a: 31, state: 'walk-in' })).toBe(true);
    expect(keep(1400, { v: 53.6, a: 31, state: 'walk-in' })).toBe(false);
    expect(keep(1999, { v: 53.6, a: 31, state: 'walk-in' })).toBe(false);
    expect(keep(2150, { v: 53.6, a: 31, state: 'walk-in' })).toBe(true);
    expect(keep(2999, { v: 53.6, a: 31, state: 'walk-in' })).toBe(false);
    expect(keep(3000, { v: 53.6, a: 31, state: 'walk-in' })).toBe(true);
    // After a silence the grid starts again from the next reading.
    expect(keep(9500, { v: 53.6, a: 31, state: 'walk-in' })).toBe(true);
    expect(keep(10_000, { v: 53.6, a: 31, state: 'walk-in' })).toBe(false);
    expect(keep(10_500, { v: 53.6, a: 31, state: 'walk-in' })).toBe(true);
    // A clock stepped back is kept (and starts over from there).
    expect(keep(500, { v: 53.6, a: 31, state: 'walk-in' })).toBe(true);
  });

  it('resolves rate and deadband per device, link and global, most specific first; rate 0 keeps only changes', () => {
    const levels: Record<string, SamplingLevels> = {
      fast: [{ rateHz: 10 }, { rateHz: 1, deadband: 1 }],
      quiet: [undefined, { rateHz: 0, deadband: { v: 0.5 } }, { deadband: 0.01 }],
    };
    const s = new Sampler((id) => levels[id] ?? []);
    const kept = (id: string, series: Array<[number, number]>) => series.filter(([ts, v]) => s.admit(id, ts, { v, w: v })).map(([ts]) => ts);
    // 10 Hz; the link's deadband of 1 for every reading still applies.
    expect(kept('fast', [[0, 1], [50, 1], [100, 1], [150, 3], [160, 3], [210, 3]])).toEqual([0, 100, 150, 210]);
    // Only changes: v by its own 0.5, w by the global 0.01 (the link gives v only).
    expect(kept('quiet', [[0, 1], [10_000, 1], [20_000, 1.2], [30_000, 1.2], [40_000, 1.2]])).toEqual([0, 20_000]);
    // An unconfigured device: 1 Hz, no numeric deadband.
    expect(kept('other', [[0, 1], [500, 99], [999, 5], [1000, 5]])).toEqual([0, 1000]);
  });
});

describe('sampling in the engine', () => {
  it('stores status readings at 1 Hz by default while live subscribers and the frame log get every one', async () => {
    const dbPath = tempDbPath('pp-sampling-');
    t = makeSimRig({ dbPath, config: simulatedConfig({ port: 0, dbPath, bms: false }) });
    await t.clock.advance(5000);
    const live: Array<{ deviceId: string; ts: number }> = [];
    const off = t.rig.engine.samples.subscribe((e) => live.push({ deviceId: e.deviceId, ts: e.ts }));
    const from = t.clock.now();
    await t.clock.advance(20_000);
    off();
    const psus = [...new Set(live.map((l) => l.deviceId))].filter((id) => t!.rig.engine.device(id)?.kind === 'flatpack2');
    expect(psus.length).toBe(2);
    for (const id of psus) {
      const liveN = live.filter((l) => l.deviceId === id).length;
      const stored = t.store.telemetry(id, from, t.clock.now(), 100_000);
      // The PSUs report several times a second; the history keeps about one a second.
      expect(liveN).toBeGreaterThan(stored.length * 2);
      expect(stored.length).toBeGreaterThanOrEqual(18);
      expect(stored.length).toBeLessThanOrEqual(21);
      // At most one per second of the grid (nothing else changes beyond a deadband: none is set).
      expect(new Set(stored.map((p) => Math.floor((p.ts - stored[0]!.ts) / 1000))).size).toBe(stored.length);
      // Every status frame is still in the frame log.
      const frames = t.store.listFrames({ deviceId: id, kind: 'status', from, to: t.clock.now() }, 10_000).items.length;
      expect(frames).toBeGreaterThanOrEqual(liveN);
    }
  });

  it('a per-device rule from the config: rate 0 with a deadband stores only the changes beyond it', async () => {
    const dbPath = tempDbPath('pp-sampling-cfg-');
    const base = simulatedConfig({ port: 0, dbPath, bms: false });
    const psuSerial = Object.keys((base.links[0] as { flatpack2: { psus: Record<string, unknown> } }).flatpack2.psus)[0]!;
    const raw = JSON.parse(JSON.stringify(base)) as { links: Array<Record<string, unknown>> };
    raw.links[0]!.sampling = { rateHz: 2, devices: { [`fp2-${psuSerial}`]: { rateHz: 0, deadband: { outputVoltageV: 0.5 } } } };
    const config = parseConfig(raw);
    t = makeSimRig({ dbPath, config });
    await t.clock.advance(5000);
    const ids = t.rig.engine.listDevices().filter((d) => d.kind === 'flatpack2').map((d) => d.id);
    const quiet = `fp2-${psuSerial}`;
    expect(ids).toContain(quiet);
    const other = ids.find((id) => id !== quiet)!;
    const from = t.clock.now();
    await t.clock.advance(10_000);
    // The other PSU follows the link's 2 Hz; the quiet one has nothing beyond 0.5 V to store.
    const otherN = t.store.telemetry(other, from, t.clock.now(), 100_000).length;
    expect(otherN).toBeGreaterThanOrEqual(18);
    expect(otherN).toBeLessThanOrEqual(21);
    expect(t.store.telemetry(quiet, from, t.clock.now(), 100_000)).toHaveLength(0);
    // A setpoint lifts its output by more than a volt: that change is stored.
    const r = await t.rig.engine.setPsuOutput('api', quiet, { voltageV: 55, currentA: 30 });
    expect(r, r.ok ? '' : r.message).toMatchObject({ ok: true });
    await t.clock.advance(10_000);
    const after = t.store.telemetry(quiet, from, t.clock.now(), 100_000);
    // Only changes are stored: each sample differs from the one before by more than 0.5 V or in
    // a text reading (walk-in, warning); 50 status readings came in those 10 s.
    expect(after.length).toBeGreaterThan(0);
    expect(after.length).toBeLessThan(6);
    const last = t.store.latestSamplePerDevice().find((x) => x.deviceId === quiet)!;
    expect(last.values.outputVoltageV).toBeGreaterThan(53);
    for (let i = 1; i < after.length; i++) {
      const [a, b] = [after[i - 1]!.values, after[i]!.values];
      expect(a.state !== b.state || Math.abs(Number(a.outputVoltageV) - Number(b.outputVoltageV)) > 0.5).toBe(true);
    }
  });

  it('the config refuses a negative deadband or rate with the key named', () => {
    const raw = JSON.parse(JSON.stringify(simulatedConfig({ port: 0, bms: false }))) as { links: Array<Record<string, unknown>>; database: Record<string, unknown> };
    raw.links[0]!.sampling = { deadband: { outputVoltageV: -1 } };
    expect(() => parseConfig(raw)).toThrow(/links\.0\.sampling\.deadband/);
    raw.links[0]!.sampling = undefined;
    raw.database.sampling = { rateHz: -2 };
    expect(() => parseConfig(raw)).toThrow(/database\.sampling\.rateHz/);
  });
});
