/**
 * OpenEVSE driver against the board simulator on the memory transport (and one real pty):
 * every profile, version gating, heartbeat arm/miss/acknowledge, boot mid-session, async vs
 * polled state, bad checksums, frames, execute with read-back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, RealClock } from '../../../src/clock.js';
import type { AdmittedCommand, Observation } from '../../../src/families/contract.js';
import { type RapiFrame } from '../../../src/families/openevse/codec.js';
import { OpenEvseDriver, type OpenEvseDriverOptions } from '../../../src/families/openevse/driver.js';
import { OpenEvseSim, type EvseSimProfileName } from '../../../src/families/openevse/sim.js';
import type { EvseCommand, EvseFact } from '../../../src/families/openevse/types.js';
import { SerialTransport } from '../../../src/link/transports/serial.js';
import { recordTx } from '../../helpers/expect-tx.js';
import { evseBench, rapiLink, type EvseBench } from '../../helpers/openevse-link.js';
import { openPtyPair } from '../../helpers/pty-pair.js';
import { openRapiBridge } from '../../helpers/openevse-tcp.js';
import { TcpTransport } from '../../../src/link/transports/tcp.js';
import { waitFor } from '../../helpers/wait.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await Promise.resolve(cleanups.pop()!()).catch(() => undefined);
});

/** Tests stand in for the gate: the brand is a type-level fact only. */
const admitted = (c: EvseCommand) => c as AdmittedCommand<EvseCommand>;
const show = (f: RapiFrame) => f.line;

interface Setup extends EvseBench {
  clock: FakeClock;
  driver: OpenEvseDriver;
  obs: Observation<EvseFact>[];
  tx: ReturnType<typeof recordTx<RapiFrame>>;
  facts<K extends EvseFact['kind']>(kind: K): Extract<EvseFact, { kind: K }>[];
  readings(): Record<string, unknown>;
}

async function setup(profile: EvseSimProfileName = 'us-8.2.3', opts: Partial<OpenEvseDriverOptions> = {}, simOpts: Parameters<typeof evseBench>[1] = {}): Promise<Setup> {
  const clock = new FakeClock();
  const bench = await evseBench(clock, { profile, ...simOpts });
  cleanups.push(() => bench.sim.stop());
  await clock.advance(2000); // the board boots before the driver starts
  const tx = recordTx(bench.link, clock);
  const driver = new OpenEvseDriver({ link: bench.link, clock, deviceId: 'evse1', name: 'garage', framer: bench.framer, ...opts });
  const obs: Observation<EvseFact>[] = [];
  driver.onObservation((o) => obs.push(o));
  driver.start();
  cleanups.push(() => driver.stop());
  return {
    ...bench,
    clock,
    driver,
    obs,
    tx,
    facts: (kind) => obs.flatMap((o) => (o.type === 'fact' && o.fact.kind === kind ? [o.fact as never] : [])),
    readings: () => Object.assign({}, ...obs.flatMap((o) => (o.type === 'reading' ? [o.values] : []))),
  };
}

const online = (s: Setup) => s.obs.filter((o) => o.type === 'presence').at(-1);
async function untilOnline(s: Setup, ms = 3000): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    const p = online(s);
    if (p && p.type === 'presence' && p.online) return;
    await s.clock.advance(10);
  }
  throw new Error(`not online after ${ms} ms: ${s.tx.frames.map(show).join(', ')}`);
}

