/**
 * The device side of an MK3-USB with one single-phase 48 V MultiPlus at VE.Bus address 0
 * (shared/protocols/vebus-mk2-simulation.md; § numbers below refer to it, "ref §" to
 * vebus-mk2.md). It speaks bytes over any Transport: the memory transport's device side or a
 * real pseudo-terminal opened with serialport.
 *
 * Policies where the references leave a choice (kept deterministic for tests):
 * - Requests are handled strictly in arrival order; one that arrives while a reply is pending or
 *   being sent waits (or, with `strict`, is dropped) (§1).
 * - Winmon and F requests before any `A 01 00` (no address selected) or for another address
 *   get no reply: the driver must select the address first (§3 says only address 0 has a device).
 * - In compat mode X/Y/Z (and W always) keep only 2 argument bytes (ref §4.1); a command that
 *   then lacks arguments answers `80 01`. W replies are cut to 4 bytes after the letter (§4).
 * - The physical model: a 200 Ah pack (OCV 51.2 V + 1.6 V × SoC, 0.04 Ω), a constant 276 W load,
 *   a 10 A charger (limited by the RAM copy of setting 4). Mains present unless `setMains(false)`.
 *   The RAM copy of setting 15 (VS usage) equal to 3 makes the "ignore AC input" virtual switch
 *   active (the seed's "prefer battery" mode): AC input open, the load runs from the battery.
 *   The RAM copy of Flags0 bit 6 (disable charge) stops the charger (§6 couplings). In the
 *   default scenario every raw value is exactly the one of §5.
 * - Sub-state stays bulk unless forced by 0x0E (no stage machine: the OCV never reaches 57.6 V).
 *
 * Faults through `script` (SimScript), each consumed per request frame it applies to:
 *   'drop-reply'          no reply
 *   'delay-reply'         reply `delayMs` (default 2000) later than usual
 *   'corrupt-checksum'    reply with its checksum byte inverted
 *   'split-reply'         reply written one byte per write, 1 ms apart
 *   'garbage-before'      3 noise bytes written before the reply
 *   'version-before-reply' an (unsolicited-looking) V frame written just before the reply
 *   'error-reply'         a winmon request answered `80 00` (command not supported)
 *   'wrong-address'       an `A 01 aa` echoed with address aa + 1 (address unchanged)
 *   'ack-without-write'   a setting or RAM-var write answered 87/88 but not stored
 */
import type { Clock, TimerHandle } from '../../clock.js';
import type { Transport } from '../../link/transports/types.js';
import { record } from '../../sim/record.js';
import { SimScript } from '../../sim/script.js';
import {
  encodeFrame,
  le16,
  le32,
  letterOf,
  mkFrame,
  readU16,
  RC,
  TYPE_ACIN,
  TYPE_INFO,
  TYPE_MK,
  versionFrame,
  WM,
  isFlagWord,
  type Mk2Frame,
} from './codec.js';
import { Mk2Framer } from './framer.js';

export type VebusSimBehaviour =
  | 'drop-reply'
  | 'delay-reply'
  | 'corrupt-checksum'
  | 'split-reply'
  | 'garbage-before'
  | 'version-before-reply'
  | 'error-reply'
  | 'wrong-address'
  | 'ack-without-write';

export interface VebusSimOptions {
  clock: Clock;
  /** The device side of the link (memory `device` endpoint, or an open SerialTransport on a pty). */
  transport: Transport;
  script?: SimScript<VebusSimBehaviour, Mk2Frame>;
  /** Emit one byte every 4.17 ms (2400 baud 8N1) instead of whole frames at once (§1). */
  wire?: boolean;
  /** Reply latency in ms for every request; default per command (§1: V/A 40, L 80, F 110, winmon 20). */
  latencyMs?: number;
  /** Unsolicited V after this much silence; default 1000 (§2). */
  idleVersionMs?: number;
  /** Drop (instead of queue) a request arriving while busy (§1). */
  strict?: boolean;
  /** MK firmware in V frames; default 1170212 (§2). */
  mkVersion?: number;
  /** Multi firmware for 0x05/0x06; default 2629492 (§4). */
  firmware?: number;
  /** Password for 0x3A (8 bytes, ASCII, zero-padded). Default "powerpla". */
  password?: string;
  /** Extra delay of 'delay-reply'; default 2000 ms. */
  delayMs?: number;
  /** Physics step; default 1000 ms. */
  tickMs?: number;
  /**
   * Compat mode as older devices do it (ref §4.1): GetRAMVarInfo answered `8E sc` and then a
   * second frame `8F off` (instead of `8E sc 8F off` in one frame).
   */
  splitRamVarInfo?: boolean;
}

