/**
 * OpenEVSE RAPI codec: lines ⇄ typed frames, field decoders in the firmware's units, the
 * command table with version gating, and a typed builder for every command of the reference.
 * Reference: /work/shared/protocols/openevse-rapi.md (cited as §n below).
 *
 * Pure: no I/O, no clock. `parseLine` never throws: a line that is not RAPI is kind 'other',
 * a checksum mismatch is kept with `checksumOk: false` (the driver counts it and decides).
 * Decoders return null for a reply whose fields do not have the documented shape.
 * Builders throw RangeError only for arguments the wire cannot carry (not a number, a space
 * inside a token); policy (capacity range, circuit limit, admin-only commands) is check.ts.
 *
 * Not ported from the python-openevse seed: it compared the `GS` state with `'3'` and parsed
 * it as decimal (§8.1: hex since RAPI 5), waited for `$ST` (§4: legacy only; 8.x sends `$AT`)
 * and sent `$FF E 0` at open (§12.1: that switches echo ON in 8.2.3).
 */

/** The board's input buffer holds 32 bytes: a command longer than this before CR gets no answer (§2). */
export const RAPI_MAX_COMMAND_CHARS = 31;
/** At most 10 space-separated tokens, command and sequence id included (§2). */
export const RAPI_MAX_TOKENS = 10;
/** The cookie that acknowledges a missed heartbeat (§6). */
export const HEARTBEAT_ACK_COOKIE = 165;
/** `GP`: a temperature sensor that is not fitted reads −2560 (§5.3). */
export const TEMP_ABSENT = -2560;

export type ChecksumKind = 'xor' | 'additive' | 'none';

export type RapiFrameKind =
  /** Responses (§3). */
  | 'OK'
  | 'NK'
  /** Asynchronous messages (§4). */
  | 'AT'
  | 'AB'
  | 'AN'
  | 'WF'
  | 'ST'
  /** A host command (what we send; with echo on, also our own text coming back, §12.1). */
  | 'command'
  /** `$` + something that is none of the above. */
  | 'other';

export interface RapiFrame {
  /** The line from `$` up to, not including, CR (and without a trailing LF). */
  line: string;
  kind: RapiFrameKind;
  /** The two characters after `$` ('OK', 'AT', 'GS', …). */
  cmd: string;
  /** Tokens after `cmd`, without the sequence id and checksum. */
  args: string[];
  /** Sequence id 1…255, or null (none, or `00` which is reserved, §2). */
  seq: number | null;
  checksum: ChecksumKind;
  /** False when the line carries a checksum that does not match its bytes. */
  checksumOk: boolean;
}

// ---------------------------------------------------------------- checksums (§2)

export function xorChecksum(text: string): number {
  let x = 0;
  for (let i = 0; i < text.length; i++) x ^= text.charCodeAt(i) & 0xff;
  return x;
}

export function additiveChecksum(text: string): number {
  let s = 0;
  for (let i = 0; i < text.length; i++) s = (s + (text.charCodeAt(i) & 0xff)) & 0xff;
  return s;
}

const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

/** Appends a checksum: `^XK` (XOR, the default), `*AK` (additive, legacy) or nothing. */
export function withChecksum(body: string, kind: ChecksumKind = 'xor'): string {
  if (kind === 'xor') return `${body}^${hex2(xorChecksum(body))}`;
  if (kind === 'additive') return `${body}*${hex2(additiveChecksum(body))}`;
  return body;
}

// ---------------------------------------------------------------- lines ⇄ frames

const ASYNC_KINDS = new Set(['AT', 'AB', 'AN', 'WF', 'ST']);
const COMMAND_CLASS = /^[FSGTZ][0-9A-Z]$/;

/** Classifies the two letters after `$` (§3 host rule of thumb). */
export function classify(cmd: string): RapiFrameKind {
  if (cmd === 'OK' || cmd === 'NK') return cmd;
  if (ASYNC_KINDS.has(cmd)) return cmd as RapiFrameKind;
  // `ST` is both the legacy async and the delay-timer setter: from the board it is async.
  if (COMMAND_CLASS.test(cmd)) return 'command';
  return 'other';
}

/**
 * Parses one line (from `$`, without CR/LF). Checksum markers are recognised only as the last
 * three characters (`^hh`, `*hh`, hex in either case, §2). A last token `:hh` is the sequence id.
 */
