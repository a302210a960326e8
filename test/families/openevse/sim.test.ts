/**
 * The OpenEVSE board simulator against openevse-simulation.md (sim §n) and the wire formats of
 * openevse-rapi.md (§n), on the memory transport and on a real pseudo-terminal.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, RealClock } from '../../../src/clock.js';
import { buildCommand, decodeAT, decodeGS, decodeGU, parseLine, xorChecksum, type RapiFrame } from '../../../src/families/openevse/codec.js';
import { RapiFramer } from '../../../src/families/openevse/framer.js';
import { OpenEvseSim, type EvseSimProfileName } from '../../../src/families/openevse/sim.js';
import { SerialTransport } from '../../../src/link/transports/serial.js';
import { evseBench, type EvseBench } from '../../helpers/openevse-link.js';
import { openPtyPair } from '../../helpers/pty-pair.js';
import { waitFor } from '../../helpers/wait.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await Promise.resolve(cleanups.pop()!()).catch(() => undefined);
});

async function booted(clock: FakeClock, profile?: EvseSimProfileName, extra: Parameters<typeof evseBench>[1] = {}): Promise<EvseBench> {
  const b = await evseBench(clock, { profile, ...extra });
  cleanups.push(() => b.sim.stop());
  await clock.advance(2000);
  return b;
}

/** Writes raw text to the board and returns the frames that came back within `ms`. */
async function tx(b: EvseBench, clock: FakeClock, text: string, ms = 10): Promise<RapiFrame[]> {
  const from = b.rx.length;
  await b.mem.host.write(Buffer.from(text, 'latin1'));
  await clock.advance(ms);
  return b.rx.slice(from);
}
const lines = (fs: RapiFrame[]) => fs.map((f) => f.line);
/** A line with its XOR checksum, the way the board prints it. */
const ck = (body: string) => `${body}^${xorChecksum(body).toString(16).toUpperCase().padStart(2, '0')}`;
const cmd = (c: string, args: string[] = [], seq?: number, checksum: 'xor' | 'additive' | 'none' = 'xor') => buildCommand(c, args, { seq, checksum }).line + '\r';

describe('boot (sim §5, rapi §4.1)', () => {
  it('prints debug text, a forced $AT 00, then $AB 00 8.2.3^1E, then the first real $AT', async () => {
    const clock = new FakeClock();
    const b = await evseBench(clock);
    cleanups.push(() => b.sim.stop());
    await clock.advance(100);
    expect(b.rx.map((f) => f.kind)).toEqual(['AT']);
    expect(decodeAT(b.rx[0]!)).toMatchObject({ state: 0, capacityA: 32, vflags: 0x0200 });
    expect(b.framer.noiseBytes).toBeGreaterThan(0);
    await clock.advance(2000);
    expect(lines(b.rx.slice(1))).toEqual(['$AB 00 8.2.3^1E', '$AT 01 01 32 0200^32']);
  });

  it('answers nothing during POST', async () => {
    const clock = new FakeClock();
    const b = await evseBench(clock);
    cleanups.push(() => b.sim.stop());
    await clock.advance(100);
    expect(await tx(b, clock, cmd('GV'))).toEqual([]);
  });

  it('$FR: $OK, ≈1.5 s of silence, then the whole boot sequence; volatile state resets, saved survives', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    await tx(b, clock, cmd('SC', ['20']));
    await tx(b, clock, cmd('SC', ['10', 'V']));
    await tx(b, clock, cmd('FF', ['E', '1']));
    const r = await tx(b, clock, cmd('FR'), 1000);
    expect(r.filter((f) => f.kind !== 'command').map((f) => f.kind)).toEqual(['OK']);
    await clock.advance(3000);
    const after = b.rx.slice(-3).map((f) => f.kind);
    expect(after).toEqual(['AT', 'AB', 'AT']);
    expect(b.sim.snapshot).toMatchObject({ echo: false, capacityA: 20 });
  });

  it('UL POST failure: $AB 07 and the board stays faulted', async () => {
    const clock = new FakeClock();
    const b = await booted(clock, 'us-8.2.3', { postResult: 7 });
    expect(b.rx.find((f) => f.kind === 'AB')!.line).toMatch(/^\$AB 07 8\.2\.3\^/);
    b.sim.act('plug-in');
    await clock.advance(1000);
    expect(b.sim.snapshot.state).toBe(7);
  });
});

