/**
 * Voltronic "PI18" codec (InfiniSolar-V family: MPP-Solar LVX6048, LV5048, EG4 …), per
 * /work/shared/protocols/pi18.md (cited as §n below) and pi18-profile-workflow.md (as WF §n).
 *
 * Pure: no I/O, no clock. Nothing here throws on bad bytes or bad fields: a decoder answers
 * `{ ok: false, reason }`, a setter encoder answers `{ ok: false, reason }` for a value the wire
 * cannot carry. `buildFrame` (used by the framer's `encode`) throws only for a command text the
 * caller should never have built (a programming error: non-ASCII, a CR inside).
 *
 * Conventions:
 * - Voltages are decoded to volts (tenths / 10), currents to amps, frequencies to Hz.
 * - Enums decode to stable snake_case names; a code the reference does not list decodes to
 *   `{ unknown: code }` (battery type 3 on EG4, §4.1) and no encoder accepts it (WF §1).
 * - Fields are split on commas and parsed with parseInt semantics (never by offsets); extra
 *   fields are kept in `extra` (§1.2: PIRI 26 vs 25, FWS 18 vs 17).
 */

// ---------------------------------------------------------------------------------------------
// CRC (§2)

/** CRC-16/XMODEM: poly 0x1021, init 0, no reflection, no final XOR (§2; check "123456789" = 0x31C3). */
export function crc16xmodem(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * Which reserved bytes are bumped by one after the CRC is computed (§2): the vendor code bumps
 * 0x28 `(`, 0x0D CR and 0x0A LF; MS `crcPI` and PM also bump 0x00. Default for sending: 'bump-nul'
 * (the variant used against real LVX/LV5048 units over hidraw, and it keeps 0x00 out of HID reports).
 */
export type CrcVariant = 'bump-nul' | 'vendor';

const RESERVED_VENDOR = new Set([0x28, 0x0d, 0x0a]);

function bump(b: number, variant: CrcVariant): number {
  if (RESERVED_VENDOR.has(b)) return b + 1;
  if (b === 0x00 && variant === 'bump-nul') return 0x01;
  return b;
}

/** The two CRC bytes as sent (high byte first), reserved bytes bumped (§2). */
export function pi18Crc(bytes: Uint8Array, variant: CrcVariant = 'bump-nul'): [number, number] {
  const raw = crc16xmodem(bytes);
  return [bump(raw >> 8, variant), bump(raw & 0xff, variant)];
}

/**
 * Whether `hi lo` is a valid PI18 CRC of `bytes` on receive (§2 "Receive"): a computed byte of
 * 0x00 is accepted as 0x00 (vendor) or 0x01 (MS/PM); the other reserved bytes must be bumped.
 */
export function crcMatches(bytes: Uint8Array, hi: number, lo: number): boolean {
  const raw = crc16xmodem(bytes);
  const ok = (rawByte: number, got: number) => {
    const want = bump(rawByte, 'vendor');
    return got === want || (rawByte === 0x00 && got === 0x01);
  };
  return ok(raw >> 8, hi) && ok(raw & 0xff, lo);
}

// ---------------------------------------------------------------------------------------------
// Frames (§1)

export const CR = 0x0d;
export const CARET = 0x5e; // '^'
export const PAREN = 0x28; // '('

/**
 * One PI18 frame, either direction. Requests are what a host writes (`^P` query, `^S` setter);
 * the rest is what a device answers. Received frames carry `raw`: the whole line, CRC and CR included.
 */
export type Pi18Frame =
  | { type: 'query'; command: string; raw?: Uint8Array; lengthMismatch?: boolean }
  | { type: 'set'; command: string; raw?: Uint8Array; lengthMismatch?: boolean }
  /** `^Dnnn<payload>`; `lengthMismatch` when nnn ≠ len(payload)+3 (a hint only, §1.2). */
  | { type: 'data'; payload: string; raw?: Uint8Array; lengthMismatch?: boolean }
  /** `^1`: setter accepted (§1.3). */
  | { type: 'ack'; raw?: Uint8Array }
  /** `^0`: refused — bad value, unsupported or malformed, also an unknown query (§1.3). */
  | { type: 'nak'; raw?: Uint8Array }
  /** PI30-style `(NAK` (or any `(` reply) + CRC: a refusal (§1.3, §3.3 step 4). */
  | { type: 'nak30'; text: string; raw?: Uint8Array };

/**
 * Literal length prefixes proven on hardware where the PDF breaks its own `len+3` rule (§1.1,
 * §5): FWS / ACCT / ACLT queries and the ACCT / ACLT setters. Keyed by request type + command name.
 */
const LITERAL_LENGTH: Record<string, number> = {
  'P:FWS': 5,
  'P:ACCT': 5,
  'P:ACLT': 5,
  'S:ACCT': 14,
  'S:ACLT': 14,
};

/** The command's name: its leading capital letters ("MCHGC0,060" → "MCHGC", "PGS0" → "PGS"). */
export function commandName(command: string): string {
  const m = /^[A-Z]+/.exec(command);
  return m ? m[0] : command;
}

/** The `nnn` a request carries: the literal table, else len(command)+3 (§1.1). */
export function requestLength(type: 'P' | 'S', command: string): number {
  return LITERAL_LENGTH[`${type}:${commandName(command)}`] ?? command.length + 3;
}

function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7e || c < 0x20) throw new Error(`PI18 frame text ${JSON.stringify(s)} has a non-printable character at ${i}`);
    out[i] = c;
  }
  return out;
}

