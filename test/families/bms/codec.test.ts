/**
 * BMS CAN codec (Deye and Pylontech dialects) with the byte vectors of
 * /work/shared/protocols/bms-can.md §7, read through the Waveshare fixed 20-byte framing (§6).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CanFrame } from '../../../src/families/can/types.js';
import { encodeFixed, settingFrame, WaveshareDecoder } from '../../../src/families/can/waveshare.js';
import {
  decodeBms,
  encodeAlarms,
  encodeCellExtremes,
  encodeChargeLimits,
  encodeDeyeIdentity,
  encodeHeartbeat,
  encodeMeasurements,
  encodeModuleCells,
  encodeModuleCounts,
  encodeModuleEnergy,
  encodeModuleFaults,
  encodeModuleSerial,
  encodeModuleState,
  encodeModuleStatus,
  encodeModuleTempsLimits,
  encodeModuleTripCounts1,
  encodeModuleTripCounts2,
  encodeModuleVersion,
  encodeOnGridLimits,
  encodePylonIdentity,
  encodeRequests,
  encodeSoc,
  encodeUsbControl,
  encodeUsbPower,
  encodeVersions,
  type BmsDialect,
  type BmsMessage,
} from '../../../src/families/bms/codec.js';

const bytes = (s: string) => Uint8Array.from(s.trim().split(/\s+/), (h) => parseInt(h, 16));
const std = (id: number, data: string | Uint8Array): CanFrame => ({ id, extended: false, remote: false, data: typeof data === 'string' ? bytes(data) : data });

/** bms-can.md §7, the 20-byte wire form exactly as listed. */
const V = {
  v1: 'AA 55 01 01 01 56 03 00 00 08 96 14 8B 00 82 00 00 00 00 1B',
  v2: 'AA 55 01 01 01 56 03 00 00 08 14 14 F3 02 AA 00 00 00 00 2B',
  v3: 'AA 55 01 01 01 71 03 00 00 08 00 00 08 07 00 00 00 00 00 8E',
  v4: 'AA 55 01 01 01 51 03 00 00 08 14 02 74 0E 74 0E CC 01 00 46',
  v5: 'AA 55 01 01 01 55 03 00 00 04 1A 00 64 00 00 00 00 00 00 DD',
  v6: 'AA 55 01 01 01 5E 03 00 00 08 44 59 30 30 31 05 60 09 00 08',
  v7: 'AA 55 01 01 01 00 05 00 00 08 30 06 AA 56 37 2E 30 38 00 13',
  v8: 'AA 55 01 01 01 10 01 00 00 08 00 00 00 00 00 00 00 31 00 4D',
  v9: 'AA 55 01 01 01 64 03 00 00 08 02 02 00 00 02 00 00 00 00 78',
  v10: 'AA 55 01 01 01 51 01 00 00 08 13 02 85 FF 6B 03 E8 03 00 4F',
  v11: 'AA 55 01 01 01 50 05 00 00 08 F4 C3 07 00 8C 6E 07 00 00 1F',
  v12: 'AA 55 01 01 01 00 04 00 00 08 01 00 0B 00 00 80 0F 00 00 AA',
  v13: 'AA 55 01 01 01 59 03 00 00 08 00 00 00 00 41 00 00 00 00 A8',
  v14: 'AA 55 01 01 01 5C 03 00 00 02 C0 00 00 00 00 00 00 00 00 24',
  v15: 'AA 55 02 03 01 00 00 00 00 00 00 00 00 00 01 00 00 00 00 07',
} as const;

/** One vector through the Waveshare decoder: exactly one CAN frame, checksum accepted. */
function wire(vector: string): CanFrame {
  const dec = new WaveshareDecoder();
  const frames = dec.push(bytes(vector));
  expect(dec.stats).toMatchObject({ frames: 1, badChecksum: 0, droppedBytes: 0 });
  expect(frames).toHaveLength(1);
  return frames[0]!;
}

const deye = (v: string) => decodeBms(wire(v), 'deye');
const pylon = (v: string) => decodeBms(wire(v), 'pylontech');