describe('receiver and responses (sim §1, §7; rapi §10)', () => {
  it('answers the worked examples byte-exactly', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    expect(lines(await tx(b, clock, '$GV^35\r'))).toEqual(['$OK 8.2.3 5.2.1^2F']);
    expect(lines(await tx(b, clock, '$GS^30\r'))).toEqual(['$OK 01 0 01 0200^12']);
    expect(lines(await tx(b, clock, '$GC^20\r'))).toEqual(['$OK 6 80 32 32^1E']);
    expect(lines(await tx(b, clock, '$SC 90^1D\r'))).toEqual(['$NK 80^09', ck('$AT 01 01 80 0200')]);
    expect(lines(await tx(b, clock, '$SC 16^13\r'))).toEqual(['$OK 16^07', ck('$AT 01 01 16 0200')]);
    expect(lines(await tx(b, clock, '$GS :2A^59\r'))).toEqual([ck('$OK 01 0 01 0200 :2A')]);
    expect(lines(await tx(b, clock, '$FE*AF\r'))).toEqual(['$OK^20']);
    expect(lines(await tx(b, clock, '$GS*BE\r'))).toEqual(['$OK 01 0 01 0200^12']);
    expect(lines(await tx(b, clock, '$GS^31\r'))).toEqual(['$NK^21']);
    expect(lines(await tx(b, clock, '$ZZ :05^3B\r'))).toEqual(['$NK :05^3E']);
    expect(lines(await tx(b, clock, '$GF^25\r'))).toEqual(['$OK 0 0 0^30']);
    expect(lines(await tx(b, clock, '$SY 100 6^29\r'))).toEqual(['$OK 100 6 0^37']);
  });

  it('a checksum NK drops the seq id (§12.3); no checksum is accepted; lower-case hex too', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    expect(lines(await tx(b, clock, '$GS :07^00\r'))).toEqual(['$NK^21']);
    expect((await tx(b, clock, '$GV\r'))[0]!.kind).toBe('OK');
    const lc = `$GS :2a^${xorChecksum('$GS :2a').toString(16)}\r`;
    expect((await tx(b, clock, lc))[0]).toMatchObject({ kind: 'OK', seq: 0x2a });
  });

  it('a frame longer than 31 characters gets no answer at all (§12.2); 31 does', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    const long = buildCommand('FP', ['0', '0', 'ABCDEFGHIJKLMNOPQRSTU']).line;
    expect(long.length).toBe(32);
    expect(await tx(b, clock, long + '\r')).toEqual([]);
    const ok = buildCommand('FP', ['0', '0', 'ABCDEFGHIJKLMNOPQRST']).line;
    expect(ok.length).toBe(31);
    expect((await tx(b, clock, ok + '\r'))[0]!.kind).toBe('OK');
    expect(b.sim.snapshot.lcd[0]).toBe('ABCDEFGHIJKLMNOP');
  });

  it('more than 10 tokens ⇒ $NK^21; a `$` restarts the frame; bytes without `$` and LF are ignored', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    expect(lines(await tx(b, clock, '$FP 0 0 a b c d e f g h\r'))).toEqual(['$NK^21']);
    expect(lines(await tx(b, clock, 'junk\n$GV^3$GV^35\r'))).toEqual(['$OK 8.2.3 5.2.1^2F']);
  });

  it('echo (sim §7): `$FF E 0` turns echo ON (8.2.3 bug); bytes come back first, responses get CR LF, async never', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    const chunks: string[] = [];
    b.mem.host.onData((c) => chunks.push(Buffer.from(c).toString('latin1')));
    await tx(b, clock, cmd('FF', ['E', '0']));
    expect(b.sim.snapshot.echo).toBe(true);
    chunks.length = 0;
    await tx(b, clock, cmd('SC', ['20'], 3));
    const text = chunks.join('');
    expect(text).toBe(`${buildCommand('SC', ['20'], { seq: 3 }).line}\r${ck('$OK 20 :03')}\r\n${ck('$AT 01 01 20 0200')}\r`);
  });

  it('without the bug switch, `$FF E 0` turns echo off', async () => {
    const clock = new FakeClock();
    const b = await booted(clock, 'us-8.2.3', { echoBug: false });
    await tx(b, clock, cmd('FF', ['E', '1']));
    await tx(b, clock, cmd('FF', ['E', '0']));
    expect(b.sim.snapshot.echo).toBe(false);
  });
});

