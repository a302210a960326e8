/**
 * Defect 8.7: impossible values never become telemetry. Per-field plausibility bounds live in
 * the pure codecs (FP2_BOUNDS, BMS_BOUNDS); a frame outside them is `invalid` with the reason.
 * The variable Waveshare framing has no checksum, so these bounds are the last filter: the
 * property test flips single bits of valid frames on the wire and checks that whatever still
 * decodes carries only in-bounds values.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CanFrame } from '../../src/families/can/types.js';
import { encodeFrame, WaveshareDecoder, type WaveshareFraming } from '../../src/families/can/waveshare.js';
import { decodeFp2, encodeDefaultVoltageAck, encodeStatus, FP2_BOUNDS, type Fp2Message } from '../../src/families/flatpack2/codec.js';
import {
  BMS_BOUNDS,
  decodeBms,
  encodeAlarms,
  encodeCellExtremes,
  encodeChargeLimits,
  encodeMeasurements,
  encodeModuleCells,
  encodeModuleCounts,
  encodeModuleEnergy,
  encodeModuleState,
  encodeModuleStatus,
  encodeModuleTempsLimits,
  encodeOnGridLimits,
  encodeSoc,
  encodeUsbPower,
  MAX_MODULES,
  type BmsDialect,
  type BmsMessage,
} from '../../src/families/bms/codec.js';

const bytes = (s: string) => Uint8Array.from(s.trim().split(/\s+/), (h) => parseInt(h, 16));
const std = (id: number, data: string): CanFrame => ({ id, extended: false, remote: false, data: bytes(data) });
const ext = (id: number, data: string): CanFrame => ({ id, extended: true, remote: false, data: bytes(data) });

type Bound = readonly [number, number];

/**
 * The bound of every numeric field of every message that is a reading, limit or count. A
 * numeric field that is in neither this table nor UNBOUNDED fails the property test, so a
 * field added to a codec without a bound cannot slip through.
 */
const B = BMS_BOUNDS;
const MODULE: Bound = [1, MAX_MODULES];
const CELL_DELTA: Bound = [0, B.cellVoltageV[1] - B.cellVoltageV[0]];
const BOUNDED: Record<string, Record<string, Bound>> = {
  status: {
    voltageV: FP2_BOUNDS.outputVoltageV,
    currentA: FP2_BOUNDS.outputCurrentA,
    inputVoltageV: FP2_BOUNDS.inputVoltageV,
    intakeTempC: FP2_BOUNDS.intakeTempC,
    outputTempC: FP2_BOUNDS.outputTempC,
  },
  'default-voltage': { voltageV: FP2_BOUNDS.defaultVoltageV },
  // Each named one-value read has its own bound in the codec; all of them lie within Vin's.
  'read-reply': { value: [0, FP2_BOUNDS.inputVoltageV[1]] },
  park: { voltageV: FP2_BOUNDS.outputVoltageV },
  'park-ack': { voltageV: FP2_BOUNDS.outputVoltageV },
  'charge-limits': { chargeVoltageLimitV: B.limitVoltageV, chargeCurrentLimitA: B.stackLimitA, dischargeCurrentLimitA: B.stackLimitA, dischargeVoltageV: B.limitVoltageV },
  soc: { socPct: B.pct, sohPct: B.pct },
  measurements: { voltageV: B.stackVoltageV, currentA: B.stackCurrentA, wireCurrentA: B.stackCurrentA, tempC: B.tempC },
  'usb-power': { powerW: B.usbPowerW, energyWh: B.usbEnergyWh, switchState: B.switchState },
  alarms: { moduleCount: B.moduleCount },
  'cell-extremes': { cellHighV: B.cellVoltageV, cellLowV: B.cellVoltageV, cellDeltaV: CELL_DELTA, tempHighC: B.tempC, tempLowC: B.tempC },
  'module-counts': { normal: B.moduleCount, chargeBlocked: B.moduleCount, dischargeBlocked: B.moduleCount, lost: B.moduleCount, total: B.moduleCount },
  'on-grid-limits': { chargeCurrentLimitA: B.stackLimitA, dischargeCurrentLimitA: B.stackLimitA },
  'module-status': { module: MODULE, voltageV: B.stackVoltageV, currentA: B.moduleCurrentA, wireCurrentA: B.moduleCurrentA, socPct: B.pct, sohPct: B.pct },
  'module-cells': { module: MODULE, cellHighV: B.cellVoltageV, cellLowV: B.cellVoltageV, cellDeltaV: CELL_DELTA, tempHighC: B.tempC, tempLowC: B.tempC },
  'module-temps-limits': { module: MODULE, mosTempC: B.tempC, heaterTempC: B.tempC, chargeCurrentLimitA: B.moduleLimitA, dischargeCurrentLimitA: B.moduleLimitA },
  'module-state': { module: MODULE, cycles: B.cycles },
  'module-energy': { module: MODULE, chargedKWh: B.moduleEnergyKWh, dischargedKWh: B.moduleEnergyKWh },
  'module-faults': { module: MODULE },
  'module-version': { module: MODULE },
  'module-serial': { module: MODULE },
  'module-trip-counts-1': { module: MODULE },
  'module-trip-counts-2': { module: MODULE },
};
/** Identifiers, bit sets and the fields the codec documents as unbounded beyond their wire range. */
const UNBOUNDED: Record<string, string[]> = {
  status: ['addr', 'stateCode'],
  'default-voltage': ['addr'],
  alerts: ['addr', 'bits'],
  'read-reply': ['addr', 'func', 'op', 'selector', 'raw'],
  'identity-reply': ['addr', 'selector', 'seq'],
  park: ['addr', 'flags'],
  'park-ack': ['addr', 'flags'],
  alarms: ['protectionBits', 'alarmBits', 'systemErrorBits'],
  requests: ['bits'],
  identity: ['cellTypeCode', 'capacityAh'],
  'usb-control': ['disableS'],
  'module-faults': ['protectionBits', 'alarmBits', 'systemErrorBits', 'mosBits'],
  'module-state': ['modeCode', 'faultLevelCode', 'balancingBits', 'subState'],
  'module-serial': ['part'],
  'module-trip-counts-1': ['overCharge', 'overDischarge', 'shortCircuit', 'mosOverTemp'],
  'module-trip-counts-2': ['chargeOverCurrent', 'dischargeOverCurrent', 'chargeOverTemp', 'dischargeOverTemp'],
};
/** Not readings: our own commands decoded for the record (the drivers ignore them on rx), ids, text. */
const NOT_READINGS = new Set(['unknown', 'invalid', 'set', 'hello', 'login', 'login-request', 'alert-request', 'identity-request', 'read-request', 'enumerate', 'heartbeat', 'versions']);