export const BYTE_TIME_MS = 10_000 / 2400; // 4.1667 ms per byte at 2400 baud 8N1

interface SimSetting {
  scale: number;
  offset: number;
  def: number;
  min: number;
  max: number;
  access: number;
  eeprom: number;
  ram: number;
}

/** §6: (scale, offset, default, min, max, access, value). */
const SETTINGS_TABLE: Array<[number, number, number, number, number, number, number, number?]> = [
  [0, 1, 0, 0x89b4, 0, 0x6ffc, 0, 0x81b4],
  [1, 1, 0, 0x4dfe, 0, 0xffff, 0, 0x4dfe],
  [2, -100, 0, 5760, 4800, 6400, 0, 5760],
  [3, -100, 0, 5520, 4800, 6400, 0, 5520],
  [4, 1, 0, 35, 0, 70, 0, 35],
  [5, 1, 0, 230, 210, 245, 0, 230],
  [6, -10, 0, 160, 30, 500, 0, 160],
  [7, 15, 0, 4, 1, 96, 0],
  [8, 360, 0, 28, 1, 180, 0],
  [9, 60, 0, 8, 1, 24, 0],
  [15, 1, 0, 1, 0, 6, 0],
  [28, -100, 0, 531, 0, 9166, 0],
  [31, -60, -1, 0, 0, 255, 0],
  [56, -100, 0, 531, 0, 9166, 0],
  [57, 1, -1, 0, 0, 255, 0],
  [58, -100, 0, 6400, 0, 7000, 0],
  [64, 1, 0, 0, 0, 65330, 0, 200],
  [65, -2, 0, 170, 60, 200, 0, 190],
  [70, -2, 0, 0, 0, 200, 0, 50],
  [81, 1, 0, 0, 0, 32, 0x01, 0],
];

/** §5: RAM-var info (scale word, offset word). */
const RAM_INFO: Record<number, [number, number]> = {
  0: [0x7f9c, 0],
  1: [0x8064, 0],
  2: [0x7f9c, 0],
  3: [0x7f9c, 0],
  4: [0x7f9c, 0],
  5: [0x800a, 0],
  6: [0x7f9c, 0],
  7: [0x785f, 256],
  8: [0x7c30, 0],
  9: [0x8064, 0],
  11: [5, 0x8000],
  12: [6, 0x8000],
  13: [0x7f38, 0],
  14: [0xffff, 0],
  15: [0xffff, 0],
  16: [0xffff, 0],
  17: [0xffff, 0],
  18: [0xffff, 0],
  19: [0xffff, 0],
};
/** Measured RAM vars: a write answers 80 01 (§6). */
const MEASURED = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19]);

const LOAD_W = 276;
const CAPACITY_AH = 200;
const R_OHM = 0.04;
const ocv = (soc: number): number => 51.2 + 1.6 * soc;

export interface SimMeasurements {
  state: number;
  raw: Record<number, number>;
  /** DC frame currents, 0.1 A. */
  inverterCurrent: number;
  chargerCurrent: number;
  ledOn: number;
  ledBlink: number;
  mainsPeriod: number;
}

export class VebusSim {
  readonly script: SimScript<VebusSimBehaviour, Mk2Frame>;
  private readonly framer = new Mk2Framer({ hostOnly: true });
  private readonly opts: VebusSimOptions;
  private offData: (() => void) | null = null;
  private running = false;
  private asleep = false;
  private busy = false;
  private readonly inbox: Mk2Frame[] = [];
  private idleTimer: TimerHandle | undefined;
  private tickTimer: TimerHandle | undefined;
  private readonly timers = new Set<TimerHandle>();
  /** When the wire is free again (wire mode). */
  private wireFreeAt = 0;

  // --- MK state ---
  address: number | null = null;
  compat = true;
  sFlags = 0;
  switchState = 3;
  limitDeciA = 160;
  readonly minLimitDeciA = 30;
  readonly maxLimitDeciA = 500;
  lineState = 0x05;
  private snapshotIds: number[] = [];
  private snapshot: number[] = [];
  private pendingWrite: { target: 'setting' | 'ram-var'; id: number } | null = null;
  private unlockedUntil = 0;

