/**
 * Eltek Flatpack2 device codec: CAN frames ⇄ typed messages in engineering units.
 * Byte layouts, ids and vectors: /work/shared/protocols/flatpack2.md §1–§4.
 *
 * Pure: no I/O, no timers. `decodeFp2` never throws; a frame it does not know is `unknown`
 * (callers record it), a Flatpack2 id with an impossible shape, or a status/default-voltage
 * value outside FP2_BOUNDS, is `invalid` with a reason (so it never becomes telemetry or a
 * control input). The variable Waveshare framing has no checksum, so these bounds are the last
 * filter against a corrupted byte.
 * Encoders throw RangeError only for values the wire cannot carry (negative, NaN, too big);
 * policy (voltage/current limits, OVP margin) belongs to the command gate.
 */
import type { CanFrame } from '../can/types.js';

export const FP2 = {
  /** Device class in id bits 28..24: rectifier. */
  CLASS: 0x05,
  BROADCAST_ADDR: 0xff,
  MIN_ADDR: 1,
  MAX_ADDR: 0x3f,
  /** Broadcast SET; the low nibble picks the walk-in (§2.4). */
  SET_SHORT: 0x05ff4004,
  SET_LONG: 0x05ff4005,
  /** Login / keep-alive: LOGIN_BASE | addr << 2 (§2.2). */
  LOGIN_BASE: 0x05004800,
  /** Status: `0x05UU40SS`, matched with STATUS_MASK (§2.3, §3). */
  STATUS_BASE: 0x05004000,
  STATUS_MASK: 0xff00ff00,
  HELLO_BASE: 0x05000000,
  /** Low 16 id bits of a hello = last two serial bytes & HELLO_TAIL_MASK (§2.2). */
  HELLO_TAIL_MASK: 0x3fff,
  HELLO_PREFIXES: [0x1b, 0x1c, 0x1d] as readonly number[],
  /** Function codes (id bits 15..0) of addressed messages. */
  FUNC_LOGIN_REQUEST: 0x4400,
  FUNC_DEFAULT_VOLTAGE: 0x9c00,
  FUNC_ALERT: 0xbffc,
  /** UQF's alternative alert id; replies come back on the id that was asked. */
  FUNC_ALERT_ALT: 0xbc00,
  OP_ALERT_REQUEST: 0x08,
  OP_ALERT_REPLY: 0x0e,
  ALERT_TYPE_WARNINGS: 0x04,
  ALERT_TYPE_ALARMS: 0x08,
  OP_IDENTITY_REQUEST: 0x50,
  OP_IDENTITY_REPLY: 0x53,
  /** Enumeration prompt id and payload (§2.1). */
  ENUMERATE_ID: 0x0500bc02,
  OP_ENUMERATE: 0x6d,
  FUNC_PARK: 0xac02,
  FUNC_PARK_ACK: 0xac00,
  OP_PARK: 0x7b,
  OP_PARK_ACK: 0x33,
  /** Functions of the one-value reads of §2.7. */
  FUNC_READ: [0x9800, 0x9804, 0x9ffc, 0x9c00] as readonly number[],
  /** Identity selectors the reference names (§2.7). */
  SEL_MODEL: 0x00,
  SEL_SERIAL: 0x08,
  SEL_BUILD_YEAR: 0x14,
  OP_DEFAULT_VOLTAGE_WRITE: 0x29,
  OP_DEFAULT_VOLTAGE_ACK: 0x2b,
  SEL_DEFAULT_VOLTAGE: 0x15,
  STATE_NORMAL: 0x04,
  STATE_WARNING: 0x08,
  STATE_ALARM: 0x0c,
  STATE_WALK_IN: 0x10,
  /** SET current field meaning "no limit". */
  NO_CURRENT_LIMIT: 0xffff,
  /** Timing (§2.8). */
  STATUS_PERIOD_MS: 200,
  STATUS_BUDGET_FRAMES: 64,
  HELLO_PERIOD_MS: 2000,
  LOGIN_REQUEST_PERIOD_MS: 10_000,
  WALK_IN_SHORT_MS: 5000,
  WALK_IN_LONG_MS: 60_000,
} as const;

/**
 * Plausibility bounds of every decoded numeric reading (inclusive), for the whole 48 V
 * Flatpack2 family (flatpack2.md §2.3, §2.9). A status outside them is `invalid`, never a reading.
 */
