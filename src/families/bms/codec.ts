/**
 * Low-voltage battery BMS on CAN, two dialects that share the 0x351–0x35E block
 * (/work/shared/protocols/bms-can.md):
 *
 * - 'deye': Deye "PCS CAN-Bus protocol DY low voltage" V3.x — stack frames 0x351–0x371 plus
 *   per-module frames (0x110+n-1 … 0x750+n-1), its own 7-table 0x359, current on the wire
 *   **+ = discharge** (§3.3).
 * - 'pylontech': Pylontech LV CAN v1.2 — only 0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E; the
 *   Pylontech 0x359 bit layout (§3.5); current on the wire **+ = charge**.
 *
 * Conventions of the decoded messages (both dialects):
 * - `currentA` is **positive while charging** (the seed's JSON convention); `wireCurrentA` is
 *   the signed value exactly as on the wire and `direction` says which way it flows (§8:
 *   "always expose the raw signed value plus an explicit direction").
 * - Flags are arrays of stable kebab-case names in bit order, plus the raw bits. In the Deye
 *   0x359/0x110 layout the system-error table (byte 6) counts as protections: those are faults,
 *   not pre-warnings. Pylontech uses its own names because its bits are coarser (no cell/module
 *   distinction).
 * - Module numbers are 1-based (BmsAddr; module 1 = master): `n = id - base + 1` (§4).
 *
 * Pure: no I/O, no timers. `decodeBms` never throws: an id it does not know (or an extended
 * frame, or a Deye-only id in the Pylontech dialect) is `unknown`; a known id whose DLC is too
 * short for the bytes it needs, a remote frame, or a value outside BMS_BOUNDS is `invalid` with a
 * reason, so it can never become telemetry. A DLC longer than needed is accepted (Pylontech
 * emulators use shorter frames than Deye; trailing bytes are unused in both).
 * Encoders throw RangeError for values the wire cannot carry (caller bug, e.g. NaN or out of
 * the 16-bit range); they do not apply BMS_BOUNDS, so tests can build impossible frames.
 */
import type { CanFrame } from '../can/types.js';

export type BmsDialect = 'deye' | 'pylontech';

/** Stack (summary) and inverter ids (§2). */
export const BMS_ID = {
  HEARTBEAT: 0x305,
  USB_CONTROL: 0x306,
  CHARGE_LIMITS: 0x351,
  SOC: 0x355,
  MEASUREMENTS: 0x356,
  USB_POWER: 0x358,
  ALARMS: 0x359,
  REQUESTS: 0x35c,
  IDENTITY: 0x35e,
  CELL_EXTREMES: 0x361,
  VERSIONS: 0x363,
  MODULE_COUNTS: 0x364,
  ON_GRID_LIMITS: 0x371,
} as const;

/** Per-module bases (§4): id = base + module - 1. */
export const MODULE_BASE = {
  FAULTS: 0x110,
  STATUS: 0x150,
  CELLS: 0x200,
  TEMPS_LIMITS: 0x250,
  STATE: 0x400,
  VERSION: 0x500,
  ENERGY: 0x550,
  SERIAL_1: 0x600,
  SERIAL_2: 0x650,
  TRIP_COUNTS_1: 0x700,
  TRIP_COUNTS_2: 0x750,
} as const;

/** Offsets below 0x40 keep every base's range disjoint from the next one (§4). */
export const MAX_MODULES = 0x40;

/**
 * What we accept as physically possible, per decoded numeric field (inclusive bounds; a frame
 * with a value outside them is an `invalid` frame with the reason, never telemetry, a limit or
 * a control input). The variable Waveshare framing has no checksum, so these bounds are the
 * last filter against a corrupted byte. Chosen for 48 V-class LV stacks of any Li chemistry:
 */
export const BMS_BOUNDS = {
  /** Stack / module voltage: 0 V is a broken reading; > 100 V is not a low-voltage stack (16S LFP tops at 58.4 V, 15S NMC at 63 V). */
  stackVoltageV: [1, 100],
  /** Cell voltage: a 0 V or 10 V cell is a sensor/decoding fault; LFP lives in 2.5–3.65 V, NMC up to 4.2 V. */
  cellVoltageV: [1, 5],
  /** Temperatures: Li cells are not operated outside −30…+60 °C; MOSFETs run hotter; −40.0 °C is the "no heater" mark. */
  tempC: [-50, 150],
  /** SOC / SOH are percentages. */
  pct: [0, 100],
  /** 0x351 charge / discharge voltage limits: same reasoning as the stack voltage (0 = "not given" on some emulators). */
  limitVoltageV: [0, 100],
  /**
   * Stack charge/discharge current limits (0x351, 0x371) and the stack current (0x356), A.
   * The largest value in the references is 370 A (bms-can.md §7 vector 4); 1000 A at 48 V is
   * 50 kW, beyond the DC rating of any single LV inverter port (the biggest 48 V hybrids take
   * ~250–350 A). 3276.7 A (the S16 maximum) is a corrupted frame.
   */
  stackCurrentA: [-1000, 1000],
  stackLimitA: [0, 1000],
  /**
   * Per-module current (0x150) and allowed currents (0x250), A: one 48 V module (≤ 300 Ah)
   * is rated ≤ 1 C continuous (~2 C peak); 500 A is beyond any of them. 65535 A (U16) is corrupted.
   */
  moduleCurrentA: [-500, 500],
  moduleLimitA: [0, 500],
  /** 0x358 USB-board output power, W: USB PD tops out at 240 W. */
  usbPowerW: [0, 250],
  /** 0x358 USB-board lifetime energy, Wh: 250 W for 40 years is < 100 MWh. */
  usbEnergyWh: [0, 100_000_000],
  /**
   * 0x550 lifetime charged / discharged energy per module, kWh: 100 000 kWh is ~20 000 full
   * cycles of a 5 kWh module (LFP is rated ~6000); 4.29 GWh (the U32 maximum) is corrupted.
   */
  moduleEnergyKWh: [0, 100_000],
  /** 0x400 cycle counter: one cycle a day for 50 years is 18 250; 20 000 bounds it. */
  cycles: [0, 20_000],
  /** 0x359 (Pylontech byte 4) / 0x364 module counts: ≤ MAX_MODULES (the id ranges hold no more). */
  moduleCount: [0, MAX_MODULES],
  /** 0x358 byte 6 switch state: the 0x306 switch is 0 (closed) or 1 (open). */
  switchState: [0, 1],
} as const satisfies Record<string, readonly [number, number]>;

/*
 * Fields with no bound beyond their wire range, and why: 0x35E capacity (U16 0.1 Ah ≤ 6553.5 Ah;
 * a 64-module stack of 100 Ah modules exceeds it), 0x306 disable time (any number of seconds),
 * 0x400 balancing bits and sub-state (bit sets / undocumented code), the 0x700/0x750 trip
 * counters (counts of past events, never used for control), 0x305 (an implausible date
 * decodes as `time: null`), and every flag byte (bits the tables do not name are reported by
 * position and block charging in src/families/bms/policy.ts). The 0x364 counts are checked
 * against each other.
 */