describe('bms-can.md §7 vectors through the fixed 20-byte framing', () => {
  it('#1 0x356: 52.70 V, wire +13.9 A; Deye = discharging, Pylontech = charging; 13.0 °C', () => {
    // Seed "Can bus analysis.txt": the seed shows Amp -13.9 (it negates: + = charging).
    expect(deye(V.v1)).toEqual({ kind: 'measurements', voltageV: 52.7, currentA: -13.9, wireCurrentA: 13.9, direction: 'discharge', tempC: 13 });
    expect(pylon(V.v1)).toEqual({ kind: 'measurements', voltageV: 52.7, currentA: 13.9, wireCurrentA: 13.9, direction: 'charge', tempC: 13 });
  });

  it('#2 0x356: 51.40 V, wire +75.5 A (Deye discharging), 17.0 °C', () => {
    expect(deye(V.v2)).toMatchObject({ voltageV: 51.4, currentA: -75.5, wireCurrentA: 75.5, direction: 'discharge', tempC: 17 });
    expect(pylon(V.v2)).toMatchObject({ currentA: 75.5, direction: 'charge' });
  });

  it('#3 0x371: on-grid charge 0.0 A, discharge 180.0 A (Deye only)', () => {
    expect(deye(V.v3)).toEqual({ kind: 'on-grid-limits', chargeCurrentLimitA: 0, dischargeCurrentLimitA: 180 });
    expect(pylon(V.v3)).toEqual({ kind: 'unknown' });
  });

  it('#4 0x351: 53.2 V, 370.0 A / 370.0 A, cut-off 46.0 V in both dialects', () => {
    const want: BmsMessage = { kind: 'charge-limits', chargeVoltageLimitV: 53.2, chargeCurrentLimitA: 370, dischargeCurrentLimitA: 370, dischargeVoltageV: 46 };
    expect(deye(V.v4)).toEqual(want);
    expect(pylon(V.v4)).toEqual(want);
  });

  it('#5 0x355 with DLC 4: SOC 26 %, SOH 100 %', () => {
    expect(deye(V.v5)).toEqual({ kind: 'soc', socPct: 26, sohPct: 100 });
    expect(pylon(V.v5)).toEqual({ kind: 'soc', socPct: 26, sohPct: 100 });
  });

  it('#6 0x35E: "DY", pack "001", cell type 5 = EVE 120 Ah, 240.0 Ah; implies the Deye dialect', () => {
    const want = { kind: 'identity', text: 'DY001', manufacturer: 'DY', dialect: 'deye', model: '001', cellTypeCode: 5, cellType: 'EVE 120 Ah', capacityAh: 240 };
    expect(deye(V.v6)).toEqual(want);
    // The identity is read from its content whatever the configured dialect (detection, §1).
    expect(pylon(V.v6)).toEqual(want);
  });

  it('#7 0x500: module 1, software "3006", marker 0xAA, boot "V7.08"', () => {
    expect(deye(V.v7)).toEqual({ kind: 'module-version', module: 1, software: '3006', boot: 'V7.08', markerOk: true });
    expect(pylon(V.v7)).toEqual({ kind: 'unknown' });
  });

  it('#8 0x110: module 1, no faults, parallel done, charge and discharge MOS on', () => {
    expect(deye(V.v8)).toEqual({
      kind: 'module-faults',
      module: 1,
      protections: [],
      alarms: [],
      protectionBits: 0,
      alarmBits: 0,
      systemErrorBits: 0,
      mosBits: 0x31,
      mos: { parallelDone: true, chargeMos: true, dischargeMos: true, prechargeMos: false, heaterMos: false },
    });
    // Same source: 0x21 = discharge MOS only (charging blocked).
    expect(decodeBms(std(0x110, '00 00 00 00 00 00 00 21'), 'deye')).toMatchObject({ mos: { chargeMos: false, dischargeMos: true, parallelDone: true } });
  });

  it('#9 0x364: 2 normal, 2 charge-blocked, 0, 0 lost, 2 modules', () => {
    expect(deye(V.v9)).toEqual({ kind: 'module-counts', normal: 2, chargeBlocked: 2, dischargeBlocked: 0, lost: 0, total: 2 });
  });

  it('#10 0x151: module 2, 53.1 V, wire -12.3 A = charging 12.3 A, SOC 87.5 %, SOH 100.0 %', () => {
    expect(deye(V.v10)).toEqual({ kind: 'module-status', module: 2, voltageV: 53.1, currentA: 12.3, wireCurrentA: -12.3, direction: 'charge', socPct: 87.5, sohPct: 100 });
    expect(pylon(V.v10)).toEqual({ kind: 'unknown' });
  });

  it('#11 0x550: module 1, charged 508.916 kWh, discharged 487.052 kWh', () => {
    expect(deye(V.v11)).toEqual({ kind: 'module-energy', module: 1, chargedKWh: 508.916, dischargedKWh: 487.052 });
  });

  it('#12 0x400: module 1 charging, no fault, 11 cycles, cell 16 balancing, sub-state 0x0F', () => {
    expect(deye(V.v12)).toEqual({
      kind: 'module-state',
      module: 1,
      mode: 'charge',
      modeCode: 1,
      faultLevel: 'none',
      faultLevelCode: 0,
      cycles: 11,
      balancingCells: [16],
      balancingBits: 0x8000,
      subState: 0x0f,
    });
  });

  it('#13 0x359 Deye: no protections; alarms cell high voltage + cell high temp (charging)', () => {
    expect(deye(V.v13)).toEqual({
      kind: 'alarms',
      dialect: 'deye',
      moduleCount: null,
      pnMarker: false,
      protections: [],
      alarms: ['cell-high-voltage', 'cell-high-temp-charge'],
      protectionBits: 0,
      alarmBits: 0x41,
      systemErrorBits: 0,
    });
    // Read as Pylontech the same byte 4 is the module count (§3.5): 65 modules is more than
    // the id ranges hold, so this Deye frame is invalid there (defect 8.7), not 65 modules.
    expect(pylon(V.v13)).toEqual({ kind: 'invalid', reason: 'module count 65 in 0x359 above 64' });
  });

  it('#14 0x35C with DLC 2: charge enable + discharge enable', () => {
    const want = { kind: 'requests', flags: ['charge-enable', 'discharge-enable'], bits: 0xc0, chargeEnable: true, dischargeEnable: true };
    expect(deye(V.v14)).toEqual(want);
    expect(pylon(V.v14)).toEqual(want);
  });

  it('#15 the config command is not a CAN frame, and is what settingFrame builds for fixed/500k/standard', () => {
    const dec = new WaveshareDecoder();
    const seen: Uint8Array[] = [];
    const d2 = new WaveshareDecoder({ onAdapterMessage: (b) => seen.push(b) });
    expect(dec.push(bytes(V.v15))).toEqual([]);
    expect(dec.stats).toMatchObject({ adapterMessages: 1, badChecksum: 0 });
    d2.push(bytes(V.v15));
    expect(seen).toEqual([bytes(V.v15)]);
    expect(settingFrame({ framing: 'fixed', bitrate: 500_000, frameType: 'standard' })).toEqual(bytes(V.v15));
  });
});

