/**
 * RAPI codec and framer on the reference's worked examples and quirks
 * (/work/shared/protocols/openevse-rapi.md, cited by section).
 */
import { describe, expect, it } from 'vitest';
import {
  Rapi,
  additiveChecksum,
  buildCommand,
  buildResponse,
  commandTooLong,
  decodeAB,
  decodeAN,
  decodeAT,
  decodeGC,
  decodeGE,
  decodeGF,
  decodeGL,
  decodeGO,
  decodeGR,
  decodeGW,
  decodeGZ,
  decodeGG,
  decodeGI,
  decodeGP,
  decodeGS,
  decodeGT,
  decodeGU,
  decodeGV,
  decodeG0,
  decodeHeartbeat,
  decodeST,
  decodeWF,
  flagNames,
  frameRequest,
  isResponseTo,
  parseLine,
  stateInfo,
  versionGate,
  xorChecksum,
  ECF,
  VFLAGS,
  COMMANDS,
  type RapiVersion,
} from '../../../src/families/openevse/codec.js';
import { RapiFramer } from '../../../src/families/openevse/framer.js';

const bytes = (s: string) => Buffer.from(s, 'latin1');
const V5: RapiVersion = { major: 5, minor: 2, patch: 1 };
const V6: RapiVersion = { major: 6, minor: 0, patch: 0 };
const V3: RapiVersion = { major: 3, minor: 0, patch: 1 };

describe('checksums (§2, §10 header examples)', () => {
  it('builds the header-printed XOR and additive examples byte-exactly', () => {
    expect(buildCommand('F0', ['1']).line).toBe('$F0 1^43');
    expect(buildCommand('FB', ['7'], { checksum: 'additive' }).line).toBe('$FB 7*03');
    for (const [cmd, line] of [['FD', '$FD*AE'], ['FE', '$FE*AF'], ['FR', '$FR*BC'], ['FS', '$FS*BD']] as const) {
      expect(buildCommand(cmd, [], { checksum: 'additive' }).line).toBe(line);
    }
    expect(buildCommand('S0', ['0'], { checksum: 'additive' }).line).toBe('$S0 0*F7');
    expect(buildCommand('SK', ['0']).line).toBe('$SK 0^2C');
    expect(buildCommand('SL', ['A'], { checksum: 'additive' }).line).toBe('$SL A*24');
    expect(buildCommand('ST', ['0', '0', '0', '0']).line).toBe('$ST 0 0 0 0^23');
    for (const [cmd, line] of [['G0', '$G0^53'], ['GC', '$GC^20'], ['GE', '$GE^26'], ['GS', '$GS^30'], ['GU', '$GU^36'], ['GV', '$GV^35']] as const) {
      expect(frameRequest({ cmd, args: [], query: true }).line).toBe(line);
    }
  });

  it('§10 #15: more additive frames; the sum is mod 256', () => {
    expect(buildCommand('GS', [], { checksum: 'additive' }).line).toBe('$GS*BE');
    expect(buildCommand('SC', ['16'], { checksum: 'additive' }).line).toBe('$SC 16*41');
    expect(additiveChecksum('$SC 16')).toBe(0x41);
  });

  it('§2 checksum edge: `$GS :2A^59` and `$GS^30` are both valid GS frames; the seq id is inside the checksum', () => {
    const a = buildCommand('GS', [], { seq: 0x2a });
    expect(a.line).toBe('$GS :2A^59');
    const p = parseLine('$GS :2A^59');
    expect(p).toMatchObject({ kind: 'command', cmd: 'GS', args: [], seq: 0x2a, checksum: 'xor', checksumOk: true });
    expect(parseLine('$GS^30').checksumOk).toBe(true);
  });

  it('§2: XOR is weak — transposed state digits share a checksum', () => {
    expect(xorChecksum('$AT 03 03 32 0540')).toBe(xorChecksum('$AT fe 03 32 0540'));
  });

  it('§2: hex checksum digits are accepted in either case', () => {
    // the seq id's own case is part of the checksummed bytes: `:2a` has its own checksum
    expect(parseLine(`$GS :2a^${xorChecksum('$GS :2a').toString(16)}`).checksumOk).toBe(true);
    expect(parseLine('$OK 6 80 32 32^1e').checksumOk).toBe(true);
  });

  it('§10 #16: a bad checksum is kept, flagged', () => {
    expect(parseLine('$GS^31')).toMatchObject({ checksumOk: false, cmd: 'GS' });
  });

  it('§2: a frame without a checksum is accepted', () => {
    expect(parseLine('$GS')).toMatchObject({ checksum: 'none', checksumOk: true, cmd: 'GS' });
  });
});