/** Why a decoded message carries a value outside its bound (or an unbounded field), or null. */
function outOfBounds(m: BmsMessage | Fp2Message): string | null {
  if (NOT_READINGS.has(m.kind)) return null;
  for (const [field, v] of Object.entries(m)) {
    if (typeof v !== 'number') continue;
    const b = BOUNDED[m.kind]?.[field];
    if (!b) {
      if (UNBOUNDED[m.kind]?.includes(field)) continue;
      return `${m.kind}.${field} has no plausibility bound`;
    }
    if (!(v >= b[0] && v <= b[1])) return `${m.kind}.${field} = ${v} outside ${b[0]}–${b[1]}`;
  }
  return null;
}

function decodeAll(f: CanFrame): Array<BmsMessage | Fp2Message> {
  return [decodeFp2(f), decodeBms(f, 'deye'), decodeBms(f, 'pylontech')];
}

function expectInvalid(m: BmsMessage | Fp2Message, reason: RegExp): void {
  expect(m.kind).toBe('invalid');
  expect(m.kind === 'invalid' ? m.reason : '').toMatch(reason);
}

describe('defect 8.7: Flatpack2 status values outside FP2_BOUNDS are invalid, never a reading', () => {
  // Base frame: flatpack2.md §3 (status of PSU 1: 27 °C, 0 A, 53.40 V, 241 V, 35 °C), one field corrupted each.
  const cases: Array<[string, string, RegExp]> = [
    ['Iout 6553.5 A (FF FF)', '1B FF FF DC 14 F1 00 23', /PSU 1 with Iout 6553\.5 A outside 0–70 A/],
    ['Iout 70.1 A', '1B BD 02 DC 14 F1 00 23', /Iout 70\.1 A outside 0–70 A/],
    ['Vout 655.35 V (FF FF)', '1B 00 00 FF FF F1 00 23', /Vout 655\.35 V outside 0–65 V/],
    ['Vout 65.01 V', '1B 00 00 65 19 F1 00 23', /Vout 65\.01 V/],
    ['Vin 65535 V', '1B 00 00 DC 14 FF FF 23', /Vin 65535 V outside 0–350 V/],
    ['intake 255 °C', 'FF 00 00 DC 14 F1 00 23', /intake temperature 255 °C outside 0–100 °C/],
    ['exhaust 255 °C', '1B 00 00 DC 14 F1 00 FF', /exhaust temperature 255 °C outside 0–125 °C/],
  ];
  it.each(cases)('%s', (_name, data, reason) => {
    expect(decodeFp2(ext(0x05014004, '1B 00 00 DC 14 F1 00 23'))).toMatchObject({ kind: 'status' });
    expectInvalid(decodeFp2(ext(0x05014004, data)), reason);
  });

  it('the edges are readings', () => {
    const edge = encodeStatus({ addr: 1, stateCode: 4, intakeTempC: 100, currentA: 70, voltageV: 65, inputVoltageV: 350, outputTempC: 125 });
    expect(decodeFp2(edge)).toMatchObject({ kind: 'status', intakeTempC: 100, currentA: 70, voltageV: 65, inputVoltageV: 350, outputTempC: 125 });
  });

  it('a default-voltage acknowledgement above 65 V is invalid', () => {
    expectInvalid(decodeFp2(ext(0x05019c00, '2B 15 00 FF FF')), /default voltage 655\.35 V for PSU 1/);
    expect(decodeFp2(encodeDefaultVoltageAck(1, 43.5))).toMatchObject({ kind: 'default-voltage', voltageV: 43.5, ack: true });
  });
});

