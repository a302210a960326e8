/**
 * Finding a unit by serial through an ID probe (issue 11 "Transports"; the seed's --serial):
 * two simulated units behind fake HID devices, moved between "ports".
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import type { Pi18Frame } from '../../../src/families/pi18/codec.js';
import { Pi18Driver } from '../../../src/families/pi18/driver.js';
import { Pi18Framer } from '../../../src/families/pi18/framer.js';
import { pi18SerialFactory } from '../../../src/families/pi18/probe.js';
import { createPi18Pair, type Pi18Sim } from '../../../src/families/pi18/sim.js';
import { SupervisedLink } from '../../../src/link/supervisor.js';
import { HidTransport } from '../../../src/link/transports/hid.js';

function ports(clock: FakeClock, map: Map<string, Pi18Sim | 'busy' | 'silent'>) {
  return {
    list: async () => [...map.keys()],
    open: (path: string) =>
      new HidTransport({
        target: { path },
        dropAfterDelimiter: 0x0d,
        opener: async () => {
          const who = map.get(path);
          if (!who) throw new Error(`${path}: no such device`);
          if (who === 'busy') throw new Error('EBUSY');
          if (who === 'silent') {
            const { EventEmitter } = await import('node:events');
            return Object.assign(new EventEmitter(), { write: () => 8, close: () => undefined });
          }
          return who.hidDevice();
        },
      }),
    clock,
  };
}

async function settle<T>(clock: FakeClock, p: Promise<T>): Promise<T> {
  let r: { v: T } | { e: unknown } | null = null;
  p.then((v) => (r = { v }), (e) => (r = { e }));
  for (let i = 0; i < 200 && !r; i++) await clock.advance(50);
  const got = r as { v: T } | { e: unknown } | null;
  if (!got) throw new Error('did not settle');
  if ('e' in got) throw got.e;
  return got.v;
}

describe('pi18SerialFactory', () => {
  it('finds each unit by serial, skipping a busy and a silent device; a moved unit is found again', async () => {
    const clock = new FakeClock();
    const [a, b] = createPi18Pair({ clock });
    const map = new Map<string, Pi18Sim | 'busy' | 'silent'>([
      ['/dev/hidraw0', 'busy'],
      ['/dev/hidraw1', 'silent'],
      ['/dev/hidraw2', a],
      ['/dev/hidraw3', b],
    ]);
    const p = ports(clock, map);
    const findB = pi18SerialFactory({ ...p, serial: b.serial });
    const tb = await settle(clock, findB());
    expect(tb.description).toBe('hid:/dev/hidraw3');
    expect(tb.isOpen).toBe(false);
    // The whole 22-digit ID payload works too (the seed's SERIAL_UNIT_1 form).
    const ta = await settle(clock, pi18SerialFactory({ ...p, serial: '1496142109100037000000' })());
    expect(ta.description).toBe('hid:/dev/hidraw2');
    // Moved: unit B now on hidraw0.
    map.set('/dev/hidraw0', b);
    map.delete('/dev/hidraw3');
    expect((await settle(clock, findB())).description).toBe('hid:/dev/hidraw0');
  });

  it('no match: the attempt fails with what it found on each device', async () => {
    const clock = new FakeClock();
    const [a] = createPi18Pair({ clock });
    const p = ports(clock, new Map<string, Pi18Sim | 'busy' | 'silent'>([['/dev/hidraw0', 'busy'], ['/dev/hidraw2', a]]));
    await expect(settle(clock, pi18SerialFactory({ ...p, serial: '12345678901234' })())).rejects.toThrow(
      /no PI18 inverter with serial 12345678901234 found \(\/dev\/hidraw0: cannot open \(EBUSY\); \/dev\/hidraw2: serial 96142109100037\)/,
    );
  });

  it('as the factory of a SupervisedLink: the driver reaches the unit with that serial', async () => {
    const clock = new FakeClock();
    const [a, b] = createPi18Pair({ clock });
    const p = ports(clock, new Map<string, Pi18Sim | 'busy' | 'silent'>([['/dev/hidraw0', a], ['/dev/hidraw1', b]]));
    const framer = new Pi18Framer();
    const link = new SupervisedLink<Pi18Frame>(pi18SerialFactory({ ...p, serial: b.serial }), framer, { id: 'lvx-2', clock });
    const driver = new Pi18Driver({ deviceId: 'lvx-2', link, clock, framer, expectedSerial: b.serial });
    driver.start();
    link.start();
    for (let i = 0; i < 100 && !driver.isOnline; i++) await clock.advance(50);
    expect(driver.isOnline).toBe(true);
    expect(driver.identity?.serial).toBe(b.serial);
    expect(driver.status?.parallelId).toBe(1);
    await driver.stop();
    await link.stop();
  });
});