describe('the 31-character limit and token rules (§2, §12.2)', () => {
  it('a command longer than 31 characters is flagged and the framer refuses to encode it', () => {
    const ok = frameRequest(Rapi.lcdText(0, 0, 'HELLO WORLD'), { seq: 1 });
    expect(commandTooLong(ok)).toBeNull();
    const long = frameRequest(Rapi.lcdText(0, 1, 'A VERY LONG LCD TEXT'), { seq: 0x10 });
    expect(long.line.length).toBeGreaterThan(31);
    expect(commandTooLong(long)).toMatch(/silently drops/);
    expect(() => new RapiFramer().encode(long)).toThrow(/31/);
  });

  it('exactly 31 characters is still sent', () => {
    const f = buildCommand('FP', ['0', '0', 'ABCDEFGHIJKLMNOPQRST']);
    expect(f.line.length).toBe(31);
    expect(commandTooLong(f)).toBeNull();
    expect(new RapiFramer().encode(f)).toEqual(bytes(f.line + '\r'));
  });

  it('more than 10 tokens, a bad seq id or an argument with a space cannot be built', () => {
    expect(() => buildCommand('FP', ['0', '0', 'a', 'b', 'c', 'd', 'e', 'f', 'g'], { seq: 3 })).toThrow(/10/);
    expect(() => buildCommand('GS', [], { seq: 0 })).toThrow(/reserved/);
    expect(() => buildCommand('SC', ['1 6'])).toThrow(RangeError);
  });
});

describe('responses and sequence ids (§3, §10)', () => {
  it('§10 #13: the sequence id is echoed upper-case inside the checksum', () => {
    const r = parseLine('$OK 02 0 02 0700 :2A^7E');
    expect(r).toMatchObject({ kind: 'OK', args: ['02', '0', '02', '0700'], seq: 0x2a, checksumOk: true });
    expect(buildResponse(true, ['02', '0', '02', '0700'], 0x2a).line).toBe('$OK 02 0 02 0700 :2A^7E');
    expect(isResponseTo(r, buildCommand('GS', [], { seq: 0x2a }))).toBe(true);
    expect(isResponseTo(r, buildCommand('GS', [], { seq: 0x2b }))).toBe(false);
  });

  it('§10 #17 and §12.3: an unknown command keeps the seq id, a checksum NK drops it and still answers the request', () => {
    const nk = parseLine('$NK :05^3E');
    expect(nk).toMatchObject({ kind: 'NK', seq: 5, checksumOk: true });
    expect(buildCommand('ZZ', [], { seq: 5 }).line).toBe('$ZZ :05^3B');
    const bare = parseLine('$NK^21');
    expect(bare).toMatchObject({ kind: 'NK', seq: null, args: [] });
    expect(isResponseTo(bare, buildCommand('GS', [], { seq: 9 }))).toBe(true);
    expect(parseLine('$OK^20')).toMatchObject({ kind: 'OK', args: [], checksumOk: true });
  });

  it('async frames are never responses', () => {
    expect(isResponseTo(parseLine('$AT 02 02 32 0700^37'), buildCommand('GS', [], { seq: 1 }))).toBe(false);
  });

  it('§10 #7: `$NK 80` after a clamped SC carries the applied value', () => {
    expect(buildCommand('SC', ['90']).line).toBe('$SC 90^1D');
    const r = parseLine('$NK 80^09');
    expect(r).toMatchObject({ kind: 'NK', args: ['80'], checksumOk: true });
  });
});

