/** The power flow's plain-language arithmetic (web-client/src/flow/words.ts), in node. */
import { describe, expect, it } from 'vitest';
import { age, duration, orderDevices, timeToFullOrEmptyMs, watts } from '../../web-client/src/flow/words.js';

describe('power flow words', () => {
  it('time to full at the present rate is the charge left over the current', () => {
    // 280 Ah pack at 40 % taking 56 A: 168 Ah left → 3 h.
    expect(timeToFullOrEmptyMs(40, 280, 56)).toBe(3 * 3_600_000);
    // discharging at 28 A from 50 %: 140 Ah → 5 h to empty.
    expect(timeToFullOrEmptyMs(50, 280, -28)).toBe(5 * 3_600_000);
    expect(timeToFullOrEmptyMs(50, 280, 0.1)).toBeNull();
    expect(timeToFullOrEmptyMs(null, 280, 10)).toBeNull();
    expect(timeToFullOrEmptyMs(50, null, 10)).toBeNull();
  });

  it('words for power, durations and ages', () => {
    expect(watts(850)).toBe('850 W');
    expect(watts(1600)).toBe('1.6 kW');
    expect(watts(-3058)).toBe('-3.1 kW');
    expect(duration(130 * 60_000)).toBe('2 h 10 min');
    expect(duration(12 * 60_000)).toBe('12 min');
    expect(age(2000)).toBe('just now');
    expect(age(3 * 60_000)).toBe('3 min ago');
  });

  it('a stable device order: configured ids first, then by rank and natural name, whatever the input order', () => {
    const a = { id: 'fp2-2', name: 'Rectifier B' };
    const b = { id: 'fp2-1', name: 'Rectifier A' };
    const c = { id: 'bms', name: 'House bank' };
    const rank = (x: { id: string }) => (x.id === 'bms' ? 1 : 0);
    expect(orderDevices([a, b, c], [], rank).map((x) => x.id)).toEqual(['fp2-1', 'fp2-2', 'bms']);
    expect(orderDevices([c, b, a], [], rank).map((x) => x.id)).toEqual(['fp2-1', 'fp2-2', 'bms']);
    expect(orderDevices([a, b, c], ['bms', 'fp2-2'], rank).map((x) => x.id)).toEqual(['bms', 'fp2-2', 'fp2-1']);
    expect(orderDevices([{ id: 'x', name: 'Rectifier 10' }, { id: 'y', name: 'Rectifier 9' }], []).map((x) => x.id)).toEqual(['y', 'x']);
  });
});

describe('charger sentence', () => {
  it('a charge stopped by hand ends in DONE but does not say the battery is full; a completed one does', async () => {
    const { chargerSentence } = await import('../../web-client/src/devices/charger.js');
    const base = { id: 'c', name: 'House bank charger', psus: [], batteryId: 'bms', deliveredAh: 3.2, settings: { capacityAh: 100, tailCurrentA: 2 }, targetVoltageV: 57.6 };
    const ctx = { devices: new Map(), name: (id: string) => (id === 'bms' ? 'House bank' : id) };
    const c = (phase: string, stopReason: string | null) => chargerSentence({ ...base, phase, stopReason } as never, ctx);
    expect(c('done', 'User stop (API)')).toBe('House bank charger stopped: User stop (API) (3.2 Ah this session).');
    expect(c('done', 'Charge complete (tail current 2.0A)')).toBe('House bank charger finished: House bank is full (3.2 Ah this session).');
    expect(c('error', 'PSU alarm')).toMatch(/stopped on an error: PSU alarm\. Check it, then start the charge again\./);
  });
});