function withCrc(head: Uint8Array, variant: CrcVariant): Uint8Array {
  const [hi, lo] = pi18Crc(head, variant);
  const out = new Uint8Array(head.length + 3);
  out.set(head);
  out[head.length] = hi;
  out[head.length + 1] = lo;
  out[head.length + 2] = CR;
  return out;
}

function pad3(n: number): string {
  return String(n).padStart(3, '0');
}

/** The bytes of one frame (§1): header, text, CRC (high first, reserved bytes bumped), CR. */
export function buildFrame(frame: Pi18Frame, variant: CrcVariant = 'bump-nul'): Uint8Array {
  switch (frame.type) {
    case 'query':
    case 'set': {
      const t = frame.type === 'query' ? 'P' : 'S';
      const n = requestLength(t, frame.command);
      if (n > 999) throw new Error(`PI18 command ${frame.command.slice(0, 20)}… is too long`);
      return withCrc(ascii(`^${t}${pad3(n)}${frame.command}`), variant);
    }
    case 'data': {
      const n = frame.payload.length + 3;
      if (n > 999) throw new Error('PI18 data payload is too long');
      return withCrc(ascii(`^D${pad3(n)}${frame.payload}`), variant);
    }
    case 'ack':
      return withCrc(ascii('^1'), variant);
    case 'nak':
      return withCrc(ascii('^0'), variant);
    case 'nak30':
      return withCrc(ascii(frame.text), variant);
  }
}

/** Readable text of a frame for logs and frame records: the ASCII part, then the CRC in hex. */
export function frameText(frame: Pi18Frame): string {
  const raw = frame.raw ?? buildFrame(frame);
  const body = raw.subarray(0, Math.max(0, raw.length - 3));
  const crc = raw.subarray(Math.max(0, raw.length - 3), raw.length - 1);
  return `${printable(body)} <${hex(crc, '')}>`;
}

export function printable(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return s;
}

export function hex(bytes: Uint8Array, sep = ' '): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(sep);
}

export type ParseLine = { ok: true; frame: Pi18Frame } | { ok: false; reason: string };

/**
 * Parses one candidate line: `line[0]` is `^` or `(` and the last byte is the first CR after it
 * (§3.3). Checks the CRC (with the 0x00/0x01 ambiguity) and, for `^P`/`^S`/`^D`, that the length
 * field is three decimal digits; a length that disagrees with the content is kept as
 * `lengthMismatch` (a hint only: real firmware is off by one, §1.2).
 */
export function parseLine(line: Uint8Array): ParseLine {
  const n = line.length;
  if (n < 5) return { ok: false, reason: `${n} bytes is too short for a PI18 frame` };
  if (line[n - 1] !== CR) return { ok: false, reason: 'no CR at the end' };
  const head = line.subarray(0, n - 3);
  if (!crcMatches(head, line[n - 3]!, line[n - 2]!)) {
    const [hi, lo] = pi18Crc(head, 'vendor');
    return { ok: false, reason: `CRC ${hex(line.subarray(n - 3, n - 1), '')} does not match ${hex(Uint8Array.of(hi, lo), '')}` };
  }
  for (let i = 0; i < head.length; i++) {
    const c = head[i]!;
    if (c < 0x20 || c > 0x7e) return { ok: false, reason: `non-printable byte 0x${c.toString(16)} at ${i}` };
  }
  const text = String.fromCharCode(...head);
  const raw = line.slice();
  if (text[0] === '(') return { ok: true, frame: { type: 'nak30', text, raw } };
  if (text === '^1') return { ok: true, frame: { type: 'ack', raw } };
  if (text === '^0') return { ok: true, frame: { type: 'nak', raw } };
  const t = text[1];
  if (t !== 'D' && t !== 'P' && t !== 'S') return { ok: false, reason: `unknown frame type ${JSON.stringify(text.slice(0, 2))}` };
  const len = text.slice(2, 5);
  if (!/^\d{3}$/.test(len)) return { ok: false, reason: `length field ${JSON.stringify(len)} is not three digits` };
  const body = text.slice(5);
  const declared = Number(len);
  if (t === 'D') {
    const frame: Pi18Frame & { type: 'data' } = { type: 'data', payload: body, raw };
    if (declared !== body.length + 3) frame.lengthMismatch = true;
    return { ok: true, frame };
  }
  if (body.length === 0) return { ok: false, reason: 'request without a command' };
  const type = t === 'P' ? 'query' : 'set';
  const frame: Pi18Frame & { type: 'query' | 'set' } = { type, command: body, raw };
  if (declared !== requestLength(t, body)) frame.lengthMismatch = true;
  return { ok: true, frame };
}

// ---------------------------------------------------------------------------------------------
// Field decoding helpers

/** An enum value: a known name, or the raw code the reference does not list (never re-encoded). */
export type Enum<T extends string> = T | { unknown: number };

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

function fail<T>(reason: string): Decoded<T> {
  return { ok: false, reason };
}

function fields(payload: string): string[] {
  return payload.split(',');
}

/** parseInt semantics on a field that must be digits (an empty field is "reserved", §1.2). */
function int(f: string | undefined): number | null {
  if (f === undefined || !/^\d+$/.test(f)) return null;
  return Number(f);
}

function enumOf<T extends string>(names: readonly T[], code: number): Enum<T> {
  return code >= 0 && code < names.length ? names[code]! : { unknown: code };
}

export function isUnknown<T extends string>(e: Enum<T>): e is { unknown: number } {
  return typeof e === 'object';
}