describe('connect, per profile', () => {
  for (const [profile, fw, proto, hb, maxA, voltageV] of [
    ['us-8.2.3', '8.2.3', '5.2.1', 'armed', 80, 240],
    ['eu-8.2.3', '8.2.3.EU', '5.2.1', 'armed', 32, 230],
    ['arduino-full', '8.2.3', '5.2.1', 'armed', 80, 240],
    ['d9-6.0.0', '9.0.1', '6.0.0', 'armed', 80, 240],
    ['legacy-3.x', '3.11.3', '3.0.1', 'unsupported', 80, 240],
  ] as const) {
    it(`${profile}: GV first without a seq id, identity in presence, initial reads, heartbeat ${hb}`, async () => {
      const s = await setup(profile);
      await untilOnline(s);
      expect(s.tx.frames[0]!.line).toBe('$GV^35');
      expect(s.tx.frames.slice(1).every((f) => f.seq !== null)).toBe(true);
      const p = online(s)!;
      expect(p).toMatchObject({ type: 'presence', online: true, identity: { firmware: fw, protocol: proto } });
      expect(s.driver.heartbeatState).toBe(hb);
      const r = s.readings();
      expect(r).toMatchObject({ state: 1, stateName: 'not_connected', heartbeatState: hb });
      if (profile !== 'legacy-3.x') {
        expect(r).toMatchObject({ capacityA: 32, minA: 6, maxA, pilot: 1, voltageV });
        expect(s.tx.frames.map((f) => f.cmd)).toContain('SY');
      }
    });
  }

  it('version gating: a 6.x command is never sent to a 5.x board (refused with the versions), and is sent to a 6.0.0 board', async () => {
    const us = await setup('us-8.2.3');
    await untilOnline(us);
    const r = await us.driver.execute(admitted({ kind: 'resetFaultCounters' }));
    expect(r).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect(r.ok ? '' : r.message).toMatch(/needs RAPI 6\.0\.0; this board speaks 5\.2\.1/);
    expect((await us.driver.execute(admitted({ kind: 'feature', letter: 'Z', on: true }))).ok).toBe(false);
    await us.tx.expectNone((f) => f.cmd === 'FC' || (f.cmd === 'FF' && f.args[0] === 'Z'), 500, { describe: show });
    expect(us.sim.received.some((l) => l.startsWith('$FC'))).toBe(false);

    const d9 = await setup('d9-6.0.0');
    await untilOnline(d9);
    const ok = await d9.driver.execute(admitted({ kind: 'resetFaultCounters' }));
    expect(ok).toMatchObject({ ok: true, readBack: { gfiTrips: 0, noGroundTrips: 0, stuckRelayTrips: 0 } });
    expect(d9.sim.received.some((l) => l.startsWith('$FC'))).toBe(true);
  });

  it('legacy-3.x: decimal GS state and `$ST` async become status facts', async () => {
    const s = await setup('legacy-3.x');
    await untilOnline(s);
    s.sim.act('plug-in');
    await s.clock.advance(600);
    expect(s.facts('status').filter((f) => f.source === 'ST').map((f) => f.state)).toContain(2);
    await s.clock.advance(2500);
    expect(s.facts('status').filter((f) => f.source === 'GS').at(-1)).toMatchObject({ state: 2, pilot: null });
  });
});