describe('EV sessions, counters and $AT (sim §2.1, §4, §6)', () => {
  it('plug in, charge one hour at 32 A / 240 V, unplug: states, vflags, elapsed, Ws and lifetime Wh', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    const from = b.rx.length;
    b.sim.act('plug-in');
    await clock.advance(500);
    b.sim.act('request-charge');
    await clock.advance(500);
    expect(lines(b.rx.slice(from))).toEqual(['$AT 02 02 32 0700^37', '$AT 03 03 32 0540^31']);
    await clock.advance(3600_000 - 250);
    const gs = decodeGS((await tx(b, clock, cmd('GS')))[0]!, { major: 5, minor: 2, patch: 1 })!;
    expect(gs).toMatchObject({ state: 3, pilot: 3, vflags: 0x0540 });
    expect(gs.elapsedS).toBeGreaterThanOrEqual(3599);
    expect(gs.elapsedS).toBeLessThanOrEqual(3601);
    expect(lines(await tx(b, clock, cmd('GG')))).toEqual(['$OK 32000 240000^17']);
    const gu = decodeGU((await tx(b, clock, cmd('GU')))[0]!)!;
    // 7.68 kW for ~3600 s; firmware integer maths (sim §6)
    expect(gu.sessionWs / 3600).toBeGreaterThan(7670);
    expect(gu.sessionWs / 3600).toBeLessThan(7690);
    expect(gu.lifetimeWh).toBe(0);
    const at = b.rx.length;
    b.sim.act('unplug');
    await clock.advance(500);
    expect(lines(b.rx.slice(at))).toEqual(['$AT 01 01 32 0200^32']);
    const gu2 = decodeGU((await tx(b, clock, cmd('GU')))[0]!)!;
    expect(gu2.sessionWs).toBe(gu.sessionWs + 0); // kept after unplug
    expect(gu2.lifetimeWh).toBe(Math.floor(gu.sessionWs / 3600));
  });

  it('stop requesting: C→B arrives as $AT, elapsed freezes and accumulates on the next close', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    b.sim.act('plug-in');
    b.sim.act('request-charge');
    await clock.advance(10_500);
    b.sim.act('stop-charge');
    await clock.advance(500);
    expect(b.rx[b.rx.length - 1]!.line).toMatch(/^\$AT 02 02 32 0500\^/);
    const e1 = b.sim.snapshot.elapsedS;
    await clock.advance(5000);
    expect(b.sim.snapshot.elapsedS).toBe(e1);
    b.sim.act('request-charge');
    await clock.advance(5000);
    expect(b.sim.snapshot.elapsedS).toBeGreaterThan(e1);
  });

  it('sleep, disable, enable (rapi §5.1): $AT fe / ff; G0 = 2 while disabled; FE re-evaluates after the debounce', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    b.sim.act('plug-in');
    b.sim.act('request-charge');
    await clock.advance(1000);
    let r = await tx(b, clock, cmd('FS'));
    expect(r.map((f) => f.line.slice(0, 6))).toEqual(['$OK^20', '$AT fe']);
    await clock.advance(500);
    expect(b.sim.snapshot.relayClosed).toBe(false);
    r = await tx(b, clock, cmd('FD'));
    expect(r[1]!.line.slice(0, 6)).toBe('$AT ff');
    expect(lines(await tx(b, clock, cmd('G0')))).toEqual(['$OK 2^32']);
    r = await tx(b, clock, cmd('FE'));
    expect(lines(r)).toEqual(['$OK^20']);
    await clock.advance(600);
    expect(b.rx[b.rx.length - 1]!.line).toMatch(/^\$AT 03 03 32 0540/);
  });

  it('unplugged while disabled: `$FE` finds the plug as it is now ($AT 01, not a stale EV_CONNECTED)', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    b.sim.act('plug-in');
    await clock.advance(500);
    await tx(b, clock, cmd('FD'));
    b.sim.act('unplug');
    await clock.advance(500);
    expect(b.sim.snapshot.vflags & 0x0100).toBe(0x0100); // frozen while disabled
    await tx(b, clock, cmd('FE'));
    await clock.advance(600);
    expect(b.rx.at(-1)!.line).toMatch(/^\$AT 01 01 32 0200\^/);
  });

  it('capacity rules (sim §3): volatile never exceeds saved, SL 1 applies the L1 saved value, SC M only once', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    await tx(b, clock, cmd('SC', ['20']));
    expect(lines(await tx(b, clock, cmd('SC', ['30', 'V'])))[0]).toMatch(/^\$NK 20\^/);
    expect(lines(await tx(b, clock, cmd('SC', ['4'])))[0]).toMatch(/^\$NK 6\^/);
    await tx(b, clock, cmd('SL', ['1']));
    expect(lines(await tx(b, clock, cmd('GC')))[0]).toMatch(/^\$OK 6 24 12 12\^/);
    expect(lines(await tx(b, clock, cmd('GG')))[0]).toMatch(/^\$OK 0 120000\^/);
    expect(lines(await tx(b, clock, cmd('GE')))[0]).toMatch(/^\$OK 12 0020\^/);
    await tx(b, clock, cmd('SL', ['2']));
    await tx(b, clock, cmd('SC', ['20']));
    expect(lines(await tx(b, clock, cmd('SC', ['40', 'M'])))[0]).toMatch(/^\$OK 40\^/);
    expect(lines(await tx(b, clock, cmd('SC', ['50', 'M'])))[0]).toMatch(/^\$NK 40\^/);
    expect(lines(await tx(b, clock, cmd('GC')))[0]).toMatch(/^\$OK 6 40 20 20\^/);
  });
});