export const FP2_BOUNDS = {
  /**
   * Vout, 0.01 V. The PSU cannot hold its output above its OVP, whose highest accepted
   * setting is 65.0 V (§2.9); 0 V is a real reading (output off, walk-in start). Near zero
   * output the bytes were seen to decode to ~652 V (NGU, §2.3): that is what this rejects.
   */
  outputVoltageV: [0, 65],
  /**
   * Iout, 0.1 A. The largest 48 V family member (3000 W) is rated 62.5 A (§2.9: rating / 48 V;
   * the 2000 W unit reached 42.2 A on 240 V mains); 70 A leaves ~10 % for a current-limit
   * overshoot. 0xFFFF = 6553.5 A is a corrupted frame, not a current.
   */
  outputCurrentA: [0, 70],
  /**
   * Vin, 1 V AC rms. Flatpack2 datasheet input range 85–300 VAC (high-mains shutdown above
   * it); 350 V leaves room for a surge reading, 65535 V is a corrupted frame. 0 V is what a
   * unit reports in its low-mains alarm while it still talks (simulator and NGU bench notes).
   */
  inputVoltageV: [0, 350],
  /**
   * Intake (ambient) temperature, unsigned °C. Datasheet operating ambient up to +75 °C (derating
   * above ~45 °C); no unit breathes 100 °C air and keeps running. The byte is unsigned, so
   * 255 °C is a corrupted frame (a sub-zero reading, if the PSU sent one as 0xFx, would be
   * refused too: fail-safe, the PSU then shows offline rather than at 250 °C).
   */
  intakeTempC: [0, 100],
  /**
   * Exhaust (output) temperature, unsigned °C. The unit shuts down on high temperature (the
   * simulator alarms at 95 °C); 125 °C is the limit of the semiconductors inside. 255 °C is
   * a corrupted frame.
   */
  outputTempC: [0, 125],
  /** Default (power-on) voltage in a write/ack: the PSU's output range is 43.5–57.6 V, its OVP ≤ 65 V (§2.5, §2.9). */
  defaultVoltageV: [0, 65],
} as const satisfies Record<string, readonly [number, number]>;

export type Fp2State = 'normal' | 'warning' | 'alarm' | 'walk-in' | 'unknown';
export type AlertType = 'warnings' | 'alarms';

export type Fp2Message =
  | { kind: 'hello'; serial: string; prefix: number }
  | { kind: 'login-request'; addr: number; serial: string }
  | { kind: 'login'; addr: number; serial: string }
  | {
      kind: 'status';
      addr: number;
      stateCode: number;
      state: Fp2State;
      intakeTempC: number;
      currentA: number;
      voltageV: number;
      inputVoltageV: number;
      outputTempC: number;
    }
  | { kind: 'set'; currentA: number | null; measuredV: number; voltageV: number; ovpV: number; walkIn: 'short' | 'long' }
  | { kind: 'default-voltage'; addr: number; voltageV: number; ack: boolean }
  | { kind: 'alert-request'; addr: number; type: AlertType }
  | { kind: 'alerts'; addr: number; type: AlertType; bits: number; names: string[] }
  /** Identity read (§2.1, §2.7): `50 sel 00` on `0x05UUBC00` / `BFFC`. */
  | { kind: 'identity-request'; addr: number; selector: number }
  /** One chunk of an identity reply: `53 sel seq data…`; seq bit 7 marks the first chunk, the low bits count down to 1 (0: a one-frame value). */
  | { kind: 'identity-reply'; addr: number; selector: number; seq: number; first: boolean; last: boolean; data: Uint8Array }
  /** Enumeration prompt (TX) `0x0500BC02 6D 30 00`: every PSU answers with a login request, logged in or not. */
  | { kind: 'enumerate' }
  /** Park / release (efficiency manager, TX) `0x05UUAC02 7B 04 00 VV VV 01 01`, V×10 big-endian. */
  | { kind: 'park'; addr: number; voltageV: number; flags: number }
  /** Its ack (RX) `0x05UUAC00 33 05 00 VV VV 01 01`. */
  | { kind: 'park-ack'; addr: number; voltageV: number; flags: number }
  /** A one-value read (§2.7): even op `[op sel 00]`. */
  | { kind: 'read-request'; addr: number; func: number; op: number; selector: number }
  /** Its reply: op + 3, `[op sel 00 lo hi]`, with its meaning where the reference names it. */
  | { kind: 'read-reply'; addr: number; func: number; op: number; selector: number; raw: number; name: string | null; value: number | null; unit: string | null }
  | { kind: 'unknown' }
  | { kind: 'invalid'; reason: string };

