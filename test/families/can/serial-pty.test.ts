/**
 * The CAN adapter link over REAL pseudo-terminals opened with `serialport` at 2,000,000 baud:
 * host side CanAdapterLink → SerialTransport(a) ⇄ pty relay ⇄ SerialTransport(b) →
 * WaveshareAdapterSim → CanBusSim ⇄ a simulated PSU node.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RealClock } from '../../../src/clock.js';
import { CanAdapterLink } from '../../../src/families/can/adapter.js';
import { WaveshareAdapterSim } from '../../../src/families/can/adapter-sim.js';
import type { CanFrame } from '../../../src/families/can/types.js';
import {
  findSerialPortByVidPid,
  SerialTransport,
  serialTransportFactory,
} from '../../../src/link/transports/serial.js';
import { CanBusSim } from '../../../src/families/can/bus-sim.js';
import { openPtyPair, type PtyPair } from '../../helpers/pty-pair.js';
import { waitFor } from '../../helpers/wait.js';

const bytes = (s: string) => Uint8Array.from(s.trim().split(/\s+/), (h) => parseInt(h, 16));
// flatpack2.md §4 #11 (SET all) and #1 (status of PSU 1).
const SET_ALL: CanFrame = { id: 0x05ff4004, extended: true, remote: false, data: bytes('C8 00 18 15 18 15 70 17') };
const STATUS: CanFrame = { id: 0x05014004, extended: true, remote: false, data: bytes('17 00 00 D1 12 EE 00 17') };
const BAUD = 2_000_000;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

/** The device end: an adapter simulator on pty side b, with a PSU node on its bus. */
async function startDevice(pair: PtyPair, bus: CanBusSim) {
  const device = new SerialTransport({ path: pair.b, baudRate: BAUD });
  await device.open();
  const sim = new WaveshareAdapterSim({ transport: device, bus });
  sim.start();
  cleanups.push(async () => {
    sim.stop();
    await device.close();
  });
  return { device, sim };
}