/** Bit 0..7 of one table byte; null = reserved. */
type Table = readonly (string | null)[];

/** Deye 0x359 / 0x110 bytes 0–3: protection tables 1–4 (§3.4). */
export const DEYE_PROTECTION_TABLES: readonly Table[] = Object.freeze([
  ['cell-over-voltage', 'cell-under-voltage', 'module-over-voltage', 'module-under-voltage', 'charge-over-current', 'discharge-over-current', 'cell-over-temp-charge', 'cell-under-temp-charge'],
  ['cell-voltage-difference', 'cell-over-temp-discharge', 'cell-under-temp-discharge', 'cell-temp-difference', 'mos-over-temp', 'heater-over-temp', 'afe-ocd1', 'afe-ocd2'],
  ['afe-uv', 'afe-ov', 'afe-ocd', 'afe-occ', 'afe-scd', 'afe-ut', 'afe-ot', 'afe-scdl'],
  ['afe-comm-fail', 'cell-voltage-sampling-fail', 'temp-sampling-fail', 'mosfet-short', 'eeprom-error', 'internal-comm-fail', 'pcs-comm-fail', 'duplicate-master-address'],
]);

/** Deye bytes 4–5: alarm (warning level) tables 5–6 (§3.4). */
export const DEYE_ALARM_TABLES: readonly Table[] = Object.freeze([
  ['cell-high-voltage', 'cell-low-voltage', 'module-high-voltage', 'module-low-voltage', 'charge-high-current', 'discharge-high-current', 'cell-high-temp-charge', 'cell-low-temp-charge'],
  ['cell-high-temp-discharge', 'cell-low-temp-discharge', 'cell-voltage-difference', 'cell-temp-difference', 'mos-high-temp', 'heater-high-temp', 'heater-mos-stuck', 'heater-fault'],
]);

/** Deye byte 6: system-error table 7 (§3.4); reported among the protections. */
export const DEYE_SYSTEM_ERROR_TABLE: Table = Object.freeze([
  'connector-over-temp', 'precharge-failed', 'reverse-charging', 'terminal-over-temp', 'fuse-blown', 'voltage-sense-open-wire', 'temp-sense-open-wire', 'charge-voltage-too-low',
]);

/** Pylontech 0x359 bytes 0–1: protections (§3.5). */
export const PYLON_PROTECTION_TABLES: readonly Table[] = Object.freeze([
  [null, 'over-voltage', 'under-voltage', 'over-temp', 'under-temp', null, null, 'discharge-over-current'],
  ['charge-over-current', null, null, 'system-error', null, null, null, null],
]);

/** Pylontech 0x359 bytes 2–3: alarms (§3.5). */
export const PYLON_ALARM_TABLES: readonly Table[] = Object.freeze([
  [null, 'high-voltage', 'low-voltage', 'high-temp', 'low-temp', null, null, 'discharge-high-current'],
  ['charge-high-current', null, null, 'internal-comm-fail', null, null, null, null],
]);

/** 0x35C byte 0, same in both dialects (§3.6). */
export const REQUEST_FLAG_TABLE: Table = Object.freeze([
  'heating', null, null, 'full-charge', 'force-charge-2', 'force-charge-1', 'discharge-enable', 'charge-enable',
]);

/** 0x35E byte 5 (§3.7): 1–3 from doc V3.3, 4–7 from community decoders. */
export const DEYE_CELL_TYPES: ReadonlyMap<number, string> = new Map([
  [1, 'GOTION 96 Ah'],
  [2, 'CATL 100 Ah'],
  [3, 'EVE 100 Ah'],
  [4, 'PH 100 Ah'],
  [5, 'EVE 120 Ah'],
  [6, 'PH 100 Ah (214R)'],
  [7, 'ZENERGY 104 Ah'],
]);

export type CurrentDirection = 'charge' | 'discharge' | 'idle';
export type ModuleMode = 'standby' | 'charge' | 'discharge' | 'unknown';
export type ModuleFaultLevel = 'none' | 'minor' | 'major' | 'unknown';

export interface MosState {
  parallelDone: boolean;
  chargeMos: boolean;
  dischargeMos: boolean;
  prechargeMos: boolean;
  heaterMos: boolean;
}

export interface FlagSet {
  /** Trip-level names (Deye: tables 1–4 and the system errors of table 7). */
  protections: string[];
  /** Warning-level names. */
  alarms: string[];
  /** Deye: bytes 0–3 as a U32 LE; Pylontech: bytes 0–1 as a U16 LE. */
  protectionBits: number;
  /** Deye: bytes 4–5; Pylontech: bytes 2–3 (U16 LE). */
  alarmBits: number;
  /** Deye byte 6 (table 7); 0 in Pylontech. */
  systemErrorBits: number;
}

