/**
 * MK2 protocol codec (VE.Bus through an MK2/MK3; shared/protocols/vebus-mk2.md). Pure: no I/O,
 * no clock. Section numbers (§) refer to that reference.
 *
 * A frame on the wire is `LEN TYPE payload [ledOn ledBlink] CHECKSUM` (§2). In memory an
 * `Mk2Frame` keeps TYPE and the bytes after it (`body`, without the appended LED bytes and
 * without the checksum); for TYPE 0xFF `body[0]` is the ASCII command letter.
 */

// ---------------------------------------------------------------------------------------------
// Frames (§2)
// ---------------------------------------------------------------------------------------------

export interface Mk2Frame {
  /** 0xFF = MK command/reply; 0x20 info frame; 0x41 AC-input config; 0x40 panel; … (§2). */
  type: number;
  /** The bytes after TYPE, before the appended LED bytes and the checksum. */
  body: Uint8Array;
  /** LED status the MK appended (LEN bit 7, §2). */
  leds?: { on: number; blink: number };
}

export const TYPE_MK = 0xff;
export const TYPE_INFO = 0x20;
export const TYPE_ACIN = 0x41;
export const TYPE_PANEL = 0x40;
/** TYPEs a receiver accepts as a frame start (§2: MK2PY's sync words). */
export const KNOWN_TYPES: ReadonlySet<number> = new Set([0xff, 0x20, 0x21, 0x38, 0x3c, 0x3d, 0x3f, 0x40, 0x41]);
/** Raw VE.Bus frames whose checksum follows the odd rule (§2). */
export const ODD_CHECKSUM_TYPES: ReadonlySet<number> = new Set([0x21, 0x38, 0x3d, 0x3f]);
/** VELIB sizes buffers for 20 message bytes (§2): LEN & 0x7F never exceeds this. */
export const MAX_LEN = 20;

const nibbleSwap = (b: number): number => ((b >> 4) | (b << 4)) & 0xff;

/** The checksum byte for `bytes` (LEN … last byte before the checksum), normal or odd rule (§2). */
export function checksumOf(bytes: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum += bytes[i]!;
  if (bytes.length > 1 && ODD_CHECKSUM_TYPES.has(bytes[1]!)) {
    for (const off of [1, 3, 5]) if (off < bytes.length) sum += nibbleSwap(bytes[off]!);
  }
  return -sum & 0xff;
}

export function mkFrame(letter: string, ...data: number[]): Mk2Frame {
  return { type: TYPE_MK, body: Uint8Array.from([letter.charCodeAt(0), ...data.map((d) => d & 0xff)]) };
}

/** Whole wire bytes of a frame (LEN … CHECKSUM). Throws on a frame too long for LEN. */
export function encodeFrame(f: Mk2Frame): Uint8Array {
  const extra = f.leds ? 2 : 0;
  const len = 1 + f.body.length + extra;
  if (len > 0x7f) throw new Error(`MK2 frame too long: ${len} bytes after LEN`);
  const out = new Uint8Array(len + 2);
  out[0] = len | (f.leds ? 0x80 : 0);
  out[1] = f.type & 0xff;
  out.set(f.body, 2);
  if (f.leds) {
    out[2 + f.body.length] = f.leds.on & 0xff;
    out[3 + f.body.length] = f.leds.blink & 0xff;
  }
  out[out.length - 1] = checksumOf(out.subarray(0, out.length - 1));
  return out;
}

/** Parses exactly one whole frame (LEN … CHECKSUM); null when it is not one. */
export function decodeFrame(bytes: Uint8Array): Mk2Frame | null {
  if (bytes.length < 3) return null;
  const len = bytes[0]! & 0x7f;
  if (bytes.length !== len + 2 || len < 1) return null;
  if (checksumOf(bytes.subarray(0, bytes.length - 1)) !== bytes[bytes.length - 1]) return null;
  const hasLeds = (bytes[0]! & 0x80) !== 0;
  if (hasLeds && len < 3) return null;
  const end = bytes.length - 1 - (hasLeds ? 2 : 0);
  const f: Mk2Frame = { type: bytes[1]!, body: bytes.slice(2, end) };
  if (hasLeds) f.leds = { on: bytes[end]!, blink: bytes[end + 1]! };
  return f;
}

/** The command letter of an MK frame (TYPE 0xFF), else null. */
export function letterOf(f: Mk2Frame): string | null {
  return f.type === TYPE_MK && f.body.length > 0 ? String.fromCharCode(f.body[0]!) : null;
}