describe('heartbeat supervision', () => {
  it('armed at connect with the configured interval and fallback, then pulsed', async () => {
    const s = await setup('us-8.2.3', { heartbeat: { intervalS: 30, fallbackA: 8 } });
    await s.tx.expect((f) => f.cmd === 'SY' && f.args.join(' ') === '30 8', 3000, { describe: show });
    await untilOnline(s);
    expect(s.sim.snapshot.heartbeat).toEqual({ intervalS: 30, fallbackA: 8, trigger: 0 });
    expect(s.readings()).toMatchObject({ heartbeatState: 'armed', heartbeatArmed: 1, heartbeatIntervalS: 30, heartbeatFallbackA: 8 });
    await s.tx.expect((f) => f.cmd === 'SY' && f.args.length === 0, 11_000, { describe: show, stepMs: 100 });
    await s.tx.expect((f) => f.cmd === 'SY' && f.args.length === 0, 11_000, { describe: show, stepMs: 100 });
    await s.clock.advance(60_000);
    expect(s.sim.snapshot.heartbeat.trigger).toBe(0);
  });

  it('a missed pulse: the board falls back to the safe current; the next pulse is refused and the driver acknowledges with the cookie', async () => {
    const s = await setup('us-8.2.3', { heartbeat: { intervalS: 10, fallbackA: 6 } });
    await untilOnline(s);
    // the pulses are lost on the way (e.g. the server stalled): the board misses them
    s.sim.script.always('ignore', { when: (l) => /^\$SY :/.test(l) });
    await s.clock.advance(12_000);
    expect(s.sim.snapshot.capacityA).toBe(6);
    expect(s.sim.snapshot.heartbeat.trigger).toBe(2);
    s.sim.script.clear();
    await s.tx.expect((f) => f.cmd === 'SY' && f.args[0] === '165', 5000, { describe: show, stepMs: 50 });
    await s.clock.advance(200);
    expect(s.sim.snapshot.heartbeat.trigger).toBe(1);
    expect(s.sim.snapshot.capacityA).toBe(32);
    const events = s.obs.flatMap((o) => (o.type === 'fact' && o.event ? [o.event.type] : []));
    expect(events).toContain('evse.heartbeat.missed');
    expect(events).toContain('evse.heartbeat.acknowledged');
    expect(s.driver.heartbeatState).toBe('armed');
    expect(s.driver.stats()).toMatchObject({ heartbeatMisses: 1, heartbeatAcks: 1 });
    expect(s.facts('status').filter((f) => f.source === 'AT').map((f) => f.capacityA)).toEqual(expect.arrayContaining([6, 32]));
  });

  it('a refused acknowledgement (restore blocked) is retried with the next pulse; the miss is counted once', async () => {
    const s = await setup('us-8.2.3', { heartbeat: { intervalS: 10, fallbackA: 6 } });
    await untilOnline(s);
    s.sim.script.always('ignore', { when: (l) => /^\$SY :/.test(l) });
    await s.clock.advance(12_000);
    s.sim.script.clear();
    s.sim.script.next('nak', { when: (l) => /^\$SY 165 /.test(l) });
    await s.clock.advance(4000);
    expect(s.driver.heartbeatState).toBe('missed');
    expect(s.sim.snapshot.capacityA).toBe(6);
    await s.clock.advance(4000);
    expect(s.driver.heartbeatState).toBe('armed');
    expect(s.sim.snapshot.capacityA).toBe(32);
    expect(s.sim.received.filter((l) => /^\$SY 165 /.test(l))).toHaveLength(2);
    expect(s.driver.stats()).toMatchObject({ heartbeatMisses: 1, heartbeatAcks: 1 });
  });

  it('execute heartbeat: re-arms with new values, pulses follow the new interval', async () => {
    const s = await setup('us-8.2.3');
    await untilOnline(s);
    const r = await s.driver.execute(admitted({ kind: 'heartbeat', intervalS: 6, fallbackA: 10 }));
    expect(r).toMatchObject({ ok: true, readBack: { heartbeatIntervalS: 6, heartbeatFallbackA: 10, heartbeatTrigger: 0 } });
    s.tx.clear();
    await s.clock.advance(20_000);
    expect(s.tx.frames.filter((f) => f.cmd === 'SY' && f.args.length === 0).length).toBeGreaterThanOrEqual(9);
    expect(s.sim.snapshot.heartbeat.trigger).toBe(0);
  });

  it('a miss pending at connect (the server was gone) is acknowledged before arming', async () => {
    const clock = new FakeClock();
    const bench = await evseBench(clock);
    cleanups.push(() => bench.sim.stop());
    await clock.advance(2000);
    // an earlier server armed the heartbeat, then died
    await bench.mem.host.write(Buffer.from('$SY 10 6\r'));
    await clock.advance(15_000);
    expect(bench.sim.snapshot.heartbeat.trigger).toBe(2);
    const tx = recordTx(bench.link, clock);
    const driver = new OpenEvseDriver({ link: bench.link, clock, deviceId: 'evse1', heartbeat: { intervalS: 10, fallbackA: 6 } });
    driver.start();
    cleanups.push(() => driver.stop());
    await tx.expect((f) => f.cmd === 'SY' && f.args[0] === '165', 3000, { describe: show });
    await tx.expect((f) => f.cmd === 'SY' && f.args.join(' ') === '10 6', 3000, { describe: show });
    expect(bench.sim.snapshot.capacityA).toBe(32);
  });

  it('arming that got no reply at connect is tried again until the board is supervised', async () => {
    const s = await setup('us-8.2.3', { heartbeat: { intervalS: 30, fallbackA: 6 } }, { });
    s.sim.script.always('ignore', { when: (l) => l.startsWith('$GY') });
    await untilOnline(s, 10_000);
    expect(s.driver.heartbeatState).toBe('unknown');
    expect(s.sim.snapshot.heartbeat.intervalS).toBe(0);
    s.sim.script.clear();
    await s.clock.advance(10_000);
    expect(s.driver.heartbeatState).toBe('armed');
    expect(s.sim.snapshot.heartbeat.intervalS).toBe(30);
  });

  it('heartbeat: null leaves the board alone and reports what it has', async () => {
    const s = await setup('us-8.2.3', { heartbeat: null });
    await untilOnline(s);
    expect(s.tx.frames.some((f) => f.cmd === 'SY')).toBe(false);
    expect(s.driver.heartbeatState).toBe('off');
  });
});

