/**
 * The session with one VE.Bus device (MultiPlus / Quattro) through an MK2/MK3
 * (shared/protocols/vebus-mk2.md; "sim §" = vebus-mk2-simulation.md). It owns no policy: it
 * reads, reports and carries out admitted writes.
 *
 * Session (ref §5):
 * 1. Searching: the MK announces itself with unsolicited `V` frames (≈ every 1–1.5 s). The
 *    driver never probes; a link up with no frame for `silenceMs` (3 s) reports "no device"
 *    (presence offline, once). Any later frame restarts the session.
 * 2. Init: `A 01 <address>` and its echo must name the same address (else the session fails
 *    and is retried on a later V); then the extended `S` (switch 3, limit unchanged, flags
 *    0x90, ext0 0x00 = combined frames) and its `S` reply, before any read (sim §8 check 3);
 *    then the firmware version (0x05) and the scaling of every RAM variable and setting the
 *    polling plan and the settings table use: GetRAMVarInfo / GetSettingInfo once per id,
 *    cached for the driver's life (scaling is static for a device, ref §5 step 4).
 * 3. Ready: a poll every `pollIntervalMs`: F 0 (DC), F 1 (AC L1) and F 2..4 when the device
 *    has those phases, L (LEDs, alarms, VE.Bus error), 0x0E inquiry (device state and charge
 *    sub-state: bulk/absorption/float), ReadRAMVar batches of ≤ 6 ids, F 5
 *    (the 0x41 frame: the AC-input current limit). One `reading` per poll, plus a `status` fact.
 * 4. Offline: silence for `silenceMs` (V frames stop: Multi asleep or MK unpowered), the
 *    link going down, or 3 polls in a row that the device did not answer at all (the MK
 *    still talks; then the session restarts with the address select on the next V). A V frame whose tail is no longer our address means the MK was reset
 *    (VELIB): the session is re-initialised.
 *
 * Exchanges (ref §5 concurrency): one request in flight (RequestQueue) and, above it, one
 * driver operation at a time (`exclusive`): a poll step, or a whole write with its read-back,
 * so a two-step write (compat mode) can never be interleaved. Winmon requests rotate X → Y → Z
 * (VELIB) and a reply must carry the request's letter AND one of the response codes that
 * request can produce; V frames and anything else in between go to the unsolicited path. After
 * a timeout the queue's late window discards a late reply, and the rotated letter means one
 * arriving even later cannot match the next request either.
 *
 * Errors (sim §8 check 6): 0x80 → 'not-supported', 0x90 → 'ram-var-unsupported',
 * 0x91 → 'setting-unsupported', 0x9B → 'access-denied', no reply → 'timeout'; each a distinct
 * `VebusError` kind with its own refusal code.
 *
 * Writes: WriteViaID (0x37) in combined mode; the two-step 0x32/0x33 + 0x34 only with
 * `compat: true` (old firmware). A persistent setting write is read back with ReadSetting and
 * a difference is a failure (not retried). A RAM-only write cannot be read back (ref §10.9):
 * the result says so and the driver remembers the RAM value for its view. Persistent writes
 * are rate-limited (EEPROM wear): a write equal to the EEPROM copy is skipped, at most
 * `persistentWritesPerHour`, and the line stays quiet `persistentWriteGapMs` after each.
 */
import { SilenceWatchdog, type Clock, type TimerHandle } from '../../clock.js';
import type { Code } from '../../codes.js';
import { RequestQueue, type RequestResult } from '../../link/request-queue.js';
import type { Link, LinkState } from '../../link/types.js';
import type { AdmittedCommand, DeviceDriver, ExecuteResult, FlagChange, FrameRecord, Observation, Values } from '../contract.js';
import {
  addressSelect,
  applyRamVar,
  applySetting,
  combinedModeCommand,
  decodeAcInfo,
  decodeAcInputConfig,
  decodeAddressReply,
  decodeDcInfo,
  decodeDeviceState,
  decodeLedReply,
  decodeRamVarInfo,
  decodeRamVarOffset,
  decodeRamVarValues,
  decodeSettingInfo,
  decodeSettingValue,
  decodeSoftwareVersion,
  decodeVersion,
  decodeWinmon,
  describeFrame,
  encodeFrame,
  flagLocation,
  getDeviceState,
  getRamVarInfo,
  getSettingInfo,
  infoFrameKind,
  infoRequest,
  ledRequest,
  letterOf,
  RAM_VAR_NAMES,
  ramVarScaling,
  rawOfRamVar,
  rawOfSetting,
  RC,
  readRamVars,
  readSetting,
  SETTING_NAMES,
  softwareVersion,
  TYPE_ACIN,
  writeAddress,
  writeData,
  writeViaId,
  type AcInfo,
  type AcInputConfig,
  type DcInfo,
  type LedReply,
  type Mk2Frame,
  type RamVarInfo,
  type SettingInfo,
  type WinmonLetter,
  type WinmonReply,
} from './codec.js';

// ------------------------------------------------------------------------------------ types

/** One write (values in engineering units, as the device's own scaling gives them). */
export type VebusWrite =
  | { kind: 'write-ram-var'; id: number; value: number | boolean }
  | { kind: 'write-setting'; id: number; value: number; ramOnly: boolean }
  | { kind: 'set-flag'; flag: number; value: boolean; ramOnly: boolean };

/** What the gate admits for this family: one write, or a named mode's writes in order. */
export type VebusCommand = VebusWrite | { kind: 'apply-mode'; mode: string; steps: VebusWrite[] };

export interface VebusStatus {
  dc: DcInfo | null;
  /** 0x0E inquiry: device state and charge sub-state (§6.4). */
  deviceState: { state: number; stateName: string; subState: number; subStateName: string } | null;
  ac: AcInfo[];
  leds: LedReply | null;
  acInput: AcInputConfig | null;
  /** Scaled RAM values of the batch (boolean for bit variables). */
  ramVars: Record<number, number | boolean | null>;
}