describe('faults (sim §2.2)', () => {
  it('GFCI trip while charging: state 06, relay open, GFI_TRIPPED, counter; unplug clears it', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    b.sim.act('plug-in');
    b.sim.act('request-charge');
    await clock.advance(5000);
    b.sim.act('gfci-trip');
    await clock.advance(300);
    const at = decodeAT(b.rx[b.rx.length - 1]!)!;
    expect(at).toMatchObject({ state: 6, pilot: 0 });
    expect(at.vflags! & 0x80).toBe(0x80);
    expect(lines(await tx(b, clock, cmd('GF')))[0]).toMatch(/^\$OK 1 0 0\^/);
    expect(b.sim.snapshot.relayClosed).toBe(false);
    b.sim.act('unplug');
    await clock.advance(500);
    expect(b.sim.snapshot.state).toBe(1);
  });

  it('GFCI trip retries after 5 minutes while the EV stays plugged', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    b.sim.act('plug-in');
    b.sim.act('request-charge');
    await clock.advance(5000);
    b.sim.act('gfci-trip');
    await clock.advance(4 * 60_000);
    expect(b.sim.snapshot.state).toBe(6);
    await clock.advance(61_000);
    expect(b.sim.snapshot.state).toBe(3);
  });

  it('no ground: trips 1 s after the relay closes, counted in GF; a fault within 2 s of close is a hard fault', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    b.sim.act('no-ground');
    b.sim.act('plug-in');
    b.sim.act('request-charge');
    await clock.advance(2000);
    expect(b.sim.snapshot.state).toBe(7);
    expect(b.sim.snapshot.vflags & 0x22).toBe(0x22); // NOGND_TRIPPED + HARD_FAULT
    expect(lines(await tx(b, clock, cmd('GF')))[0]).toMatch(/^\$OK 0 1 0\^/);
    expect(lines(await tx(b, clock, cmd('FP', ['0', '0', 'hi'])))[0]).toBe('$NK^21');
  });

  it('temperature throttling while charging: halve at 65 °C, quarter at 68 °C, restore at 62 °C, fault 0a at 71 °C', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    b.sim.act('plug-in');
    b.sim.act('request-charge');
    await clock.advance(1000);
    b.sim.setTemperatures(66);
    await clock.advance(300);
    expect(b.sim.snapshot.capacityA).toBe(16);
    expect(decodeAT(b.rx[b.rx.length - 1]!)).toMatchObject({ state: 3, capacityA: 16 });
    expect((await tx(b, clock, cmd('SC', ['20'])))[0]).toMatchObject({ kind: 'NK', args: ['16'] });
    b.sim.setTemperatures(69);
    await clock.advance(300);
    expect(b.sim.snapshot.capacityA).toBe(8);
    b.sim.setTemperatures(62);
    await clock.advance(300);
    expect(b.sim.snapshot.capacityA).toBe(32);
    b.sim.setTemperatures(71.5);
    await clock.advance(300);
    expect(b.sim.snapshot.state).toBe(0x0a);
    expect(b.sim.snapshot.vflags & 0x0002).toBe(0x0002);
  });

  it('scripted EV behaviour on the clock (SimScript): plug, charge, stop, unplug', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    b.sim.at(1000, 'plug-in').at(2000, 'request-charge').at(62_000, 'stop-charge').at(63_000, 'unplug');
    const from = b.rx.length;
    await clock.advance(64_000);
    expect(b.rx.slice(from).filter((f) => f.kind === 'AT').map((f) => decodeAT(f)!.state)).toEqual([2, 3, 2, 1]);
    expect(b.sim.ev.pending()).toEqual([]);
    expect(b.sim.snapshot.lifetimeWh).toBe(Math.floor(b.sim.snapshot.sessionWs / 3600));
  });
});