  // --- device state ---
  readonly settings = new Map<number, SimSetting>();
  readonly ramWritten = new Map<number, number>();
  mainsPresent = true;
  /** Alarm bits and VE.Bus error code the `L` reply carries (ref §6.3); tests set them. */
  alarms = 0;
  vebusError = 0;
  soc = 0.75;
  subState = 1;
  private lastTick = 0;

  /** Counters a test can assert on. */
  readonly counters = { requests: 0, replies: 0, droppedBusy: 0, unsolicitedV: 0, eepromWrites: 0, ramOnlyWrites: 0 };
  /** The request frames received, in order (for "never interleaved" assertions): the most recent SIM_RECORD_LIMIT (src/sim/record.ts). */
  readonly received: Mk2Frame[] = [];

  constructor(opts: VebusSimOptions) {
    this.opts = opts;
    this.script = opts.script ?? new SimScript<VebusSimBehaviour, Mk2Frame>();
    for (const [id, scale, offset, def, min, max, access, value] of SETTINGS_TABLE) {
      const v = value ?? def;
      this.settings.set(id, { scale, offset, def, min, max, access, eeprom: v, ram: v });
    }
  }

  get corruptBytes(): number {
    return this.framer.corruptBytes;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastTick = this.opts.clock.now();
    this.offData = this.opts.transport.onData((chunk) => this.onBytes(chunk));
    this.tickTimer = this.opts.clock.setInterval(() => this.tick(), this.opts.tickMs ?? 1000);
    this.transmit([this.vFrame()], 'unsolicited');
  }

  stop(): void {
    this.running = false;
    this.offData?.();
    this.offData = null;
    this.opts.clock.clearTimeout(this.idleTimer);
    this.opts.clock.clearInterval(this.tickTimer);
    for (const t of this.timers) this.opts.clock.clearTimeout(t);
    this.timers.clear();
  }

  /** The Multi sleeps / the MK loses power: no output at all, input ignored (§2). */
  sleep(asleep: boolean): void {
    this.asleep = asleep;
    if (!asleep && this.running) this.transmit([this.vFrame()], 'unsolicited');
  }

  setMains(present: boolean): void {
    this.mainsPresent = present;
  }

  setting(id: number): SimSetting | undefined {
    return this.settings.get(id);
  }

  // ---------------------------------------------------------------- bytes in

  private onBytes(chunk: Uint8Array): void {
    if (!this.running || this.asleep) return;
    for (const f of this.framer.push(chunk)) {
      if (this.busy && this.opts.strict) {
        this.counters.droppedBusy++;
        continue;
      }
      this.inbox.push(f);
    }
    this.pump();
  }

