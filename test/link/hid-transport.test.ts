/**
 * HidTransport with a fake HID device: 8-byte report chunking and padding (pi18.md §3.2),
 * reads, errors, and the lazy loading of node-hid.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { FakeClock, settle } from '../../src/clock.js';
import {
  HidTransport,
  nodeHidOpener,
  toHidReports,
  type HidDevice,
  type HidTarget,
} from '../../src/link/transports/hid.js';

// node-hid stand-in: records whether the module was ever evaluated (it is an optional native
// dependency and may not even be installed here).
const nodeHid = vi.hoisted(() => ({ loaded: false, opened: [] as unknown[] }));
vi.mock('node-hid', async () => {
  nodeHid.loaded = true;
  // vi.mock is hoisted above the imports, so the factory imports what it needs itself.
  const { EventEmitter: Emitter } = await import('node:events');
  class HID extends Emitter {
    constructor(...args: unknown[]) {
      super();
      nodeHid.opened.push(args);
    }
    write(report: number[]): number {
      return report.length;
    }
    close(): void {}
  }
  return { HID, default: { HID } };
});

class FakeHidDevice extends EventEmitter implements HidDevice {
  readonly written: number[][] = [];
  closed = false;
  failWrites: string | null = null;
  write(report: number[]): number {
    if (this.failWrites) throw new Error(this.failWrites);
    this.written.push([...report]);
    return report.length;
  }
  close(): void {
    this.closed = true;
  }
}

function withFake(opts: Partial<ConstructorParameters<typeof HidTransport>[0]> = {}) {
  const device = new FakeHidDevice();
  const targets: HidTarget[] = [];
  const transport = new HidTransport({
    target: { path: '/dev/hidraw0' },
    opener: async (target) => {
      targets.push(target);
      return device;
    },
    ...opts,
  });
  return { device, transport, targets };
}

const bytes = (...hex: string[]) => Uint8Array.from(hex.join(' ').split(/\s+/).map((h) => parseInt(h, 16)));

// pi18.md §2.1: ^P007PIRI with CRC EE38, and its two reports from §3.2.
const PIRI = bytes('5e 50 30 30 37 50 49 52 49 ee 38 0d');

describe('HidTransport', () => {
  it('importing the module does not load node-hid; the default opener loads it on open()', async () => {
    // hid.ts is imported at the top of this file already; import it again fresh to be explicit.
    vi.resetModules();
    const mod = await import('../../src/link/transports/hid.js');
    const t = new mod.HidTransport({ target: { vendorId: 0x0665, productId: 0x5161 } });
    expect(t.description).toBe('hid:0665:5161');
    expect(nodeHid.loaded).toBe(false);
    await t.open();
    expect(nodeHid.loaded).toBe(true);
    expect(nodeHid.opened).toEqual([[0x0665, 0x5161]]);
    await t.close();
  });

  it('cuts a PI18 frame into 8-byte reports, pads the last with 0x00 and puts report id 0x00 first', async () => {
    const { device, transport, targets } = withFake();
    await transport.open();
    expect(targets).toEqual([{ path: '/dev/hidraw0' }]);
    expect(transport.description).toBe('hid:/dev/hidraw0');
    await transport.write(PIRI);
    // pi18.md §3.2: 5e 50 30 30 37 50 49 52 | 49 ee 38 0d 00 00 00 00, each behind report id 0.
    expect(device.written).toEqual([
      [0x00, 0x5e, 0x50, 0x30, 0x30, 0x37, 0x50, 0x49, 0x52],
      [0x00, 0x49, 0xee, 0x38, 0x0d, 0x00, 0x00, 0x00, 0x00],
    ]);
  });

  it('without a report id writes bare reports; an exact multiple of 8 bytes needs no padding report', async () => {
    const { device, transport } = withFake({ reportId: null });
    await transport.open();
    const sixteen = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    await transport.write(sixteen);
    expect(device.written).toEqual([
      [1, 2, 3, 4, 5, 6, 7, 8],
      [9, 10, 11, 12, 13, 14, 15, 16],
    ]);
    await transport.write(new Uint8Array(0));
    expect(device.written).toHaveLength(2);
    expect(toHidReports(bytes('5e 31 0b c2 0d'), 8, null)).toEqual([[0x5e, 0x31, 0x0b, 0xc2, 0x0d, 0, 0, 0]]);
  });

  it('delivers input reports as bytes; with dropAfterDelimiter the padding after the CR is dropped', async () => {
    const plain = withFake();
    const got: number[][] = [];
    plain.transport.onData((c) => got.push([...c]));
    await plain.transport.open();
    plain.device.emit('data', Buffer.from([0x5e, 0x31, 0x0b, 0xc2, 0x0d, 0, 0, 0]));
    expect(got).toEqual([[0x5e, 0x31, 0x0b, 0xc2, 0x0d, 0, 0, 0]]);

    const pi18 = withFake({ dropAfterDelimiter: 0x0d });
    const rx: number[] = [];
    pi18.transport.onData((c) => rx.push(...c));
    await pi18.transport.open();
    // ^D00505 (MOD reply, pi18.md §2.1) in two reports, the second padded.
    pi18.device.emit('data', Buffer.from([0x5e, 0x44, 0x30, 0x30, 0x35, 0x30, 0x35, 0xd9]));
    pi18.device.emit('data', [0x9f, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
    // then an ACK in one report
    pi18.device.emit('data', Buffer.from([0x5e, 0x31, 0x0b, 0xc2, 0x0d, 0x00, 0x00, 0x00]));
    expect(rx).toEqual([...bytes('5e 44 30 30 35 30 35 d9 9f 0d'), ...bytes('5e 31 0b c2 0d')]);
  });

  it('a device error fires onClose with a message naming the device, and closes it', async () => {
    const { device, transport } = withFake();
    await transport.open();
    const closes: (Error | undefined)[] = [];
    transport.onClose((e) => closes.push(e));
    device.emit('error', new Error('could not read from HID device'));
    expect(closes).toHaveLength(1);
    expect(closes[0]!.message).toContain('hid:/dev/hidraw0');
    expect(closes[0]!.message).toContain('could not read from HID device');
    expect(closes[0]!.message).toMatch(/unplugged/);
    expect(device.closed).toBe(true);
    expect(transport.isOpen).toBe(false);
    // A second error from the dying device is not reported again, nor unhandled.
    device.emit('error', new Error('again'));
    expect(closes).toHaveLength(1);
    await expect(transport.write(PIRI)).rejects.toThrow(/not open/);
  });

  it('close() closes the device without firing onClose; a write failure rejects naming the device', async () => {
    const { device, transport } = withFake();
    await transport.open();
    let fired = 0;
    transport.onClose(() => fired++);
    device.failWrites = 'write error';
    await expect(transport.write(PIRI)).rejects.toThrow('write to USB-HID device hid:/dev/hidraw0 failed: write error');
    await transport.close();
    await transport.close();
    expect(device.closed).toBe(true);
    expect(fired).toBe(0);
    expect(transport.isOpen).toBe(false);
  });

  it('the reports of two writes never interleave, and the gap between reports runs on the clock', async () => {
    const clock = new FakeClock();
    const { device, transport } = withFake({ reportGapMs: 50, clock, reportId: null });
    await transport.open();
    const a = transport.write(Uint8Array.from({ length: 16 }, () => 0xaa));
    const b = transport.write(Uint8Array.from({ length: 16 }, () => 0xbb));
    await settle();
    expect(device.written.map((r) => r[0])).toEqual([0xaa]);
    await clock.advance(50);
    expect(device.written.map((r) => r[0])).toEqual([0xaa, 0xaa, 0xbb]);
    await clock.advance(50);
    await Promise.all([a, b]);
    expect(device.written.map((r) => r[0])).toEqual([0xaa, 0xaa, 0xbb, 0xbb]);
  });

  it('a node-hid that is not installed fails open() with a message that says what to install', async () => {
    const missing = Object.assign(new Error("Cannot find package 'node-hid'"), { code: 'ERR_MODULE_NOT_FOUND' });
    const t = new HidTransport({
      target: { path: '/dev/hidraw3' },
      opener: nodeHidOpener(() => Promise.reject(missing)),
    });
    await expect(t.open()).rejects.toThrow(/optional package node-hid.*npm install/);
    expect(t.isOpen).toBe(false);
  });

  it('node-hid open errors carry the udev hint, or the libusb hint when the native part does not load', async () => {
    const failing = (message: string) =>
      nodeHidOpener(async () => ({
        HID: class {
          constructor() {
            throw new Error(message);
          }
        },
      }));
    const denied = new HidTransport({ target: { path: '/dev/hidraw0' }, opener: failing('cannot open device with path /dev/hidraw0') });
    await expect(denied.open()).rejects.toThrow(/cannot open USB-HID device hid:\/dev\/hidraw0: .*udev rule/);
    const noLibusb = new HidTransport({
      target: { vendorId: 0x0665, productId: 0x5161 },
      opener: failing('libusb-1.0.so.0: cannot open shared object file: No such file or directory'),
    });
    await expect(noLibusb.open()).rejects.toThrow(/hid:0665:5161.*apt install libusb-1.0-0/);
  });

  it('a HID permission error names the udev rule to add, with the VID:PID of the device asked for', async () => {
    const denied = new HidTransport({
      target: { vendorId: 0x0665, productId: 0x5161 },
      opener: nodeHidOpener(async () => ({
        HID: class {
          constructor() {
            throw new Error('cannot open device with vendor id 0x665 and product id 0x5161');
          }
        },
      })),
    });
    await expect(denied.open()).rejects.toThrow(/KERNEL=="hidraw\*", ATTRS\{idVendor\}=="0665", ATTRS\{idProduct\}=="5161", MODE="0660", GROUP="plugdev".*udevadm control --reload/);
  });
});
