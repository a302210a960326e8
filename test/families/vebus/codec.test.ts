/**
 * MK2 codec and framer on every worked example of shared/protocols/vebus-mk2.md §11 and the
 * default-scenario frames of vebus-mk2-simulation.md §5. Each test cites its section.
 */
import { describe, expect, it } from 'vitest';
import {
  addressSelect,
  applyRamVar,
  applySetting,
  checksumOf,
  decodeAcInfo,
  decodeAcInputConfig,
  decodeDcInfo,
  decodeDeviceState,
  decodeFrame,
  decodeLedReply,
  decodeRamVarInfo,
  decodeRamVarValues,
  decodeSettingInfo,
  decodeSoftwareVersion,
  decodeVersion,
  decodeWinmon,
  describeFrame,
  encodeFrame,
  flagLocation,
  fromHex,
  getRamVarInfo,
  hex,
  infoRequest,
  mkFrame,
  ramVarRange,
  ramVarScaling,
  rawOfRamVar,
  rawOfSetting,
  readRamVars,
  softwareVersion,
  typicalRamVarInfo,
  versionRequest,
  writeViaId,
  combinedModeCommand,
  type Mk2Frame,
  type RamVarInfo,
} from '../../../src/families/vebus/codec.js';
import { Mk2Framer } from '../../../src/families/vebus/framer.js';

const frame = (h: string): Mk2Frame => {
  const f = decodeFrame(fromHex(h));
  if (!f) throw new Error(`not a frame: ${h}`);
  return f;
};
const wm = (h: string) => decodeWinmon(frame(h))!;
const scaling = { ram: typicalRamVarInfo };