describe('encoders reproduce the §7 vectors byte for byte (through encodeFixed)', () => {
  const cases: Array<[string, CanFrame]> = [
    ['#1', encodeMeasurements({ voltageV: 52.7, currentA: -13.9, tempC: 13 }, 'deye')],
    ['#2', encodeMeasurements({ voltageV: 51.4, currentA: -75.5, tempC: 17 }, 'deye')],
    ['#3', encodeOnGridLimits({ chargeCurrentLimitA: 0, dischargeCurrentLimitA: 180 })],
    ['#4', encodeChargeLimits({ chargeVoltageLimitV: 53.2, chargeCurrentLimitA: 370, dischargeCurrentLimitA: 370, dischargeVoltageV: 46 })],
    ['#5', encodeSoc({ socPct: 26, sohPct: 100 }, 4)],
    ['#6', encodeDeyeIdentity({ model: '001', cellTypeCode: 5, capacityAh: 240 })],
    ['#7', encodeModuleVersion(1, { software: '3006', boot: 'V7.08' })],
    ['#8', encodeModuleFaults(1, { protections: [], alarms: [], mos: { parallelDone: true, chargeMos: true, dischargeMos: true, prechargeMos: false, heaterMos: false } })],
    ['#9', encodeModuleCounts({ normal: 2, chargeBlocked: 2, dischargeBlocked: 0, lost: 0, total: 2 })],
    ['#10', encodeModuleStatus(2, { voltageV: 53.1, currentA: 12.3, socPct: 87.5, sohPct: 100 })],
    ['#11', encodeModuleEnergy(1, { chargedKWh: 508.916, dischargedKWh: 487.052 })],
    ['#12', encodeModuleState(1, { modeCode: 1, faultLevelCode: 0, cycles: 11, balancingBits: 0x8000, subState: 0x0f })],
    ['#13', encodeAlarms({ protections: [], alarms: ['cell-high-voltage', 'cell-high-temp-charge'] }, 'deye')],
    ['#14', encodeRequests(['charge-enable', 'discharge-enable'])],
  ];
  it.each(cases)('%s', (name, frame) => {
    const key = `v${name.slice(1)}` as keyof typeof V;
    expect(encodeFixed(frame)).toEqual(bytes(V[key]));
  });

  it('the same 0x356 values put the opposite sign on the wire in the Pylontech dialect', () => {
    // §3.3: Deye + = discharge, Pylontech + = charge. 20 A charging, 53.00 V, 25.0 °C.
    expect(encodeMeasurements({ voltageV: 53, currentA: 20, tempC: 25 }, 'deye').data).toEqual(bytes('B4 14 38 FF FA 00 00 00'));
    expect(encodeMeasurements({ voltageV: 53, currentA: 20, tempC: 25 }, 'pylontech', 6).data).toEqual(bytes('B4 14 C8 00 FA 00'));
  });
});