  private later(ms: number, fn: () => void): void {
    const t = this.opts.clock.setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private pump(): void {
    if (this.busy || !this.running) return;
    const req = this.inbox.shift();
    if (!req) return;
    this.busy = true;
    this.counters.requests++;
    record(this.received, req);
    const replies = this.handle(req);
    let latency = this.opts.latencyMs ?? defaultLatency(req);
    const drop = replies.length > 0 && this.script.take('drop-reply', req);
    if (replies.length > 0 && this.script.take('delay-reply', req)) latency += this.opts.delayMs ?? 2000;
    this.later(latency, () => {
      if (!this.running) return;
      if (drop || replies.length === 0 || this.asleep) {
        // Nothing transmitted: the idle timer (V after 1 s without output, §2) keeps running.
        this.busy = false;
        this.pump();
        return;
      }
      this.counters.replies++;
      this.transmit(replies, req);
    });
  }

  private done(): void {
    this.busy = false;
    this.armIdle();
    this.pump();
  }

  // ---------------------------------------------------------------- bytes out

  private transmit(frames: Mk2Frame[], req: Mk2Frame | 'unsolicited'): void {
    const chunks: Uint8Array[] = [];
    let split = false;
    if (req !== 'unsolicited') {
      if (this.script.take('garbage-before', req)) chunks.push(Uint8Array.of(0x00, 0x13, 0x37));
      if (this.script.take('version-before-reply', req)) chunks.push(encodeFrame(this.vFrame()));
      split = this.script.take('split-reply', req);
    }
    frames.forEach((f, i) => {
      const bytes = encodeFrame(f);
      if (req !== 'unsolicited' && i === frames.length - 1 && this.script.take('corrupt-checksum', req)) {
        bytes[bytes.length - 1] ^= 0xff;
      }
      chunks.push(bytes);
    });
    if (req === 'unsolicited') this.counters.unsolicitedV++;
    const all = concat(chunks);
    const finish = () => (req === 'unsolicited' ? this.armIdle() : this.done());
    if (this.opts.wire) {
      const now = this.opts.clock.now();
      const start = Math.max(now, this.wireFreeAt);
      all.forEach((b, i) => this.later(start - now + (i + 1) * BYTE_TIME_MS, () => this.write(Uint8Array.of(b))));
      this.wireFreeAt = start + all.length * BYTE_TIME_MS;
      this.later(this.wireFreeAt - now, finish);
    } else if (split) {
      all.forEach((b, i) => this.later(i + 1, () => this.write(Uint8Array.of(b))));
      this.later(all.length + 1, finish);
    } else {
      this.write(all);
      finish();
    }
  }

  private write(bytes: Uint8Array): void {
    if (!this.running || this.asleep) return;
    this.opts.transport.write(bytes).catch(() => undefined);
  }

  private armIdle(): void {
    this.opts.clock.clearTimeout(this.idleTimer);
    if (!this.running) return;
    this.idleTimer = this.opts.clock.setTimeout(() => {
      if (!this.running) return;
      if (this.busy || this.asleep) {
        this.armIdle();
        return;
      }
      this.transmit([this.vFrame()], 'unsolicited');
    }, this.opts.idleVersionMs ?? 1000);
  }

  private vFrame(): Mk2Frame {
    return versionFrame(this.opts.mkVersion ?? 1170212, this.address === null ? 'B' : this.address);
  }

  // ---------------------------------------------------------------- physics

  private tick(): void {
    const now = this.opts.clock.now();
    const dtH = (now - this.lastTick) / 3_600_000;
    this.lastTick = now;
    const m = this.measure();
    const ibat = signed16(m.raw[5]!) / 10;
    this.soc = Math.min(1, Math.max(0, this.soc + (ibat * dtH) / CAPACITY_AH));
  }

  private ramSetting(id: number): number {
    return this.settings.get(id)!.ram;
  }

  /** Everything the frames report, from the state (§5 exactly in the default scenario). */
  measure(): SimMeasurements {
    const flags0 = this.ramSetting(0);
    const disableCharge = (flags0 & 0x40) !== 0;
    const ignoreAc = this.ramSetting(15) === 3;
    const off = this.switchState === 4;
    const chargerAllowed = this.switchState === 1 || this.switchState === 3;
    const inverterAllowed = this.switchState === 2 || this.switchState === 3;
    const acAvailable = this.mainsPresent && !ignoreAc && !off;
    let state: number;
    let chargeA = 0;
    let dischargeA = 0;
    let outputOn = true;
    if (off) {
      state = 2;
      outputOn = false;
    } else if (acAvailable) {
      if (chargerAllowed && !disableCharge) {
        state = 9;
        chargeA = Math.min(10, this.ramSetting(4));
      } else {
        state = 8;
      }
    } else if (inverterAllowed) {
      state = 4;
    } else {
      state = 2;
      outputOn = false;
    }
    const loadW = outputOn ? LOAD_W : 0;
    const openV = ocv(this.soc);
    if (state === 4) dischargeA = (loadW + 30) / openV;
    const ibat = chargeA - dischargeA;
    const ubat = openV + ibat * R_OHM;
    const mainsIn = this.mainsPresent ? 23012 : 0;
    const inPowerW = acAvailable ? loadW + (chargeA > 0 ? 560 : 0) : 0;
    const raw: Record<number, number> = {
      0: mainsIn,
      1: acAvailable ? Math.round((inPowerW / 230.12) * 100) : 0,
      2: outputOn ? 23005 : 0,
      3: outputOn ? 120 : 0,
      4: Math.round(ubat * 100),
      5: Math.round(ibat * 10) & 0xffff,
      6: 5,
      7: 135,
      8: this.mainsPresent ? 195 : 0,
      9: outputOn ? 120 : 0,
      11: ignoreAc ? 0x0010 : 0x0000,
      12: 0x0020,
      13: Math.round(this.soc * 200),
      14: (chargeA > 0 ? 560 : state === 4 ? -(loadW + 30) : 0) & 0xffff,
      15: -inPowerW & 0xffff,
      16: loadW,
      17: (chargeA > 0 ? 563 : state === 4 ? -(loadW + 31) : 0) & 0xffff,
      18: (acAvailable ? -(inPowerW + (chargeA > 0 ? 2 : 0)) : 0) & 0xffff,
      19: outputOn ? loadW + 1 : 0,
    };
    for (const [id, v] of this.ramWritten) if (id !== 13) raw[id] = v;
    let ledOn = 0;
    let ledBlink = 0;
    if (acAvailable) ledOn |= 0x01;
    if (state === 9) {
      const s = this.subState;
      if (s === 1) ledOn |= 0x04;
      else if (s === 2 || s === 5 || s === 6) ledOn |= 0x02;
      else if (s === 3 || s === 4) ledOn |= 0x08;
      else if (s === 7) ledBlink |= 0x02;
    }
    if (state === 4) ledOn |= 0x10;
    return {
      state,
      raw,
      inverterCurrent: Math.round(dischargeA * 10),
      chargerCurrent: Math.round(chargeA * 10),
      ledOn,
      ledBlink,
      mainsPeriod: this.mainsPresent ? 195 : 0xff,
    };
  }

  // ---------------------------------------------------------------- frames

  dcFrame(): Mk2Frame {
    const m = this.measure();
    const u24 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff];
    return { type: TYPE_INFO, body: Uint8Array.from([0, 0, 0, 0, 0x0c, ...le16(m.raw[4]!), ...u24(m.inverterCurrent), ...u24(m.chargerCurrent), m.raw[7]!]) };
  }