export function parseLine(raw: string): RapiFrame {
  const line = raw.replace(/[\r\n]+$/, '');
  let body = line;
  let checksum: ChecksumKind = 'none';
  let checksumOk = true;
  const m = /([\^*])([0-9A-Fa-f]{2})$/.exec(line);
  if (m) {
    body = line.slice(0, -3);
    const want = parseInt(m[2]!, 16);
    checksum = m[1] === '^' ? 'xor' : 'additive';
    checksumOk = (checksum === 'xor' ? xorChecksum(body) : additiveChecksum(body)) === want;
  }
  const tokens = body.startsWith('$') ? body.slice(1).split(' ') : [''];
  const cmd = tokens[0] ?? '';
  let rest = tokens.slice(1);
  let seq: number | null = null;
  const last = rest[rest.length - 1];
  if (last !== undefined && /^:[0-9A-Fa-f]{2}$/.test(last)) {
    const n = parseInt(last.slice(1), 16);
    seq = n === 0 ? null : n;
    rest = rest.slice(0, -1);
  }
  // `$GI` answers with two spaces after OK (§12.4): drop the empty tokens a double space makes.
  const args = rest.filter((t) => t !== '');
  let kind: RapiFrameKind = body.startsWith('$') ? classify(cmd) : 'other';
  // `ST` is also the delay-timer setter (4 arguments): in echo mode our own `$ST h m h m` comes
  // back and must not be read as a legacy state message (which has one argument).
  if (kind === 'ST' && args.length !== 1) kind = 'command';
  return { line, kind, cmd, args, seq, checksum, checksumOk };
}

export interface CommandOptions {
  /** Sequence id 1…255 (§2); omitted = none. */
  seq?: number | null;
  checksum?: ChecksumKind;
}

/**
 * Builds the frame for one command: `$CMD args [:SS]^XK` (§2). Throws RangeError for a token
 * with a space or CR, a bad sequence id or more than 10 tokens. The 31-character limit is
 * checked by `commandTooLong` / the framer's `encode`, so a caller can refuse it with a reason.
 */
export function buildCommand(cmd: string, args: readonly string[] = [], opts: CommandOptions = {}): RapiFrame {
  if (!COMMAND_CLASS.test(cmd)) throw new RangeError(`RAPI command "${cmd}" is not a class letter + one character`);
  for (const a of args) {
    if (a === '' || /[ \r\n$^*]/.test(a)) throw new RangeError(`RAPI ${cmd}: argument "${a}" cannot be sent (empty, or contains a space, CR, LF, $, ^ or *)`);
  }
  const seq = opts.seq ?? null;
  if (seq !== null && (!Number.isInteger(seq) || seq < 1 || seq > 255)) throw new RangeError(`RAPI sequence id ${seq} is not 1…255 (00 is reserved)`);
  const tokens = [cmd, ...args, ...(seq !== null ? [`:${hex2(seq)}`] : [])];
  if (tokens.length > RAPI_MAX_TOKENS) throw new RangeError(`RAPI ${cmd}: ${tokens.length} tokens, the board takes at most ${RAPI_MAX_TOKENS}`);
  const body = `$${tokens.join(' ')}`;
  const kind = opts.checksum ?? 'xor';
  return { line: withChecksum(body, kind), kind: 'command', cmd, args: [...args], seq, checksum: kind, checksumOk: true };
}

/** Why the board would silently drop this command (§2, §12.2), or null. */
export function commandTooLong(frame: RapiFrame): string | null {
  return frame.line.length > RAPI_MAX_COMMAND_CHARS
    ? `"${frame.line}" is ${frame.line.length} characters; the board silently drops commands longer than ${RAPI_MAX_COMMAND_CHARS}`
    : null;
}

/** A response built the way the board prints it (§3): upper-case seq and XOR checksum. */
export function buildResponse(ok: boolean, data: readonly string[] = [], seq: number | null = null): RapiFrame {
  const body = `$${ok ? 'OK' : 'NK'}${data.length ? ' ' + data.join(' ') : ''}${seq !== null ? ` :${hex2(seq)}` : ''}`;
  return { line: withChecksum(body, 'xor'), kind: ok ? 'OK' : 'NK', cmd: ok ? 'OK' : 'NK', args: [...data], seq, checksum: 'xor', checksumOk: true };
}

/** An async message as the board prints it (§4). */
export function buildAsync(kind: 'AT' | 'AB' | 'AN' | 'WF' | 'ST', data: readonly string[]): RapiFrame {
  const body = `$${kind} ${data.join(' ')}`;
  return { line: withChecksum(body, 'xor'), kind, cmd: kind, args: [...data], seq: null, checksum: 'xor', checksumOk: true };
}

/** Is `reply` the response to `request`? OK/NK; the same sequence id, or none (checksum NK, §3). */
export function isResponseTo(reply: RapiFrame, request: RapiFrame): boolean {
  if (reply.kind !== 'OK' && reply.kind !== 'NK') return false;
  if (request.seq === null) return true;
  // `$NK^21` (checksum error or >10 tokens) never carries the id (§3, §12.3).
  return reply.seq === request.seq || reply.seq === null;
}

// ---------------------------------------------------------------- versions (§5.3 GV, §9)

export interface RapiVersion {
  major: number;
  minor: number;
  patch: number;
}

export function parseVersion(text: string): RapiVersion | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

