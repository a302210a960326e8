/**
 * The device side of an OpenEVSE controller board speaking RAPI, per
 * /work/shared/protocols/openevse-simulation.md (cited as sim §n; protocol: openevse-rapi.md).
 * It speaks bytes on a Transport (the device side of a memory link, or a real pty opened with
 * serialport), runs on an injected clock (a FakeClock is the time-acceleration knob), and is
 * driven by a harness: EV actions and injected faults, directly or scripted on the clock.
 *
 * Choices where the references are silent (tests rely on them):
 * - Tick 250 ms (sim §4 "≤ 250 ms"): debounce, relay, energy, heartbeat and the `$AT` check run
 *   per tick. Pilot changes are applied on the first tick at least 250 ms after them (unplug:
 *   25 ms, i.e. the next tick).
 * - Boot: debug text, forced `$AT 00 …`, POST `postMs` (1200 ms), `$AB 00 <fw>`; received bytes
 *   are dropped until `$AB` (setup() runs before the RAPI loop). `$FR`: `$OK`, 1500 ms of silence,
 *   then the boot sequence. Volatile state resets, persisted state survives (sim §5).
 * - Defaults: saved capacity L1 12 A, L2 32 A (EU 32 A); US boards auto-detect L2 (ECF 0x0001),
 *   EU boards have ECF 0x0021. The EV draws min(capacity, its own limit) once the relay is closed.
 * - Energy: integrated every tick with the firmware's integer maths
 *   ((mV/16)·(mA/4)/15625·dt_ms milli-watt-seconds); the sub-Ws remainder is kept, so `GU`
 *   does not drift below the firmware's value over a long session.
 * - `$FS`: the EV stops drawing when the pilot stops oscillating, so the relay opens on the next
 *   tick. `$F1` (short press) sleeps an active board and enables a sleeping/disabled one.
 * - Faults: GFCI (06) and no ground (07) retry after 5 min (6 GFCI retries, then hard fault);
 *   a fault within 2 s of relay close is a hard fault; 04/05/0a/0b are hard faults cleared by
 *   unplug; a stuck relay (08) stays until reboot. No ground trips 1 s after the relay closes
 *   while the ground is "lost".
 * - `legacy-3.x` speaks RAPI 3.0.1: `GS` answers `state elapsed` in decimal, state changes go out
 *   as `$ST %02x` (no `$AT`, no `$AB`), and SY/GY are unknown (`$NK`).
 * - `$SY 165` with nothing pending answers `$OK i a 0` and leaves the trigger as it was (§6).
 * - Temperature throttling (sim §3 SHOULD): while charging, an ambient sensor (DS3231, MCP9808)
 *   or the IR sensor (TMP007) ≥ 65.0 °C halves the capacity, an ambient one ≥ 68.0 °C quarters
 *   it (min 6 A), any ≥ 71.0 °C is the 0a fault; the capacity is restored when the ambient
 *   sensors are ≤ 62.0 °C and the IR one ≤ 60.0 °C. Raising the current while throttled ⇒
 *   `$NK <current>`. `setTemperatures` is the harness input; 'over-temperature' jumps to 72 °C.
 */
import type { Clock, TimerHandle } from '../../clock.js';
import type { Transport } from '../../link/transports/types.js';
import { record } from '../../sim/record.js';
import { SimScript } from '../../sim/script.js';
import {
  HEARTBEAT_ACK_COOKIE,
  RAPI_MAX_COMMAND_CHARS,
  RAPI_MAX_TOKENS,
  VFLAGS,
  VFLAGS_AT_MASK,
  ECF,
  additiveChecksum,
  fmt,
  withChecksum,
  xorChecksum,
} from './codec.js';

export type EvseSimProfileName = 'us-8.2.3' | 'eu-8.2.3' | 'arduino-full' | 'd9-6.0.0' | 'legacy-3.x';

export interface EvseSimProfile {
  name: EvseSimProfileName;
  firmware: string;
  protocol: string;
  eu: boolean;
  /** TIME_LIMIT / CHARGE_LIMIT builds (S3/G3/SH/GH). */
  limits: boolean;
  d9: boolean;
  legacy: boolean;
  l2MaxA: number;
  l2DefaultA: number;
  l1DefaultA: number;
  voltageL2Mv: number;
}

export const EVSE_SIM_PROFILES: Record<EvseSimProfileName, EvseSimProfile> = {
  'us-8.2.3': { name: 'us-8.2.3', firmware: '8.2.3', protocol: '5.2.1', eu: false, limits: false, d9: false, legacy: false, l2MaxA: 80, l2DefaultA: 32, l1DefaultA: 12, voltageL2Mv: 240000 },
  'eu-8.2.3': { name: 'eu-8.2.3', firmware: '8.2.3.EU', protocol: '5.2.1', eu: true, limits: false, d9: false, legacy: false, l2MaxA: 32, l2DefaultA: 32, l1DefaultA: 12, voltageL2Mv: 230000 },
  'arduino-full': { name: 'arduino-full', firmware: '8.2.3', protocol: '5.2.1', eu: false, limits: true, d9: false, legacy: false, l2MaxA: 80, l2DefaultA: 32, l1DefaultA: 12, voltageL2Mv: 240000 },
  'd9-6.0.0': { name: 'd9-6.0.0', firmware: '9.0.1', protocol: '6.0.0', eu: false, limits: false, d9: true, legacy: false, l2MaxA: 80, l2DefaultA: 32, l1DefaultA: 12, voltageL2Mv: 240000 },
  'legacy-3.x': { name: 'legacy-3.x', firmware: '3.11.3', protocol: '3.0.1', eu: false, limits: false, d9: false, legacy: true, l2MaxA: 80, l2DefaultA: 32, l1DefaultA: 12, voltageL2Mv: 240000 },
};