describe('front button', () => {
  it('$AN and $WF become button / wifiRequest facts', async () => {
    const s = await setup();
    await untilOnline(s);
    expect(await s.driver.execute(admitted({ kind: 'feature', letter: 'B', on: false }))).toMatchObject({ ok: true, readBack: { ecf: 0x8001 } });
    s.sim.act('button-long');
    await s.clock.advance(10);
    expect(s.facts('button')).toEqual([{ kind: 'button', long: true }]);
  });
});

describe('board reset', () => {
  it('boot mid-session: $AT 00 / $AB are seen, the driver re-initialises and re-arms the heartbeat', async () => {
    const s = await setup();
    await untilOnline(s);
    s.sim.act('plug-in');
    s.sim.act('request-charge');
    await s.clock.advance(5000);
    s.tx.clear();
    s.sim.act('power-cycle');
    await s.tx.expect((f) => f.cmd === 'GV', 5000, { describe: show });
    await s.tx.expect((f) => f.cmd === 'SY' && f.args.length === 2, 5000, { describe: show });
    await untilOnline(s);
    expect(s.facts('boot')).toEqual([{ kind: 'boot', state: 0, firmware: '8.2.3' }]);
    const presence = s.obs.filter((o) => o.type === 'presence').map((o) => (o.type === 'presence' ? o.online : null));
    expect(presence.slice(-2)).toEqual([false, true]);
    expect(s.sim.snapshot.heartbeat.intervalS).toBe(30);
    // the car is still there: charging resumes and is reported
    await s.clock.advance(3000);
    expect(s.facts('status').at(-1)).toMatchObject({ state: 3 });
    expect(s.obs.some((o) => o.type === 'fact' && o.event?.type === 'evse.boot')).toBe(true);
  });
});