export function compareVersion(a: RapiVersion, b: RapiVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export const formatVersion = (v: RapiVersion): string => `${v.major}.${v.minor}.${v.patch}`;

/** `GS` has 4 hex fields from RAPI 5.0.0 (§5.3 GV, §8.1). */
export const RAPI_HEX_STATE: RapiVersion = { major: 5, minor: 0, patch: 0 };
/** The D9 command set needs RAPI 6.0.0 (§9). */
export const RAPI_D9: RapiVersion = { major: 6, minor: 0, patch: 0 };
/** Sequence ids exist from RAPI 3.0.0 (§2). */
export const RAPI_SEQ_IDS: RapiVersion = { major: 3, minor: 0, patch: 0 };

// ---------------------------------------------------------------- the command table (§5, §9)

export interface CommandInfo {
  /** A read without side effects: may be retried after a timeout or a bad-checksum reply. */
  query: boolean;
  /** Lowest protocol version that has it (default: any). */
  minProtocol?: RapiVersion;
  /** The reference marks it dangerous for remote use: reset, calibration, one-time writes (admin only). */
  dangerous?: boolean;
  /** Build flag it needs; without it the board answers `$NK` (§5, §12.8). */
  build?: string;
  /** Words for people. */
  what: string;
}

const D9 = RAPI_D9;
/** Every command of §5.1–§5.3 and §9 (plus the test-only T0/Z0 and the three-phase extras of §5.3). */
export const COMMANDS: Record<string, CommandInfo> = {
  F0: { query: false, what: 'LCD updates on/off' },
  F1: { query: false, what: 'front-button short press' },
  FB: { query: false, what: 'LCD backlight colour' },
  FD: { query: false, what: 'disable' },
  FE: { query: false, what: 'enable' },
  FF: { query: false, what: 'feature toggle' },
  FP: { query: false, what: 'print on the LCD' },
  FR: { query: false, dangerous: true, what: 'reboot the board' },
  FS: { query: false, what: 'sleep' },
  S0: { query: false, what: 'LCD type' },
  S1: { query: false, build: 'RTC', what: 'set the clock' },
  S2: { query: false, dangerous: true, what: 'ammeter calibration mode' },
  S3: { query: false, build: 'TIME_LIMIT', what: 'session time limit' },
  S4: { query: false, build: 'AUTH_LOCK', what: 'auth lock' },
  S5: { query: false, build: 'MENNEKES_LOCK', what: 'Mennekes lock' },
  SA: { query: false, dangerous: true, build: 'AMMETER', what: 'ammeter calibration' },
  SB: { query: false, build: 'BOOTLOCK', what: 'clear the boot lock' },
  SC: { query: false, what: 'current capacity' },
  SH: { query: false, build: 'CHARGE_LIMIT', what: 'session energy limit' },
  SK: { query: false, dangerous: true, build: 'KWH_RECORDING', what: 'set the lifetime energy total' },
  SL: { query: false, what: 'service level' },
  SM: { query: false, dangerous: true, build: 'VOLTMETER', what: 'voltmeter calibration' },
  ST: { query: false, build: 'DELAYTIMER', what: 'delay timer' },
  SV: { query: false, build: 'KWH_RECORDING', what: 'voltage for energy maths' },
  SY: { query: false, build: 'HEARTBEAT_SUPERVISION', what: 'heartbeat supervision' },
  G0: { query: true, what: 'EV connect state' },
  G3: { query: true, build: 'TIME_LIMIT', what: 'time limit' },
  G4: { query: true, build: 'AUTH_LOCK', what: 'auth lock' },
  G5: { query: true, build: 'MENNEKES_LOCK', what: 'Mennekes lock' },
  GA: { query: true, build: 'AMMETER', what: 'ammeter settings' },
  GC: { query: true, what: 'current capacity range' },
  GD: { query: true, build: 'DELAYTIMER', what: 'delay timer' },
  GE: { query: true, what: 'capacity and ECF flags' },
  GF: { query: true, what: 'fault counters' },
  GG: { query: true, what: 'current and voltage' },
  GH: { query: true, build: 'CHARGE_LIMIT', what: 'charge limit' },
  GI: { query: true, build: 'MCU_ID_LEN', what: 'MCU id' },
  GM: { query: true, build: 'VOLTMETER', what: 'voltmeter settings' },
  GO: { query: true, what: 'over-temperature thresholds' },
  GP: { query: true, build: 'TEMPERATURE_MONITORING', what: 'temperatures' },
  GS: { query: true, what: 'state' },
  GT: { query: true, build: 'RTC', what: 'clock' },
  GU: { query: true, build: 'KWH_RECORDING', what: 'energy' },
  GV: { query: true, what: 'versions' },
  GY: { query: true, build: 'HEARTBEAT_SUPERVISION', what: 'heartbeat status' },
  T0: { query: false, dangerous: true, build: 'RAPI_T_COMMANDS', what: 'fake charging current (test only)' },
  Z0: { query: false, dangerous: true, what: 'relay PWM tuning (test only)' },
  S7: { query: false, what: 'three-phase switching (not mainline)' },
  S8: { query: false, what: 'three-phase switching (not mainline)' },
  G7: { query: true, what: 'three-phase state (not mainline)' },
  FC: { query: false, dangerous: true, minProtocol: D9, what: 'reset fault counters and lifetime energy' },
  FH: { query: false, dangerous: true, minProtocol: D9, what: 'reset the relay-health estimate' },
  FK: { query: false, dangerous: true, minProtocol: D9, what: 'stuck-relay recovery cycle' },
  FO: { query: false, minProtocol: D9, what: 'over-temperature panic threshold' },
  SR: { query: false, minProtocol: D9, what: 'relay output enable' },
  GR: { query: true, minProtocol: D9, what: 'relay enables' },
  SZ: { query: false, minProtocol: D9, what: 'relay-open current-zero threshold' },
  GZ: { query: true, minProtocol: D9, what: 'AC frequency and zero threshold' },
  GW: { query: true, minProtocol: D9, what: 'relay wear diagnostics' },
  GL: { query: true, minProtocol: D9, what: 'relay-life estimate' },
};

/** `FF` letters of 8.2.3 (§5.1) and the ones only D9 boards know (§9). */
export const FEATURE_LETTERS = ['B', 'D', 'E', 'F', 'G', 'R', 'T', 'V'] as const;
export const FEATURE_LETTERS_D9 = ['L', 'O', 'P', 'Z'] as const;
export type FeatureLetter = (typeof FEATURE_LETTERS)[number] | (typeof FEATURE_LETTERS_D9)[number];

/** A request ready to frame: command, arguments, and whether it may be retried. */
export interface RapiRequest {
  cmd: string;
  args: string[];
  query: boolean;
}

/**
 * Why `req` cannot go to a board speaking `protocol` (null = it may). Gates the 6.0.0 set (§9)
 * and the `FF` letters only D9 boards know. Unknown protocol (no `GV` yet) allows only the
 * commands every version has.
 */
export function versionGate(req: RapiRequest, protocol: RapiVersion | null): string | null {
  const info = COMMANDS[req.cmd];
  if (!info) return `RAPI ${req.cmd} is not a command of the reference`;
  const need = info.minProtocol ?? (req.cmd === 'FF' && (FEATURE_LETTERS_D9 as readonly string[]).includes(req.args[0] ?? '') ? D9 : null);
  if (!need) return null;
  if (!protocol) return `${req.cmd} (${info.what}) needs RAPI ${formatVersion(need)}; the board's protocol version is not known yet`;
  if (compareVersion(protocol, need) < 0) return `${req.cmd} (${info.what}) needs RAPI ${formatVersion(need)}; this board speaks ${formatVersion(protocol)}`;
  return null;
}

// ---------------------------------------------------------------- typed builders

const int = (name: string, v: number, lo: number, hi: number): string => {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`RAPI ${name} must be an integer ${lo}…${hi}, got ${v}`);
  return String(v);
};
const bit = (name: string, on: boolean): string => (on ? '1' : '0');
const q = (cmd: string, ...args: string[]): RapiRequest => ({ cmd, args, query: true });
const s = (cmd: string, ...args: string[]): RapiRequest => ({ cmd, args, query: false });