/** What a test can script on the wire (subject: the received command line, without CR). */
export type RapiWireBehaviour =
  /** The frame is lost before the board sees it: no effect, no reply. */
  | 'ignore'
  /** The command is carried out but its reply is lost. */
  | 'drop-reply'
  /** The reply goes out with a wrong checksum (line noise on the way back). */
  | 'corrupt-reply'
  /** `$NK` (+ seq id) without carrying the command out. */
  | 'nak'
  /** The board resets right after replying (watchdog, brown-out). */
  | 'reset-after-reply';

/** EV and fault actions (sim §2). */
export type EvAction =
  | 'plug-in'
  | 'unplug'
  | 'request-charge'
  | 'stop-charge'
  | 'vent-request'
  | 'gfci-trip'
  | 'no-ground'
  | 'restore-ground'
  | 'stuck-relay'
  | 'diode-fail'
  | 'over-temperature'
  | 'over-current'
  | 'button-short'
  | 'button-long'
  | 'power-cycle';

export interface OpenEvseSimOptions {
  transport: Transport;
  clock: Clock;
  profile?: EvseSimProfileName;
  /** Print the OEV6 debug lines at boot (sim §5). Default true. */
  bootDebugText?: boolean;
  /** POST duration. Default 1200 ms. */
  postMs?: number;
  tickMs?: number;
  /** The 8.2.3 `$FF E 0` bug (sim §7): default true (both values switch echo on). */
  echoBug?: boolean;
  /** The EV's own current limit. Default 32 A. */
  evLimitA?: number;
  /** POST outcome at boot: 0 ok, or 7/8/9 (UL POST failure, sim §2.2). */
  postResult?: 0 | 7 | 8 | 9;
}

type Pilot = 'A' | 'B' | 'C' | 'D';
const PILOT_CODE: Record<Pilot, number> = { A: 1, B: 2, C: 3, D: 4 };

const enc = (s: string) => Buffer.from(s, 'latin1');

export class OpenEvseSim {
  readonly profile: EvseSimProfile;
  /** Wire behaviours (subject: the command line as received). */
  readonly script = new SimScript<RapiWireBehaviour, string>();
  /** EV and fault behaviours on the clock: `at(ms, action)` queues one; subject = the time. */
  readonly ev = new SimScript<EvAction, number>();
  /** The command lines processed, oldest first (what the board saw): the most recent SIM_RECORD_LIMIT (src/sim/record.ts). */
  readonly received: string[] = [];

  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly opts: Required<Omit<OpenEvseSimOptions, 'transport' | 'clock' | 'profile'>>;
  private offData: (() => void) | null = null;
  private tickTimer: TimerHandle | undefined;
  private bootTimers: TimerHandle[] = [];
  private rx: number[] | null = null;
  private running = false;

  // ---- persisted (EEPROM)
  private ecf: number;
  private savedA: { 1: number; 2: number };
  private hwMaxA: number;
  private hwMaxWritten = false;
  private lifetimeWh = 0;
  private counters = { gfi: 0, noGround: 0, stuckRelay: 0 };
  private hbIntervalS = 0;
  private hbFallbackA = 0;
  private delayTimer = [0, 0, 0, 0];
  private ammeter = { scale: 220, offset: 0 };
  // ---- volatile
  private booted = false;
  private state = 0;
  private pilot = 0;
  private capacityA = 0;
  private vflags = 0x0200;
  private echo = false;
  private voltageMvOverride: number | null = null;
  private hbTrigger: 0 | 1 | 2 = 0;
  private hbLastPulse = 0;
  private relayClosed = false;
  private relayClosedAt = 0;
  private elapsedMs = 0;
  private sessionMws = 0;
  private lastSentAt: string | null = null;
  private faultSince = 0;
  private gfciRetries = 0;
  private hardFaultUntilReboot = false;
  private timeLimitQh = 0;
  private chargeLimitKwh = 0;
  private mennekes = { locked: false, manual: false };
  private rtcOffsetMs = 0;
  private lcd: string[] = ['', ''];
  private d9 = { panicTenthsC: 700, relays: [1, 1, 1], zeroMa: 100 };
  // ---- the world (harness inputs)
  private evPlugged = false;
  private evWantsCharge = false;
  private evVent = false;
  private evLimitA: number;
  private groundLost = false;
  private groundLostSince = 0;
  private pendingPilot: { pilot: Pilot; since: number } | null = null;
  private evaluatedPilot: Pilot = 'A';
  temperaturesTenthsC: [number, number, number] = [250, -2560, -2560];
  /** 0 none, 1 halved, 2 quartered; with the capacity it throttled from. */
  private throttle: { level: 0 | 1 | 2; fromA: number } = { level: 0, fromA: 0 };

  /** Sensor temperatures in °C (null = not fitted): DS3231 and MCP9808 ambient, TMP007 IR. */
  setTemperatures(ds3231C: number | null, mcp9808C: number | null = null, tmp007C: number | null = null): void {
    const t = (c: number | null) => (c === null ? -2560 : Math.round(c * 10));
    this.temperaturesTenthsC = [t(ds3231C), t(mcp9808C), t(tmp007C)];
  }

