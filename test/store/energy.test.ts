/** Energy per device and day from the rollups and the samples of a real SQLite store (src/store/energy.ts). */
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { tempDbPath } from '../helpers/rig.js';
import { dayOf, energyByDay, energyFromSamples } from '../../src/store/energy.js';
import { energySources } from '../../src/families/registry.js';

let store: Store | null = null;
afterEach(() => {
  store?.close();
  store = null;
});

const H = 3_600_000;
const DAY0 = Date.UTC(2026, 0, 10); // midnight UTC

describe('energy by day', () => {
  it('from the samples: integrates each device kind’s power over its samples, per local day, battery both ways, gaps not counted', () => {
    store = Store.open({ path: tempDbPath('pp-energy-') });
    // A rectifier at 1 kW from 22:00 to 02:00 UTC, a sample every 10 s: 2 kWh each side of midnight.
    for (let t = DAY0 - 2 * H; t <= DAY0 + 2 * H; t += 10_000) store.appendSample({ ts: t, deviceId: 'fp2-1', values: { outputPowerW: 1000 } });
    // The battery: 50 V × 20 A in for 1 h, then 50 V × −10 A out for 1 h, then away for 2 h, then 1 h at 20 A again.
    for (let t = DAY0 + 8 * H; t <= DAY0 + 9 * H; t += 10_000) store.appendSample({ ts: t, deviceId: 'bms', values: { voltageV: 50, currentA: 20 } });
    for (let t = DAY0 + 9 * H + 10_000; t <= DAY0 + 10 * H; t += 10_000) store.appendSample({ ts: t, deviceId: 'bms', values: { voltageV: 50, currentA: -10 } });
    for (let t = DAY0 + 12 * H; t <= DAY0 + 13 * H; t += 10_000) store.appendSample({ ts: t, deviceId: 'bms', values: { voltageV: 50, currentA: 20 } });
    const devices = [{ id: 'fp2-1', kind: 'flatpack2' }, { id: 'bms', kind: 'bms' }, { id: 'x', kind: 'unknown-kind' }];
    const days = energyFromSamples(store, { from: DAY0 - 24 * H, to: DAY0 + 24 * H, tzOffsetMin: 0, devices, sources: energySources });
    const get = (id: string, day: string) => days.find((d) => d.deviceId === id && d.day === day);
    expect(get('fp2-1', '2026-01-09')!.wh).toBeCloseTo(2000, 6);
    expect(get('fp2-1', '2026-01-10')!.wh).toBeCloseTo(2000, 6);
    const b = get('bms', '2026-01-10')!;
    // 1 kWh + 1 kWh in (the 2 h gap counts nothing, the 10 s step from +20 A to −10 A nets +0.7 Wh);
    // 500 W out over the 3590 s of discharge samples = 498.6 Wh.
    expect(b.wh).toBeCloseTo(2000 + (250 * 10) / 3600, 6);
    expect(b.whReverse).toBeCloseTo((500 * 3590) / 3600, 6);
    // In UTC+3 the rectifier's four hours are all on the 10th local day.
    const east = energyFromSamples(store, { from: DAY0 - 24 * H, to: DAY0 + 24 * H, tzOffsetMin: 180, devices, sources: energySources });
    expect(east.filter((d) => d.deviceId === 'fp2-1').map((d) => [d.day, Math.round(d.wh)])).toEqual([['2026-01-10', 4000]]);
    expect(dayOf(DAY0 - 1, 0)).toBe('2026-01-09');
  });

  it('from the rollups: today by the minute, the days before by the hour, average power × the time the device reported, split at local midnight, the running minute up to now', () => {
    store = Store.open({ path: tempDbPath('pp-energy-') });
    // A rectifier at 1 kW from 22:00:00 to 01:59:50 UTC (a sample every 10 s): 2 kWh each side of midnight.
    for (let t = DAY0 - 2 * H; t < DAY0 + 2 * H; t += 10_000) store.appendSample({ ts: t, deviceId: 'fp2-1', values: { outputPowerW: 1000 } });
    // The battery: 50 V × 20 A in for 1 h, then 50 V × −10 A out for 1 h.
    for (let t = DAY0 + 8 * H; t < DAY0 + 9 * H; t += 10_000) store.appendSample({ ts: t, deviceId: 'bms', values: { voltageV: 50, currentA: 20 } });
    for (let t = DAY0 + 9 * H; t < DAY0 + 10 * H; t += 10_000) store.appendSample({ ts: t, deviceId: 'bms', values: { voltageV: 50, currentA: -10 } });
    // PV at 1.8 kW and an EV at 7.2 kW whose power comes with every other sample (the board's other replies have none).
    for (let t = DAY0 + 10 * H; t < DAY0 + 11 * H; t += 5_000) {
      store.appendSample({ ts: t, deviceId: 'inv', values: { pvPowerW: 1800, acOutputPowerW: 300 } });
      store.appendSample({ ts: t, deviceId: 'ev', values: t % 10_000 === 0 ? { powerW: 7200, currentA: 30 } : { sessionWh: 1 } });
    }
    const devices = [{ id: 'fp2-1', kind: 'flatpack2' }, { id: 'bms', kind: 'bms' }, { id: 'inv', kind: 'pi18' }, { id: 'ev', kind: 'openevse' }, { id: 'x', kind: 'unknown-kind' }];
    // Now is noon on the 10th: the 10th by the minute, the 9th by the hour.
    const opts = { from: DAY0 - 24 * H, to: DAY0 + 12 * H, tzOffsetMin: 0, devices, sources: energySources };
    const days = energyByDay(store, opts);
    const get = (id: string, day: string) => days.find((d) => d.deviceId === id && d.day === day);
    expect(get('fp2-1', '2026-01-09')!.wh).toBeCloseTo(2000, 6);
    expect(get('fp2-1', '2026-01-10')!.wh).toBeCloseTo(2000, 6);
    expect(get('bms', '2026-01-10')).toMatchObject({ kind: 'bms' });
    expect(get('bms', '2026-01-10')!.wh).toBeCloseTo(1000, 6);
    expect(get('bms', '2026-01-10')!.whReverse).toBeCloseTo(500, 6);
    expect(get('inv', '2026-01-10')!.wh).toBeCloseTo(1800, 6);
    expect(get('ev', '2026-01-10')!.wh).toBeCloseTo(7200, 6);
    expect(days.some((d) => d.deviceId === 'x')).toBe(false);
    // The same hours from the raw samples agree (within the trapezoids' last step of each run).
    const raw = energyFromSamples(store, opts);
    for (const r of days) {
      const s = raw.find((x) => x.deviceId === r.deviceId && x.day === r.day)!;
      expect(Math.abs(s.wh - r.wh)).toBeLessThan(r.wh * 0.001 + 21);
    }
    // UTC+5:30: midnight falls at 18:30 UTC, the rectifier's four hours are all on the 10th.
    const east = energyByDay(store, { ...opts, tzOffsetMin: 330 });
    expect(east.filter((d) => d.deviceId === 'fp2-1').map((d) => [d.day, Math.round(d.wh)])).toEqual([['2026-01-10', 4000]]);
    // Now is 22:30:30 UTC: the running minute counts its first 30 s.
    const now = DAY0 - 2 * H + 30 * 60_000 + 30_000;
    const partial = energyByDay(store, { ...opts, to: now });
    expect(partial.find((d) => d.deviceId === 'fp2-1')!.wh).toBeCloseTo(1000 * (30.5 / 60), 6);
  });

  it('from the hourly rollups for days before today: an hour counts the share of it the device reported in', () => {
    store = Store.open({ path: tempDbPath('pp-energy-') });
    // A rectifier at 1 kW from 06:00 to 12:00 and again from 14:00 to 14:15 (a sample every 10 s), five days ago.
    for (let t = DAY0 + 6 * H; t < DAY0 + 12 * H; t += 10_000) store.appendSample({ ts: t, deviceId: 'fp2-1', values: { outputPowerW: 1000 } });
    for (let t = DAY0 + 14 * H; t < DAY0 + 14.25 * H; t += 10_000) store.appendSample({ ts: t, deviceId: 'fp2-1', values: { outputPowerW: 1000 } });
    const devices = [{ id: 'fp2-1', kind: 'flatpack2' }];
    const days = energyByDay(store, { from: DAY0, to: DAY0 + 5 * 24 * H, tzOffsetMin: 0, devices, sources: energySources });
    expect(days.map((d) => d.day)).toEqual(['2026-01-10']);
    expect(days[0].wh).toBeCloseTo(6000 + 250, 6);
  });
});
