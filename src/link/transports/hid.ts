/**
 * USB-HID transport: a byte stream carried in fixed-size HID reports, as on the USB port of
 * Voltronic/PI18 inverters (shared/protocols/pi18.md §3.2: VID:PID commonly 0665:5161, 8-byte
 * reports, no numbered reports).
 *
 * - Writing: the bytes are cut into `reportSize` chunks, the last one padded with 0x00, and
 *   each chunk is written as one output report. node-hid (hidapi) wants the report id as the
 *   first byte, 0x00 for a device without numbered reports; the kernel strips it, so 8 bytes
 *   reach the device (`reportId: null` writes bare chunks, for a raw-hidraw device).
 * - Reading: each input report is delivered as bytes. With `dropAfterDelimiter` (PI18: 0x0D)
 *   the rest of a report after the first delimiter is padding and dropped here, where the
 *   report boundaries are still known; the framer then sees only frame bytes.
 * - `node-hid` is loaded lazily, by dynamic import inside `open()` of the default opener, so
 *   importing this module (or running a rig with no HID device) never loads the native addon.
 *   It is an optional dependency: a missing or unloadable node-hid fails `open()` with a
 *   message that says what to install.
 *
 * Stale input reports of an abandoned exchange (pi18.md §3.2) are left to the layers above:
 * the framer's resync and the request queue's late window.
 */
import type { Clock } from '../../clock.js';
import type { Transport } from './types.js';

/** The part of a node-hid `HID` object this transport uses; tests pass a fake. */
export interface HidDevice {
  /** Writes one output report (report id first, if any); throws on failure. */
  write(report: number[]): unknown;
  on(event: 'data', listener: (report: Uint8Array | number[]) => void): unknown;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  close(): void;
  removeAllListeners?(event?: string): unknown;
}

/** Which device: a hidraw path ("/dev/hidraw0") or the first with this USB VID:PID. */
export type HidTarget = { path: string } | { vendorId: number; productId: number };

/** Opens a device; rejects with an Error whose message says what to check. */
export type HidDeviceOpener = (target: HidTarget) => Promise<HidDevice>;

export interface HidTransportOptions {
  target: HidTarget;
  /** Report payload size in bytes. Default 8 (pi18.md §3.2). */
  reportSize?: number;
  /** Byte put before every output report; null for none. Default 0x00 (node-hid, unnumbered reports). */
  reportId?: number | null;
  /** In each input report, drop the bytes after the first occurrence of this byte (PI18: 0x0D). */
  dropAfterDelimiter?: number;
  /** Pause between the reports of one write (MS/PM pause ~50 ms; pi18.md §3.2). Default 0; needs `clock`. */
  reportGapMs?: number;
  clock?: Clock;
  /** Default: node-hid, loaded on first open. */
  opener?: HidDeviceOpener;
}

type DataListener = (chunk: Uint8Array) => void;
type CloseListener = (err?: Error) => void;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

export function describeHidTarget(target: HidTarget): string {
  return 'path' in target ? `hid:${target.path}` : `hid:${hex4(target.vendorId)}:${hex4(target.productId)}`;
}

/**
 * Splits `bytes` into output reports: `reportSize`-byte chunks, the last padded with 0x00,
 * each preceded by `reportId` unless it is null. Pure.
 */
export function toHidReports(bytes: Uint8Array, reportSize = 8, reportId: number | null = 0x00): number[][] {
  const reports: number[][] = [];
  for (let i = 0; i < bytes.length; i += reportSize) {
    const chunk = Array.from(bytes.subarray(i, i + reportSize));
    while (chunk.length < reportSize) chunk.push(0x00);
    reports.push(reportId === null ? chunk : [reportId, ...chunk]);
  }
  return reports;
}

/** The shape of the node-hid module that the default opener needs. */
interface NodeHidModule {
  HID: new (...args: [string] | [number, number]) => HidDevice;
}

/** Loads node-hid by dynamic import; the seam is for tests (a missing package). */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

const NODE_HID = 'node-hid';