export const hex = (b: ArrayLike<number>): string =>
  Array.from(b as ArrayLike<number>, (x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ');

export function fromHex(s: string): Uint8Array {
  const parts = s.trim().split(/\s+/).filter(Boolean);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const s16 = (b: Uint8Array, o: number): number => (u16(b, o) << 16) >> 16;
const u24 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16);
const u32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const le16 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
export { u16 as readU16, s16 as readS16, le16, le32 };

// ---------------------------------------------------------------------------------------------
// Host → MK requests (§3, §4)
// ---------------------------------------------------------------------------------------------

export const versionRequest = (): Mk2Frame => mkFrame('V');
/** `A 01 addr`: select the VE.Bus device later winmon commands go to (§3). */
export const addressSelect = (address: number): Mk2Frame => mkFrame('A', 1, address);
export const addressQuery = (): Mk2Frame => mkFrame('A', 0, 0);
export const ledRequest = (): Mk2Frame => mkFrame('L');
export const resetMk = (): Mk2Frame => mkFrame('R');
/** `F n`: 0 DC, 1–4 AC L1–L4, 5 the 0x41 frame (§3.2). */
export const infoRequest = (n: number, ...args: number[]): Mk2Frame => mkFrame('F', n, ...args);

export const S_FLAG_AUTO_SEND_STATE = 0x01;
export const S_FLAG_APPEND_LEDS = 0x02;
export const S_FLAG_NO_SEND_STATE = 0x10;
export const S_FLAG_NEW_FORMAT = 0x80;
export const S_EXT0_COMPAT = 0x01;
export const S_LIMIT_UNCHANGED = 0x8000;

export interface StateCommand {
  /** 1 charger only, 2 inverter only, 3 on, 4 off. */
  switchState: 1 | 2 | 3 | 4;
  /** AC-input current limit in 0.1 A with S_FLAG_NEW_FORMAT; 0x8000 = leave unchanged. */
  limit: number;
  flags: number;
  /** Present = the extended form (offsets 5 and 6); bit 0 = compat/split frames. */
  ext0?: number;
  /** EEPROM flags (MK2PY only); sent only with ext0. */
  eeprom?: number;
}

/** `S` (§3.1). */
export function stateCommand(s: StateCommand): Mk2Frame {
  const data = [s.switchState, ...le16(s.limit), 0x01, s.flags];
  if (s.ext0 !== undefined) {
    data.push(0x00, s.ext0);
    if (s.eeprom !== undefined) data.push(s.eeprom);
  }
  return mkFrame('S', ...data);
}

/** The S the driver sends before any read (§5 step 3, MK2PY): combined frames, state not forwarded. */
export const combinedModeCommand = (): Mk2Frame =>
  stateCommand({ switchState: 3, limit: S_LIMIT_UNCHANGED, flags: S_FLAG_NO_SEND_STATE | S_FLAG_NEW_FORMAT, ext0: 0x00, eeprom: 0x00 });

export type WinmonLetter = 'W' | 'X' | 'Y' | 'Z';
export const WINMON_LETTERS: readonly WinmonLetter[] = ['W', 'X', 'Y', 'Z'];

export const WM = {
  SendLEDStatus: 0x02,
  SendSoftwareVersionPart0: 0x05,
  SendSoftwareVersionPart1: 0x06,
  GetSetDeviceState: 0x0e,
  ReadRAMVar: 0x30,
  ReadSetting: 0x31,
  WriteRAMVar: 0x32,
  WriteSetting: 0x33,
  WriteData: 0x34,
  GetSettingInfo: 0x35,
  GetRAMVarInfo: 0x36,
  WriteViaID: 0x37,
  ReadSnapShot: 0x38,
  AccessPassword: 0x3a,
} as const;

/** Response codes (§4). */
export const RC = {
  NotSupported: 0x80,
  LedStatus: 0x81,
  Version0: 0x82,
  Version1: 0x83,
  RamVars: 0x85,
  Setting: 0x86,
  RamVarWritten: 0x87,
  SettingWritten: 0x88,
  SettingInfo: 0x89,
  RamVarInfo: 0x8e,
  RamVarUnsupported: 0x90,
  SettingUnsupported: 0x91,
  DeviceState: 0x94,
  Snapshot: 0x99,
  AccessDenied: 0x9b,
  PasswordOk: 0x9c,
} as const;

export const winmon = (letter: WinmonLetter, cmd: number, ...args: number[]): Mk2Frame => mkFrame(letter, cmd, ...args);
export const readRamVars = (letter: WinmonLetter, ids: number[]): Mk2Frame => winmon(letter, WM.ReadRAMVar, ...ids);
export const readSetting = (letter: WinmonLetter, id: number): Mk2Frame => winmon(letter, WM.ReadSetting, ...le16(id));
export const getSettingInfo = (letter: WinmonLetter, id: number): Mk2Frame => winmon(letter, WM.GetSettingInfo, ...le16(id));
export const getRamVarInfo = (letter: WinmonLetter, id: number): Mk2Frame => winmon(letter, WM.GetRAMVarInfo, ...le16(id));
export const getDeviceState = (letter: WinmonLetter, request = 0): Mk2Frame => winmon(letter, WM.GetSetDeviceState, request, 0);
export const softwareVersion = (letter: WinmonLetter): Mk2Frame => winmon(letter, WM.SendSoftwareVersionPart0);

export const VIA_ID_SETTING = 0x01;
export const VIA_ID_RAM_ONLY = 0x02;
/** WriteViaID (0x37, combined mode): flags bit0 setting, bit1 RAM only (§4). */
export function writeViaId(letter: WinmonLetter, target: 'setting' | 'ram-var', id: number, raw: number, ramOnly = false): Mk2Frame {
  if (target === 'ram-var' && ramOnly) throw new Error('RAM-only is meaningless for a RAM variable (vebus-mk2.md §4)');
  if (id < 0 || id > 0xff) throw new Error(`WriteViaID takes a one-byte id, got ${id}`);
  const flags = (target === 'setting' ? VIA_ID_SETTING : 0) | (ramOnly ? VIA_ID_RAM_ONLY : 0);
  return winmon(letter, WM.WriteViaID, flags, id, ...le16(raw));
}
/** Two-step write, first half (compat mode only): 0x32 RAM var / 0x33 setting + u16 id; no reply. */
export const writeAddress = (letter: WinmonLetter, target: 'setting' | 'ram-var', id: number): Mk2Frame =>
  winmon(letter, target === 'setting' ? WM.WriteSetting : WM.WriteRAMVar, ...le16(id));
export const writeData = (letter: WinmonLetter, raw: number): Mk2Frame => winmon(letter, WM.WriteData, ...le16(raw));

// ---------------------------------------------------------------------------------------------
// MK replies (§3)
// ---------------------------------------------------------------------------------------------

export interface VersionInfo {
  version: number;
  /** 'B' / 'W' (no address selected yet) or the selected VE.Bus address. */
  tail: 'B' | 'W' | number;
}

/** `V` frame: u32 version + mode-or-address byte (§3, examples 3 and 4). */
export function decodeVersion(f: Mk2Frame): VersionInfo | null {
  if (letterOf(f) !== 'V' || f.body.length < 6) return null;
  const t = f.body[5]!;
  return { version: u32(f.body, 1), tail: t === 0x42 ? 'B' : t === 0x57 ? 'W' : t };
}

export function versionFrame(version: number, tail: 'B' | 'W' | number): Mk2Frame {
  return mkFrame('V', ...le32(version), tail === 'B' ? 0x42 : tail === 'W' ? 0x57 : tail);
}

export function decodeAddressReply(f: Mk2Frame): { action: number; address: number } | null {
  if (letterOf(f) !== 'A' || f.body.length < 3) return null;
  return { action: f.body[1]!, address: f.body[2]! };
}

export const LED_NAMES = ['mains', 'absorption', 'bulk', 'float', 'inverter', 'overload', 'low_battery', 'temperature'] as const;
export type LedName = (typeof LED_NAMES)[number];
export type LedState = 'off' | 'on' | 'blink' | 'blink-inverse';

/** Per LED: on-only lit, blink-only blinking, both = blinking in anti-phase; 1F/1F = no info (§6.3). */
export function decodeLeds(on: number, blink: number): Record<LedName, LedState> | null {
  if (on === 0x1f && blink === 0x1f) return null;
  const out = {} as Record<LedName, LedState>;
  LED_NAMES.forEach((name, bit) => {
    const o = (on >> bit) & 1;
    const b = (blink >> bit) & 1;
    out[name] = o && b ? 'blink-inverse' : o ? 'on' : b ? 'blink' : 'off';
  });
  return out;
}

export const ALARM_NAMES = [
  'temperature_pre_alarm',
  'low_battery_pre_alarm',
  'overload_pre_alarm',
  'ripple_pre_alarm',
  'temperature',
  'low_battery',
  'overload',
  'ripple',
] as const;

export const VEBUS_ERRORS: Record<number, string> = {
  1: 'phase missing',
  3: 'wrong device count',
  4: 'only one device',
  5: 'AC-out overvoltage',
  10: 'sync',
  14: 'sending',
  16: 'no dongle',
  17: 'new master',
  18: 'overvoltage',
  22: 'acting as slave',
  24: 'switch-over',
  25: 'firmware incompatible',
  26: 'internal error',
};

export interface LedReply {
  ledOn: number;
  ledBlink: number;
  leds: Record<LedName, LedState> | null;
  /** Absent in the 2-byte SPEC form (§10.2). */
  alarms: number | null;
  alarmNames: string[];
  /** VE.Bus error: low 5 bits of byte 4; null when the reply is shorter. */
  error: number | null;
  /** High 3 bits of byte 4 (0x80 = MK blocked). */
  errorFlags: number | null;
  /** The two undocumented trailing bytes of a real MK3 (§6.3, observed `80 00`). */
  extra: number[];
}

/** `L` reply: 2, 3 or 6 data bytes accepted (§10 divergence 2; MK2PY). */
export function decodeLedReply(f: Mk2Frame): LedReply | null {
  if (letterOf(f) !== 'L') return null;
  const d = f.body.subarray(1);
  if (d.length !== 2 && d.length !== 3 && d.length !== 6) return null;
  const alarms = d.length >= 3 ? d[2]! : null;
  return {
    ledOn: d[0]!,
    ledBlink: d[1]!,
    leds: decodeLeds(d[0]!, d[1]!),
    alarms,
    alarmNames: alarms === null ? [] : ALARM_NAMES.filter((_n, bit) => (alarms >> bit) & 1),
    error: d.length >= 6 ? d[3]! & 0x1f : null,
    errorFlags: d.length >= 6 ? d[3]! & 0xe0 : null,
    extra: d.length >= 6 ? [d[4]!, d[5]!] : [],
  };
}

// ---------------------------------------------------------------------------------------------
// Device states (§6.4)
// ---------------------------------------------------------------------------------------------

export const DEVICE_STATES = ['down', 'startup', 'off', 'slave', 'invert_full', 'invert_half', 'invert_aes', 'power_assist', 'bypass', 'charge'] as const;
export const CHARGE_SUBSTATES = [
  'init',
  'bulk',
  'absorption',
  'float',
  'storage',
  'repeated_absorption',
  'forced_absorption',
  'equalise',
  'bulk_stopped',
] as const;
export const deviceStateName = (s: number): string => DEVICE_STATES[s] ?? 'unknown';
export const chargeSubStateName = (s: number): string => CHARGE_SUBSTATES[s] ?? 'unknown';

// ---------------------------------------------------------------------------------------------
// Scaling metadata (§7)
// ---------------------------------------------------------------------------------------------

/** GetRAMVarInfo result (§7.1): raw words; `supported: false` for scale 0 or a bare 0x8E. */
export interface RamVarInfo {
  supported: boolean;
  scale: number; // int16
  offset: number; // int16 (0x8000 = -32768 marks a bit variable)
}

export type RamVarScaling =
  | { kind: 'unsupported' }
  | { kind: 'bit'; bit: number }
  | { kind: 'number'; signed: boolean; multiplier: number; offset: number };

/** §7.1 applied exactly: s 0 unsupported; o 0x8000 bit (s−1); s < 0 signed; |s| ≥ 0x4000 → 1/(0x8000−|s|). */
export function ramVarScaling(info: RamVarInfo): RamVarScaling {
  const s = info.scale;
  if (!info.supported || s === 0) return { kind: 'unsupported' };
  if ((info.offset & 0xffff) === 0x8000) {
    // A bit variable names bit s−1 of the word; s outside 1..16 cannot be one.
    return s >= 1 && s <= 16 ? { kind: 'bit', bit: s - 1 } : { kind: 'unsupported' };
  }
  const signed = s < 0;
  const abs = Math.abs(s);
  // |s| = 0x8000 (s = −32768) would divide by zero: no device sends it; treat as unsupported.
  if (abs >= 0x8000) return { kind: 'unsupported' };
  const multiplier = abs >= 0x4000 ? 1 / (0x8000 - abs) : abs;
  return { kind: 'number', signed, multiplier, offset: info.offset };
}

/** A raw RAM word → engineering value (number, or boolean for a bit variable); null if unsupported. */
export function applyRamVar(info: RamVarInfo, raw: number, opts: { forceSigned?: boolean } = {}): number | boolean | null {
  const sc = ramVarScaling(info);
  if (sc.kind === 'unsupported') return null;
  if (sc.kind === 'bit') return ((raw >> sc.bit) & 1) === 1;
  const r = sc.signed || opts.forceSigned ? ((raw & 0xffff) << 16) >> 16 : raw & 0xffff;
  return roundClean(sc.multiplier * (r + sc.offset));
}

/** Engineering value → raw word for a RAM variable write; null when it cannot be represented. */
export function rawOfRamVar(info: RamVarInfo, value: number | boolean, current = 0): number | null {
  const sc = ramVarScaling(info);
  if (sc.kind === 'unsupported') return null;
  if (sc.kind === 'bit') {
    if (typeof value !== 'boolean') return null;
    return value ? current | (1 << sc.bit) : current & ~(1 << sc.bit) & 0xffff;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return null;
  const r = Math.round(value / sc.multiplier - sc.offset);
  const [lo, hi] = sc.signed ? [-0x8000, 0x7fff] : [0, 0xffff];
  if (r < lo || r > hi) return null;
  return r & 0xffff;
}

/** Range of values a RAM variable can carry (for messages and the gate). */
export function ramVarRange(info: RamVarInfo): { min: number; max: number } | null {
  const sc = ramVarScaling(info);
  if (sc.kind !== 'number') return null;
  const [lo, hi] = sc.signed ? [-0x8000, 0x7fff] : [0, 0xffff];
  return { min: roundClean(sc.multiplier * (lo + sc.offset)), max: roundClean(sc.multiplier * (hi + sc.offset)) };
}

/** GetSettingInfo result (§7.2). default/min/max are raw. */
export interface SettingInfo {
  supported: boolean;
  scale: number; // int16
  offset: number; // int16
  default: number;
  min: number;
  max: number;
  /** fw ≥ 308 only; 0x01 grid-code protected, 0x80 change needs a reset. */
  access: number | null;
}

/** scale < 0 → 1/(−scale); scale > 0 → scale (§7.2). */
export function settingMultiplier(info: SettingInfo): number {
  return info.scale < 0 ? 1 / -info.scale : info.scale;
}
/** value = multiplier × (raw + offset) (§7.2). */
export function applySetting(info: SettingInfo, raw: number): number | null {
  if (!info.supported || info.scale === 0) return null;
  return roundClean(settingMultiplier(info) * (raw + info.offset));
}
/** Engineering value → raw (rounded to the nearest step). */
export function rawOfSetting(info: SettingInfo, value: number): number {
  return Math.round(value / settingMultiplier(info) - info.offset);
}

/** Removes binary noise such as 0.1 × 3 = 0.30000000000000004 (keeps 9 significant decimals). */
export function roundClean(x: number): number {
  return Math.round(x * 1e9) / 1e9;
}

// ---------------------------------------------------------------------------------------------
// Winmon replies (§4, §4.1)
// ---------------------------------------------------------------------------------------------

export interface WinmonReply {
  letter: WinmonLetter;
  code: number;
  data: Uint8Array;
}

export function decodeWinmon(f: Mk2Frame): WinmonReply | null {
  const l = letterOf(f);
  if (l !== 'W' && l !== 'X' && l !== 'Y' && l !== 'Z') return null;
  if (f.body.length < 2) return null;
  return { letter: l, code: f.body[1]!, data: f.body.subarray(2) };
}

/**
 * GetRAMVarInfo reply (0x8E) in every form of §4.1 / §10 divergence 3: bare `8E` (unsupported,
 * combined), `8E sc` (3 bytes; the offset may follow in a second `8F` frame), `8E sc off`
 * (combined), `8E sc 8F off` (compat). `8E 00 00` = scale 0 = unsupported (compat).
 * Returns null when the frame is not a 0x8E reply; `offsetPending` when only the scale came.
 */
export function decodeRamVarInfo(r: WinmonReply): (RamVarInfo & { offsetPending?: boolean }) | null {
  if (r.code !== RC.RamVarInfo) return null;
  const d = r.data;
  if (d.length === 0) return { supported: false, scale: 0, offset: 0 };
  if (d.length < 2) return null;
  const scale = s16(d, 0);
  if (d.length === 2) return { supported: scale !== 0, scale, offset: 0, offsetPending: scale !== 0 };
  if (d.length === 4) return { supported: scale !== 0, scale, offset: s16(d, 2) };
  if (d.length === 5 && d[2] === 0x8f) return { supported: scale !== 0, scale, offset: s16(d, 3) };
  return null;
}

/** The `8F off` second half of a split RAM-var info (compat mode on older devices). */
export function decodeRamVarOffset(r: WinmonReply): number | null {
  return r.code === 0x8f && r.data.length >= 2 ? s16(r.data, 0) : null;
}

/**
 * GetSettingInfo reply (0x89) in both forms of §4.1, including the divergences of §10.4:
 * combined `89 sc off def min max [acc]` (10 or 11 data bytes: VELIB's example has no access
 * byte, fw ≥ 308 adds it; MK2PY rejects the former, we accept both), split
 * `89 sc 8A off 8B def 8C min 8D max` (3-byte parts in one frame; MK2PY rejects it on purpose,
 * we accept it), bare `89` and `89 00 00` = unsupported (MK2PY would time out; we do not).
 */
export function decodeSettingInfo(r: WinmonReply): SettingInfo | null {
  if (r.code !== RC.SettingInfo) return null;
  const d = r.data;
  const unsupported: SettingInfo = { supported: false, scale: 0, offset: 0, default: 0, min: 0, max: 0, access: null };
  if (d.length === 0) return unsupported;
  if (d.length === 2 && u16(d, 0) === 0) return unsupported;
  if (d.length === 10 || d.length === 11) {
    const scale = s16(d, 0);
    if (scale === 0) return unsupported;
    return { supported: true, scale, offset: s16(d, 2), default: u16(d, 4), min: u16(d, 6), max: u16(d, 8), access: d.length === 11 ? d[10]! : null };
  }
  if (d.length === 14 && d[2] === 0x8a && d[5] === 0x8b && d[8] === 0x8c && d[11] === 0x8d) {
    const scale = s16(d, 0);
    if (scale === 0) return unsupported;
    return { supported: true, scale, offset: s16(d, 3), default: u16(d, 6), min: u16(d, 9), max: u16(d, 12), access: null };
  }
  return null;
}

/** ReadRAMVar reply 0x85: one u16 per id. */
export function decodeRamVarValues(r: WinmonReply): number[] | null {
  if (r.code !== RC.RamVars || r.data.length % 2 !== 0) return null;
  const out: number[] = [];
  for (let i = 0; i < r.data.length; i += 2) out.push(u16(r.data, i));
  return out;
}

export function decodeSettingValue(r: WinmonReply): number | null {
  return r.code === RC.Setting && r.data.length >= 2 ? u16(r.data, 0) : null;
}

/** 0x94: device state and charge sub-state (§6.4). */
export function decodeDeviceState(r: WinmonReply): { state: number; stateName: string; subState: number; subStateName: string } | null {
  if (r.code !== RC.DeviceState || r.data.length < 2) return null;
  return { state: r.data[0]!, stateName: deviceStateName(r.data[0]!), subState: r.data[1]!, subStateName: chargeSubStateName(r.data[1]!) };
}

/** 0x82: combined u32 (+ extra bytes) or compat u16 (then ask 0x06 for the high half) (§4.1). */
export function decodeSoftwareVersion(r: WinmonReply): { version: number; complete: boolean } | null {
  if (r.code !== RC.Version0) return null;
  if (r.data.length >= 4) return { version: u32(r.data, 0), complete: true };
  if (r.data.length >= 2) return { version: u16(r.data, 0), complete: false };
  return null;
}

// ---------------------------------------------------------------------------------------------
// Info frames (§6.1, §6.2, §6.3)
// ---------------------------------------------------------------------------------------------

/** Phase info byte (offset 5) → what the TYPE 0x20 frame carries. */
export function infoFrameKind(f: Mk2Frame): { kind: 'dc' } | { kind: 'ac'; phase: 1 | 2 | 3 | 4; phases: number | null } | { kind: 'config' } | null {
  if (f.type !== TYPE_INFO || f.body.length < 5) return null;
  const p = f.body[4]!;
  if (p === 0x0c) return { kind: 'dc' };
  if (p >= 0x08 && p <= 0x0b) return { kind: 'ac', phase: 1, phases: p - 0x07 };
  if (p === 0x07) return { kind: 'ac', phase: 2, phases: null };
  if (p === 0x06) return { kind: 'ac', phase: 3, phases: null };
  if (p === 0x05) return { kind: 'ac', phase: 4, phases: null };
  if ((p >= 2 && p <= 4) || (p >= 0x20 && p <= 0x2f)) return { kind: 'config' };
  return null;
}

/** Raw DC-frame fields (§6.1). Offsets count from TYPE (body[0] is offset 1). */
export interface DcInfoRaw {
  voltage: number;
  inverterCurrent: number;
  chargerCurrent: number;
  inverterPeriod: number;
}
export function decodeDcInfoRaw(f: Mk2Frame): DcInfoRaw | null {
  if (infoFrameKind(f)?.kind !== 'dc' || f.body.length < 14) return null;
  const b = f.body; // body index = frame offset − 1
  return { voltage: u16(b, 5), inverterCurrent: u24(b, 7), chargerCurrent: u24(b, 10), inverterPeriod: b[13]! };
}

/** Scales the three RAM vars the DC/AC frames need; a missing info falls back to §8's typical value. */
export interface FrameScaling {
  ram: (id: number) => RamVarInfo | undefined;
}
const TYPICAL: Record<number, RamVarInfo> = {
  0: { supported: true, scale: 0x7f9c, offset: 0 },
  1: { supported: true, scale: -0x7f9c, offset: 0 },
  2: { supported: true, scale: 0x7f9c, offset: 0 },
  3: { supported: true, scale: 0x7f9c, offset: 0 },
  4: { supported: true, scale: 0x7f9c, offset: 0 },
  5: { supported: true, scale: -0x7ff6, offset: 0 },
  7: { supported: true, scale: 0x785f, offset: 256 },
  8: { supported: true, scale: 0x7c30, offset: 0 },
};
/** The typical RAM-var info of §8 (what a decoder uses before the device's own was read). */
export const typicalRamVarInfo = (id: number): RamVarInfo | undefined => TYPICAL[id];

/** Scaled number for a u16/u24 field; the scaling's sign rule is applied to 16-bit fields only. */
function scaleField(info: RamVarInfo | undefined, raw: number, opts: { forceSigned?: boolean; wide?: boolean } = {}): number | null {
  if (!info) return null;
  const sc = ramVarScaling(info);
  if (sc.kind !== 'number') return null;
  let r = raw;
  if (!opts.wide && (sc.signed || opts.forceSigned)) r = ((raw & 0xffff) << 16) >> 16;
  return roundClean(sc.multiplier * (r + sc.offset));
}

/** Period (time base 0.1 s, §8 ids 7/8) → frequency: f = 10 / scaled value. */
function freqOf(scaled: number | null): number | null {
  return scaled && scaled > 0 ? roundClean(10 / scaled) : null;
}

export interface DcInfo extends DcInfoRaw {
  voltageV: number | null;
  inverterCurrentA: number | null;
  chargerCurrentA: number | null;
  /** charger − inverter; + = charging (§6.1). */
  batteryCurrentA: number | null;
  inverterFrequencyHz: number | null;
}
export function decodeDcInfo(f: Mk2Frame, scaling: FrameScaling): DcInfo | null {
  const raw = decodeDcInfoRaw(f);
  if (!raw) return null;
  const v = scaleField(scaling.ram(4), raw.voltage);
  const inv = scaleField(scaling.ram(5), raw.inverterCurrent, { wide: true });
  const chg = scaleField(scaling.ram(5), raw.chargerCurrent, { wide: true });
  return {
    ...raw,
    voltageV: v,
    inverterCurrentA: inv,
    chargerCurrentA: chg,
    batteryCurrentA: inv === null || chg === null ? null : roundClean(chg - inv),
    inverterFrequencyHz: freqOf(scaleField(scaling.ram(7), raw.inverterPeriod)),
  };
}

export interface AcInfoRaw {
  phase: 1 | 2 | 3 | 4;
  /** Number of phases the L1 frame claims (0x08..0x0B); null on L2..L4 frames. Do not trust (§6.2, J9). */
  phases: number | null;
  backfeedFactor: number;
  inverterFactor: number;
  state: number;
  mainsVoltage: number;
  mainsCurrent: number;
  inverterVoltage: number;
  inverterCurrent: number;
  mainsPeriod: number;
}
export function decodeAcInfoRaw(f: Mk2Frame): AcInfoRaw | null {
  const k = infoFrameKind(f);
  if (k?.kind !== 'ac' || f.body.length < 14) return null;
  const b = f.body;
  return {
    phase: k.phase,
    phases: k.phases,
    backfeedFactor: b[0]!,
    inverterFactor: b[1]!,
    state: b[3]!,
    mainsVoltage: u16(b, 5),
    mainsCurrent: u16(b, 7),
    inverterVoltage: u16(b, 9),
    inverterCurrent: u16(b, 11),
    mainsPeriod: b[13]!,
  };
}

export interface AcInfo extends AcInfoRaw {
  stateName: string;
  mainsVoltageV: number | null;
  mainsCurrentA: number | null;
  inverterVoltageV: number | null;
  inverterCurrentA: number | null;
  /** null when the period byte is 0xFF (no mains, IGUI). */
  mainsFrequencyHz: number | null;
}
/**
 * AC info with scaling (§6.2): currents times their factor; mains current signed per its info
 * (signed in practice); inverter current read as signed whatever its info says (§10.8: VELIB
 * reads s16, J9 overrides the unsigned info).
 */
export function decodeAcInfo(f: Mk2Frame, scaling: FrameScaling): AcInfo | null {
  const raw = decodeAcInfoRaw(f);
  if (!raw) return null;
  const mi = scaleField(scaling.ram(1), raw.mainsCurrent);
  const ii = scaleField(scaling.ram(3), raw.inverterCurrent, { forceSigned: true });
  return {
    ...raw,
    stateName: deviceStateName(raw.state),
    mainsVoltageV: scaleField(scaling.ram(0), raw.mainsVoltage),
    mainsCurrentA: mi === null ? null : roundClean(mi * raw.backfeedFactor),
    inverterVoltageV: scaleField(scaling.ram(2), raw.inverterVoltage),
    inverterCurrentA: ii === null ? null : roundClean(ii * raw.inverterFactor),
    mainsFrequencyHz: raw.mainsPeriod === 0xff ? null : freqOf(scaleField(scaling.ram(8), raw.mainsPeriod)),
  };
}

/** TYPE 0x41 frame (`F 5`, §6.3). */
export interface AcInputConfig {
  subId: number;
  ledOn: number;
  ledBlink: number;
  leds: Record<LedName, LedState> | null;
  /** 0 ok, 2 low battery. */
  status: number;
  config: number;
  activeInput: number;
  limitRemotelySettable: boolean;
  dmcDedicated: boolean;
  acInputs: number;
  remotePanelDetected: boolean;
  minLimitA: number;
  maxLimitA: number;
  actualLimitA: number;
  switchRegister: number;
}
export function decodeAcInputConfig(f: Mk2Frame): AcInputConfig | null {
  if (f.type !== TYPE_ACIN || f.body.length < 12) return null;
  const b = f.body;
  const cfg = b[4]!;
  return {
    subId: b[0]!,
    ledOn: b[1]!,
    ledBlink: b[2]!,
    leds: decodeLeds(b[1]!, b[2]!),
    status: b[3]!,
    config: cfg,
    activeInput: cfg & 0x03,
    limitRemotelySettable: (cfg & 0x04) !== 0,
    dmcDedicated: (cfg & 0x08) !== 0,
    acInputs: (cfg >> 4) & 0x07,
    remotePanelDetected: (cfg & 0x80) !== 0,
    minLimitA: u16(b, 5) / 10,
    maxLimitA: u16(b, 7) / 10,
    actualLimitA: u16(b, 9) / 10,
    switchRegister: b[11]!,
  };
}

// ---------------------------------------------------------------------------------------------
// Names (§8, §9)
// ---------------------------------------------------------------------------------------------

export const RAM_VAR_NAMES: Record<number, string> = {
  0: 'UMAINS_RMS',
  1: 'IMAINS_RMS',
  2: 'UINVERTER_RMS',
  3: 'IINVERTER_RMS',
  4: 'UBAT',
  5: 'IBAT',
  6: 'UBAT_RMS',
  7: 'INVERTER_PERIOD_TIME',
  8: 'MAINS_PERIOD_TIME',
  9: 'SIGNED_AC_LOAD_CURRENT',
  10: 'VIRTUAL_SWITCH_POSITION',
  11: 'IGNORE_AC_INPUT_STATE',
  12: 'MULTI_FUNCTIONAL_RELAY_STATE',
  13: 'CHARGE_STATE',
  14: 'INVERTER_POWER_FILTERED',
  15: 'INPUT_POWER_FILTERED',
  16: 'OUTPUT_POWER_FILTERED',
  17: 'INVERTER_POWER',
  18: 'INPUT_POWER',
  19: 'OUTPUT_POWER',
  21: 'BATTERY_TEMPERATURE',
};

export const SETTING_NAMES: Record<number, string> = {
  0: 'FLAGS_0',
  1: 'FLAGS_1',
  2: 'U_BAT_ABSORPTION',
  3: 'U_BAT_FLOAT',
  4: 'I_BAT_BULK',
  5: 'U_INV_SETPOINT',
  6: 'I_MAINS_LIMIT',
  7: 'REPEATED_ABSORPTION_TIME',
  8: 'REPEATED_ABSORPTION_INTERVAL',
  9: 'MAXIMUM_ABSORPTION_DURATION',
  10: 'CHARGE_CHARACTERISTIC',
  11: 'U_BAT_LOW_LIMIT_FOR_INVERTER',
  12: 'U_BAT_LOW_HYSTERESIS',
  13: 'NUMBER_OF_SLAVES',
  14: 'SPECIAL_THREE_PHASE_SETTING',
  15: 'VS_USAGE',
  28: 'VS_OFF_I_INV_LOW',
  31: 'VS_T_OFF_I_INV_LOW',
  48: 'ASSIST_CURRENT_BOOST_FACTOR',
  49: 'I_MAINS_LIMIT_AC2',
  50: 'AES_CURRENT_LIMIT',
  51: 'AES_HYSTERESIS',
  56: 'VS2_OFF_I_LOAD_LOW',
  57: 'VS2_T_OFF_I_LOAD_LOW',
  58: 'VS2_OFF_U_BAT_HIGH',
  60: 'FLAGS_2',
  61: 'FLAGS_3',
  62: 'VS_INVERTER_PERIOD_TIME',
  63: 'U_BAT_LOW_PRE_ALARM_OFFSET',
  64: 'BATTERY_CAPACITY',
  65: 'SOC_WHEN_BULK_FINISHED',
  70: 'VS_DO_NOT_IGNORE_AC_BELOW_SOC',
  81: 'GRID_CODE',
};

/** Flag numbers 0–63 → setting word and bit (§9.1). */
export const FLAG_WORDS = [0, 1, 60, 61] as const;
export function flagLocation(flag: number): { settingId: number; bit: number } | null {
  if (!Number.isInteger(flag) || flag < 0 || flag > 63) return null;
  return { settingId: FLAG_WORDS[flag >> 4]!, bit: flag & 15 };
}
export const isFlagWord = (settingId: number): boolean => (FLAG_WORDS as readonly number[]).includes(settingId);

export const FLAG_NAMES: Record<number, string> = {
  0: 'MULTI_PHASE_SYSTEM',
  1: 'MULTI_PHASE_LEADER',
  2: 'SIXTY_HZ',
  3: 'DISABLE_WAVE_CHECK',
  4: 'DO_NOT_STOP_AFTER_10H_BULK',
  5: 'POWER_ASSIST_ENABLED',
  6: 'DISABLE_CHARGE',
  7: 'DISABLE_WAVE_CHECK_INVERSE',
  8: 'DISABLE_AES',
  11: 'REDUCED_FLOAT',
  13: 'DISABLE_GROUND_RELAY',
  14: 'WEAK_AC_INPUT',
  15: 'REMOTE_OVERRULES_AC2',
  27: 'ACCEPT_WIDE_INPUT_FREQUENCY',
  28: 'DYNAMIC_CURRENT_LIMITER',
  29: 'TUBULAR_PLATE_TRACTION_CURVE',
  30: 'REMOTE_OVERRULES_AC1',
  31: 'LOW_POWER_SHUTDOWN_IN_AES',
  32: 'VS2_OFF_WHEN_AC1_AVAILABLE',
  33: 'VS2_INVERT',
  34: 'SET_INVERTER_PERIOD_TIME',
};
/** Bits 9, 10, 12 of Flags0 are "not to be changed"; bit 7 follows bit 3 (§9.1). */
export const PROTECTED_FLAGS: ReadonlySet<number> = new Set([7, 9, 10, 12]);

function byName(table: Record<number, string>, name: string): number | null {
  const n = name.trim().toUpperCase();
  for (const [k, v] of Object.entries(table)) if (v === n) return Number(k);
  return null;
}
export const ramVarId = (name: string): number | null => byName(RAM_VAR_NAMES, name);
export const settingId = (name: string): number | null => byName(SETTING_NAMES, name);
export const flagId = (name: string): number | null => byName(FLAG_NAMES, name);

// ---------------------------------------------------------------------------------------------
// Readable decoding for frame records
// ---------------------------------------------------------------------------------------------

const WM_NAMES: Record<number, string> = Object.fromEntries(Object.entries(WM).map(([k, v]) => [v, k]));
const RC_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RC).map(([k, v]) => [v, k]));

/** Kind and text of a frame for the frame log; `dir` tells a request from a reply. */
export function describeFrame(f: Mk2Frame, dir: 'tx' | 'rx'): { kind: string; text: string } {
  const l = letterOf(f);
  if (f.type === TYPE_MK && l) {
    const data = f.body.subarray(1);
    switch (l) {
      case 'V': {
        const v = decodeVersion(f);
        return v ? { kind: 'version', text: `V version ${v.version} ${typeof v.tail === 'number' ? `address ${v.tail}` : `mode ${v.tail}`}` } : { kind: 'version', text: 'V' };
      }
      case 'A':
        return { kind: 'address', text: `A action ${data[0] ?? '?'} address ${data[1] ?? '?'}` };
      case 'S':
        return { kind: 'state', text: data.length ? `S switch ${data[0]} limit 0x${u16(data, 1).toString(16)} flags 0x${(data[4] ?? 0).toString(16)}${data.length > 6 ? ` ext0 0x${data[6]!.toString(16)}` : ''}` : 'S ack' };
      case 'L': {
        if (dir === 'tx') return { kind: 'led', text: 'L' };
        const r = decodeLedReply(f);
        const lit = r?.leds ? Object.entries(r.leds).filter(([, s]) => s !== 'off').map(([n, s]) => `${n}:${s}`).join(' ') : 'no LED info';
        return { kind: 'led', text: `L ${lit || 'all off'}${r?.error ? ` error ${r.error}` : ''}` };
      }
      case 'F':
        return { kind: 'info-request', text: `F ${hex(data)}` };
      case 'W':
      case 'X':
      case 'Y':
      case 'Z': {
        if (data.length === 0) return { kind: 'winmon', text: l };
        const code = data[0]!;
        if (dir === 'tx') return { kind: `winmon.${WM_NAMES[code] ?? `0x${code.toString(16)}`}`, text: `${l} ${WM_NAMES[code] ?? `0x${code.toString(16)}`} ${hex(data.subarray(1))}`.trim() };
        return { kind: `winmon.${RC_NAMES[code] ?? `0x${code.toString(16)}`}`, text: `${l} ${RC_NAMES[code] ?? `0x${code.toString(16)}`} ${hex(data.subarray(1))}`.trim() };
      }
      default:
        return { kind: `mk.${l}`, text: `${l} ${hex(data)}`.trim() };
    }
  }
  if (f.type === TYPE_INFO) {
    const k = infoFrameKind(f);
    const sc: FrameScaling = { ram: typicalRamVarInfo };
    if (k?.kind === 'dc') {
      const d = decodeDcInfo(f, sc);
      return { kind: 'dc', text: d ? `DC ${d.voltageV} V inverter ${d.inverterCurrentA} A charger ${d.chargerCurrentA} A` : 'DC' };
    }
    if (k?.kind === 'ac') {
      const a = decodeAcInfo(f, sc);
      return { kind: 'ac', text: a ? `AC L${a.phase} ${a.stateName} in ${a.mainsVoltageV} V ${a.mainsCurrentA} A out ${a.inverterVoltageV} V ${a.inverterCurrentA} A` : 'AC' };
    }
    return { kind: 'info', text: `info ${hex(f.body)}` };
  }
  if (f.type === TYPE_ACIN) {
    const c = decodeAcInputConfig(f);
    return { kind: 'acin', text: c ? `AC input limit ${c.actualLimitA} A (${c.minLimitA}–${c.maxLimitA} A) switch 0x${c.switchRegister.toString(16)}` : `0x41 ${hex(f.body)}` };
  }
  return { kind: `type.0x${f.type.toString(16)}`, text: `0x${f.type.toString(16)} ${hex(f.body)}` };
}