export type BmsMessage =
  | {
      kind: 'charge-limits';
      chargeVoltageLimitV: number;
      chargeCurrentLimitA: number;
      /** Magnitude; some emulators send it negative (§3.1). */
      dischargeCurrentLimitA: number;
      /** Null when a 6-byte Pylontech-style frame leaves it out. */
      dischargeVoltageV: number | null;
    }
  | { kind: 'soc'; socPct: number; sohPct: number }
  | {
      kind: 'measurements';
      voltageV: number;
      /** + = charging, both dialects. */
      currentA: number;
      /** As on the wire (Deye + = discharge, Pylontech + = charge). */
      wireCurrentA: number;
      direction: CurrentDirection;
      tempC: number;
    }
  | { kind: 'usb-power'; powerW: number; energyWh: number; switchState: number }
  | ({ kind: 'alarms'; dialect: BmsDialect; /** Pylontech byte 4; null in Deye. */ moduleCount: number | null; /** Pylontech bytes 5–6 = 'PN'. */ pnMarker: boolean } & FlagSet)
  | { kind: 'requests'; flags: string[]; bits: number; chargeEnable: boolean; dischargeEnable: boolean }
  | {
      kind: 'identity';
      /** Printable leading ASCII, trimmed ("DY001", "PYLON"). */
      text: string;
      manufacturer: string;
      /** The dialect the text implies: "DY…" → deye, "PYLON" → pylontech; null otherwise. */
      dialect: BmsDialect | null;
      /** Deye only: bytes 2–4 pack/model ("001"), cell type code and capacity. */
      model: string | null;
      cellTypeCode: number | null;
      cellType: string | null;
      capacityAh: number | null;
    }
  | { kind: 'cell-extremes'; cellHighV: number; cellLowV: number; cellDeltaV: number; tempHighC: number; tempLowC: number }
  | { kind: 'versions'; software: string; hardware: string }
  | { kind: 'module-counts'; normal: number; chargeBlocked: number; dischargeBlocked: number; lost: number; total: number }
  | { kind: 'on-grid-limits'; chargeCurrentLimitA: number; dischargeCurrentLimitA: number }
  | {
      kind: 'heartbeat';
      /** Deye time format when the bytes form a plausible date, else null (zeros, counters). */
      time: { year: number; month: number; day: number; hour: number; minute: number; second: number } | null;
    }
  | { kind: 'usb-control'; open: boolean; disableS: number }
  | ({ kind: 'module-faults'; module: number; mos: MosState; mosBits: number } & FlagSet)
  | {
      kind: 'module-status';
      module: number;
      voltageV: number;
      currentA: number;
      wireCurrentA: number;
      direction: CurrentDirection;
      socPct: number;
      sohPct: number;
    }
  | { kind: 'module-cells'; module: number; cellHighV: number; cellLowV: number; cellDeltaV: number; tempHighC: number; tempLowC: number }
  | {
      kind: 'module-temps-limits';
      module: number;
      mosTempC: number;
      /** Null when the module reports -40.0 °C, the "no heater" mark. */
      heaterTempC: number | null;
      chargeCurrentLimitA: number;
      dischargeCurrentLimitA: number;
    }
  | {
      kind: 'module-state';
      module: number;
      mode: ModuleMode;
      modeCode: number;
      faultLevel: ModuleFaultLevel;
      faultLevelCode: number;
      cycles: number;
      /** 1-based cell numbers being balanced. */
      balancingCells: number[];
      balancingBits: number;
      /** Byte 6, meaning undocumented (0x0F seen while charging, 0x09 otherwise). */
      subState: number;
    }
  | { kind: 'module-version'; module: number; software: string; boot: string; markerOk: boolean }
  | { kind: 'module-energy'; module: number; chargedKWh: number; dischargedKWh: number }
  | { kind: 'module-serial'; module: number; part: 1 | 2; text: string }
  | { kind: 'module-trip-counts-1'; module: number; overCharge: number; overDischarge: number; shortCircuit: number; mosOverTemp: number }
  | { kind: 'module-trip-counts-2'; module: number; chargeOverCurrent: number; dischargeOverCurrent: number; chargeOverTemp: number; dischargeOverTemp: number }
  | { kind: 'unknown' }
  | { kind: 'invalid'; reason: string };

export type BmsMessageOf<K extends BmsMessage['kind']> = Extract<BmsMessage, { kind: K }>;

/** Kinds that carry stack (summary) state — what proves the BMS is talking. */
export const STACK_KINDS: ReadonlySet<BmsMessage['kind']> = new Set([
  'charge-limits',
  'soc',
  'measurements',
  'usb-power',
  'alarms',
  'requests',
  'identity',
  'cell-extremes',
  'versions',
  'module-counts',
  'on-grid-limits',
]);

export function isModuleMessage(m: BmsMessage): m is Extract<BmsMessage, { module: number }> {
  return 'module' in m;
}

/** The dialect a 0x35E identity implies ("DY…" / "PYLON"), or null. */
export function dialectFromIdentity(text: string): BmsDialect | null {
  if (text.startsWith('DY')) return 'deye';
  if (text.startsWith('PYLON')) return 'pylontech';
  return null;
}

// ---- little-endian readers ---------------------------------------------------------------

const u8 = (d: Uint8Array, i: number) => d[i]!;
const u16 = (d: Uint8Array, i: number) => d[i]! | (d[i + 1]! << 8);
const s16 = (d: Uint8Array, i: number) => (u16(d, i) << 16) >> 16;
const u32 = (d: Uint8Array, i: number) => (d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16) | (d[i + 3]! << 24)) >>> 0;

/** Scaled value, rounded to the scale's decimals so 0.1-steps do not print as 53.300000001. */
function scaled(raw: number, scale: number): number {
  const decimals = scale >= 1 ? 0 : Math.round(-Math.log10(scale));
  return Number((raw * scale).toFixed(decimals));
}

function direction(chargeA: number): CurrentDirection {
  return chargeA > 0 ? 'charge' : chargeA < 0 ? 'discharge' : 'idle';
}

function flagNames(tables: readonly Table[], d: Uint8Array, from: number, out: string[]): void {
  for (let t = 0; t < tables.length; t++) {
    const byte = d[from + t]!;
    const table = tables[t]!;
    for (let bit = 0; bit < 8; bit++) {
      if (byte & (1 << bit)) out.push(table[bit] ?? `byte${t + from}-bit${bit}`);
    }
  }
}

function hexDigits(d: Uint8Array, from: number, n: number): string {
  let s = '';
  for (let i = from; i < from + n; i++) s += d[i]!.toString(16).padStart(2, '0').toUpperCase();
  return s;
}

/** Printable ASCII up to the first non-printable byte, trimmed. */
function ascii(d: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to && i < d.length; i++) {
    const c = d[i]!;
    if (c < 0x20 || c > 0x7e) break;
    s += String.fromCharCode(c);
  }
  return s.trim();
}

// ---- bounds ------------------------------------------------------------------------------

type Bound = readonly [number, number];
const within = (v: number, [lo, hi]: Bound) => v >= lo && v <= hi;

/** First reason a set of named values is out of bounds, or null. */
function outOfBounds(checks: ReadonlyArray<readonly [string, number, Bound, string]>): string | null {
  for (const [name, v, b, unit] of checks) {
    if (!within(v, b)) return `${name} ${v}${unit ? ` ${unit}` : ''} outside ${b[0]}–${b[1]}${unit ? ` ${unit}` : ''}`;
  }
  return null;
}

function cellChecks(highV: number, lowV: number, highC: number, lowC: number): string | null {
  const r = outOfBounds([
    ['max cell voltage', highV, BMS_BOUNDS.cellVoltageV, 'V'],
    ['min cell voltage', lowV, BMS_BOUNDS.cellVoltageV, 'V'],
    ['max temperature', highC, BMS_BOUNDS.tempC, '°C'],
    ['min temperature', lowC, BMS_BOUNDS.tempC, '°C'],
  ]);
  if (r) return r;
  if (highV < lowV) return `max cell voltage ${highV} V below min cell voltage ${lowV} V`;
  if (highC < lowC) return `max temperature ${highC} °C below min temperature ${lowC} °C`;
  return null;
}

const invalid = (reason: string): BmsMessage => ({ kind: 'invalid', reason });

// ---- decoder -----------------------------------------------------------------------------

/** Bytes each stack id needs (shorter DLCs than Deye's 8 are legal where fields are unused). */
const STACK_MIN_DLC: ReadonlyMap<number, number> = new Map([
  [BMS_ID.HEARTBEAT, 6],
  [BMS_ID.USB_CONTROL, 3],
  [BMS_ID.CHARGE_LIMITS, 6],
  [BMS_ID.SOC, 4],
  [BMS_ID.MEASUREMENTS, 6],
  [BMS_ID.USB_POWER, 7],
  [BMS_ID.ALARMS, 7],
  [BMS_ID.REQUESTS, 1],
  [BMS_ID.IDENTITY, 2],
  [BMS_ID.CELL_EXTREMES, 8],
  [BMS_ID.VERSIONS, 4],
  [BMS_ID.MODULE_COUNTS, 5],
  [BMS_ID.ON_GRID_LIMITS, 4],
]);

