/** The energy card's totals (web-client/src/flow/energy.ts), in node. */
import { describe, expect, it } from 'vitest';
import { energyPerDay, energyText, energyTotals, periodStarts } from '../../web-client/src/flow/energy.js';

const row = (day: string, deviceId: string, kind: string, what: string, wh: number, whReverse = 0) => ({ day, deviceId, kind, what, wh, whReverse, reverseWhat: kind === 'bms' ? 'taken from the battery' : null });

describe('energy totals', () => {
  it('today, the 7 days ending today and this calendar month, summed over devices per flow', () => {
    expect(periodStarts('2026-03-03')).toEqual({ week: '2026-02-25', month: '2026-03-01' });
    const rows = [
      row('2026-03-03', 'a', 'flatpack2', 'delivered by the rectifiers', 1000),
      row('2026-03-03', 'b', 'flatpack2', 'delivered by the rectifiers', 500),
      row('2026-02-27', 'a', 'flatpack2', 'delivered by the rectifiers', 2000),
      row('2026-02-10', 'a', 'flatpack2', 'delivered by the rectifiers', 9000),
      row('2026-03-02', 'bms', 'bms', 'charged into the battery', 1200, 300),
    ];
    const t = energyTotals(rows, '2026-03-03');
    expect(t.find((x) => x.what === 'delivered by the rectifiers')).toEqual({
      what: 'delivered by the rectifiers',
      today: 1500,
      week: 3500,
      month: 1500,
      devices: [
        { deviceId: 'a', today: 1000, week: 3000, month: 1000 },
        { deviceId: 'b', today: 500, week: 500, month: 500 },
      ],
    });
    expect(t.find((x) => x.what === 'charged into the battery')).toMatchObject({ today: 0, week: 1200, month: 1200 });
    expect(t.find((x) => x.what === 'taken from the battery')).toMatchObject({ week: 300 });
    const bars = energyPerDay(rows, '2026-03-03', 3);
    expect(bars.map((b) => b.day)).toEqual(['2026-03-01', '2026-03-02', '2026-03-03']);
    expect(bars[2].byWhat['delivered by the rectifiers']).toBe(1500);
    expect(energyText(850)).toBe('850 Wh');
    expect(energyText(12_400)).toBe('12.4 kWh');
  });
});