  acFrame(): Mk2Frame {
    const m = this.measure();
    const r = m.raw;
    return { type: TYPE_INFO, body: Uint8Array.from([1, 1, 0, m.state, 0x08, ...le16(r[0]!), ...le16(r[1]!), ...le16(r[2]!), ...le16(r[3]!), m.mainsPeriod]) };
  }

  switchRegister(): number {
    const charger = this.switchState === 1 || this.switchState === 3;
    const inverter = this.switchState === 2 || this.switchState === 3;
    return 0x04 | 0x40 | (charger ? 0x11 : 0) | (inverter ? 0x22 : 0);
  }

  acInFrame(): Mk2Frame {
    const m = this.measure();
    return {
      type: TYPE_ACIN,
      body: Uint8Array.from([0x10, m.ledOn, m.ledBlink, 0, 0x14, ...le16(this.minLimitDeciA), ...le16(this.maxLimitDeciA), ...le16(this.limitDeciA), this.switchRegister()]),
    };
  }

  ledFrame(): Mk2Frame {
    const m = this.measure();
    return mkFrame('L', m.ledOn, m.ledBlink, this.alarms, this.vebusError & 0x1f, 0x80, 0x00);
  }

  // ---------------------------------------------------------------- requests

  /** The reply frames for one request (maybe none); applies its state change. */
  private handle(req: Mk2Frame): Mk2Frame[] {
    if (req.type !== TYPE_MK) return [];
    const letter = letterOf(req)!;
    const d = req.body.subarray(1);
    switch (letter) {
      case 'V':
        return [this.vFrame()];
      case 'A': {
        if (d.length < 2) return [];
        if (d[0] === 1) {
          if (this.script.take('wrong-address', { type: TYPE_MK, body: req.body })) return [mkFrame('A', 1, (d[1]! + 1) & 0xff)];
          this.address = d[1]!;
          return [mkFrame('A', 1, d[1]!)];
        }
        return [mkFrame('A', 0, this.address ?? 0)];
      }
      case 'R':
        this.resetMk();
        return [this.vFrame()];
      case 'S':
        this.applyS(d);
        return [mkFrame('S')];
      case 'L':
        return [this.ledFrame()];
      case 'F':
        return this.handleF(d);
      case 'H':
        if (d.length >= 1) this.lineState = d[0]!;
        return [mkFrame('H', this.lineState)];
      case 'D':
        return [mkFrame('D', 3, 0, 0, 0, 0)];
      case 'W':
      case 'X':
      case 'Y':
      case 'Z':
        return this.handleWinmon(letter, d);
      default:
        return [];
    }
  }

  private deviceSelected(): boolean {
    return this.address === 0;
  }

  private resetMk(): void {
    this.address = null;
    this.compat = true;
    this.sFlags = 0;
    this.pendingWrite = null;
    for (const s of this.settings.values()) s.ram = s.eeprom;
  }