/** Words for an enum value, for people. */
export function enumText<T extends string>(e: Enum<T>): string {
  return isUnknown(e) ? `unknown (${e.unknown})` : e;
}

class FieldReader {
  private bad: string[] = [];
  constructor(
    private readonly f: string[],
    private readonly what: string,
  ) {}
  int(i: number, name: string): number {
    const v = int(this.f[i]);
    if (v === null) {
      this.bad.push(`${name} (field ${i + 1}: ${JSON.stringify(this.f[i] ?? '')})`);
      return NaN;
    }
    return v;
  }
  tenths(i: number, name: string): number {
    return this.int(i, name) / 10;
  }
  enum<T extends string>(i: number, name: string, names: readonly T[]): Enum<T> {
    const v = this.int(i, name);
    return Number.isNaN(v) ? { unknown: -1 } : enumOf(names, v);
  }
  result<T>(value: T): Decoded<T> {
    return this.bad.length ? fail(`${this.what}: bad ${this.bad.join(', ')}`) : { ok: true, value };
  }
}

function need(payload: string, what: string, count: number): string[] | string {
  const f = fields(payload);
  if (f.length < count) return `${what} has ${f.length} fields, needs ${count}`;
  return f;
}

// ---------------------------------------------------------------------------------------------
// PIRI (§4.1)

export const BATTERY_TYPES = ['agm', 'flooded', 'user'] as const;
export type BatteryType = (typeof BATTERY_TYPES)[number];
export const INPUT_RANGES = ['appliance', 'ups'] as const;
export const OUTPUT_SOURCE_PRIORITIES = ['solar_utility_battery', 'solar_battery_utility'] as const;
export type OutputSourcePriority = (typeof OUTPUT_SOURCE_PRIORITIES)[number];
export const CHARGER_PRIORITIES = ['solar_first', 'solar_and_utility', 'solar_only'] as const;
export type ChargerPriority = (typeof CHARGER_PRIORITIES)[number];
export const MACHINE_TYPES = ['off_grid', 'grid_tie'] as const;
export const TOPOLOGIES = ['transformerless', 'transformer'] as const;
export const OUTPUT_MODES = ['single', 'parallel', 'phase_1', 'phase_2', 'phase_3'] as const;
export const SOLAR_POWER_PRIORITIES = ['battery_load_utility', 'load_battery_utility'] as const;
export type SolarPowerPriority = (typeof SOLAR_POWER_PRIORITIES)[number];

export interface Piri {
  acInputRatedVoltageV: number;
  acInputRatedCurrentA: number;
  acOutputRatedVoltageV: number;
  acOutputRatedFrequencyHz: number;
  acOutputRatedCurrentA: number;
  acOutputRatedApparentPowerVA: number;
  acOutputRatedActivePowerW: number;
  /** 48 for a 48 V system (#8). */
  batteryRatedVoltageV: number;
  /** #9 "re-charge" = the profile's stop_discharge_voltage (BUCD arg 1). */
  stopDischargeVoltageV: number;
  /** #10 "re-discharge" = stop_charge_voltage (BUCD arg 2); 0 = battery full. */
  stopChargeVoltageV: number;
  /** #11 under voltage = cutoff (PSDV). */
  cutoffVoltageV: number;
  bulkVoltageV: number;
  floatVoltageV: number;
  batteryType: Enum<BatteryType>;
  maxUtilityChargingCurrentA: number;
  maxChargingCurrentA: number;
  inputVoltageRange: Enum<(typeof INPUT_RANGES)[number]>;
  outputSourcePriority: Enum<OutputSourcePriority>;
  chargerPriority: Enum<ChargerPriority>;
  parallelMaxNum: number;
  machineType: Enum<(typeof MACHINE_TYPES)[number]>;
  topology: Enum<(typeof TOPOLOGIES)[number]>;
  outputMode: Enum<(typeof OUTPUT_MODES)[number]>;
  solarPowerPriority: Enum<SolarPowerPriority>;
  mpptStrings: number;
  /** Fields after #25, as text (#26 is undocumented, always "00" in samples). */
  extra: string[];
}

export function decodePiri(payload: string): Decoded<Piri> {
  const f = need(payload, 'PIRI', 25);
  if (typeof f === 'string') return fail(f);
  const r = new FieldReader(f, 'PIRI');
  return r.result<Piri>({
    acInputRatedVoltageV: r.tenths(0, 'AC input rated voltage'),
    acInputRatedCurrentA: r.tenths(1, 'AC input rated current'),
    acOutputRatedVoltageV: r.tenths(2, 'AC output rated voltage'),
    acOutputRatedFrequencyHz: r.tenths(3, 'AC output rated frequency'),
    acOutputRatedCurrentA: r.tenths(4, 'AC output rated current'),
    acOutputRatedApparentPowerVA: r.int(5, 'rated apparent power'),
    acOutputRatedActivePowerW: r.int(6, 'rated active power'),
    batteryRatedVoltageV: r.tenths(7, 'battery rated voltage'),
    stopDischargeVoltageV: r.tenths(8, 'battery re-charge voltage'),
    stopChargeVoltageV: r.tenths(9, 'battery re-discharge voltage'),
    cutoffVoltageV: r.tenths(10, 'battery under voltage'),
    bulkVoltageV: r.tenths(11, 'bulk voltage'),
    floatVoltageV: r.tenths(12, 'float voltage'),
    batteryType: r.enum(13, 'battery type', BATTERY_TYPES),
    maxUtilityChargingCurrentA: r.int(14, 'max AC charging current'),
    maxChargingCurrentA: r.int(15, 'max charging current'),
    inputVoltageRange: r.enum(16, 'input voltage range', INPUT_RANGES),
    outputSourcePriority: r.enum(17, 'output source priority', OUTPUT_SOURCE_PRIORITIES),
    chargerPriority: r.enum(18, 'charger source priority', CHARGER_PRIORITIES),
    parallelMaxNum: r.int(19, 'parallel max num'),
    machineType: r.enum(20, 'machine type', MACHINE_TYPES),
    topology: r.enum(21, 'topology', TOPOLOGIES),
    outputMode: r.enum(22, 'output mode', OUTPUT_MODES),
    solarPowerPriority: r.enum(23, 'solar power priority', SOLAR_POWER_PRIORITIES),
    mpptStrings: r.int(24, 'MPPT strings'),
    extra: f.slice(25),
  });
}

