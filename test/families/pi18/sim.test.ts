/**
 * The LVX6048 simulator in bytes: replies, refusal rules (pi18.md §5, workflow §2), scripted
 * behaviours, the parallel pair, and the two carriers (fake HID device, real pty at 2400 Bd).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import {
  buildFrame,
  decodeCurrentList,
  decodeFws,
  decodeGs,
  decodeId,
  decodeMod,
  decodePgs,
  decodePiri,
  decodeVfw,
  pi18Crc,
  type Pi18Frame,
} from '../../../src/families/pi18/codec.js';
import { Pi18Framer } from '../../../src/families/pi18/framer.js';
import { createPi18Pair, Pi18Sim } from '../../../src/families/pi18/sim.js';
import { HidTransport } from '../../../src/link/transports/hid.js';
import { SerialTransport } from '../../../src/link/transports/serial.js';
import { openPtyPair } from '../../helpers/pty-pair.js';
import { waitFor } from '../../helpers/wait.js';

function ask(sim: Pi18Sim, type: 'query' | 'set', command: string): Pi18Frame | null {
  const framer = new Pi18Framer();
  const replies = sim.receive(buildFrame({ type, command })).flatMap((b) => framer.push(b));
  return replies[0] ?? null;
}
const q = (sim: Pi18Sim, c: string) => ask(sim, 'query', c);
const s = (sim: Pi18Sim, c: string) => ask(sim, 'set', c)?.type;
function data(f: Pi18Frame | null): string {
  if (!f || f.type !== 'data') throw new Error(`expected data, got ${f ? f.type : 'nothing'}`);
  return f.payload;
}
function ok<T>(r: { ok: true; value: T } | { ok: false; reason: string }): T {
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('Pi18Sim replies', () => {
  it('answers PI, PIRI, GS, MOD, FWS, ID, VFW, MCHGCR, MUCHGCR with frames the codec decodes', () => {
    const sim = new Pi18Sim({ serial: '96142109100037' });
    expect(data(q(sim, 'PI'))).toBe('18');
    const piri = ok(decodePiri(data(q(sim, 'PIRI'))));
    expect(piri).toMatchObject({ batteryRatedVoltageV: 48, batteryType: 'user', cutoffVoltageV: 44, maxChargingCurrentA: 60 });
    const gs = ok(decodeGs(data(q(sim, 'GS'))));
    expect(gs).toMatchObject({ acOutputVoltageV: 230, batteryVoltageV: 52.8, parallelId: 0 });
    expect(ok(decodeMod(data(q(sim, 'MOD')))).mode).toBe('hybrid');
    expect(ok(decodeFws(data(q(sim, 'FWS')))).faultCode).toBe(0);
    expect(ok(decodeId(data(q(sim, 'ID')))).serial).toBe('96142109100037');
    expect(ok(decodeVfw(data(q(sim, 'VFW')))).main).toBe('05220');
    expect(ok(decodeCurrentList(data(q(sim, 'MCHGCR'))))).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
    expect(ok(decodeCurrentList(data(q(sim, 'MUCHGCR'))))).toEqual([2, 10, 20, 30, 40, 50, 60, 70, 80]);
  });

  it('answers an unknown query with ^0 (§1.3), and EY/EM/ED only where the unit supports them (§4.6)', () => {
    expect(q(new Pi18Sim(), 'QPIGS')?.type).toBe('nak');
    expect(q(new Pi18Sim(), 'EY2026')?.type).toBe('data');
    expect(q(new Pi18Sim({ energyPerPeriod: false }), 'EY2026')?.type).toBe('nak');
  });

  it('setters change the state PIRI reports', () => {
    const sim = new Pi18Sim();
    expect(s(sim, 'MCHGV552,540')).toBe('ack');
    expect(s(sim, 'BUCD460,540')).toBe('ack');
    expect(s(sim, 'PSDV430')).toBe('ack');
    expect(s(sim, 'MCHGC0,040')).toBe('ack');
    expect(s(sim, 'MUCHGC0,002')).toBe('ack');
    expect(s(sim, 'PCP0,2')).toBe('ack');
    expect(s(sim, 'POP0')).toBe('ack');
    expect(s(sim, 'PSP0')).toBe('ack');
    expect(s(sim, 'PEI')).toBe('ack');
    expect(ok(decodePiri(data(q(sim, 'PIRI'))))).toMatchObject({
      bulkVoltageV: 55.2,
      floatVoltageV: 54,
      stopDischargeVoltageV: 46,
      stopChargeVoltageV: 54,
      cutoffVoltageV: 43,
      maxChargingCurrentA: 40,
      maxUtilityChargingCurrentA: 2,
      chargerPriority: 'solar_only',
      outputSourcePriority: 'solar_utility_battery',
      solarPowerPriority: 'battery_load_utility',
      machineType: 'grid_tie',
    });
    expect(sim.applied).toHaveLength(9);
  });

  it('refusal rules: custom voltages only with battery type User; step lists; ranges; unit index; unknown setters', () => {
    const sim = new Pi18Sim();
    expect(s(sim, 'PBT0')).toBe('ack');
    for (const c of ['PSDV430', 'BUCD460,540', 'MCHGV552,540']) expect(s(sim, c), c).toBe('nak');
    expect(s(sim, 'PBT2')).toBe('ack');
    expect(s(sim, 'PSDV390')).toBe('nak');
    expect(s(sim, 'PSDV481')).toBe('nak');
    expect(s(sim, 'BUCD455,540')).toBe('nak');
    expect(s(sim, 'BUCD460,000')).toBe('ack');
    expect(s(sim, 'MCHGV585,540')).toBe('nak');
    expect(s(sim, 'MCHGC0,065')).toBe('nak');
    expect(s(sim, 'MCHGC0,090')).toBe('nak');
    expect(s(sim, 'MUCHGC0,005')).toBe('nak');
    expect(s(sim, 'MCHGC1,060')).toBe('nak'); // unit index 1 on a unit with index 0
    expect(s(sim, 'PF')).toBe('nak');
    expect(s(sim, 'PBT3')).toBe('nak');
    // A setter whose length field is wrong is refused, as firmware that checks it does (§1.1).
    const bad = buildFrame({ type: 'set', command: 'PBT1' });
    bad[4] = 0x38; // ^S008
    const framer = new Pi18Framer();
    const fixed = new Uint8Array(bad.length);
    fixed.set(bad);
    // re-CRC the altered header so only the length is wrong
    const [hi, lo] = pi18Crc(fixed.subarray(0, fixed.length - 3));
    fixed[fixed.length - 3] = hi;
    fixed[fixed.length - 2] = lo;
    expect(sim.receive(fixed).flatMap((b) => framer.push(b))[0]?.type).toBe('nak');
  });

  it('enforceCrossField refuses a step that would leave cutoff ≥ stop-discharge or utility > total current', () => {
    const sim = new Pi18Sim({ enforceCrossField: true });
    expect(s(sim, 'PSDV480')).toBe('nak'); // stop-discharge is 48.0
    expect(s(sim, 'MUCHGC0,070')).toBe('nak'); // total is 60
    expect(s(sim, 'MCHGC0,080')).toBe('ack');
    expect(s(sim, 'MUCHGC0,070')).toBe('ack');
  });
});

describe('Pi18Sim scripted behaviours', () => {
  it("'nak' refuses the next setter only; queries are untouched", () => {
    const sim = new Pi18Sim();
    sim.script.next('nak');
    expect(q(sim, 'PIRI')?.type).toBe('data');
    expect(s(sim, 'POP0')).toBe('nak');
    expect(s(sim, 'POP0')).toBe('ack');
  });

  it("'drop-reply', 'corrupt-crc', 'nak30', 'ignore'", () => {
    const sim = new Pi18Sim();
    sim.script.next('drop-reply');
    expect(q(sim, 'GS')).toBeNull();
    sim.script.next('corrupt-crc');
    const framer = new Pi18Framer();
    expect(sim.receive(buildFrame({ type: 'query', command: 'MOD' })).flatMap((b) => framer.push(b))).toEqual([]);
    expect(framer.rejectedFrames).toBe(1);
    sim.script.next('nak30');
    expect(q(sim, 'PIRI')?.type).toBe('nak30');
    sim.script.next('ignore');
    expect(s(sim, 'PSP0')).toBe('ack');
    expect(ok(decodePiri(data(q(sim, 'PIRI')))).solarPowerPriority).toBe('load_battery_utility');
    expect(sim.script.pending()).toEqual([]);
  });

  it("'delay-reply' answers after delayReplyMs on the sim's clock", async () => {
    const clock = new FakeClock();
    const sim = new Pi18Sim({ clock, delayReplyMs: 1500 });
    const got: Uint8Array[] = [];
    sim.onReply((b) => got.push(b));
    sim.script.next('delay-reply');
    sim.receive(buildFrame({ type: 'query', command: 'MOD' }));
    await clock.advance(1400);
    expect(got).toHaveLength(0);
    await clock.advance(200);
    expect(got).toHaveLength(1);
  });

  it("'fault-86' reports fault 86 in FWS and puts the unit in fault mode", () => {
    const sim = new Pi18Sim();
    sim.script.next('fault-86');
    const fws = ok(decodeFws(data(q(sim, 'FWS'))));
    expect(fws.faultCode).toBe(86);
    expect(fws.faultText).toBe('parallel output setting different');
    expect(ok(decodeMod(data(q(sim, 'MOD')))).mode).toBe('fault');
    sim.setFault(0);
    expect(ok(decodeFws(data(q(sim, 'FWS')))).faultCode).toBe(0);
  });
});

describe('Pi18Sim parallel pair', () => {
  it('master index 0, slave index 1 (GS #28), output mode parallel, PGSn answered for each unit', () => {
    const [a, b] = createPi18Pair();
    expect(ok(decodeGs(data(q(a, 'GS')))).parallelId).toBe(0);
    expect(ok(decodeGs(data(q(b, 'GS')))).parallelId).toBe(1);
    expect(ok(decodePiri(data(q(a, 'PIRI')))).outputMode).toBe('parallel');
    expect(ok(decodeId(data(q(a, 'ID')))).serial).not.toBe(ok(decodeId(data(q(b, 'ID')))).serial);
    b.status.pv1PowerW = 999;
    const pgs1 = ok(decodePgs(data(q(a, 'PGS1'))));
    expect(pgs1).toMatchObject({ exists: true, pv1PowerW: 999 });
    expect(pgs1.totalActivePowerW).toBe(a.status.acOutputActivePowerW + b.status.acOutputActivePowerW);
    expect(ok(decodePgs(data(q(a, 'PGS2')))).exists).toBe(false);
    // The slave's own unit index is 1.
    expect(s(b, 'MCHGC1,050')).toBe('ack');
    expect(s(b, 'MCHGC0,050')).toBe('nak');
  });
});

describe('Pi18Sim carriers', () => {
  it('behind a fake HID device: 8-byte padded reports both ways through HidTransport', async () => {
    const sim = new Pi18Sim();
    const dev = sim.hidDevice();
    const t = new HidTransport({ target: { vendorId: 0x0665, productId: 0x5161 }, opener: async () => dev, dropAfterDelimiter: 0x0d });
    await t.open();
    cleanups.push(() => t.close());
    const framer = new Pi18Framer();
    const frames: Pi18Frame[] = [];
    t.onData((c) => frames.push(...framer.push(c)));
    await t.write(buildFrame({ type: 'query', command: 'PIRI' }));
    // pi18.md §3.2: 5e 50 30 30 37 50 49 52 | 49 ee 38 0d 00 00 00 00, each behind report id 0.
    expect(dev.written).toEqual([
      [0x00, 0x5e, 0x50, 0x30, 0x30, 0x37, 0x50, 0x49, 0x52],
      [0x00, 0x49, 0xee, 0x38, 0x0d, 0x00, 0x00, 0x00, 0x00],
    ]);
    await waitFor(() => frames.length === 1, 'PIRI reply', 2000, 5);
    expect(ok(decodePiri(data(frames[0]!))).batteryRatedVoltageV).toBe(48);
    expect(framer.corruptBytes).toBe(0);
    expect(sim.corruptBytes).toBe(0);
  });

  it('on a real pseudo-terminal at 2400 8N1 (the RS-232 variant)', async () => {
    const pair = await openPtyPair();
    cleanups.push(() => pair.close());
    const device = new SerialTransport({ path: pair.b, baudRate: 2400 });
    await device.open();
    cleanups.push(() => device.close());
    const sim = new Pi18Sim();
    sim.attach(device);
    cleanups.push(() => sim.stop());
    const host = new SerialTransport({ path: pair.a, baudRate: 2400 });
    await host.open();
    cleanups.push(() => host.close());
    const framer = new Pi18Framer();
    const frames: Pi18Frame[] = [];
    host.onData((c) => frames.push(...framer.push(c)));
    await host.write(buildFrame({ type: 'query', command: 'GS' }));
    await waitFor(() => frames.length === 1, 'GS reply over the pty', 10_000, 10);
    expect(ok(decodeGs(data(frames[0]!))).acOutputFrequencyHz).toBe(50);
    await host.write(buildFrame({ type: 'set', command: 'PSP0' }));
    await waitFor(() => frames.length === 2, 'ack over the pty', 10_000, 10);
    expect(frames[1]!.type).toBe('ack');
  });
});
