/**
 * PI18 codec on the byte-exact vectors of /work/shared/protocols/pi18.md (section cited on each).
 */
import { describe, expect, it } from 'vitest';
import {
  buildFrame,
  crc16xmodem,
  crcMatches,
  decodeCurrentList,
  decodeEnergy,
  decodeFws,
  decodeGs,
  decodeId,
  decodeMod,
  decodePgs,
  decodePiri,
  decodeSetterCommand,
  decodeVfw,
  encodeIdPayload,
  encodePiriPayload,
  encodeSetting,
  frameText,
  parseLine,
  pi18Crc,
  requestLength,
  settingMatchesPiri,
  type Pi18Frame,
  type Pi18Setting,
} from '../../../src/families/pi18/codec.js';

const hex = (s: string) => Uint8Array.from(s.trim().split(/\s+/), (h) => parseInt(h, 16));
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
/** A line as the device sends it: the ASCII text then the CRC bytes given in the reference, then CR. */
const line = (text: string, crc: string) => Uint8Array.from([...ascii(text), ...hex(crc), 0x0d]);

function parsed(bytes: Uint8Array): Pi18Frame {
  const r = parseLine(bytes);
  if (!r.ok) throw new Error(r.reason);
  return r.frame;
}

function payloadOf(bytes: Uint8Array): string {
  const f = parsed(bytes);
  if (f.type !== 'data') throw new Error(`not data: ${f.type}`);
  return f.payload;
}