describe('state: async and polled', () => {
  it('a plug-in arrives by $AT before the next GS poll; the poll confirms it with the elapsed time', async () => {
    const s = await setup();
    await untilOnline(s);
    const before = s.facts('status').length;
    s.sim.act('plug-in');
    await s.clock.advance(600);
    const fresh = s.facts('status').slice(before);
    expect(fresh[0]).toMatchObject({ source: 'AT', state: 2, capacityA: 32, elapsedS: null });
    await s.clock.advance(2500);
    expect(s.facts('status').filter((f) => f.source === 'GS').at(-1)).toMatchObject({ state: 2, elapsedS: 0, vflags: 0x0700 });
    const ev = s.obs.flatMap((o) => (o.type === 'fact' && o.event?.type === 'evse.state' ? [o.event.data] : []));
    expect(ev.at(-1)).toMatchObject({ state: 'connected', from: 'not_connected', source: 'AT' });
  });

  it('polls GS, GG, GU, GP, GE(+GC), GF on their own cadences', async () => {
    const s = await setup('us-8.2.3', { heartbeat: null });
    await untilOnline(s);
    s.tx.clear();
    await s.clock.advance(60_000);
    const n = (c: string) => s.tx.frames.filter((f) => f.cmd === c).length;
    expect(n('GS')).toBeGreaterThanOrEqual(29);
    expect(n('GS')).toBeLessThanOrEqual(31);
    expect(n('GG')).toBeGreaterThanOrEqual(29);
    expect(n('GU')).toBe(6);
    expect(n('GP')).toBe(2);
    expect(n('GE')).toBe(2);
    expect(n('GC')).toBe(2);
    expect(n('GF')).toBe(1);
  });

  it('readings while charging: current, voltage, power, session energy, temperatures, fault counters; fault flags', async () => {
    const s = await setup();
    await untilOnline(s);
    s.sim.act('plug-in');
    s.sim.act('request-charge');
    await s.clock.advance(70_000);
    const r = s.readings();
    expect(r).toMatchObject({ stateName: 'charging', currentA: 32, voltageV: 240, powerW: 7680, charging: 1, gfiTrips: 0, ds3231TempC: 25 });
    expect(r.sessionWh as number).toBeGreaterThan(100);
    s.sim.act('gfci-trip');
    await s.clock.advance(61_000);
    const flags = s.obs.flatMap((o) => (o.type === 'flags' ? o.changes : []));
    expect(flags).toEqual(expect.arrayContaining([expect.objectContaining({ group: 'fault', name: 'gfci_fault', active: true })]));
    expect(s.readings()).toMatchObject({ gfiTrips: 1, stateName: 'gfci_fault' });
  });
});