/** An opener backed by node-hid, which is imported on the first call, not before. */
export function nodeHidOpener(importModule: ModuleImporter = (s) => import(s)): HidDeviceOpener {
  let loaded: Promise<NodeHidModule> | null = null;
  const load = (): Promise<NodeHidModule> => {
    loaded ??= importModule(NODE_HID).then(
      (mod) => {
        const m = mod as Partial<NodeHidModule> & { default?: Partial<NodeHidModule> };
        const HID = m.HID ?? m.default?.HID;
        if (typeof HID !== 'function') throw new Error('node-hid has no HID class (unsupported version?)');
        return { HID };
      },
      (err: unknown) => {
        loaded = null; // installing it later should work without a restart
        throw new Error(
          `USB-HID needs the optional package node-hid, which did not load (${errorText(err)}) — run "npm install" (or "npm install node-hid") in the powerplane folder`,
        );
      },
    );
    return loaded;
  };
  return async (target) => {
    const { HID } = await load();
    const what = describeHidTarget(target);
    try {
      return 'path' in target ? new HID(target.path) : new HID(target.vendorId, target.productId);
    } catch (err) {
      const m = errorText(err);
      let hint: string;
      if (/libusb|shared object|dlopen/i.test(m)) {
        hint = "node-hid's native part did not load — install libusb (sudo apt install libusb-1.0-0)";
      } else {
        const [vid, pid] = 'path' in target ? ['0665', '5161'] : [hex4(target.vendorId), hex4(target.productId)];
        hint =
          `check that the device is plugged in (ls /dev/hidraw*) and that this user may open it: hidraw nodes are root-only by default, add a udev rule for its VID:PID${'path' in target ? ' (a Voltronic inverter is 0665:5161)' : ''}: ` +
          `echo 'KERNEL=="hidraw*", ATTRS{idVendor}=="${vid}", ATTRS{idProduct}=="${pid}", MODE="0660", GROUP="plugdev"' | sudo tee /etc/udev/rules.d/99-powerplane-hid.rules && sudo udevadm control --reload && sudo udevadm trigger, ` +
          'then add this user to the plugdev group (sudo usermod -aG plugdev $USER) and log in again';
      }
      throw new Error(`cannot open USB-HID device ${what}: ${m}; ${hint}`);
    }
  };
}

export class HidTransport implements Transport {
  readonly description: string;
  private device: HidDevice | null = null;
  private opening = false;
  private readonly reportSize: number;
  private readonly reportId: number | null;
  private readonly opener: HidDeviceOpener;
  private readonly dataListeners = new Set<DataListener>();
  private readonly closeListeners = new Set<CloseListener>();
  /** Writes go out one after another so that the reports of two frames never interleave. */
  private writeChain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: HidTransportOptions) {
    this.reportSize = opts.reportSize ?? 8;
    if (!Number.isInteger(this.reportSize) || this.reportSize < 1 || this.reportSize > 64) {
      throw new Error(`USB-HID report size ${this.reportSize} is not 1..64 bytes`);
    }
    this.reportId = opts.reportId === undefined ? 0x00 : opts.reportId;
    if ((opts.reportGapMs ?? 0) > 0 && !opts.clock) {
      throw new Error('USB-HID transport: reportGapMs needs a clock');
    }
    this.opener = opts.opener ?? nodeHidOpener();
    this.description = describeHidTarget(opts.target);
  }

  get isOpen(): boolean {
    return this.device !== null;
  }

  async open(): Promise<void> {
    if (this.device || this.opening) throw new Error(`USB-HID device ${this.description} is already open`);
    this.opening = true;
    let device: HidDevice;
    try {
      device = await this.opener(this.opts.target);
    } finally {
      this.opening = false;
    }
    this.device = device;
    this.writeChain = Promise.resolve();
    device.on('data', (report) => {
      if (this.device !== device) return;
      const bytes = this.trim(report instanceof Uint8Array ? new Uint8Array(report) : Uint8Array.from(report));
      if (bytes.length === 0) return;
      for (const l of this.dataListeners) l(bytes);
    });
    device.on('error', (err) => {
      if (this.device !== device) return;
      this.lost(device, err);
    });
  }

  private trim(report: Uint8Array): Uint8Array {
    const d = this.opts.dropAfterDelimiter;
    if (d === undefined) return report;
    const at = report.indexOf(d);
    return at < 0 ? report : report.subarray(0, at + 1);
  }

  /** The device failed (unplugged, read error): close it, tell listeners once. */
  private lost(device: HidDevice, err: unknown): void {
    this.device = null;
    this.release(device);
    const e = new Error(
      `USB-HID device ${this.description} stopped (${errorText(err)}) — was it unplugged? (ls /dev/hidraw*)`,
    );
    for (const l of this.closeListeners) l(e);
  }

  private release(device: HidDevice): void {
    try {
      device.removeAllListeners?.('data');
      device.close();
    } catch {
      // Closing a device that is already gone can throw; it is closed either way.
    }
    // node-hid may emit 'error' while closing; keep a listener so it is never unhandled.
    device.on('error', () => undefined);
  }

  async close(): Promise<void> {
    const device = this.device;
    if (!device) return;
    this.device = null;
    this.release(device);
  }

  write(bytes: Uint8Array): Promise<void> {
    if (!this.device) return Promise.reject(new Error(`USB-HID device ${this.description} is not open`));
    const reports = toHidReports(bytes, this.reportSize, this.reportId);
    const run = this.writeChain.then(() => this.writeReports(reports));
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  private async writeReports(reports: number[][]): Promise<void> {
    const gap = this.opts.reportGapMs ?? 0;
    for (let i = 0; i < reports.length; i++) {
      if (i > 0 && gap > 0) await sleep(this.opts.clock!, gap);
      const device = this.device;
      if (!device) throw new Error(`USB-HID device ${this.description} is not open`);
      try {
        device.write(reports[i]!);
      } catch (err) {
        throw new Error(`write to USB-HID device ${this.description} failed: ${errorText(err)}`);
      }
    }
  }

  onData(listener: DataListener): () => void {
    this.dataListeners.add(listener);
    return () => this.dataListeners.delete(listener);
  }

  onClose(listener: CloseListener): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