  constructor(opts: OpenEvseSimOptions) {
    this.transport = opts.transport;
    this.clock = opts.clock;
    this.profile = EVSE_SIM_PROFILES[opts.profile ?? 'us-8.2.3'];
    this.opts = {
      bootDebugText: opts.bootDebugText ?? true,
      postMs: opts.postMs ?? 1200,
      tickMs: opts.tickMs ?? 250,
      echoBug: opts.echoBug ?? true,
      evLimitA: opts.evLimitA ?? 32,
      postResult: opts.postResult ?? 0,
    };
    this.evLimitA = this.opts.evLimitA;
    this.ecf = this.profile.eu ? ECF.L2 | ECF.AUTO_SVC_LEVEL_DISABLED : ECF.L2;
    this.savedA = { 1: this.profile.l1DefaultA, 2: this.profile.l2DefaultA };
    this.hwMaxA = this.profile.l2MaxA;
  }

  // ================================================================ life

  /** Powers the board on: listens to the host and runs the boot sequence. The transport must be open. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.offData = this.transport.onData((chunk) => this.fromHost(chunk));
    this.tickTimer = this.clock.setInterval(() => this.tick(), this.opts.tickMs);
    this.boot(0);
  }

  stop(): void {
    this.running = false;
    this.stopDemoCar();
    this.offData?.();
    this.offData = null;
    this.clock.clearInterval(this.tickTimer);
    for (const t of this.bootTimers) this.clock.clearTimeout(t);
    this.bootTimers = [];
  }

  /** Queues an EV or fault action `afterMs` from now (scripted EV behaviour, on the clock). */
  at(afterMs: number, action: EvAction): this {
    const due = this.clock.now() + afterMs;
    this.ev.next(action, { when: (now) => now >= due });
    return this;
  }

  /** Does an EV or fault action now. */
  act(action: EvAction): void {
    switch (action) {
      case 'plug-in':
        this.evPlugged = true;
        break;
      case 'unplug':
        this.evPlugged = false;
        this.evWantsCharge = false;
        this.evVent = false;
        break;
      case 'request-charge':
        this.evWantsCharge = true;
        break;
      case 'stop-charge':
        this.evWantsCharge = false;
        break;
      case 'vent-request':
        this.evVent = true;
        break;
      case 'gfci-trip':
        this.fault(0x06);
        break;
      case 'no-ground':
        this.groundLost = true;
        this.groundLostSince = this.clock.now();
        break;
      case 'restore-ground':
        this.groundLost = false;
        break;
      case 'stuck-relay':
        this.fault(0x08);
        break;
      case 'diode-fail':
        this.fault(0x05);
        break;
      case 'over-temperature':
        this.temperaturesTenthsC[0] = 720;
        this.fault(0x0a);
        break;
      case 'over-current':
        this.fault(0x0b);
        break;
      case 'button-short':
      case 'button-long':
        this.button(action === 'button-long');
        break;
      case 'power-cycle':
        this.reboot(0);
        return;
    }
    this.pilotInput();
  }

  /**
   * The demo rig's car: plugs in, asks for charge 2 s later, charges `chargeMs`, stays parked
   * (state B) `parkedMs`, drives away for `awayMs`, and again, until `stop()` or `stopDemoCar()`.
   */
  startDemoCar(opts: { firstAfterMs?: number; chargeMs?: number; parkedMs?: number; awayMs?: number } = {}): void {
    const charge = opts.chargeMs ?? 20 * 60_000;
    const parked = opts.parkedMs ?? 5 * 60_000;
    const away = opts.awayMs ?? 10 * 60_000;
    const cycle = (after: number) => {
      this.at(after, 'plug-in')
        .at(after + 2000, 'request-charge')
        .at(after + 2000 + charge, 'stop-charge')
        .at(after + 2000 + charge + parked, 'unplug');
      this.demoTimer = this.clock.setTimeout(() => cycle(away), after + 2000 + charge + parked);
    };
    this.stopDemoCar();
    cycle(opts.firstAfterMs ?? 10_000);
  }

  stopDemoCar(): void {
    this.clock.clearTimeout(this.demoTimer);
    this.demoTimer = undefined;
  }

  private demoTimer: TimerHandle | undefined;

  setEvLimit(amps: number): void {
    this.evLimitA = amps;
  }

  /** A snapshot for assertions (what the board "is"). */
  get snapshot() {
    return {
      booted: this.booted,
      state: this.state,
      pilot: this.pilot,
      capacityA: this.capacityA,
      vflags: this.vflags,
      ecf: this.ecf,
      echo: this.echo,
      relayClosed: this.relayClosed,
      currentMa: this.currentMa(),
      voltageMv: this.voltageMv(),
      elapsedS: Math.floor(this.elapsedMs / 1000),
      sessionWs: Math.floor(this.sessionMws / 1000),
      lifetimeWh: this.lifetimeWh,
      counters: { ...this.counters },
      heartbeat: { intervalS: this.hbIntervalS, fallbackA: this.hbFallbackA, trigger: this.hbTrigger },
      savedA: { ...this.savedA },
      level: (this.ecf & ECF.L2 ? 2 : 1) as 1 | 2,
      lcd: [...this.lcd],
      evPlugged: this.evPlugged,
    };
  }

  // ================================================================ boot (sim §5)

  private reboot(silenceMs: number): void {
    this.booted = false;
    for (const t of this.bootTimers) this.clock.clearTimeout(t);
    this.bootTimers = [];
    this.relayClosed = false;
    this.state = 0;
    this.rx = null;
    this.boot(silenceMs);
  }