describe('front button (rapi §4 $AN/$WF, sim §4)', () => {
  it('disabled with `$FF B 0`, presses go out as $AN 0 / $AN 1; enabled, a long hold asks for WiFi AP mode ($WF 02) and a short press sleeps', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    await tx(b, clock, cmd('FF', ['B', '0']));
    let from = b.rx.length;
    b.sim.act('button-short');
    b.sim.act('button-long');
    await clock.advance(10);
    expect(lines(b.rx.slice(from))).toEqual(['$AN 0^3B', '$AN 1^3A']);
    await tx(b, clock, cmd('FF', ['B', '1']));
    from = b.rx.length;
    b.sim.act('button-long');
    b.sim.act('button-short');
    await clock.advance(300);
    expect(lines(b.rx.slice(from))[0]).toBe('$WF 02^17');
    expect(b.sim.snapshot.state).toBe(0xfe);
  });
});

describe('the demo car', () => {
  it('plugs in, charges, stays parked, drives away, and comes back', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    b.sim.startDemoCar({ firstAfterMs: 1000, chargeMs: 60_000, parkedMs: 30_000, awayMs: 20_000 });
    const from = b.rx.length;
    await clock.advance(1000 + 2000 + 60_000 + 30_000 + 20_000 + 3000);
    expect(b.rx.slice(from).filter((f) => f.kind === 'AT').map((f) => decodeAT(f)!.state)).toEqual([2, 3, 2, 1, 2, 3]);
    b.sim.stopDemoCar();
  });
});