// ---------------------------------------------------------------------------------------------
// GS (§4.2)

export const MPPT_STATUSES = ['abnormal', 'not_charging', 'charging'] as const;
export const POWER_DIRECTIONS = ['none', 'charge', 'discharge'] as const;
export const DCAC_DIRECTIONS = ['none', 'ac_to_dc', 'dc_to_ac'] as const;
export const LINE_DIRECTIONS = ['none', 'input', 'output'] as const;

export interface GeneralStatus {
  gridVoltageV: number;
  gridFrequencyHz: number;
  acOutputVoltageV: number;
  acOutputFrequencyHz: number;
  acOutputApparentPowerVA: number;
  acOutputActivePowerW: number;
  outputLoadPct: number;
  batteryVoltageV: number;
  batteryVoltageScc1V: number;
  batteryVoltageScc2V: number;
  batteryDischargeCurrentA: number;
  batteryChargeCurrentA: number;
  batteryCapacityPct: number;
  heatSinkTempC: number;
  mppt1TempC: number;
  mppt2TempC: number;
  pv1PowerW: number;
  pv2PowerW: number;
  pv1VoltageV: number;
  pv2VoltageV: number;
  settingChanged: boolean;
  mppt1Status: Enum<(typeof MPPT_STATUSES)[number]>;
  mppt2Status: Enum<(typeof MPPT_STATUSES)[number]>;
  loadConnected: boolean;
  batteryDirection: Enum<(typeof POWER_DIRECTIONS)[number]>;
  dcAcDirection: Enum<(typeof DCAC_DIRECTIONS)[number]>;
  lineDirection: Enum<(typeof LINE_DIRECTIONS)[number]>;
  /** #28: the unit's zero-based parallel index (0 = master); PM's "valid/not valid" is wrong (§4.2). */
  parallelId: number;
  extra: string[];
}

export function decodeGs(payload: string): Decoded<GeneralStatus> {
  const f = need(payload, 'GS', 28);
  if (typeof f === 'string') return fail(f);
  const r = new FieldReader(f, 'GS');
  return r.result<GeneralStatus>({
    gridVoltageV: r.tenths(0, 'grid voltage'),
    gridFrequencyHz: r.tenths(1, 'grid frequency'),
    acOutputVoltageV: r.tenths(2, 'AC output voltage'),
    acOutputFrequencyHz: r.tenths(3, 'AC output frequency'),
    acOutputApparentPowerVA: r.int(4, 'AC output apparent power'),
    acOutputActivePowerW: r.int(5, 'AC output active power'),
    outputLoadPct: r.int(6, 'output load'),
    batteryVoltageV: r.tenths(7, 'battery voltage'),
    batteryVoltageScc1V: r.tenths(8, 'battery voltage SCC1'),
    batteryVoltageScc2V: r.tenths(9, 'battery voltage SCC2'),
    batteryDischargeCurrentA: r.int(10, 'battery discharge current'),
    batteryChargeCurrentA: r.int(11, 'battery charging current'),
    batteryCapacityPct: r.int(12, 'battery capacity'),
    heatSinkTempC: r.int(13, 'heat-sink temperature'),
    mppt1TempC: r.int(14, 'MPPT1 temperature'),
    mppt2TempC: r.int(15, 'MPPT2 temperature'),
    pv1PowerW: r.int(16, 'PV1 power'),
    pv2PowerW: r.int(17, 'PV2 power'),
    pv1VoltageV: r.tenths(18, 'PV1 voltage'),
    pv2VoltageV: r.tenths(19, 'PV2 voltage'),
    settingChanged: r.int(20, 'setting state') === 1,
    mppt1Status: r.enum(21, 'MPPT1 status', MPPT_STATUSES),
    mppt2Status: r.enum(22, 'MPPT2 status', MPPT_STATUSES),
    loadConnected: r.int(23, 'load connection') === 1,
    batteryDirection: r.enum(24, 'battery direction', POWER_DIRECTIONS),
    dcAcDirection: r.enum(25, 'DC/AC direction', DCAC_DIRECTIONS),
    lineDirection: r.enum(26, 'line direction', LINE_DIRECTIONS),
    parallelId: r.int(27, 'parallel id'),
    extra: f.slice(28),
  });
}

// ---------------------------------------------------------------------------------------------
// MOD (§4.3)

export const WORK_MODES = ['power_on', 'standby', 'bypass', 'battery', 'fault', 'hybrid'] as const;
export type WorkMode = (typeof WORK_MODES)[number];

