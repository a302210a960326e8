import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkChargeStart, checkDeviceAvailable, checkPsuSetpoint } from '../../src/engine/gate.js';
import { flatpack2Limits, FLATPACK2_STANDBY } from '../../src/families/flatpack2/limits.js';

const limits = flatpack2Limits({ powerRatingW: 2000, ovpV: 59.5 });

describe('command gate: Flatpack2 setpoints', () => {
  it('derives the 2000 W limits of flatpack2.md §2.9', () => {
    expect(limits).toMatchObject({ minVoltageV: 43.5, maxVoltageV: 57.6, minCurrentA: 0.1, maxCurrentA: 41.7, powerRatingW: 2000 });
    expect(flatpack2Limits({ powerRatingW: 3000, ovpV: 60 }).maxCurrentA).toBe(62.5);
    expect(flatpack2Limits({ powerRatingW: 1800, ovpV: 60 }).maxCurrentA).toBe(37.5);
  });

  it('accepts in-range values and rounds to the wire resolution', () => {
    const r = checkPsuSetpoint(limits, { voltageV: 54.004, currentA: 20.04 });
    expect(r).toEqual({ ok: true, value: { voltageV: 54, currentA: 20, ovpV: 59.5, clamped: false }, notes: [] });
  });

  it('clamps the current to the power rating instead of refusing (57.0 V / 41 A → 35.0 A)', () => {
    const r = checkPsuSetpoint(limits, { voltageV: 57.0, currentA: 41 });
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.value.currentA).toBe(35.0);
      expect(r.value.clamped).toBe(true);
      expect(r.notes[0]).toMatch(/limited from 41\.0 A to 35\.0 A/);
    }
  });

  it.each([
    [{ voltageV: 60, currentA: 10 }, /outside 43\.5–57\.6 V/],
    [{ voltageV: 43.49, currentA: 10 }, /outside 43\.5–57\.6 V/],
    [{ voltageV: 50, currentA: 0 }, /outside 0\.1–41\.7 A/],
    [{ voltageV: 50, currentA: 41.8 }, /outside 0\.1–41\.7 A/],
    [{ voltageV: NaN, currentA: 10 }, /voltageV must be a number/],
    [{ voltageV: 50, currentA: Infinity }, /currentA must be a number/],
  ])('rejects %o with OUT_OF_RANGE and says what is allowed', (req, msg) => {
    const r = checkPsuSetpoint(limits, req);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe('OUT_OF_RANGE');
      expect(r.message).toMatch(msg);
    }
  });

  it('refuses a voltage at or above the OVP threshold', () => {
    const low = flatpack2Limits({ powerRatingW: 2000, ovpV: 55 });
    const r = checkPsuSetpoint(low, { voltageV: 55, currentA: 1 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/below the over-voltage protection of 55\.00 V/);
  });

  it('standby is itself a valid setpoint', () => {
    expect(checkPsuSetpoint(limits, FLATPACK2_STANDBY).ok).toBe(true);
  });

  // Property: whatever arrives (any double, NaN, ±Infinity, huge), an accepted value is
  // inside every limit, exactly representable on the wire, and never exceeds the rating.
  it('property: every accepted setpoint is within all limits, for any input', () => {
    const anyNumber = fc.oneof(fc.double(), fc.double({ min: 0, max: 100, noNaN: true }), fc.constantFrom(NaN, Infinity, -Infinity, 0, -0));
    const anyLimits = fc.record({ powerRatingW: fc.integer({ min: 500, max: 3000 }), ovpV: fc.double({ min: 43.5, max: 65, noNaN: true }) });
    fc.assert(
      fc.property(anyLimits, anyNumber, anyNumber, (lp, v, i) => {
        const l = flatpack2Limits(lp);
        const r = checkPsuSetpoint(l, { voltageV: v, currentA: i });
        if (!r.ok) return;
        const s = r.value;
        expect(s.voltageV).toBeGreaterThanOrEqual(l.minVoltageV);
        expect(s.voltageV).toBeLessThanOrEqual(l.maxVoltageV);
        expect(s.voltageV).toBeLessThan(l.ovpV);
        expect(s.currentA).toBeGreaterThanOrEqual(l.minCurrentA - 1e-9);
        expect(s.currentA).toBeLessThanOrEqual(l.maxCurrentA + 1e-9);
        // What the encoder will send (0.01 V × 0.1 A units) stays within the rating.
        expect((Math.round(s.voltageV * 100) / 100) * (Math.round(s.currentA * 10) / 10)).toBeLessThanOrEqual(l.powerRatingW + 1e-6);
        expect(Math.abs(s.voltageV * 100 - Math.round(s.voltageV * 100))).toBeLessThan(1e-6);
        expect(Math.abs(s.currentA * 10 - Math.round(s.currentA * 10))).toBeLessThan(1e-6);
      }),
      { numRuns: 5000 },
    );
  });

  it('property: in-range requests within the power rating are accepted unchanged (to wire resolution)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 4350, max: 5760 }), fc.integer({ min: 1, max: 417 }), (cv, da) => {
        const v = cv / 100;
        const i = da / 10;
        const r = checkPsuSetpoint(limits, { voltageV: v, currentA: i });
        expect(r.ok).toBe(true);
        if (r.ok) {
          expect(r.value.voltageV).toBe(v);
          if (v * i <= 2000) expect(r.value).toMatchObject({ currentA: i, clamped: false });
          else expect(r.value.clamped).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('command gate: interlocks', () => {
  const dev = { id: 'fp2-1', online: true, lastSeen: 1, ownedBy: null };
  it('NOT_FOUND for an unknown device', () => {
    expect(checkDeviceAvailable('nope', undefined, { origin: 'api' })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  });
  it('DEVICE_OFFLINE when offline', () => {
    expect(checkDeviceAvailable('fp2-1', { ...dev, online: false }, { origin: 'api' })).toMatchObject({ ok: false, code: 'DEVICE_OFFLINE' });
  });
  it('CHARGER_OWNS_PSU refuses manual commands but not the charger itself', () => {
    const owned = { ...dev, ownedBy: 'charger1' };
    const r = checkDeviceAvailable('fp2-1', owned, { origin: 'api' });
    expect(r).toMatchObject({ ok: false, code: 'CHARGER_OWNS_PSU' });
    if (!r.ok) expect(r.message).toMatch(/stop the charge first/);
    expect(checkDeviceAvailable('fp2-1', owned, { origin: 'charger' }).ok).toBe(true);
  });
});

describe('gate: messages for people', () => {
  it('defect 17.4: a refusal names the rectifier and the charger by their names and says what to do in words, no mutation names', () => {
    const owned = { id: 'fp2-192750001639', name: 'Rectifier A', online: true, lastSeen: 1, ownedBy: 'charger1', ownerName: 'House bank charger' };
    const r = checkDeviceAvailable('fp2-192750001639', owned, { origin: 'api' });
    expect(r).toMatchObject({ ok: false, code: 'CHARGER_OWNS_PSU' });
    if (r.ok) return;
    expect(r.message).toContain('Rectifier A');
    expect(r.message).toContain('House bank charger');
    expect(r.message).not.toContain('fp2-192750001639');
    expect(r.message).not.toMatch(/\(stopCharge\)|charger1/);
    const off = checkDeviceAvailable('fp2-1', { ...owned, ownedBy: null, online: false }, { origin: 'api' });
    expect(off).toMatchObject({ ok: false, code: 'DEVICE_OFFLINE' });
    if (!off.ok) expect(off.message).toMatch(/^Rectifier A is offline.*check its power/);
  });
});

describe('gate: charge-start interlocks', () => {
  it('admits a start only when every interlock holds, and names the first that does not (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          writable: fc.boolean(),
          battery: fc.option(fc.record({ online: fc.boolean(), refusal: fc.option(fc.constantFrom('BMS_DIALECT_MISMATCH' as const, 'BMS_DIALECT_PENDING' as const)) })),
          linkUp: fc.boolean(),
          unitsOnline: fc.nat(3),
          pending: fc.nat(2),
        }),
        (r) => {
          const g = checkChargeStart({
            chargerId: 'c1',
            busId: 'can0',
            storage: { writable: r.writable, error: r.writable ? null : 'disk full' },
            battery: r.battery ? { id: 'bms0', online: r.battery.online, refusal: r.battery.refusal ? { code: r.battery.refusal, message: 'x' } : null } : null,
            linkUp: r.linkUp,
            unitsOnline: r.unitsOnline,
            fallback: { voltageV: 43.5, pendingIds: Array.from({ length: r.pending }, (_, i) => `fp2-${i}`) },
          });
          const expected = !r.writable
            ? 'STORAGE_UNAVAILABLE'
            : r.battery && !r.battery.online
              ? 'BMS_OFFLINE'
              : r.battery?.refusal
                ? r.battery.refusal
                : !r.linkUp
                  ? 'LINK_DOWN'
                  : r.unitsOnline === 0
                    ? 'NO_PSUS'
                    : r.pending > 0
                      ? 'FALLBACK_PENDING'
                      : null;
          expect(g.ok ? null : g.code).toBe(expected);
        },
      ),
      { numRuns: 500 },
    );
  });
});