describe('heartbeat supervision (rapi §6, sim §3)', () => {
  it('a missed pulse lowers the capacity to the fallback, pulses are refused until the cookie, which restores it', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    expect(lines(await tx(b, clock, cmd('SY', ['10', '6'])))).toEqual([ck('$OK 10 6 0')]);
    await clock.advance(9000);
    expect((await tx(b, clock, cmd('SY')))[0]!.args).toEqual(['10', '6', '0']);
    await clock.advance(10_500);
    expect(decodeAT(b.rx[b.rx.length - 1]!)).toMatchObject({ capacityA: 6 });
    expect((await tx(b, clock, cmd('GY')))[0]!.args).toEqual(['10', '6', '2']);
    const pulse = (await tx(b, clock, cmd('SY')))[0]!;
    expect(pulse).toMatchObject({ kind: 'NK', args: ['10', '6', '2'] });
    expect((await tx(b, clock, cmd('SY', ['164'])))[0]!.kind).toBe('NK');
    const ack = await tx(b, clock, cmd('SY', ['165']));
    expect(ack[0]).toMatchObject({ kind: 'OK', args: ['10', '6', '1'] });
    expect(decodeAT(ack[1]!)).toMatchObject({ capacityA: 32 });
    expect((await tx(b, clock, cmd('SY', ['165'])))[0]).toMatchObject({ kind: 'OK', args: ['10', '6', '0'] });
  });

  it('the interval and fallback survive a reboot; the trigger does not', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    await tx(b, clock, cmd('SY', ['10', '6']));
    await clock.advance(12_000);
    await tx(b, clock, cmd('FR'), 6000);
    expect((await tx(b, clock, cmd('GY')))[0]!.args).toEqual(['10', '6', '0']);
  });
});

describe('profiles (sim §8)', () => {
  it('eu-8.2.3: .EU firmware, ECF 0x0020 set, no SL A, 32 A max, 230 V', async () => {
    const clock = new FakeClock();
    const b = await booted(clock, 'eu-8.2.3');
    expect((await tx(b, clock, cmd('GV')))[0]!.args).toEqual(['8.2.3.EU', '5.2.1']);
    expect((await tx(b, clock, cmd('GE')))[0]!.args).toEqual(['32', '0021']);
    expect((await tx(b, clock, cmd('SL', ['A'])))[0]!.kind).toBe('NK');
    expect((await tx(b, clock, cmd('GC')))[0]!.args).toEqual(['6', '32', '32', '32']);
    expect((await tx(b, clock, cmd('GG')))[0]!.args).toEqual(['0', '230000']);
  });

  it('d9-6.0.0 answers the 6.0.0 set; us-8.2.3 answers $NK to it', async () => {
    const clock = new FakeClock();
    const d9 = await booted(clock, 'd9-6.0.0');
    expect((await tx(d9, clock, cmd('GV')))[0]!.args).toEqual(['9.0.1', '6.0.0']);
    for (const c of ['GR', 'GZ', 'GW', 'GL', 'GO', 'FH']) expect((await tx(d9, clock, cmd(c)))[0]!.kind, c).toBe('OK');
    expect((await tx(d9, clock, cmd('GO')))[0]!.args).toHaveLength(1);
    const us = await booted(clock, 'us-8.2.3');
    for (const c of ['GR', 'GZ', 'GW', 'GL', 'GO', 'FH', 'FC']) expect((await tx(us, clock, cmd(c)))[0]!.kind, c).toBe('NK');
    expect((await tx(us, clock, cmd('FF', ['Z', '1'])))[0]!.kind).toBe('NK');
  });

  it('legacy-3.x: decimal `state elapsed`, `$ST` on state changes, no heartbeat', async () => {
    const clock = new FakeClock();
    const b = await booted(clock, 'legacy-3.x');
    expect(b.rx.some((f) => f.kind === 'AB' || f.kind === 'AT')).toBe(false);
    expect((await tx(b, clock, cmd('GS')))[0]!.args).toEqual(['1', '0']);
    b.sim.act('plug-in');
    await clock.advance(500);
    expect(b.rx[b.rx.length - 1]!.line).toMatch(/^\$ST 02\^/);
    expect((await tx(b, clock, cmd('SY', ['30', '6'])))[0]!.kind).toBe('NK');
  });

  it('arduino-full: time limit only in B/C, reached ⇒ sleep with LIMIT_SLEEP, cleared on unplug', async () => {
    const clock = new FakeClock();
    const b = await booted(clock, 'arduino-full');
    expect((await tx(b, clock, cmd('S3', ['1'])))[0]!.kind).toBe('NK');
    b.sim.act('plug-in');
    b.sim.act('request-charge');
    await clock.advance(1000);
    expect((await tx(b, clock, cmd('S3', ['1'])))[0]!.kind).toBe('OK');
    await clock.advance(15 * 60_000);
    expect(b.sim.snapshot.state).toBe(0xfe);
    expect(b.sim.snapshot.vflags & 0x4).toBe(0x4);
    b.sim.act('unplug');
    await clock.advance(500);
    expect(b.sim.snapshot.state).toBe(1);
  });
});