  private boot(silenceMs: number): void {
    this.booted = false;
    this.bootTimers.push(
      this.clock.setTimeout(() => {
        // volatile state resets
        this.echo = false;
        this.voltageMvOverride = null;
        this.hbTrigger = 0;
        this.mennekes.manual = false;
        this.vflags = VFLAGS.SESSION_ENDED;
        this.state = 0;
        this.pilot = 0;
        this.relayClosed = false;
        this.hardFaultUntilReboot = false;
        this.timeLimitQh = 0;
        this.chargeLimitKwh = 0;
        this.gfciRetries = 0;
        this.elapsedMs = 0;
        this.sessionMws = 0;
        this.limitSleep = false;
        this.throttle = { level: 0, fromA: 0 };
        this.capacityA = this.savedA[this.level()];
        this.lastSentAt = null;
        let text = '';
        if (this.opts.bootDebugText) text += '\r\nrelayCloseMs: 100\r\nrelayHoldPwm: 255\r\n';
        if (!this.profile.legacy) text += this.line('AT', [fmt.hex2(0), fmt.hex2(this.evPlugged ? 2 : 1), String(this.capacityA), fmt.hex4(this.vflags)]);
        this.write(text);
        this.bootTimers.push(
          this.clock.setTimeout(() => {
            const post = this.opts.postResult;
            this.hbLastPulse = this.clock.now();
            this.booted = true;
            if (post) {
              this.state = post;
              this.hardFaultUntilReboot = true;
              this.vflags |= VFLAGS.HARD_FAULT;
            }
            if (!this.profile.legacy) this.write(this.line('AB', [fmt.hex2(post), this.profile.firmware]));
            this.evaluatedPilot = 'A';
            this.pendingPilot = null;
            this.pilotInput(true);
          }, this.opts.postMs),
        );
      }, silenceMs),
    );
  }

  // ================================================================ receiver (sim §1)

  private fromHost(chunk: Uint8Array): void {
    if (!this.running || !this.booted) return;
    let out = '';
    for (const b of chunk) {
      if (this.echo) out += String.fromCharCode(b);
      if (b === 0x24) {
        this.rx = [b];
        continue;
      }
      if (!this.rx) continue;
      if (b === 0x0d) {
        const line = String.fromCharCode(...this.rx);
        this.rx = null;
        out += this.process(line);
        continue;
      }
      if (this.rx.length >= RAPI_MAX_COMMAND_CHARS + 1) {
        // the 32-byte buffer is full: the frame dies without a word (sim §1.2)
        this.rx = null;
        continue;
      }
      this.rx.push(b);
    }
    if (this.rx && this.rx.length > RAPI_MAX_COMMAND_CHARS) this.rx = null;
    if (out) this.write(out);
  }

  /** One frame, without CR: the response (and any `$AT`) as text. */
  private process(line: string): string {
    if (line.length > RAPI_MAX_COMMAND_CHARS) return '';
    if (this.script.take('ignore', line)) return '';
    record(this.received, line);
    let body = line;
    const m = /([\^*])([0-9A-Fa-f]{2})$/.exec(line);
    if (m) {
      body = line.slice(0, -3);
      const want = parseInt(m[2]!, 16);
      const got = m[1] === '^' ? xorChecksum(body) : additiveChecksum(body);
      if (got !== want) return this.reply(false, [], null, line);
    }
    const tokens = body.slice(1).split(' ');
    if (tokens.length > RAPI_MAX_TOKENS) return this.reply(false, [], null, line);
    let seq: number | null = null;
    const last = tokens[tokens.length - 1]!;
    if (tokens.length > 1 && last.startsWith(':')) {
      const n = parseInt(last.slice(1, 3), 16);
      seq = Number.isNaN(n) || n === 0 ? null : n;
      tokens.pop();
    }
    const cmd = tokens[0]!;
    const args = tokens.slice(1);
    if (this.script.take('nak', line)) return this.reply(false, [], seq, line);
    const r = this.command(cmd, args);
    let out = this.reply(r.ok, r.data ?? [], seq, line);
    out += this.atCheck();
    if (r.after) r.after();
    return out;
  }

  private reply(ok: boolean, data: readonly (string | number)[], seq: number | null, line: string): string {
    if (this.script.take('drop-reply', line)) return '';
    const body = `$${ok ? 'OK' : 'NK'}${data.length ? ' ' + data.join(' ') : ''}${seq !== null ? ` :${seq.toString(16).toUpperCase().padStart(2, '0')}` : ''}`;
    let cs = xorChecksum(body);
    if (this.script.take('corrupt-reply', line)) cs ^= 0x01;
    if (this.script.take('reset-after-reply', line)) this.bootTimers.push(this.clock.setTimeout(() => this.reboot(0), 0));
    return `${body}^${cs.toString(16).toUpperCase().padStart(2, '0')}\r${this.echo ? '\n' : ''}`;
  }

  private line(kind: string, data: string[]): string {
    return withChecksum(`$${kind} ${data.join(' ')}`, 'xor') + '\r';
  }

  private write(text: string): void {
    if (!text || !this.transport.isOpen) return;
    this.transport.write(enc(text)).catch(() => {
      // the host side went away; the board keeps running
    });
  }

  // ================================================================ commands (rapi §5, §9)

