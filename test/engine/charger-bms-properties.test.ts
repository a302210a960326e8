/**
 * BMS-guided charging, property-based: whatever the BMS reports and whenever it changes, no
 * command exceeds a BMS limit that was known when the command was issued; a charge-disable
 * request or a lost BMS leaves only standby on the wire.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkPsuSetpoint } from '../../src/engine/gate.js';
import { flatpack2Limits } from '../../src/families/flatpack2/limits.js';
import { LiFePO4Pack } from '../../src/sim/lifepo4-pack.js';
import { DEFAULT_CHARGER_SETTINGS, initialChargerState, step, type BmsLimits, type ChargerInput, type ChargerState } from '../../src/engine/charger/machine.js';

const L = flatpack2Limits({ powerRatingW: 2000, ovpV: 59.5 });
const T0 = 1_795_000_000_000;

const bmsArb: fc.Arbitrary<BmsLimits | null> = fc.option(
  fc.record({
    chargeVoltageLimitV: fc.option(fc.double({ min: 52, max: 58, noNaN: true }), { nil: null, freq: 5 }),
    chargeCurrentLimitA: fc.option(fc.double({ min: 1, max: 100, noNaN: true }), { nil: null, freq: 5 }),
    chargeAllowed: fc.constantFrom(true, true, true, false),
    blockReason: fc.constant('charge disable request'),
  }),
  { nil: null, freq: 12 },
);

describe('charger under BMS limits (property)', () => {
  it('never exceeds a known BMS limit; holds and losses leave only standby', () => {
    fc.assert(
      fc.property(
        fc.record({
          socPct: fc.double({ min: 5, max: 95, noNaN: true }),
          capacityAh: fc.integer({ min: 50, max: 400 }),
          units: fc.integer({ min: 1, max: 3 }),
          chargeCurrentA: fc.integer({ min: 5, max: 80 }),
          bmsChanges: fc.array(fc.tuple(fc.integer({ min: 1, max: 900 }), bmsArb), { minLength: 1, maxLength: 12 }),
        }),
        (sc) => {
          const settings = { ...DEFAULT_CHARGER_SETTINGS, capacityAh: sc.capacityAh, chargeCurrentA: Math.min(sc.chargeCurrentA, sc.units * 41) };
          const pack = new LiFePO4Pack({ cells: 16, capacityAh: sc.capacityAh, socPct: sc.socPct, internalResistanceOhm: 0.02 });
          const ids = Array.from({ length: sc.units }, (_, i) => `psu${i}`);
          let state: ChargerState = initialChargerState(settings, L);
          let setV = 48;
          let setA = 0.2;
          let known: BmsLimits | null = null;
          let knownEver = false;
          let now = T0;
          const run = (i: ChargerInput) => {
            const r = step(state, i, settings, L);
            state = r.state;
            for (const c of r.commands) {
              if (c.kind === 'standby') {
                setV = 48;
                setA = 0.1;
                continue;
              }
              expect(checkPsuSetpoint(L, c)).toMatchObject({ ok: true, value: { voltageV: c.voltageV, currentA: c.currentA } });
              if (knownEver && known === null) throw new Error(`SET ${c.voltageV} V after the BMS was lost`);
              if (known && !known.chargeAllowed) throw new Error(`SET ${c.voltageV} V / ${c.currentA} A while the BMS disallows charging`);
              if (known?.chargeVoltageLimitV != null) expect(c.voltageV).toBeLessThanOrEqual(known.chargeVoltageLimitV + 1e-9);
              if (known?.chargeCurrentLimitA != null) expect(c.currentA * state.onlinePsuIds.length).toBeLessThanOrEqual(Math.max(known.chargeCurrentLimitA, 0.2 * sc.units) + 1e-6);
              setV = c.voltageV;
              setA = c.currentA;
            }
          };
          run({ type: 'start', now, psuIds: ids });
          let changeIdx = 0;
          let nextChange = now + sc.bmsChanges[0][0] * 1000;
          for (let t = 0; t < 3 * 3600 && state.phase !== 'done' && state.phase !== 'error'; t++) {
            now += 1000;
            if (now >= nextChange && changeIdx < sc.bmsChanges.length) {
              known = sc.bmsChanges[changeIdx][1];
              knownEver = true;
              run({ type: 'bms', now, bms: known });
              changeIdx++;
              nextChange = changeIdx < sc.bmsChanges.length ? now + sc.bmsChanges[changeIdx][0] * 1000 : Infinity;
            }
            // Ideal paralleled CC/CV units into the pack.
            const e = pack.ocvV();
            const totalA = Math.max(0, Math.min(setA * sc.units, (setV - e) / pack.internalResistanceOhm));
            pack.step(totalA, 1);
            const v = totalA > 0 ? e + totalA * pack.internalResistanceOhm : Math.max(e, Math.min(setV, e));
            run({ type: 'status', now, psus: ids.map((id) => ({ id, online: true, voltageV: v, currentA: totalA / sc.units, alarm: false, overTemp: false })) });
            run({ type: 'tick', now });
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