describe('field decoders on the worked examples (§10)', () => {
  it('#1 GV versions', () => {
    expect(decodeGV(parseLine('$OK 8.2.3 5.2.1^2F'))).toEqual({ firmware: '8.2.3', protocol: V5, protocolText: '5.2.1' });
  });

  it('#2, #3 GS: hex state and pilot, decimal elapsed, hex vflags (§8.1, not decimal like the seed)', () => {
    expect(decodeGS(parseLine('$OK 01 0 01 0200^12'), V5)).toEqual({ state: 1, elapsedS: 0, pilot: 1, vflags: 0x200, capacityA: null });
    const c = decodeGS(parseLine('$OK 03 1834 03 0540^2F'), V5)!;
    expect(c).toMatchObject({ state: 3, elapsedS: 1834, pilot: 3, vflags: 0x540 });
    expect(flagNames(c.vflags!, VFLAGS)).toEqual(['CHARGING_ON', 'EV_CONNECTED', 'EV_CONNECTED_PREV']);
    expect(stateInfo(c.state).name).toBe('charging');
    // sleeping is `fe`, which a decimal parser cannot read
    expect(decodeGS(parseLine(buildResponse(true, ['fe', '12', '02', '0500']).line), V5)).toMatchObject({ state: 0xfe, elapsedS: 12 });
  });

  it('§8.1: a RAPI < 5 board sends `state elapsed` in decimal', () => {
    expect(decodeGS(parseLine(buildResponse(true, ['3', '120']).line), V3)).toEqual({ state: 3, elapsedS: 120, pilot: null, vflags: null, capacityA: null });
    expect(decodeGS(parseLine(buildResponse(true, ['3', '120']).line), V5)).toBeNull();
  });

  it('#4 GE: capacity and ECF flags', () => {
    const ge = decodeGE(parseLine('$OK 32 0021^22'))!;
    expect(ge).toEqual({ capacityA: 32, ecf: 0x21, level: 2 });
    expect(flagNames(ge.ecf, ECF)).toEqual(['L2', 'AUTO_SVC_LEVEL_DISABLED']);
  });

  it('#5 GC range', () => {
    expect(decodeGC(parseLine('$OK 6 80 32 32^1E'))).toEqual({ minA: 6, maxA: 80, pilotA: 32, configuredA: 32 });
  });

  it('#8 GG current in mA and voltage in mV; −1 mA = no ammeter', () => {
    expect(decodeGG(parseLine('$OK 31870 240000^1B'))).toEqual({ currentMa: 31870, voltageMv: 240000 });
    expect(decodeGG(parseLine(buildResponse(true, ['-1', '240000']).line))).toEqual({ currentMa: null, voltageMv: 240000 });
  });

  it('#9 GU: session watt-seconds and lifetime watt-hours (§7.3)', () => {
    expect(decodeGU(parseLine('$OK 7200 15339^18'))).toEqual({ sessionWs: 7200, lifetimeWh: 15339 });
  });

  it('#10 GF: bare lower-case hex counters (§7.4)', () => {
    expect(decodeGF(parseLine('$OK 0 1 0^31'))).toEqual({ gfiTrips: 0, noGroundTrips: 1, stuckRelayTrips: 0 });
    expect(decodeGF(parseLine(buildResponse(true, ['fe', 'a', '0']).line))).toEqual({ gfiTrips: 254, noGroundTrips: 10, stuckRelayTrips: 0 });
  });

  it('#11 G0 connected; 2 = unknown while disabled', () => {
    expect(decodeG0(parseLine('$OK 1^31'))).toEqual({ connected: true });
    expect(decodeG0(parseLine(buildResponse(true, ['2']).line))).toEqual({ connected: null });
  });

  it('#12 SY arm reply (§6)', () => {
    expect(Rapi.heartbeatArm(100, 6)).toEqual({ cmd: 'SY', args: ['100', '6'], query: false });
    expect(frameRequest(Rapi.heartbeatArm(100, 6)).line).toBe('$SY 100 6^29');
    expect(decodeHeartbeat(parseLine('$OK 100 6 0^37'))).toEqual({ intervalS: 100, fallbackA: 6, trigger: 0 });
    expect(frameRequest(Rapi.heartbeatAck()).args).toEqual(['165']);
  });

  it('GP temperatures in 0.1 °C; −2560 = not fitted', () => {
    expect(decodeGP(parseLine(buildResponse(true, ['235', '-2560', '301']).line))).toEqual({ ds3231C: 23.5, mcp9808C: null, tmp007C: 30.1 });
  });

  it('§12.4: GI has a double space after OK', () => {
    const line = '$OK  ABCDEF0123ABCD';
    const f = parseLine(`${line}^${xorChecksum(line).toString(16).toUpperCase().padStart(2, '0')}`);
    expect(decodeGI(f)).toBe('ABCDEF0123ABCD');
  });

  it('GT: no RTC chip reads 165 165 165 165 165 85', () => {
    expect(decodeGT(parseLine(buildResponse(true, ['165', '165', '165', '165', '165', '85']).line))).toBeNull();
    expect(decodeGT(parseLine(buildResponse(true, ['26', '1', '2', '3', '4', '5']).line))).toEqual({ year: 2026, month: 1, day: 2, hour: 3, minute: 4, second: 5 });
  });
});