  private command(cmd: string, a: string[]): { ok: boolean; data?: (string | number)[]; after?: () => void } {
    const p = this.profile;
    const n = (i: number) => (a[i] !== undefined && /^-?\d+$/.test(a[i]!) ? Number(a[i]) : NaN);
    const OK = (data: (string | number)[] = []) => ({ ok: true, data });
    const NK = (data: (string | number)[] = []) => ({ ok: false, data });
    const argc = (k: number) => a.length === k;
    const d9Only = ['FC', 'FH', 'FK', 'FO', 'SR', 'GR', 'SZ', 'GZ', 'GW', 'GL'];
    if (d9Only.includes(cmd) && !p.d9) return NK();
    if (p.legacy && (cmd === 'SY' || cmd === 'GY')) return NK();
    switch (cmd) {
      // ---- F*
      case 'F0':
        return argc(1) ? OK() : NK();
      case 'F1':
        this.button(false);
        return OK();
      case 'FB':
        return argc(1) && n(0) >= 0 && n(0) <= 7 ? OK() : NK();
      case 'FD':
        this.state = 0xff;
        this.openRelay();
        return OK();
      case 'FE':
        if (this.state === 0xfe || this.state === 0xff) {
          this.state = 0;
          this.vflags &= ~VFLAGS.LIMIT_SLEEP;
          this.pendingPilot = { pilot: this.pilotFromEv(), since: this.clock.now() };
          this.evaluatedPilot = 'A';
        }
        return OK();
      case 'FF': {
        const letters = p.d9 ? 'BDEFGRTVLOPZ' : 'BDEFGRTV';
        if (!argc(2) || !letters.includes(a[0]!) || a[0]!.length !== 1 || !(n(1) === 0 || n(1) === 1)) return NK();
        const on = n(1) === 1;
        const bitFor: Record<string, number> = { D: ECF.DIODE_CHK_DISABLED, F: ECF.GFI_TEST_DISABLED, G: ECF.GND_CHK_DISABLED, R: ECF.STUCK_RELAY_CHK_DISABLED, T: ECF.TEMP_CHK_DISABLED, V: ECF.VENT_REQ_DISABLED, B: ECF.BUTTON_DISABLED };
        if (a[0] === 'E') this.echo = this.opts.echoBug ? true : on;
        else if (bitFor[a[0]!]) this.ecf = on ? this.ecf & ~bitFor[a[0]!]! : this.ecf | bitFor[a[0]!]!;
        return OK();
      }
      case 'FP': {
        if (a.length < 3 || Number.isNaN(n(0)) || Number.isNaN(n(1))) return NK();
        if (this.vflags & VFLAGS.HARD_FAULT) return NK();
        const row = n(1) === 1 ? 1 : 0;
        const text = a.slice(2).join(' ').replace(/\x11/g, ' ');
        const col = Math.min(15, Math.max(0, n(0)));
        const cur = this.lcd[row]!.padEnd(16, ' ');
        this.lcd[row] = (cur.slice(0, col) + text + cur.slice(col + text.length)).slice(0, 16).trimEnd();
        return OK();
      }
      case 'FR':
        return { ok: true, data: [], after: () => this.reboot(1500 + (this.relayClosed ? 3000 : 0)) };
      case 'FS':
        if (!this.isFault()) {
          this.state = 0xfe;
          this.openRelay();
        }
        return OK();
      // ---- S*
      case 'S0':
        return argc(1) ? OK() : NK();
      case 'S1': {
        if (!argc(6) || a.some((_, i) => Number.isNaN(n(i)))) return NK();
        const t = Date.UTC(2000 + n(0), n(1) - 1, n(2), n(3), n(4), n(5));
        this.rtcOffsetMs = t - this.clock.now();
        return OK();
      }
      case 'S2':
        return NK();
      case 'S3':
        if (!p.limits || !argc(1) || !(n(0) >= 0 && n(0) <= 255)) return NK();
        if (this.state !== 2 && this.state !== 3) return NK();
        this.timeLimitQh = n(0);
        this.vflags = this.timeLimitQh ? this.vflags | VFLAGS.TIME_LIMIT : this.vflags & ~VFLAGS.TIME_LIMIT;
        return OK();
      case 'SH':
        if (!p.limits || !argc(1) || !(n(0) >= 0)) return NK();
        if (this.state !== 2 && this.state !== 3) return NK();
        this.chargeLimitKwh = n(0);
        this.vflags = this.chargeLimitKwh ? this.vflags | VFLAGS.CHARGE_LIMIT : this.vflags & ~VFLAGS.CHARGE_LIMIT;
        return OK();
      case 'S4':
      case 'G4':
      case 'SB':
        return NK();
      case 'S5':
        if (!argc(1)) return NK();
        if (a[0] === 'A') this.mennekes.manual = false;
        else if (a[0] === 'M') this.mennekes.manual = true;
        else if (a[0] === '0' || a[0] === '1') this.mennekes.locked = a[0] === '1';
        else return NK();
        this.vflags = this.mennekes.manual ? this.vflags | VFLAGS.MENNEKES_MANUAL : this.vflags & ~VFLAGS.MENNEKES_MANUAL;
        return OK();
      case 'SA':
        if (!argc(2) || Number.isNaN(n(0)) || Number.isNaN(n(1))) return NK();
        this.ammeter = { scale: n(0), offset: n(1) };
        return OK();
      case 'SC':
        return this.setCurrent(a);
      case 'SK':
        if (!argc(1) || !(n(0) >= 0)) return NK();
        this.lifetimeWh = n(0);
        return OK();
      case 'SL': {
        if (!argc(1)) return NK();
        if (a[0] === 'A') {
          if (p.eu) return NK();
          this.ecf &= ~ECF.AUTO_SVC_LEVEL_DISABLED;
          this.ecf |= ECF.L2;
        } else if (a[0] === '1' || a[0] === '2') {
          this.ecf |= ECF.AUTO_SVC_LEVEL_DISABLED;
          this.ecf = a[0] === '2' ? this.ecf | ECF.L2 : this.ecf & ~ECF.L2;
        } else return NK();
        this.voltageMvOverride = null;
        this.capacityA = Math.min(this.savedA[this.level()], this.levelMax());
        return OK();
      }
      case 'SM':
      case 'GM':
        return NK();
      case 'ST':
        if (!argc(4) || a.some((_, i) => Number.isNaN(n(i)))) return NK();
        this.delayTimer = [n(0), n(1), n(2), n(3)];
        this.vflags = this.delayTimer.some((x) => x !== 0) ? this.vflags | VFLAGS.TIMER_ON : this.vflags & ~VFLAGS.TIMER_ON;
        return OK();
      case 'SV':
        if (!argc(1) || !(n(0) > 0)) return NK();
        this.voltageMvOverride = n(0);
        return OK();
      case 'SY':
        return this.heartbeatCommand(a);
      // ---- G*
      case 'G0':
        return OK([this.state === 0xff ? 2 : this.vflags & VFLAGS.EV_CONNECTED ? 1 : 0]);
      case 'G3':
        return p.limits ? OK([this.timeLimitQh]) : NK();
      case 'GH':
        return p.limits ? OK([this.chargeLimitKwh]) : NK();
      case 'G5':
        return OK([this.mennekes.locked ? 1 : 0, this.mennekes.manual ? 'M' : 'A']);
      case 'GA':
        return OK([this.ammeter.scale, this.ammeter.offset]);
      case 'GC':
        return OK([6, this.levelMax(), this.capacityA, Math.min(this.savedA[this.level()], this.levelMax())]);
      case 'GD':
        return OK(this.delayTimer);
      case 'GE':
        return OK([this.capacityA, fmt.hex4(this.ecf)]);
      case 'GF':
        return OK([fmt.hexBare(this.counters.gfi), fmt.hexBare(this.counters.noGround), fmt.hexBare(this.counters.stuckRelay)]);
      case 'GG':
        return OK([this.currentMa(), this.voltageMv()]);
      case 'GI':
        return OK(['', 'OEVSE1' + '0123ABCD']);
      case 'GO':
        return p.d9 ? OK([this.d9.panicTenthsC]) : NK();
      case 'GP':
        return OK(this.temperaturesTenthsC);
      case 'GS':
        if (p.legacy) return OK([this.state, Math.floor(this.elapsedMs / 1000)]);
        return OK([fmt.hex2(this.state), Math.floor(this.elapsedMs / 1000), fmt.hex2(this.pilot), fmt.hex4(this.vflags)]);
      case 'GT': {
        const d = new Date(this.clock.now() + this.rtcOffsetMs);
        return OK([d.getUTCFullYear() - 2000, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]);
      }
      case 'GU':
        return OK([Math.floor(this.sessionMws / 1000), this.lifetimeWh]);
      case 'GV':
        return OK([p.firmware, p.protocol]);
      case 'GY':
        return OK([this.hbIntervalS, this.hbFallbackA, this.hbTrigger]);
      // ---- D9 (§9)
      case 'FC':
        this.counters = { gfi: 0, noGround: 0, stuckRelay: 0 };
        this.lifetimeWh = 0;
        return OK();
      case 'FH':
        return OK();
      case 'FK':
        return this.vflags & VFLAGS.EV_CONNECTED ? NK() : OK();
      case 'FO':
        if (!argc(1) || Number.isNaN(n(0))) return NK();
        this.d9.panicTenthsC = n(0);
        return OK();
      case 'SR':
        if (!argc(2) || !(n(0) >= 1 && n(0) <= 3) || !(n(1) === 0 || n(1) === 1)) return NK();
        this.d9.relays[n(0) - 1] = n(1);
        return OK();
      case 'GR':
        return OK(this.d9.relays);
      case 'SZ':
        if (!argc(1) || !(n(0) >= 0 && n(0) <= 5000)) return NK();
        this.d9.zeroMa = n(0);
        return OK();
      case 'GZ':
        return OK([6000, this.d9.zeroMa]);
      case 'GW':
        return OK([0, this.currentMa(), 12, 8]);
      case 'GL':
        return OK([98, 3, 1200, 12, 0, 2500, 2450, 0, 0]);
      default:
        return NK();
    }
  }

