/** Energy per device and day from the samples of a real SQLite store (src/store/energy.ts). */
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { tempDbPath } from '../helpers/rig.js';
import { dayOf, energyByDay } from '../../src/store/energy.js';
import { energySources } from '../../src/families/registry.js';

let store: Store | null = null;
afterEach(() => {
  store?.close();
  store = null;
});

const H = 3_600_000;
const DAY0 = Date.UTC(2026, 0, 10); // midnight UTC

describe('energy by day', () => {
  it('integrates each device kind’s power over its samples, per local day, battery both ways, gaps not counted', () => {
    store = Store.open({ path: tempDbPath('pp-energy-') });
    // A rectifier at 1 kW from 22:00 to 02:00 UTC, a sample every 10 s: 2 kWh each side of midnight.
    for (let t = DAY0 - 2 * H; t <= DAY0 + 2 * H; t += 10_000) store.appendSample({ ts: t, deviceId: 'fp2-1', values: { outputPowerW: 1000 } });
    // The battery: 50 V × 20 A in for 1 h, then 50 V × −10 A out for 1 h, then away for 2 h, then 1 h at 20 A again.
    for (let t = DAY0 + 8 * H; t <= DAY0 + 9 * H; t += 10_000) store.appendSample({ ts: t, deviceId: 'bms', values: { voltageV: 50, currentA: 20 } });
    for (let t = DAY0 + 9 * H + 10_000; t <= DAY0 + 10 * H; t += 10_000) store.appendSample({ ts: t, deviceId: 'bms', values: { voltageV: 50, currentA: -10 } });
    for (let t = DAY0 + 12 * H; t <= DAY0 + 13 * H; t += 10_000) store.appendSample({ ts: t, deviceId: 'bms', values: { voltageV: 50, currentA: 20 } });
    const devices = [{ id: 'fp2-1', kind: 'flatpack2' }, { id: 'bms', kind: 'bms' }, { id: 'x', kind: 'unknown-kind' }];
    const days = energyByDay(store, { from: DAY0 - 24 * H, to: DAY0 + 24 * H, tzOffsetMin: 0, devices, sources: energySources });
    const get = (id: string, day: string) => days.find((d) => d.deviceId === id && d.day === day);
    expect(get('fp2-1', '2026-01-09')!.wh).toBeCloseTo(2000, 6);
    expect(get('fp2-1', '2026-01-10')!.wh).toBeCloseTo(2000, 6);
    const b = get('bms', '2026-01-10')!;
    // 1 kWh + 1 kWh in (the 2 h gap counts nothing, the 10 s step from +20 A to −10 A nets +0.7 Wh);
    // 500 W out over the 3590 s of discharge samples = 498.6 Wh.
    expect(b.wh).toBeCloseTo(2000 + (250 * 10) / 3600, 6);
    expect(b.whReverse).toBeCloseTo((500 * 3590) / 3600, 6);
    // In UTC+3 the rectifier's four hours are all on the 10th local day.
    const east = energyByDay(store, { from: DAY0 - 24 * H, to: DAY0 + 24 * H, tzOffsetMin: 180, devices, sources: energySources });
    expect(east.filter((d) => d.deviceId === 'fp2-1').map((d) => [d.day, Math.round(d.wh)])).toEqual([['2026-01-10', 4000]]);
    expect(dayOf(DAY0 - 1, 0)).toBe('2026-01-09');
  });
});