describe('RAPI 6.0.0 decoders (§9)', () => {
  const r = (...a: string[]) => parseLine(buildResponse(true, a).line);
  it('GR relays, GZ frequency ×100 and zero threshold, GW wear, GL life, GO one field on 6.x and two before', () => {
    expect(decodeGR(r('1', '0', '1'))).toEqual({ dc1: true, dc2: false, ac: true });
    expect(decodeGZ(r('5000', '100'))).toEqual({ frequencyHz: 50, zeroThresholdMa: 100 });
    expect(decodeGZ(r('0', '100'))).toEqual({ frequencyHz: null, zeroThresholdMa: 100 });
    expect(decodeGW(r('1', '31870', '12', '8'))).toEqual({ hot: 1, lastMa: 31870, closeMs: 12, openMs: 8 });
    expect(decodeGL(r('98', '3', '1200', '12', '0', '2500', '2450', '0', '0'))).toEqual({
      pctRemaining: 98, coldOpens: 3, damage: 0.0012, transitBaselineMs: 12, drift: false, thermal: 25, thermalBaseline: 24.5, warn: 0, recoveries: 0,
    });
    expect(decodeGL(r('98', '3'))).toBeNull();
    expect(decodeGO(r('700'))).toEqual({ thresholdsC: [70] });
    expect(decodeGO(r('650', '600'))).toEqual({ thresholdsC: [65, 60] });
  });
});

describe('async messages (§4, §10 #18–#22)', () => {
  it('#18 $AB boot', () => {
    const f = parseLine('$AB 00 8.2.3^1E');
    expect(f.kind).toBe('AB');
    expect(decodeAB(f)).toEqual({ state: 0, firmware: '8.2.3' });
  });

  it('#19–#21 $AT: plugged, charging, unplugged', () => {
    expect(decodeAT(parseLine('$AT 02 02 32 0700^37'))).toEqual({ state: 2, pilot: 2, capacityA: 32, vflags: 0x700, elapsedS: null });
    expect(decodeAT(parseLine('$AT 03 03 32 0540^31'))).toMatchObject({ state: 3, pilot: 3, vflags: 0x540 });
    expect(decodeAT(parseLine('$AT 01 01 32 0200^32'))).toMatchObject({ state: 1, vflags: 0x200 });
  });

  it('#22 $AN button and $WF', () => {
    expect(decodeAN(parseLine('$AN 0^3B'))).toEqual({ long: false });
    expect(decodeAN(parseLine('$AN 1^3A'))).toEqual({ long: true });
    expect(decodeWF(parseLine('$WF 02^17'))).toEqual({ mode: 2 });
  });

  it('legacy $ST is classified as async (§4), read as hex', () => {
    const line = '$ST 03';
    const f = parseLine(line);
    expect(f.kind).toBe('ST');
    expect(decodeST(f)).toEqual({ state: 3 });
    // our own delay-timer command echoed back (echo mode) is not a state message
    expect(parseLine(buildCommand('ST', ['22', '30', '6', '0'], { seq: 4 }).line).kind).toBe('command');
  });
});