export type BacklightColour = 'off' | 'red' | 'green' | 'yellow' | 'blue' | 'violet' | 'teal' | 'white';
export const BACKLIGHT: Record<BacklightColour, number> = { off: 0, red: 1, green: 2, yellow: 3, blue: 4, violet: 5, teal: 6, white: 7 };

/** One typed builder per command of §5 and §9. */
export const Rapi = {
  // F*
  lcdUpdates: (on: boolean) => s('F0', bit('F0', on)),
  buttonPress: () => s('F1'),
  backlight: (c: BacklightColour) => s('FB', String(BACKLIGHT[c])),
  disable: () => s('FD'),
  enable: () => s('FE'),
  /** `FF E` is refused by check.ts (§12.1); the builder still exists for completeness. */
  feature: (letter: FeatureLetter, on: boolean) => s('FF', letter, bit('FF', on)),
  /** Spaces in `text` become 0x11 only if `spaceSub`; the board keeps spaces in text (§5.1). */
  lcdText: (x: number, y: number, text: string) => {
    const words = text.split(' ').filter((w) => w !== '');
    if (!words.length) throw new RangeError('RAPI FP: empty text');
    return s('FP', int('FP x', x, 0, 15), int('FP y', y, 0, 1), ...words);
  },
  restart: () => s('FR'),
  sleep: () => s('FS'),
  // S*
  lcdType: (rgb: boolean) => s('S0', bit('S0', rgb)),
  setClock: (d: { year: number; month: number; day: number; hour: number; minute: number; second: number }) =>
    s('S1', int('S1 year', d.year % 100, 0, 99), int('S1 month', d.month, 1, 12), int('S1 day', d.day, 1, 31), int('S1 hour', d.hour, 0, 23), int('S1 minute', d.minute, 0, 59), int('S1 second', d.second, 0, 59)),
  ammeterCalMode: (on: boolean) => s('S2', bit('S2', on)),
  timeLimit: (quarterHours: number) => s('S3', int('S3', quarterHours, 0, 255)),
  authLock: (locked: boolean) => s('S4', bit('S4', locked)),
  mennekes: (mode: 'auto' | 'manual' | 'unlock' | 'lock') => s('S5', { auto: 'A', manual: 'M', unlock: '0', lock: '1' }[mode]),
  ammeterCal: (scale: number, offset: number) => s('SA', int('SA scale', scale, -32768, 32767), int('SA offset', offset, -32768, 32767)),
  clearBootLock: () => s('SB'),
  /** `mode`: saved (default), 'volatile' (`V`) or 'hwmax' (`M`, one-time write, §5.2). */
  setCurrent: (amps: number, mode: 'saved' | 'volatile' | 'hwmax' = 'saved') =>
    s('SC', int('SC amps', amps, 0, 255), ...(mode === 'volatile' ? ['V'] : mode === 'hwmax' ? ['M'] : [])),
  chargeLimit: (kWh: number) => s('SH', int('SH', kWh, 0, 255)),
  setLifetimeEnergy: (wh: number) => s('SK', int('SK', wh, 0, 0xffffffff)),
  serviceLevel: (level: 1 | 2 | 'auto') => s('SL', level === 'auto' ? 'A' : String(level)),
  voltmeterCal: (scale: number, offset: number) => s('SM', int('SM scale', scale, -32768, 32767), int('SM offset', offset, -2147483648, 2147483647)),
  delayTimer: (startH: number, startM: number, endH: number, endM: number) =>
    s('ST', int('ST start hour', startH, 0, 23), int('ST start minute', startM, 0, 59), int('ST end hour', endH, 0, 23), int('ST end minute', endM, 0, 59)),
  cancelDelayTimer: () => s('ST', '0', '0', '0', '0'),
  setVoltage: (mV: number) => s('SV', int('SV', mV, 0, 1_000_000)),
  heartbeatArm: (intervalS: number, fallbackA: number) => s('SY', int('SY interval', intervalS, 0, 65535), int('SY amps', fallbackA, 0, 255)),
  heartbeatPulse: () => s('SY'),
  heartbeatAck: () => s('SY', String(HEARTBEAT_ACK_COOKIE)),
  // G*
  evConnected: () => q('G0'),
  getTimeLimit: () => q('G3'),
  getAuthLock: () => q('G4'),
  getMennekes: () => q('G5'),
  getAmmeter: () => q('GA'),
  getCapacityRange: () => q('GC'),
  getDelayTimer: () => q('GD'),
  getSettings: () => q('GE'),
  getFaultCounters: () => q('GF'),
  getCurrentVoltage: () => q('GG'),
  getChargeLimit: () => q('GH'),
  getMcuId: () => q('GI'),
  getVoltmeter: () => q('GM'),
  getOverTemp: () => q('GO'),
  getTemperatures: () => q('GP'),
  getState: () => q('GS'),
  getClock: () => q('GT'),
  getEnergy: () => q('GU'),
  getVersion: () => q('GV'),
  getHeartbeat: () => q('GY'),
  // test-only and non-mainline (§5.3)
  fakeCurrent: (amps: number) => s('T0', int('T0', amps, 0, 255)),
  relayPwm: (closeMs: number, holdPwm: number) => s('Z0', int('Z0 close', closeMs, 0, 65535), int('Z0 hold', holdPwm, 0, 255)),
  threePhase: (on: boolean) => s('S7', bit('S7', on)),
  threePhaseS8: () => s('S8', '0'),
  getThreePhase: () => q('G7'),
  // RAPI 6.0.0 (§9)
  resetFaultCounters: () => s('FC'),
  resetRelayHealth: () => s('FH'),
  stuckRelayRecovery: () => s('FK'),
  overTempPanic: (tenthsC: number) => s('FO', int('FO', tenthsC, 0, 2000)),
  relayEnable: (n: 1 | 2 | 3, on: boolean) => s('SR', String(n), bit('SR', on)),
  getRelays: () => q('GR'),
  zeroCurrentThreshold: (mA: number) => s('SZ', int('SZ', mA, 0, 5000)),
  getFrequency: () => q('GZ'),
  getRelayWear: () => q('GW'),
  getRelayLife: () => q('GL'),
} as const;