function ok<T>(r: { ok: true; value: T } | { ok: false; reason: string }): T {
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

// §4.1 example (PM test data).
const PIRI_LINE = line('^D0882300,217,2300,500,217,5000,5000,480,480,530,440,570,570,2,10,070,1,1,1,9,0,0,0,0,1,00', 'e1 6b');
// §4.2 example (PM test data).
const GS_LINE = line(
  '^D1062232,499,2232,499,1406,1376,028,549,000,000,000,010,095,060,000,000,0082,0000,1604,0000,0,2,0,1,1,1,1,0',
  '44 12',
);
// §4.4 example (MS pi18lvx, CRC byte restored).
const FWS_LINE = line('^D03900,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0', 'b6 9e');

describe('PI18 CRC (§2)', () => {
  it('is CRC-16/XMODEM: check value of "123456789" is 0x31C3', () => {
    expect(crc16xmodem(ascii('123456789'))).toBe(0x31c3);
  });

  it('reproduces every worked example of §2.1 byte for byte', () => {
    // §2.1 table: frame text → full frame hex.
    const vectors: [Pi18Frame, string][] = [
      [{ type: 'query', command: 'PI' }, '5e 50 30 30 35 50 49 71 8b 0d'],
      [{ type: 'query', command: 'PIRI' }, '5e 50 30 30 37 50 49 52 49 ee 38 0d'],
      [{ type: 'query', command: 'ET' }, '5e 50 30 30 35 45 54 4e 91 0d'],
      [{ type: 'set', command: 'PBT1' }, '5e 53 30 30 37 50 42 54 31 83 85 0d'],
      [{ type: 'set', command: 'MCHGV552,540' }, '5e 53 30 31 35 4d 43 48 47 56 35 35 32 2c 35 34 30 88 e8 0d'],
      // raw CRC 0x0D10: the reserved 0x0D is bumped to 0x0E.
      [{ type: 'set', command: 'POP1' }, '5e 53 30 30 37 50 4f 50 31 0e 10 0d'],
      // raw CRC 0xD700: MS/PM bump 0x00 → 0x01 (what MS sent in our run).
      [{ type: 'set', command: 'BUCD440,540' }, '5e 53 30 31 34 42 55 43 44 34 34 30 2c 35 34 30 d7 01 0d'],
      [{ type: 'set', command: 'PSDV440' }, '5e 53 30 31 30 50 53 44 56 34 34 30 1f ba 0d'],
      [{ type: 'ack' }, '5e 31 0b c2 0d'],
      [{ type: 'nak' }, '5e 30 1b e3 0d'],
      [{ type: 'data', payload: '05' }, '5e 44 30 30 35 30 35 d9 9f 0d'],
    ];
    for (const [frame, want] of vectors) expect(toHex(buildFrame(frame)), JSON.stringify(frame)).toBe(want);
    // §2.1 VFW reply: `^D02005220,00000,00000` → CRC 3E F8.
    expect(toHex(buildFrame({ type: 'data', payload: '05220,00000,00000' })).slice(-8)).toBe('3e f8 0d');
  });

  it('the vendor variant leaves 0x00 alone (§2: BUCD440,540 → d7 00)', () => {
    expect(toHex(buildFrame({ type: 'set', command: 'BUCD440,540' }, 'vendor')).slice(-8)).toBe('d7 00 0d');
  });

  it('the raw CRCs of §2 with a 0x00 byte: MUCHGC3,030 = 0x000F, BUCD490,530 = 0x00D4, MCHGV500,517 = 0x0078', () => {
    expect(crc16xmodem(ascii('^S014MUCHGC3,030'))).toBe(0x000f);
    expect(crc16xmodem(ascii('^S014BUCD490,530'))).toBe(0x00d4);
    expect(crc16xmodem(ascii('^S015MCHGV500,517'))).toBe(0x0078);
    expect(pi18Crc(ascii('^S014MUCHGC3,030'))).toEqual([0x01, 0x0f]);
    expect(pi18Crc(ascii('^S014MUCHGC3,030'), 'vendor')).toEqual([0x00, 0x0f]);
  });

  it('on receive accepts 0x00 or 0x01 where the computed byte is 0x00, and nothing else there (§2 "Receive")', () => {
    const head = ascii('^S014BUCD440,540');
    expect(crcMatches(head, 0xd7, 0x00)).toBe(true);
    expect(crcMatches(head, 0xd7, 0x01)).toBe(true);
    expect(crcMatches(head, 0xd7, 0x02)).toBe(false);
    // A bumped reserved byte must be bumped: POP1's raw 0x0D is only valid as 0x0E.
    const pop = ascii('^S007POP1');
    expect(crcMatches(pop, 0x0e, 0x10)).toBe(true);
    expect(crcMatches(pop, 0x0d, 0x10)).toBe(false);
    expect(parsed(hex('5e 53 30 31 34 42 55 43 44 34 34 30 2c 35 34 30 d7 00 0d'))).toMatchObject({ type: 'set', command: 'BUCD440,540' });
  });
});

describe('PI18 framing (§1)', () => {
  it('uses the literal prefixes proven on hardware for FWS, ACCT and ACLT (§1.1, §5)', () => {
    expect(requestLength('P', 'FWS')).toBe(5);
    expect(requestLength('P', 'ACCT')).toBe(5);
    expect(requestLength('S', 'ACLT0000,0600')).toBe(14);
    expect(requestLength('P', 'PIRI')).toBe(7);
    expect(requestLength('S', 'MCHGV552,540')).toBe(15);
    expect(new TextDecoder().decode(buildFrame({ type: 'query', command: 'FWS' }).subarray(0, 8))).toBe('^P005FWS');
    expect(new TextDecoder().decode(buildFrame({ type: 'query', command: 'MOD' }).subarray(0, 8))).toBe('^P006MOD');
  });

  it('parses acks, naks, data, requests and a PI30 (NAK', () => {
    expect(parsed(hex('5e 31 0b c2 0d')).type).toBe('ack');
    expect(parsed(hex('5e 30 1b e3 0d')).type).toBe('nak');
    expect(parsed(hex('5e 44 30 30 35 30 35 d9 9f 0d'))).toMatchObject({ type: 'data', payload: '05' });
    expect(parsed(hex('5e 50 30 30 37 50 49 52 49 ee 38 0d'))).toMatchObject({ type: 'query', command: 'PIRI' });
    expect(parsed(buildFrame({ type: 'nak30', text: '(NAK' }))).toMatchObject({ type: 'nak30', text: '(NAK' });
  });

  it('keeps a data frame whose length field disagrees, flagged (EG4 PIRI says ^D088 with 86 chars, §1.2)', () => {
    const payload = '2300,217,2300,500,217,5000,5000,480,480,530,440,570,570,3,100,070,1,1,1,9,0,0,0,0,1,00';
    const text = `^D088${payload}`;
    const [hi, lo] = pi18Crc(ascii(text));
    const f = parsed(Uint8Array.from([...ascii(text), hi, lo, 0x0d]));
    expect(f).toMatchObject({ type: 'data', payload, lengthMismatch: true });
    expect(parsed(PIRI_LINE).type === 'data' && (parsed(PIRI_LINE) as { lengthMismatch?: boolean }).lengthMismatch).toBeFalsy();
  });

  it('refuses a bad CRC, a non-digit length and a line without CR, with a reason', () => {
    const bad = PIRI_LINE.slice();
    bad[bad.length - 2] ^= 0xff;
    expect(parseLine(bad)).toMatchObject({ ok: false, reason: expect.stringMatching(/CRC/) });
    const text = '^DX05' + '05';
    const [hi, lo] = pi18Crc(ascii(text));
    expect(parseLine(Uint8Array.from([...ascii(text), hi, lo, 0x0d]))).toMatchObject({ ok: false, reason: expect.stringMatching(/length/) });
    expect(parseLine(hex('5e 31 0b c2 0e'))).toMatchObject({ ok: false });
  });

  it('renders readable text for frame records', () => {
    expect(frameText({ type: 'query', command: 'PIRI' })).toBe('^P007PIRI <ee38>');
    expect(frameText(parsed(hex('5e 31 0b c2 0d')))).toBe('^1 <0bc2>');
  });
});

describe('PI18 decoders (§4, §6)', () => {
  it('PIRI (§4.1 example): 26 fields, settings and ratings', () => {
    const p = ok(decodePiri(payloadOf(PIRI_LINE)));
    expect(p).toMatchObject({
      acInputRatedVoltageV: 230,
      acInputRatedCurrentA: 21.7,
      acOutputRatedVoltageV: 230,
      acOutputRatedFrequencyHz: 50,
      acOutputRatedCurrentA: 21.7,
      acOutputRatedApparentPowerVA: 5000,
      acOutputRatedActivePowerW: 5000,
      batteryRatedVoltageV: 48,
      stopDischargeVoltageV: 48,
      stopChargeVoltageV: 53,
      cutoffVoltageV: 44,
      bulkVoltageV: 57,
      floatVoltageV: 57,
      batteryType: 'user',
      maxUtilityChargingCurrentA: 10,
      maxChargingCurrentA: 70,
      inputVoltageRange: 'ups',
      outputSourcePriority: 'solar_battery_utility',
      chargerPriority: 'solar_and_utility',
      parallelMaxNum: 9,
      machineType: 'off_grid',
      topology: 'transformerless',
      outputMode: 'single',
      solarPowerPriority: 'battery_load_utility',
      mpptStrings: 1,
      extra: ['00'],
    });
    // Re-encoding gives the same payload (the simulator's replies are real-shaped).
    expect(encodePiriPayload(p)).toBe(payloadOf(PIRI_LINE));
  });

  it('PIRI: an undocumented battery type decodes to {unknown: 3} (EG4 capture, §4.1) and is never re-encoded', () => {
    const payload = payloadOf(PIRI_LINE).replace(',570,2,10,', ',570,3,10,');
    const p = ok(decodePiri(payload));
    expect(p.batteryType).toEqual({ unknown: 3 });
    expect(encodeSetting({ key: 'battery_type', value: { unknown: 3 } } as unknown as Pi18Setting)).toMatchObject({ ok: false });
  });

  it('PIRI: too few fields or a non-number field is a value, not a throw', () => {
    expect(decodePiri('2300,217')).toMatchObject({ ok: false });
    expect(decodePiri(payloadOf(PIRI_LINE).replace('5000,5000', '5000,50x0'))).toMatchObject({ ok: false, reason: expect.stringMatching(/active power/) });
  });

  it('GS (§4.2 example), #28 is the parallel index', () => {
    const g = ok(decodeGs(payloadOf(GS_LINE)));
    expect(g).toMatchObject({
      gridVoltageV: 223.2,
      gridFrequencyHz: 49.9,
      acOutputVoltageV: 223.2,
      acOutputFrequencyHz: 49.9,
      acOutputApparentPowerVA: 1406,
      acOutputActivePowerW: 1376,
      outputLoadPct: 28,
      batteryVoltageV: 54.9,
      batteryDischargeCurrentA: 0,
      batteryChargeCurrentA: 10,
      batteryCapacityPct: 95,
      heatSinkTempC: 60,
      pv1PowerW: 82,
      pv2PowerW: 0,
      pv1VoltageV: 160.4,
      settingChanged: false,
      mppt1Status: 'charging',
      mppt2Status: 'abnormal',
      loadConnected: true,
      batteryDirection: 'charge',
      dcAcDirection: 'ac_to_dc',
      lineDirection: 'input',
      parallelId: 0,
    });
  });

  it('MOD (§4.3): ^D00505 → hybrid; an unlisted code is kept', () => {
    expect(ok(decodeMod(payloadOf(hex('5e 44 30 30 35 30 35 d9 9f 0d'))))).toEqual({ mode: 'hybrid', code: 5 });
    expect(ok(decodeMod('09'))).toEqual({ mode: { unknown: 9 }, code: 9 });
  });

  it('FWS (§4.4 example): 18 fields, no fault, no warnings; fault 86 in words', () => {
    const f = ok(decodeFws(payloadOf(FWS_LINE)));
    expect(f.faultCode).toBe(0);
    expect(f.faultText).toBe('no fault');
    expect(Object.values(f.warnings).every((v) => v === false)).toBe(true);
    expect(f.extra).toEqual(['0']);
    const g = ok(decodeFws('86,1,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0'));
    expect(g.faultText).toBe('parallel output setting different');
    expect(g.warnings.line_fail).toBe(true);
    expect(g.warnings.overload).toBe(true);
  });

  it('ID (§4.5 PDF example) and the seed serial', () => {
    expect(ok(decodeId('1401234567890123456789'))).toEqual({ serial: '01234567890123', raw: '1401234567890123456789' });
    expect(ok(decodeId('1496142109100037000000')).serial).toBe('96142109100037');
    expect(encodeIdPayload('96142109100037')).toBe('1496142109100037000000');
    expect(decodeId('99123')).toMatchObject({ ok: false });
  });

  it('VFW (§2.1 reply), PI (§4.5), ET/EY (§6), MCHGCR (§6)', () => {
    const vfw = line('^D02005220,00000,00000', '3e f8');
    expect(ok(decodeVfw(payloadOf(vfw)))).toEqual({ main: '05220', slave1: '00000', slave2: '00000' });
    expect(payloadOf(line('^D00518', '3b 03'))).toBe('18');
    expect(ok(decodeEnergy(payloadOf(line('^D01105580051', '0b 9f'))))).toEqual({ energy: 5580051 });
    expect(ok(decodeCurrentList(payloadOf(line('^D034010,020,030,040,050,060,070,080', '16 31'))))).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
    // §6 FLAG and T samples are intact frames too.
    expect(payloadOf(line('^D0200,0,0,0,0,1,0,0,12', 'c2 39'))).toBe('0,0,0,0,0,1,0,0,12');
    expect(payloadOf(line('^D01720210521234743', '0e 52'))).toBe('20210521234743');
  });

  it('PGS0 (§6 sample): 29 fields', () => {
    const pgs = line('^D1131,5,00,2387,499,2387,499,0716,0165,01232,00505,012,004,518,000,015,031,036,1137,0000,2088,0000,2,0,1,1,2,1,037', '8a 24');
    expect(ok(decodePgs(payloadOf(pgs)))).toMatchObject({
      exists: true,
      workMode: 'hybrid',
      faultCode: 0,
      gridVoltageV: 238.7,
      acOutputVoltageV: 238.7,
      acOutputFrequencyHz: 49.9,
      acOutputApparentPowerVA: 716,
      acOutputActivePowerW: 165,
      totalApparentPowerVA: 1232,
      totalActivePowerW: 505,
      outputLoadPct: 12,
      totalLoadPct: 4,
      batteryVoltageV: 51.8,
      batteryChargeCurrentA: 15,
      totalChargeCurrentA: 31,
      batteryCapacityPct: 36,
      pv1PowerW: 1137,
      pv1VoltageV: 208.8,
      maxTempC: 37,
    });
  });
});

describe('PI18 setter encoders (§5, workflow §1)', () => {
  const cases: [Pi18Setting, number, string][] = [
    [{ key: 'battery_type', value: 'user' }, 0, 'PBT2'],
    [{ key: 'cutoff_voltage', volts: 44 }, 0, 'PSDV440'],
    [{ key: 'battery_thresholds', stopDischargeV: 44, stopChargeV: 54 }, 0, 'BUCD440,540'],
    [{ key: 'battery_thresholds', stopDischargeV: 48, stopChargeV: 'full' }, 0, 'BUCD480,000'],
    [{ key: 'charge_voltages', bulkV: 55.2, floatV: 54 }, 0, 'MCHGV552,540'],
    [{ key: 'max_charging_current', amps: 60 }, 0, 'MCHGC0,060'],
    [{ key: 'max_utility_charging_current', amps: 30 }, 0, 'MUCHGC0,030'],
    [{ key: 'max_utility_charging_current', amps: 2 }, 1, 'MUCHGC1,002'],
    [{ key: 'output_source_priority', value: 'solar_battery_utility' }, 0, 'POP1'],
    [{ key: 'charger_priority', value: 'solar_only' }, 1, 'PCP1,2'],
    [{ key: 'solar_power_priority', value: 'load_battery_utility' }, 0, 'PSP1'],
    [{ key: 'grid_tie', enabled: true }, 0, 'PEI'],
    [{ key: 'grid_tie', enabled: false }, 0, 'PDI'],
  ];
  it('encodes every profile setter and decodes it back', () => {
    for (const [s, unit, text] of cases) {
      expect(encodeSetting(s, unit)).toEqual({ ok: true, command: text });
      const back = decodeSetterCommand(text);
      expect(back).toMatchObject({ ok: true, setting: s });
    }
    // §2.1: ^S015MCHGV552,540 → 88 E8 over the encoder's text.
    const mchgv = encodeSetting({ key: 'charge_voltages', bulkV: 55.2, floatV: 54 });
    expect(mchgv.ok && toHex(buildFrame({ type: 'set', command: mchgv.command })).slice(-8)).toBe('88 e8 0d');
  });

  it('refuses (does not round) a voltage with two decimals, and values the wire cannot carry', () => {
    expect(encodeSetting({ key: 'cutoff_voltage', volts: 44.05 })).toMatchObject({ ok: false });
    expect(encodeSetting({ key: 'max_charging_current', amps: 60.5 })).toMatchObject({ ok: false });
    expect(encodeSetting({ key: 'max_charging_current', amps: 60 }, 12)).toMatchObject({ ok: false });
    expect(encodeSetting({ key: 'charger_priority', value: 'nope' as never })).toMatchObject({ ok: false });
  });

  it('read-back comparison: voltages within 0.05 V, the rest exact', () => {
    const p = ok(decodePiri(payloadOf(PIRI_LINE)));
    expect(settingMatchesPiri({ key: 'cutoff_voltage', volts: 44.0 }, p)).toBe(true);
    expect(settingMatchesPiri({ key: 'cutoff_voltage', volts: 44.1 }, p)).toBe(false);
    expect(settingMatchesPiri({ key: 'battery_thresholds', stopDischargeV: 48, stopChargeV: 53 }, p)).toBe(true);
    expect(settingMatchesPiri({ key: 'max_charging_current', amps: 70 }, p)).toBe(true);
    expect(settingMatchesPiri({ key: 'grid_tie', enabled: false }, p)).toBe(true);
    expect(settingMatchesPiri({ key: 'battery_type', value: 'agm' }, p)).toBe(false);
  });
});