describe('bad input', () => {
  it('a query whose reply fails its checksum is counted and asked again at once', async () => {
    const s = await setup();
    await untilOnline(s);
    s.sim.script.next('corrupt-reply', { when: (l) => l.startsWith('$GS') });
    s.tx.clear();
    await s.clock.advance(2100);
    expect(s.tx.frames.filter((f) => f.cmd === 'GS')).toHaveLength(2);
    expect(s.driver.stats()).toMatchObject({ badChecksums: 1, queryRetries: 1 });
    expect((s.driver.stats().corruptBytes as number) > 0).toBe(true);
    const bad = s.obs.filter((o) => o.type === 'frame' && o.invalid);
    expect(bad).toHaveLength(1);
  });

  it('a setter whose reply fails its checksum is not re-sent; the read-back says what the board did', async () => {
    const s = await setup();
    await untilOnline(s);
    s.sim.script.next('corrupt-reply', { when: (l) => l.startsWith('$SC') });
    const r = await s.driver.execute(admitted({ kind: 'setCurrent', amps: 20 }));
    expect(r).toMatchObject({ ok: false, code: 'DEVICE_OFFLINE', readBack: { capacityA: 20, configuredA: 20 } });
    expect(s.sim.received.filter((l) => l.startsWith('$SC'))).toHaveLength(1);
  });

  it('a setter whose reply is lost times out once and is not re-sent', async () => {
    const s = await setup();
    await untilOnline(s);
    s.sim.script.next('drop-reply', { when: (l) => l.startsWith('$FS') });
    const p = s.driver.execute(admitted({ kind: 'sleep' }));
    await s.clock.advance(3000);
    const r = await p;
    expect(r).toMatchObject({ ok: false, code: 'DEVICE_OFFLINE', readBack: { stateName: 'sleeping' } });
    expect(s.sim.received.filter((l) => l.startsWith('$FS'))).toHaveLength(1);
  });

  it('a command the board received corrupted ($NK^21): a query is asked again, a setter is reported as not carried out', async () => {
    const s = await setup('us-8.2.3', { heartbeat: null });
    await untilOnline(s);
    // line noise on the way to the board: the next frame starting with `prefix` gets a wrong checksum
    const host = s.mem.host as { write: (b: Uint8Array) => Promise<void> };
    const orig = host.write.bind(host);
    let garble: string | null = null;
    host.write = (b: Uint8Array) => {
      const t = Buffer.from(b).toString('latin1');
      if (garble && t.startsWith(garble)) {
        garble = null;
        return orig(Buffer.from(t.replace(/\^..\r$/, '^00\r'), 'latin1'));
      }
      return orig(b);
    };
    garble = '$GS';
    s.tx.clear();
    await s.clock.advance(2100);
    expect(s.rx.some((f) => f.line === '$NK^21')).toBe(true);
    expect(s.tx.frames.filter((f) => f.cmd === 'GS')).toHaveLength(2);
    expect(s.driver.stats()).toMatchObject({ checksumNaks: 1, queryRetries: 1 });
    garble = '$SC';
    const r = await s.driver.execute(admitted({ kind: 'setCurrent', amps: 20 }));
    expect(r).toMatchObject({ ok: false, code: 'DEVICE_OFFLINE', readBack: { capacityA: 32 } });
    expect(r.ok ? '' : r.message).toMatch(/did not carry it out/);
    expect(s.tx.frames.filter((f) => f.cmd === 'SC')).toHaveLength(1);
    expect(s.sim.snapshot.capacityA).toBe(32);
    expect(s.driver.stats().checksumNaks).toBe(2);
  });

  it('$NK names the refused command', async () => {
    const s = await setup();
    await untilOnline(s);
    const r = await s.driver.execute(admitted({ kind: 'setLimits', timeMinutes: 60 }));
    expect(r).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect(r.ok ? '' : r.message).toMatch(/refused \$S3 \(session time limit\).*TIME_LIMIT/);
  });

  it('LCD text longer than the 31-character frame is refused, nothing sent', async () => {
    const s = await setup();
    await untilOnline(s);
    const r = await s.driver.execute(admitted({ kind: 'lcdText', x: 0, y: 0, text: 'THIS_IS_MUCH_TOO_LONG_FOR_RAPI' }));
    expect(r).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(r.ok ? '' : r.message).toMatch(/silently drops commands longer than 31/);
    expect(await s.driver.execute(admitted({ kind: 'lcdText', x: 0, y: 0, text: 'a b c d e f g h' }))).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(s.tx.frames.some((f) => f.cmd === 'FP')).toBe(false);
    expect(await s.driver.execute(admitted({ kind: 'lcdText', x: 0, y: 1, text: 'HELLO' }))).toMatchObject({ ok: true });
    expect(s.sim.snapshot.lcd[1]).toBe('HELLO');
  });

  it('echo mode (the `$FF E 0` quirk) is tolerated: echoed commands are ignored, replies still match', async () => {
    const s = await setup();
    await untilOnline(s);
    await s.driver.execute(admitted({ kind: 'feature', letter: 'E', on: false }));
    expect(s.sim.snapshot.echo).toBe(true);
    const r = await s.driver.execute(admitted({ kind: 'setCurrent', amps: 16 }));
    expect(r).toMatchObject({ ok: true, readBack: { capacityA: 16 } });
    await s.clock.advance(5000);
    expect((s.driver.stats().echoFrames as number) > 0).toBe(true);
    expect(s.driver.stats().timeouts).toBe(0);
  });

  it('a board that stops answering goes offline after 3 failed exchanges and comes back by a GV probe', async () => {
    const s = await setup('us-8.2.3', { heartbeat: null });
    await untilOnline(s);
    s.sim.script.always('ignore');
    await s.clock.advance(30_000);
    expect(online(s)).toMatchObject({ online: false });
    s.sim.script.clear();
    await s.clock.advance(10_000);
    expect(online(s)).toMatchObject({ online: true });
  });
});