/** The frame for a request. */
export function frameRequest(req: RapiRequest, opts: CommandOptions = {}): RapiFrame {
  return buildCommand(req.cmd, req.args, opts);
}

// ---------------------------------------------------------------- states and flags (§8)

export const EVSE_STATES: Record<number, { name: string; text: string; fault: boolean }> = {
  0x00: { name: 'starting', text: 'starting', fault: false },
  0x01: { name: 'not_connected', text: 'no vehicle connected', fault: false },
  0x02: { name: 'connected', text: 'vehicle connected, not charging', fault: false },
  0x03: { name: 'charging', text: 'charging', fault: false },
  0x04: { name: 'vent_required', text: 'fault: vehicle requests ventilation', fault: true },
  0x05: { name: 'diode_check_failed', text: 'fault: pilot diode check failed', fault: true },
  0x06: { name: 'gfci_fault', text: 'fault: ground fault (GFCI trip)', fault: true },
  0x07: { name: 'no_ground', text: 'fault: no ground', fault: true },
  0x08: { name: 'stuck_relay', text: 'fault: stuck relay', fault: true },
  0x09: { name: 'gfi_self_test_failed', text: 'fault: GFI self-test failed', fault: true },
  0x0a: { name: 'over_temperature', text: 'fault: over temperature', fault: true },
  0x0b: { name: 'over_current', text: 'fault: over current', fault: true },
  0x0c: { name: 'pilot_error', text: 'fault: pilot error', fault: true },
  0x0d: { name: 'temp_sensor_fault', text: 'fault: temperature sensor', fault: true },
  0x0e: { name: 'relay_closure_fault', text: 'fault: relay closure', fault: true },
  0x0f: { name: 'pp_shorted', text: 'fault: proximity pilot shorted', fault: true },
  0x10: { name: 'pp_resistor_missing', text: 'fault: proximity pilot resistor missing', fault: true },
  0x11: { name: 'eeprom_failure', text: 'fault: EEPROM failure', fault: true },
  0xfe: { name: 'sleeping', text: 'sleeping', fault: false },
  0xff: { name: 'disabled', text: 'disabled', fault: false },
};