export function decodeMod(payload: string): Decoded<{ mode: Enum<WorkMode>; code: number }> {
  const code = int(payload.split(',')[0]);
  if (code === null) return fail(`MOD: bad mode ${JSON.stringify(payload)}`);
  return { ok: true, value: { mode: enumOf(WORK_MODES, code), code } };
}

// ---------------------------------------------------------------------------------------------
// FWS (§4.4)

/** Fault codes and their words (§4.4 table, PDF). */
export const FAULT_CODES: Readonly<Record<number, string>> = {
  1: 'fan locked',
  2: 'over temperature',
  3: 'battery voltage too high',
  4: 'battery voltage too low',
  5: 'output short circuit or over temperature',
  6: 'output voltage too high',
  7: 'overload time-out',
  8: 'bus voltage too high',
  9: 'bus soft start failed',
  11: 'main relay failed',
  51: 'inverter over current',
  52: 'bus soft start failed',
  53: 'inverter soft start failed',
  54: 'self-test failed',
  55: 'over DC voltage on inverter output',
  56: 'battery connection open',
  57: 'current sensor failed',
  58: 'output voltage too low',
  60: 'inverter negative power',
  71: 'parallel firmware version different',
  72: 'output circuit failed',
  80: 'CAN communication failed',
  81: 'parallel host line lost',
  82: 'parallel sync signal lost',
  83: 'parallel battery voltage detected different',
  84: 'parallel line voltage/frequency detected different',
  85: 'parallel line input current unbalanced',
  86: 'parallel output setting different',
};

export function faultText(code: number): string {
  if (code === 0) return 'no fault';
  return FAULT_CODES[code] ?? `unknown fault ${String(code).padStart(2, '0')}`;
}

/** FWS #2…#17, in order: stable names and words. */
export const WARNING_FLAGS = [
  ['line_fail', 'line fail'],
  ['output_short', 'output circuit short'],
  ['over_temperature', 'inverter over temperature'],
  ['fan_lock', 'fan lock'],
  ['battery_voltage_high', 'battery voltage high'],
  ['battery_low', 'battery low'],
  ['battery_under', 'battery under'],
  ['overload', 'overload'],
  ['eeprom_fail', 'EEPROM fail'],
  ['power_limit', 'power limit'],
  ['pv1_voltage_high', 'PV1 voltage high'],
  ['pv2_voltage_high', 'PV2 voltage high'],
  ['mppt1_overload', 'MPPT1 overload warning'],
  ['mppt2_overload', 'MPPT2 overload warning'],
  ['scc1_battery_too_low', 'battery too low to charge (SCC1)'],
  ['scc2_battery_too_low', 'battery too low to charge (SCC2)'],
] as const;
export type WarningName = (typeof WARNING_FLAGS)[number][0];

export interface FaultStatus {
  faultCode: number;
  faultText: string;
  /** Every documented flag, true when set. */
  warnings: Record<WarningName, boolean>;
  /** Fields after #17 (#18 is undocumented, always 0 in samples). */
  extra: string[];
}

export function decodeFws(payload: string): Decoded<FaultStatus> {
  const f = need(payload, 'FWS', 1 + WARNING_FLAGS.length);
  if (typeof f === 'string') return fail(f);
  const r = new FieldReader(f, 'FWS');
  const faultCode = r.int(0, 'fault code');
  const warnings = {} as Record<WarningName, boolean>;
  WARNING_FLAGS.forEach(([name], i) => {
    warnings[name] = r.int(i + 1, name) === 1;
  });
  return r.result<FaultStatus>({ faultCode, faultText: faultText(faultCode), warnings, extra: f.slice(1 + WARNING_FLAGS.length) });
}

// ---------------------------------------------------------------------------------------------
// Identity (§4.5), energy and step lists (§4.6), PGS (§4.6)

export interface Identity {
  /** The serial: the first LL of the 20 digits. */
  serial: string;
  /** The whole payload as the unit sent it (LL + 20 digits; the seed compared this). */
  raw: string;
}

export function decodeId(payload: string): Decoded<Identity> {
  if (!/^\d{3,}$/.test(payload)) return fail(`ID: ${JSON.stringify(payload)} is not digits`);
  const len = Number(payload.slice(0, 2));
  const digits = payload.slice(2);
  if (len < 1 || len > digits.length) return fail(`ID: serial length ${len} does not fit ${digits.length} digits`);
  return { ok: true, value: { serial: digits.slice(0, len), raw: payload } };
}

export function encodeIdPayload(serial: string): string {
  return String(serial.length).padStart(2, '0') + serial.padEnd(20, '0');
}

export interface Firmware {
  main: string;
  slave1: string;
  slave2: string;
}

export function decodeVfw(payload: string): Decoded<Firmware> {
  const f = payload.split(',');
  if (f.length < 3 || !f.slice(0, 3).every((x) => /^\d+$/.test(x))) return fail(`VFW: ${JSON.stringify(payload)} is not three versions`);
  return { ok: true, value: { main: f[0]!, slave1: f[1]!, slave2: f[2]! } };
}

/** ET / EY / EM / ED: one 8-digit counter (unit uncertain for ET, §4.6). */
export function decodeEnergy(payload: string): Decoded<{ energy: number }> {
  const v = int(payload);
  return v === null ? fail(`energy: ${JSON.stringify(payload)} is not digits`) : { ok: true, value: { energy: v } };
}