describe('MK2 frames and checksums (vebus-mk2.md §2, §11)', () => {
  it('§11 #1: A select address 0 encodes to 04 FF 41 01 00 BB and decodes back', () => {
    expect(hex(encodeFrame(addressSelect(0)))).toBe('04 FF 41 01 00 BB');
  });
  it('§11 #2: V request is 02 FF 56 A9', () => {
    expect(hex(encodeFrame(versionRequest()))).toBe('02 FF 56 A9');
  });
  it('§11 #3 and #4: V frames carry the u32 version and the mode or address byte', () => {
    expect(decodeVersion(frame('07 FF 56 24 DB 11 00 42 52'))).toEqual({ version: 1170212, tail: 'B' });
    expect(decodeVersion(frame('07 FF 56 94 3E 11 00 00 C1'))).toEqual({ version: 1130132, tail: 0 });
  });
  it('§11: every worked example has a checksum that makes the byte sum 0 and re-encodes identically', () => {
    const examples = [
      '04 FF 41 01 00 BB',
      '02 FF 56 A9',
      '07 FF 56 24 DB 11 00 42 52',
      '07 FF 56 94 3E 11 00 00 C1',
      '08 FF 4C 01 0C 00 00 80 00 20',
      '0F 20 01 01 01 09 08 EC 5A 5F FF EC 5A 08 00 C3 08',
      '05 FF 59 36 00 00 6D',
      '07 FF 59 8E 9C 7F 00 00 F8',
      '03 FF 5A 8E 16',
      '0D FF 5A 89 01 00 00 00 03 00 01 00 03 00 09',
      '07 FF 59 37 01 40 D0 07 52',
      '03 FF 59 88 1D',
      '07 FF 5A 37 00 83 72 01 73',
      '03 FF 5A 87 1D',
      '05 FF 58 30 80 00 F4',
      '07 FF 58 85 90 00 61 59 D3',
      '07 FF 58 37 01 00 14 81 D5',
      '03 FF 58 05 A1',
      '09 FF 58 82 F0 68 28 00 07 01 96',
      '06 FF 46 06 0E 10 0F 82',
      '03 FF 58 38 6E',
      '09 FF 58 99 89 FE 05 00 72 01 08',
      '05 3F 07 00 00 00 C2',
    ];
    for (const h of examples) {
      const bytes = fromHex(h);
      expect(checksumOf(bytes.subarray(0, bytes.length - 1)), h).toBe(bytes[bytes.length - 1]);
      expect(hex(encodeFrame(frame(h))), h).toBe(h);
    }
  });
  it('§2 odd checksum rule, §11 #16: 05 3F 07 00 00 00 C2 (nibble-swapped bytes 1, 3, 5 added)', () => {
    expect(checksumOf(fromHex('05 3F 07 00 00 00'))).toBe(0xc2);
    // The normal rule would give another byte: the odd rule is what makes it C2.
    expect((-(0x05 + 0x3f + 0x07) & 0xff).toString(16)).not.toBe('c2');
  });
  it('§11 #7, #10, #11, #12, #13, #14, #15: request builders give the documented bytes', () => {
    expect(hex(encodeFrame(getRamVarInfo('Y', 0)))).toBe('05 FF 59 36 00 00 6D');
    expect(hex(encodeFrame(writeViaId('Y', 'setting', 64, 2000)))).toBe('07 FF 59 37 01 40 D0 07 52');
    expect(hex(encodeFrame(writeViaId('Z', 'ram-var', 131, 370)))).toBe('07 FF 5A 37 00 83 72 01 73');
    expect(hex(encodeFrame(readRamVars('X', [128, 0])))).toBe('05 FF 58 30 80 00 F4');
    expect(hex(encodeFrame(writeViaId('X', 'setting', 0, 0x8114)))).toBe('07 FF 58 37 01 00 14 81 D5');
    expect(hex(encodeFrame(softwareVersion('X')))).toBe('03 FF 58 05 A1');
    expect(hex(encodeFrame(infoRequest(6, 14, 16, 15)))).toBe('06 FF 46 06 0E 10 0F 82');
  });
  it('§4: RAM-only on a RAM variable is refused by the builder', () => {
    expect(() => writeViaId('X', 'ram-var', 13, 1, true)).toThrow(/meaningless/);
  });
  it('§3.1, §5 step 3: the combined-mode S is switch 3, limit unchanged, flags 0x90, ext0 0, eeprom 0', () => {
    expect(hex(encodeFrame(combinedModeCommand()))).toBe(hex(encodeFrame(mkFrame('S', 3, 0x00, 0x80, 0x01, 0x90, 0x00, 0x00, 0x00))));
  });
  it('§2: LEN bit 7 means LED bytes are appended before the checksum', () => {
    const f: Mk2Frame = { type: 0xff, body: Uint8Array.from([0x56, 1, 2, 3, 4, 0]), leds: { on: 0x05, blink: 0x00 } };
    const bytes = encodeFrame(f);
    expect(bytes[0]).toBe(0x80 | 9);
    expect(decodeFrame(bytes)).toEqual(f);
  });
});

