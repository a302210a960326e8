/**
 * The Flatpack2 session on one CAN bus: discovery by serial, one login address per PSU,
 * keep-alive well inside the PSU's ~12.8 s login budget, status attributed by the address in
 * the CAN id, alert requests, a status watchdog (PSU offline) and a link watchdog (reopen the
 * adapter when the bus goes silent). It owns no policy: it never decides what to set.
 */
import { SilenceWatchdog, type Clock, type TimerHandle } from '../../clock.js';
import type { CanFrame } from '../can/types.js';
import type { LinkState } from '../can/adapter.js';
import type { CanLink } from '../can/types.js';
import {
  FP2,
  decodeFp2,
  encodeIdentityRequest,
  Fp2IdentityAssembler,
  type Fp2Identity,
  encodeAlertRequest,
  encodeDefaultVoltage,
  encodeLogin,
  encodeSet,
  type AlertType,
  type Fp2Message,
} from './codec.js';

export type StatusMessage = Extract<Fp2Message, { kind: 'status' }>;

export type Fp2Observation =
  | { kind: 'frame'; dir: 'rx' | 'tx'; frame: CanFrame; ts: number; msg: Fp2Message; serial: string | null }
  | { kind: 'discovered'; serial: string; addr: number; ts: number }
  | { kind: 'status'; serial: string; addr: number; status: StatusMessage; ts: number }
  | { kind: 'alerts'; serial: string; type: AlertType; bits: number; names: string[]; ts: number }
  | { kind: 'default-voltage-ack'; serial: string; voltageV: number; ts: number }
  | { kind: 'online'; serial: string; ts: number }
  /** The identity the PSU reported (model, serial, build year), read once at discovery. */
  | { kind: 'identity'; serial: string; identity: Fp2Identity; ts: number }
  /**
   * The PSUs that may obey the next broadcast SET changed: logged in by us (a login or a SET
   * refreshes the PSU's login budget) within the last LOGIN_HOLD_MS. A PSU obeys from its
   * login, before its first status frame, and keeps obeying after its status frames stop
   * until its budget lapses; a charger must share its current over exactly these.
   */
  | { kind: 'obeying'; serials: string[]; ts: number }
  | { kind: 'offline'; serial: string; ts: number; reason: string }
  | { kind: 'link'; state: LinkState; detail: string; ts: number };

export interface Flatpack2DriverOptions {
  link: CanLink;
  clock: Clock;
  keepAliveMs: number;
  statusTimeoutMs: number;
  linkWatchdogMs: number;
  /** Addresses remembered from the store or config, so a quick restart keeps attribution. */
  knownAddresses?: ReadonlyMap<string, number>;
  /** How often warnings/alarms are re-requested while a PSU stays in that state. */
  alertPollMs?: number;
}

interface PsuSession {
  serial: string;
  /** Its key in the silence watchdog ('status:SERIAL'), built once. */
  statusKey: string;
  addr: number;
  /** Until when this PSU may obey a broadcast SET (its login budget, refreshed by our traffic). */
  obeyUntil: number;
  lastLoginAt: number | null;
  lastStatusAt: number | null;
  online: boolean;
  lastState: number | null;
  lastAlertRequest: { warnings: number; alarms: number };
  /** The identity read at discovery (flatpack2.md §2.7), assembled from its reply chunks. */
  identity: Fp2IdentityAssembler;
  identityAsked: boolean;
}

const KEEPALIVE_TICK_MS = 200;
/** The identity selectors read at discovery: model name, serial, build year (§2.7). */
const IDENTITY_SELECTORS = [FP2.SEL_MODEL, FP2.SEL_SERIAL, FP2.SEL_BUILD_YEAR] as const;
const WATCHDOG_TICK_MS = 500;
const MAX_ADDR = 63;
/**
 * A login (or SET) holds a PSU for 64 status frames at 0.2 s = 12.8 s (flatpack2.md §2.2);
 * with the margin of one keep-alive tick it may still obey a SET until this long after.
 */
export const LOGIN_HOLD_MS = FP2.STATUS_BUDGET_FRAMES * 200 + 1000;