describe('CAN adapter link over a real pty pair (serialport at 2,000,000 baud)', () => {
  it('configures the tty at 2,000,000 baud, 8N2, and moves frames both ways', async () => {
    const pair = await openPtyPair();
    cleanups.push(() => pair.close());
    const bus = new CanBusSim({ bitrate: 125_000 });
    const { sim } = await startDevice(pair, bus);
    const onBus: CanFrame[] = [];
    const psu = bus.attach('psu', (f) => onBus.push(f));

    const adapter = new CanAdapterLink({
      busId: 'can0',
      factory: serialTransportFactory({ path: pair.a, baudRate: BAUD, stopBits: 2 }),
      framing: 'variable',
      bitrate: 125_000,
      clock: new RealClock(),
      settleMs: 20,
    });
    cleanups.push(() => adapter.stop());
    const received: CanFrame[] = [];
    adapter.onFrame((f) => received.push(f));
    adapter.start();
    await waitFor(() => adapter.state === 'up', 'link up', 10_000, 10);

    // The kernel holds what serialport asked for (MTI's 2 stop bits, §6).
    const stty = execFileSync('stty', ['-F', pair.a, '-a'], { encoding: 'utf8' });
    expect(stty).toMatch(/speed 2000000 baud/);
    expect(stty).toMatch(/(^|\s)cs8(\s|$)/);
    expect(stty).toMatch(/(^|\s)cstopb(\s|$)/);
    expect(stty).toMatch(/(^|\s)-parenb(\s|$)/);

    // The setting command crossed the pty and the simulated adapter applied it (§6.3).
    await waitFor(() => sim.config !== null, 'setting applied', 10_000, 10);
    expect(sim.config).toEqual({ framing: 'variable', bitrate: 125_000 });

    expect((await adapter.send(SET_ALL)).ok).toBe(true);
    await waitFor(() => onBus.length === 1, 'SET on the bus', 10_000, 10);
    expect(onBus).toEqual([SET_ALL]);

    // A burst, so the host decoder sees frames split across tty reads.
    const burst = Array.from({ length: 300 }, (_, i): CanFrame => ({ ...STATUS, data: Uint8Array.of(i & 0xff, i >> 8, 0, 0xd1, 0x12, 0xee, 0, 0x17) }));
    for (const f of burst) psu.send(f);
    await waitFor(() => received.length === 300, '300 status frames', 10_000, 10);
    expect(received).toEqual(burst);
    expect(adapter.stats).toMatchObject({ frames: 300, droppedBytes: 0, txFrames: 1 });
  });

  it('goes down when the pty disappears (unplug) and comes back on a new port', async () => {
    let pair = await openPtyPair();
    cleanups.push(() => pair.close());
    const bus = new CanBusSim({ bitrate: 125_000 });
    await startDevice(pair, bus);
    const onBus: CanFrame[] = [];
    bus.attach('psu', (f) => onBus.push(f));

    // The factory resolves the path on every attempt, as autodetect does after a replug.
    let hostPath = pair.a;
    const factory = serialTransportFactory({ path: '/dev/ttyUSB-missing', baudRate: BAUD, stopBits: 2 });
    const adapter = new CanAdapterLink({
      busId: 'can0',
      factory: () => (hostPath ? serialTransportFactory({ path: hostPath, baudRate: BAUD })() : factory()),
      framing: 'variable',
      bitrate: 125_000,
      clock: new RealClock(),
      settleMs: 20,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    cleanups.push(() => adapter.stop());
    const details: string[] = [];
    adapter.onState((s, d) => details.push(`${s}: ${d}`));
    adapter.start();
    await waitFor(() => adapter.state === 'up', 'link up', 10_000, 10);

    // Pull the cable: the relay exits, both ptys hang up, serialport reports a disconnect.
    hostPath = '';
    await pair.close();
    await waitFor(() => adapter.state === 'down', 'link down', 10_000, 10);
    expect(details.find((d) => d.startsWith('down:'))).toMatch(/closed unexpectedly.*unplugged\?/);
    expect((await adapter.send(SET_ALL)).ok).toBe(false);
    // While nothing is there, retries fail with the factory's explanation.
    await waitFor(() => /ttyUSB-missing does not exist/.test(adapter.stats.lastError ?? ''), 'a failed retry', 10_000, 10);

    // Plug in again (it comes back under a new name).
    pair = await openPtyPair();
    await startDevice(pair, bus);
    hostPath = pair.a;
    await waitFor(() => adapter.state === 'up', 'link up again', 10_000, 10);
    expect(adapter.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect((await adapter.send(SET_ALL)).ok).toBe(true);
    await waitFor(() => onBus.length === 1, 'SET on the bus', 10_000, 10);
  });
});

describe('SerialTransport', () => {
  it('explains what to check when the port cannot be opened', async () => {
    const t = new SerialTransport({ path: '/dev/ttyUSB-does-not-exist', baudRate: BAUD });
    await expect(t.open()).rejects.toThrow(/\/dev\/ttyUSB-does-not-exist.*plugged in/);
    expect(t.isOpen).toBe(false);
    await expect(t.write(bytes('01'))).rejects.toThrow(/not open/);
  });
});

describe('findSerialPortByVidPid / serialTransportFactory', () => {
  /** A fake sysfs with a CH340 (1a86:7523) on ttyUSB3 and an Arduino (2341:0043) on ttyACM0. */
  async function fakeSysfs(): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), 'sysfs-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const usb = join(root, 'devices/pci0000:00/usb1');
    // ttyUSB: …/1-1/1-1:1.0/ttyUSB3, ids two levels up (usb-serial layout).
    await mkdir(join(usb, '1-1/1-1:1.0/ttyUSB3'), { recursive: true });
    await writeFile(join(usb, '1-1/idVendor'), '1a86\n');
    await writeFile(join(usb, '1-1/idProduct'), '7523\n');
    // ttyACM: device is the interface …/1-2/1-2:1.0, ids one level up.
    await mkdir(join(usb, '1-2/1-2:1.0'), { recursive: true });
    await writeFile(join(usb, '1-2/idVendor'), '2341\n');
    await writeFile(join(usb, '1-2/idProduct'), '0043\n');
    for (const [name, target] of [
      ['ttyUSB3', join(usb, '1-1/1-1:1.0/ttyUSB3')],
      ['ttyACM0', join(usb, '1-2/1-2:1.0')],
      ['ttyS0', join(root, 'devices/platform/serial8250')],
    ] as const) {
      await mkdir(join(root, 'class/tty', name), { recursive: true });
      await symlink(target, join(root, 'class/tty', name, 'device'));
    }
    return root;
  }
  const noUdev = async (): Promise<never> => {
    throw new Error('spawn udevadm ENOENT');
  };

  it('falls back to sysfs when SerialPort.list() fails', async () => {
    const sysfsRoot = await fakeSysfs();
    expect(await findSerialPortByVidPid('1a86', '7523', { sysfsRoot, list: noUdev })).toBe('/dev/ttyUSB3');
    expect(await findSerialPortByVidPid('0x2341', '0x43', { sysfsRoot, list: noUdev })).toBe('/dev/ttyACM0');
    expect(await findSerialPortByVidPid('0403', '6001', { sysfsRoot, list: noUdev })).toBeNull();
    expect(await findSerialPortByVidPid('1a86', '7523', { sysfsRoot: '/nonexistent', list: noUdev })).toBeNull();
  });

  it('prefers SerialPort.list() when it finds the device', async () => {
    const list = async () => [{ path: '/dev/ttyUSB7', vendorId: '1A86', productId: '7523' }];
    expect(await findSerialPortByVidPid('1a86', '7523', { sysfsRoot: '/nonexistent', list })).toBe('/dev/ttyUSB7');
  });

  it('never throws on this machine', async () => {
    await expect(findSerialPortByVidPid('1a86', '7523')).resolves.toSatisfy((v) => v === null || typeof v === 'string');
  });

  it('factory: autodetects when the configured path is missing, explains when nothing is found', async () => {
    const sysfsRoot = await fakeSysfs();
    const found = await serialTransportFactory({
      path: '/dev/ttyUSB-missing',
      autodetect: { vid: '1a86', pid: '7523' },
      baudRate: BAUD,
      find: { sysfsRoot, list: noUdev },
    })();
    expect(found.description).toBe('/dev/ttyUSB3');
    expect(found.isOpen).toBe(false);

    await expect(
      serialTransportFactory({ path: '/dev/ttyUSB-missing', autodetect: { vid: '0403', pid: '6001' }, baudRate: BAUD, find: { sysfsRoot, list: noUdev } })(),
    ).rejects.toThrow(/\/dev\/ttyUSB-missing does not exist and no serial port with USB 0403:6001 found — is the adapter plugged in\?/);
    await expect(serialTransportFactory({ baudRate: BAUD })()).rejects.toThrow(/no serial port configured/);
  });
});