describe('0x359 bit positions differ between the dialects (§3.4 vs §3.5)', () => {
  it('byte 0 bit 1 is "cell under-voltage" in Deye and "over-voltage" in Pylontech', () => {
    const f = std(0x359, '02 00 00 00 00 00 00 00');
    expect(decodeBms(f, 'deye')).toMatchObject({ protections: ['cell-under-voltage'], alarms: [], protectionBits: 0x02 });
    expect(decodeBms(f, 'pylontech')).toMatchObject({ protections: ['over-voltage'], alarms: [], protectionBits: 0x02 });
  });

  it('Deye starts at bit 0: bit 0 = cell over-voltage; Pylontech bit 0 of byte 0 is reserved', () => {
    const f = std(0x359, '01 00 00 00 00 00 00 00');
    expect(decodeBms(f, 'deye')).toMatchObject({ protections: ['cell-over-voltage'] });
    expect(decodeBms(f, 'pylontech')).toMatchObject({ protections: ['byte0-bit0'] });
  });

  it('Pylontech v1.2 frame: protections bytes 0–1, alarms bytes 2–3, module count, "PN"', () => {
    // §3.5: byte0 bit3 over-temp + bit7 discharge over-current; byte1 bit0 charge over-current;
    // byte2 bit4 low temp; byte3 bit3 internal comm fail; 2 modules; 'P' 'N'.
    const f = std(0x359, '88 01 10 08 02 50 4E');
    expect(decodeBms(f, 'pylontech')).toEqual({
      kind: 'alarms',
      dialect: 'pylontech',
      protections: ['over-temp', 'discharge-over-current', 'charge-over-current'],
      alarms: ['low-temp', 'internal-comm-fail'],
      protectionBits: 0x0188,
      alarmBits: 0x0810,
      systemErrorBits: 0,
      moduleCount: 2,
      pnMarker: true,
    });
    // The same bytes in the Deye layout mean other things entirely.
    expect(decodeBms(f, 'deye')).toMatchObject({
      protections: [
        'module-under-voltage',
        'cell-under-temp-charge',
        'cell-voltage-difference',
        'afe-scd',
        'mosfet-short',
        'precharge-failed',
        'reverse-charging',
        'terminal-over-temp',
        'temp-sense-open-wire',
      ],
      alarms: ['cell-low-voltage', 'mos-high-temp', 'heater-mos-stuck'],
    });
    expect(encodeAlarms({ protections: ['over-temp', 'discharge-over-current', 'charge-over-current'], alarms: ['low-temp', 'internal-comm-fail'], moduleCount: 2 }, 'pylontech').data).toEqual(f.data);
  });

  it('Deye tables: protections (bytes 0–3), alarms (4–5), system errors (6) counted as protections', () => {
    const f = std(0x359, '00 10 00 60 20 01 10 00');
    expect(decodeBms(f, 'deye')).toEqual({
      kind: 'alarms',
      dialect: 'deye',
      moduleCount: null,
      pnMarker: false,
      protections: ['mos-over-temp', 'internal-comm-fail', 'pcs-comm-fail', 'fuse-blown'],
      alarms: ['discharge-high-current', 'cell-high-temp-discharge'],
      protectionBits: 0x60001000,
      alarmBits: 0x0120,
      systemErrorBits: 0x10,
    });
    expect(encodeAlarms({ protections: ['mos-over-temp', 'internal-comm-fail', 'pcs-comm-fail', 'fuse-blown'], alarms: ['discharge-high-current', 'cell-high-temp-discharge'] }, 'deye').data).toEqual(f.data);
  });

  it('0x35C request flags: force charge and full charge (§3.6 typical 0xE0)', () => {
    expect(decodeBms(std(0x35c, 'E8 00'), 'deye')).toMatchObject({ flags: ['charge-enable', 'discharge-enable', 'force-charge-1', 'full-charge'], chargeEnable: true });
    expect(decodeBms(std(0x35c, '40 00'), 'pylontech')).toMatchObject({ flags: ['discharge-enable'], chargeEnable: false, dischargeEnable: true });
  });
});

