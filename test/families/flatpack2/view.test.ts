/**
 * The PSU view after a status frame is built field by field (issue 15 ingest: the spreads cost a
 * tenth of the engine's time). It must be what the spreads gave, a new immutable snapshot each
 * time, the previous one untouched (subscribers and GraphQL may hold it).
 */
import { describe, expect, it } from 'vitest';
import { emptyPsu, projectPsu, psuDeviceId, psuSampleValues, type Flatpack2PsuView } from '../../../src/families/flatpack2/view.js';
import type { Fp2Status } from '../../../src/families/flatpack2/codec.js';

const status = (over: Partial<Fp2Status> = {}): Fp2Status => ({
  kind: 'status',
  addr: 3,
  stateCode: 0x04,
  state: 'normal',
  intakeTempC: 25,
  currentA: 12.3,
  voltageV: 53.5,
  inputVoltageV: 230,
  outputTempC: 35,
  ...over,
});

/** The projection as it was written with spreads. */
function spreadReference(d: Flatpack2PsuView, at: number, addr: number, s: Fp2Status): Flatpack2PsuView {
  const v = psuSampleValues(s);
  return { ...d, ...v, addr, lastSeen: at, stateCode: s.stateCode, alarm: s.stateCode === 0x0c, lastReading: { at, ...v } };
}

describe('Flatpack2 view projection of a status frame', () => {
  const base: Flatpack2PsuView = {
    ...emptyPsu('can0', '192750001639', 'left'),
    online: true,
    warnings: ['Current limit'],
    warningBits: 0x80,
    ownedBy: 'charger-1',
    obeying: true,
    fallbackAckV: 52,
  };

  const cases: Array<[string, Flatpack2PsuView]> = [
    ['without an identity', base],
    ['with an identity', { ...base, identity: { model: 'FLATPACK2 48/2000 HE', serial: '192750001639', buildYear: 2019, raw: { '00': '464c' } } }],
  ];
  for (const [name, d] of cases) {
    it(`equals the spread projection key for key and in key order, ${name}`, () => {
      for (const s of [status(), status({ stateCode: 0x0c, state: 'alarm', currentA: 0 }), status({ stateCode: 0x08, state: 'warning', voltageV: 57.6 })]) {
        const frozen = structuredClone(d);
        const next = projectPsu(d, { type: 'fact', at: 1_800_000_000_123, deviceId: d.id, fact: { kind: 'status', addr: s.addr, status: s } });
        const want = spreadReference(d, 1_800_000_000_123, s.addr, s);
        expect(next).toStrictEqual(want);
        expect(Object.keys(next)).toEqual(Object.keys(want));
        expect(Object.keys(next.lastReading!)).toEqual(Object.keys(want.lastReading!));
        // A new snapshot; the one before is as it was.
        expect(next).not.toBe(d);
        expect(d).toStrictEqual(frozen);
      }
    });
  }

  it('a device id is fp2-<serial>, the same string each time', () => {
    expect(psuDeviceId('163850019608')).toBe('fp2-163850019608');
    expect(psuDeviceId('163850019608')).toBe(psuDeviceId('1638500' + '19608'));
  });
});