describe('MK replies and info frames (vebus-mk2.md §3, §6; simulation §5)', () => {
  it('§11 #5: L reply of a real MK3 (6 data bytes): mains on, bulk and float blinking, then 80 00', () => {
    const r = decodeLedReply(frame('08 FF 4C 01 0C 00 00 80 00 20'))!;
    expect(r.leds).toMatchObject({ mains: 'on', bulk: 'blink', float: 'blink', absorption: 'off', inverter: 'off' });
    expect(r).toMatchObject({ alarms: 0, error: 0, errorFlags: 0, extra: [0x80, 0x00] });
  });
  it('§10 divergence 2: the 2- and 3-byte SPEC forms of L are accepted too; 1F/1F = no LED info', () => {
    expect(decodeLedReply(mkFrame('L', 0x01, 0x00))).toMatchObject({ alarms: null, error: null });
    expect(decodeLedReply(mkFrame('L', 0x01, 0x00, 0x60))).toMatchObject({ alarms: 0x60, alarmNames: ['low_battery', 'overload'] });
    expect(decodeLedReply(mkFrame('L', 0x1f, 0x1f, 0, 0, 0x80, 0))!.leds).toBeNull();
    expect(decodeLedReply(mkFrame('L', 0x01, 0x00, 0, 0x9a, 0x80, 0))).toMatchObject({ error: 26, errorFlags: 0x80 });
  });
  it('§6.3 both LED bits set = blinking in anti-phase', () => {
    expect(decodeLedReply(mkFrame('L', 0x10, 0x10, 0, 0, 0x80, 0))!.leds!.inverter).toBe('blink-inverse');
  });
  it('§11 #6: AC info L1 (MARTI): charge, 232.76 V, −1.61 A (signed), 0.08 A out, ≈ 50 Hz', () => {
    const a = decodeAcInfo(frame('0F 20 01 01 01 09 08 EC 5A 5F FF EC 5A 08 00 C3 08'), scaling)!;
    expect(a).toMatchObject({ phase: 1, phases: 1, state: 9, stateName: 'charge', mainsVoltageV: 232.76, mainsCurrentA: -1.61, inverterVoltageV: 232.76, inverterCurrentA: 0.08, mainsPeriod: 195 });
    expect(a.mainsFrequencyHz!).toBeCloseTo(50.05, 2);
  });
  it('simulation §5.2: AC L1 of the default scenario', () => {
    const a = decodeAcInfo(frame('0F 20 01 01 00 09 08 E4 59 6B 01 DD 59 78 00 C3 A4'), scaling)!;
    expect(a).toMatchObject({ backfeedFactor: 1, inverterFactor: 1, state: 9, mainsVoltageV: 230.12, mainsCurrentA: 3.63, inverterVoltageV: 230.05, inverterCurrentA: 1.2 });
  });
  it('§6.2 / §10 divergence 8: inverter current is read signed although its info says unsigned; 0xFF period = no mains', () => {
    // Negative inverter current 0xFF88 = −1.20 A, mains period 0xFF, state 4 (invert full).
    const body = Uint8Array.from([0x01, 0x01, 0x00, 0x04, 0x08, 0, 0, 0, 0, 0xdd, 0x59, 0x88, 0xff, 0xff]);
    const g = decodeFrame(encodeFrame({ type: 0x20, body }))!;
    const a = decodeAcInfo(g, scaling)!;
    expect(a.inverterCurrentA).toBe(-1.2);
    expect(a.mainsFrequencyHz).toBeNull();
    expect(a.stateName).toBe('invert_full');
  });
  it('simulation §5.1: DC frame: 52.80 V, inverter 0 A, charger 10.0 A, battery +10.0 A, ≈ 49.95 Hz', () => {
    const d = decodeDcInfo(frame('0F 20 00 00 00 00 0C A0 14 00 00 00 64 00 00 87 26'), scaling)!;
    expect(d).toMatchObject({ voltage: 5280, voltageV: 52.8, inverterCurrentA: 0, chargerCurrentA: 10, batteryCurrentA: 10, inverterPeriod: 135 });
    expect(d.inverterFrequencyHz!).toBeCloseTo(49.95, 2);
  });
  it('simulation §5.3: 0x41 frame: LEDs mains+bulk, one input, limit settable, 3.0–50.0 A, actual 16.0 A', () => {
    const c = decodeAcInputConfig(frame('0D 41 10 05 00 00 14 1E 00 F4 01 A0 00 77 5F'))!;
    expect(c).toMatchObject({ subId: 0x10, status: 0, acInputs: 1, limitRemotelySettable: true, minLimitA: 3, maxLimitA: 50, actualLimitA: 16, switchRegister: 0x77 });
    expect(c.leds).toMatchObject({ mains: 'on', bulk: 'on', float: 'off' });
  });
  it('simulation §5.4: LED reply mains + bulk', () => {
    expect(decodeLedReply(frame('08 FF 4C 05 00 00 00 80 00 28'))!.leds).toMatchObject({ mains: 'on', bulk: 'on', inverter: 'off' });
  });
  it('§11 #12: ReadRAMVar 128 and 0 → 0x0090 and 228.81 V', () => {
    const vals = decodeRamVarValues(wm('07 FF 58 85 90 00 61 59 D3'))!;
    expect(vals).toEqual([0x0090, 0x5961]);
    expect(applyRamVar({ supported: true, scale: 0x7f9c, offset: 0 }, vals[1]!)).toBe(228.81);
  });
  it('§11 #14: software version in combined mode is a u32 (+ extra bytes)', () => {
    expect(decodeSoftwareVersion(wm('09 FF 58 82 F0 68 28 00 07 01 96'))).toEqual({ version: 2648304, complete: true });
  });
  it('§11 #15: snapshot read decodes as signed watts −375, 5, 370', () => {
    const r = wm('09 FF 58 99 89 FE 05 00 72 01 08');
    expect(r.code).toBe(0x99);
    const w = [0, 2, 4].map((o) => applyRamVar({ supported: true, scale: -1, offset: 0 }, r.data[o]! | (r.data[o + 1]! << 8)));
    expect(w).toEqual([-375, 5, 370]);
  });
  it('§6.4: device state reply names', () => {
    expect(decodeDeviceState(decodeWinmon(mkFrame('X', 0x94, 9, 1))!)).toEqual({ state: 9, stateName: 'charge', subState: 1, subStateName: 'bulk' });
  });
});