/** MCHGCR / MUCHGCR: the selectable currents, in amps. */
export function decodeCurrentList(payload: string): Decoded<number[]> {
  const f = payload.split(',');
  const out: number[] = [];
  for (const x of f) {
    const v = int(x);
    if (v === null) return fail(`current list: ${JSON.stringify(x)} is not a current`);
    out.push(v);
  }
  return { ok: true, value: out };
}

export interface ParallelStatus {
  exists: boolean;
  workMode: Enum<WorkMode>;
  faultCode: number;
  gridVoltageV: number;
  gridFrequencyHz: number;
  acOutputVoltageV: number;
  acOutputFrequencyHz: number;
  acOutputApparentPowerVA: number;
  acOutputActivePowerW: number;
  totalApparentPowerVA: number;
  totalActivePowerW: number;
  outputLoadPct: number;
  totalLoadPct: number;
  batteryVoltageV: number;
  batteryDischargeCurrentA: number;
  batteryChargeCurrentA: number;
  totalChargeCurrentA: number;
  batteryCapacityPct: number;
  pv1PowerW: number;
  pv2PowerW: number;
  pv1VoltageV: number;
  pv2VoltageV: number;
  mppt1Status: Enum<(typeof MPPT_STATUSES)[number]>;
  mppt2Status: Enum<(typeof MPPT_STATUSES)[number]>;
  loadConnected: boolean;
  batteryDirection: Enum<(typeof POWER_DIRECTIONS)[number]>;
  dcAcDirection: Enum<(typeof DCAC_DIRECTIONS)[number]>;
  lineDirection: Enum<(typeof LINE_DIRECTIONS)[number]>;
  maxTempC: number;
  extra: string[];
}

export function decodePgs(payload: string): Decoded<ParallelStatus> {
  const f = need(payload, 'PGS', 29);
  if (typeof f === 'string') return fail(f);
  const r = new FieldReader(f, 'PGS');
  return r.result<ParallelStatus>({
    exists: r.int(0, 'exists') === 1,
    workMode: r.enum(1, 'work mode', WORK_MODES),
    faultCode: r.int(2, 'fault code'),
    gridVoltageV: r.tenths(3, 'grid voltage'),
    gridFrequencyHz: r.tenths(4, 'grid frequency'),
    acOutputVoltageV: r.tenths(5, 'AC output voltage'),
    acOutputFrequencyHz: r.tenths(6, 'AC output frequency'),
    acOutputApparentPowerVA: r.int(7, 'AC output apparent power'),
    acOutputActivePowerW: r.int(8, 'AC output active power'),
    totalApparentPowerVA: r.int(9, 'total apparent power'),
    totalActivePowerW: r.int(10, 'total active power'),
    outputLoadPct: r.int(11, 'output load'),
    totalLoadPct: r.int(12, 'total output load'),
    batteryVoltageV: r.tenths(13, 'battery voltage'),
    batteryDischargeCurrentA: r.int(14, 'battery discharge current'),
    batteryChargeCurrentA: r.int(15, 'battery charging current'),
    totalChargeCurrentA: r.int(16, 'total charging current'),
    batteryCapacityPct: r.int(17, 'battery capacity'),
    pv1PowerW: r.int(18, 'PV1 power'),
    pv2PowerW: r.int(19, 'PV2 power'),
    pv1VoltageV: r.tenths(20, 'PV1 voltage'),
    pv2VoltageV: r.tenths(21, 'PV2 voltage'),
    mppt1Status: r.enum(22, 'MPPT1 status', MPPT_STATUSES),
    mppt2Status: r.enum(23, 'MPPT2 status', MPPT_STATUSES),
    loadConnected: r.int(24, 'load connection') === 1,
    batteryDirection: r.enum(25, 'battery direction', POWER_DIRECTIONS),
    dcAcDirection: r.enum(26, 'DC/AC direction', DCAC_DIRECTIONS),
    lineDirection: r.enum(27, 'line direction', LINE_DIRECTIONS),
    maxTempC: r.int(28, 'max temperature'),
    extra: f.slice(29),
  });
}

// ---------------------------------------------------------------------------------------------
// Setters (§5; the profile's setters, WF §1)

/** One setting a profile (or an operator) can write. Voltages in volts with at most one decimal. */
export type Pi18Setting =
  | { key: 'battery_type'; value: BatteryType }
  | { key: 'cutoff_voltage'; volts: number }
  /** BUCD: both thresholds in one frame (WF §1 pair). `stopChargeV: 'full'` sends 000. */
  | { key: 'battery_thresholds'; stopDischargeV: number; stopChargeV: number | 'full' }
  /** MCHGV: bulk and float in one frame. */
  | { key: 'charge_voltages'; bulkV: number; floatV: number }
  | { key: 'max_charging_current'; amps: number }
  | { key: 'max_utility_charging_current'; amps: number }
  | { key: 'output_source_priority'; value: OutputSourcePriority }
  | { key: 'charger_priority'; value: ChargerPriority }
  | { key: 'solar_power_priority'; value: SolarPowerPriority }
  | { key: 'grid_tie'; enabled: boolean };

export type SettingKey = Pi18Setting['key'];

export type Encoded = { ok: true; command: string } | { ok: false; reason: string };

/** Volts → three-digit tenths; refuses more than one decimal (WF §1: reject, do not round). */
export function voltsToTenths(v: number): number | null {
  if (!Number.isFinite(v) || v < 0) return null;
  const t = Math.round(v * 10);
  if (Math.abs(t - v * 10) > 1e-6) return null;
  return t;
}

