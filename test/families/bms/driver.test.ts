/**
 * BmsDriver ↔ BmsSim through the whole data path: driver → CanAdapterLink (fixed 20-byte
 * framing, 500 kbit/s, bms-can.md §6) → transport → WaveshareAdapterSim → CanBusSim → BmsSim.
 * First over the in-memory link on a FakeClock, then over a REAL pty pair with serialport at
 * 2,000,000 baud on a RealClock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, RealClock, type Clock } from '../../../src/clock.js';
import { CanAdapterLink } from '../../../src/families/can/adapter.js';
import { WaveshareAdapterSim } from '../../../src/families/can/adapter-sim.js';
import type { CanFrame } from '../../../src/families/can/types.js';
import { decodeBms, encodeHeartbeat, type BmsDialect } from '../../../src/families/bms/codec.js';
import { BmsDriver, type BmsDriverOptions, type BmsObservation } from '../../../src/families/bms/driver.js';
import { BmsSim, type BmsSimOptions } from '../../../src/families/bms/sim.js';
import { createMemoryLink } from '../../../src/link/transports/memory.js';
import { SerialTransport, serialTransportFactory } from '../../../src/link/transports/serial.js';
import type { TransportFactory, Transport } from '../../../src/link/transports/types.js';
import { CanBusSim } from '../../../src/families/can/bus-sim.js';
import { LiFePO4Pack } from '../../../src/sim/lifepo4-pack.js';
import { openPtyPair } from '../../helpers/pty-pair.js';
import { waitFor } from '../../helpers/wait.js';

const bytes = (s: string) => Uint8Array.from(s.trim().split(/\s+/), (h) => parseInt(h, 16));
const BITRATE = 500_000;

type Seen = BmsObservation & { at: number };

interface RigOpts {
  dialect?: BmsDialect;
  socPct?: number;
  sim?: Partial<Omit<BmsSimOptions, 'clock' | 'pack' | 'send'>>;
  driver?: Partial<Omit<BmsDriverOptions, 'link' | 'clock'>>;
  /** Do not start the BMS simulator (the test puts its own frames on the bus). */
  noSim?: boolean;
}

const stops: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (stops.length) await stops.pop()!();
});

/** The device side (adapter sim + bus + BMS stack) and the host side (link + driver) on one clock. */
function build(clock: Clock, device: Transport, factory: TransportFactory, opts: RigOpts) {
  const dialect = opts.dialect ?? 'deye';
  const bus = new CanBusSim({ bitrate: BITRATE });
  const adapterSim = new WaveshareAdapterSim({ transport: device, bus, initialFraming: 'fixed' });
  adapterSim.start();
  const pack = new LiFePO4Pack({ cells: 16, capacityAh: 100, socPct: opts.socPct ?? 50, internalResistanceOhm: 0.02 });
  let sim: BmsSim | null = null;
  const stackNode = bus.attach('bms-stack', (f) => sim?.receive(f));
  sim = new BmsSim({ clock, pack, dialect, send: (f) => stackNode.send(f), ...opts.sim });
  /** Everything on the bus that the stack did not send (i.e. the driver's heartbeats). */
  const fromHost: { at: number; frame: CanFrame }[] = [];
  const other = bus.attach('other-node', (f) => {
    if (f.id === 0x305) fromHost.push({ at: clock.now(), frame: f });
  });
  const link = new CanAdapterLink({ busId: 'bms0', factory, framing: 'fixed', bitrate: BITRATE, clock, settleMs: 20 });
  const driver = new BmsDriver({ link, clock, dialect, ...opts.driver });
  const seen: Seen[] = [];
  driver.onObservation((o) => seen.push({ ...o, at: clock.now() }));
  driver.start();
  link.start();
  if (!opts.noSim) sim.start();
  stops.push(async () => {
    sim?.stop();
    driver.stop();
    await link.stop();
    adapterSim.stop();
  });
  const of = <K extends BmsObservation['kind']>(kind: K) => seen.filter((o): o is Extract<Seen, { kind: K }> => o.kind === kind);
  return { bus, adapterSim, pack, sim, link, driver, seen, of, fromHost, other };
}

