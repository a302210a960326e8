/**
 * `detect`: the serial ports and USB-HID devices on this machine, with their VID:PID and what
 * they probably are (the adapters and inverters powerplane speaks to).
 */
import type { Command } from 'commander';
import { readdir, readFile, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { print, table } from './common.js';

/** VID:PID → what it probably is, and which powerplane transport/family speaks to it. */
export const KNOWN_USB_IDS: Record<string, string> = {
  '1a86:7523': 'Waveshare USB-CAN-A (CH340) → transport: waveshare-usb-can-a (Flatpack2, BMS on CAN)',
  '0665:5161': 'Voltronic / Axpert inverter, PI18 or PI30 over USB-HID (Cypress) → transport: hid',
  '0403:6015': 'Victron MK3-USB (FTDI FT231X) → VE.Bus MK2/MK3, transport: serial',
  '0403:6001': 'FTDI FT232R serial adapter (RS-232/RS-485; e.g. an inverter or a BMS console) → transport: serial',
  '10c4:ea60': 'Silicon Labs CP210x serial adapter (e.g. an OpenEVSE WiFi bridge or RS-485 dongle) → transport: serial',
  '067b:2303': 'Prolific PL2303 serial adapter → transport: serial',
  '1a86:55d3': 'CH343 serial adapter → transport: serial',
  '0483:5740': 'STM32 virtual COM port (CDC ACM) → transport: serial',
  '2341:0043': 'Arduino Uno (e.g. OpenEVSE RAPI over USB) → transport: serial',
};

export function identify(vid: string | undefined, pid: string | undefined): string {
  if (!vid || !pid) return 'not a USB device';
  return KNOWN_USB_IDS[usbId(vid, pid)] ?? 'unknown';
}

const hex4 = (n: string | number) => (typeof n === 'number' ? n.toString(16) : n.replace(/^0x/i, '')).toLowerCase().padStart(4, '0');
export const usbId = (vid: string | number, pid: string | number) => `${hex4(vid)}:${hex4(pid)}`;

export interface SerialEntry {
  path: string;
  usbId: string | null;
  manufacturer: string | null;
  serialNumber: string | null;
  probably: string;
}
export interface HidEntry {
  path: string | null;
  usbId: string;
  manufacturer: string | null;
  product: string | null;
  serialNumber: string | null;
  probably: string;
}
export interface DetectResult {
  serial: SerialEntry[];
  hid: HidEntry[];
  /** Why a list is incomplete or empty (udevadm missing, node-hid not loadable…). */
  notes: string[];
}

type SerialListing = Array<{ path: string; vendorId?: string; productId?: string; manufacturer?: string; serialNumber?: string }>;
type HidListing = Array<{ path?: string; vendorId: number; productId: number; manufacturer?: string; product?: string; serialNumber?: string }>;

export interface DetectSources {
  serialList?: () => Promise<SerialListing>;
  hidList?: () => Promise<HidListing>;
  sysfsRoot?: string;
}

/** ttyUSB / ttyACM ports from sysfs, for machines without udevadm. */
async function sysfsSerial(root: string): Promise<SerialListing> {
  const ttyDir = join(root, 'class', 'tty');
  const names = (await readdir(ttyDir)).filter((n) => /^tty(USB|ACM)\d+$/.test(n)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const out: SerialListing = [];
  for (const name of names) {
    let dir = await realpath(join(ttyDir, name, 'device')).catch(() => '');
    let ids: { vendorId?: string; productId?: string } = {};
    for (let i = 0; dir && i < 4 && dir !== dirname(dir); i++, dir = dirname(dir)) {
      try {
        ids = { vendorId: (await readFile(join(dir, 'idVendor'), 'utf8')).trim(), productId: (await readFile(join(dir, 'idProduct'), 'utf8')).trim() };
        break;
      } catch {
        /* one level up */
      }
    }
    out.push({ path: `/dev/${name}`, ...ids });
  }
  return out;
}

export async function detect(src: DetectSources = {}): Promise<DetectResult> {
  const notes: string[] = [];
  let ports: SerialListing = [];
  try {
    ports = await (src.serialList ?? (async () => (await import('serialport')).SerialPort.list()))();
  } catch (e) {
    const m = (e as Error).message;
    const noUdevadm = /udevadm/.test(m) && /ENOENT/.test(m);
    notes.push(noUdevadm ? 'serial: udevadm is not installed (minimal image or container), so the USB details come from /sys; install udev (apt-get install udev) for manufacturer and serial numbers' : `serial: listing the ports failed (${m}); falling back to /sys`);
    try {
      ports = await sysfsSerial(src.sysfsRoot ?? '/sys');
    } catch (e2) {
      notes.push(`serial: /sys/class/tty cannot be read either (${(e2 as Error).message})`);
    }
  }
  const serial = ports.map((p) => ({
    path: p.path,
    usbId: p.vendorId && p.productId ? usbId(p.vendorId, p.productId) : null,
    manufacturer: p.manufacturer ?? null,
    serialNumber: p.serialNumber ?? null,
    probably: identify(p.vendorId, p.productId),
  }));
  let hidDevices: HidListing = [];
  try {
    hidDevices = await (src.hidList ??
      (async () => {
        const m = (await import('node-hid')) as unknown as { devicesAsync?: () => Promise<HidListing>; devices?: () => HidListing; default?: { devices?: () => HidListing } };
        const list = m.devices ?? m.default?.devices;
        if (!list) throw new Error('node-hid has no devices() (unsupported version?)');
        return list();
      }))();
  } catch (e) {
    const m = (e as Error).message;
    notes.push(
      /libusb/.test(m)
        ? `hid: node-hid's native part did not load (${m.split('\n')[0]}); install libusb (apt-get install libusb-1.0-0) to list USB-HID devices`
        : /Cannot find (package|module)/.test(m)
          ? 'hid: the optional package node-hid is not installed (npm install node-hid) so USB-HID devices are not listed'
          : `hid: listing USB-HID devices failed (${m.split('\n')[0]})`,
    );
  }
  const hid = hidDevices.map((d) => ({
    path: d.path ?? null,
    usbId: usbId(d.vendorId, d.productId),
    manufacturer: d.manufacturer ?? null,
    product: d.product ?? null,
    serialNumber: d.serialNumber ?? null,
    probably: identify(hex4(d.vendorId), hex4(d.productId)),
  }));
  return { serial, hid, notes };
}

export function detectText(r: DetectResult): string {
  return [
    'Serial ports:',
    r.serial.length ? table(r.serial, [['PATH', 'path'], ['VID:PID', 'usbId'], ['MANUFACTURER', 'manufacturer'], ['SERIAL', 'serialNumber'], ['PROBABLY', 'probably']]) : '(none found)',
    '',
    'USB-HID devices:',
    r.hid.length ? table(r.hid, [['PATH', 'path'], ['VID:PID', 'usbId'], ['PRODUCT', 'product'], ['SERIAL', 'serialNumber'], ['PROBABLY', 'probably']]) : '(none found)',
    ...(r.notes.length ? ['', ...r.notes.map((n) => `note: ${n}`)] : []),
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('detect')
    .description('list serial ports and USB-HID devices with their VID:PID and what they probably are')
    .option('--json', 'print JSON for scripts')
    .action(async (o: { json?: boolean }) => {
      const r = await detect();
      print(o, r, () => detectText(r));
    });
}