function tenths3(v: number, what: string): string | { reason: string } {
  const t = voltsToTenths(v);
  if (t === null || t > 999) return { reason: `${what} ${v} V cannot be sent (needs 0.0–99.9 V with at most one decimal)` };
  return pad3(t);
}

function amps3(a: number, what: string): string | { reason: string } {
  if (!Number.isInteger(a) || a < 0 || a > 999) return { reason: `${what} ${a} A cannot be sent (needs a whole number 0–999)` };
  return pad3(a);
}

function unitDigit(unit: number): string | { reason: string } {
  if (!Number.isInteger(unit) || unit < 0 || unit > 9) return { reason: `parallel unit index ${unit} is not 0–9` };
  return String(unit);
}

function code<T extends string>(names: readonly T[], v: T, what: string): string | { reason: string } {
  const i = names.indexOf(v);
  return i < 0 ? { reason: `${what} ${JSON.stringify(v)} is not one of ${names.join(', ')}` } : String(i);
}

/**
 * The command text of a setter (no `^S`, no CRC). `unit` is the parallel unit index used by
 * MCHGC/MUCHGC/PCP (0 on a single unit; the unit's GS #28 in a parallel system, WF §1).
 */
export function encodeSetting(s: Pi18Setting, unit = 0): Encoded {
  const parts: (string | { reason: string })[] = [];
  let name: string;
  switch (s.key) {
    case 'battery_type':
      name = 'PBT';
      parts.push(code(BATTERY_TYPES, s.value, 'battery type'));
      break;
    case 'cutoff_voltage':
      name = 'PSDV';
      parts.push(tenths3(s.volts, 'cut-off voltage'));
      break;
    case 'battery_thresholds':
      name = 'BUCD';
      parts.push(tenths3(s.stopDischargeV, 'stop-discharge voltage'), ',', s.stopChargeV === 'full' ? '000' : tenths3(s.stopChargeV, 'stop-charge voltage'));
      break;
    case 'charge_voltages':
      name = 'MCHGV';
      parts.push(tenths3(s.bulkV, 'bulk voltage'), ',', tenths3(s.floatV, 'float voltage'));
      break;
    case 'max_charging_current':
      name = 'MCHGC';
      parts.push(unitDigit(unit), ',', amps3(s.amps, 'max charging current'));
      break;
    case 'max_utility_charging_current':
      name = 'MUCHGC';
      parts.push(unitDigit(unit), ',', amps3(s.amps, 'max utility charging current'));
      break;
    case 'output_source_priority':
      name = 'POP';
      parts.push(code(OUTPUT_SOURCE_PRIORITIES, s.value, 'output source priority'));
      break;
    case 'charger_priority':
      name = 'PCP';
      parts.push(unitDigit(unit), ',', code(CHARGER_PRIORITIES, s.value, 'charger priority'));
      break;
    case 'solar_power_priority':
      name = 'PSP';
      parts.push(code(SOLAR_POWER_PRIORITIES, s.value, 'solar power priority'));
      break;
    case 'grid_tie':
      if (typeof s.enabled !== 'boolean') return { ok: false, reason: 'grid_tie needs true or false' };
      name = s.enabled ? 'PEI' : 'PDI';
      break;
    default:
      return { ok: false, reason: `unknown setting ${JSON.stringify((s as { key: unknown }).key)}` };
  }
  let text = name;
  for (const p of parts) {
    if (typeof p !== 'string') return { ok: false, reason: p.reason };
    text += p;
  }
  return { ok: true, command: text };
}

/**
 * The inverse of `encodeSetting` (what a device — the simulator — reads from a setter's text).
 * `unit` is null for setters without a unit index.
 */
export function decodeSetterCommand(command: string): { ok: true; setting: Pi18Setting; unit: number | null } | { ok: false; reason: string } {
  let m: RegExpExecArray | null;
  const t = (s: string) => Number(s) / 10;
  if ((m = /^PBT(\d)$/.exec(command))) {
    const v = BATTERY_TYPES[Number(m[1])];
    return v ? { ok: true, setting: { key: 'battery_type', value: v }, unit: null } : { ok: false, reason: `battery type ${m[1]} unknown` };
  }
  if ((m = /^PSDV(\d{3})$/.exec(command))) return { ok: true, setting: { key: 'cutoff_voltage', volts: t(m[1]!) }, unit: null };
  if ((m = /^BUCD(\d{3}),(\d{3})$/.exec(command))) {
    return { ok: true, setting: { key: 'battery_thresholds', stopDischargeV: t(m[1]!), stopChargeV: m[2] === '000' ? 'full' : t(m[2]!) }, unit: null };
  }
  if ((m = /^MCHGV(\d{3}),(\d{3})$/.exec(command))) return { ok: true, setting: { key: 'charge_voltages', bulkV: t(m[1]!), floatV: t(m[2]!) }, unit: null };
  if ((m = /^MCHGC(\d),(\d{3})$/.exec(command))) return { ok: true, setting: { key: 'max_charging_current', amps: Number(m[2]) }, unit: Number(m[1]) };
  if ((m = /^MUCHGC(\d),(\d{3})$/.exec(command))) return { ok: true, setting: { key: 'max_utility_charging_current', amps: Number(m[2]) }, unit: Number(m[1]) };
  if ((m = /^POP(\d)$/.exec(command))) {
    const v = OUTPUT_SOURCE_PRIORITIES[Number(m[1])];
    return v ? { ok: true, setting: { key: 'output_source_priority', value: v }, unit: null } : { ok: false, reason: `output source priority ${m[1]} unknown` };
  }
  if ((m = /^PCP(\d),(\d)$/.exec(command))) {
    const v = CHARGER_PRIORITIES[Number(m[2])];
    return v ? { ok: true, setting: { key: 'charger_priority', value: v }, unit: Number(m[1]) } : { ok: false, reason: `charger priority ${m[2]} unknown` };
  }
  if ((m = /^PSP(\d)$/.exec(command))) {
    const v = SOLAR_POWER_PRIORITIES[Number(m[1])];
    return v ? { ok: true, setting: { key: 'solar_power_priority', value: v }, unit: null } : { ok: false, reason: `solar power priority ${m[1]} unknown` };
  }
  if (command === 'PEI' || command === 'PDI') return { ok: true, setting: { key: 'grid_tie', enabled: command === 'PEI' }, unit: null };
  return { ok: false, reason: `not a profile setter: ${JSON.stringify(command)}` };
}