function memoryRig(opts: RigOpts = {}) {
  const clock = new FakeClock();
  const mem = createMemoryLink('bms0');
  const t0 = clock.now();
  const r = build(clock, mem.device, mem.hostFactory(), opts);
  let loadTimer: ReturnType<Clock['setInterval']> | undefined;
  return {
    ...r,
    clock,
    mem,
    t0,
    run: (ms: number) => clock.advance(ms),
    /** Current through the pack from outside the BMS (+ = charging). */
    load(currentA: number) {
      clock.clearInterval(loadTimer);
      loadTimer = clock.setInterval(() => r.pack.step(currentA, 0.1), 100);
      r.pack.step(currentA, 0);
    },
  };
}

describe('BmsDriver ↔ BmsSim over the memory link (FakeClock)', () => {
  it('builds the battery snapshot from stack and module frames, matching the simulator', async () => {
    const r = memoryRig();
    r.load(40);
    await r.run(5100);
    const b = r.driver.snapshot();
    const v = r.sim.view()!;
    expect(b).toMatchObject({
      dialect: 'deye',
      online: true,
      socPct: v.socPct,
      sohPct: 100,
      voltageV: v.voltageV,
      currentA: 40, // + = charging, although the Deye wire says -400
      tempC: v.tempC,
      cellHighV: v.cellHighV,
      cellLowV: v.cellLowV,
      chargeVoltageLimitV: 57.6,
      chargeCurrentLimitA: 100,
      dischargeCurrentLimitA: 100,
      dischargeVoltageV: 48,
      onGridChargeCurrentLimitA: 100,
      onGridDischargeCurrentLimitA: 100,
      requestFlags: ['charge-enable', 'discharge-enable'],
      alarms: [],
      protections: [],
      moduleCounts: { normal: 2, chargeBlocked: 0, dischargeBlocked: 0, lost: 0, total: 2 },
      identity: { text: 'DY001', manufacturer: 'DY', dialect: 'deye', cellType: 'EVE 100 Ah', capacityAh: 100 },
      versions: { software: '0201', hardware: '0556' },
    });
    expect(b.cellDeltaV).toBeCloseTo(v.cellHighV - v.cellLowV, 6);
    expect(b.powerW).toBeCloseTo(v.voltageV * 40, 0);
    expect(b.modules).toHaveLength(2);
    for (const m of b.modules) {
      const mv = v.modules[m.index - 1]!;
      expect(m).toMatchObject({
        online: true,
        socPct: mv.socPct,
        cellHighV: mv.cellHighV,
        cellLowV: mv.cellLowV,
        tempsC: { cellHigh: mv.tempHighC, cellLow: mv.tempLowC, mos: mv.mosTempC, heater: null },
        chargeCurrentLimitA: 50,
        dischargeCurrentLimitA: 50,
        mode: 'charge',
        faultLevel: 'none',
        cycles: 11,
        chargedKWh: mv.chargedKWh,
        dischargedKWh: mv.dischargedKWh,
        protections: [],
        alarms: [],
        mos: { parallelDone: true, chargeMos: true, dischargeMos: true, prechargeMos: false, heaterMos: false },
        softwareVersion: '3006',
        bootVersion: 'V7.06',
        serial: `DYSIM${String(m.index).padStart(11, '0')}`,
        tripCounts: { overCharge: 0, chargeOverCurrent: 0 },
      });
      expect(m.currentA).toBeCloseTo(mv.currentA, 1);
      expect(m.voltageV! - mv.voltageV).toBeLessThanOrEqual(0.05);
    }
    expect(b.modules[0]!.currentA! + b.modules[1]!.currentA!).toBeCloseTo(40, 0);

    // One coalesced state per 1-s burst, not one per frame.
    const states = r.of('state');
    expect(states.length).toBeGreaterThanOrEqual(5);
    expect(states.length).toBeLessThanOrEqual(7);
    expect(states.at(-1)!.battery).toEqual(b);
    expect(r.of('online')).toHaveLength(1);
    expect(r.of('module-online').map((o) => o.index)).toEqual([1, 2]);
    expect(r.of('invalid')).toEqual([]);
    // Every frame is an observation, with its decoded message.
    const frames = r.of('frame');
    expect(frames.length).toBe(r.sim.stats.frames);
    expect(frames.every((f) => f.dir === 'rx' && f.msg.kind !== 'unknown')).toBe(true);
  });

  it('keeps the latest frame per CAN id for the raw inspector', async () => {
    const r = memoryRig();
    await r.run(2100);
    const latest = r.driver.latestFrames();
    expect(latest.map((f) => f.canId)).toEqual([
      0x110, 0x111, 0x150, 0x151, 0x200, 0x201, 0x250, 0x251, 0x351, 0x355, 0x356, 0x359, 0x35c, 0x35e, 0x361, 0x363, 0x364, 0x371,
      0x400, 0x401, 0x500, 0x501, 0x550, 0x551, 0x600, 0x601, 0x650, 0x651, 0x700, 0x701, 0x750, 0x751,
    ]);
    const soc = latest.find((f) => f.canId === 0x355)!;
    expect(soc).toMatchObject({ dir: 'rx', extended: false, count: 3, decoded: { kind: 'soc', socPct: 50 } });
    expect(soc.data).toEqual(bytes('32 00 64 00 00 00 00 00'));
    expect(soc.seenAt).toBeGreaterThanOrEqual(r.t0 + 2000);
  });

  it('reports flag raise and clear as they change (injected over-temperature)', async () => {
    const r = memoryRig();
    await r.run(1100);
    expect(r.of('flags')).toEqual([
      expect.objectContaining({ alarms: [], protections: [], requestFlags: ['charge-enable', 'discharge-enable'], changes: [
        { set: 'request', name: 'charge-enable', active: true },
        { set: 'request', name: 'discharge-enable', active: true },
      ] }),
    ]);
    r.sim.injectOverTemp(true);
    await r.run(1000);
    const raised = r.of('flags').at(-1)!;
    expect(raised.protections).toEqual(['cell-over-temp-charge', 'cell-over-temp-discharge']);
    expect(raised.alarms).toEqual(['cell-high-temp-charge', 'cell-high-temp-discharge']);
    expect(raised.changes).toEqual([
      { set: 'alarm', name: 'cell-high-temp-charge', active: true },
      { set: 'alarm', name: 'cell-high-temp-discharge', active: true },
      { set: 'protection', name: 'cell-over-temp-charge', active: true },
      { set: 'protection', name: 'cell-over-temp-discharge', active: true },
    ]);
    const b = r.driver.snapshot();
    expect(b.modules[0]).toMatchObject({ faultLevel: 'major', chargeCurrentLimitA: 0, mos: { chargeMos: false, dischargeMos: false } });
    expect(b.chargeCurrentLimitA).toBe(50);
    const nFlags = r.of('flags').length;
    await r.run(2000); // unchanged bits: no new flags observation
    expect(r.of('flags')).toHaveLength(nFlags);

    r.sim.injectOverTemp(false);
    await r.run(1000);
    expect(r.of('flags').at(-1)!.changes).toEqual([
      { set: 'protection', name: 'cell-over-temp-charge', active: false },
      { set: 'protection', name: 'cell-over-temp-discharge', active: false },
    ]);
    await r.run(3000);
    expect(r.of('flags').at(-1)).toMatchObject({ alarms: [], protections: [], changes: [
      { set: 'alarm', name: 'cell-high-temp-charge', active: false },
      { set: 'alarm', name: 'cell-high-temp-discharge', active: false },
    ] });
  });

  it('reports the charge-enable request clearing when the stack is full', async () => {
    const r = memoryRig({ socPct: 95 });
    await r.run(1100);
    r.pack.socPct = 99.6;
    await r.run(1000);
    expect(r.of('flags').at(-1)).toMatchObject({ requestFlags: ['discharge-enable'], changes: [{ set: 'request', name: 'charge-enable', active: false }] });
    expect(r.driver.snapshot()).toMatchObject({ chargeCurrentLimitA: 0, moduleCounts: { chargeBlocked: 2 } });
  });

  it('marks a silent module offline after 5 s and back online when it talks again; the stack stays online', async () => {
    const r = memoryRig();
    await r.run(1100);
    r.sim.silenceModule(2, true);
    await r.run(4500);
    expect(r.of('module-offline')).toEqual([]);
    await r.run(1000);
    expect(r.of('module-offline')).toEqual([expect.objectContaining({ index: 2, reason: expect.stringMatching(/no frame from module 2 for 5\.\d s/) })]);
    const b = r.driver.snapshot();
    expect(b.online).toBe(true);
    expect(b.modules.map((m) => m.online)).toEqual([true, false]);
    expect(b.moduleCounts).toMatchObject({ lost: 1, normal: 1 });
    expect(b.protections).toEqual(['internal-comm-fail']);
    expect(b.chargeCurrentLimitA).toBe(50);
    expect(r.of('offline')).toEqual([]);

    r.sim.silenceModule(2, false);
    await r.run(1000);
    expect(r.of('module-online').map((o) => o.index)).toEqual([1, 2, 2]);
    expect(r.driver.snapshot().modules[1]!.online).toBe(true);
  });

  it('goes offline after 10 s without a valid stack frame, and online again', async () => {
    const r = memoryRig();
    await r.run(1100);
    r.sim.silenceAll(true);
    await r.run(9500);
    expect(r.of('offline')).toEqual([]);
    await r.run(1000);
    const off = r.of('offline');
    expect(off).toHaveLength(1);
    expect(off[0]!.reason).toMatch(/no valid BMS frame for 10 s/);
    // Silence began after the burst at +1.0 s; last stack frame ≈ +1.01 s; offline ≈ 10 s later.
    expect(off[0]!.at - r.t0).toBeGreaterThan(11_000);
    expect(off[0]!.at - r.t0).toBeLessThanOrEqual(11_300);
    expect(r.of('module-offline').map((o) => o.index)).toEqual([1, 2]);
    expect(r.driver.snapshot()).toMatchObject({ online: false, socPct: 50 }); // last values kept
    r.sim.silenceAll(false);
    await r.run(1000);
    expect(r.of('online')).toHaveLength(2);
    expect(r.driver.snapshot().online).toBe(true);
  });

  it('invalid frames are reported and never reach the snapshot', async () => {
    const r = memoryRig();
    await r.run(1100);
    // Another node puts impossible values on the bus: SOC 150 %, a 0 V min cell, a short 0x356.
    r.other.send({ id: 0x355, extended: false, remote: false, data: bytes('96 00 64 00 00 00 00 00') });
    r.other.send({ id: 0x361, extended: false, remote: false, data: bytes('38 0D 00 00 82 00 78 00') });
    r.other.send({ id: 0x356, extended: false, remote: false, data: bytes('96 14 8B') });
    r.other.send({ id: 0x7ff, extended: false, remote: false, data: bytes('01 02') });
    await r.run(50);
    expect(r.of('invalid').map((o) => o.reason)).toEqual([
      expect.stringMatching(/SOC 150 %/),
      expect.stringMatching(/min cell voltage 0 V/),
      expect.stringMatching(/DLC 3 on 0x356/),
    ]);
    const b = r.driver.snapshot();
    expect(b.socPct).toBe(50);
    expect(b.cellLowV).toBeGreaterThan(3);
    // All four are in the event log; the unknown id is kept for the inspector.
    expect(r.of('frame').slice(-4).map((f) => f.msg.kind)).toEqual(['invalid', 'invalid', 'invalid', 'unknown']);
    expect(r.driver.latestFrames().find((f) => f.canId === 0x7ff)).toMatchObject({ decoded: { kind: 'unknown' } });
    expect(r.driver.latestFrames().find((f) => f.canId === 0x355)).toMatchObject({ decoded: { kind: 'invalid' } });
  });

  it('accepts per-module frames before any 0x364 (unlike the seed)', async () => {
    const r = memoryRig({ noSim: true });
    await r.run(100);
    // bms-can.md §7 #10: module 2, 53.1 V, charging 12.3 A, SOC 87.5 %.
    r.other.send({ id: 0x151, extended: false, remote: false, data: bytes('13 02 85 FF 6B 03 E8 03') });
    await r.run(200);
    const b = r.driver.snapshot();
    expect(b.moduleCounts).toBeNull();
    expect(b.online).toBe(false); // module frames alone do not make the stack online
    expect(b.modules).toEqual([expect.objectContaining({ index: 2, online: true, voltageV: 53.1, currentA: 12.3, socPct: 87.5, sohPct: 100 })]);
    // 0x364 later announces 3 modules: the unheard ones appear, empty and offline.
    r.other.send({ id: 0x364, extended: false, remote: false, data: bytes('03 00 00 00 03 00 00 00') });
    await r.run(200);
    expect(r.driver.snapshot().modules.map((m) => [m.index, m.online, m.voltageV])).toEqual([
      [1, false, null],
      [2, true, 53.1],
      [3, false, null],
    ]);
  });

  it('sends the 0x305 heartbeat while the link is up; the stack hears it; stays quiet when a real inverter talks', async () => {
    const r = memoryRig({ driver: { heartbeatMs: 1000 } });
    await r.run(5100);
    expect(r.fromHost.map((h) => h.at - r.t0)).toEqual([1000, 2000, 3000, 4000, 5000]);
    const last = r.fromHost.at(-1)!;
    expect(last.frame).toEqual(encodeHeartbeat(r.t0 + 5000));
    expect(decodeBms(last.frame, 'deye')).toEqual({ kind: 'heartbeat', time: { year: 2026, month: 1, day: 1, hour: 0, minute: 0, second: 5 } });
    expect(r.sim.stats.heartbeats).toBe(5);
    expect(r.of('frame').filter((f) => f.dir === 'tx' && f.msg.kind === 'heartbeat')).toHaveLength(5);
    expect(r.driver.latestFrames().find((f) => f.canId === 0x305)).toMatchObject({ dir: 'tx', count: 5 });

    // A real inverter's 0x305 (eight zeros) appears: ours stops for three periods after the last one.
    const before = r.fromHost.length;
    r.other.send(encodeHeartbeat(null));
    await r.run(2000);
    expect(r.fromHost.length).toBe(before);
    await r.run(2000);
    expect(r.fromHost.length).toBe(before + 1);

    // Unplugged: no heartbeat attempts while the link is down.
    const txFailures = r.link.stats.txFailures;
    r.mem.unplug();
    await r.run(3000);
    expect(r.link.state).not.toBe('up');
    expect(r.link.stats.txFailures).toBe(txFailures);
    expect(r.of('offline').at(-1)!.reason).toMatch(/CAN link down/);
  });

  it('sends no heartbeat unless configured, and the stack then raises no PCS comm fail', async () => {
    const r = memoryRig();
    await r.run(15_100);
    expect(r.fromHost).toEqual([]);
    expect(r.driver.snapshot().protections).toEqual([]);
  });

  it('inverter lost: the stack raises PCS comm fail once the heartbeat stops, and a passive reader sees it', async () => {
    const r = memoryRig({ driver: { heartbeatMs: 1000 } });
    // A second, passive reader on the same adapter (no heartbeat of its own).
    const passive = new BmsDriver({ link: r.link, clock: r.clock, dialect: 'deye' });
    const flags: Extract<BmsObservation, { kind: 'flags' }>[] = [];
    passive.onObservation((o) => o.kind === 'flags' && flags.push(o));
    passive.start();
    stops.push(() => passive.stop());
    await r.run(3100);
    expect(r.sim.stats.heartbeats).toBe(3);
    r.driver.stop(); // the "inverter" goes away
    await r.run(10_000);
    expect(flags.some((f) => f.protections.includes('pcs-comm-fail'))).toBe(false);
    await r.run(1000);
    expect(flags.at(-1)!.changes).toEqual([{ set: 'protection', name: 'pcs-comm-fail', active: true }]);
    expect(passive.snapshot().protections).toEqual(['pcs-comm-fail']);
  });

  it('Pylontech dialect: + = charge on the wire, no modules, Pylontech flag names', async () => {
    const r = memoryRig({ dialect: 'pylontech' });
    r.load(25);
    await r.run(1100);
    r.sim.injectCellOverVoltage(true);
    await r.run(1000);
    const b = r.driver.snapshot();
    expect(b).toMatchObject({
      dialect: 'pylontech',
      online: true,
      currentA: 25,
      socPct: 50,
      cellHighV: null,
      moduleCounts: null,
      modules: [],
      identity: { manufacturer: 'PYLON', dialect: 'pylontech' },
      // 3.66 V trips over-voltage; the 0.36 V cell delta is a Deye alarm with no Pylontech bit.
      protections: ['over-voltage'],
      alarms: ['high-voltage'],
      requestFlags: ['charge-enable', 'discharge-enable'],
    });
    const wire = r.driver.latestFrames().find((f) => f.canId === 0x356)!;
    expect(wire.decoded).toMatchObject({ wireCurrentA: 25, currentA: 25, direction: 'charge' });
  });
});