describe('invalid and unknown frames never become telemetry', () => {
  const bad: Array<[string, CanFrame, BmsDialect, RegExp]> = [
    ['0x356 DLC 4', std(0x356, '96 14 8B 00'), 'deye', /DLC 4 on 0x356: needs 6–8 bytes/],
    ['0x355 DLC 3', std(0x355, '1A 00 64'), 'pylontech', /DLC 3/],
    ['0x35C DLC 0', std(0x35c, new Uint8Array(0)), 'deye', /DLC 0/],
    ['0x361 DLC 6', std(0x361, '38 0D 2D 0D 82 00'), 'deye', /DLC 6/],
    ['0x150 DLC 7', std(0x150, '13 02 85 FF 6B 03 E8'), 'deye', /DLC 7 on 0x150: needs 8 bytes/],
    ['SOC 101 %', std(0x355, '65 00 64 00'), 'deye', /SOC 101 % outside 0–100/],
    ['SOH 255 %', std(0x355, '32 00 FF 00'), 'pylontech', /SOH 255/],
    ['module SOC 100.1 %', std(0x150, '13 02 00 00 E9 03 E8 03'), 'deye', /module 1: SOC 100.1/],
    ['min cell 0 V', std(0x361, '38 0D 00 00 82 00 78 00'), 'deye', /min cell voltage 0 V outside 1–5/],
    ['max cell 10 V', std(0x201, '10 27 2D 0D 82 00 78 00'), 'deye', /module 2: max cell voltage 10 V/],
    ['max cell below min', std(0x361, '2D 0D 38 0D 82 00 78 00'), 'deye', /max cell voltage 3.373 V below min cell voltage 3.384 V/],
    ['temperature 200 °C', std(0x356, '96 14 8B 00 D0 07 00 00'), 'deye', /temperature 200 °C outside -50–150/],
    ['stack voltage 0 V', std(0x356, '00 00 00 00 82 00'), 'pylontech', /stack voltage 0 V/],
    ['negative charge limit', std(0x351, '14 02 9C FF 74 0E CC 01'), 'deye', /charge current limit -10 A is negative/],
    ['3 lost of 2 modules', std(0x364, '02 00 00 03 02 00 00 00'), 'deye', /3 lost modules of 2/],
    ['remote frame', { id: 0x356, extended: false, remote: true, data: new Uint8Array(8) }, 'deye', /remote frame/],
  ];
  it.each(bad)('%s is invalid', (_name, frame, dialect, reason) => {
    const m = decodeBms(frame, dialect);
    expect(m.kind).toBe('invalid');
    expect(m.kind === 'invalid' && m.reason).toMatch(reason);
  });

  it('a -40.0 °C heater reading is "no heater", not a temperature', () => {
    expect(decodeBms(std(0x251, '8C 00 70 FE 32 00 64 00'), 'deye')).toEqual({
      kind: 'module-temps-limits',
      module: 2,
      mosTempC: 14,
      heaterTempC: null,
      chargeCurrentLimitA: 50,
      dischargeCurrentLimitA: 100,
    });
  });

  it('a Pylontech-style negative discharge limit is read as its magnitude, and DLC 6 has no cut-off (§3.1)', () => {
    expect(decodeBms(std(0x351, '40 02 E8 03 18 FC'), 'pylontech')).toEqual({
      kind: 'charge-limits',
      chargeVoltageLimitV: 57.6,
      chargeCurrentLimitA: 100,
      dischargeCurrentLimitA: 100,
      dischargeVoltageV: null,
    });
  });

  it('unknown: other ids, extended ids, Deye-only ids in the Pylontech dialect', () => {
    expect(decodeBms(std(0x7ff, '00'), 'deye')).toEqual({ kind: 'unknown' });
    expect(decodeBms(std(0x35a, '00 00 00 00 00 00 00 00'), 'deye')).toEqual({ kind: 'unknown' });
    expect(decodeBms({ id: 0x356, extended: true, remote: false, data: bytes('96 14 8B 00 82 00 00 00') }, 'deye')).toEqual({ kind: 'unknown' });
    for (const id of [0x358, 0x361, 0x363, 0x364, 0x371, 0x110, 0x150, 0x751]) {
      expect(decodeBms(std(id, new Uint8Array(8)), 'pylontech')).toEqual({ kind: 'unknown' });
    }
    // Module offsets stop at 0x3F so the bases stay disjoint (§4): 0x190 is no module frame.
    const status = '13 02 85 FF 6B 03 E8 03'; // §7 #10 payload
    expect(decodeBms(std(0x18f, status), 'deye')).toMatchObject({ kind: 'module-status', module: 64 });
    expect(decodeBms(std(0x190, status), 'deye')).toEqual({ kind: 'unknown' });
  });

  it('never throws, whatever the bytes (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7ff }),
        fc.uint8Array({ minLength: 0, maxLength: 8 }),
        fc.boolean(),
        fc.constantFrom<BmsDialect>('deye', 'pylontech'),
        (id, data, remote, dialect) => {
          const m = decodeBms({ id, extended: false, remote, data }, dialect);
          expect(typeof m.kind).toBe('string');
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('other messages round-trip through their encoders', () => {
  const cases: Array<[string, CanFrame, BmsDialect, BmsMessage]> = [
    ['0x35E Pylontech', encodePylonIdentity(), 'pylontech', { kind: 'identity', text: 'PYLON', manufacturer: 'PYLON', dialect: 'pylontech', model: null, cellTypeCode: null, cellType: null, capacityAh: null }],
    ['0x361', encodeCellExtremes({ cellHighV: 3.384, cellLowV: 3.373, tempHighC: 13, tempLowC: 12 }), 'deye', { kind: 'cell-extremes', cellHighV: 3.384, cellLowV: 3.373, cellDeltaV: 0.011, tempHighC: 13, tempLowC: 12 }],
    ['0x363', encodeVersions({ software: '0201', hardware: '0556' }), 'deye', { kind: 'versions', software: '0201', hardware: '0556' }],
    ['0x358', encodeUsbPower({ powerW: 12.5, energyWh: 100000.1, switchState: 1 }), 'deye', { kind: 'usb-power', powerW: 12.5, energyWh: 100000.1, switchState: 1 }],
    ['0x306', encodeUsbControl({ open: true, disableS: 300 }), 'deye', { kind: 'usb-control', open: true, disableS: 300 }],
    ['0x201', encodeModuleCells(2, { cellHighV: 3.383, cellLowV: 3.373, tempHighC: 13, tempLowC: 12 }), 'deye', { kind: 'module-cells', module: 2, cellHighV: 3.383, cellLowV: 3.373, cellDeltaV: 0.01, tempHighC: 13, tempLowC: 12 }],
    ['0x250', encodeModuleTempsLimits(1, { mosTempC: 14, heaterTempC: 5.5, chargeCurrentLimitA: 0, dischargeCurrentLimitA: 100 }), 'deye', { kind: 'module-temps-limits', module: 1, mosTempC: 14, heaterTempC: 5.5, chargeCurrentLimitA: 0, dischargeCurrentLimitA: 100 }],
    ['0x601', encodeModuleSerial(2, 1, 'DY2345AB'), 'deye', { kind: 'module-serial', module: 2, part: 1, text: 'DY2345AB' }],
    ['0x651', encodeModuleSerial(2, 2, 'CD678901'), 'deye', { kind: 'module-serial', module: 2, part: 2, text: 'CD678901' }],
    ['0x700', encodeModuleTripCounts1(1, { overCharge: 1, overDischarge: 2, shortCircuit: 3, mosOverTemp: 4 }), 'deye', { kind: 'module-trip-counts-1', module: 1, overCharge: 1, overDischarge: 2, shortCircuit: 3, mosOverTemp: 4 }],
    ['0x751', encodeModuleTripCounts2(2, { chargeOverCurrent: 5, dischargeOverCurrent: 6, chargeOverTemp: 7, dischargeOverTemp: 8 }), 'deye', { kind: 'module-trip-counts-2', module: 2, chargeOverCurrent: 5, dischargeOverCurrent: 6, chargeOverTemp: 7, dischargeOverTemp: 8 }],
  ];
  it.each(cases)('%s', (_name, frame, dialect, want) => {
    expect(decodeBms(frame, dialect)).toEqual(want);
  });

  it('0x305 heartbeat: Deye time format (§3.10) or eight zero bytes', () => {
    const hb = encodeHeartbeat(Date.UTC(2026, 2, 14, 15, 9, 26));
    expect(hb).toEqual(std(0x305, '1A 09 0F 0E 03 1A 00 00'));
    expect(decodeBms(hb, 'deye')).toEqual({ kind: 'heartbeat', time: { year: 2026, month: 3, day: 14, hour: 15, minute: 9, second: 26 } });
    expect(encodeHeartbeat(null)).toEqual(std(0x305, '00 00 00 00 00 00 00 00'));
    expect(decodeBms(encodeHeartbeat(null), 'pylontech')).toEqual({ kind: 'heartbeat', time: null });
  });

  it('encoders refuse values the wire cannot carry and flag names the dialect lacks', () => {
    expect(() => encodeSoc({ socPct: NaN, sohPct: 100 })).toThrow(RangeError);
    expect(() => encodeMeasurements({ voltageV: 400, currentA: 0, tempC: 0 }, 'deye')).toThrow(/voltage 400/);
    expect(() => encodeAlarms({ protections: ['over-voltage'], alarms: [] }, 'deye')).toThrow(/no bit named "over-voltage"/);
    expect(() => encodeAlarms({ protections: ['cell-over-voltage'], alarms: [] }, 'pylontech')).toThrow(/no bit named/);
    expect(() => encodeModuleStatus(0, { voltageV: 53, currentA: 0, socPct: 50, sohPct: 100 })).toThrow(/module 0/);
  });
});

describe('Waveshare fixed framing as the BMS adapter delivers it (§6.4)', () => {
  it('rejects a frame with a bad checksum and keeps the next one', () => {
    const corrupt = bytes(V.v1);
    corrupt[19] = 0x1c;
    const dec = new WaveshareDecoder();
    const frames = dec.push(Uint8Array.of(...corrupt, ...bytes(V.v4)));
    expect(frames.map((f) => decodeBms(f, 'deye').kind)).toEqual(['charge-limits']);
    expect(dec.stats.badChecksum).toBeGreaterThanOrEqual(1);
  });

  it('a corrupted payload byte is caught by the checksum, not decoded as telemetry', () => {
    const corrupt = bytes(V.v5);
    corrupt[10] = 0x65; // SOC 26 → 101, checksum no longer matches
    const dec = new WaveshareDecoder();
    expect(dec.push(corrupt)).toEqual([]);
    expect(dec.stats.badChecksum).toBe(1);
  });

  it('skips junk between frames, including stray AA and AA 55, and frames split across reads', () => {
    const stream = Uint8Array.of(
      ...bytes('00 AA 13 AA 55 01'),
      ...bytes(V.v1),
      ...bytes('AA AA 55 FF'),
      ...bytes(V.v7), // carries 0xAA in its payload
      ...bytes('55 AA'),
      ...bytes(V.v13),
    );
    const dec = new WaveshareDecoder();
    const out: CanFrame[] = [];
    // Odd chunk sizes, as USB reads split and merge frames.
    for (let i = 0; i < stream.length; i += 7) dec.push(stream.subarray(i, i + 7), out);
    expect(out.map((f) => f.id)).toEqual([0x356, 0x500, 0x359]);
    expect(decodeBms(out[1]!, 'deye')).toMatchObject({ kind: 'module-version', boot: 'V7.08' });
    expect(dec.stats.frames).toBe(3);
    expect(dec.stats.droppedBytes).toBeGreaterThan(0);
  });
});