export function stateInfo(code: number): { name: string; text: string; fault: boolean } {
  return EVSE_STATES[code] ?? { name: `unknown_${hex2(code).toLowerCase()}`, text: `unknown state 0x${hex2(code)}`, fault: code >= 0x04 && code <= 0x11 };
}

export const isFaultState = (code: number): boolean => stateInfo(code).fault;

export const PILOT_STATES: Record<number, string> = { 0: 'not evaluated', 1: 'A (+12 V)', 2: 'B (9 V)', 3: 'C (6 V)', 4: 'D (3 V)', 5: 'diode check failed' };

/** VFLAGS (§8.3). */
export const VFLAGS = {
  AUTOSVCLVL_SKIPPED: 0x0001,
  HARD_FAULT: 0x0002,
  LIMIT_SLEEP: 0x0004,
  AUTH_LOCKED: 0x0008,
  TIME_LIMIT: 0x0010,
  NOGND_TRIPPED: 0x0020,
  CHARGING_ON: 0x0040,
  GFI_TRIPPED: 0x0080,
  EV_CONNECTED: 0x0100,
  SESSION_ENDED: 0x0200,
  EV_CONNECTED_PREV: 0x0400,
  UI_IN_MENU: 0x0800,
  TIMER_ON: 0x1000,
  CHARGE_LIMIT: 0x2000,
  BOOT_LOCK: 0x4000,
  MENNEKES_MANUAL: 0x8000,
} as const;
/** The vflags bits whose change makes the board send `$AT` (§4.2). */
export const VFLAGS_AT_MASK = 0x211a;

/** ECF flags (§8.2). */
export const ECF = {
  L2: 0x0001,
  DIODE_CHK_DISABLED: 0x0002,
  VENT_REQ_DISABLED: 0x0004,
  GND_CHK_DISABLED: 0x0008,
  STUCK_RELAY_CHK_DISABLED: 0x0010,
  AUTO_SVC_LEVEL_DISABLED: 0x0020,
  AUTO_START_DISABLED: 0x0040,
  SERIAL_DBG: 0x0080,
  MONO_LCD: 0x0100,
  GFI_TEST_DISABLED: 0x0200,
  TEMP_CHK_DISABLED: 0x0400,
  ZERO_CROSS_DISABLED: 0x0800,
  CGMI: 0x1000,
  BOOT_LOCK_DISABLED: 0x2000,
  BUTTON_DISABLED: 0x8000,
} as const;

/** Names of the bits set in `word` (a bit without a name shows as `bit_0x…`). */
export function flagNames(word: number, table: Record<string, number>): string[] {
  const out: string[] = [];
  for (let b = 1; b <= 0x8000; b <<= 1) {
    if (!(word & b)) continue;
    const name = Object.entries(table).find(([, v]) => v === b)?.[0];
    out.push(name ?? `bit_0x${b.toString(16).padStart(4, '0')}`);
  }
  return out;
}

// ---------------------------------------------------------------- field decoders (§4, §5.3, §6)

const dec = (t: string | undefined): number | null => (t !== undefined && /^-?\d+$/.test(t) ? Number(t) : null);
const hex = (t: string | undefined): number | null => (t !== undefined && /^[0-9a-fA-F]+$/.test(t) ? parseInt(t, 16) : null);
const all = (xs: readonly (number | null)[]): xs is number[] => xs.every((x) => x !== null);

export interface StatusFields {
  state: number;
  /** Relay-closed seconds of the current (or last) session (§7.2); null in `$AT`. */
  elapsedS: number | null;
  /** Null from a RAPI < 5 board (it sends only state and elapsed). */
  pilot: number | null;
  vflags: number | null;
  /** Only `$AT` carries the capacity. */
  capacityA: number | null;
}

/** `GS` reply (§5.3): `%02x %ld %02x %04x` from RAPI 5; `state elapsed` in decimal before (§8.1). */
export function decodeGS(f: RapiFrame, protocol: RapiVersion | null): StatusFields | null {
  const legacy = protocol !== null && compareVersion(protocol, RAPI_HEX_STATE) < 0;
  if (legacy) {
    const st = dec(f.args[0]);
    const el = dec(f.args[1]);
    if (st === null || el === null) return null;
    return { state: st, elapsedS: el, pilot: null, vflags: null, capacityA: null };
  }
  const v = [hex(f.args[0]), dec(f.args[1]), hex(f.args[2]), hex(f.args[3])];
  if (f.args.length !== 4 || !all(v)) return null;
  return { state: v[0]!, elapsedS: v[1]!, pilot: v[2]!, vflags: v[3]!, capacityA: null };
}