/** Ids Pylontech v1.2 defines; everything else is Deye-only (§1) and `unknown` there. */
const PYLON_IDS: ReadonlySet<number> = new Set([
  BMS_ID.HEARTBEAT,
  BMS_ID.CHARGE_LIMITS,
  BMS_ID.SOC,
  BMS_ID.MEASUREMENTS,
  BMS_ID.ALARMS,
  BMS_ID.REQUESTS,
  BMS_ID.IDENTITY,
]);

const MODULE_BASES: readonly number[] = Object.values(MODULE_BASE);

/** The module frame an id belongs to (Deye), or null. */
export function moduleOfId(id: number): { base: number; module: number } | null {
  for (const base of MODULE_BASES) {
    const off = id - base;
    if (off >= 0 && off < MAX_MODULES) return { base, module: off + 1 };
  }
  return null;
}

export function decodeBms(frame: CanFrame, dialect: BmsDialect): BmsMessage {
  if (frame.extended) return { kind: 'unknown' };
  const id = frame.id;
  const stackMin = STACK_MIN_DLC.get(id);
  const mod = stackMin === undefined && dialect === 'deye' ? moduleOfId(id) : null;
  if (stackMin === undefined && !mod) return { kind: 'unknown' };
  if (dialect === 'pylontech' && stackMin !== undefined && !PYLON_IDS.has(id)) return { kind: 'unknown' };
  if (frame.remote) return invalid(`remote frame on BMS id 0x${id.toString(16)}`);
  const d = frame.data;
  const need = stackMin ?? 8;
  if (d.length < need || d.length > 8) {
    return invalid(`DLC ${d.length} on 0x${id.toString(16).toUpperCase()}: needs ${need}${need < 8 ? '–8' : ''} bytes`);
  }
  return mod ? decodeModule(mod.base, mod.module, d) : decodeStack(id, d, dialect);
}

function decodeStack(id: number, d: Uint8Array, dialect: BmsDialect): BmsMessage {
  switch (id) {
    case BMS_ID.CHARGE_LIMITS: {
      const chargeVoltageLimitV = scaled(u16(d, 0), 0.1);
      const chargeCurrentLimitA = scaled(s16(d, 2), 0.1);
      const dischargeCurrentLimitA = scaled(Math.abs(s16(d, 4)), 0.1);
      const dischargeVoltageV = d.length >= 8 ? scaled(u16(d, 6), 0.1) : null;
      if (chargeCurrentLimitA < 0) return invalid(`charge current limit ${chargeCurrentLimitA} A is negative`);
      const r = outOfBounds([
        ['charge voltage', chargeVoltageLimitV, BMS_BOUNDS.limitVoltageV, 'V'],
        ['charge current limit', chargeCurrentLimitA, BMS_BOUNDS.stackLimitA, 'A'],
        ['discharge current limit', dischargeCurrentLimitA, BMS_BOUNDS.stackLimitA, 'A'],
        ['discharge voltage', dischargeVoltageV ?? 0, BMS_BOUNDS.limitVoltageV, 'V'],
      ]);
      if (r) return invalid(r);
      return { kind: 'charge-limits', chargeVoltageLimitV, chargeCurrentLimitA, dischargeCurrentLimitA, dischargeVoltageV };
    }
    case BMS_ID.SOC: {
      const socPct = u16(d, 0);
      const sohPct = u16(d, 2);
      const r = outOfBounds([
        ['SOC', socPct, BMS_BOUNDS.pct, '%'],
        ['SOH', sohPct, BMS_BOUNDS.pct, '%'],
      ]);
      return r ? invalid(r) : { kind: 'soc', socPct, sohPct };
    }
    case BMS_ID.MEASUREMENTS: {
      const voltageV = scaled(s16(d, 0), 0.01);
      const wireCurrentA = scaled(s16(d, 2), 0.1);
      const tempC = scaled(s16(d, 4), 0.1);
      const r = outOfBounds([
        ['stack voltage', voltageV, BMS_BOUNDS.stackVoltageV, 'V'],
        ['stack current', wireCurrentA, BMS_BOUNDS.stackCurrentA, 'A'],
        ['temperature', tempC, BMS_BOUNDS.tempC, '°C'],
      ]);
      if (r) return invalid(r);
      const currentA = dialect === 'deye' ? -wireCurrentA || 0 : wireCurrentA;
      return { kind: 'measurements', voltageV, currentA, wireCurrentA, direction: direction(currentA), tempC };
    }
    case BMS_ID.USB_POWER: {
      const powerW = scaled(u16(d, 0), 0.1);
      const energyWh = scaled(u32(d, 2), 0.1);
      const switchState = u8(d, 6);
      const r = outOfBounds([
        ['USB power', powerW, BMS_BOUNDS.usbPowerW, 'W'],
        ['USB energy', energyWh, BMS_BOUNDS.usbEnergyWh, 'Wh'],
        ['USB switch state', switchState, BMS_BOUNDS.switchState, ''],
      ]);
      return r ? invalid(r) : { kind: 'usb-power', powerW, energyWh, switchState };
    }
    case BMS_ID.ALARMS:
      if (dialect === 'deye') return decodeDeyeFlags(d);
      if (u8(d, 4) > BMS_BOUNDS.moduleCount[1]) return invalid(`module count ${u8(d, 4)} in 0x359 above ${BMS_BOUNDS.moduleCount[1]}`);
      return decodePylonFlags(d);
    case BMS_ID.REQUESTS: {
      const bits = u8(d, 0);
      const flags: string[] = [];
      for (let bit = 7; bit >= 0; bit--) {
        const name = REQUEST_FLAG_TABLE[bit];
        if (bits & (1 << bit)) flags.push(name ?? `byte0-bit${bit}`);
      }
      return { kind: 'requests', flags, bits, chargeEnable: (bits & 0x80) !== 0, dischargeEnable: (bits & 0x40) !== 0 };
    }
    case BMS_ID.IDENTITY: {
      const text = ascii(d, 0, 8);
      const dy = d[0] === 0x44 && d[1] === 0x59; // "DY"
      const model = dy ? ascii(d, 2, 5) || null : null;
      const cellTypeCode = dy && d.length >= 6 ? u8(d, 5) : null;
      const capacityAh = dy && d.length >= 8 ? scaled(u16(d, 6), 0.1) : null;
      const manufacturer = dy ? 'DY' : text.split(' ')[0] ?? '';
      return {
        kind: 'identity',
        text: dy ? `DY${model ?? ''}` : text,
        manufacturer,
        dialect: dy ? 'deye' : dialectFromIdentity(text),
        model,
        cellTypeCode,
        cellType: cellTypeCode === null ? null : (DEYE_CELL_TYPES.get(cellTypeCode) ?? null),
        capacityAh,
      };
    }
    case BMS_ID.CELL_EXTREMES: {
      const cellHighV = scaled(u16(d, 0), 0.001);
      const cellLowV = scaled(u16(d, 2), 0.001);
      const tempHighC = scaled(s16(d, 4), 0.1);
      const tempLowC = scaled(s16(d, 6), 0.1);
      const r = cellChecks(cellHighV, cellLowV, tempHighC, tempLowC);
      if (r) return invalid(r);
      return { kind: 'cell-extremes', cellHighV, cellLowV, cellDeltaV: scaled(u16(d, 0) - u16(d, 2), 0.001), tempHighC, tempLowC };
    }
    case BMS_ID.VERSIONS:
      return { kind: 'versions', software: hexDigits(d, 0, 2), hardware: hexDigits(d, 2, 2) };
    case BMS_ID.MODULE_COUNTS: {
      const [normal, chargeBlocked, dischargeBlocked, lost, total] = [u8(d, 0), u8(d, 1), u8(d, 2), u8(d, 3), u8(d, 4)];
      if (total > MAX_MODULES) return invalid(`module total ${total} above ${MAX_MODULES}`);
      for (const [name, n] of [['normal', normal], ['charge-blocked', chargeBlocked], ['discharge-blocked', dischargeBlocked], ['lost', lost]] as const) {
        if (n > total) return invalid(`${n} ${name} modules of ${total}`);
      }
      return { kind: 'module-counts', normal, chargeBlocked, dischargeBlocked, lost, total };
    }
    case BMS_ID.ON_GRID_LIMITS: {
      const chargeCurrentLimitA = scaled(s16(d, 0), 0.1);
      const dischargeCurrentLimitA = scaled(Math.abs(s16(d, 2)), 0.1);
      if (chargeCurrentLimitA < 0) return invalid(`on-grid charge current limit ${chargeCurrentLimitA} A is negative`);
      const r = outOfBounds([
        ['on-grid charge current limit', chargeCurrentLimitA, BMS_BOUNDS.stackLimitA, 'A'],
        ['on-grid discharge current limit', dischargeCurrentLimitA, BMS_BOUNDS.stackLimitA, 'A'],
      ]);
      return r ? invalid(r) : { kind: 'on-grid-limits', chargeCurrentLimitA, dischargeCurrentLimitA };
    }
    case BMS_ID.HEARTBEAT: {
      const [second, minute, hour, day, month, yy] = [u8(d, 0), u8(d, 1), u8(d, 2), u8(d, 3), u8(d, 4), u8(d, 5)];
      const plausible = second < 60 && minute < 60 && hour < 24 && day >= 1 && day <= 31 && month >= 1 && month <= 12;
      return { kind: 'heartbeat', time: plausible ? { year: 2000 + yy, month, day, hour, minute, second } : null };
    }
    case BMS_ID.USB_CONTROL:
      return { kind: 'usb-control', open: u8(d, 0) === 1, disableS: u16(d, 1) };
    default:
      return { kind: 'unknown' };
  }
}

