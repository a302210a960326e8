/**
 * Serial-port transport over `serialport` (real USB-serial adapters and, in tests, ptys),
 * plus USB VID:PID autodetection that also works where udevadm is missing.
 */
import { access, readdir, readFile, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
// Types only: `serialport` (and its native bindings) is loaded when a port is first opened or
// listed, so a rig without serial links (the simulated one) starts without it.
import type { SerialPort } from 'serialport';
import type { Transport, TransportFactory } from './types.js';

let serialportModule: Promise<typeof import('serialport')> | undefined;
const loadSerialPort = () => (serialportModule ??= import('serialport'));

export interface SerialTransportOptions {
  path: string;
  baudRate: number;
  /** The Waveshare PDF says 1; MTI uses 2 and it works too (flatpack2.md §6). */
  stopBits?: 1 | 2;
}

type DataListener = (chunk: Uint8Array) => void;
type CloseListener = (err?: Error) => void;

/** Turns an open() failure into a message that says what to check. */
function openErrorMessage(path: string, err: Error): string {
  const m = err.message;
  let hint: string;
  if (/ENOENT|No such file/i.test(m)) {
    hint = 'the device does not exist — is the adapter plugged in? (ls /dev/ttyUSB* /dev/serial/by-id/)';
  } else if (/EACCES|Permission denied/i.test(m)) {
    hint = 'permission denied — add this user to the dialout group (sudo usermod -aG dialout $USER, then log in again) or add a udev rule';
  } else if (/EBUSY|Resource temporarily unavailable|lock/i.test(m)) {
    hint = 'the port is in use — is another program (or another powerplane) holding it?';
  } else {
    hint = 'check that the device exists, that this user may open it (dialout group) and that no other program holds it';
  }
  return `cannot open serial port ${path}: ${m}; ${hint}`;
}

export class SerialTransport implements Transport {
  readonly description: string;
  private port: SerialPort | null = null;
  private readonly dataListeners = new Set<DataListener>();
  private readonly closeListeners = new Set<CloseListener>();
  /** Writes in flight; serialport would hold them forever after a disconnect. */
  private readonly pendingWrites = new Set<(err: Error) => void>();

  constructor(private readonly opts: SerialTransportOptions) {
    this.description = opts.path;
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  /** Set while open() loads `serialport`; bumped by close(), so a close during that wait wins. */
  private opening = false;
  private closes = 0;

  async open(): Promise<void> {
    if (this.port || this.opening) throw new Error(`serial port ${this.opts.path} is already open`);
    this.opening = true;
    const closes = this.closes;
    let SerialPortClass: typeof SerialPort;
    try {
      SerialPortClass = (await loadSerialPort()).SerialPort;
    } finally {
      this.opening = false;
    }
    if (this.closes !== closes) throw new Error(`serial port ${this.opts.path} was closed while it was being opened`);
    const port = new SerialPortClass({
      path: this.opts.path,
      baudRate: this.opts.baudRate,
      dataBits: 8,
      parity: 'none',
      stopBits: this.opts.stopBits ?? 1,
      autoOpen: false,
    });
    // close() clears this.port first, so events from a port we closed on purpose are ignored.
    this.port = port;
    port.on('data', (chunk: Buffer) => {
      for (const l of this.dataListeners) l(chunk);
    });
    port.on('close', (err: Error | null) => {
      if (this.port !== port) return;
      this.lost(err ?? new Error('port closed'));
    });
    // Read EOF (pty master gone) ends the stream without a close; treat it as a loss too.
    port.on('end', () => {
      if (this.port !== port) return;
      this.lost(new Error('end of stream'));
      if (port.isOpen) port.close(() => undefined);
    });
    // serialport emits 'error' for failed writes and closes; without a listener Node throws.
    port.on('error', (err: Error) => {
      if (this.port === port && !port.isOpen) this.lost(err);
    });
    return new Promise<void>((resolve, reject) => {
      port.open((err) => {
        if (err) {
          if (this.port === port) this.port = null;
          reject(new Error(openErrorMessage(this.opts.path, err)));
        } else {
          resolve();
        }
      });
    });
  }

  /** The port went away without close(): tell listeners once, fail writes in flight. */
  private lost(err: Error): void {
    this.port = null;
    this.failPendingWrites(new Error(`serial port ${this.opts.path} closed`));
    const e = new Error(
      `serial port ${this.opts.path} closed unexpectedly (${err.message}) — was the adapter unplugged?`,
    );
    for (const l of this.closeListeners) l(e);
  }

  private failPendingWrites(err: Error): void {
    for (const reject of this.pendingWrites) reject(err);
    this.pendingWrites.clear();
  }

  async close(): Promise<void> {
    this.closes++;
    const port = this.port;
    if (!port) return;
    this.port = null;
    this.failPendingWrites(new Error(`serial port ${this.opts.path} closed`));
    if (!port.isOpen) return;
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  write(bytes: Uint8Array): Promise<void> {
    const port = this.port;
    if (!port || !port.isOpen) {
      return Promise.reject(new Error(`serial port ${this.opts.path} is not open`));
    }
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      this.pendingWrites.add(fail);
      port.write(buf, (err) => {
        if (!this.pendingWrites.delete(fail)) return; // already failed by a close
        if (err) reject(new Error(`write to serial port ${this.opts.path} failed: ${err.message}`));
        else resolve();
      });
    });
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

function normHexId(id: string): string {
  return id.trim().toLowerCase().replace(/^0x/, '').padStart(4, '0');
}

export interface FindSerialPortOptions {
  /** For tests: a fake sysfs tree (default "/sys"). */
  sysfsRoot?: string;
  /** For tests: replaces SerialPort.list(). */
  list?: () => Promise<{ path: string; vendorId?: string | undefined; productId?: string | undefined }[]>;
  /** Directory holding the device nodes (default "/dev"). */
  devRoot?: string;
}

/**
 * Path of the first serial port whose USB device has this VID:PID (hex, e.g. "1a86","7523"),
 * or null. Tries SerialPort.list() (needs udevadm) and falls back to reading sysfs.
 * Never throws: autodetect failing just means "not found".
 */
export async function findSerialPortByVidPid(
  vid: string,
  pid: string,
  opts: FindSerialPortOptions = {},
): Promise<string | null> {
  const wantVid = normHexId(vid);
  const wantPid = normHexId(pid);
  try {
    const ports = await (opts.list ?? (async () => (await loadSerialPort()).SerialPort.list()))();
    const hit = ports
      .filter((p) => p.vendorId && p.productId)
      .find((p) => normHexId(p.vendorId!) === wantVid && normHexId(p.productId!) === wantPid);
    if (hit) return hit.path;
  } catch {
    // No udevadm (containers, minimal images): sysfs below still works.
  }
  try {
    const sysfs = opts.sysfsRoot ?? '/sys';
    const ttyDir = join(sysfs, 'class', 'tty');
    const names = (await readdir(ttyDir)).filter((n) => /^tty(USB|ACM)\d+$/.test(n));
    names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    for (const name of names) {
      const ids = await usbIdsOf(join(ttyDir, name, 'device'));
      if (ids && ids.vid === wantVid && ids.pid === wantPid) return join(opts.devRoot ?? '/dev', name);
    }
  } catch {
    // No sysfs: nothing found.
  }
  return null;
}

/** Walks up from a tty's device dir to the USB device that holds idVendor/idProduct. */
async function usbIdsOf(deviceLink: string): Promise<{ vid: string; pid: string } | null> {
  let dir: string;
  try {
    dir = await realpath(deviceLink);
  } catch {
    return null;
  }
  // ttyUSB: …/1-1/1-1:1.0/ttyUSB0 (ids two levels up); ttyACM: …/1-1/1-1:1.0 (one level up).
  for (let i = 0; i < 4 && dir !== dirname(dir); i++) {
    try {
      const [v, p] = await Promise.all([
        readFile(join(dir, 'idVendor'), 'utf8'),
        readFile(join(dir, 'idProduct'), 'utf8'),
      ]);
      return { vid: normHexId(v), pid: normHexId(p) };
    } catch {
      dir = dirname(dir);
    }
  }
  return null;
}

export interface SerialTransportFactoryOptions {
  path?: string;
  autodetect?: { vid: string; pid: string };
  baudRate: number;
  stopBits?: 1 | 2;
  /** Passed to autodetect (tests). */
  find?: FindSerialPortOptions;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A factory that resolves the port on every attempt, so a replugged adapter that came back
 * as /dev/ttyUSB1 is still found: the configured path if it exists, else autodetect.
 */
export function serialTransportFactory(opts: SerialTransportFactoryOptions): TransportFactory {
  return async () => {
    const { path, autodetect } = opts;
    let resolved: string | null = null;
    if (path && (await exists(path))) resolved = path;
    if (!resolved && autodetect) {
      resolved = await findSerialPortByVidPid(autodetect.vid, autodetect.pid, opts.find);
    }
    if (!resolved) {
      const want = autodetect ? `USB ${normHexId(autodetect.vid)}:${normHexId(autodetect.pid)}` : '';
      const what = [path ? `${path} does not exist` : '', want ? `no serial port with ${want} found` : '']
        .filter(Boolean)
        .join(' and ');
      throw new Error(
        `${what || 'no serial port configured (set a path or autodetect vid/pid)'} — is the adapter plugged in? (ls /dev/ttyUSB* /dev/serial/by-id/)`,
      );
    }
    return new SerialTransport({
      path: resolved,
      baudRate: opts.baudRate,
      ...(opts.stopBits !== undefined ? { stopBits: opts.stopBits } : {}),
    });
  };
}