describe('defect 8.7: BMS values outside BMS_BOUNDS are invalid, never a reading or a limit', () => {
  const cases: Array<[string, CanFrame, BmsDialect, RegExp]> = [
    // 0x351 (§3.1): §7 vector 4 is 53.2 V / 370 A / 370 A / 46.0 V; one field corrupted each.
    ['0x351 charge limit 3276.7 A', std(0x351, '14 02 FF 7F 74 0E CC 01'), 'deye', /charge current limit 3276\.7 A outside 0–1000 A/],
    ['0x351 charge limit 1000.1 A', std(0x351, '14 02 11 27 74 0E CC 01'), 'pylontech', /charge current limit 1000\.1 A/],
    ['0x351 discharge limit 3276.7 A', std(0x351, '14 02 74 0E FF 7F CC 01'), 'deye', /discharge current limit 3276\.7 A/],
    ['0x351 charge voltage 6553.5 V', std(0x351, 'FF FF 74 0E 74 0E CC 01'), 'deye', /charge voltage 6553\.5 V outside 0–100 V/],
    // 0x356 (§3.3): §7 vector 1 is 52.70 V / 13.9 A / 13.0 °C.
    ['0x356 current 3276.7 A', std(0x356, '96 14 FF 7F 82 00 00 00'), 'deye', /stack current 3276\.7 A outside -1000–1000 A/],
    ['0x356 current -3276.8 A', std(0x356, '96 14 00 80 82 00'), 'pylontech', /stack current -3276\.8 A/],
    ['0x371 charge limit 3276.7 A', std(0x371, 'FF 7F 08 07 00 00 00 00'), 'deye', /on-grid charge current limit 3276\.7 A/],
    ['0x371 discharge limit 3276.8 A', std(0x371, '00 00 00 80 00 00 00 00'), 'deye', /on-grid discharge current limit 3276\.8 A/],
    ['0x358 USB power 6553.5 W', std(0x358, 'FF FF 00 00 00 00 00 00'), 'deye', /USB power 6553\.5 W outside 0–250 W/],
    ['0x358 USB energy 429 MWh', std(0x358, '10 00 FF FF FF FF 00 00'), 'deye', /USB energy 429496729\.5 Wh/],
    ['0x358 switch state 7', std(0x358, '10 00 00 00 00 00 07 00'), 'deye', /USB switch state 7 outside 0–1/],
    ['0x359 Pylontech 255 modules', std(0x359, '00 00 00 00 FF 50 4E'), 'pylontech', /module count 255 in 0x359 above 64/],
    // Per-module frames (§4): §7 vector 10 is module 2, 53.1 V, -12.3 A, 87.5 %, 100.0 %.
    ['0x151 module current 3276.7 A', std(0x151, '13 02 FF 7F 6B 03 E8 03'), 'deye', /module 2: module current 3276\.7 A outside -500–500 A/],
    ['0x250 allowed charge 65535 A', std(0x250, '8C 00 70 FE FF FF 64 00'), 'deye', /module 1: allowed charge current 65535 A outside 0–500 A/],
    ['0x250 allowed discharge 501 A', std(0x250, '8C 00 70 FE 32 00 F5 01'), 'deye', /allowed discharge current 501 A/],
    ['0x400 65535 cycles', std(0x400, '01 00 FF FF 00 80 0F 00'), 'deye', /module 1: cycle count 65535 above 20000/],
    ['0x550 4.29 GWh charged', std(0x550, 'FF FF FF FF 8C 6E 07 00'), 'deye', /module 1: lifetime charged energy 4294967\.295 kWh/],
    ['0x550 discharged 100 000.001 kWh', std(0x550, 'F4 C3 07 00 01 E1 F5 05'), 'deye', /lifetime discharged energy 100000\.001 kWh/],
  ];
  it.each(cases)('%s', (_name, frame, dialect, reason) => {
    expectInvalid(decodeBms(frame, dialect), reason);
  });

  it('the same frames with in-bounds values are readings', () => {
    expect(decodeBms(std(0x351, '14 02 10 27 74 0E CC 01'), 'deye')).toMatchObject({ kind: 'charge-limits', chargeCurrentLimitA: 1000 });
    expect(decodeBms(std(0x356, '96 14 8B 00 82 00 00 00'), 'deye')).toMatchObject({ kind: 'measurements', currentA: -13.9 });
    expect(decodeBms(std(0x250, '8C 00 70 FE F4 01 64 00'), 'deye')).toMatchObject({ kind: 'module-temps-limits', chargeCurrentLimitA: 500 });
    expect(decodeBms(std(0x400, '01 00 20 4E 00 80 0F 00'), 'deye')).toMatchObject({ kind: 'module-state', cycles: 20000 });
  });
});