/** The family's own facts (for its projection). */
export type VebusFact =
  | { kind: 'session'; state: 'searching' | 'init' | 'ready' | 'offline' | 'no-device'; detail: string }
  | { kind: 'mk'; version: number; tail: 'B' | 'W' | number }
  | { kind: 'firmware'; version: number }
  | { kind: 'ram-var-info'; id: number; name: string | null; info: RamVarInfo }
  | { kind: 'setting-info'; id: number; name: string | null; info: SettingInfo }
  /** The EEPROM copy of a setting (what ReadSetting returns). */
  | { kind: 'setting'; id: number; raw: number; value: number | null }
  /** A RAM-only setting write the driver made: in effect, invisible to ReadSetting (ref §10.9). */
  | { kind: 'setting-ram-only'; id: number; raw: number; value: number | null }
  | { kind: 'status'; status: VebusStatus };

export type VebusErrorKind =
  | 'timeout'
  | 'link-down'
  | 'write-failed'
  | 'not-supported'
  | 'ram-var-unsupported'
  | 'setting-unsupported'
  | 'access-denied'
  | 'bad-reply'
  | 'echo-mismatch'
  | 'read-back-mismatch'
  | 'rate-limited'
  | 'out-of-range'
  | 'offline'
  | 'aborted';

const ERROR_CODE: Record<VebusErrorKind, Code> = {
  timeout: 'DEVICE_OFFLINE',
  'link-down': 'LINK_DOWN',
  'write-failed': 'LINK_DOWN',
  'not-supported': 'CONFLICT',
  'ram-var-unsupported': 'NOT_FOUND',
  'setting-unsupported': 'NOT_FOUND',
  'access-denied': 'FORBIDDEN',
  'bad-reply': 'INTERNAL',
  'echo-mismatch': 'CONFLICT',
  'read-back-mismatch': 'CONFLICT',
  'rate-limited': 'RATE_LIMITED',
  'out-of-range': 'OUT_OF_RANGE',
  offline: 'DEVICE_OFFLINE',
  aborted: 'DEVICE_OFFLINE',
};

export class VebusError extends Error {
  readonly code: Code;
  constructor(
    readonly kind: VebusErrorKind,
    message: string,
    /** The offending byte: index for 0x90, access level for 0x9B, request byte for 0x80. */
    readonly detail: number | null = null,
  ) {
    super(message);
    this.name = 'VebusError';
    this.code = ERROR_CODE[kind];
  }
}

export interface VebusDriverOptions {
  link: Link<Mk2Frame>;
  clock: Clock;
  /** Engine device id, e.g. "vebus-multi". */
  deviceId: string;
  /** For messages, e.g. "MultiPlus multi (/dev/ttyUSB1)"; default `VE.Bus device <deviceId>`. */
  name?: string;
  /** VE.Bus address of the device; 0 for a single unit. */
  address?: number;
  pollIntervalMs?: number;
  /** Per request; default 500 ms (MK2PY). */
  requestTimeoutMs?: number;
  /** For the `A` echo; default 2000 ms (MK2PY). */
  addressTimeoutMs?: number;
  /** No frame for this long = no device / offline; default 3000 ms. */
  silenceMs?: number;
  /** RAM variables polled in batches of ≤ 6 (unsupported ones are left out). */
  ramVarIds?: number[];
  /** Settings whose info and EEPROM value are read at init, before the first poll (modes, card). */
  settingIds?: number[];
  /**
   * Read after the device is ready, in the background between polls, so the gate and the
   * settings table know them: setting info + value (default: every named setting, §9) and
   * RAM-var info (default: every named RAM variable, §8). Info is cached; [] turns it off.
   */
  sweepSettingIds?: number[];
  sweepRamVarIds?: number[];
  /** Number of AC phases; default: what the L1 frame claims (ref §6.2: do not trust it blindly). */
  phases?: number;
  /** Stay in compat mode and write with the two-step commands (old firmware). Default false. */
  compat?: boolean;
  /** Quiet time after each persistent write (ref §5: 50–200 ms). Default 200. */
  persistentWriteGapMs?: number;
  /** EEPROM-wear budget. Default 30 per rolling hour. */
  persistentWritesPerHour?: number;
  /** Counters of the link's framer etc. for `stats()` (e.g. `() => ({ corruptBytes: framer.corruptBytes })`). */
  linkStats?: () => Values;
}

export const DEFAULT_RAM_VAR_IDS = [9, 10, 11, 12, 13, 14, 15, 16];
export const DEFAULT_SETTING_IDS = [0, 1, 2, 3, 4, 5, 6, 15, 64, 65];
/** Polls in a row without any answer before the device is called offline. */
const DEAD_POLLS = 3;
/** RAM vars whose scaling the info frames need (§6.1, §6.2). */
const FRAME_RAM_VARS = [0, 1, 2, 3, 4, 5, 7, 8];

type Phase = 'searching' | 'init' | 'ready' | 'offline' | 'no-device';

// ------------------------------------------------------------------------------------ driver

export class VebusDriver implements DeviceDriver<VebusCommand, VebusFact> {
  private readonly o: Required<Omit<VebusDriverOptions, 'phases' | 'linkStats' | 'name'>> & Pick<VebusDriverOptions, 'phases' | 'linkStats'> & { name: string };
  private readonly listeners = new Set<(o: Observation<VebusFact>) => void>();
  private queue: RequestQueue<Mk2Frame> | null = null;
  private detachQueue: (() => void) | null = null;
  private offs: Array<() => void> = [];
  private watchdog: SilenceWatchdog | null = null;
  private pollTimer: TimerHandle | undefined;
  private running = false;
  private phase: Phase = 'searching';
  /** Incremented whenever a session ends: stale async steps compare and stop. */
  private gen = 0;
  private online = false;
  private letterIdx = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private polling = false;
  private phasesSeen: number | null = null;
  private mkVersion: number | null = null;
  private firmware: number | null = null;
  private readonly ramInfo = new Map<number, RamVarInfo>();
  private readonly settingInfo = new Map<number, SettingInfo>();
  private readonly eeprom = new Map<number, number>();
  /** RAM-only values this driver wrote (the device cannot tell them). */
  private readonly ramOnly = new Map<number, number>();
  private readonly persistentWrites: number[] = [];
  private alarms = new Set<string>();
  /** Polls in a row in which the device answered nothing. */
  private deadPolls = 0;
  /** Recent unsolicited non-V frames (the second half of a split RAM-var info) and who waits for one. */
  private recent: Array<{ at: number; frame: Mk2Frame }> = [];
  private readonly waiters = new Set<(f: Mk2Frame) => boolean>();
  private readonly counters = { sessions: 0, polls: 0, pollErrors: 0, timeouts: 0, infoReads: 0, writes: 0, readBackFailures: 0, mkResets: 0, skippedUnsolicited: 0 };