  private applyS(d: Uint8Array): void {
    if (d.length < 5) return;
    const sw = d[0]!;
    const limit = readU16(d, 1);
    const flags = d[4]!;
    this.sFlags = flags;
    if (flags & 0x80 && limit !== 0x8000) this.limitDeciA = Math.min(this.maxLimitDeciA, Math.max(this.minLimitDeciA, limit));
    if (!(flags & 0x10) && sw >= 1 && sw <= 4) this.switchState = sw;
    if (d.length >= 7) this.compat = (d[6]! & 0x01) !== 0;
  }

  private handleF(d: Uint8Array): Mk2Frame[] {
    if (d.length < 1 || !this.deviceSelected()) return [];
    switch (d[0]) {
      case 0:
        return [this.dcFrame()];
      case 1:
        return [this.acFrame()];
      case 5:
        return [this.acInFrame()];
      case 6: {
        const ids = Array.from(d.subarray(1, 7));
        const raw = this.measure().raw;
        this.snapshotIds = ids;
        this.snapshot = ids.map((id) => raw[id] ?? 0);
        return [];
      }
      case 8:
        // Device reset (ref §3.2): RAM copies back to the EEPROM ones; V frames continue.
        for (const st of this.settings.values()) st.ram = st.eeprom;
        this.subState = 1;
        return [];
      default:
        return []; // 2..4: phase absent (policy)
    }
  }

  private handleWinmon(letter: 'W' | 'X' | 'Y' | 'Z', d: Uint8Array): Mk2Frame[] {
    if (!this.deviceSelected() || d.length < 1) return [];
    const cmd = d[0]!;
    const limit2 = letter === 'W' || this.compat;
    const args = limit2 ? d.subarray(1, 3) : d.subarray(1, 7);
    const reply = (...data: number[]): Mk2Frame[] => {
      const body = [letter.charCodeAt(0), ...data.map((x) => x & 0xff)];
      return [{ type: TYPE_MK, body: Uint8Array.from(letter === 'W' ? body.slice(0, 5) : body) }];
    };
    if (this.script.take('error-reply', { type: TYPE_MK, body: Uint8Array.from([letter.charCodeAt(0), ...d]) })) return reply(RC.NotSupported, 0);
    switch (cmd) {
      case WM.ReadRAMVar: {
        const ids = Array.from(args);
        if (ids.length === 0) return reply(RC.NotSupported, 1);
        const raw = this.measure().raw;
        const out: number[] = [];
        for (let i = 0; i < ids.length; i++) {
          const id = ids[i]!;
          const v = id >= 128 ? (this.ramWritten.get(id) ?? 0) : RAM_INFO[id] ? raw[id] : undefined;
          if (v === undefined) return reply(RC.RamVarUnsupported, i + 1);
          out.push(...le16(v));
        }
        return reply(RC.RamVars, ...out);
      }
      case WM.ReadSetting: {
        if (args.length < 2) return reply(RC.NotSupported, 1);
        const s = this.settings.get(readU16(args, 0));
        return s ? reply(RC.Setting, ...le16(s.eeprom)) : reply(RC.SettingUnsupported);
      }
      case WM.GetSettingInfo: {
        if (args.length < 2) return reply(RC.NotSupported, 1);
        const s = this.settings.get(readU16(args, 0));
        if (this.compat) {
          if (!s) return reply(RC.SettingInfo, 0, 0);
          return reply(RC.SettingInfo, ...le16(s.scale), 0x8a, ...le16(s.offset), 0x8b, ...le16(s.def), 0x8c, ...le16(s.min), 0x8d, ...le16(s.max));
        }
        if (!s) return reply(RC.SettingInfo);
        return reply(RC.SettingInfo, ...le16(s.scale), ...le16(s.offset), ...le16(s.def), ...le16(s.min), ...le16(s.max), s.access);
      }
      case WM.GetRAMVarInfo: {
        if (args.length < 2) return reply(RC.NotSupported, 1);
        const id = readU16(args, 0);
        const info = RAM_INFO[id] ?? (id >= 128 && id < 136 ? ([0xffff, 0] as [number, number]) : undefined);
        if (this.compat && info && this.opts.splitRamVarInfo) return [...reply(RC.RamVarInfo, ...le16(info[0])), ...reply(0x8f, ...le16(info[1]))];
        if (this.compat) return info ? reply(RC.RamVarInfo, ...le16(info[0]), 0x8f, ...le16(info[1])) : reply(RC.RamVarInfo, 0, 0);
        return info ? reply(RC.RamVarInfo, ...le16(info[0]), ...le16(info[1])) : reply(RC.RamVarInfo);
      }
      case WM.WriteViaID: {
        if (this.compat || args.length < 4) return reply(RC.NotSupported, 1);
        const flags = args[0]!;
        const id = args[1]!;
        const value = readU16(args, 2);
        if (flags & 0x01) return this.writeSetting(id, value, (flags & 0x02) !== 0, reply);
        return this.writeRam(id, value, reply);
      }
      case WM.WriteRAMVar:
      case WM.WriteSetting: {
        if (!this.compat) return reply(RC.NotSupported, 0);
        if (args.length < 2) return reply(RC.NotSupported, 1);
        this.pendingWrite = { target: cmd === WM.WriteSetting ? 'setting' : 'ram-var', id: readU16(args, 0) };
        return [];
      }
      case WM.WriteData: {
        const p = this.pendingWrite;
        this.pendingWrite = null;
        if (!this.compat || !p || args.length < 2) return reply(RC.NotSupported, 0);
        const value = readU16(args, 0);
        return p.target === 'setting' ? this.writeSetting(p.id, value, false, reply) : this.writeRam(p.id, value, reply);
      }
      case WM.GetSetDeviceState: {
        const r = args[0] ?? 0;
        if (r === 1) this.subState = 7;
        else if (r === 2) this.subState = 6;
        else if (r === 3) this.subState = 3;
        return reply(RC.DeviceState, this.measure().state, this.subState);
      }
      case WM.SendSoftwareVersionPart0: {
        const fw = this.opts.firmware ?? 2629492;
        return this.compat ? reply(RC.Version0, ...le16(fw & 0xffff)) : reply(RC.Version0, ...le32(fw));
      }
      case WM.SendSoftwareVersionPart1:
        return reply(RC.Version1, ...le16((this.opts.firmware ?? 2629492) >>> 16));
      case WM.ReadSnapShot:
        return reply(RC.Snapshot, ...this.snapshot.flatMap((v) => le16(v)));
      case WM.AccessPassword: {
        const pw = Buffer.alloc(8);
        pw.write(this.opts.password ?? 'powerpla', 'ascii');
        const got = Buffer.from(d.subarray(1, 9));
        if (got.length === 8 && got.equals(pw)) {
          this.unlockedUntil = this.opts.clock.now() + 30_000;
          return reply(RC.PasswordOk);
        }
        return reply(RC.NotSupported, 1);
      }
      default:
        return reply(RC.NotSupported, 0);
    }
  }