  private setCurrent(a: string[]): { ok: boolean; data?: (string | number)[] } {
    const want = a[0] !== undefined && /^\d+$/.test(a[0]) ? Number(a[0]) : NaN;
    if (Number.isNaN(want) || a.length > 2) return { ok: false, data: [] };
    if (a[1] === 'M') {
      if (this.hwMaxWritten) return { ok: false, data: [this.hwMaxA] };
      const v = Math.min(80, Math.max(6, want));
      this.hwMaxA = v;
      this.hwMaxWritten = true;
      return { ok: v === want, data: [v] };
    }
    if (this.throttle.level > 0 && want > this.capacityA) return { ok: false, data: [this.capacityA] };
    const volatile = a.length === 2;
    const hi = volatile ? Math.min(this.savedA[this.level()], this.levelMax()) : this.levelMax();
    const v = Math.min(hi, Math.max(6, want));
    if (!volatile) this.savedA[this.level()] = v;
    this.capacityA = v;
    return { ok: v === want, data: [v] };
  }

  private heartbeatCommand(a: string[]): { ok: boolean; data?: (string | number)[] } {
    const now = this.clock.now();
    const status = (t: number) => [this.hbIntervalS, this.hbFallbackA, t];
    if (a.length === 0) {
      if (this.hbTrigger === 2) return { ok: false, data: status(2) };
      this.hbLastPulse = now;
      return { ok: true, data: status(this.hbTrigger) };
    }
    if (a.length === 1) {
      if (a[0] !== String(HEARTBEAT_ACK_COOKIE)) return { ok: false, data: [] };
      this.hbLastPulse = now;
      if (this.hbTrigger === 2) {
        this.capacityA = Math.min(this.savedA[this.level()], this.levelMax());
        this.hbTrigger = 1;
        return { ok: true, data: status(1) };
      }
      return { ok: true, data: status(0) };
    }
    if (a.length === 2 && /^\d+$/.test(a[0]!) && /^\d+$/.test(a[1]!)) {
      if (Number(a[0]) === 0 && this.hbTrigger === 2) this.capacityA = Math.min(this.savedA[this.level()], this.levelMax());
      this.hbIntervalS = Number(a[0]);
      this.hbFallbackA = Number(a[1]);
      this.hbTrigger = 0;
      this.hbLastPulse = now;
      return { ok: true, data: status(0) };
    }
    return { ok: false, data: [] };
  }