  constructor(opts: VebusDriverOptions) {
    this.o = {
      address: 0,
      pollIntervalMs: 2000,
      requestTimeoutMs: 500,
      addressTimeoutMs: 2000,
      silenceMs: 3000,
      ramVarIds: DEFAULT_RAM_VAR_IDS,
      settingIds: DEFAULT_SETTING_IDS,
      sweepSettingIds: Object.keys(SETTING_NAMES).map(Number),
      sweepRamVarIds: Object.keys(RAM_VAR_NAMES).map(Number),
      compat: false,
      persistentWriteGapMs: 200,
      persistentWritesPerHour: 30,
      ...opts,
      name: opts.name ?? `VE.Bus device ${opts.deviceId}`,
    };
  }

  // ---------------------------------------------------------------- DeviceDriver

  start(): void {
    if (this.running) return;
    this.running = true;
    const { link, clock } = this.o;
    const { queue, detach } = RequestQueue.forLink(link, { clock, device: this.o.name, timeoutMs: this.o.requestTimeoutMs, retries: 1 });
    this.queue = queue;
    this.detachQueue = detach;
    this.offs.push(
      queue.onUnsolicited((f) => this.onUnsolicited(f)),
      link.onFrame((f) => this.onRx(f)),
      link.onTx((f) => this.record('tx', f)),
      link.onState((s, d) => this.onLinkState(s, d)),
    );
    this.watchdog = new SilenceWatchdog({ clock, tickMs: 250, check: () => this.checkSilence() });
    this.watchdog.start();
    if (link.state === 'up') this.watchdog.heard('mk');
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.gen++;
    for (const off of this.offs) off();
    this.offs = [];
    this.watchdog?.stop();
    this.o.clock.clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    this.queue?.dispose('driver stopped');
    this.detachQueue?.();
  }