// ---- single-bit flips on the wire ----------------------------------------------------------

const dialects = fc.constantFrom<BmsDialect>('deye', 'pylontech');
const module = fc.integer({ min: 1, max: MAX_MODULES });
const tenths = (lo: number, hi: number) => fc.integer({ min: Math.round(lo * 10), max: Math.round(hi * 10) }).map((x) => x / 10);
const hundredths = (lo: number, hi: number) => fc.integer({ min: Math.round(lo * 100), max: Math.round(hi * 100) }).map((x) => x / 100);
const mV = (lo: number, hi: number) => fc.integer({ min: Math.round(lo * 1000), max: Math.round(hi * 1000) }).map((x) => x / 1000);
const cellPair = fc.tuple(mV(2.5, 3.65), mV(0, 0.3), tenths(-20, 60), tenths(0, 10)).map(([lowV, dV, lowC, dC]) => ({
  cellHighV: Math.round((lowV + dV) * 1000) / 1000,
  cellLowV: lowV,
  tempHighC: Math.round((lowC + dC) * 10) / 10,
  tempLowC: lowC,
}));

/** Valid frames of every kind the drivers turn into readings, values within the bounds. */
const validFrame: fc.Arbitrary<CanFrame> = fc.oneof(
  fc
    .record({ addr: fc.integer({ min: 1, max: 0x3f }), stateCode: fc.constantFrom(4, 8, 12, 16), intakeTempC: fc.integer({ min: 0, max: 60 }), currentA: tenths(0, 41.7), voltageV: hundredths(43.5, 57.6), inputVoltageV: fc.integer({ min: 180, max: 260 }), outputTempC: fc.integer({ min: 15, max: 90 }) })
    .map(encodeStatus),
  fc.tuple(fc.integer({ min: 1, max: 0x3f }), hundredths(43.5, 57.6)).map(([a, v]) => encodeDefaultVoltageAck(a, v)),
  fc
    .record({ chargeVoltageLimitV: tenths(48, 58.4), chargeCurrentLimitA: tenths(0, 370), dischargeCurrentLimitA: tenths(0, 370), dischargeVoltageV: tenths(40, 48) })
    .chain((p) => fc.constantFrom(6, 8).map((dlc) => encodeChargeLimits(p, dlc))),
  fc.record({ socPct: fc.integer({ min: 0, max: 100 }), sohPct: fc.integer({ min: 60, max: 100 }) }).chain((p) => fc.constantFrom(4, 8).map((dlc) => encodeSoc(p, dlc))),
  fc.tuple(fc.record({ voltageV: hundredths(40, 58.4), currentA: tenths(-200, 200), tempC: tenths(-10, 50) }), dialects).map(([p, d]) => encodeMeasurements(p, d)),
  cellPair.map(encodeCellExtremes),
  fc.record({ chargeCurrentLimitA: tenths(0, 370), dischargeCurrentLimitA: tenths(0, 370) }).map(encodeOnGridLimits),
  fc.record({ powerW: tenths(0, 60), energyWh: tenths(0, 100_000), switchState: fc.constantFrom(0, 1) }).map(encodeUsbPower),
  fc.integer({ min: 1, max: 16 }).chain((total) => fc.tuple(fc.integer({ min: 0, max: total }), fc.integer({ min: 0, max: total })).map(([a, b]) => encodeModuleCounts({ normal: a, chargeBlocked: b, dischargeBlocked: 0, lost: total - a, total }))),
  fc.tuple(fc.subarray(['over-temp', 'under-temp', 'charge-over-current']), fc.integer({ min: 1, max: 16 })).map(([p, n]) => encodeAlarms({ protections: p, alarms: [], moduleCount: n }, 'pylontech')),
  fc.subarray(['cell-over-voltage', 'cell-under-temp-charge', 'mos-over-temp', 'fuse-blown']).map((p) => encodeAlarms({ protections: p, alarms: ['cell-high-voltage'] }, 'deye')),
  fc.tuple(module, fc.record({ voltageV: tenths(40, 58.4), currentA: tenths(-100, 100), socPct: tenths(0, 100), sohPct: tenths(60, 100) })).map(([n, p]) => encodeModuleStatus(n, p)),
  fc.tuple(module, cellPair).map(([n, p]) => encodeModuleCells(n, p)),
  fc.tuple(module, fc.record({ mosTempC: tenths(0, 90), heaterTempC: fc.constant(null), chargeCurrentLimitA: fc.integer({ min: 0, max: 200 }), dischargeCurrentLimitA: fc.integer({ min: 0, max: 200 }) })).map(([n, p]) => encodeModuleTempsLimits(n, p)),
  fc.tuple(module, fc.record({ modeCode: fc.constantFrom(0, 1, 2), faultLevelCode: fc.constantFrom(0, 1, 2), cycles: fc.integer({ min: 0, max: 6000 }), balancingBits: fc.integer({ min: 0, max: 0xffff }), subState: fc.constantFrom(0x09, 0x0f) })).map(([n, p]) => encodeModuleState(n, p)),
  fc.tuple(module, fc.record({ chargedKWh: mV(0, 60_000), dischargedKWh: mV(0, 60_000) })).map(([n, p]) => encodeModuleEnergy(n, p)),
);