export type Fp2Status = Extract<Fp2Message, { kind: 'status' }>;
export type Fp2StatusFields = Omit<Fp2Status, 'kind' | 'state'> & { state?: Fp2State };

/**
 * Warning/alarm bit names, bit 0..15: B1 and the 6P4C/NEG/MTI reading of B2 (§2.6).
 * The B2 layout is disputed (NGU differs for bits 10–12), so callers keep the raw bits too.
 * Bit 10 really has the same name as bit 2 in that table.
 */
export const ALERT_BIT_NAMES: readonly string[] = Object.freeze([
  'OVS lock-out',
  'Module fail primary',
  'Module fail secondary',
  'High mains',
  'Low mains',
  'High temperature',
  'Low temperature',
  'Current limit',
  'Internal voltage',
  'Module fail',
  'Module fail secondary',
  'Fan 1 speed low',
  'Fan 2 speed low',
  'Sub-module 1 fail',
  'Fan 3 speed low',
  'Inner voltage',
]);

/** Bit numbers used by the simulator and by policy (e.g. stop charging on High temperature). */
export const ALERT_BIT = {
  OVS_LOCKOUT: 0,
  HIGH_MAINS: 3,
  LOW_MAINS: 4,
  HIGH_TEMPERATURE: 5,
  CURRENT_LIMIT: 7,
} as const;

/** Active names, in bit order 0..15. */
export function alertNames(bits: number): string[] {
  const names: string[] = [];
  for (let i = 0; i < 16; i++) if (bits & (1 << i)) names.push(ALERT_BIT_NAMES[i]);
  return names;
}

export function stateFromCode(code: number): Fp2State {
  switch (code) {
    case FP2.STATE_NORMAL:
      return 'normal';
    case FP2.STATE_WARNING:
      return 'warning';
    case FP2.STATE_ALARM:
      return 'alarm';
    case FP2.STATE_WALK_IN:
      return 'walk-in';
    default:
      return 'unknown';
  }
}

// ---- ids -------------------------------------------------------------------------------

export const statusId = (addr: number, stateCode: number): number =>
  (FP2.STATUS_BASE | ((addr & 0xff) << 16) | (stateCode & 0xff)) >>> 0;
export const loginId = (addr: number): number => (FP2.LOGIN_BASE | ((addr & 0x3f) << 2)) >>> 0;
export const loginRequestId = (addr: number): number => (0x05000000 | ((addr & 0xff) << 16) | FP2.FUNC_LOGIN_REQUEST) >>> 0;
export const alertId = (addr: number, func: number = FP2.FUNC_ALERT): number =>
  (0x05000000 | ((addr & 0xff) << 16) | (func & 0xffff)) >>> 0;
export const defaultVoltageId = (addr: number): number =>
  (0x05000000 | ((addr & 0xff) << 16) | FP2.FUNC_DEFAULT_VOLTAGE) >>> 0;
/** Hello id from the serial's BCD bytes: tail = (b4 << 8 | b5) & 0x3FFF (§2.2). */
export const helloId = (serialBcd: Uint8Array): number =>
  (FP2.HELLO_BASE | (((serialBcd[4] << 8) | serialBcd[5]) & FP2.HELLO_TAIL_MASK)) >>> 0;

// ---- serials -----------------------------------------------------------------------------

const HEX2: string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).toUpperCase().padStart(2, '0'));

/**
 * 6 packed-BCD bytes → 12-digit serial, most significant byte first ("192750001639").
 * Non-BCD nibbles come out as hex digits (A–F), which is what MTI prints for every serial,
 * so a malformed serial is still a stable key rather than a lost frame.
 */
export function serialFromBcd(bytes: Uint8Array, offset: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += HEX2[bytes[offset + i] ?? 0];
  return s;
}