describe('Scaling metadata (vebus-mk2.md §7)', () => {
  const info = (scale: number, offset = 0): RamVarInfo => ({ supported: true, scale: (scale << 16) >> 16, offset: (offset << 16) >> 16 });
  it('§11 #7: combined RAM-var info 9C 7F 00 00 = ×0.01 unsigned', () => {
    const i = decodeRamVarInfo(wm('07 FF 59 8E 9C 7F 00 00 F8'))!;
    expect(i).toEqual({ supported: true, scale: 0x7f9c, offset: 0 });
    expect(ramVarScaling(i)).toEqual({ kind: 'number', signed: false, multiplier: 0.01, offset: 0 });
    expect(applyRamVar(i, 23012)).toBe(230.12);
  });
  it('§11 #8: bare 8E = not supported (§10 divergence 3)', () => {
    expect(decodeRamVarInfo(wm('03 FF 5A 8E 16'))).toEqual({ supported: false, scale: 0, offset: 0 });
  });
  it('§4.1 compat forms: 8E sc 8F off in one frame, 8E sc alone (offset to follow), 8E 00 00 = unsupported', () => {
    expect(decodeRamVarInfo(decodeWinmon(mkFrame('X', 0x8e, 0x5f, 0x78, 0x8f, 0x00, 0x01))!)).toEqual({ supported: true, scale: 0x785f, offset: 256 });
    expect(decodeRamVarInfo(decodeWinmon(mkFrame('X', 0x8e, 0x9c, 0x7f))!)).toMatchObject({ supported: true, offsetPending: true });
    expect(decodeRamVarInfo(decodeWinmon(mkFrame('X', 0x8e, 0x00, 0x00))!)).toMatchObject({ supported: false });
  });
  it('§7.1 signed fractional: 0A 80 (−32758) → ×0.1 signed; IBat raw 0xFF9C = −10.0 A', () => {
    const i = info(0x800a);
    expect(ramVarScaling(i)).toMatchObject({ kind: 'number', signed: true });
    expect(applyRamVar(i, 100)).toBe(10);
    expect(applyRamVar(i, 0xff9c)).toBe(-10);
  });
  it('§7.1 signed ×1: FF FF (−1) → watts, negative raw words are negative', () => {
    expect(applyRamVar(info(0xffff), 0xfcbc)).toBe(-836);
    expect(applyRamVar(info(0xffff), 560)).toBe(560);
  });
  it('§7.1 unsigned: the same raw word is large and positive when the scale is positive', () => {
    expect(applyRamVar(info(0x7f9c), 0xff5f)).toBe(653.75);
  });
  it('§7.1 bit variable: 05 00 with offset 00 80 → bit 4; simulation ids 11 and 12', () => {
    const i = info(5, 0x8000);
    expect(ramVarScaling(i)).toEqual({ kind: 'bit', bit: 4 });
    expect(applyRamVar(i, 0x0010)).toBe(true);
    expect(applyRamVar(i, 0x0020)).toBe(false);
    expect(applyRamVar(info(6, 0x8000), 0x0020)).toBe(true);
    expect(rawOfRamVar(i, true, 0x0001)).toBe(0x0011);
    expect(rawOfRamVar(i, 3)).toBeNull();
  });
  it('§7.1 fractional with offset: id 7 0x785F/256 → (135+256)/1953; id 8 0x7C30 → 195/976; id 13 0x7F38 → 1/200', () => {
    expect(applyRamVar(info(0x785f, 256), 135)).toBeCloseTo((135 + 256) / 1953, 9);
    expect(applyRamVar(info(0x7c30), 195)).toBeCloseTo(195 / 976, 9);
    expect(applyRamVar(info(0x7f38), 150)).toBe(0.75);
  });
  it('§7.1 scale 0 = unsupported; s = −32768 (would divide by zero) is refused as unsupported', () => {
    expect(applyRamVar({ supported: true, scale: 0, offset: 0 }, 5)).toBeNull();
    expect(ramVarScaling(info(0x8000))).toEqual({ kind: 'unsupported' });
  });
  it('RAM-var write conversion round-trips and refuses unrepresentable values', () => {
    expect(rawOfRamVar(info(0x7f38), 0.5)).toBe(100);
    expect(rawOfRamVar(info(0xffff), -375)).toBe(0xfe89);
    expect(rawOfRamVar(info(0x7f38), 400)).toBeNull();
    expect(ramVarRange(info(0x7f38))).toEqual({ min: 0, max: 327.675 });
  });
  it('§11 #9: combined setting info without the access byte (VELIB): scale 1, offset 0, default 3, min 1, max 3', () => {
    expect(decodeSettingInfo(wm('0D FF 5A 89 01 00 00 00 03 00 01 00 03 00 09'))).toEqual({ supported: true, scale: 1, offset: 0, default: 3, min: 1, max: 3, access: null });
  });
  it('§10 divergence 4: combined with the access byte, the split form and a bare 89 all decode (MK2PY rejects the latter two)', () => {
    expect(decodeSettingInfo(decodeWinmon(mkFrame('X', 0x89, 0x9c, 0xff, 0, 0, 0x80, 0x16, 0xc0, 0x12, 0x00, 0x19, 0))!)).toEqual({
      supported: true,
      scale: -100,
      offset: 0,
      default: 5760,
      min: 4800,
      max: 6400,
      access: 0,
    });
    expect(decodeSettingInfo(decodeWinmon(mkFrame('X', 0x89, 0xf6, 0xff, 0x8a, 0, 0, 0x8b, 0xa0, 0, 0x8c, 30, 0, 0x8d, 0xf4, 0x01))!)).toEqual({
      supported: true,
      scale: -10,
      offset: 0,
      default: 160,
      min: 30,
      max: 500,
      access: null,
    });
    expect(decodeSettingInfo(decodeWinmon(mkFrame('X', 0x89))!)).toMatchObject({ supported: false });
    expect(decodeSettingInfo(decodeWinmon(mkFrame('X', 0x89, 0, 0))!)).toMatchObject({ supported: false });
  });
  it('§7.2 setting scaling: −100 → /100 V, 15 → 15 min per step, −2 → /2 %, offset −1 (times stored raw−1)', () => {
    const s = (scale: number, offset = 0) => ({ supported: true, scale, offset, default: 0, min: 0, max: 0xffff, access: null });
    expect(applySetting(s(-100), 5760)).toBe(57.6);
    expect(applySetting(s(15), 4)).toBe(60);
    expect(applySetting(s(-2), 170)).toBe(85);
    expect(applySetting(s(1, -1), 10)).toBe(9);
    expect(rawOfSetting(s(-100), 57.6)).toBe(5760);
    expect(rawOfSetting(s(-10), 16)).toBe(160);
    expect(rawOfSetting(s(1, -1), 9)).toBe(10);
  });
  it('§9.1 flag numbers map to setting words 0, 1, 60, 61', () => {
    expect(flagLocation(6)).toEqual({ settingId: 0, bit: 6 });
    expect(flagLocation(27)).toEqual({ settingId: 1, bit: 11 });
    expect(flagLocation(34)).toEqual({ settingId: 60, bit: 2 });
    expect(flagLocation(63)).toEqual({ settingId: 61, bit: 15 });
    expect(flagLocation(64)).toBeNull();
  });
  it('describeFrame gives a readable text and kind for the frame log', () => {
    expect(describeFrame(frame('07 FF 56 24 DB 11 00 42 52'), 'rx')).toEqual({ kind: 'version', text: 'V version 1170212 mode B' });
    expect(describeFrame(frame('0F 20 00 00 00 00 0C A0 14 00 00 00 64 00 00 87 26'), 'rx').text).toBe('DC 52.8 V inverter 0 A charger 10 A');
    expect(describeFrame(frame('05 FF 59 36 00 00 6D'), 'tx')).toEqual({ kind: 'winmon.GetRAMVarInfo', text: 'Y GetRAMVarInfo 00 00' });
  });
});