/** Every CAN frame the adapter decoder yields from `wire` with bit `bit` flipped. */
function flipAndDecode(wire: Uint8Array, bit: number): CanFrame[] {
  const flipped = Uint8Array.from(wire);
  flipped[bit >> 3]! ^= 1 << (bit & 7);
  return new WaveshareDecoder().push(flipped);
}

describe('defect 8.7: single-bit flips of valid frames never produce a reading outside the bounds', () => {
  it('every valid frame decodes in bounds (the generator is sound)', () => {
    fc.assert(
      fc.property(validFrame, (f) => {
        const decoded = decodeAll(f).filter((m) => m.kind !== 'unknown' && m.kind !== 'invalid');
        expect(decoded.length).toBeGreaterThan(0);
        for (const m of decoded) expect(outOfBounds(m)).toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  it.each(['variable', 'fixed'] as WaveshareFraming[])('%s framing (property)', (framing) => {
    fc.assert(
      fc.property(validFrame, fc.nat(), (f, n) => {
        const wire = encodeFrame(f, framing);
        for (const g of flipAndDecode(wire, n % (wire.length * 8))) {
          for (const m of decodeAll(g)) expect(outOfBounds(m)).toBeNull();
        }
      }),
      { numRuns: 4000 },
    );
  });

  it('the fixed framing checksum catches every single-bit flip; the variable framing catches few', () => {
    let variableAccepted = 0;
    let variableFlips = 0;
    fc.assert(
      fc.property(validFrame, (f) => {
        for (const framing of ['variable', 'fixed'] as const) {
          const wire = encodeFrame(f, framing);
          for (let bit = 0; bit < wire.length * 8; bit++) {
            const got = flipAndDecode(wire, bit);
            // A flip either kills the frame or (variable only) yields a different valid frame.
            if (framing === 'fixed') expect(got).toEqual([]);
            else {
              variableFlips++;
              if (got.length > 0) variableAccepted++;
            }
          }
        }
      }),
      { numRuns: 200 },
    );
    // Most flips of the variable framing still decode as some frame: only the bounds stop them.
    expect(variableAccepted / variableFlips).toBeGreaterThan(0.3);
  });
});