/** 12 digits → 6 packed-BCD bytes. Hex digits are accepted so serialFromBcd round-trips. */
export function serialToBcd(serial: string): Uint8Array {
  if (!/^[0-9A-Fa-f]{12}$/.test(serial)) {
    throw new RangeError(`serial "${serial}" is not 12 digits; a Flatpack2 serial is 6 BCD bytes like "192750001639"`);
  }
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) out[i] = parseInt(serial.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// ---- decode -----------------------------------------------------------------------------

const UNKNOWN: Fp2Message = Object.freeze({ kind: 'unknown' }) as Fp2Message;

function invalid(reason: string): Fp2Message {
  return { kind: 'invalid', reason };
}

function statusInvalid(addr: number, field: string, value: string, unit: string, bound: readonly [number, number]): Fp2Message {
  return invalid(`status from PSU ${addr} with ${field} ${value} ${unit} outside ${bound[0]}–${bound[1]} ${unit}: impossible reading, frame dropped`);
}

function dlcInvalid(what: string, got: number, expected: number): Fp2Message {
  return invalid(`${what} frame with DLC ${got}, expected ${expected}`);
}

function alertTypeOf(code: number): AlertType | null {
  return code === FP2.ALERT_TYPE_WARNINGS ? 'warnings' : code === FP2.ALERT_TYPE_ALARMS ? 'alarms' : null;
}

/** Frame → message. Hot path (status at 5 Hz per PSU, benchmarked): no regex, no strings for status. */
export function decodeFp2(frame: CanFrame): Fp2Message {
  // Every Flatpack2 frame is a 29-bit data frame (§1).
  if (!frame.extended || frame.remote) return UNKNOWN;
  const id = frame.id;
  if (id >>> 24 !== FP2.CLASS) return UNKNOWN;
  const d = frame.data;
  const n = d.length;
  const addr = (id >>> 16) & 0xff;
  const func = id & 0xffff;

  // 0x05UU40SS: status, except the broadcast SET ids that share the pattern.
  if ((id & FP2.STATUS_MASK) === FP2.STATUS_BASE) {
    if (id === FP2.SET_SHORT || id === FP2.SET_LONG) {
      if (n !== 8) return dlcInvalid('SET', n, 8);
      const rawI = d[0] | (d[1] << 8);
      return {
        kind: 'set',
        currentA: rawI === FP2.NO_CURRENT_LIMIT ? null : rawI / 10,
        measuredV: (d[2] | (d[3] << 8)) / 100,
        voltageV: (d[4] | (d[5] << 8)) / 100,
        ovpV: (d[6] | (d[7] << 8)) / 100,
        walkIn: id === FP2.SET_LONG ? 'long' : 'short',
      };
    }
    if (n !== 8) return dlcInvalid('status', n, 8);
    const voltageV = (d[3] | (d[4] << 8)) / 100;
    const currentA = (d[1] | (d[2] << 8)) / 10;
    const inputVoltageV = d[5] | (d[6] << 8);
    const intakeTempC = d[0];
    const outputTempC = d[7];
    const B = FP2_BOUNDS;
    // Checked in this order; the first field outside its bound is the reason. Plain
    // comparisons, no allocation: this is the 5 Hz-per-PSU hot path.
    if (voltageV > B.outputVoltageV[1]) return statusInvalid(addr, 'Vout', voltageV.toFixed(2), 'V', B.outputVoltageV);
    if (currentA > B.outputCurrentA[1]) return statusInvalid(addr, 'Iout', currentA.toFixed(1), 'A', B.outputCurrentA);
    if (inputVoltageV > B.inputVoltageV[1]) return statusInvalid(addr, 'Vin', String(inputVoltageV), 'V', B.inputVoltageV);
    if (intakeTempC > B.intakeTempC[1]) return statusInvalid(addr, 'intake temperature', String(intakeTempC), '°C', B.intakeTempC);
    if (outputTempC > B.outputTempC[1]) return statusInvalid(addr, 'exhaust temperature', String(outputTempC), '°C', B.outputTempC);
    const stateCode = id & 0xff;
    return {
      kind: 'status',
      addr,
      stateCode,
      state: stateFromCode(stateCode),
      intakeTempC,
      currentA,
      voltageV,
      inputVoltageV,
      outputTempC,
    };
  }

  // 0x050048xx: login, low byte = addr << 2.
  if (addr === 0 && (func & 0xff00) === 0x4800 && (func & 0x03) === 0) {
    if (n !== 8) return dlcInvalid('login', n, 8);
    return { kind: 'login', addr: (func & 0xff) >>> 2, serial: serialFromBcd(d, 0) };
  }

  if (func === FP2.FUNC_LOGIN_REQUEST) {
    if (n !== 8) return dlcInvalid('login request', n, 8);
    return { kind: 'login-request', addr, serial: serialFromBcd(d, 0) };
  }

  if (id === FP2.ENUMERATE_ID) {
    if (n !== 3 || d[0] !== FP2.OP_ENUMERATE) return UNKNOWN;
    return { kind: 'enumerate' };
  }

  if (func === FP2.FUNC_PARK || func === FP2.FUNC_PARK_ACK) {
    const op = n > 0 ? d[0] : -1;
    if (op !== (func === FP2.FUNC_PARK ? FP2.OP_PARK : FP2.OP_PARK_ACK)) return UNKNOWN;
    if (n !== 7) return dlcInvalid(func === FP2.FUNC_PARK ? 'park' : 'park ack', n, 7);
    const voltageV = ((d[3] << 8) | d[4]) / 10;
    const flags = (d[5] << 8) | d[6];
    if (voltageV > FP2_BOUNDS.outputVoltageV[1]) return invalid(`park voltage ${voltageV.toFixed(1)} V for PSU ${addr} outside 0–${FP2_BOUNDS.outputVoltageV[1]} V: corrupted frame`);
    return func === FP2.FUNC_PARK ? { kind: 'park', addr, voltageV, flags } : { kind: 'park-ack', addr, voltageV, flags };
  }

  if (func === FP2.FUNC_DEFAULT_VOLTAGE || FP2.FUNC_READ.includes(func)) {
    const op = n > 0 ? d[0] : -1;
    if (op !== FP2.OP_DEFAULT_VOLTAGE_WRITE && op !== FP2.OP_DEFAULT_VOLTAGE_ACK) return decodeRead(addr, func, d);
    if (n !== 5) return dlcInvalid('default voltage', n, 5);
    if (d[1] !== FP2.SEL_DEFAULT_VOLTAGE) return UNKNOWN;
    const voltageV = (d[3] | (d[4] << 8)) / 100;
    if (voltageV > FP2_BOUNDS.defaultVoltageV[1]) {
      return invalid(`default voltage ${voltageV.toFixed(2)} V for PSU ${addr} outside ${FP2_BOUNDS.defaultVoltageV[0]}–${FP2_BOUNDS.defaultVoltageV[1]} V: corrupted frame`);
    }
    return { kind: 'default-voltage', addr, voltageV, ack: op === FP2.OP_DEFAULT_VOLTAGE_ACK };
  }

  if (func === FP2.FUNC_ALERT || func === FP2.FUNC_ALERT_ALT) {
    const op = n > 0 ? d[0] : -1;
    if (op === FP2.OP_ALERT_REQUEST) {
      if (n !== 3) return dlcInvalid('alert request', n, 3);
      const type = alertTypeOf(d[1]);
      if (!type) return invalid(`alert request to PSU ${addr} with type 0x${HEX2[d[1]]}, expected 04 or 08`);
      return { kind: 'alert-request', addr, type };
    }
    if (op === FP2.OP_ALERT_REPLY) {
      if (n !== 7) return dlcInvalid('alert reply', n, 7);
      const type = alertTypeOf(d[1]);
      if (!type) return invalid(`alert reply from PSU ${addr} with type 0x${HEX2[d[1]]}, expected 04 or 08`);
      const bits = d[3] | (d[4] << 8);
      return { kind: 'alerts', addr, type, bits, names: alertNames(bits) };
    }
    if (op === FP2.OP_IDENTITY_REQUEST) {
      if (n !== 3) return dlcInvalid('identity request', n, 3);
      return { kind: 'identity-request', addr, selector: d[1] };
    }
    if (op === FP2.OP_IDENTITY_REPLY) {
      if (n < 4) return dlcInvalid('identity reply', n, 4);
      const seq = d[2];
      const first = (seq & 0x80) !== 0 || seq === 0;
      const left = seq & 0x7f;
      return { kind: 'identity-reply', addr, selector: d[1], seq, first, last: left <= 1, data: d.slice(3) };
    }
    return UNKNOWN;
  }

  // 0x0500xxxx with xxxx ≤ 0x3FFF: hello (§2.2's robust filter, plus the known prefixes).
  if (addr === 0 && func <= FP2.HELLO_TAIL_MASK) {
    if (n !== 8) return dlcInvalid('hello', n, 8);
    const prefix = d[0];
    const tailMatches = (((d[5] << 8) | d[6]) & FP2.HELLO_TAIL_MASK) === func;
    if (!tailMatches && prefix !== 0x1b && prefix !== 0x1c && prefix !== 0x1d) return UNKNOWN;
    return { kind: 'hello', serial: serialFromBcd(d, 1), prefix };
  }

  return UNKNOWN;
}

/** The one-value reads the reference names (§2.7), by function, reply op and selector. */
const READS: ReadonlyArray<{ funcs: readonly number[]; op: number; selector: number; name: string; scale: number; unit: string; bound: readonly [number, number] }> = [
  { funcs: [0x9ffc, 0x9c00], op: 0x23, selector: 0x01, name: 'available max current', scale: 0.1, unit: 'A', bound: FP2_BOUNDS.outputCurrentA },
  { funcs: [0x9800], op: 0x23, selector: 0x00, name: 'intake temperature', scale: 1, unit: '°C', bound: FP2_BOUNDS.intakeTempC },
  { funcs: [0x9804], op: 0xcb, selector: 0x01, name: 'AC input voltage', scale: 1, unit: 'V', bound: FP2_BOUNDS.inputVoltageV },
];

/** `[op sel 00]` (even op: a read) or `[op sel 00 lo hi]` (a reply, op = request + 3). */
function decodeRead(addr: number, func: number, d: Uint8Array): Fp2Message {
  const n = d.length;
  if (n === 3 && d[2] === 0 && (d[0] & 1) === 0) return { kind: 'read-request', addr, func, op: d[0], selector: d[1] };
  if (n === 5 && d[2] === 0) {
    const raw = d[3] | (d[4] << 8);
    const known = READS.find((r) => r.op === d[0] && r.selector === d[1] && r.funcs.includes(func));
    // A named value is a reading: outside its plausibility bound it is a corrupted frame (defect 8.7's rule).
    if (known && raw * known.scale > known.bound[1]) {
      return invalid(`${known.name} ${Math.round(raw * known.scale * 10) / 10} ${known.unit} from PSU ${addr} outside ${known.bound[0]}–${known.bound[1]} ${known.unit}: corrupted frame`);
    }
    return {
      kind: 'read-reply',
      addr,
      func,
      op: d[0],
      selector: d[1],
      raw,
      name: known?.name ?? null,
      value: known ? Math.round(raw * known.scale * 10) / 10 : null,
      unit: known?.unit ?? null,
    };
  }
  return UNKNOWN;
}

/** The identity a Flatpack2 reports (§2.7): decoded from the assembled reply of each selector. */
export interface Fp2Identity {
  model: string | null;
  serial: string | null;
  buildYear: number | null;
  /** Every selector's assembled bytes in hex (part number, HW version: selectors the reference does not pin). */
  raw: Record<string, string>;
}

/**
 * Assembles identity-reply chunks (one selector's chunks arrive in order, the first with bit 7
 * of seq set) and decodes the selectors the reference names. Pure: feed it messages.
 */
export class Fp2IdentityAssembler {
  private readonly parts = new Map<number, number[]>();
  private readonly done = new Map<number, Uint8Array>();

  /** Returns the selector whose value just completed, or null. */
  add(m: Extract<Fp2Message, { kind: 'identity-reply' }>): number | null {
    if (m.first) this.parts.set(m.selector, []);
    const acc = this.parts.get(m.selector);
    if (!acc) return null; // a middle chunk without its first: dropped
    acc.push(...m.data);
    if (!m.last) return null;
    this.parts.delete(m.selector);
    this.done.set(m.selector, Uint8Array.from(acc));
    return m.selector;
  }

  has(selector: number): boolean {
    return this.done.has(selector);
  }

  identity(): Fp2Identity {
    const raw: Record<string, string> = {};
    for (const [sel, b] of this.done) raw[`0x${HEX2[sel]}`] = [...b].map((x) => HEX2[x]).join(' ');
    const model = this.done.get(FP2.SEL_MODEL);
    const serial = this.done.get(FP2.SEL_SERIAL);
    const year = this.done.get(FP2.SEL_BUILD_YEAR);
    return {
      model: model ? String.fromCharCode(...model).replace(/\0+$/, '').trim() : null,
      serial: serial && serial.length >= 6 ? serialFromBcd(serial, 0) : null,
      buildYear: year && year.length >= 2 ? year[0] | (year[1] << 8) : null,
      raw,
    };
  }
}

/** A frame's meaning in words for the frame inspector, for the frames beyond the hot path (null: the kind says it all). */
export function fp2Text(m: Fp2Message): string | null {
  switch (m.kind) {
    case 'identity-request':
      return `identity read of PSU ${m.addr}, ${IDENTITY_NAMES[m.selector] ?? `selector 0x${HEX2[m.selector]}`}`;
    case 'identity-reply':
      return `identity reply from PSU ${m.addr}, ${IDENTITY_NAMES[m.selector] ?? `selector 0x${HEX2[m.selector]}`}, ${m.first ? 'first' : 'next'} chunk${m.last ? ' (last)' : ''}: ${[...m.data].map((x) => HEX2[x]).join(' ')}`;
    case 'enumerate':
      return 'enumeration prompt: every PSU answers with a login request';
    case 'park':
      return `park/release PSU ${m.addr} at ${m.voltageV.toFixed(1)} V (flags ${m.flags.toString(16).padStart(4, '0')})`;
    case 'park-ack':
      return `park ack from PSU ${m.addr}: ${m.voltageV.toFixed(1)} V (flags ${m.flags.toString(16).padStart(4, '0')})`;
    case 'read-request':
      return `read 0x${HEX2[m.op]} selector 0x${HEX2[m.selector]} of PSU ${m.addr}`;
    case 'read-reply':
      return m.name ? `PSU ${m.addr} ${m.name}: ${m.value} ${m.unit}` : `PSU ${m.addr} reply 0x${HEX2[m.op]} selector 0x${HEX2[m.selector]}: raw ${m.raw}`;
    default:
      return null;
  }
}

const IDENTITY_NAMES: Record<number, string> = { 0x00: 'model name', 0x08: 'serial number', 0x14: 'build year' };

/** Identity read request for one selector. */
export function encodeIdentityRequest(addr: number, selector: number, func: number = FP2.FUNC_ALERT_ALT): CanFrame {
  addrCheck(addr, FP2.MAX_ADDR, 'identity read');
  return frame((0x05000000 | (addr << 16) | func) >>> 0, Uint8Array.of(FP2.OP_IDENTITY_REQUEST, selector & 0xff, 0));
}

/** An identity reply for `value`, split into chunks of 5 bytes (seq: first | count, then count−1 … 1; one chunk → seq 0). */
export function encodeIdentityReply(addr: number, selector: number, value: Uint8Array, func: number = FP2.FUNC_ALERT_ALT): CanFrame[] {
  const id = (0x05000000 | (addr << 16) | func) >>> 0;
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < value.length; i += 5) chunks.push(value.slice(i, i + 5));
  if (chunks.length <= 1) return [frame(id, Uint8Array.of(FP2.OP_IDENTITY_REPLY, selector, 0, ...(chunks[0] ?? [])))];
  return chunks.map((c, i) => frame(id, Uint8Array.of(FP2.OP_IDENTITY_REPLY, selector, i === 0 ? 0x80 | chunks.length : chunks.length - i, ...c)));
}