function deyeFlagSet(d: Uint8Array): FlagSet {
  const protections: string[] = [];
  const alarms: string[] = [];
  flagNames(DEYE_PROTECTION_TABLES, d, 0, protections);
  flagNames([DEYE_SYSTEM_ERROR_TABLE], d, 6, protections);
  flagNames(DEYE_ALARM_TABLES, d, 4, alarms);
  return { protections, alarms, protectionBits: u32(d, 0), alarmBits: u16(d, 4), systemErrorBits: u8(d, 6) };
}

function decodeDeyeFlags(d: Uint8Array): BmsMessage {
  const set = deyeFlagSet(d);
  // Byte 7 is unused (§3.4): a bit set there is a bit no table names, reported by position
  // among the protections so that it blocks charging rather than vanishing.
  if (d.length >= 8) flagNames([[null, null, null, null, null, null, null, null]], d, 7, set.protections);
  return { kind: 'alarms', dialect: 'deye', moduleCount: null, pnMarker: false, ...set };
}

function decodePylonFlags(d: Uint8Array): BmsMessage {
  const protections: string[] = [];
  const alarms: string[] = [];
  flagNames(PYLON_PROTECTION_TABLES, d, 0, protections);
  flagNames(PYLON_ALARM_TABLES, d, 2, alarms);
  return {
    kind: 'alarms',
    dialect: 'pylontech',
    protections,
    alarms,
    protectionBits: u16(d, 0),
    alarmBits: u16(d, 2),
    systemErrorBits: 0,
    moduleCount: u8(d, 4),
    pnMarker: d[5] === 0x50 && d[6] === 0x4e,
  };
}