export class Flatpack2Driver {
  private readonly link: CanLink;
  private readonly clock: Clock;
  private readonly bySerial = new Map<string, PsuSession>();
  private readonly byAddr = new Map<number, PsuSession>();
  private readonly listeners = new Set<(o: Fp2Observation) => void>();
  private readonly unsubscribe: Array<() => void> = [];
  private keepAliveTimer: TimerHandle | undefined;
  /** Per-PSU status ('status:SERIAL') and any frame ('rx'), silence counted only while the loop can read. */
  private readonly silence: SilenceWatchdog;
  private readonly reservedAddr = new Map<number, string>();
  private obeyingKey = '';

  constructor(private readonly opts: Flatpack2DriverOptions) {
    this.link = opts.link;
    this.clock = opts.clock;
    this.silence = new SilenceWatchdog({ clock: this.clock, tickMs: WATCHDOG_TICK_MS, check: () => this.watchdog() });
    for (const [serial, addr] of opts.knownAddresses ?? []) {
      if (addr >= 1 && addr <= MAX_ADDR && !this.reservedAddr.has(addr)) this.reservedAddr.set(addr, serial);
    }
  }

  get busId(): string {
    return this.link.busId;
  }

  onObservation(cb: (o: Fp2Observation) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  start(): void {
    this.unsubscribe.push(
      this.link.onFrame((f, ts) => this.handleRx(f, ts)),
      this.link.onTx((f, ts) => {
        const msg = decodeFp2(f);
        this.emit({ kind: 'frame', dir: 'tx', frame: f, ts, msg, serial: this.serialOfTx(msg) });
      }),
      this.link.onState((state, detail) => this.handleLinkState(state, detail)),
    );
    this.keepAliveTimer = this.clock.setInterval(() => this.keepAlive(), KEEPALIVE_TICK_MS);
    this.silence.start();
    // Pre-register remembered PSUs so their status frames are attributed before a hello.
    for (const [addr, serial] of this.reservedAddr) this.register(serial, addr);
  }

  stop(): void {
    this.clock.clearInterval(this.keepAliveTimer);
    this.silence.stop();
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** Broadcast SET (the only form the PSUs obey): every logged-in PSU on the bus applies it. */
  sendSet(p: { voltageV: number; currentA: number; ovpV: number; walkIn: 'short' | 'long' }): Promise<boolean> {
    // A SET is addressed traffic: it refreshes the login budget of every PSU that obeys it.
    if (this.link.state === 'up') {
      const until = this.clock.now() + LOGIN_HOLD_MS;
      for (const psu of this.bySerial.values()) if (psu.obeyUntil > this.clock.now()) psu.obeyUntil = until;
    }
    return this.link.send(encodeSet(p)).then((r) => r.ok);
  }

  /** Serials of the PSUs that may obey a broadcast SET now. */
  obeying(): string[] {
    const now = this.clock.now();
    return [...this.bySerial.values()].filter((p) => p.obeyUntil > now).map((p) => p.serial);
  }

  private emitObeying(): void {
    const serials = this.obeying();
    this.obeyingKey = serials.join(',');
    this.emit({ kind: 'obeying', serials, ts: this.clock.now() });
  }

  sendDefaultVoltage(serial: string, voltageV: number): Promise<boolean> {
    const psu = this.bySerial.get(serial);
    if (!psu) return Promise.resolve(false);
    return this.link.send(encodeDefaultVoltage(psu.addr, voltageV)).then((r) => r.ok);
  }

  requestAlerts(serial: string, type: AlertType): Promise<boolean> {
    const psu = this.bySerial.get(serial);
    if (!psu) return Promise.resolve(false);
    psu.lastAlertRequest[type] = this.clock.now();
    return this.link.send(encodeAlertRequest(psu.addr, type)).then((r) => r.ok);
  }

  private emit(o: Fp2Observation): void {
    for (const l of this.listeners) l(o);
  }

  private serialOfTx(msg: Fp2Message): string | null {
    if (msg.kind === 'login') return msg.serial;
    if (msg.kind === 'alert-request' || msg.kind === 'default-voltage' || msg.kind === 'identity-request') return this.byAddr.get(msg.addr)?.serial ?? null;
    return null;
  }

  private handleRx(frame: CanFrame, ts: number): void {
    this.silence.heard('rx');
    const msg = decodeFp2(frame);
    let serial: string | null = null;
    switch (msg.kind) {
      case 'hello':
        serial = msg.serial;
        this.login(this.ensurePsu(msg.serial, null, ts));
        break;
      case 'login-request':
        serial = msg.serial;
        this.login(this.ensurePsu(msg.serial, msg.addr, ts));
        break;
      case 'status': {
        const psu = this.byAddr.get(msg.addr);
        if (psu) {
          serial = psu.serial;
          this.handleStatus(psu, msg, ts);
        }
        break;
      }
      case 'alerts': {
        const psu = this.byAddr.get(msg.addr);
        if (psu) {
          serial = psu.serial;
          this.emit({ kind: 'alerts', serial: psu.serial, type: msg.type, bits: msg.bits, names: msg.names, ts });
        }
        break;
      }
      case 'default-voltage':
        serial = this.byAddr.get(msg.addr)?.serial ?? null;
        if (serial && msg.ack) this.emit({ kind: 'default-voltage-ack', serial, voltageV: msg.voltageV, ts });
        break;
      case 'alert-request':
      case 'identity-request':
        serial = this.byAddr.get(msg.addr)?.serial ?? null;
        break;
      case 'identity-reply': {
        const psu = this.byAddr.get(msg.addr);
        if (psu) {
          serial = psu.serial;
          if (psu.identity.add(msg) !== null && IDENTITY_SELECTORS.every((s) => psu.identity.has(s))) {
            this.emit({ kind: 'identity', serial: psu.serial, identity: psu.identity.identity(), ts });
          }
        }
        break;
      }
      default:
        break;
    }
    this.emit({ kind: 'frame', dir: 'rx', frame, ts, msg, serial });
  }

  private handleStatus(psu: PsuSession, msg: StatusMessage, ts: number): void {
    psu.lastStatusAt = ts;
    this.silence.heard(psu.statusKey);
    if (!psu.online) {
      psu.online = true;
      this.emit({ kind: 'online', serial: psu.serial, ts });
      // Once per discovery: what the unit says it is (it answers only while logged in).
      if (!psu.identityAsked) {
        psu.identityAsked = true;
        for (const sel of IDENTITY_SELECTORS) void this.link.send(encodeIdentityRequest(psu.addr, sel));
      }
    }
    // Ask for the alert bits when the state says there are some: on entering the state and
    // then every alertPollMs (MTI asked on every frame, ~5 requests/s, which floods the bus).
    const pollMs = this.opts.alertPollMs ?? 5000;
    const type: AlertType | null = msg.stateCode === 0x08 ? 'warnings' : msg.stateCode === 0x0c ? 'alarms' : null;
    const changed = psu.lastState !== msg.stateCode;
    psu.lastState = msg.stateCode;
    if (type && (changed || ts - psu.lastAlertRequest[type] >= pollMs)) void this.requestAlerts(psu.serial, type);
    if (changed && !type) {
      // Leaving a warning/alarm state clears both lists; report that as empty alerts.
      this.emit({ kind: 'alerts', serial: psu.serial, type: 'warnings', bits: 0, names: [], ts });
      this.emit({ kind: 'alerts', serial: psu.serial, type: 'alarms', bits: 0, names: [], ts });
    }
    this.emit({ kind: 'status', serial: psu.serial, addr: psu.addr, status: msg, ts });
  }

  private ensurePsu(serial: string, presetAddr: number | null, ts: number): PsuSession {
    const known = this.bySerial.get(serial);
    if (known) return known;
    const addr = this.pickAddress(serial, presetAddr);
    const psu = this.register(serial, addr);
    this.emit({ kind: 'discovered', serial, addr, ts });
    return psu;
  }

  private register(serial: string, addr: number): PsuSession {
    const psu: PsuSession = {
      serial,
      statusKey: `status:${serial}`,
      addr,
      obeyUntil: -Infinity,
      lastLoginAt: null,
      lastStatusAt: null,
      online: false,
      lastState: null,
      lastAlertRequest: { warnings: -Infinity, alarms: -Infinity },
      identity: new Fp2IdentityAssembler(),
      identityAsked: false,
    };
    this.bySerial.set(serial, psu);
    this.byAddr.set(addr, psu);
    this.reservedAddr.set(addr, serial);
    return psu;
  }

  /** Remembered address first, then the PSU's own preset, then the lowest free one. */
  private pickAddress(serial: string, presetAddr: number | null): number {
    for (const [addr, s] of this.reservedAddr) if (s === serial) return addr;
    const free = (a: number) => a >= 1 && a <= MAX_ADDR && !this.reservedAddr.has(a) && !this.byAddr.has(a);
    if (presetAddr !== null && free(presetAddr)) return presetAddr;
    for (let a = 1; a <= MAX_ADDR; a++) if (free(a)) return a;
    // 63 PSUs on one bus is beyond any real shelf; reuse the highest rather than crash.
    return MAX_ADDR;
  }

  private login(psu: PsuSession): void {
    if (this.link.state !== 'up') return;
    const now = this.clock.now();
    psu.lastLoginAt = now;
    const joining = psu.obeyUntil <= now;
    psu.obeyUntil = now + LOGIN_HOLD_MS;
    void this.link.send(encodeLogin(psu.serial, psu.addr));
    // Announce a joining PSU right after its login is queued: the SET the engine sends for it
    // (a charger's re-share, a restore) must follow the login, or the PSU ignores it.
    if (joining) this.emitObeying();
  }

  private keepAlive(): void {
    if (this.link.state !== 'up') return;
    const now = this.clock.now();
    for (const psu of this.bySerial.values()) {
      // Only PSUs reporting now: one that went silent is logged in again when it asks (hello,
      // login request). Logging it in blindly would keep an absent unit in every charger's
      // share forever; a unit that is alive but unheard keeps obeying SETs until its budget lapses.
      if (!psu.online) continue;
      if (psu.lastLoginAt === null || now - psu.lastLoginAt >= this.opts.keepAliveMs) this.login(psu);
    }
  }

  /** Runs after pending input was read; silences exclude time the event loop was stalled. */
  private watchdog(): void {
    const now = this.clock.now();
    const key = this.obeying().join(',');
    if (key !== this.obeyingKey) this.emitObeying(); // a login budget lapsed
    for (const psu of this.bySerial.values()) {
      const silent = this.silence.silentMs(psu.statusKey);
      if (psu.online && silent !== null && silent > this.opts.statusTimeoutMs) {
        psu.online = false;
        psu.lastState = null;
        this.emit({
          kind: 'offline',
          serial: psu.serial,
          ts: now,
          reason: `no status frame for ${Math.round(silent / 1000)} s`,
        });
      }
    }
    const anyKnown = [...this.bySerial.values()].some((p) => p.lastStatusAt !== null);
    const rxSilent = this.silence.silentMs('rx');
    if (this.link.state === 'up' && anyKnown && rxSilent !== null && rxSilent > this.opts.linkWatchdogMs) {
      this.silence.heard('rx'); // one reconnect per silent period
      this.link.reconnect(`no CAN frame for ${Math.round(this.opts.linkWatchdogMs / 1000)} s`);
    }
  }

  private handleLinkState(state: LinkState, detail: string): void {
    const ts = this.clock.now();
    if (state === 'up') {
      this.silence.heard('rx');
      // Log every PSU we know back in at once; a lapsed login means default voltage.
      for (const psu of this.bySerial.values()) {
        if (psu.lastStatusAt !== null || psu.lastLoginAt !== null) this.login(psu);
      }
    } else {
      for (const psu of this.bySerial.values()) {
        psu.lastLoginAt = null;
        if (psu.online) {
          psu.online = false;
          psu.lastState = null;
          this.emit({ kind: 'offline', serial: psu.serial, ts, reason: `CAN link ${state}: ${detail}` });
        }
      }
    }
    this.emit({ kind: 'link', state, detail, ts });
  }
}