// ---- encode -----------------------------------------------------------------------------

/** value × scale rounded to an unsigned wire integer, or RangeError if it cannot be carried. */
function units(value: number, scale: number, max: number, what: string): number {
  if (!(value >= 0) || !Number.isFinite(value)) throw new RangeError(`${what} ${value} cannot be encoded (must be a number ≥ 0)`);
  const u = Math.round(value * scale);
  if (u > max) throw new RangeError(`${what} ${value} cannot be encoded (max ${max / scale})`);
  return u;
}

function addrCheck(addr: number, max: number, what: string): number {
  if (!Number.isInteger(addr) || addr < 0 || addr > max) {
    throw new RangeError(`${what} address ${addr} cannot be encoded (0..${max})`);
  }
  return addr;
}

function frame(id: number, data: Uint8Array): CanFrame {
  return { id, extended: true, remote: false, data };
}

function putU16(d: Uint8Array, at: number, v: number): void {
  d[at] = v & 0xff;
  d[at + 1] = (v >>> 8) & 0xff;
}

function serialFrameData(serial: string): Uint8Array {
  const data = new Uint8Array(8);
  data.set(serialToBcd(serial), 0);
  return data;
}

/** Login / keep-alive for one PSU: `0x05004800 | addr << 2`, serial + `00 00` (§2.2). */
export function encodeLogin(serial: string, addr: number): CanFrame {
  addrCheck(addr, FP2.MAX_ADDR, 'login');
  return frame(loginId(addr), serialFrameData(serial));
}