function decodeModule(base: number, module: number, d: Uint8Array): BmsMessage {
  switch (base) {
    case MODULE_BASE.FAULTS: {
      const mosBits = u8(d, 7);
      return {
        kind: 'module-faults',
        module,
        ...deyeFlagSet(d),
        mosBits,
        mos: {
          parallelDone: (mosBits & 0x01) !== 0,
          chargeMos: (mosBits & 0x10) !== 0,
          dischargeMos: (mosBits & 0x20) !== 0,
          prechargeMos: (mosBits & 0x40) !== 0,
          heaterMos: (mosBits & 0x80) !== 0,
        },
      };
    }
    case MODULE_BASE.STATUS: {
      const voltageV = scaled(u16(d, 0), 0.1);
      const wireCurrentA = scaled(s16(d, 2), 0.1);
      const socPct = scaled(u16(d, 4), 0.1);
      const sohPct = scaled(u16(d, 6), 0.1);
      const r = outOfBounds([
        ['module voltage', voltageV, BMS_BOUNDS.stackVoltageV, 'V'],
        ['module current', wireCurrentA, BMS_BOUNDS.moduleCurrentA, 'A'],
        ['SOC', socPct, BMS_BOUNDS.pct, '%'],
        ['SOH', sohPct, BMS_BOUNDS.pct, '%'],
      ]);
      if (r) return invalid(`module ${module}: ${r}`);
      // Module current is Deye-only and + = discharge on the wire (§4).
      const currentA = -wireCurrentA || 0;
      return { kind: 'module-status', module, voltageV, currentA, wireCurrentA, direction: direction(currentA), socPct, sohPct };
    }
    case MODULE_BASE.CELLS: {
      const cellHighV = scaled(u16(d, 0), 0.001);
      const cellLowV = scaled(u16(d, 2), 0.001);
      const tempHighC = scaled(s16(d, 4), 0.1);
      const tempLowC = scaled(s16(d, 6), 0.1);
      const r = cellChecks(cellHighV, cellLowV, tempHighC, tempLowC);
      if (r) return invalid(`module ${module}: ${r}`);
      return { kind: 'module-cells', module, cellHighV, cellLowV, cellDeltaV: scaled(u16(d, 0) - u16(d, 2), 0.001), tempHighC, tempLowC };
    }
    case MODULE_BASE.TEMPS_LIMITS: {
      const mosTempC = scaled(s16(d, 0), 0.1);
      const heaterRaw = s16(d, 2);
      const heaterTempC = heaterRaw === -400 ? null : scaled(heaterRaw, 0.1);
      const r = outOfBounds([
        ['MOS temperature', mosTempC, BMS_BOUNDS.tempC, '°C'],
        ['heater temperature', heaterTempC ?? 0, BMS_BOUNDS.tempC, '°C'],
        ['allowed charge current', u16(d, 4), BMS_BOUNDS.moduleLimitA, 'A'],
        ['allowed discharge current', u16(d, 6), BMS_BOUNDS.moduleLimitA, 'A'],
      ]);
      if (r) return invalid(`module ${module}: ${r}`);
      return { kind: 'module-temps-limits', module, mosTempC, heaterTempC, chargeCurrentLimitA: u16(d, 4), dischargeCurrentLimitA: u16(d, 6) };
    }
    case MODULE_BASE.STATE: {
      const modeCode = u8(d, 0);
      const faultLevelCode = u8(d, 1);
      const balancingBits = u16(d, 4);
      const cycles = u16(d, 2);
      if (cycles > BMS_BOUNDS.cycles[1]) return invalid(`module ${module}: cycle count ${cycles} above ${BMS_BOUNDS.cycles[1]}`);
      const balancingCells: number[] = [];
      for (let i = 0; i < 16; i++) if (balancingBits & (1 << i)) balancingCells.push(i + 1);
      return {
        kind: 'module-state',
        module,
        mode: (['standby', 'charge', 'discharge'] as const)[modeCode] ?? 'unknown',
        modeCode,
        faultLevel: (['none', 'minor', 'major'] as const)[faultLevelCode] ?? 'unknown',
        faultLevelCode,
        cycles,
        balancingCells,
        balancingBits,
        subState: u8(d, 6),
      };
    }
    case MODULE_BASE.VERSION:
      return { kind: 'module-version', module, software: hexDigits(d, 0, 2), boot: ascii(d, 3, 8), markerOk: d[2] === 0xaa };
    case MODULE_BASE.ENERGY: {
      const chargedKWh = scaled(u32(d, 0), 0.001);
      const dischargedKWh = scaled(u32(d, 4), 0.001);
      const r = outOfBounds([
        ['lifetime charged energy', chargedKWh, BMS_BOUNDS.moduleEnergyKWh, 'kWh'],
        ['lifetime discharged energy', dischargedKWh, BMS_BOUNDS.moduleEnergyKWh, 'kWh'],
      ]);
      return r ? invalid(`module ${module}: ${r}`) : { kind: 'module-energy', module, chargedKWh, dischargedKWh };
    }
    case MODULE_BASE.SERIAL_1:
    case MODULE_BASE.SERIAL_2:
      return { kind: 'module-serial', module, part: base === MODULE_BASE.SERIAL_1 ? 1 : 2, text: ascii(d, 0, 8) };
    case MODULE_BASE.TRIP_COUNTS_1:
      return { kind: 'module-trip-counts-1', module, overCharge: u16(d, 0), overDischarge: u16(d, 2), shortCircuit: u16(d, 4), mosOverTemp: u16(d, 6) };
    case MODULE_BASE.TRIP_COUNTS_2:
      return {
        kind: 'module-trip-counts-2',
        module,
        chargeOverCurrent: u16(d, 0),
        dischargeOverCurrent: u16(d, 2),
        chargeOverTemp: u16(d, 4),
        dischargeOverTemp: u16(d, 6),
      };
    default:
      return { kind: 'unknown' };
  }
}

// ---- encoders ----------------------------------------------------------------------------

class Writer {
  readonly d: Uint8Array;
  constructor(dlc: number, private readonly what: string) {
    if (!Number.isInteger(dlc) || dlc < 0 || dlc > 8) throw new RangeError(`${what}: DLC ${dlc} not in 0..8`);
    this.d = new Uint8Array(dlc);
  }
  private raw(v: number, scale: number, name: string, lo: number, hi: number): number {
    const r = Math.round(v / scale);
    if (!Number.isFinite(r) || r < lo || r > hi) throw new RangeError(`${this.what}: ${name} ${v} does not fit the wire field`);
    return r;
  }
  /** Bytes past the DLC are dropped: shorter Pylontech frames leave trailing fields out. */
  private put(i: number, b: number): void {
    if (i < this.d.length) this.d[i] = b & 0xff;
  }
  u8(i: number, v: number, name: string): this {
    this.put(i, this.raw(v, 1, name, 0, 0xff));
    return this;
  }
  u16(i: number, v: number, scale: number, name: string): this {
    const r = this.raw(v, scale, name, 0, 0xffff);
    this.put(i, r);
    this.put(i + 1, r >> 8);
    return this;
  }
  s16(i: number, v: number, scale: number, name: string): this {
    const r = this.raw(v, scale, name, -0x8000, 0x7fff);
    this.put(i, r);
    this.put(i + 1, r >> 8);
    return this;
  }
  u32(i: number, v: number, scale: number, name: string): this {
    const r = this.raw(v, scale, name, 0, 0xffffffff);
    for (let k = 0; k < 4; k++) this.put(i + k, Math.floor(r / 2 ** (8 * k)));
    return this;
  }
  ascii(i: number, s: string, len: number, name: string): this {
    for (let k = 0; k < len; k++) {
      const c = k < s.length ? s.charCodeAt(k) : 0x20;
      if (c > 0x7e) throw new RangeError(`${this.what}: ${name} "${s}" is not ASCII`);
      this.put(i + k, c);
    }
    return this;
  }
}

const frame = (id: number, data: Uint8Array): CanFrame => ({ id, extended: false, remote: false, data });

function bitsOf(tables: readonly Table[], names: readonly string[], what: string): number[] {
  const bytes = tables.map(() => 0);
  for (const name of names) {
    let found = false;
    for (let t = 0; t < tables.length && !found; t++) {
      const bit = tables[t]!.indexOf(name);
      if (bit >= 0) {
        bytes[t]! |= 1 << bit;
        found = true;
      }
    }
    if (!found) throw new RangeError(`${what}: no bit named "${name}"`);
  }
  return bytes;
}

export type ChargeLimitsFields = Omit<BmsMessageOf<'charge-limits'>, 'kind'>;