describe('execute with read-back', () => {
  it('setCurrent, enable/disable/sleep, service level, clock sync', async () => {
    const s = await setup();
    await untilOnline(s);
    expect(await s.driver.execute(admitted({ kind: 'setCurrent', amps: 24 }))).toMatchObject({ ok: true, readBack: { capacityA: 24, minA: 6, maxA: 80, configuredA: 24 } });
    expect(await s.driver.execute(admitted({ kind: 'setCurrent', amps: 90 }))).toMatchObject({ ok: false, code: 'OUT_OF_RANGE', readBack: { capacityA: 80 } });
    expect(await s.driver.execute(admitted({ kind: 'disable' }))).toMatchObject({ ok: true, readBack: { stateName: 'disabled' } });
    expect(await s.driver.execute(admitted({ kind: 'enable' }))).toMatchObject({ ok: true });
    expect(await s.driver.execute(admitted({ kind: 'sleep' }))).toMatchObject({ ok: true, readBack: { stateName: 'sleeping' } });
    expect(await s.driver.execute(admitted({ kind: 'setServiceLevel', level: 1 }))).toMatchObject({ ok: true, readBack: { serviceLevel: 1, maxA: 24 } });
    expect(await s.driver.execute(admitted({ kind: 'syncClock' }))).toMatchObject({ ok: true, readBack: { clock: new Date(s.clock.now()).toISOString().slice(0, 19) + 'Z' } });
    expect(await s.driver.execute(admitted({ kind: 'delayTimer', start: '22:30', end: '6:00' }))).toMatchObject({ ok: true, readBack: { delayTimer: '22:30-6:00' } });
  });

  it('limits on a TIME_LIMIT/CHARGE_LIMIT build, with a vehicle connected', async () => {
    const s = await setup('arduino-full');
    await untilOnline(s);
    s.sim.act('plug-in');
    await s.clock.advance(500);
    expect(await s.driver.execute(admitted({ kind: 'setLimits', timeMinutes: 60, energyKWh: 10 }))).toMatchObject({ ok: true, readBack: { timeLimitMin: 60, energyLimitKWh: 10 } });
  });

  it('commands before the board answered are refused without sending', async () => {
    const clock = new FakeClock();
    const bench = await evseBench(clock);
    cleanups.push(() => bench.sim.stop());
    const driver = new OpenEvseDriver({ link: bench.link, clock, deviceId: 'evse1' });
    driver.start();
    cleanups.push(() => driver.stop());
    expect(await driver.execute(admitted({ kind: 'sleep' }))).toMatchObject({ ok: false, code: 'DEVICE_OFFLINE' });
  });
});

describe('frames', () => {
  it('every line in and out is a rapi frame record: address = seq id, text = the line', async () => {
    const s = await setup();
    await untilOnline(s);
    const frames = s.obs.flatMap((o) => (o.type === 'frame' ? [o.frame] : []));
    expect(frames[0]).toMatchObject({ protocol: 'rapi', dir: 'tx', address: null, text: '$GV^35', kind: 'GV', deviceId: 'evse1' });
    expect(Buffer.from(frames[0]!.bytes).toString()).toBe('$GV^35');
    const ge = frames.find((f) => f.dir === 'tx' && f.kind === 'GE')!;
    const reply = frames.find((f) => f.dir === 'rx' && f.address === ge.address && f.kind === 'OK')!;
    expect(reply.text).toMatch(/^\$OK 32 0001 :..\^..$/);
    expect(frames.some((f) => f.dir === 'rx' && f.kind === 'AB')).toBe(false); // booted before
    // a frame is recorded before the fact it caused
    s.sim.act('plug-in');
    await s.clock.advance(600);
    const i = s.obs.findIndex((o) => o.type === 'frame' && o.frame.kind === 'AT');
    const j = s.obs.findIndex((o) => o.type === 'fact' && o.fact.kind === 'status' && o.fact.source === 'AT');
    expect(i).toBeGreaterThanOrEqual(0);
    expect(i).toBeLessThan(j);
  });
});