/** Login request a logged-out PSU sends on `0x05UU4400` (simulator side). */
export function encodeLoginRequest(serial: string, addr: number): CanFrame {
  addrCheck(addr, 0xff, 'login request');
  return frame(loginRequestId(addr), serialFrameData(serial));
}

/** Hello on `0x0500xxxx` (simulator side): prefix, serial, 00. */
export function encodeHello(serial: string, prefix = 0x1b): CanFrame {
  const bcd = serialToBcd(serial);
  const data = new Uint8Array(8);
  data[0] = units(prefix, 1, 0xff, 'hello prefix');
  data.set(bcd, 1);
  return frame(helloId(bcd), data);
}

/**
 * Broadcast SET (§2.4): Ilim 0.1 A, Vmeas 0.01 V, Vset 0.01 V, OVP 0.01 V, all LE16.
 * `currentA: null` sends FFFF ("no limit"); a number that rounds to FFFF is refused since the
 * PSU would read it as no limit. measuredV defaults to the target, as MTI/TVK/UQF send it.
 */
export function encodeSet(p: {
  voltageV: number;
  currentA: number | null;
  ovpV: number;
  walkIn?: 'short' | 'long';
  measuredV?: number;
}): CanFrame {
  const data = new Uint8Array(8);
  const i = p.currentA === null ? FP2.NO_CURRENT_LIMIT : units(p.currentA, 10, 0xfffe, 'SET current (A)');
  putU16(data, 0, i);
  putU16(data, 2, units(p.measuredV ?? p.voltageV, 100, 0xffff, 'SET measured voltage (V)'));
  putU16(data, 4, units(p.voltageV, 100, 0xffff, 'SET voltage (V)'));
  putU16(data, 6, units(p.ovpV, 100, 0xffff, 'SET OVP (V)'));
  return frame(p.walkIn === 'long' ? FP2.SET_LONG : FP2.SET_SHORT, data);
}