/** 0x351 (§3.1). DLC 8 (Deye) or 6 (Pylontech-style, no discharge voltage). */
export function encodeChargeLimits(p: ChargeLimitsFields, dlc = 8): CanFrame {
  const w = new Writer(dlc, '0x351')
    .u16(0, p.chargeVoltageLimitV, 0.1, 'charge voltage')
    .s16(2, p.chargeCurrentLimitA, 0.1, 'charge current limit')
    .s16(4, p.dischargeCurrentLimitA, 0.1, 'discharge current limit')
    .u16(6, p.dischargeVoltageV ?? 0, 0.1, 'discharge voltage');
  return frame(BMS_ID.CHARGE_LIMITS, w.d);
}

/** 0x355 (§3.2): whole percent. DLC 8 (Deye) or 4 (Pylontech). */
export function encodeSoc(p: { socPct: number; sohPct: number }, dlc = 8): CanFrame {
  return frame(BMS_ID.SOC, new Writer(dlc, '0x355').u16(0, p.socPct, 1, 'SOC').u16(2, p.sohPct, 1, 'SOH').d);
}

/** 0x356 (§3.3). `currentA` + = charging; the dialect decides the sign on the wire. */
export function encodeMeasurements(p: { voltageV: number; currentA: number; tempC: number }, dialect: BmsDialect, dlc = 8): CanFrame {
  const wire = dialect === 'deye' ? -p.currentA : p.currentA;
  const w = new Writer(dlc, '0x356').s16(0, p.voltageV, 0.01, 'voltage').s16(2, wire, 0.1, 'current').s16(4, p.tempC, 0.1, 'temperature');
  return frame(BMS_ID.MEASUREMENTS, w.d);
}

/** 0x358 (§3.9, Deye V3.0+ USB board). */
export function encodeUsbPower(p: { powerW: number; energyWh: number; switchState: number }): CanFrame {
  return frame(BMS_ID.USB_POWER, new Writer(8, '0x358').u16(0, p.powerW, 0.1, 'power').u32(2, p.energyWh, 0.1, 'energy').u8(6, p.switchState, 'switch').d);
}

function deyeFlagBytes(p: { protections: readonly string[]; alarms: readonly string[] }, what: string): number[] {
  const prot = p.protections.filter((n) => !DEYE_SYSTEM_ERROR_TABLE.includes(n));
  const sys = p.protections.filter((n) => DEYE_SYSTEM_ERROR_TABLE.includes(n));
  return [...bitsOf(DEYE_PROTECTION_TABLES, prot, what), ...bitsOf(DEYE_ALARM_TABLES, p.alarms, what), ...bitsOf([DEYE_SYSTEM_ERROR_TABLE], sys, what)];
}

/**
 * 0x359 from flag names in the dialect's vocabulary (§3.4 / §3.5). Deye: 8 bytes, byte 7 zero.
 * Pylontech: 7 bytes, byte 4 = module count, bytes 5–6 = 'P','N'.
 */
export function encodeAlarms(p: { protections: readonly string[]; alarms: readonly string[]; moduleCount?: number }, dialect: BmsDialect): CanFrame {
  if (dialect === 'deye') {
    const b = deyeFlagBytes(p, '0x359');
    return frame(BMS_ID.ALARMS, Uint8Array.of(...b, 0));
  }
  const prot = bitsOf(PYLON_PROTECTION_TABLES, p.protections, '0x359');
  const alarm = bitsOf(PYLON_ALARM_TABLES, p.alarms, '0x359');
  const w = new Writer(7, '0x359').u8(4, p.moduleCount ?? 1, 'module count');
  w.d.set([...prot, ...alarm], 0);
  w.d[5] = 0x50;
  w.d[6] = 0x4e;
  return frame(BMS_ID.ALARMS, w.d);
}

/** 0x35C (§3.6) from flag names; DLC 2 by default (8 is also seen). */
export function encodeRequests(flags: readonly string[], dlc = 2): CanFrame {
  const [bits] = bitsOf([REQUEST_FLAG_TABLE], flags, '0x35C');
  return frame(BMS_ID.REQUESTS, new Writer(dlc, '0x35C').u8(0, bits!, 'flags').d);
}

/** 0x35E Deye (§3.7): "DY" + 3-char model + cell type code + capacity (0.1 Ah). */
export function encodeDeyeIdentity(p: { model: string; cellTypeCode: number; capacityAh: number }): CanFrame {
  const w = new Writer(8, '0x35E').ascii(0, 'DY', 2, 'maker').ascii(2, p.model, 3, 'model').u8(5, p.cellTypeCode, 'cell type').u16(6, p.capacityAh, 0.1, 'capacity');
  return frame(BMS_ID.IDENTITY, w.d);
}

/** 0x35E Pylontech (§3.7): 8 ASCII bytes, space padded ("PYLON   "). */
export function encodePylonIdentity(text = 'PYLON'): CanFrame {
  return frame(BMS_ID.IDENTITY, new Writer(8, '0x35E').ascii(0, text, 8, 'text').d);
}

/** 0x361 (§3.8). */
export function encodeCellExtremes(p: { cellHighV: number; cellLowV: number; tempHighC: number; tempLowC: number }): CanFrame {
  const w = new Writer(8, '0x361')
    .u16(0, p.cellHighV, 0.001, 'max cell')
    .u16(2, p.cellLowV, 0.001, 'min cell')
    .s16(4, p.tempHighC, 0.1, 'max temperature')
    .s16(6, p.tempLowC, 0.1, 'min temperature');
  return frame(BMS_ID.CELL_EXTREMES, w.d);
}

function hexBytes(s: string, what: string): number[] {
  if (!/^[0-9a-fA-F]{4}$/.test(s)) throw new RangeError(`${what}: version "${s}" is not 4 hex digits`);
  return [parseInt(s.slice(0, 2), 16), parseInt(s.slice(2, 4), 16)];
}

/** 0x363 (§3.9, doc V3.3 reading): software and hardware version, 2 raw bytes each. */
export function encodeVersions(p: { software: string; hardware: string }): CanFrame {
  return frame(BMS_ID.VERSIONS, Uint8Array.of(...hexBytes(p.software, '0x363'), ...hexBytes(p.hardware, '0x363'), 0, 0, 0, 0));
}

/** 0x364 (§3.9). */
export function encodeModuleCounts(p: Omit<BmsMessageOf<'module-counts'>, 'kind'>): CanFrame {
  const w = new Writer(8, '0x364').u8(0, p.normal, 'normal').u8(1, p.chargeBlocked, 'charge-blocked').u8(2, p.dischargeBlocked, 'discharge-blocked').u8(3, p.lost, 'lost').u8(4, p.total, 'total');
  return frame(BMS_ID.MODULE_COUNTS, w.d);
}

/** 0x371 (§3.9). */
export function encodeOnGridLimits(p: { chargeCurrentLimitA: number; dischargeCurrentLimitA: number }): CanFrame {
  return frame(BMS_ID.ON_GRID_LIMITS, new Writer(8, '0x371').s16(0, p.chargeCurrentLimitA, 0.1, 'charge limit').s16(2, p.dischargeCurrentLimitA, 0.1, 'discharge limit').d);
}