describe('version gating (§9)', () => {
  it('6.x commands are refused for a 5.x board and for an unknown version, allowed for 6.0.0', () => {
    for (const req of [Rapi.resetFaultCounters(), Rapi.stuckRelayRecovery(), Rapi.getRelayLife(), Rapi.relayEnable(3, true), Rapi.feature('L', true)]) {
      expect(versionGate(req, V5)).toMatch(/needs RAPI 6\.0\.0; this board speaks 5\.2\.1/);
      expect(versionGate(req, null)).toMatch(/not known/);
      expect(versionGate(req, V6)).toBeNull();
    }
    expect(versionGate(Rapi.getState(), V3)).toBeNull();
    expect(versionGate(Rapi.feature('B', false), V5)).toBeNull();
  });

  it('every builder names a command of the table', () => {
    for (const [name, fn] of Object.entries(Rapi)) {
      const args: Record<string, unknown[]> = {
        lcdUpdates: [true], backlight: ['white'], feature: ['B', true], lcdText: [0, 0, 'x'], lcdType: [true],
        setClock: [{ year: 2026, month: 1, day: 1, hour: 0, minute: 0, second: 0 }], ammeterCalMode: [false], timeLimit: [4], authLock: [true],
        mennekes: ['auto'], ammeterCal: [220, 0], setCurrent: [16], chargeLimit: [10], setLifetimeEnergy: [0], serviceLevel: [2],
        voltmeterCal: [1, 0], delayTimer: [1, 2, 3, 4], setVoltage: [230000], heartbeatArm: [30, 6], fakeCurrent: [10], relayPwm: [100, 255],
        threePhase: [true], overTempPanic: [700], relayEnable: [1, true], zeroCurrentThreshold: [100],
      };
      const req = (fn as (...a: unknown[]) => { cmd: string; query: boolean })(...(args[name] ?? []));
      expect(COMMANDS[req.cmd], name).toBeDefined();
      expect(req.query, name).toBe(COMMANDS[req.cmd]!.query);
    }
  });
});

describe('RapiFramer (§1, §3, §12)', () => {
  it('splits frames on CR, across chunks', () => {
    const f = new RapiFramer();
    expect(f.push(bytes('$OK 8.2.3 5.2'))).toEqual([]);
    const out = f.push(bytes('.1^2F\r$AT 02 02 32 0700^37\r'));
    expect(out.map((x) => x.kind)).toEqual(['OK', 'AT']);
    expect(f.corruptBytes).toBe(0);
  });

  it('§1, §12.7: boot debug text with CRLF is ignored and counted as noise', () => {
    const f = new RapiFramer();
    const out = f.push(bytes('\r\nrelayCloseMs: 100\r\nrelayHoldPwm: 255\r\n$AT 00 01 32 0200^31\r$AB 00 8.2.3^1E\r'));
    expect(out.map((x) => x.kind)).toEqual(['AT', 'AB']);
    expect(f.noiseBytes).toBe('relayCloseMs: 100relayHoldPwm: 255'.length);
  });

  it('§2: a `$` restarts the frame, the partial one counts as corrupt', () => {
    const f = new RapiFramer();
    const out = f.push(bytes('$OK 1$OK^20\r'));
    expect(out).toHaveLength(1);
    expect(out[0]!.line).toBe('$OK^20');
    expect(f.corruptBytes).toBe(5);
  });

  it('§3, §12.1: echo mode — our own command text comes back before the response, with a trailing LF', () => {
    const f = new RapiFramer();
    const out = f.push(bytes('$GS :01^2B\r$OK 01 0 01 0200 :01^09\r\n'));
    expect(out.map((x) => x.kind)).toEqual(['command', 'OK']);
    expect(out[1]!.seq).toBe(1);
    expect(f.corruptBytes).toBe(0);
  });

  it('a reply with a bad checksum is returned flagged and counted', () => {
    const f = new RapiFramer();
    const [r] = f.push(bytes('$OK 01 0 01 0200^13\r'));
    expect(r!.checksumOk).toBe(false);
    expect(f.badChecksumFrames).toBe(1);
    expect(f.corruptBytes).toBe('$OK 01 0 01 0200^13\r'.length);
  });

  it('resynchronises after an over-long line and after reset()', () => {
    const f = new RapiFramer({ maxLine: 20 });
    expect(f.push(bytes('$' + 'x'.repeat(40)))).toEqual([]);
    expect(f.push(bytes('$OK^20\r'))).toHaveLength(1);
    f.push(bytes('$OK 12'));
    f.reset();
    expect(f.push(bytes('3^20\r$OK^20\r'))).toHaveLength(1);
  });
});