  // ================================================================ state model (sim §2)

  private level(): 1 | 2 {
    return this.ecf & ECF.L2 ? 2 : 1;
  }

  private levelMax(): number {
    return this.level() === 1 ? 24 : this.hwMaxA;
  }

  private voltageMv(): number {
    return this.voltageMvOverride ?? (this.level() === 1 ? 120000 : this.profile.voltageL2Mv);
  }

  private currentMa(): number {
    return this.relayClosed ? Math.min(this.capacityA, this.evLimitA) * 1000 : 0;
  }

  private isFault(): boolean {
    return this.state >= 0x04 && this.state <= 0x11;
  }

  private pilotFromEv(): Pilot {
    if (!this.evPlugged) return 'A';
    if (this.evVent) return 'D';
    return this.evWantsCharge ? 'C' : 'B';
  }

  /** The EV changed what it shows on the pilot: debounce starts now. */
  private pilotInput(force = false): void {
    const p = this.pilotFromEv();
    // EV_CONNECTED follows the plug at once (sim §2.1), even while sleeping; frozen while disabled.
    if (this.booted && this.state !== 0xff) {
      const connected = p !== 'A';
      const was = (this.vflags & VFLAGS.EV_CONNECTED) !== 0;
      if (connected && !was) this.onPlug();
      else if (!connected && was) this.onUnplug();
    }
    if (force || !this.pendingPilot || this.pendingPilot.pilot !== p) this.pendingPilot = { pilot: p, since: this.clock.now() };
    // an unplug clears a recoverable fault at once (sim §2.2)
    if (this.booted && this.isFault() && p === 'A') this.clearFaultOnUnplug();
  }

  private onPlug(): void {
    this.vflags |= VFLAGS.EV_CONNECTED;
    this.elapsedMs = 0;
    this.sessionMws = 0;
  }

  private onUnplug(): void {
    this.vflags &= ~(VFLAGS.EV_CONNECTED | VFLAGS.EV_CONNECTED_PREV | VFLAGS.LIMIT_SLEEP | VFLAGS.TIME_LIMIT | VFLAGS.CHARGE_LIMIT);
    this.vflags |= VFLAGS.SESSION_ENDED;
    this.openRelay();
    this.lifetimeWh += Math.floor(Math.floor(this.sessionMws / 1000) / 3600);
    this.timeLimitQh = 0;
    this.chargeLimitKwh = 0;
    if (this.state === 0xfe && this.limitSleep) {
      this.limitSleep = false;
      this.state = 1;
    }
  }

  private limitSleep = false;

  private clearFaultOnUnplug(): void {
    if (this.hardFaultUntilReboot) return;
    this.state = 1;
    this.pilot = 1;
    this.evaluatedPilot = 'A';
    this.vflags &= ~VFLAGS.HARD_FAULT;
    this.gfciRetries = 0;
  }

  private fault(code: number): void {
    if (!this.booted || this.hardFaultUntilReboot) return;
    const now = this.clock.now();
    const soonAfterClose = this.relayClosed && now - this.relayClosedAt < 2000;
    this.openRelay();
    this.state = code;
    this.pilot = 0;
    this.faultSince = now;
    if (code === 0x06) {
      this.counters.gfi = Math.min(0xfe, this.counters.gfi + 1);
      this.vflags |= VFLAGS.GFI_TRIPPED;
    } else if (code === 0x07) {
      this.counters.noGround = Math.min(0xfe, this.counters.noGround + 1);
      this.vflags |= VFLAGS.NOGND_TRIPPED;
    } else if (code === 0x08) {
      this.counters.stuckRelay = Math.min(0xfe, this.counters.stuckRelay + 1);
      this.hardFaultUntilReboot = true;
    }
    const retryable = code === 0x06 || code === 0x07;
    if (!retryable || soonAfterClose || (code === 0x06 && this.gfciRetries >= 6)) this.vflags |= VFLAGS.HARD_FAULT;
  }

  private closeRelay(): void {
    if (this.relayClosed) return;
    this.relayClosed = true;
    this.relayClosedAt = this.clock.now();
    this.vflags |= VFLAGS.CHARGING_ON;
    this.vflags &= ~VFLAGS.SESSION_ENDED;
  }

  private openRelay(): void {
    this.relayClosed = false;
    this.vflags &= ~VFLAGS.CHARGING_ON;
  }

  private button(long: boolean): void {
    if (this.ecf & ECF.BUTTON_DISABLED) {
      if (this.profile.legacy) return;
      this.write(this.line('AN', [long ? '1' : '0']));
      return;
    }
    if (long) {
      this.write(this.line('WF', ['02']));
      return;
    }
    if (this.state === 0xfe || this.state === 0xff) {
      this.state = 0;
      this.pendingPilot = { pilot: this.pilotFromEv(), since: this.clock.now() };
    } else if (!this.isFault()) {
      this.state = 0xfe;
      this.openRelay();
    }
  }

