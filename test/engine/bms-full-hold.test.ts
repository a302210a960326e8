/**
 * Defect 8.9, found while running the README demo at --sim-speed 100 (1 of 5 tries): the BMS
 * ends a charge by lowering its charge-current limit to 0 A and clearing charge-enable. The two
 * travel in different frames (0x351, 0x35C), so the charger may see the 0 A limit first and
 * hold ("limit below what the PSUs can regulate"), then "full" — and a session held by its BMS
 * stayed paused forever on a full battery instead of ending DONE.
 */
import { describe, expect, it } from 'vitest';
import { flatpack2Limits } from '../../src/families/flatpack2/limits.js';
import { DEFAULT_CHARGER_SETTINGS, initialChargerState, step, type BmsLimits, type ChargerInput, type ChargerState, type PsuReading } from '../../src/engine/charger/machine.js';

const L = flatpack2Limits({ powerRatingW: 2000, ovpV: 60 });
const S = { ...DEFAULT_CHARGER_SETTINGS };
const T0 = 1_700_000_000_000;
const at = (s: number) => T0 + Math.round(s * 1000);
const rd = (voltageV: number, currentA: number): PsuReading => ({ id: 'p1', online: true, voltageV, currentA, alarm: false, overTemp: false });
const ok: BmsLimits = { chargeVoltageLimitV: 57.6, chargeCurrentLimitA: 50, chargeAllowed: true, blockReason: null, full: false };

function run(inputs: ChargerInput[]): ChargerState {
  let s = initialChargerState(S, L);
  for (const i of inputs) s = step(s, i, S, L).state;
  return s;
}

describe('a BMS that ends the charge in two frames', () => {
  const toCv: ChargerInput[] = [
    { type: 'start', now: at(0), psuIds: ['p1'] },
    { type: 'bms', now: at(0.5), bms: ok },
    { type: 'status', now: at(4.8), psus: [rd(52.0, 0)] },
    { type: 'tick', now: at(5) },
    { type: 'status', now: at(9.8), psus: [rd(52.1, 19.5)] },
    { type: 'tick', now: at(10) },
    { type: 'status', now: at(11), psus: [rd(57.5, 20)] },
  ];

  it('defect 8.9: the 0 A limit first (held), then "full": the charge ends DONE, not paused forever', () => {
    const before = run(toCv);
    expect(before.phase).toBe('CV');
    const held = run([...toCv, { type: 'bms', now: at(12), bms: { ...ok, chargeCurrentLimitA: 0 } }]);
    expect(held.phase).toBe('paused');
    expect(held.bmsHold).toMatch(/below what the PSUs can regulate/);
    const end = run([
      ...toCv,
      { type: 'bms', now: at(12), bms: { ...ok, chargeCurrentLimitA: 0 } },
      { type: 'bms', now: at(12.1), bms: { ...ok, chargeCurrentLimitA: 0, chargeAllowed: false, blockReason: 'charge-enable request cleared (0x35C)', full: true } },
    ]);
    expect(end.phase).toBe('done');
  });

  it('defect 8.9: a hold for another reason (a protection) still waits; only "full" ends it', () => {
    const s = run([
      ...toCv,
      { type: 'bms', now: at(12), bms: { ...ok, chargeAllowed: false, blockReason: 'protection cell-over-temp-charge', full: false } },
      { type: 'bms', now: at(13), bms: { ...ok, chargeAllowed: false, blockReason: 'protection cell-over-temp-charge', full: false } },
    ]);
    expect(s.phase).toBe('paused');
  });
});