  private writeSetting(id: number, value: number, ramOnly: boolean, reply: (...d: number[]) => Mk2Frame[]): Mk2Frame[] {
    const s = this.settings.get(id);
    if (!s) return reply(RC.NotSupported, 1);
    if (s.access > 0 && this.opts.clock.now() >= this.unlockedUntil) return reply(RC.AccessDenied, s.access);
    if (!isFlagWord(id) && (value < s.min || value > s.max)) return reply(RC.NotSupported, 1);
    if (this.script.take('ack-without-write', mkFrame('X', WM.WriteViaID, ramOnly ? 3 : 1, id))) return reply(RC.SettingWritten);
    s.ram = value;
    if (ramOnly) this.counters.ramOnlyWrites++;
    else {
      s.eeprom = value;
      this.counters.eepromWrites++;
    }
    return reply(RC.SettingWritten);
  }

  private writeRam(id: number, value: number, reply: (...d: number[]) => Mk2Frame[]): Mk2Frame[] {
    if (MEASURED.has(id) || (id !== 13 && id < 128)) return reply(RC.NotSupported, 1);
    if (this.script.take('ack-without-write', mkFrame('X', WM.WriteViaID, 0, id))) return reply(RC.RamVarWritten);
    if (id === 13) this.soc = Math.min(1, value / 200);
    else this.ramWritten.set(id, value);
    return reply(RC.RamVarWritten);
  }
}

function defaultLatency(req: Mk2Frame): number {
  switch (letterOf(req)) {
    case 'L':
      return 80;
    case 'F':
      return 110;
    case 'W':
    case 'X':
    case 'Y':
    case 'Z':
      return 20;
    default:
      return 40;
  }
}

function signed16(v: number): number {
  return ((v & 0xffff) << 16) >> 16;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
