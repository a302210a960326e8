/**
 * A simulator's record of what it saw (the requests it received, the setters it applied, the
 * reports written to it) is what tests assert on; the built-in rig runs the same simulators for
 * days, so the record keeps only the most recent SIM_RECORD_LIMIT entries (src/sim/record.ts).
 * Each simulator is driven through its normal input, on the FakeClock, past the limit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { buildCommand } from '../../src/families/openevse/codec.js';
import { buildFrame } from '../../src/families/pi18/codec.js';
import { Pi18Sim } from '../../src/families/pi18/sim.js';
import { encodeFrame, versionRequest } from '../../src/families/vebus/codec.js';
import { VebusSim } from '../../src/families/vebus/sim.js';
import { createMemoryLink } from '../../src/link/transports/memory.js';
import { SimScript } from '../../src/sim/script.js';
import { record, SIM_RECORD_LIMIT } from '../../src/sim/record.js';
import { evseBench } from '../helpers/openevse-link.js';

const stops: Array<() => unknown> = [];
afterEach(async () => {
  while (stops.length) await stops.pop()!();
});

const N = SIM_RECORD_LIMIT + 1_000;

describe('simulator records', () => {
  it('record() keeps the newest entries, never more than the limit, in order', () => {
    const log: number[] = [];
    for (let i = 0; i < 1_000; i++) {
      record(log, i, 100);
      expect(log.length).toBeLessThanOrEqual(100);
    }
    expect(log.at(-1)).toBe(999);
    expect(log.every((x, i) => i === 0 || x === log[i - 1]! + 1)).toBe(true);
    expect(log.length).toBeGreaterThanOrEqual(100 - (100 >> 3));
  });

  it('defect 15.8: the PI18 simulator and its fake HID device keep a bounded record of the requests, setters and reports', () => {
    const sim = new Pi18Sim({ serial: '96142109100037' });
    const hid = sim.hidDevice();
    stops.push(() => hid.close());
    const bytes = buildFrame({ type: 'query', command: 'GS' });
    for (let i = 0; i < N; i++) {
      sim.receive(buildFrame({ type: 'query', command: i % 2 ? 'GS' : 'PIRI' }));
      hid.write([0, ...bytes.subarray(0, 8)]);
      sim.receive(buildFrame({ type: 'set', command: 'MCHGC0,060' }));
    }
    expect(sim.received.length).toBeLessThanOrEqual(SIM_RECORD_LIMIT);
    expect(sim.received.at(-1)).toEqual({ type: 'set', command: 'MCHGC0,060' });
    expect(sim.received.at(-2)).toEqual({ type: 'query', command: (N - 1) % 2 ? 'GS' : 'PIRI' });
    expect(sim.applied.length).toBeLessThanOrEqual(SIM_RECORD_LIMIT);
    expect(hid.written.length).toBeLessThanOrEqual(SIM_RECORD_LIMIT);
  });

  it('defect 15.8: the MK2 (VE.Bus) simulator keeps a bounded record of the request frames', async () => {
    const clock = new FakeClock();
    const mem = createMemoryLink('vebus');
    await mem.host.open();
    const sim = new VebusSim({ clock, transport: mem.device });
    sim.start();
    stops.push(() => sim.stop());
    const req = encodeFrame(versionRequest());
    for (let i = 0; i < N; i += 100) {
      for (let j = 0; j < 100; j++) await mem.host.write(req);
      await clock.advance(100 * 200);
    }
    expect(sim.counters.requests).toBeGreaterThanOrEqual(N);
    expect(sim.received.length).toBeLessThanOrEqual(SIM_RECORD_LIMIT);
    expect(sim.received.length).toBeGreaterThan(0);
  });

  it('defect 15.8: the OpenEVSE simulator keeps a bounded record of the command lines', async () => {
    const clock = new FakeClock();
    const b = await evseBench(clock);
    stops.push(() => b.sim.stop());
    await clock.advance(2000);
    const line = (i: number) => `${buildCommand('GS', [], { seq: (i % 250) + 1, checksum: 'xor' }).line}\r`;
    for (let i = 0; i < N; i += 50) {
      await b.mem.host.write(Buffer.from(Array.from({ length: 50 }, (_, j) => line(i + j)).join(''), 'latin1'));
      await clock.advance(50);
    }
    expect(b.rx.filter((f) => f.kind === 'OK').length).toBeGreaterThanOrEqual(N);
    expect(b.sim.received.length).toBeLessThanOrEqual(SIM_RECORD_LIMIT);
    expect(b.sim.received.at(-1)).toBe(line(N - 1).slice(0, -1));
  });

  it('defect 15.8: a script applied `always` keeps a bounded record of what it applied', () => {
    const script = new SimScript<'nak', number>();
    script.always('nak');
    for (let i = 0; i < N; i++) expect(script.take('nak', i)).toBe(true);
    expect(script.applied.length).toBeLessThanOrEqual(SIM_RECORD_LIMIT);
    expect(script.applied.at(-1)).toEqual({ behaviour: 'nak', subject: N - 1 });
  });
});