describe('on a real pseudo-terminal', () => {
  it('connects, arms the heartbeat and sees a plug-in by $AT (serialport, real time)', async () => {
    const pair = await openPtyPair();
    cleanups.push(() => pair.close());
    const clock = new RealClock(1);
    const device = new SerialTransport({ path: pair.b, baudRate: 115200 });
    await device.open();
    cleanups.push(() => device.close());
    const sim = new OpenEvseSim({ transport: device, clock, postMs: 50 });
    sim.start();
    cleanups.push(() => sim.stop());
    const { link } = rapiLink('evse-pty', async () => new SerialTransport({ path: pair.a, baudRate: 115200 }), clock);
    link.start();
    cleanups.push(() => link.stop());
    await waitFor(() => link.state === 'up', 'pty link up');
    const driver = new OpenEvseDriver({ link, clock, deviceId: 'evse1' });
    const obs: Observation<EvseFact>[] = [];
    driver.onObservation((o) => obs.push(o));
    await waitFor(() => sim.snapshot.booted, 'sim booted');
    driver.start();
    cleanups.push(() => driver.stop());
    await waitFor(() => obs.some((o) => o.type === 'presence' && o.online), 'online over the pty');
    expect(driver.heartbeatState).toBe('armed');
    sim.act('plug-in');
    await waitFor(() => obs.some((o) => o.type === 'fact' && o.fact.kind === 'status' && o.fact.source === 'AT' && o.fact.state === 2), '$AT 02');
  });
});

describe('over TCP (the WiFi module RAPI bridge / ser2net)', () => {
  it('connects through a TcpTransport, arms the heartbeat and carries out a command', async () => {
    const bridge = await openRapiBridge();
    cleanups.push(() => bridge.close());
    const clock = new RealClock(1);
    const { link } = rapiLink('evse-tcp', async () => new TcpTransport({ host: '127.0.0.1', port: bridge.port }), clock);
    link.start();
    cleanups.push(() => link.stop());
    await waitFor(() => link.state === 'up', 'tcp link up');
    const sim = new OpenEvseSim({ transport: await bridge.client, clock, postMs: 20, bootDebugText: false });
    sim.start();
    cleanups.push(() => sim.stop());
    await waitFor(() => sim.snapshot.booted, 'sim booted');
    const driver = new OpenEvseDriver({ link, clock, deviceId: 'evse1' });
    const obs: Observation<EvseFact>[] = [];
    driver.onObservation((o) => obs.push(o));
    driver.start();
    cleanups.push(() => driver.stop());
    await waitFor(() => obs.some((o) => o.type === 'presence' && o.online), 'online over tcp');
    expect(driver.heartbeatState).toBe('armed');
    expect(await driver.execute(admitted({ kind: 'setCurrent', amps: 16 }))).toMatchObject({ ok: true, readBack: { capacityA: 16 } });
    expect(sim.snapshot.capacityA).toBe(16);
  });
});

describe('link loss (SupervisedLink)', () => {
  it('the cable is pulled: offline with the link reason; plugged back: the link reopens and the driver re-initialises', async () => {
    const s = await setup('us-8.2.3');
    await untilOnline(s);
    s.mem.unplug();
    await s.clock.advance(100);
    expect(online(s)).toMatchObject({ online: false, reason: expect.stringMatching(/link down/) });
    expect(await s.driver.execute(admitted({ kind: 'sleep' }))).toMatchObject({ ok: false, code: 'LINK_DOWN' });
    s.tx.clear();
    s.mem.replug();
    await s.tx.expect((f) => f.cmd === 'GV', 5000, { describe: show });
    await untilOnline(s);
    expect(s.tx.frames.some((f) => f.cmd === 'SY' && f.args.length === 2)).toBe(true);
  });
});