  onObservation(listener: (o: Observation<VebusFact>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): Values {
    const q = this.queue?.stats;
    return {
      phase: this.phase,
      ...this.counters,
      queueRequests: q?.requests ?? 0,
      queueReplies: q?.replies ?? 0,
      queueTimeouts: q?.timeouts ?? 0,
      lateReplies: q?.lateReplies ?? 0,
      unsolicited: q?.unsolicited ?? 0,
      ...(this.o.linkStats?.() ?? {}),
    };
  }

  /** Cached scaling, for the gate's context (check.ts) and tests. */
  scaling(): { ramVars: ReadonlyMap<number, RamVarInfo>; settings: ReadonlyMap<number, SettingInfo> } {
    return { ramVars: this.ramInfo, settings: this.settingInfo };
  }

  /**
   * Reads RAM variables now (the CLI's --list, tests): raw words scaled with the cached info.
   * Unsupported ids are NOT filtered out: the device answers 0x90 and this rejects with a
   * 'ram-var-unsupported' VebusError whose `detail` is the 1-based index.
   */
  async readRamVars(ids: number[]): Promise<Array<{ id: number; raw: number; value: number | boolean | null }>> {
    if (ids.length < 1 || ids.length > 6) throw new VebusError('out-of-range', `${this.o.name}: ReadRAMVar takes 1–6 ids, got ${ids.length}`);
    if (this.phase !== 'ready') throw new VebusError('offline', `${this.o.name} is not connected (${this.phase})`);
    const gen = this.gen;
    const raw = await this.exclusive(gen, () => this.readRamRaw(ids));
    return ids.map((id, i) => {
      const info = this.ramInfo.get(id);
      return { id, raw: raw[i]!, value: info ? applyRamVar(info, raw[i]!) : null };
    });
  }

  /** Reads a setting's info (cached) and EEPROM value now; rejects 'setting-unsupported' on 0x91. */
  async readSetting(id: number): Promise<{ id: number; raw: number; value: number | null; info: SettingInfo | null; ramOnly: number | null }> {
    if (this.phase !== 'ready') throw new VebusError('offline', `${this.o.name} is not connected (${this.phase})`);
    const gen = this.gen;
    const raw = await this.exclusive(gen, () => this.readSettingValue(gen, id));
    const info = await this.exclusive(gen, () => this.readSettingInfo(gen, id)).catch(() => null);
    return { id, raw, value: info?.supported ? applySetting(info, raw) : null, info, ramOnly: this.ramOnly.get(id) ?? null };
  }

  get sessionPhase(): Phase {
    return this.phase;
  }

  async execute(cmd: AdmittedCommand<VebusCommand>): Promise<ExecuteResult> {
    if (this.phase !== 'ready') {
      return { ok: false, code: 'DEVICE_OFFLINE', message: `${this.o.name} is not connected (${this.phase}); the write was not sent — check the MK3 cable and that the Multi is on` };
    }
    const gen = this.gen;
    try {
      if (cmd.kind === 'apply-mode') {
        const done: Values = {};
        for (const [i, step] of cmd.steps.entries()) {
          try {
            const r = await this.exclusive(gen, () => this.write(gen, step));
            for (const [k, v] of Object.entries(r.values)) done[`${i}.${k}`] = v;
          } catch (err) {
            const e = asVebusError(err);
            const n = cmd.steps.length;
            const applied = i === 0 ? 'no step was applied' : i === 1 ? `step 1 of ${n} was applied and stays in effect` : `steps 1–${i} of ${n} were applied and stay in effect`;
            return { ok: false, code: e.code, message: `mode ${cmd.mode}: step ${i + 1} failed: ${e.message}; ${applied}`, readBack: done };
          }
        }
        return { ok: true, sent: true, readBack: done, message: `${this.o.name}: mode ${cmd.mode} applied (${cmd.steps.length} writes)` };
      }
      const r = await this.exclusive(gen, () => this.write(gen, cmd));
      return { ok: true, sent: r.sent, readBack: r.values, message: r.message };
    } catch (err) {
      const e = asVebusError(err);
      return { ok: false, code: e.code, message: e.message };
    }
  }

  // ---------------------------------------------------------------- observations

  private emit(o: Observation<VebusFact>): void {
    for (const l of this.listeners) {
      try {
        l(o);
      } catch {
        // A listener's bug must not stop the driver.
      }
    }
  }

  private fact(fact: VebusFact): void {
    this.emit({ type: 'fact', at: this.o.clock.now(), deviceId: this.o.deviceId, fact });
  }

  private record(dir: 'rx' | 'tx', f: Mk2Frame): void {
    const d = describeFrame(f, dir);
    const frame: FrameRecord = {
      protocol: 'mk2',
      dir,
      address: String(this.o.address),
      bytes: encodeFrame(f),
      text: d.text,
      kind: d.kind,
      deviceId: this.o.deviceId,
    };
    this.emit({ type: 'frame', at: this.o.clock.now(), frame });
  }

  private setPhase(p: Phase, detail: string): void {
    if (this.phase === p) return;
    this.phase = p;
    this.fact({ kind: 'session', state: p, detail });
  }

  private setOnline(online: boolean, reason: string): void {
    if (this.online === online) return;
    this.online = online;
    this.emit({
      type: 'presence',
      at: this.o.clock.now(),
      deviceId: this.o.deviceId,
      online,
      reason,
      identity: online ? { mkVersion: this.mkVersion, firmware: this.firmware, address: this.o.address } : undefined,
    });
  }

  // ---------------------------------------------------------------- link events

  private onRx(f: Mk2Frame): void {
    this.record('rx', f);
    this.watchdog?.heard('mk');
  }

  private onLinkState(s: LinkState, detail: string): void {
    this.emit({ type: 'link', at: this.o.clock.now(), state: s, detail });
    if (s === 'up') {
      this.watchdog?.heard('mk');
      this.endSession('searching', `link up (${detail}); waiting for the MK's V frames`);
    } else {
      this.endSession('offline', `link ${s}: ${detail}`);
      this.setOnline(false, `link ${s}: ${detail}`);
    }
  }

  private onUnsolicited(f: Mk2Frame): void {
    const v = decodeVersion(f);
    if (!v) {
      this.counters.skippedUnsolicited++;
      this.recent.push({ at: this.o.clock.now(), frame: f });
      if (this.recent.length > 8) this.recent.shift();
      for (const w of [...this.waiters]) if (w(f)) this.waiters.delete(w);
      return;
    }
    this.fact({ kind: 'mk', version: v.version, tail: v.tail });
    this.mkVersion = v.version;
    if (this.phase === 'searching' || this.phase === 'offline' || this.phase === 'no-device') {
      void this.runSession();
    } else if (this.phase === 'ready' && v.tail !== this.o.address) {
      // VELIB: a change of the V tail means the MK was reset; address and S are gone.
      this.counters.mkResets++;
      this.endSession('searching', `the MK was reset (V frame says ${typeof v.tail === 'number' ? `address ${v.tail}` : `mode ${v.tail}`}); re-initialising`);
      void this.runSession();
    }
  }

  private checkSilence(): void {
    const silent = this.watchdog?.silentMs('mk');
    if (silent === null || silent === undefined || silent < this.o.silenceMs) return;
    if (this.o.link.state !== 'up') return;
    if (this.phase === 'searching') {
      this.endSession('no-device', `no MK2/MK3 heard for ${Math.round(silent / 1000)} s on ${this.o.link.id}`);
      this.emit({
        type: 'presence',
        at: this.o.clock.now(),
        deviceId: this.o.deviceId,
        online: false,
        reason: `no device: no V frame from an MK2/MK3 on ${this.o.link.id} for ${this.o.silenceMs / 1000} s — is the MK3 plugged into the Multi, the Multi switched on (not asleep), and the right port configured?`,
      });
    } else if (this.phase === 'init' || this.phase === 'ready') {
      const reason = `${this.o.name} silent for ${Math.round(silent / 1000)} s (no V frames): the Multi may be asleep or the MK unpowered`;
      this.endSession('offline', reason);
      this.setOnline(false, reason);
    }
  }

  private endSession(next: Phase, detail: string): void {
    this.gen++;
    // Requests of the ended session must not hold up (or answer) the next one.
    this.queue?.linkDown(`session ended: ${detail}`);
    this.o.clock.clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    this.polling = false;
    // After silence the Multi may have restarted: a RAM-only value this driver wrote may be gone.
    if (next === 'offline' || next === 'no-device') this.ramOnly.clear();
    this.setPhase(next, detail);
  }

  /**
   * The next unsolicited frame matching `pred`: one of the last few already received (taken
   * once), or one arriving within `timeoutMs`; null when none comes.
   */
  private awaitUnsolicited(pred: (f: Mk2Frame) => boolean, timeoutMs: number): Promise<Mk2Frame | null> {
    const i = this.recent.findIndex((r) => pred(r.frame));
    if (i >= 0) return Promise.resolve(this.recent.splice(i, 1)[0]!.frame);
    return new Promise((resolve) => {
      const waiter = (f: Mk2Frame): boolean => {
        if (!pred(f)) return false;
        this.o.clock.clearTimeout(timer);
        this.recent = this.recent.filter((r) => r.frame !== f);
        resolve(f);
        return true;
      };
      const timer = this.o.clock.setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(null);
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  // ---------------------------------------------------------------- session

  private async runSession(): Promise<void> {
    this.endSession('init', 'MK found; selecting the device');
    const gen = this.gen;
    this.counters.sessions++;
    try {
      await this.exclusive(gen, () => this.selectAddress(gen));
      if (!this.o.compat) await this.exclusive(gen, () => this.switchToCombined());
      await this.exclusive(gen, () => this.readFirmware(gen));
      for (const id of uniq([...FRAME_RAM_VARS, ...this.o.ramVarIds])) await this.exclusive(gen, () => this.ramVarInfo(gen, id));
      for (const id of this.o.settingIds) {
        const info = await this.exclusive(gen, () => this.readSettingInfo(gen, id)).catch((e) => tolerate(e, 'setting-unsupported'));
        if (info?.supported) await this.exclusive(gen, () => this.readSettingValue(gen, id)).catch((e) => tolerate(e, 'setting-unsupported'));
      }
    } catch (err) {
      if (gen !== this.gen) return;
      const e = asVebusError(err);
      // Try again on the next V frame.
      this.endSession('searching', `init failed: ${e.message}`);
      return;
    }
    if (gen !== this.gen) return;
    this.setPhase('ready', this.o.compat ? 'compat mode, scaling read' : 'combined mode, scaling read');
    this.emit({ type: 'identity', at: this.o.clock.now(), deviceId: this.o.deviceId, identity: { mkVersion: this.mkVersion, firmware: this.firmware, address: this.o.address } });
    this.setOnline(true, 'MK found and device initialised');
    this.pollTimer = this.o.clock.setInterval(() => void this.poll(gen), this.o.pollIntervalMs);
    void this.poll(gen).then(() => this.sweep(gen));
  }

  /** The background read of the rest of the settings table and RAM-var infos (one step at a time). */
  private async sweep(gen: number): Promise<void> {
    const initial = new Set(this.o.settingIds);
    const steps: Array<() => Promise<unknown>> = [];
    for (const id of this.o.sweepRamVarIds) if (!this.ramInfo.has(id)) steps.push(() => this.ramVarInfo(gen, id));
    for (const id of this.o.sweepSettingIds) {
      if (initial.has(id)) continue;
      steps.push(async () => {
        const info = await this.readSettingInfo(gen, id);
        if (info.supported) await this.readSettingValue(gen, id);
      });
    }
    for (const run of steps) {
      if (gen !== this.gen) return;
      try {
        await this.exclusive(gen, run);
      } catch (err) {
        const e = asVebusError(err);
        if (e.kind === 'aborted' || e.kind === 'link-down') return;
        // Unsupported or no answer: that id stays unknown (the gate refuses writes to it).
      }
    }
    if (gen === this.gen) this.fact({ kind: 'session', state: 'ready', detail: 'settings table read' });
  }

  /** Runs `fn` when no other driver operation is running; fails fast if the session ended. */
  private exclusive<T>(gen: number, fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(() => {
      if (gen !== this.gen || !this.running) throw new VebusError('aborted', `${this.o.name}: session ended`);
      return fn();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private nextLetter(): WinmonLetter {
    const l = (['X', 'Y', 'Z'] as const)[this.letterIdx % 3]!;
    this.letterIdx++;
    return l;
  }

  private async request(label: string, frame: Mk2Frame, match: (f: Mk2Frame) => boolean, opts: { idempotent: boolean; timeoutMs?: number; gapAfterMs?: number }): Promise<Mk2Frame> {
    const q = this.queue;
    if (!q) throw new VebusError('link-down', `${this.o.name}: driver not started`);
    const spec = opts.idempotent
      ? { label, frame, match, idempotent: true as const, timeoutMs: opts.timeoutMs, gapAfterMs: opts.gapAfterMs }
      : { label, frame, match, idempotent: false as const, timeoutMs: opts.timeoutMs, gapAfterMs: opts.gapAfterMs };
    const r: RequestResult<Mk2Frame> = await q.request(spec);
    if (r.ok) return r.reply;
    if (r.code === 'TIMEOUT') {
      this.counters.timeouts++;
      throw new VebusError('timeout', r.message);
    }
    if (r.code === 'LINK_DOWN') throw new VebusError('link-down', r.message);
    if (r.code === 'WRITE_FAILED') throw new VebusError('write-failed', r.message);
    throw new VebusError('bad-reply', r.message);
  }

  /** A winmon exchange: matched on letter and response code; error codes become VebusErrors. */
  private async winmon(label: string, build: (l: WinmonLetter) => Mk2Frame, codes: number[], opts: { idempotent: boolean; gapAfterMs?: number; expectNoReply?: boolean } = { idempotent: true }): Promise<WinmonReply> {
    const letter = this.nextLetter();
    const frame = build(letter);
    const accept = new Set([...codes, RC.NotSupported, RC.RamVarUnsupported, RC.SettingUnsupported, RC.AccessDenied]);
    const reply = await this.request(`${letter} ${label}`, frame, (f) => {
      const w = decodeWinmon(f);
      return !!w && w.letter === letter && accept.has(w.code);
    }, opts);
    const w = decodeWinmon(reply)!;
    const what = `${this.o.name}: ${label}`;
    switch (w.code) {
      case RC.NotSupported:
        throw new VebusError('not-supported', `${what} refused by the device (0x80${w.data.length ? `, request byte ${w.data[0]}` : ''}: not supported or a bad argument)`, w.data[0] ?? null);
      case RC.RamVarUnsupported:
        throw new VebusError('ram-var-unsupported', `${what}: RAM variable #${w.data[0] ?? '?'} of the request is not supported by this device (0x90)`, w.data[0] ?? null);
      case RC.SettingUnsupported:
        throw new VebusError('setting-unsupported', `${what}: setting not supported by this device (0x91)`);
      case RC.AccessDenied:
        throw new VebusError('access-denied', `${what}: the device needs access level ${w.data[0] ?? '?'} for this (0x9B) — it is protected (e.g. grid code); use VE.Configure with the installer password`, w.data[0] ?? null);
    }
    return w;
  }

  private async selectAddress(gen: number): Promise<void> {
    const addr = this.o.address;
    const reply = await this.request(`A 01 ${addr}`, addressSelect(addr), (f) => letterOf(f) === 'A', { idempotent: true, timeoutMs: this.o.addressTimeoutMs });
    const a = decodeAddressReply(reply);
    if (gen !== this.gen) throw new VebusError('aborted', 'session ended');
    if (!a || a.action !== 1 || a.address !== addr) {
      throw new VebusError('echo-mismatch', `${this.o.name}: the MK answered the address select with ${a ? `action ${a.action} address ${a.address}` : 'a short A frame'}, not address ${addr}`);
    }
  }

  private async switchToCombined(): Promise<void> {
    await this.request('S combined mode', combinedModeCommand(), (f) => letterOf(f) === 'S', { idempotent: true });
  }

  private async readFirmware(gen: number): Promise<void> {
    const w = await this.winmon('software version', (l) => softwareVersion(l), [RC.Version0]).catch((e) => tolerate(e, 'not-supported'));
    if (gen !== this.gen || !w) return;
    const v = decodeSoftwareVersion(w);
    if (v) {
      this.firmware = v.version;
      this.fact({ kind: 'firmware', version: v.version });
    }
  }

  /** GetRAMVarInfo once per id (cached); combined or compat forms (split `8F` second frame). */
  private async ramVarInfo(gen: number, id: number): Promise<RamVarInfo> {
    const cached = this.ramInfo.get(id);
    if (cached) return cached;
    this.counters.infoReads++;
    const w = await this.winmon(`GetRAMVarInfo(${id})`, (l) => getRamVarInfo(l, id), [RC.RamVarInfo]);
    const info = decodeRamVarInfo(w);
    if (!info) throw new VebusError('bad-reply', `${this.o.name}: unreadable RAM-var info for #${id}: ${Array.from(w.data).join(' ')}`);
    // Compat mode, older devices (ref §4.1): `8E sc` alone, the offset in a second `8F off`
    // frame with the same letter. It may already have come (same chunk) or come shortly.
    let offset = info.offset;
    if (info.offsetPending) {
      const second = await this.awaitUnsolicited((f) => {
        const x = decodeWinmon(f);
        return !!x && x.letter === w.letter && x.code === 0x8f;
      }, this.o.requestTimeoutMs);
      const off = second ? decodeRamVarOffset(decodeWinmon(second)!) : null;
      offset = off ?? 0;
    }
    const clean: RamVarInfo = { supported: info.supported, scale: info.scale, offset };
    if (gen === this.gen) {
      this.ramInfo.set(id, clean);
      this.fact({ kind: 'ram-var-info', id, name: RAM_VAR_NAMES[id] ?? null, info: clean });
    }
    return clean;
  }

  private async readSettingInfo(gen: number, id: number): Promise<SettingInfo> {
    const cached = this.settingInfo.get(id);
    if (cached) return cached;
    this.counters.infoReads++;
    const w = await this.winmon(`GetSettingInfo(${id})`, (l) => getSettingInfo(l, id), [RC.SettingInfo]);
    const info = decodeSettingInfo(w);
    if (!info) throw new VebusError('bad-reply', `${this.o.name}: unreadable setting info for #${id}`);
    if (gen === this.gen) {
      this.settingInfo.set(id, info);
      this.fact({ kind: 'setting-info', id, name: SETTING_NAMES[id] ?? null, info });
    }
    return info;
  }

  private async readSettingValue(gen: number, id: number): Promise<number> {
    const w = await this.winmon(`ReadSetting(${id})`, (l) => readSetting(l, id), [RC.Setting]);
    const raw = decodeSettingValue(w);
    if (raw === null) throw new VebusError('bad-reply', `${this.o.name}: unreadable setting #${id}`);
    if (gen === this.gen) {
      this.eeprom.set(id, raw);
      const info = this.settingInfo.get(id);
      this.fact({ kind: 'setting', id, raw, value: info ? applySetting(info, raw) : null });
    }
    return raw;
  }

  private async readRamRaw(ids: number[]): Promise<number[]> {
    const w = await this.winmon(`ReadRAMVar(${ids.join(',')})`, (l) => readRamVars(l, ids), [RC.RamVars]);
    const vals = decodeRamVarValues(w);
    if (!vals || vals.length !== ids.length) throw new VebusError('bad-reply', `${this.o.name}: ReadRAMVar answered ${vals?.length ?? 0} values for ${ids.length} ids`);
    return vals;
  }

  // ---------------------------------------------------------------- polling

  private ramScaling = { ram: (id: number) => this.ramInfo.get(id) };

  private async poll(gen: number): Promise<void> {
    if (this.polling || gen !== this.gen) return;
    this.polling = true;
    this.counters.polls++;
    const status: VebusStatus = { dc: null, deviceState: null, ac: [], leds: null, acInput: null, ramVars: {} };
    let answered = 0;
    let lastError: VebusErrorKind | null = null;
    const step = async <T>(fn: () => Promise<T>): Promise<T | null> => {
      try {
        const r = await this.exclusive(gen, fn);
        answered++;
        return r;
      } catch (err) {
        const e = asVebusError(err);
        lastError = e.kind;
        if (e.kind !== 'aborted') this.counters.pollErrors++;
        return null;
      }
    };
    try {
      plan: {
        const dc = await step(() => this.request('F 0 (DC)', infoRequest(0), (f) => infoFrameKind(f)?.kind === 'dc', { idempotent: true }));
        if (dc) status.dc = decodeDcInfo(dc, this.ramScaling);
        // No DC frame either time: do not spend the rest of the plan on a device that is not answering.
        else if ((lastError as VebusErrorKind | null) === 'timeout') break plan;
        const phases = this.o.phases ?? this.phasesSeen ?? 1;
        for (let p = 1; p <= Math.min(4, phases); p++) {
          const ac = await step(() =>
            this.request(`F ${p} (AC L${p})`, infoRequest(p), (f) => {
              const k = infoFrameKind(f);
              return k?.kind === 'ac' && k.phase === p;
            }, { idempotent: true }),
          );
          const a = ac ? decodeAcInfo(ac, this.ramScaling) : null;
          if (a) {
            status.ac.push(a);
            if (p === 1 && a.phases !== null) this.phasesSeen = a.phases;
          }
        }
        const led = await step(() => this.request('L', ledRequest(), (f) => letterOf(f) === 'L', { idempotent: true }));
        if (led) status.leds = decodeLedReply(led);
        const ds = await step(() => this.winmon('GetSetDeviceState(inquiry)', (l) => getDeviceState(l, 0), [RC.DeviceState]));
        if (ds) status.deviceState = decodeDeviceState(ds);
        const ids = this.o.ramVarIds.filter((id) => {
          const i = this.ramInfo.get(id);
          return i !== undefined && ramVarScaling(i).kind !== 'unsupported';
        });
        for (let i = 0; i < ids.length; i += 6) {
          const batch = ids.slice(i, i + 6);
          const raw = await step(() => this.readRamRaw(batch));
          if (raw) batch.forEach((id, k) => (status.ramVars[id] = applyRamVar(this.ramInfo.get(id)!, raw[k]!)));
        }
        const acin = await step(() => this.request('F 5 (AC input)', infoRequest(5), (f) => f.type === TYPE_ACIN, { idempotent: true }));
        if (acin) status.acInput = decodeAcInputConfig(acin);
      }
    } finally {
      this.polling = false;
    }
    if (gen !== this.gen) return;
    if (answered === 0) {
      // The MK talks (V frames) but the device behind it answers nothing: after a few such
      // polls the device is offline and the session starts again (address select and S).
      this.deadPolls++;
      if (this.deadPolls >= DEAD_POLLS) {
        const reason = `the MK answers but ${this.o.name} (VE.Bus address ${this.o.address}) did not answer ${DEAD_POLLS} polls in a row — is it switched on and at that address?`;
        this.deadPolls = 0;
        this.endSession('searching', reason);
        this.setOnline(false, reason);
      }
      return;
    }
    this.deadPolls = 0;
    this.setOnline(true, 'answering again');
    this.fact({ kind: 'status', status });
    this.emit({ type: 'reading', at: this.o.clock.now(), deviceId: this.o.deviceId, values: readingValues(status) });
    this.reportAlarms(status.leds);
  }

  private reportAlarms(leds: LedReply | null): void {
    if (!leds || leds.alarms === null) return;
    const now = new Set(leds.alarmNames);
    const changes: FlagChange[] = [];
    for (const n of now) if (!this.alarms.has(n)) changes.push({ group: n.endsWith('pre_alarm') ? 'warning' : 'alarm', name: n, active: true });
    for (const n of this.alarms) if (!now.has(n)) changes.push({ group: n.endsWith('pre_alarm') ? 'warning' : 'alarm', name: n, active: false });
    this.alarms = now;
    if (changes.length) this.emit({ type: 'flags', at: this.o.clock.now(), deviceId: this.o.deviceId, changes });
  }

  // ---------------------------------------------------------------- writes

  private async write(gen: number, w: VebusWrite): Promise<{ sent: boolean; values: Values; message: string }> {
    this.counters.writes++;
    switch (w.kind) {
      case 'write-setting': {
        const info = await this.readSettingInfo(gen, w.id);
        if (!info.supported) throw new VebusError('setting-unsupported', `${this.o.name}: setting ${settingLabel(w.id)} is not supported by this device`);
        const raw = rawOfSetting(info, w.value);
        if (!isFlagWordId(w.id) && (raw < info.min || raw > info.max)) {
          throw new VebusError('out-of-range', `${this.o.name}: ${settingLabel(w.id)} = ${w.value} is outside ${applySetting(info, info.min)}…${applySetting(info, info.max)}`);
        }
        return this.writeSettingRaw(gen, w.id, info, raw, w.ramOnly);
      }
      case 'set-flag': {
        const loc = flagLocation(w.flag);
        if (!loc) throw new VebusError('out-of-range', `${this.o.name}: flag ${w.flag} does not exist (0–63)`);
        const info = await this.readSettingInfo(gen, loc.settingId);
        if (!info.supported) throw new VebusError('setting-unsupported', `${this.o.name}: flag word ${settingLabel(loc.settingId)} is not supported by this device`);
        // Read-modify-write of the whole word (ref §9.1). A RAM-only change starts from the RAM
        // value this driver wrote, if any (the device cannot tell it), else from the EEPROM copy.
        const base = w.ramOnly && this.ramOnly.has(loc.settingId) ? this.ramOnly.get(loc.settingId)! : await this.readSettingValue(gen, loc.settingId);
        let word = w.value ? base | (1 << loc.bit) : base & ~(1 << loc.bit);
        // Flags0 bit 7 is the inverse of bit 3 — only where the device keeps them paired (§9.1 caveat).
        if (loc.settingId === 0 && loc.bit === 3 && ((base >> 3) & 1) !== ((base >> 7) & 1)) {
          word = w.value ? word & ~0x80 : word | 0x80;
        }
        word &= 0xffff;
        return this.writeSettingRaw(gen, loc.settingId, info, word, w.ramOnly);
      }
      case 'write-ram-var': {
        const info = await this.ramVarInfo(gen, w.id);
        const sc = ramVarScaling(info);
        if (sc.kind === 'unsupported') throw new VebusError('ram-var-unsupported', `${this.o.name}: RAM variable ${ramLabel(w.id)} is not supported by this device`);
        const current = sc.kind === 'bit' ? (await this.readRamRaw([w.id]))[0]! : 0;
        const raw = rawOfRamVar(info, w.value, current);
        if (raw === null) throw new VebusError('out-of-range', `${this.o.name}: ${ramLabel(w.id)} cannot hold ${String(w.value)}`);
        await this.sendWrite('ram-var', w.id, raw, false);
        const [back] = await this.readRamRaw([w.id]);
        const value = applyRamVar(info, back!);
        const ok = sc.kind === 'bit' ? value === w.value : back === raw;
        if (!ok) {
          this.counters.readBackFailures++;
          throw new VebusError('read-back-mismatch', `${this.o.name}: ${ramLabel(w.id)} written ${String(w.value)} but reads back ${String(value)}; not retried — check the device's state`);
        }
        return { sent: true, values: { id: w.id, value: typeof value === 'boolean' ? String(value) : value, raw: back! }, message: `${ramLabel(w.id)} = ${String(value)}` };
      }
    }
  }

  private async writeSettingRaw(gen: number, id: number, info: SettingInfo, raw: number, ramOnly: boolean): Promise<{ sent: boolean; values: Values; message: string }> {
    const label = settingLabel(id);
    if (!ramOnly) {
      const stored = this.eeprom.get(id) ?? (await this.readSettingValue(gen, id));
      if (stored === raw) {
        return { sent: false, values: { id, raw, value: applySetting(info, raw), ramOnly: 'false' }, message: `${label} already ${applySetting(info, raw)}; no EEPROM write` };
      }
      const now = this.o.clock.now();
      while (this.persistentWrites.length && now - this.persistentWrites[0]! > 3_600_000) this.persistentWrites.shift();
      if (this.persistentWrites.length >= this.o.persistentWritesPerHour) {
        throw new VebusError('rate-limited', `${this.o.name}: ${this.o.persistentWritesPerHour} persistent setting writes in the last hour — EEPROM wear limit; wait, or write RAM-only for frequent changes`);
      }
      this.persistentWrites.push(now);
    }
    try {
      await this.sendWrite('setting', id, raw, ramOnly);
    } catch (err) {
      // No answer to a persistent write: whether it took effect is for the read-back to tell
      // (never a blind re-send). A RAM-only write cannot be read back: the timeout stands.
      if (!(err instanceof VebusError && err.kind === 'timeout') || ramOnly) throw err;
      const back = await this.readSettingValue(gen, id);
      if (back !== raw) throw new VebusError('timeout', `${err.message}; the read-back shows ${label} = ${applySetting(info, back)}, so it was not written`);
      return { sent: true, values: { id, raw: back, value: applySetting(info, back), ramOnly: 'false' }, message: `${label} = ${applySetting(info, back)} (stored; the write's own reply was lost, the read-back confirms it)` };
    }
    if (ramOnly) {
      this.ramOnly.set(id, raw);
      const value = applySetting(info, raw);
      this.fact({ kind: 'setting-ram-only', id, raw, value });
      return { sent: true, values: { id, raw, value, ramOnly: 'true', readBack: 'not readable: a RAM-only value is invisible to ReadSetting' }, message: `${label} = ${value} in RAM only (until the device restarts)` };
    }
    this.ramOnly.delete(id);
    const back = await this.readSettingValue(gen, id);
    if (back !== raw) {
      this.counters.readBackFailures++;
      throw new VebusError('read-back-mismatch', `${this.o.name}: ${label} written ${applySetting(info, raw)} but reads back ${applySetting(info, back)}; not retried — check the device (access level, limits)`);
    }
    return { sent: true, values: { id, raw: back, value: applySetting(info, back), ramOnly: 'false' }, message: `${label} = ${applySetting(info, back)} (stored)` };
  }

  /** WriteViaID in combined mode; the two-step write (one exclusive section) in compat mode. */
  private async sendWrite(target: 'setting' | 'ram-var', id: number, raw: number, ramOnly: boolean): Promise<void> {
    const gap = target === 'setting' && !ramOnly ? this.o.persistentWriteGapMs : undefined;
    const expect = target === 'setting' ? RC.SettingWritten : RC.RamVarWritten;
    if (!this.o.compat) {
      await this.winmon(`WriteViaID(${target} ${id} = ${raw}${ramOnly ? ', RAM only' : ''})`, (l) => writeViaId(l, target, id, raw, ramOnly), [expect], { idempotent: false, gapAfterMs: gap });
      return;
    }
    if (ramOnly) throw new VebusError('not-supported', `${this.o.name}: RAM-only writes need combined mode (WriteViaID); this driver is in compat mode`);
    // Two-step: the first half has no reply, so it goes straight to the link (inside this
    // exclusive section nothing else can be sent in between); the same letter carries both.
    const letter = this.nextLetter();
    const first = writeAddress(letter, target, id);
    const sent = await this.o.link.send(first);
    if (!sent.ok) throw new VebusError(sent.code === 'LINK_DOWN' ? 'link-down' : 'write-failed', `${this.o.name}: ${sent.message}`);
    const reply = await this.request(`${letter} WriteData(${raw})`, writeData(letter, raw), (f) => {
      const w = decodeWinmon(f);
      return !!w && w.letter === letter && (w.code === expect || w.code === RC.NotSupported);
    }, { idempotent: false, gapAfterMs: gap });
    const w = decodeWinmon(reply)!;
    if (w.code !== expect) throw new VebusError('not-supported', `${this.o.name}: two-step write of ${target} ${id} refused (0x${w.code.toString(16)})`);
  }
}

// ------------------------------------------------------------------------------------ helpers

function uniq(xs: number[]): number[] {
  return [...new Set(xs)];
}

const isFlagWordId = (id: number): boolean => id === 0 || id === 1 || id === 60 || id === 61;
const settingLabel = (id: number): string => `setting ${id}${SETTING_NAMES[id] ? ` (${SETTING_NAMES[id]})` : ''}`;
const ramLabel = (id: number): string => `RAM variable ${id}${RAM_VAR_NAMES[id] ? ` (${RAM_VAR_NAMES[id]})` : ''}`;

function asVebusError(err: unknown): VebusError {
  if (err instanceof VebusError) return err;
  return new VebusError('bad-reply', err instanceof Error ? err.message : String(err));
}

/** Swallows one expected error kind (returns null); rethrows the others. */
function tolerate(err: unknown, kind: VebusErrorKind): null {
  if (err instanceof VebusError && err.kind === kind) return null;
  throw err;
}

/** The flat reading of one poll (units in the names). */
export function readingValues(s: VebusStatus): Values {
  const v: Values = {};
  if (s.dc) {
    v.batteryVoltageV = s.dc.voltageV;
    v.batteryCurrentA = s.dc.batteryCurrentA;
    v.inverterDcCurrentA = s.dc.inverterCurrentA;
    v.chargerDcCurrentA = s.dc.chargerCurrentA;
    v.inverterFrequencyHz = s.dc.inverterFrequencyHz;
  }
  for (const a of s.ac) {
    const p = `L${a.phase}`;
    v[`acIn${p}VoltageV`] = a.mainsVoltageV;
    v[`acIn${p}CurrentA`] = a.mainsCurrentA;
    v[`acOut${p}VoltageV`] = a.inverterVoltageV;
    v[`acOut${p}CurrentA`] = a.inverterCurrentA;
    v[`mains${p}FrequencyHz`] = a.mainsFrequencyHz;
    if (a.phase === 1) {
      v.state = a.stateName;
      v.stateCode = a.state;
    }
  }
  if (s.deviceState) v.chargeSubState = s.deviceState.subStateName;
  if (s.leds) {
    v.ledOn = s.leds.ledOn;
    v.ledBlink = s.leds.ledBlink;
    v.vebusError = s.leds.error;
  }
  if (s.acInput) {
    v.currentLimitA = s.acInput.actualLimitA;
    v.currentLimitMinA = s.acInput.minLimitA;
    v.currentLimitMaxA = s.acInput.maxLimitA;
  }
  for (const [id, val] of Object.entries(s.ramVars)) {
    const name = RAM_VAR_NAMES[Number(id)] ?? `RAM_${id}`;
    v[`ram.${name}`] = typeof val === 'boolean' ? (val ? 1 : 0) : val;
  }
  if (typeof s.ramVars[13] === 'number') v.socPct = Math.round((s.ramVars[13] as number) * 1000) / 10;
  return v;
}