/** `$AT state pilot capacity vflags` (§4). */
export function decodeAT(f: RapiFrame): StatusFields | null {
  const v = [hex(f.args[0]), hex(f.args[1]), dec(f.args[2]), hex(f.args[3])];
  if (f.args.length !== 4 || !all(v)) return null;
  return { state: v[0]!, elapsedS: null, pilot: v[1]!, capacityA: v[2]!, vflags: v[3]! };
}

/** `$AB state fwver` (§4): state 00 = POST passed, 07/08/09 = POST failure. */
export function decodeAB(f: RapiFrame): { state: number; firmware: string } | null {
  const st = hex(f.args[0]);
  if (st === null || !f.args[1]) return null;
  return { state: st, firmware: f.args[1] };
}

/** `$AN 0|1` (§4): short / long press of a disabled front button. */
export function decodeAN(f: RapiFrame): { long: boolean } | null {
  const v = dec(f.args[0]);
  return v === 0 || v === 1 ? { long: v === 1 } : null;
}

/** `$WF mode` (§4): 0 AP, 1 client, 2 AP default. */
export function decodeWF(f: RapiFrame): { mode: number } | null {
  const v = hex(f.args[0]);
  return v === null ? null : { mode: v };
}

/** Legacy `$ST state` (§4). Read as hex (states ≥ 10 and fe/ff only make sense that way). */
export function decodeST(f: RapiFrame): { state: number } | null {
  const v = hex(f.args[0]);
  return v === null ? null : { state: v };
}

export function decodeGV(f: RapiFrame): { firmware: string; protocol: RapiVersion; protocolText: string } | null {
  const fw = f.args[0];
  const p = f.args[1] ? parseVersion(f.args[1]) : null;
  if (!fw || !p) return null;
  return { firmware: fw, protocol: p, protocolText: f.args[1]! };
}

/** `GC min hmax pilot cmax` (§5.3). */
export function decodeGC(f: RapiFrame): { minA: number; maxA: number; pilotA: number; configuredA: number } | null {
  const v = f.args.slice(0, 4).map(dec);
  if (v.length !== 4 || !all(v)) return null;
  return { minA: v[0]!, maxA: v[1]!, pilotA: v[2]!, configuredA: v[3]! };
}

/** `GE amps flags` (§5.3, §8.2). */
export function decodeGE(f: RapiFrame): { capacityA: number; ecf: number; level: 1 | 2 } | null {
  const a = dec(f.args[0]);
  const e = hex(f.args[1]);
  if (a === null || e === null) return null;
  return { capacityA: a, ecf: e, level: e & ECF.L2 ? 2 : 1 };
}

/** `GF gfi nognd stuck`, bare lower-case hex (§5.3, §7.4). */
export function decodeGF(f: RapiFrame): { gfiTrips: number; noGroundTrips: number; stuckRelayTrips: number } | null {
  const v = f.args.slice(0, 3).map(hex);
  if (v.length !== 3 || !all(v)) return null;
  return { gfiTrips: v[0]!, noGroundTrips: v[1]!, stuckRelayTrips: v[2]! };
}

/** `GG mA mV` (§5.3): −1 mA = no ammeter. */
export function decodeGG(f: RapiFrame): { currentMa: number | null; voltageMv: number } | null {
  const a = dec(f.args[0]);
  const v = dec(f.args[1]);
  if (a === null || v === null) return null;
  return { currentMa: a < 0 ? null : a, voltageMv: v };
}

/** `GU Ws Wh` (§5.3, §7.3): session watt-seconds, lifetime watt-hours. */
export function decodeGU(f: RapiFrame): { sessionWs: number; lifetimeWh: number } | null {
  const a = dec(f.args[0]);
  const b = dec(f.args[1]);
  if (a === null || b === null) return null;
  return { sessionWs: a, lifetimeWh: b };
}

/** `GP t1 t2 t3` in 0.1 °C; −2560 = not fitted ⇒ null (§5.3). */
export function decodeGP(f: RapiFrame): { ds3231C: number | null; mcp9808C: number | null; tmp007C: number | null } | null {
  const v = f.args.slice(0, 3).map(dec);
  if (v.length !== 3 || !all(v)) return null;
  const t = (x: number) => (x === TEMP_ABSENT ? null : x / 10);
  return { ds3231C: t(v[0]!), mcp9808C: t(v[1]!), tmp007C: t(v[2]!) };
}

/** `GY`/`SY` reply `interval amps trigger` (§6). */
export function decodeHeartbeat(f: RapiFrame): { intervalS: number; fallbackA: number; trigger: 0 | 1 | 2 } | null {
  const v = f.args.slice(0, 3).map(dec);
  if (v.length !== 3 || !all(v)) return null;
  const t = v[2]!;
  if (t !== 0 && t !== 1 && t !== 2) return null;
  return { intervalS: v[0]!, fallbackA: v[1]!, trigger: t };
}

export const HEARTBEAT_TRIGGER_TEXT: Record<0 | 1 | 2, string> = {
  0: 'never missed',
  1: 'missed earlier, acknowledged',
  2: 'missed: board at the fallback current',
};