describe('Mk2Framer (vebus-mk2.md §2)', () => {
  const V = '07 FF 56 24 DB 11 00 42 52';
  const L = '08 FF 4C 05 00 00 00 80 00 28';
  it('splits a stream into frames, one byte per chunk too', () => {
    const fr = new Mk2Framer();
    const bytes = fromHex(`${V} ${L}`);
    const got: Mk2Frame[] = [];
    for (const b of bytes) got.push(...fr.push(Uint8Array.of(b)));
    expect(got.map((f) => hex(encodeFrame(f)))).toEqual([V, L]);
    expect(fr.corruptBytes).toBe(0);
  });
  it('resyncs after garbage and counts the dropped bytes', () => {
    const fr = new Mk2Framer();
    const got = fr.push(fromHex(`00 13 37 ${V} AA 55 ${L}`));
    expect(got.map((f) => hex(encodeFrame(f)))).toEqual([V, L]);
    expect(fr.corruptBytes).toBe(5);
  });
  it('drops one byte of a frame with a bad checksum and finds the next frame', () => {
    const fr = new Mk2Framer();
    const bad = fromHex(L);
    bad[bad.length - 1] ^= 0xff;
    const got = fr.push(Uint8Array.from([...bad, ...fromHex(V)]));
    expect(got.map((f) => hex(encodeFrame(f)))).toEqual([V]);
    expect(fr.corruptBytes).toBe(bad.length);
  });
  it('recognises an unsolicited V anywhere, also right after a partial noise start', () => {
    const fr = new Mk2Framer();
    // 0x14 0xFF looks like the start of a 20-byte frame; the whole V after it must not wait for 22 bytes.
    const got = fr.push(fromHex(`14 FF ${V}`));
    expect(got.map((f) => hex(encodeFrame(f)))).toEqual([V]);
    expect(fr.corruptBytes).toBe(2);
  });
  it('an info frame arriving byte by byte is not cut short by inner bytes that form a valid 0x20 frame', () => {
    // Voltage 0x2002 and inverter current 0xD905 put "02 20 05 D9" (a valid 4-byte frame) inside.
    const dc = encodeFrame({ type: 0x20, body: Uint8Array.from([0, 0, 0, 0, 0x0c, 0x02, 0x20, 0x05, 0xd9, 0, 0, 0, 0, 0x87]) });
    expect(decodeFrame(fromHex('02 20 05 D9'))).not.toBeNull();
    const fr = new Mk2Framer();
    const got: Mk2Frame[] = [];
    for (const b of dc) got.push(...fr.push(Uint8Array.of(b)));
    expect(got.map((f) => hex(encodeFrame(f)))).toEqual([hex(dc)]);
    expect(fr.corruptBytes).toBe(0);
  });
  it('hostOnly (the simulator side) ignores frames a host never sends', () => {
    const fr = new Mk2Framer({ hostOnly: true });
    const got = fr.push(fromHex(`0F 20 00 00 00 00 0C A0 14 00 00 00 64 00 00 87 26 02 FF 56 A9`));
    expect(got.map((f) => hex(encodeFrame(f)))).toEqual(['02 FF 56 A9']);
  });
  it('reset forgets a partial frame but keeps the counter', () => {
    const fr = new Mk2Framer();
    fr.push(fromHex('00 07 FF 56'));
    fr.reset();
    expect(fr.push(fromHex(V))).toHaveLength(1);
    expect(fr.corruptBytes).toBe(1);
  });
});
