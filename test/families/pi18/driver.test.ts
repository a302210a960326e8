/**
 * Pi18Driver against the LVX6048 simulator behind a fake HID device (FakeClock), and over a real
 * pseudo-terminal at 2400 Bd (RealClock). Wire facts: pi18.md; setter rules: workflow §8.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, RealClock } from '../../../src/clock.js';
import { createMemoryLink } from '../../../src/link/transports/memory.js';
import { buildFrame, commandName, type Pi18Frame } from '../../../src/families/pi18/codec.js';
import { Pi18Driver, type Pi18Fact } from '../../../src/families/pi18/driver.js';
import { Pi18Framer } from '../../../src/families/pi18/framer.js';
import { Pi18Sim } from '../../../src/families/pi18/sim.js';
import type { Observation } from '../../../src/families/contract.js';
import { SerialTransport } from '../../../src/link/transports/serial.js';
import { openPtyPair } from '../../helpers/pty-pair.js';
import { admitForTest, hidUnit, ofType, type Pi18Unit } from '../../helpers/pi18-rig.js';
import { SupervisedLink } from '../../../src/link/supervisor.js';
import { waitFor } from '../../helpers/wait.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function unit(...args: Parameters<typeof hidUnit>): Promise<Pi18Unit> {
  const u = await hidUnit(...args);
  cleanups.push(() => u.stop());
  return u;
}

const cmd = (f: Pi18Frame) => (f.type === 'query' || f.type === 'set' ? f.command : f.type);
const txCommands = (u: Pi18Unit) => u.tx.frames.map(cmd);
const isCmd = (c: string) => (f: Pi18Frame) => cmd(f) === c;

describe('Pi18Driver over a fake HID device', () => {
  it('reads identity once, then GS+MOD and FWS; reports presence with identity, readings and frame records', async () => {
    const u = await unit({ sim: { serial: '96142109100037' } });
    await u.tx.expect(isCmd('FWS'), 1000);
    await u.clock.advance(10);
    expect(txCommands(u)).toEqual(['ID', 'VFW', 'PIRI', 'MCHGCR', 'MUCHGCR', 'GS', 'MOD', 'FWS']);
    const presence = ofType(u.obs, 'presence');
    expect(presence).toHaveLength(1);
    expect(presence[0]).toMatchObject({
      deviceId: 'lvx-1',
      online: true,
      identity: { serial: '96142109100037', firmware: '05220', batteryRatedVoltageV: 48, ratedPowerW: 6000 },
    });
    const reading = ofType(u.obs, 'reading')[0]!;
    expect(reading.values).toMatchObject({
      acInputVoltageV: 230.1,
      acOutputVoltageV: 230,
      acOutputFrequencyHz: 50,
      acOutputPowerW: 1376,
      acOutputApparentPowerVA: 1406,
      loadPct: 23,
      batteryVoltageV: 52.8,
      batteryCurrentA: 12,
      batterySocPct: 78,
      pv1PowerW: 1820,
      pv2PowerW: 640,
      pv1VoltageV: 310.4,
      pv2VoltageV: 287.9,
      pvPowerW: 2460,
      heatSinkTempC: 41,
      mode: 'hybrid',
      parallelIndex: 0,
    });
    expect(ofType(u.obs, 'reply')[0]).toMatchObject({ what: 'PIRI', values: { batteryType: 'user', cutoffVoltageV: 44 } });
    // Every exchange is recorded both ways: protocol pi18, the whole line, readable text, kind = command.
    const frames = ofType(u.obs, 'frame').map((o) => o.frame);
    const piriTx = frames.find((f) => f.dir === 'tx' && f.kind === 'PIRI')!;
    expect(piriTx).toMatchObject({ protocol: 'pi18', address: null, text: '^P007PIRI <ee38>', deviceId: 'lvx-1' });
    expect(Buffer.from(piriTx.bytes).toString('hex')).toBe('5e5030303750495249ee380d');
    const piriRx = frames.find((f) => f.dir === 'rx' && f.kind === 'PIRI')!;
    expect(piriRx.text).toMatch(/^\^D\d{3}2300,/);
    expect(piriRx.bytes.at(-1)).toBe(0x0d);
    expect(frames.filter((f) => f.dir === 'tx')).toHaveLength(8);
    expect(frames.filter((f) => f.dir === 'rx')).toHaveLength(8);
  });

  it('polling plan: GS+MOD every statusMs, FWS every faultsMs, PIRI and ET every settingsMs, identity never again', async () => {
    const u = await unit();
    await u.tx.expect(isCmd('FWS'), 1000);
    u.tx.clear();
    await u.clock.advance(60_000);
    const sent = txCommands(u);
    expect(sent.filter((c) => c === 'ET')).toHaveLength(1);
    expect(ofType(u.obs, 'reply').find((r) => r.what === 'ET')).toMatchObject({ values: { pvEnergyTotal: 12345 } });
    expect(sent.filter((c) => c === 'GS')).toHaveLength(12);
    expect(sent.filter((c) => c === 'MOD')).toHaveLength(12);
    expect(sent.filter((c) => c === 'FWS')).toHaveLength(6);
    expect(sent.filter((c) => c === 'PIRI')).toHaveLength(1);
    expect(sent.filter((c) => c === 'ID' || c === 'VFW')).toHaveLength(0);
  });

  it('faults and warnings become flag changes in words, only when they change', async () => {
    const u = await unit();
    await u.tx.expect(isCmd('FWS'), 1000);
    await u.clock.advance(10);
    expect(ofType(u.obs, 'flags')).toHaveLength(0);
    u.sim.warnings.line_fail = true;
    u.sim.setFault(86);
    await u.clock.advance(10_000);
    const flags = ofType(u.obs, 'flags');
    expect(flags).toHaveLength(1);
    expect(flags[0]!.changes).toEqual(
      expect.arrayContaining([
        { group: 'warning', name: 'line_fail', text: 'line fail', active: true },
        { group: 'fault', name: 'fault_86', text: 'parallel output setting different', active: true },
      ]),
    );
    await u.clock.advance(10_000);
    expect(ofType(u.obs, 'flags')).toHaveLength(1);
    u.sim.setFault(0);
    await u.clock.advance(10_000);
    const cleared = ofType(u.obs, 'flags')[1]!.changes;
    expect(cleared).toEqual([expect.objectContaining({ group: 'fault', name: 'fault_86', active: false })]);
  });

  it('queries are retried; after missed replies the unit goes offline, and comes back with its identity re-read', async () => {
    const u = await unit({ driver: { offlineAfterMisses: 3, timeoutMs: 1000, retries: 2 } });
    await u.tx.expect(isCmd('FWS'), 1000);
    u.sim.script.always('drop-reply');
    u.tx.clear();
    await u.clock.advance(5000 * 3 + 3 * 3 * 1000 + 3 * 1000);
    // Each missed GS went out 3 times (1 + 2 retries).
    const gs = txCommands(u).filter((c) => c === 'GS');
    expect(gs.length).toBeGreaterThanOrEqual(9);
    const presence = ofType(u.obs, 'presence');
    expect(presence.at(-1)).toMatchObject({ online: false, reason: expect.stringMatching(/no valid reply to 3 polls in a row/) });
    expect(u.driver.isOnline).toBe(false);
    u.sim.script.clear();
    u.tx.clear();
    await u.clock.advance(10_000);
    expect(txCommands(u).slice(0, 2)).toEqual(['ID', 'VFW']);
    expect(ofType(u.obs, 'presence').at(-1)).toMatchObject({ online: true });
  });

  it('execute: a setter then a PIRI read-back; the result carries the read-back', async () => {
    const u = await unit();
    await u.tx.expect(isCmd('FWS'), 1000);
    u.tx.clear();
    const done = u.driver.execute(admitForTest({ key: 'max_charging_current', amps: 40 }));
    const setter = await u.tx.expect((f) => f.type === 'set', 1000);
    expect(setter).toEqual({ type: 'set', command: 'MCHGC0,040' });
    await u.tx.expect(isCmd('PIRI'), 2000);
    const r = await done;
    expect(r).toMatchObject({ ok: true, sent: true, readBack: { maxChargingCurrentA: 40 } });
    expect(u.sim.piri.maxChargingCurrentA).toBe(40);
  });

  it('execute: a ^0 is refused with CONFLICT and the unit is unchanged', async () => {
    const u = await unit();
    await u.tx.expect(isCmd('FWS'), 1000);
    u.sim.script.next('nak');
    const r = await u.driver.execute(admitForTest({ key: 'cutoff_voltage', volts: 42 }));
    expect(r).toMatchObject({ ok: false, code: 'CONFLICT', message: expect.stringMatching(/refused PSDV420 \(\^0\)/) });
    expect(u.sim.piri.cutoffVoltageV).toBe(44);
    u.sim.script.next('nak30');
    expect(await u.driver.execute(admitForTest({ key: 'cutoff_voltage', volts: 42 }))).toMatchObject({ ok: false, code: 'CONFLICT', message: expect.stringMatching(/\(NAK/) });
  });

  it('a setter whose ack is lost is NOT re-sent; PIRI is read and shows it took effect', async () => {
    const u = await unit({ driver: { timeoutMs: 1000 } });
    await u.tx.expect(isCmd('FWS'), 1000);
    u.tx.clear();
    u.sim.script.next('drop-reply', { when: (c) => c.startsWith('MUCHGC') });
    const done = u.driver.execute(admitForTest({ key: 'max_utility_charging_current', amps: 20 }));
    await u.clock.advance(5000);
    const r = await done;
    expect(txCommands(u).filter((c) => c.startsWith('MUCHGC'))).toEqual(['MUCHGC0,020']);
    expect(r).toMatchObject({ ok: true, sent: true, readBack: { maxUtilityChargingCurrentA: 20 }, message: expect.stringMatching(/no reply.*took effect \(not re-sent\)/) });
  });

  it('a setter that timed out and did not take effect is reported with DEVICE_OFFLINE and the read-back', async () => {
    const u = await unit({ driver: { timeoutMs: 1000 } });
    await u.tx.expect(isCmd('FWS'), 1000);
    u.sim.script.next('nak').next('drop-reply', { when: (c) => c.startsWith('POP') });
    const done = u.driver.execute(admitForTest({ key: 'output_source_priority', value: 'solar_utility_battery' }));
    await u.clock.advance(5000);
    expect(await done).toMatchObject({ ok: false, code: 'DEVICE_OFFLINE', readBack: { outputSourcePriority: 'solar_battery_utility' } });
    expect(u.tx.frames.filter((f) => f.type === 'set')).toHaveLength(1);
  });

  it('a corrupt ack is not taken, the setter not re-sent, and the read-back decides', async () => {
    const u = await unit({ driver: { timeoutMs: 1000 } });
    await u.tx.expect(isCmd('FWS'), 1000);
    u.sim.script.next('corrupt-crc', { when: (c) => c.startsWith('PSP') });
    const done = u.driver.execute(admitForTest({ key: 'solar_power_priority', value: 'battery_load_utility' }));
    await u.clock.advance(5000);
    expect(await done).toMatchObject({ ok: true, message: expect.stringMatching(/failed its CRC.*took effect/) });
    const invalid = ofType(u.obs, 'frame').filter((o) => o.invalid);
    expect(invalid).toHaveLength(1);
    expect(invalid[0]!.frame.kind).toBe('invalid');
    expect(invalid[0]!.invalid).toMatch(/CRC/);
    expect(u.driver.stats().corruptBytes).toBe(5);
  });

  it('an acknowledged setter that the read-back contradicts is a CONFLICT (read-back mismatch)', async () => {
    const u = await unit();
    await u.tx.expect(isCmd('FWS'), 1000);
    u.sim.script.next('ignore');
    const done = u.driver.execute(admitForTest({ key: 'charger_priority', value: 'solar_only' }));
    await u.clock.advance(3000);
    expect(await done).toMatchObject({ ok: false, code: 'CONFLICT', message: expect.stringMatching(/read-back disagrees/), readBack: { chargerPriority: 'solar_and_utility' } });
  });

  it('stale reports of an abandoned exchange at the start of the next reply: dropped, counted, readings intact (pi18.md §3.2)', async () => {
    const u = await unit();
    await u.tx.expect(isCmd('FWS'), 1000);
    await u.clock.advance(10);
    const readings = ofType(u.obs, 'reading').length;
    // The tail of a GS reply left in the kernel's queue: it precedes the next poll's replies.
    const gsTail = buildFrame({ type: 'data', payload: '2232,499,2232,499,1406,1376,028,549,000,000,000,010,095,060,000,000,0082,0000,1604,0000,0,2,0,1,1,1,1,0' }).subarray(37);
    u.dev.injectReports(gsTail);
    await u.clock.advance(5000);
    expect(ofType(u.obs, 'reading').length).toBe(readings + 1);
    expect(ofType(u.obs, 'reading').at(-1)!.values.batteryVoltageV).toBe(52.8);
    expect(u.driver.stats().corruptBytes).toBe(gsTail.length);
  });

  it('a reply that comes late is never taken as the next request\'s: the shape check and the late window (pi18.md §3.2)', async () => {
    const u = await unit({ sim: { delayReplyMs: 2500 }, driver: { timeoutMs: 2000 } });
    await u.tx.expect(isCmd('FWS'), 1000);
    await u.clock.advance(10);
    u.sim.script.next('delay-reply', { when: (c) => c === 'GS' });
    const before = ofType(u.obs, 'reading').length;
    await u.clock.advance(5000 + 10_000);
    const readings = ofType(u.obs, 'reading').slice(before);
    expect(readings.length).toBeGreaterThanOrEqual(2);
    for (const r of readings) expect(r.values.mode).toBe('hybrid');
    const stale = ofType(u.obs, 'frame').filter((o) => o.frame.kind === 'stale');
    expect(stale.length).toBe(1);
    expect(u.driver.isOnline).toBe(true);
  });

  it('expectedSerial: a different unit on the port is reported offline and not polled for readings', async () => {
    const u = await unit({ sim: { serial: '96142408100255' }, driver: { expectedSerial: '96142109100037' } });
    await u.clock.advance(3000);
    expect(ofType(u.obs, 'presence').filter((p) => p.online)).toHaveLength(0);
    expect(txCommands(u)).not.toContain('GS');
    expect(await u.driver.execute(admitForTest({ key: 'grid_tie', enabled: true }))).toMatchObject({ ok: false, code: 'DEVICE_OFFLINE' });
  });

  it('a unit that answers ET with ^0 is not asked for it again (LV5048, pi18.md §4.6)', async () => {
    const u = await unit();
    await u.tx.expect(isCmd('FWS'), 1000);
    u.sim.script.always('nak-query', { when: (c) => c === 'ET' });
    u.tx.clear();
    await u.clock.advance(180_000);
    expect(txCommands(u).filter((c) => c === 'ET')).toHaveLength(1);
    expect(txCommands(u).filter((c) => c === 'PIRI')).toHaveLength(3);
    expect(u.driver.isOnline).toBe(true);
  });

  it('untrimmed HID input reports (padding after the CR reaches the framer) are read the same, with no corrupt bytes', async () => {
    const u = await unit({ trimReports: false });
    await u.tx.expect(isCmd('FWS'), 1000);
    await u.clock.advance(10);
    expect(u.driver.isOnline).toBe(true);
    expect(ofType(u.obs, 'reading')[0]!.values.batteryVoltageV).toBe(52.8);
    expect(u.driver.stats().corruptBytes).toBe(0);
    expect(u.framer.paddingBytes).toBeGreaterThan(0);
  });

  it('the HID device is unplugged: offline at once, back online with its identity re-read when the link reopens', async () => {
    const u = await unit();
    await u.tx.expect(isCmd('FWS'), 1000);
    await u.clock.advance(10);
    u.dev.unplug();
    await u.clock.advance(10);
    expect(ofType(u.obs, 'presence').at(-1)).toMatchObject({ online: false, reason: expect.stringMatching(/link down/) });
    expect(ofType(u.obs, 'link').map((l) => l.state)).toContain('down');
    u.tx.clear();
    await u.clock.advance(2000);
    expect(txCommands(u).slice(0, 2)).toEqual(['ID', 'VFW']);
    expect(ofType(u.obs, 'presence').at(-1)).toMatchObject({ online: true, identity: { serial: '96142109100037' } });
  });

  it('polling pauses during a session and resumes after it', async () => {
    const u = await unit();
    await u.tx.expect(isCmd('FWS'), 1000);
    u.tx.clear();
    await u.driver.session(async () => {
      await u.clock.advance(20_000);
      expect(txCommands(u)).toEqual([]);
    });
    await u.clock.advance(10);
    expect(txCommands(u)).toContain('GS');
  });
});

describe('Pi18Driver over a memory transport (the simulated cable a rig uses)', () => {
  it('sim.attach(device side) + SupervisedLink(host side): online, readings, a setter with read-back', async () => {
    const clock = new FakeClock();
    const mem = createMemoryLink('lvx-mem');
    const sim = new Pi18Sim({ clock });
    sim.attach(mem.device);
    const framer = new Pi18Framer();
    const link = new SupervisedLink<Pi18Frame>(mem.hostFactory(), framer, { id: 'lvx-mem', clock });
    const d = new Pi18Driver({ deviceId: 'lvx-mem', link, clock, framer });
    cleanups.push(async () => {
      await d.stop();
      await link.stop();
      sim.stop();
    });
    d.start();
    link.start();
    await clock.advance(100);
    expect(d.isOnline).toBe(true);
    const r = d.execute(admitForTest({ key: 'battery_thresholds', stopDischargeV: 46, stopChargeV: 'full' }));
    await clock.advance(1000);
    expect(await r).toMatchObject({ ok: true, readBack: { stopDischargeVoltageV: 46, stopChargeVoltageV: 0 } });
  });
});

describe('Pi18Driver over a real pseudo-terminal at 2400 Bd (RS-232 variant)', () => {
  it('polls, goes online and applies a setter with its read-back', async () => {
    const pair = await openPtyPair();
    cleanups.push(() => pair.close());
    const deviceSide = new SerialTransport({ path: pair.b, baudRate: 2400 });
    await deviceSide.open();
    cleanups.push(() => deviceSide.close());
    const sim = new Pi18Sim();
    sim.attach(deviceSide);
    cleanups.push(() => sim.stop());
    const clock = new RealClock();
    const framer = new Pi18Framer();
    const link = new SupervisedLink<Pi18Frame>(async () => new SerialTransport({ path: pair.a, baudRate: 2400 }), framer, { id: 'lvx-serial', clock, name: 'PI18 inverter' });
    const d = new Pi18Driver({ deviceId: 'lvx-serial', link, clock, framer, statusMs: 200, faultsMs: 400, settingsMs: 5000, settleMs: 50, timeoutMs: 2000 });
    const obs: Observation<Pi18Fact>[] = [];
    d.onObservation((o) => obs.push(o));
    d.start();
    link.start();
    cleanups.push(async () => {
      await d.stop();
      await link.stop();
    });
    await waitFor(() => d.isOnline, 'online over the pty', 10_000, 20);
    const sentBefore = sim.received.length;
    const r = await d.execute(admitForTest({ key: 'charge_voltages', bulkV: 55.2, floatV: 54 }));
    expect(r).toMatchObject({ ok: true, readBack: { bulkVoltageV: 55.2, floatVoltageV: 54 } });
    expect(sim.received.slice(sentBefore).map((x) => commandName(x.command))).toContain('MCHGV');
    expect(ofType(obs, 'reading').length).toBeGreaterThan(0);
    expect(framer.corruptBytes).toBe(0);
  });
});