/** `G0` (§5.3): 0 not connected, 1 connected, 2 unknown (pilot −12 V). */
export function decodeG0(f: RapiFrame): { connected: boolean | null } | null {
  const v = dec(f.args[0]);
  if (v === null || v > 2) return null;
  return { connected: v === 2 ? null : v === 1 };
}

/** `GT yr mo day hr min sec` (§5.3); 165 165 165 165 165 85 = no RTC chip ⇒ null. */
export function decodeGT(f: RapiFrame): { year: number; month: number; day: number; hour: number; minute: number; second: number } | null {
  const v = f.args.slice(0, 6).map(dec);
  if (v.length !== 6 || !all(v)) return null;
  if (v[1] === 165) return null;
  return { year: 2000 + v[0]!, month: v[1]!, day: v[2]!, hour: v[3]!, minute: v[4]!, second: v[5]! };
}

/** `GD sh sm eh em` (§5.3): all zero = no timer. */
export function decodeGD(f: RapiFrame): { startH: number; startM: number; endH: number; endM: number; enabled: boolean } | null {
  const v = f.args.slice(0, 4).map(dec);
  if (v.length !== 4 || !all(v)) return null;
  return { startH: v[0]!, startM: v[1]!, endH: v[2]!, endM: v[3]!, enabled: v.some((x) => x !== 0) };
}

/** Single decimal field replies: `G3` (quarter hours), `G4`, `GH` (kWh), `SC` (amps), `SB`. */
export function decodeNumber(f: RapiFrame): number | null {
  return dec(f.args[0]);
}

/** `GI` (§5.3, §12.4): the double space is already gone (empty tokens are dropped). */
export function decodeGI(f: RapiFrame): string | null {
  return f.args[0] ?? null;
}

/** `G5 state mode` (§5.3). */
export function decodeG5(f: RapiFrame): { locked: boolean; mode: 'auto' | 'manual' } | null {
  const st = dec(f.args[0]);
  if (st === null || (f.args[1] !== 'A' && f.args[1] !== 'M')) return null;
  return { locked: st === 1, mode: f.args[1] === 'A' ? 'auto' : 'manual' };
}

/** `GA`/`GM scale offset`. */
export function decodeScaleOffset(f: RapiFrame): { scale: number; offset: number } | null {
  const a = dec(f.args[0]);
  const b = dec(f.args[1]);
  return a === null || b === null ? null : { scale: a, offset: b };
}

/** `GR dc1 dc2 ac` (§9). */
export function decodeGR(f: RapiFrame): { dc1: boolean; dc2: boolean; ac: boolean } | null {
  const v = f.args.slice(0, 3).map(dec);
  if (v.length !== 3 || !all(v)) return null;
  return { dc1: v[0] === 1, dc2: v[1] === 1, ac: v[2] === 1 };
}

/** `GZ f100 mA` (§9). */
export function decodeGZ(f: RapiFrame): { frequencyHz: number | null; zeroThresholdMa: number } | null {
  const a = dec(f.args[0]);
  const b = dec(f.args[1]);
  return a === null || b === null ? null : { frequencyHz: a === 0 ? null : a / 100, zeroThresholdMa: b };
}

/** `GW hot lastmA closems openms` (§9). */
export function decodeGW(f: RapiFrame): { hot: number; lastMa: number; closeMs: number; openMs: number } | null {
  const v = f.args.slice(0, 4).map(dec);
  if (v.length !== 4 || !all(v)) return null;
  return { hot: v[0]!, lastMa: v[1]!, closeMs: v[2]!, openMs: v[3]! };
}

/** `GL`, 9 decimal fields (§9). */
export function decodeGL(f: RapiFrame): {
  pctRemaining: number;
  coldOpens: number;
  damage: number;
  transitBaselineMs: number;
  drift: boolean;
  thermal: number;
  thermalBaseline: number;
  warn: number;
  recoveries: number;
} | null {
  const v = f.args.slice(0, 9).map(dec);
  if (v.length !== 9 || !all(v)) return null;
  return {
    pctRemaining: v[0]!,
    coldOpens: v[1]!,
    damage: v[2]! / 1e6,
    transitBaselineMs: v[3]!,
    drift: v[4] === 1,
    thermal: v[5]! / 100,
    thermalBaseline: v[6]! / 100,
    warn: v[7]!,
    recoveries: v[8]!,
  };
}

/** `GO` (§5.3, §9): two fields (ambient, IR) before 6.0.0, one (panic threshold) after; 0.1 °C. */
export function decodeGO(f: RapiFrame): { thresholdsC: number[] } | null {
  const v = f.args.map(dec);
  if (!v.length || !all(v)) return null;
  return { thresholdsC: v.map((x) => x! / 10) };
}

/** Formats for the simulator and tests: the board's own printf formats (§4, §5.3). */
export const fmt = {
  hex2: (n: number) => n.toString(16).padStart(2, '0'),
  hex4: (n: number) => n.toString(16).padStart(4, '0'),
  hexBare: (n: number) => n.toString(16),
};