/** Which PIRI fields a setter writes: what its read-back compares (WF §5; §5 "Readback source"). */
export function settingMatchesPiri(s: Pi18Setting, piri: Piri): boolean {
  const v = (a: number, b: number) => Math.abs(a - b) <= 0.05 + 1e-9;
  switch (s.key) {
    case 'battery_type':
      return piri.batteryType === s.value;
    case 'cutoff_voltage':
      return v(piri.cutoffVoltageV, s.volts);
    case 'battery_thresholds':
      return v(piri.stopDischargeVoltageV, s.stopDischargeV) && v(piri.stopChargeVoltageV, s.stopChargeV === 'full' ? 0 : s.stopChargeV);
    case 'charge_voltages':
      return v(piri.bulkVoltageV, s.bulkV) && v(piri.floatVoltageV, s.floatV);
    case 'max_charging_current':
      return piri.maxChargingCurrentA === s.amps;
    case 'max_utility_charging_current':
      return piri.maxUtilityChargingCurrentA === s.amps;
    case 'output_source_priority':
      return piri.outputSourcePriority === s.value;
    case 'charger_priority':
      return piri.chargerPriority === s.value;
    case 'solar_power_priority':
      return piri.solarPowerPriority === s.value;
    case 'grid_tie':
      return piri.machineType === (s.enabled ? 'grid_tie' : 'off_grid');
  }
}

/** Applies a (valid) setting to a PIRI in place: what the unit stores, and what a read-back should show. */
export function applySettingToPiri(p: Piri, s: Pi18Setting): void {
  switch (s.key) {
    case 'battery_type':
      p.batteryType = s.value;
      break;
    case 'cutoff_voltage':
      p.cutoffVoltageV = s.volts;
      break;
    case 'battery_thresholds':
      p.stopDischargeVoltageV = s.stopDischargeV;
      p.stopChargeVoltageV = s.stopChargeV === 'full' ? 0 : s.stopChargeV;
      break;
    case 'charge_voltages':
      p.bulkVoltageV = s.bulkV;
      p.floatVoltageV = s.floatV;
      break;
    case 'max_charging_current':
      p.maxChargingCurrentA = s.amps;
      break;
    case 'max_utility_charging_current':
      p.maxUtilityChargingCurrentA = s.amps;
      break;
    case 'output_source_priority':
      p.outputSourcePriority = s.value;
      break;
    case 'charger_priority':
      p.chargerPriority = s.value;
      break;
    case 'solar_power_priority':
      p.solarPowerPriority = s.value;
      break;
    case 'grid_tie':
      p.machineType = s.enabled ? 'grid_tie' : 'off_grid';
      break;
  }
}

/** Encodes a PIRI back to its payload (the simulator's reply; inverse of decodePiri for known codes). */
export function encodePiriPayload(p: Piri): string {
  const t = (v: number, w = 4) => String(Math.round(v * 10)).padStart(w, '0');
  const e = <T extends string>(names: readonly T[], v: Enum<T>) => String(isUnknown(v) ? v.unknown : names.indexOf(v));
  return [
    t(p.acInputRatedVoltageV),
    t(p.acInputRatedCurrentA, 3),
    t(p.acOutputRatedVoltageV),
    t(p.acOutputRatedFrequencyHz, 3),
    t(p.acOutputRatedCurrentA, 3),
    String(p.acOutputRatedApparentPowerVA).padStart(4, '0'),
    String(p.acOutputRatedActivePowerW).padStart(4, '0'),
    t(p.batteryRatedVoltageV, 3),
    t(p.stopDischargeVoltageV, 3),
    t(p.stopChargeVoltageV, 3),
    t(p.cutoffVoltageV, 3),
    t(p.bulkVoltageV, 3),
    t(p.floatVoltageV, 3),
    e(BATTERY_TYPES, p.batteryType),
    String(p.maxUtilityChargingCurrentA).padStart(2, '0'),
    String(p.maxChargingCurrentA).padStart(3, '0'),
    e(INPUT_RANGES, p.inputVoltageRange),
    e(OUTPUT_SOURCE_PRIORITIES, p.outputSourcePriority),
    e(CHARGER_PRIORITIES, p.chargerPriority),
    String(p.parallelMaxNum),
    e(MACHINE_TYPES, p.machineType),
    e(TOPOLOGIES, p.topology),
    e(OUTPUT_MODES, p.outputMode),
    e(SOLAR_POWER_PRIORITIES, p.solarPowerPriority),
    String(p.mpptStrings),
    ...p.extra,
  ].join(',');
}