/**
 * 0x305 inverter heartbeat (§3.10): the Deye time format from `atMs` (UTC fields: the BMS does
 * nothing documented with them), or eight zero bytes as many Pylontech-mode inverters send.
 */
export function encodeHeartbeat(atMs: number | null): CanFrame {
  const d = new Uint8Array(8);
  if (atMs !== null) {
    const t = new Date(atMs);
    d.set([t.getUTCSeconds(), t.getUTCMinutes(), t.getUTCHours(), t.getUTCDate(), t.getUTCMonth() + 1, (t.getUTCFullYear() - 2000) & 0xff]);
  }
  return frame(BMS_ID.HEARTBEAT, d);
}

/** 0x306 USB-board control (§3.10). */
export function encodeUsbControl(p: { open: boolean; disableS: number }): CanFrame {
  return frame(BMS_ID.USB_CONTROL, new Writer(8, '0x306').u8(0, p.open ? 1 : 0, 'switch').u16(1, p.disableS, 1, 'disable time').d);
}

function moduleId(base: number, module: number): number {
  if (!Number.isInteger(module) || module < 1 || module > MAX_MODULES) throw new RangeError(`module ${module} not in 1..${MAX_MODULES}`);
  return base + module - 1;
}

/** 0x110+n-1 (§4): the module's own tables 1–7 plus MOS state. */
export function encodeModuleFaults(module: number, p: { protections: readonly string[]; alarms: readonly string[]; mos: MosState }): CanFrame {
  const m = p.mos;
  const mosBits = (m.parallelDone ? 0x01 : 0) | (m.chargeMos ? 0x10 : 0) | (m.dischargeMos ? 0x20 : 0) | (m.prechargeMos ? 0x40 : 0) | (m.heaterMos ? 0x80 : 0);
  return frame(moduleId(MODULE_BASE.FAULTS, module), Uint8Array.of(...deyeFlagBytes(p, '0x110'), mosBits));
}

/** 0x150+n-1 (§4). `currentA` + = charging (the wire carries + = discharge). */
export function encodeModuleStatus(module: number, p: { voltageV: number; currentA: number; socPct: number; sohPct: number }): CanFrame {
  const w = new Writer(8, '0x150').u16(0, p.voltageV, 0.1, 'voltage').s16(2, -p.currentA, 0.1, 'current').u16(4, p.socPct, 0.1, 'SOC').u16(6, p.sohPct, 0.1, 'SOH');
  return frame(moduleId(MODULE_BASE.STATUS, module), w.d);
}

/** 0x200+n-1 (§4). */
export function encodeModuleCells(module: number, p: { cellHighV: number; cellLowV: number; tempHighC: number; tempLowC: number }): CanFrame {
  return frame(moduleId(MODULE_BASE.CELLS, module), encodeCellExtremes(p).data);
}

/** 0x250+n-1 (§4). `heaterTempC` null = no heater (-40.0 °C on the wire). */
export function encodeModuleTempsLimits(
  module: number,
  p: { mosTempC: number; heaterTempC: number | null; chargeCurrentLimitA: number; dischargeCurrentLimitA: number },
): CanFrame {
  const w = new Writer(8, '0x250')
    .s16(0, p.mosTempC, 0.1, 'MOS temperature')
    .s16(2, p.heaterTempC ?? -40, 0.1, 'heater temperature')
    .u16(4, p.chargeCurrentLimitA, 1, 'charge limit')
    .u16(6, p.dischargeCurrentLimitA, 1, 'discharge limit');
  return frame(moduleId(MODULE_BASE.TEMPS_LIMITS, module), w.d);
}

/** 0x400+n-1 (§4). */
export function encodeModuleState(
  module: number,
  p: { modeCode: number; faultLevelCode: number; cycles: number; balancingBits: number; subState: number },
): CanFrame {
  const w = new Writer(8, '0x400')
    .u8(0, p.modeCode, 'mode')
    .u8(1, p.faultLevelCode, 'fault level')
    .u16(2, p.cycles, 1, 'cycles')
    .u16(4, p.balancingBits, 1, 'balancing')
    .u8(6, p.subState, 'sub-state');
  return frame(moduleId(MODULE_BASE.STATE, module), w.d);
}

/** 0x500+n-1 (§4): software (4 hex digits), 0xAA marker, boot version (5 ASCII chars). */
export function encodeModuleVersion(module: number, p: { software: string; boot: string }): CanFrame {
  const w = new Writer(8, '0x500').ascii(3, p.boot, 5, 'boot version');
  w.d.set(hexBytes(p.software, '0x500'), 0);
  w.d[2] = 0xaa;
  return frame(moduleId(MODULE_BASE.VERSION, module), w.d);
}

/** 0x550+n-1 (§4): lifetime energy, 0.001 kWh. */
export function encodeModuleEnergy(module: number, p: { chargedKWh: number; dischargedKWh: number }): CanFrame {
  const w = new Writer(8, '0x550').u32(0, p.chargedKWh, 0.001, 'charged energy').u32(4, p.dischargedKWh, 0.001, 'discharged energy');
  return frame(moduleId(MODULE_BASE.ENERGY, module), w.d);
}

/** 0x600+n-1 (part 1, chars 1–8) / 0x650+n-1 (part 2, chars 9–16). */
export function encodeModuleSerial(module: number, part: 1 | 2, text: string): CanFrame {
  const base = part === 1 ? MODULE_BASE.SERIAL_1 : MODULE_BASE.SERIAL_2;
  return frame(moduleId(base, module), new Writer(8, '0x600').ascii(0, text, 8, 'serial').d);
}

/** 0x700+n-1 (§4). */
export function encodeModuleTripCounts1(module: number, p: { overCharge: number; overDischarge: number; shortCircuit: number; mosOverTemp: number }): CanFrame {
  const w = new Writer(8, '0x700').u16(0, p.overCharge, 1, 'over-charge').u16(2, p.overDischarge, 1, 'over-discharge').u16(4, p.shortCircuit, 1, 'short-circuit').u16(6, p.mosOverTemp, 1, 'MOS over-temp');
  return frame(moduleId(MODULE_BASE.TRIP_COUNTS_1, module), w.d);
}

/** 0x750+n-1 (§4). */
export function encodeModuleTripCounts2(
  module: number,
  p: { chargeOverCurrent: number; dischargeOverCurrent: number; chargeOverTemp: number; dischargeOverTemp: number },
): CanFrame {
  const w = new Writer(8, '0x750')
    .u16(0, p.chargeOverCurrent, 1, 'charge over-current')
    .u16(2, p.dischargeOverCurrent, 1, 'discharge over-current')
    .u16(4, p.chargeOverTemp, 1, 'charge over-temp')
    .u16(6, p.dischargeOverTemp, 1, 'discharge over-temp');
  return frame(moduleId(MODULE_BASE.TRIP_COUNTS_2, module), w.d);
}