function defaultVoltageFrame(addr: number, voltageV: number, op: number): CanFrame {
  addrCheck(addr, 0xff, 'default voltage');
  const data = new Uint8Array(5);
  data[0] = op;
  data[1] = FP2.SEL_DEFAULT_VOLTAGE;
  data[2] = 0;
  putU16(data, 3, units(voltageV, 100, 0xffff, 'default voltage (V)'));
  return frame(defaultVoltageId(addr), data);
}

/** Store the power-on voltage in EEPROM: `0x05UU9C00 29 15 00 Vlo Vhi` (§2.5). */
export function encodeDefaultVoltage(addr: number, voltageV: number): CanFrame {
  return defaultVoltageFrame(addr, voltageV, FP2.OP_DEFAULT_VOLTAGE_WRITE);
}

/** The PSU's acknowledgement `2B 15 00 Vlo Vhi` on the same id (simulator side). */
export function encodeDefaultVoltageAck(addr: number, voltageV: number): CanFrame {
  return defaultVoltageFrame(addr, voltageV, FP2.OP_DEFAULT_VOLTAGE_ACK);
}

const alertTypeCode = (type: AlertType): number => (type === 'warnings' ? FP2.ALERT_TYPE_WARNINGS : FP2.ALERT_TYPE_ALARMS);