describe('BmsDriver ↔ BmsSim over a REAL pty pair (serialport, 2,000,000 baud, fixed framing, 500 kbit/s)', () => {
  it('reads the stack, merges both modules, and its heartbeat reaches the stack', async () => {
    const pair = await openPtyPair();
    stops.push(() => pair.close());
    const device = new SerialTransport({ path: pair.b, baudRate: 2_000_000 });
    await device.open();
    stops.push(() => device.close());
    const clock = new RealClock();
    const r = build(clock, device, serialTransportFactory({ path: pair.a, baudRate: 2_000_000 }), {
      sim: { cyclePeriodMs: 250 },
      driver: { heartbeatMs: 250 },
      noSim: true,
    });
    r.pack.step(-30, 0); // discharging 30 A: Deye wire +300, driver -30

    await waitFor(() => r.link.state === 'up', 'link up', 15_000, 20);
    // The setting command crossed the pty and the simulated adapter applied it (§6.2).
    await waitFor(() => r.adapterSim.config !== null, 'setting applied', 15_000, 20);
    expect(r.adapterSim.config).toEqual({ framing: 'fixed', bitrate: BITRATE });
    // The stack starts talking once the host port is open, so every byte read is a whole frame
    // (joining a running bus mid-frame is the resync case of test/families/bms/codec.test.ts).
    r.sim.start();
    await waitFor(() => {
      const b = r.driver.snapshot();
      return b.online && b.modules.length === 2 && b.modules.every((m) => m.chargedKWh !== null && m.serial !== null) && b.moduleCounts !== null;
    }, 'both modules and the stack', 15_000, 20);
    await waitFor(() => r.sim.stats.heartbeats >= 3, '3 heartbeats at the stack', 15_000, 20);

    const b = r.driver.snapshot();
    expect(b).toMatchObject({ socPct: 50, currentA: -30, chargeCurrentLimitA: 100, requestFlags: ['charge-enable', 'discharge-enable'], protections: [] });
    expect(b.modules.map((m) => m.index)).toEqual([1, 2]);
    expect(b.modules[0]!.currentA! + b.modules[1]!.currentA!).toBeCloseTo(-30, 0);
    // Every byte crossed the pty intact: nothing dropped, no bad checksum, nothing invalid.
    expect(r.link.stats).toMatchObject({ droppedBytes: 0, badChecksum: 0 });
    expect(r.link.stats.frames).toBeGreaterThan(32);
    expect(r.of('invalid')).toEqual([]);
    expect(r.fromHost.length).toBeGreaterThanOrEqual(3);
  });
});