describe('wire scripting (SimScript)', () => {
  it('corrupt-reply, drop-reply, nak and ignore apply once to the matching command', async () => {
    const clock = new FakeClock();
    const b = await booted(clock);
    b.sim.script.next('corrupt-reply', { when: (l) => l.startsWith('$GS') });
    expect((await tx(b, clock, cmd('GS')))[0]!.checksumOk).toBe(false);
    expect((await tx(b, clock, cmd('GS')))[0]!.checksumOk).toBe(true);
    b.sim.script.next('drop-reply', { when: (l) => l.startsWith('$SC') });
    expect(await tx(b, clock, cmd('SC', ['20']))).toHaveLength(1); // only the $AT
    expect(b.sim.snapshot.capacityA).toBe(20);
    b.sim.script.next('nak');
    expect((await tx(b, clock, cmd('GV', [], 9)))[0]).toMatchObject({ kind: 'NK', seq: 9 });
    b.sim.script.next('ignore');
    expect(await tx(b, clock, cmd('SC', ['24']))).toEqual([]);
    expect(b.sim.snapshot.capacityA).toBe(20);
  });
});

describe('on a real pseudo-terminal (serialport)', () => {
  it('boots and answers GV and GS through a pty pair', async () => {
    const pair = await openPtyPair();
    cleanups.push(() => pair.close());
    const clock = new RealClock(20);
    const device = new SerialTransport({ path: pair.b, baudRate: 115200 });
    await device.open();
    cleanups.push(() => device.close());
    const host = new SerialTransport({ path: pair.a, baudRate: 115200 });
    await host.open();
    cleanups.push(() => host.close());
    const framer = new RapiFramer();
    const rx: RapiFrame[] = [];
    host.onData((c) => rx.push(...framer.push(c)));
    const sim = new OpenEvseSim({ transport: device, clock });
    sim.start();
    cleanups.push(() => sim.stop());
    await waitFor(() => rx.some((f) => f.kind === 'AB'), '$AB over the pty');
    await host.write(Buffer.from('$GV^35\r'));
    await waitFor(() => rx.some((f) => f.kind === 'OK'), 'GV reply');
    expect(rx.find((f) => f.kind === 'OK')!.line).toBe('$OK 8.2.3 5.2.1^2F');
    sim.act('plug-in');
    await waitFor(() => rx.some((f) => f.kind === 'AT' && decodeAT(f)!.state === 2), '$AT 02 over the pty');
    expect(parseLine(rx.find((f) => f.kind === 'AB')!.line).checksumOk).toBe(true);
  });
});