/** `0x05UUBFFC 08 TT 00` (§2.6). */
export function encodeAlertRequest(addr: number, type: AlertType): CanFrame {
  addrCheck(addr, 0xff, 'alert request');
  return frame(alertId(addr), Uint8Array.of(FP2.OP_ALERT_REQUEST, alertTypeCode(type), 0));
}

/** Reply `0E TT 00 B1 B2 00 00` (simulator side); `func` lets it answer on the id it was asked on. */
export function encodeAlerts(addr: number, type: AlertType, bits: number, func: number = FP2.FUNC_ALERT): CanFrame {
  addrCheck(addr, 0xff, 'alerts');
  const b = units(bits, 1, 0xffff, 'alert bits');
  return frame(alertId(addr, func), Uint8Array.of(FP2.OP_ALERT_REPLY, alertTypeCode(type), 0, b & 0xff, b >>> 8, 0, 0));
}

/** Status `0x05UU40SS` (simulator side): Tin, Iout 0.1 A, Vout 0.01 V, Vin 1 V, Tout (§2.3). */
export function encodeStatus(p: Fp2StatusFields): CanFrame {
  addrCheck(p.addr, 0xff, 'status');
  const data = new Uint8Array(8);
  data[0] = units(p.intakeTempC, 1, 0xff, 'intake temperature (°C)');
  putU16(data, 1, units(p.currentA, 10, 0xffff, 'status current (A)'));
  putU16(data, 3, units(p.voltageV, 100, 0xffff, 'status voltage (V)'));
  putU16(data, 5, units(p.inputVoltageV, 1, 0xffff, 'input voltage (V)'));
  data[7] = units(p.outputTempC, 1, 0xff, 'output temperature (°C)');
  return frame(statusId(p.addr, units(p.stateCode, 1, 0xff, 'state code')), data);
}