  private tick(): void {
    if (!this.running) return;
    const now = this.clock.now();
    for (const action of ['plug-in', 'unplug', 'request-charge', 'stop-charge', 'vent-request', 'gfci-trip', 'no-ground', 'restore-ground', 'stuck-relay', 'diode-fail', 'over-temperature', 'over-current', 'button-short', 'button-long', 'power-cycle'] as EvAction[]) {
      while (this.ev.take(action, now)) this.act(action);
    }
    if (!this.booted) return;
    const dt = this.opts.tickMs;
    // ---- pilot debounce and state evaluation
    const pend = this.pendingPilot;
    if (pend) {
      const debounce = pend.pilot === 'A' ? 25 : 250;
      if (now - pend.since >= debounce) {
        this.pendingPilot = null;
        this.evaluatedPilot = pend.pilot;
        this.evaluate();
      }
    }
    // ---- faults over time
    if (this.groundLost && this.relayClosed && now - this.relayClosedAt >= 1000 && !(this.ecf & ECF.GND_CHK_DISABLED)) this.fault(0x07);
    if ((this.state === 0x06 || this.state === 0x07) && !(this.vflags & VFLAGS.HARD_FAULT) && now - this.faultSince >= 5 * 60_000) {
      if (this.state === 0x06) this.gfciRetries++;
      this.state = 0;
      this.pendingPilot = { pilot: this.pilotFromEv(), since: now - 250 };
    }
    // ---- sleeping: the EV stops drawing, the relay opens
    if ((this.state === 0xfe || this.state === 0xff) && this.relayClosed) this.openRelay();
    // ---- counters (sim §6)
    if (this.relayClosed) {
      this.elapsedMs += dt;
      const mV = this.voltageMv();
      const mA = this.currentMa();
      this.sessionMws += Math.floor((Math.floor(mV / 16) * Math.floor(mA / 4)) / 15625) * dt;
      if (this.timeLimitQh && this.elapsedMs >= this.timeLimitQh * 15 * 60_000) this.limitReached();
      if (this.chargeLimitKwh && this.sessionMws / 1000 >= this.chargeLimitKwh * 3_600_000) this.limitReached();
    }
    // ---- temperature throttling (sim §3)
    this.thermal();
    // ---- heartbeat (rapi §6)
    if (this.hbIntervalS > 0 && this.hbTrigger !== 2 && now - this.hbLastPulse > this.hbIntervalS * 1000) {
      if (this.capacityA > this.hbFallbackA) this.capacityA = Math.max(this.hbFallbackA, 6);
      this.hbTrigger = 2;
    }
    this.write(this.atCheck());
  }

  private thermal(): void {
    if (this.ecf & ECF.TEMP_CHK_DISABLED) return;
    const [ds, mcp, ir] = this.temperaturesTenthsC;
    const ambient = Math.max(ds === -2560 ? -Infinity : ds, mcp === -2560 ? -Infinity : mcp);
    const irT = ir === -2560 ? -Infinity : ir;
    if (Math.max(ambient, irT) >= 710) {
      if (!this.isFault()) this.fault(0x0a);
      return;
    }
    if (this.throttle.level > 0 && ambient <= 620 && irT <= 600) {
      this.capacityA = this.throttle.fromA;
      this.throttle = { level: 0, fromA: 0 };
      return;
    }
    if (!this.relayClosed) return;
    const want: 0 | 1 | 2 = ambient >= 680 ? 2 : ambient >= 650 || irT >= 650 ? 1 : 0;
    if (want > this.throttle.level) {
      const from = this.throttle.level === 0 ? this.capacityA : this.throttle.fromA;
      this.throttle = { level: want, fromA: from };
      this.capacityA = Math.max(6, Math.floor(from / (want === 2 ? 4 : 2)));
    }
  }

  private limitReached(): void {
    this.state = 0xfe;
    this.limitSleep = true;
    this.vflags |= VFLAGS.LIMIT_SLEEP;
    this.openRelay();
  }

  /** Applies the debounced pilot to the state (sim §2.1). */
  private evaluate(): void {
    const p = this.evaluatedPilot;
    if (this.state === 0xfe || this.state === 0xff) return;
    // after `$FD` froze the detection, `$FE` finds the plug as it is now
    const was = (this.vflags & VFLAGS.EV_CONNECTED) !== 0;
    if (p !== 'A' && !was) this.onPlug();
    else if (p === 'A' && was) this.onUnplug();
    if (this.isFault()) {
      if (p === 'A') this.clearFaultOnUnplug();
      return;
    }
    this.pilot = PILOT_CODE[p];
    if (p === 'A') {
      this.state = 1;
      this.openRelay();
    } else if (p === 'B') {
      this.state = 2;
      this.openRelay();
      this.vflags |= VFLAGS.EV_CONNECTED_PREV;
    } else if (p === 'C') {
      this.state = 3;
      this.vflags |= VFLAGS.EV_CONNECTED_PREV;
      this.closeRelay();
    } else if (p === 'D') {
      if (this.ecf & ECF.VENT_REQ_DISABLED) {
        this.state = 3;
        this.closeRelay();
      } else this.fault(0x04);
    }
  }

  /** The `$AT` change rule (rapi §4.2): the message, or '' (legacy boards send `$ST`). */
  private atCheck(): string {
    if (!this.booted) return '';
    const connected = (this.vflags & VFLAGS.EV_CONNECTED) !== 0;
    if (this.state === 0) return '';
    if ((this.state === 1 && connected) || ((this.state === 2 || this.state === 3) && !connected)) return '';
    if (this.profile.legacy) {
      const key = String(this.state);
      if (key === this.lastSentAt) return '';
      this.lastSentAt = key;
      return this.line('ST', [fmt.hex2(this.state)]);
    }
    const key = `${this.state} ${this.pilot} ${this.capacityA} ${this.vflags & VFLAGS_AT_MASK}`;
    if (key === this.lastSentAt) return '';
    this.lastSentAt = key;
    return this.line('AT', [fmt.hex2(this.state), fmt.hex2(this.pilot), String(this.capacityA), fmt.hex4(this.vflags)]);
  }
}
