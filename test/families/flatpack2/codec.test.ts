import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { CanFrame } from '../../../src/families/can/types.js';
import {
  ALERT_BIT_NAMES,
  FP2,
  FP2_BOUNDS,
  alertNames,
  decodeFp2,
  encodeAlertRequest,
  encodeAlerts,
  encodeDefaultVoltage,
  encodeDefaultVoltageAck,
  encodeHello,
  encodeLogin,
  encodeLoginRequest,
  encodeSet,
  encodeStatus,
  loginId,
  serialFromBcd,
  serialToBcd,
  statusId,
} from '../../../src/families/flatpack2/codec.js';

const bytes = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/), (b) => parseInt(b, 16));
const ext = (id: number, data: string): CanFrame => ({ id, extended: true, remote: false, data: bytes(data) });
const hexOf = (d: Uint8Array): string => Array.from(d, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');

describe('flatpack2 codec: §4 test vectors', () => {
  it('#1 status PSU 1 normal (6P4C fp2_set_voltage README)', () => {
    const f = ext(0x05014004, '17 00 00 D1 12 EE 00 17');
    expect(decodeFp2(f)).toEqual({
      kind: 'status',
      addr: 1,
      stateCode: 0x04,
      state: 'normal',
      intakeTempC: 23,
      currentA: 0,
      voltageV: 48.17,
      inputVoltageV: 238,
      outputTempC: 23,
    });
    const enc = encodeStatus({ addr: 1, stateCode: 4, intakeTempC: 23, currentA: 0, voltageV: 48.17, inputVoltageV: 238, outputTempC: 23 });
    expect(enc.id).toBe(0x05014004);
    expect(enc.extended).toBe(true);
    expect(hexOf(enc.data)).toBe('17 00 00 D1 12 EE 00 17');
  });

  it('#2 status PSU 1 normal 51.38 V (UQF fp2charger.c)', () => {
    const msg = decodeFp2(ext(0x05014004, '23 00 00 12 14 D9 00 33'));
    expect(msg).toMatchObject({ kind: 'status', addr: 1, state: 'normal', intakeTempC: 35, currentA: 0, voltageV: 51.38, inputVoltageV: 217, outputTempC: 51 });
    const enc = encodeStatus({ addr: 1, stateCode: 4, intakeTempC: 35, currentA: 0, voltageV: 51.38, inputVoltageV: 217, outputTempC: 51 });
    expect(hexOf(enc.data)).toBe('23 00 00 12 14 D9 00 33');
  });

  it('#3 status PSU 2 in warning/CC (UQF fp2charger.c)', () => {
    const msg = decodeFp2(ext(0x05024008, '24 00 00 13 15 D8 00 34'));
    expect(msg).toMatchObject({ kind: 'status', addr: 2, stateCode: 0x08, state: 'warning', intakeTempC: 36, currentA: 0, voltageV: 53.95, inputVoltageV: 216, outputTempC: 52 });
    const enc = encodeStatus({ addr: 2, stateCode: 8, intakeTempC: 36, currentA: 0, voltageV: 53.95, inputVoltageV: 216, outputTempC: 52 });
    expect(enc.id).toBe(0x05024008);
    expect(hexOf(enc.data)).toBe('24 00 00 13 15 D8 00 34');
  });

  it('#4 hello prefix 0x1D (UQF fp2charger.c)', () => {
    expect(decodeFp2(ext(0x05001639, '1D 19 27 50 00 16 39 00'))).toEqual({ kind: 'hello', serial: '192750001639', prefix: 0x1d });
    const enc = encodeHello('192750001639', 0x1d);
    expect(enc.id).toBe(0x05001639);
    expect(hexOf(enc.data)).toBe('1D 19 27 50 00 16 39 00');
  });

  it('#5 hello prefix 0x1C, id tail masked with 0x3FFF (UQF fp2charger.c)', () => {
    expect(decodeFp2(ext(0x05001608, '1C 16 38 50 01 96 08 00'))).toEqual({ kind: 'hello', serial: '163850019608', prefix: 0x1c });
    const enc = encodeHello('163850019608', 0x1c);
    expect(enc.id).toBe(0x05001608); // 0x9608 & 0x3FFF
    expect(hexOf(enc.data)).toBe('1C 16 38 50 01 96 08 00');
  });

  it('#6 login request from preset ID 2 (UQF flatpack2_protocol.txt)', () => {
    expect(decodeFp2(ext(0x05024400, '16 38 50 01 96 08 00 00'))).toEqual({ kind: 'login-request', addr: 2, serial: '163850019608' });
    const enc = encodeLoginRequest('163850019608', 2);
    expect(enc.id).toBe(0x05024400);
    expect(hexOf(enc.data)).toBe('16 38 50 01 96 08 00 00');
  });

  it('#6 login request bytes 6–7 are not validated (UQF logged 14 00)', () => {
    expect(decodeFp2(ext(0x05024400, '16 38 50 01 96 08 14 00'))).toEqual({ kind: 'login-request', addr: 2, serial: '163850019608' });
  });

  it('#7 login assigning ID 2 (UQF flatpack2_protocol.txt)', () => {
    expect(decodeFp2(ext(0x05004808, '16 38 50 01 96 08 00 00'))).toEqual({ kind: 'login', addr: 2, serial: '163850019608' });
    const enc = encodeLogin('163850019608', 2);
    expect(enc.id).toBe(0x05004808);
    expect(hexOf(enc.data)).toBe('16 38 50 01 96 08 00 00');
  });

  it('#8 set default voltage of PSU 1 to 54.00 V (UQF flatpack2_protocol.txt)', () => {
    expect(decodeFp2(ext(0x05019c00, '29 15 00 18 15'))).toEqual({ kind: 'default-voltage', addr: 1, voltageV: 54, ack: false });
    const enc = encodeDefaultVoltage(1, 54);
    expect(enc.id).toBe(0x05019c00);
    expect(hexOf(enc.data)).toBe('29 15 00 18 15');
  });

  it('§2.5 default voltage ack 2B 15 00 V on the same id (UQF)', () => {
    expect(decodeFp2(ext(0x05019c00, '2B 15 00 18 15'))).toEqual({ kind: 'default-voltage', addr: 1, voltageV: 54, ack: true });
    expect(hexOf(encodeDefaultVoltageAck(1, 54).data)).toBe('2B 15 00 18 15');
  });

  it('#9 warning and alarm request to PSU 1 (6P4C fp2_control.ino, Protocol.md)', () => {
    expect(decodeFp2(ext(0x0501bffc, '08 04 00'))).toEqual({ kind: 'alert-request', addr: 1, type: 'warnings' });
    expect(decodeFp2(ext(0x0501bffc, '08 08 00'))).toEqual({ kind: 'alert-request', addr: 1, type: 'alarms' });
    const w = encodeAlertRequest(1, 'warnings');
    expect(w.id).toBe(0x0501bffc);
    expect(hexOf(w.data)).toBe('08 04 00');
    expect(hexOf(encodeAlertRequest(1, 'alarms').data)).toBe('08 08 00');
  });

  it('#10 warning reply with Current limit, on the UQF id 0x0501BC00 (UQF flatpack2_protocol.txt)', () => {
    expect(decodeFp2(ext(0x0501bc00, '0E 04 00 80 00 00 00'))).toEqual({
      kind: 'alerts',
      addr: 1,
      type: 'warnings',
      bits: 0x80,
      names: ['Current limit'],
    });
    const enc = encodeAlerts(1, 'warnings', 0x80, FP2.FUNC_ALERT_ALT);
    expect(enc.id).toBe(0x0501bc00);
    expect(hexOf(enc.data)).toBe('0E 04 00 80 00 00 00');
    expect(encodeAlerts(1, 'warnings', 0x80).id).toBe(0x0501bffc);
  });

  it('#11 MTI default SET: 20.0 A, 54.00 V, OVP 60.00 V, short walk-in (MTI README + flatpack2.conf)', () => {
    expect(decodeFp2(ext(0x05ff4004, 'C8 00 18 15 18 15 70 17'))).toEqual({
      kind: 'set',
      currentA: 20,
      measuredV: 54,
      voltageV: 54,
      ovpV: 60,
      walkIn: 'short',
    });
    const enc = encodeSet({ voltageV: 54, currentA: 20, ovpV: 60 });
    expect(enc.id).toBe(0x05ff4004);
    expect(hexOf(enc.data)).toBe('C8 00 18 15 18 15 70 17');
  });

  it('#12 long walk-in SET id 0x05FF4005 with OVP 59.50 V = 3E 17 (NEG flatpack2.h + Protocol.md)', () => {
    const enc = encodeSet({ voltageV: 54, currentA: 20, ovpV: 59.5, walkIn: 'long' });
    expect(enc.id).toBe(0x05ff4005);
    expect(hexOf(enc.data.subarray(6, 8))).toBe('3E 17');
    expect(decodeFp2(enc)).toMatchObject({ kind: 'set', walkIn: 'long', ovpV: 59.5 });
  });

  it('extra checks: login id for PSU 0x3F and the walk-in status id of PSU 1 (6P4C/NEG text)', () => {
    expect(loginId(0x3f)).toBe(0x050048fc);
    expect(encodeLogin('192750001639', 0x3f).id).toBe(0x050048fc);
    expect(decodeFp2(ext(0x050048fc, '19 27 50 00 16 39 00 00'))).toEqual({ kind: 'login', addr: 0x3f, serial: '192750001639' });
    expect(statusId(1, FP2.STATE_WALK_IN)).toBe(0x05014010);
    expect(decodeFp2(ext(0x05014010, '17 00 00 D1 12 EE 00 17'))).toMatchObject({ kind: 'status', addr: 1, state: 'walk-in', stateCode: 0x10 });
    expect(decodeFp2(ext(0x0501400c, '17 00 00 D1 12 EE 00 17'))).toMatchObject({ state: 'alarm' });
    expect(decodeFp2(ext(0x05014002, '17 00 00 D1 12 EE 00 17'))).toMatchObject({ kind: 'status', state: 'unknown', stateCode: 2 });
  });

  it('§6.4 resync example frames decode (6P4C early notes): status 53.40 V and hello 132071181554', () => {
    expect(decodeFp2(ext(0x05014004, '1B 00 00 DC 14 F1 00 23'))).toMatchObject({ kind: 'status', intakeTempC: 27, currentA: 0, voltageV: 53.4, inputVoltageV: 241, outputTempC: 35 });
    expect(decodeFp2(ext(0x05001554, '1B 13 20 71 18 15 54 00'))).toEqual({ kind: 'hello', serial: '132071181554', prefix: 0x1b });
  });

  it('§6.1 derived: login PSU 1 serial 132071181554 and MTI SET bytes', () => {
    const login = encodeLogin('132071181554', 1);
    expect(login.id).toBe(0x05004804);
    expect(hexOf(login.data)).toBe('13 20 71 18 15 54 00 00');
  });
});

describe('flatpack2 codec: addressing of several PSUs (§3)', () => {
  it('attributes status to (id >> 16) & 0xFF for every address 1..63', () => {
    for (let addr = 1; addr <= 63; addr++) {
      const msg = decodeFp2(ext(0x05004004 | (addr << 16), '23 00 00 12 14 D9 00 33'));
      expect(msg).toMatchObject({ kind: 'status', addr });
    }
  });

  it('alert request and reply carry their PSU address', () => {
    expect(encodeAlertRequest(7, 'alarms').id).toBe(0x0507bffc);
    expect(decodeFp2(ext(0x0507bffc, '0E 08 00 21 00 00 00'))).toEqual({
      kind: 'alerts',
      addr: 7,
      type: 'alarms',
      bits: 0x21,
      names: ['OVS lock-out', 'High temperature'],
    });
  });

  it('login request from several remembered addresses', () => {
    expect(decodeFp2(encodeLoginRequest('192750001639', 0))).toMatchObject({ kind: 'login-request', addr: 0 });
    expect(decodeFp2(encodeLoginRequest('192750001639', 9))).toMatchObject({ kind: 'login-request', addr: 9 });
  });

  it('status round-trips through encodeStatus for any address and in-bounds values (property)', () => {
    fc.assert(
      fc.property(
        // 0xFF is broadcast: 0x05FF4004/5 are the SET ids, not a status (tested above).
        fc.integer({ min: 0, max: 254 }),
        fc.constantFrom(0x04, 0x08, 0x0c, 0x10),
        // Within FP2_BOUNDS; out-of-bounds values are tested under defect 8.7.
        fc.integer({ min: 0, max: FP2_BOUNDS.intakeTempC[1] }),
        fc.integer({ min: 0, max: FP2_BOUNDS.outputCurrentA[1] * 10 }),
        fc.integer({ min: 0, max: FP2_BOUNDS.outputVoltageV[1] * 100 }),
        fc.integer({ min: 0, max: FP2_BOUNDS.inputVoltageV[1] }),
        fc.integer({ min: 0, max: FP2_BOUNDS.outputTempC[1] }),
        (addr, stateCode, tin, iRaw, vRaw, vin, tout) => {
          const enc = encodeStatus({ addr, stateCode, intakeTempC: tin, currentA: iRaw / 10, voltageV: vRaw / 100, inputVoltageV: vin, outputTempC: tout });
          const msg = decodeFp2(enc);
          expect(msg).toMatchObject({ kind: 'status', addr, stateCode, intakeTempC: tin, inputVoltageV: vin, outputTempC: tout });
          if (msg.kind !== 'status') return;
          expect(Math.round(msg.currentA * 10)).toBe(iRaw);
          expect(Math.round(msg.voltageV * 100)).toBe(vRaw);
        },
      ),
    );
  });
});

describe('flatpack2 codec: hello filter (§2.2, §5 pitfall 2)', () => {
  it('accepts 0x1B/0x1C/0x1D even when the id tail does not match', () => {
    for (const prefix of ['1B', '1C', '1D']) {
      expect(decodeFp2(ext(0x05000001, `${prefix} 19 27 50 00 16 39 00`))).toMatchObject({ kind: 'hello', serial: '192750001639' });
    }
  });

  it('accepts any prefix when the id tail matches the masked serial; otherwise unknown', () => {
    expect(decodeFp2(ext(0x05001639, '2A 19 27 50 00 16 39 4F'))).toEqual({ kind: 'hello', serial: '192750001639', prefix: 0x2a });
    expect(decodeFp2(ext(0x05000001, '2A 19 27 50 00 16 39 00'))).toEqual({ kind: 'unknown' });
  });

  it('a serial with non-BCD nibbles is kept as hex digits, not dropped', () => {
    expect(decodeFp2(ext(0x05001abc, '1B 12 34 56 78 9A BC 00'))).toEqual({ kind: 'hello', serial: '123456789ABC', prefix: 0x1b });
  });
});

describe('flatpack2 codec: invalid and unknown frames', () => {
  it('a Flatpack2 id with the wrong DLC is invalid with a reason', () => {
    expect(decodeFp2(ext(0x05014004, '17 00 00 D1 12 EE'))).toEqual({ kind: 'invalid', reason: 'status frame with DLC 6, expected 8' });
    expect(decodeFp2(ext(0x05ff4004, 'C8 00 18 15 18 15 70'))).toEqual({ kind: 'invalid', reason: 'SET frame with DLC 7, expected 8' });
    expect(decodeFp2(ext(0x05001639, '1D 19 27 50 00 16 39'))).toEqual({ kind: 'invalid', reason: 'hello frame with DLC 7, expected 8' });
    expect(decodeFp2(ext(0x05004808, '16 38 50 01'))).toEqual({ kind: 'invalid', reason: 'login frame with DLC 4, expected 8' });
    expect(decodeFp2(ext(0x05024400, '16 38 50 01 96 08'))).toEqual({ kind: 'invalid', reason: 'login request frame with DLC 6, expected 8' });
    expect(decodeFp2(ext(0x05019c00, '29 15 00 18'))).toEqual({ kind: 'invalid', reason: 'default voltage frame with DLC 4, expected 5' });
    expect(decodeFp2(ext(0x0501bffc, '08 04'))).toEqual({ kind: 'invalid', reason: 'alert request frame with DLC 2, expected 3' });
    expect(decodeFp2(ext(0x0501bffc, '0E 04 00 80 00'))).toEqual({ kind: 'invalid', reason: 'alert reply frame with DLC 5, expected 7' });
    expect(decodeFp2(ext(0x05014004, ''))).toMatchObject({ kind: 'invalid' });
  });

  it('an alert with an unknown type byte is invalid', () => {
    expect(decodeFp2(ext(0x0501bffc, '08 05 00'))).toMatchObject({ kind: 'invalid' });
    expect(decodeFp2(ext(0x0501bffc, '0E 02 00 80 00 00 00'))).toMatchObject({ kind: 'invalid' });
  });

  it('near-zero nonsense Vout (~652 V seen by NGU, §2.3) is invalid, not telemetry', () => {
    const msg = decodeFp2(ext(0x05014004, '17 00 00 B0 FE EE 00 17')); // 0xFEB0 = 652.00 V
    expect(msg.kind).toBe('invalid');
    if (msg.kind === 'invalid') expect(msg.reason).toMatch(/652\.00 V/);
    // 65.00 V (the highest OVP, FP2_BOUNDS) is the edge; 65.01 V is not a reading (defect 8.7).
    expect(decodeFp2(ext(0x05014004, '17 00 00 64 19 EE 00 17'))).toMatchObject({ kind: 'status', voltageV: 65 });
    expect(decodeFp2(ext(0x05014004, '17 00 00 65 19 EE 00 17'))).toMatchObject({ kind: 'invalid' });
  });

  it('frames that are not Flatpack2 messages we know are unknown', () => {
    expect(decodeFp2({ id: 0x123, extended: false, remote: false, data: bytes('11 22 33 44 55 66 77 88') })).toEqual({ kind: 'unknown' });
    // A standard frame is never Flatpack2, whatever its id bits.
    expect(decodeFp2({ id: 0x004, extended: false, remote: false, data: bytes('17 00 00 D1 12 EE 00 17') })).toEqual({ kind: 'unknown' });
    expect(decodeFp2({ id: 0x05014004, extended: true, remote: true, data: new Uint8Array(0) })).toEqual({ kind: 'unknown' });
    expect(decodeFp2(ext(0x18ff50e5, '01 02 03 04 05 06 07 08'))).toEqual({ kind: 'unknown' }); // another device class
    // The enumeration prompt, identity reads, one-value reads and park are decoded by name now
    // (codec-more.test.ts); a frame of theirs with an op the reference does not list stays unknown.
    expect(decodeFp2(ext(0x0500bc02, '6E 30 00'))).toEqual({ kind: 'unknown' });
    expect(decodeFp2(ext(0x0501ac02, '7C 04 00 02 1C 01 01'))).toEqual({ kind: 'unknown' });
    expect(decodeFp2(ext(0x05019c00, '21 01 00 00'))).toEqual({ kind: 'unknown' });
  });

  it('never throws on arbitrary frames (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x1fffffff }),
        fc.boolean(),
        fc.boolean(),
        fc.uint8Array({ maxLength: 8 }),
        fc.boolean(),
        (id, extended, remote, data, forceFp2) => {
          const frame: CanFrame = { id: forceFp2 ? (0x05000000 | (id & 0xffffff)) : id, extended, remote, data };
          const msg = decodeFp2(frame);
          expect(['hello', 'login-request', 'login', 'status', 'set', 'default-voltage', 'alert-request', 'alerts', 'unknown', 'invalid']).toContain(msg.kind);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('flatpack2 codec: encoders', () => {
  it('round to wire units (charger spec §3.4: 35.087 A is sent as 351)', () => {
    const enc = encodeSet({ voltageV: 56.999, currentA: 35.087, ovpV: 59.5 });
    expect(enc.data[0] | (enc.data[1] << 8)).toBe(351);
    expect(enc.data[4] | (enc.data[5] << 8)).toBe(5700);
  });

  it('SET measured voltage defaults to the target and can be given', () => {
    expect(decodeFp2(encodeSet({ voltageV: 54, currentA: 20, ovpV: 60 }))).toMatchObject({ measuredV: 54 });
    expect(decodeFp2(encodeSet({ voltageV: 54, currentA: 20, ovpV: 60, measuredV: 53.8 }))).toMatchObject({ measuredV: 53.8 });
  });

  it('FF FF current means no limit (§2.4) both ways', () => {
    expect(decodeFp2(ext(0x05ff4004, 'FF FF 18 15 18 15 70 17'))).toMatchObject({ kind: 'set', currentA: null });
    expect(hexOf(encodeSet({ voltageV: 54, currentA: null, ovpV: 60 }).data.subarray(0, 2))).toBe('FF FF');
  });

  it('throw RangeError only for values the wire cannot carry', () => {
    expect(() => encodeSet({ voltageV: -1, currentA: 20, ovpV: 60 })).toThrow(RangeError);
    expect(() => encodeSet({ voltageV: Number.NaN, currentA: 20, ovpV: 60 })).toThrow(RangeError);
    expect(() => encodeSet({ voltageV: 54, currentA: 20, ovpV: 700 })).toThrow(RangeError); // 70000 > 0xFFFF
    expect(() => encodeSet({ voltageV: 54, currentA: 6553.5, ovpV: 60 })).toThrow(RangeError); // would read as "no limit"
    expect(() => encodeSet({ voltageV: 54, currentA: Infinity, ovpV: 60 })).toThrow(RangeError);
    expect(() => encodeDefaultVoltage(1, -0.5)).toThrow(RangeError);
    expect(() => encodeLogin('192750001639', 64)).toThrow(RangeError);
    expect(() => encodeAlertRequest(256, 'warnings')).toThrow(RangeError);
    expect(() => encodeStatus({ addr: 1, stateCode: 4, intakeTempC: -5, currentA: 0, voltageV: 50, inputVoltageV: 230, outputTempC: 30 })).toThrow(RangeError);
    // Policy is not the encoder's job: 60 V above the PSU's 57.6 V range still encodes.
    expect(() => encodeSet({ voltageV: 60, currentA: 50, ovpV: 59 })).not.toThrow();
  });

  it('serials: 12 digits ⇄ 6 packed BCD bytes (UQF "192750001639")', () => {
    expect(hexOf(serialToBcd('192750001639'))).toBe('19 27 50 00 16 39');
    expect(serialFromBcd(bytes('00 1D 19 27 50 00 16 39'), 2)).toBe('192750001639');
    expect(() => serialToBcd('19275000163')).toThrow(RangeError);
    expect(() => serialToBcd('19275000163X')).toThrow(RangeError);
  });
});

describe('flatpack2 codec: alert names (§2.6, 6P4C/NEG/MTI table)', () => {
  it('has 16 names and maps bits in order', () => {
    expect(ALERT_BIT_NAMES).toHaveLength(16);
    expect(alertNames(0)).toEqual([]);
    expect(alertNames(1 << 5)).toEqual(['High temperature']);
    expect(alertNames(0x8001)).toEqual(['OVS lock-out', 'Inner voltage']);
    expect(alertNames(0x0900)).toEqual(['Internal voltage', 'Fan 1 speed low']);
    expect(alertNames(0xffff)).toEqual([...ALERT_BIT_NAMES]);
  });
});
