import { describe, expect, it } from 'vitest';
import { LiFePO4Pack, SIM_OCV_CURVE, cellOcvFromSoc } from '../../src/sim/lifepo4-pack.js';
import { OCV_TABLE, socFromCellVoltage } from '../../src/engine/charger/ocv.js';

const pack16 = (socPct: number, extra: Partial<ConstructorParameters<typeof LiFePO4Pack>[0]> = {}): LiFePO4Pack =>
  new LiFePO4Pack({ cells: 16, capacityAh: 100, socPct, internalResistanceOhm: 0.02, ...extra });

describe('OCV table (flatpack2-charger-behaviour.md §4.8)', () => {
  it('holds the 12 points of the charger spec', () => {
    expect(OCV_TABLE.map(([v]) => v)).toEqual([2.8, 3.0, 3.12, 3.22, 3.25, 3.27, 3.28, 3.29, 3.3, 3.32, 3.35, 3.4]);
    expect(OCV_TABLE.map(([, soc]) => soc)).toEqual([0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  });

  it('maps every table point to its SOC', () => {
    for (const [cellV, soc] of OCV_TABLE) expect(socFromCellVoltage(cellV)).toBeCloseTo(soc, 9);
  });

  it('§4.8 example: 52.64 V over 16 cells is 3.29 V/cell → 60 %', () => {
    expect(socFromCellVoltage(52.64 / 16)).toBeCloseTo(60, 6);
  });

  it('interpolates linearly and clamps at the ends', () => {
    expect(socFromCellVoltage(3.285)).toBeCloseTo(55, 6);
    expect(socFromCellVoltage(3.17)).toBeCloseTo(15, 6);
    expect(socFromCellVoltage(2.5)).toBe(0);
    expect(socFromCellVoltage(3.6)).toBe(100);
    expect(socFromCellVoltage(Number.NaN)).toBe(0);
  });
});

describe('simulated OCV curve', () => {
  it('equals the §4.8 table up to 90 % so the charger estimate agrees with the sim there', () => {
    for (const [cellV, soc] of OCV_TABLE.filter(([, s]) => s <= 90)) expect(cellOcvFromSoc(soc)).toBeCloseTo(cellV, 9);
    expect(socFromCellVoltage(cellOcvFromSoc(45))).toBeCloseTo(45, 6);
  });

  it('rises monotonically to a knee: 3.60 V/cell at 99.8 %, 3.65 V at 100 %', () => {
    for (let i = 1; i < SIM_OCV_CURVE.length; i++) {
      expect(SIM_OCV_CURVE[i][0]).toBeGreaterThan(SIM_OCV_CURVE[i - 1][0]);
      expect(SIM_OCV_CURVE[i][1]).toBeGreaterThan(SIM_OCV_CURVE[i - 1][1]);
    }
    expect(cellOcvFromSoc(95)).toBeCloseTo(3.4, 9);
    expect(cellOcvFromSoc(99.8)).toBeCloseTo(3.6, 9);
    expect(cellOcvFromSoc(100)).toBeCloseTo(3.65, 9);
    expect(cellOcvFromSoc(120)).toBeCloseTo(3.65, 9);
    expect(cellOcvFromSoc(-5)).toBeCloseTo(2.8, 9);
  });

  it('lets a 0.1 C CC charge reach 57.6 V and a CV phase taper to 1 % C in minutes, not seconds or days', () => {
    const pack = pack16(50);
    const dtS = 1;
    let t = 0;
    // CC at 10 A until the terminals reach 57.6 V.
    while (pack.terminalV(10) < 57.6 && t < 20 * 3600) {
      pack.step(10, dtS);
      t += dtS;
    }
    const ccEndS = t;
    const socAtCv = pack.socPct;
    expect(ccEndS / 3600).toBeGreaterThan(4.5); // 50 % → ~99 % at 10 A is ~5 h
    expect(ccEndS / 3600).toBeLessThan(5.5);
    expect(socAtCv).toBeGreaterThan(97);
    expect(socAtCv).toBeLessThan(99.8);
    // CV at 57.6 V: I = (57.6 − OCV)/R until the tail of 1 A.
    let i = 10;
    while (i > 1 && t < 30 * 3600) {
      i = Math.min(10, (57.6 - pack.ocvV()) / pack.internalResistanceOhm);
      pack.step(i, dtS);
      t += dtS;
    }
    const cvMin = (t - ccEndS) / 60;
    expect(cvMin).toBeGreaterThan(5);
    expect(cvMin).toBeLessThan(60);
    expect(pack.socPct).toBeGreaterThan(99.5);
    expect(pack.socPct).toBeLessThan(100);
  });
});

describe('LiFePO4Pack', () => {
  it('reports OCV and terminal voltage (I > 0 = charging)', () => {
    const pack = pack16(50);
    expect(pack.cellOcvV()).toBeCloseTo(3.28, 9);
    expect(pack.ocvV()).toBeCloseTo(52.48, 9);
    expect(pack.terminalV(10)).toBeCloseTo(52.68, 9);
    expect(pack.terminalV(-10)).toBeCloseTo(52.28, 9);
    expect(pack.connected).toBe(true);
    expect(pack.tempC).toBe(25);
  });

  it('counts coulombs: 10 A for 1 h is +10 % and 10 Ah charged; −20 A for 30 min is −10 %', () => {
    const pack = pack16(50);
    for (let s = 0; s < 3600; s++) pack.step(10, 1);
    expect(pack.socPct).toBeCloseTo(60, 6);
    expect(pack.chargedAh).toBeCloseTo(10, 6);
    expect(pack.lastCurrentA).toBe(10);
    for (let s = 0; s < 1800; s++) pack.step(-20, 1);
    expect(pack.socPct).toBeCloseTo(50, 6);
    expect(pack.dischargedAh).toBeCloseTo(10, 6);
    expect(pack.lastCurrentA).toBe(-20);
  });

  it('clamps SOC to 0..100', () => {
    const full = pack16(99);
    full.step(100, 3600);
    expect(full.socPct).toBe(100);
    const empty = pack16(1);
    empty.step(-100, 3600);
    expect(empty.socPct).toBe(0);
    expect(pack16(150).socPct).toBe(100);
  });

  it('carries no current while disconnected', () => {
    const pack = pack16(50, { connected: false });
    pack.step(10, 3600);
    expect(pack.socPct).toBe(50);
    expect(pack.lastCurrentA).toBe(0);
    expect(pack.chargedAh).toBe(0);
  });

  it('rejects impossible parameters', () => {
    expect(() => pack16(50, { cells: 0 })).toThrow(RangeError);
    expect(() => pack16(50, { capacityAh: 0 })).toThrow(RangeError);
    expect(() => pack16(50, { internalResistanceOhm: -0.01 })).toThrow(RangeError);
  });
});
