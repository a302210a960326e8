/**
 * The device side of the Flatpack2 protocol: N rectifiers on one CAN bus, all feeding one
 * LiFePO4 pack in parallel. Protocol behaviour follows flatpack2.md §2 and the timing table
 * §2.8; the physics is deliberately simple (algebraic operating point + coulomb counting) so
 * a FakeClock can run a 10-hour charge in a fraction of a second.
 *
 * Everything is driven by one interval timer at the status period (200 ms): each tick
 * integrates the physics up to now, then every present PSU sends what it owes (status while
 * logged in; hello / login request while logged out). Replies to requests (alerts, default
 * voltage ack) go out a couple of milliseconds later, never synchronously from `receive`.
 *
 * Modelling choices where the sources are silent (documented so tests can rely on them):
 * - Walk-in is a rate limit on the rising voltage reference: the full 0 → setpoint ramp takes
 *   the walk-in time (short 5 s, long 60 s, chosen by the last SET id). Power-on and any
 *   restart of the output after an alarm walk in from 0 V; a SET that raises the setpoint ramps
 *   from the present output voltage. Ramps shorter than one status period (e.g. a charger's
 *   0.1 V steps) complete without ever reporting state 0x10.
 * - Each PSU is a voltage source with a small droop (50 mV at its maximum current) and a
 *   current limit; the droop makes PSUs at the same setpoint share current in proportion to
 *   their ratings.
 * - OVP: a PSU whose output would exceed its OVP latches "OVS lock-out" (alarm bit 0) and
 *   turns off until it is power-cycled (setPresent false → true).
 * - A logged-out PSU still powers its output at its EEPROM default voltage, maximum current
 *   and a fallback OVP of 59.5 V.
 * - Mains below 85 V or above 290 V is an alarm (output off); 85–185 V derates the available
 *   power (rough fit of NGU's 25.5 A at 117 V) and raises the Low mains warning.
 */
import { SimScript } from '../../sim/script.js';
import type { Clock, TimerHandle } from '../../clock.js';
import type { CanFrame } from '../can/types.js';
import type { LiFePO4Pack } from '../../sim/lifepo4-pack.js';
import {
  ALERT_BIT,
  FP2,
  decodeFp2,
  encodeIdentityReply,
  encodeAlerts,
  encodeDefaultVoltageAck,
  encodeHello,
  encodeLoginRequest,
  encodeStatus,
  serialToBcd,
  stateFromCode,
  type Fp2Message,
  type Fp2State,
} from './codec.js';

export interface SimPsuSpec {
  serial: string;
  /** Address remembered from a previous login (reported in its login requests). Default 0. */
  addr?: number;
  /** EEPROM power-on voltage. Default 53.5 V. */
  defaultVoltageV?: number;
  /** Default 2000 W; maximum current = powerRatingW / 48. */
  powerRatingW?: number;
  /** First hello byte: 0x1B (default), 0x1C or 0x1D. */
  helloPrefix?: number;
  /** AC input voltage. Default 230 V. */
  mainsV?: number;
  /** Plugged in and powered at start. Default true. */
  present?: boolean;
}

export interface SimPsuView {
  serial: string;
  present: boolean;
  loggedIn: boolean;
  addr: number;
  /** The setpoint in force (from a SET, or the default voltage after logout). */
  setVoltageV: number;
  /** The commanded per-rectifier limit, capped at maxCurrentA (a SET of FFFF = maxCurrentA). */
  currentLimitA: number;
  maxCurrentA: number;
  ovpV: number;
  /** Voltage at the output terminals (the shared bus). */
  outputV: number;
  outputA: number;
  /** Clock time the running walk-in ends, or null when not walking in. */
  walkInUntil: number | null;
  stateCode: number;
  state: Fp2State;
  warnings: number;
  alarms: number;
  defaultVoltageV: number;
  mainsV: number;
  intakeTempC: number;
  outputTempC: number;
  /** Status frames left before the login lapses. */
  statusFramesLeft: number;
}

export interface Flatpack2SimOptions {
  clock: Clock;
  send: (frame: CanFrame) => void;
  pack: LiFePO4Pack;
  psus: SimPsuSpec[];
  /** Physics integration step; default 200 ms (the status period). */
  physicsStepMs?: number;
  /** Uniform [0, 1) source for frame loss; default Math.random. */
  random?: () => number;
  /** Air temperature at the intake. Default 25 °C. */
  ambientC?: number;
}

const TICK_MS = FP2.STATUS_PERIOD_MS;
const REPLY_DELAY_MS = 2;
const DROOP_V_AT_MAX = 0.05;
const FALLBACK_OVP_V = 59.5;
/** Below this the power limit is computed at this voltage (the PSU's minimum output). */
const MIN_POWER_V = 43.5;
const MAINS_ALARM_LOW_V = 85;
const MAINS_DERATE_BELOW_V = 185;
const MAINS_DERATE_REF_V = 195;
const MAINS_ALARM_HIGH_V = 290;
const LOSS_FRACTION = 0.04;
const IDLE_LOSS_W = 10;
const EXHAUST_C_PER_W = 0.3;
const INTAKE_SHARE = 0.15;
const THERMAL_TAU_S = 120;
const OVER_TEMP_WARNING_C = 80;
const OVER_TEMP_ALARM_C = 95;

interface PsuModel {
  serial: string;
  helloPrefix: number;
  powerRatingW: number;
  maxCurrentA: number;
  droopOhm: number;
  present: boolean;
  loggedIn: boolean;
  addr: number;
  budget: number;
  setV: number;
  limitA: number | null;
  ovpV: number;
  walkInMs: number;
  /** Walk-in voltage reference; ≤ setV. */
  refV: number;
  rampVps: number;
  walkInUntilMs: number | null;
  wasOn: boolean;
  defaultV: number;
  mainsV: number;
  ovpLatched: boolean;
  overTemp: 'warning' | 'alarm' | null;
  intakeC: number;
  exhaustC: number;
  helloDueMs: number;
  loginReqDueMs: number;
  // Operating point of the last solve.
  ilimA: number;
  outputA: number;
  currentLimited: boolean;
}

export class Flatpack2Sim {
  /** Probability that a frame this sim sends is lost. */
  dropRate = 0;
  sentFrames = 0;
  droppedFrames = 0;
  readonly pack: LiFePO4Pack;

  private readonly clock: Clock;
  private readonly sendFn: (frame: CanFrame) => void;
  private readonly random: () => number;
  private readonly physicsStepMs: number;
  private readonly ambientC: number;
  private readonly models: PsuModel[] = [];
  private readonly active: PsuModel[] = [];
  private readonly breakpoints: number[] = [];
  private readonly pending = new Set<TimerHandle>();
  private tickTimer: TimerHandle | undefined;
  private running = false;
  private lastPhysicsMs = 0;
  private busV = 0;
  private totalA = 0;
  /** The last solve no longer matches the state (pack or ramps moved since). */
  private stale = true;
  /** Pack state the last solve saw: others (a BMS sim, a test) may change the pack directly. */
  private solvedSoc = NaN;
  private solvedConnected = true;
  private solvedR = NaN;

  /**
   * Scripted faults (src/sim/script.ts), e.g. `sim.script.next('drop-status', { times: 30, when: (s) => s.serial === X })`:
   * 'ignore-set' (the PSUs miss a SET), 'ignore-login' (a PSU misses a login), 'drop-status' (a status frame is lost).
   */
  readonly script = new SimScript<'ignore-set' | 'ignore-login' | 'drop-status', { kind: string; serial?: string }>();

  constructor(opts: Flatpack2SimOptions) {
    this.clock = opts.clock;
    this.sendFn = opts.send;
    this.pack = opts.pack;
    // The pack's current is what these PSUs deliver (their outputs from the last solve).
    this.pack.attachSource(() => this.totalA);
    this.random = opts.random ?? Math.random;
    this.physicsStepMs = opts.physicsStepMs ?? TICK_MS;
    if (!(this.physicsStepMs > 0)) throw new RangeError(`physicsStepMs must be > 0, got ${opts.physicsStepMs}`);
    this.ambientC = opts.ambientC ?? 25;
    const seen = new Set<string>();
    for (const s of opts.psus) {
      serialToBcd(s.serial); // validates the serial now rather than at the first hello
      if (seen.has(s.serial)) throw new Error(`Flatpack2Sim: serial ${s.serial} listed twice`);
      seen.add(s.serial);
      const powerRatingW = s.powerRatingW ?? 2000;
      const maxCurrentA = powerRatingW / 48;
      const defaultV = s.defaultVoltageV ?? 53.5;
      this.models.push({
        serial: s.serial,
        helloPrefix: s.helloPrefix ?? 0x1b,
        powerRatingW,
        maxCurrentA,
        droopOhm: DROOP_V_AT_MAX / maxCurrentA,
        present: s.present ?? true,
        loggedIn: false,
        addr: s.addr ?? 0,
        budget: 0,
        setV: defaultV,
        limitA: null,
        ovpV: FALLBACK_OVP_V,
        walkInMs: FP2.WALK_IN_SHORT_MS,
        refV: 0,
        rampVps: 0,
        walkInUntilMs: null,
        wasOn: false,
        defaultV,
        mainsV: s.mainsV ?? 230,
        ovpLatched: false,
        overTemp: null,
        intakeC: this.ambientC,
        exhaustC: this.ambientC,
        helloDueMs: 0,
        loginReqDueMs: 0,
        ilimA: 0,
        outputA: 0,
        currentLimited: false,
      });
    }
  }

  /** Power on every present PSU and start the bus activity. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const now = this.clock.now();
    this.lastPhysicsMs = now;
    for (const p of this.models) if (p.present) this.powerOn(p, now);
    this.solve();
    this.tickTimer = this.clock.setInterval(() => this.tick(), TICK_MS);
  }

  /** Stop all timers. PSU state is kept; a later start() is a power cycle. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.clock.clearInterval(this.tickTimer);
    this.tickTimer = undefined;
    for (const h of this.pending) this.clock.clearTimeout(h);
    this.pending.clear();
  }

  /** A frame from the bus (controller traffic). Anything not addressed to these PSUs is ignored. */
  receive(frame: CanFrame): void {
    if (!this.running) return;
    const msg = decodeFp2(frame);
    // Scripted: the PSUs miss this SET (a frame lost on the bus).
    if (msg.kind === 'set' && this.script.take('ignore-set', { kind: msg.kind })) return;
    switch (msg.kind) {
      case 'login':
      case 'set':
      case 'alert-request':
      case 'default-voltage':
      case 'identity-request':
        break;
      default:
        return;
    }
    const now = this.sync();
    this.handle(msg, frame.id & 0xffff, now);
    this.solve();
  }

  psu(serial: string): SimPsuView {
    const p = this.model(serial);
    const warnings = this.warningBits(p);
    const alarms = this.alarmBits(p);
    const stateCode = this.stateCode(p, warnings, alarms);
    return {
      serial: p.serial,
      present: p.present,
      loggedIn: p.loggedIn,
      addr: p.addr,
      setVoltageV: p.setV,
      currentLimitA: p.limitA === null ? p.maxCurrentA : Math.min(p.limitA, p.maxCurrentA),
      maxCurrentA: p.maxCurrentA,
      ovpV: p.ovpV,
      outputV: p.present ? this.busV : 0,
      outputA: p.outputA,
      walkInUntil: p.walkInUntilMs,
      stateCode,
      state: stateFromCode(stateCode),
      warnings,
      alarms,
      defaultVoltageV: p.defaultV,
      mainsV: p.mainsV,
      intakeTempC: this.reportedIntakeC(p),
      outputTempC: this.reportedExhaustC(p),
      statusFramesLeft: p.loggedIn ? p.budget : 0,
    };
  }

  /** Sum of all PSU currents into the pack (A). */
  get totalCurrentA(): number {
    return this.totalA;
  }

  /** Voltage on the shared output bus (V). */
  get outputV(): number {
    return this.busV;
  }

  injectOverTemp(serial: string, level: 'warning' | 'alarm' | null): void {
    const p = this.model(serial);
    const now = this.sync();
    p.overTemp = level;
    this.updatePower(p, now);
  }

  /** Removed / switched off (silent, no output) or back (power-on: walk-in, hello again). */
  setPresent(serial: string, present: boolean): void {
    const p = this.model(serial);
    if (p.present === present) return;
    const now = this.sync();
    if (present) {
      this.powerOn(p, now);
    } else {
      p.present = false;
      p.loggedIn = false;
      p.budget = 0;
      p.ovpLatched = false; // a power cycle clears the OVS lock-out
      this.updatePower(p, now);
    }
    this.solve();
  }

  setMains(serial: string, v: number): void {
    const p = this.model(serial);
    const now = this.sync();
    p.mainsV = v;
    this.updatePower(p, now);
    this.solve(); // derating changes the limit even when the output stays on
  }

  // ---- protocol --------------------------------------------------------------------------

  private handle(msg: Fp2Message, func: number, now: number): void {
    switch (msg.kind) {
      case 'login': {
        const p = this.models.find((m) => m.present && m.serial === msg.serial);
        if (!p) return;
        if (this.script.take('ignore-login', { kind: 'login', serial: p.serial })) return;
        p.addr = msg.addr;
        p.loggedIn = true;
        p.budget = FP2.STATUS_BUDGET_FRAMES;
        return;
      }
      case 'set': {
        for (const p of this.models) {
          if (!p.present || !p.loggedIn) continue;
          p.budget = FP2.STATUS_BUDGET_FRAMES; // any addressed traffic refreshes the login (NGU)
          p.setV = msg.voltageV;
          p.limitA = msg.currentA;
          p.ovpV = msg.ovpV;
          p.walkInMs = msg.walkIn === 'long' ? FP2.WALK_IN_LONG_MS : FP2.WALK_IN_SHORT_MS;
          if (this.isOn(p) && p.setV > p.ovpV) {
            p.ovpLatched = true;
            this.updatePower(p, now);
          } else {
            this.retarget(p, now);
          }
        }
        return;
      }
      case 'identity-request': {
        // The identity a real unit reports (§2.7): model name, serial (BCD), build year.
        for (const p of this.models) {
          if (!p.present || p.addr !== msg.addr) continue;
          const value =
            msg.selector === FP2.SEL_MODEL ? Uint8Array.from('FLATPACK2 48/2000 HE', (c) => c.charCodeAt(0))
            : msg.selector === FP2.SEL_SERIAL ? serialToBcd(p.serial)
            : msg.selector === FP2.SEL_BUILD_YEAR ? Uint8Array.of(2000 + Number(p.serial.slice(0, 2)) & 0xff, ((2000 + Number(p.serial.slice(0, 2))) >> 8) & 0xff)
            : null;
          if (!value) continue;
          this.later(() => {
            for (const f of encodeIdentityReply(p.addr, msg.selector, value, func)) this.emit(f);
          });
        }
        return;
      }
      case 'alert-request': {
        for (const p of this.models) {
          if (!p.present || p.addr !== msg.addr) continue;
          if (p.loggedIn) p.budget = FP2.STATUS_BUDGET_FRAMES;
          const type = msg.type;
          this.later(() => {
            const bits = type === 'warnings' ? this.warningBits(p) : this.alarmBits(p);
            this.emit(encodeAlerts(p.addr, type, bits, func));
          });
        }
        return;
      }
      case 'default-voltage': {
        if (msg.ack) return;
        for (const p of this.models) {
          if (!p.present || (p.addr !== msg.addr && msg.addr !== FP2.BROADCAST_ADDR)) continue;
          if (p.loggedIn) p.budget = FP2.STATUS_BUDGET_FRAMES;
          // EEPROM only: takes effect at the next logout or power-on (§2.5).
          p.defaultV = msg.voltageV;
          const v = msg.voltageV;
          this.later(() => this.emit(encodeDefaultVoltageAck(p.addr, v)));
        }
        return;
      }
      default:
        return;
    }
  }

  private tick(): void {
    if (!this.running) return;
    const now = this.clock.now();
    this.advancePhysics(now);
    const slack = TICK_MS / 2; // RealClock ticks jitter; FakeClock ticks land exactly
    for (const p of this.models) {
      if (!p.present) continue;
      if (p.loggedIn) {
        this.sendStatus(p);
        if (--p.budget <= 0) this.logout(p, now);
        continue;
      }
      if (now + slack >= p.helloDueMs) {
        this.emit(encodeHello(p.serial, p.helloPrefix));
        p.helloDueMs = nextDue(p.helloDueMs, FP2.HELLO_PERIOD_MS, now);
        if (p.loggedIn) continue; // a listener answered synchronously with a login
      }
      if (now + slack >= p.loginReqDueMs) {
        this.emit(encodeLoginRequest(p.serial, p.addr));
        p.loginReqDueMs = nextDue(p.loginReqDueMs, FP2.LOGIN_REQUEST_PERIOD_MS, now);
      }
    }
  }

  private sendStatus(p: PsuModel): void {
    if (this.script.take('drop-status', { kind: 'status', serial: p.serial })) return;
    const warnings = this.warningBits(p);
    const alarms = this.alarmBits(p);
    this.emit(
      encodeStatus({
        addr: p.addr,
        stateCode: this.stateCode(p, warnings, alarms),
        intakeTempC: this.reportedIntakeC(p),
        currentA: p.outputA,
        voltageV: Math.min(Math.max(this.busV, 0), 655.35),
        inputVoltageV: Math.round(Math.min(Math.max(p.mainsV, 0), 0xffff)),
        outputTempC: this.reportedExhaustC(p),
      }),
    );
  }

  /** Login budget spent: back to the EEPROM voltage, maximum current (NEG), hello again. */
  private logout(p: PsuModel, now: number): void {
    p.loggedIn = false;
    p.budget = 0;
    this.fallBack(p);
    this.retarget(p, now);
    p.helloDueMs = now + TICK_MS;
    p.loginReqDueMs = now + FP2.LOGIN_REQUEST_PERIOD_MS;
    this.solve();
  }

  private powerOn(p: PsuModel, now: number): void {
    p.present = true;
    p.loggedIn = false;
    p.budget = 0;
    p.ovpLatched = false;
    p.wasOn = false;
    p.refV = 0;
    p.walkInUntilMs = null;
    this.fallBack(p);
    p.helloDueMs = now + TICK_MS;
    p.loginReqDueMs = now + FP2.LOGIN_REQUEST_PERIOD_MS;
    this.updatePower(p, now);
  }

  private fallBack(p: PsuModel): void {
    p.setV = p.defaultV;
    p.limitA = null;
    p.ovpV = FALLBACK_OVP_V;
    p.walkInMs = FP2.WALK_IN_SHORT_MS;
  }

  private emit(frame: CanFrame): void {
    if (this.dropRate > 0 && this.random() < this.dropRate) {
      this.droppedFrames++;
      return;
    }
    this.sentFrames++;
    this.sendFn(frame);
  }

  private later(fn: () => void): void {
    const h: TimerHandle = this.clock.setTimeout(() => {
      this.pending.delete(h);
      if (this.running) fn();
    }, REPLY_DELAY_MS);
    this.pending.add(h);
  }

  private model(serial: string): PsuModel {
    const p = this.models.find((m) => m.serial === serial);
    if (!p) throw new Error(`Flatpack2Sim: no PSU with serial ${serial}`);
    return p;
  }

  // ---- state and alerts ------------------------------------------------------------------

  private alarmBits(p: PsuModel): number {
    if (!p.present) return 0;
    let bits = 0;
    if (p.ovpLatched) bits |= 1 << ALERT_BIT.OVS_LOCKOUT;
    if (p.overTemp === 'alarm') bits |= 1 << ALERT_BIT.HIGH_TEMPERATURE;
    if (p.mainsV < MAINS_ALARM_LOW_V) bits |= 1 << ALERT_BIT.LOW_MAINS;
    if (p.mainsV > MAINS_ALARM_HIGH_V) bits |= 1 << ALERT_BIT.HIGH_MAINS;
    return bits;
  }

  private warningBits(p: PsuModel): number {
    if (!p.present) return 0;
    let bits = 0;
    if (p.currentLimited) bits |= 1 << ALERT_BIT.CURRENT_LIMIT;
    if (p.overTemp === 'warning') bits |= 1 << ALERT_BIT.HIGH_TEMPERATURE;
    if (p.mainsV >= MAINS_ALARM_LOW_V && p.mainsV < MAINS_DERATE_BELOW_V) bits |= 1 << ALERT_BIT.LOW_MAINS;
    return bits;
  }

  private stateCode(p: PsuModel, warnings: number, alarms: number): number {
    if (alarms) return FP2.STATE_ALARM;
    if (p.walkInUntilMs !== null) return FP2.STATE_WALK_IN;
    if (warnings) return FP2.STATE_WARNING;
    return FP2.STATE_NORMAL;
  }

  private isOn(p: PsuModel): boolean {
    return p.present && this.alarmBits(p) === 0;
  }

  /** Output switched on or off: off drops the reference, on walks in from 0 V. */
  private updatePower(p: PsuModel, now: number): void {
    const on = this.isOn(p);
    if (on === p.wasOn) return;
    p.wasOn = on;
    p.refV = 0;
    p.walkInUntilMs = null;
    if (on) this.startRamp(p, now, 0);
    this.solve();
  }

  /** New setpoint on a running PSU: drop at once, rise along the walk-in ramp. */
  private retarget(p: PsuModel, now: number): void {
    if (!this.isOn(p)) return; // the ramp starts when the output comes back
    if (p.setV <= p.refV) {
      p.refV = p.setV;
      p.walkInUntilMs = null;
      return;
    }
    this.startRamp(p, now, Math.max(p.refV, Math.min(this.busV, p.setV)));
  }

  private startRamp(p: PsuModel, now: number, fromV: number): void {
    const target = p.setV;
    if (fromV >= target) {
      p.refV = target;
      p.walkInUntilMs = null;
      return;
    }
    const rate = Math.max(target, 1) / (p.walkInMs / 1000);
    const durationMs = ((target - fromV) / rate) * 1000;
    if (durationMs <= TICK_MS) {
      p.refV = target;
      p.walkInUntilMs = null;
      return;
    }
    p.refV = fromV;
    p.rampVps = rate;
    p.walkInUntilMs = now + durationMs;
  }

  private reportedIntakeC(p: PsuModel): number {
    return clampByte(p.intakeC);
  }

  private reportedExhaustC(p: PsuModel): number {
    const t = p.overTemp === 'alarm' ? Math.max(p.exhaustC, OVER_TEMP_ALARM_C) : p.overTemp === 'warning' ? Math.max(p.exhaustC, OVER_TEMP_WARNING_C) : p.exhaustC;
    return clampByte(t);
  }

  // ---- physics ---------------------------------------------------------------------------

  /** Bring the physics up to the clock before a state change, so the past uses the old state. */
  private sync(): number {
    const now = this.clock.now();
    if (this.running) this.advancePhysics(now);
    return now;
  }

  private advancePhysics(now: number): void {
    let remaining = now - this.lastPhysicsMs;
    if (remaining <= 0) return;
    let t = this.lastPhysicsMs;
    while (remaining > 0) {
      const dtMs = remaining < this.physicsStepMs ? remaining : this.physicsStepMs;
      t += dtMs;
      this.integrate(dtMs / 1000, t);
      remaining -= dtMs;
    }
    this.lastPhysicsMs = now;
    this.solve();
  }

  private integrate(dtS: number, endMs: number): void {
    const pack = this.pack;
    if (this.stale || pack.socPct !== this.solvedSoc || pack.connected !== this.solvedConnected || pack.internalResistanceOhm !== this.solvedR) {
      this.solve();
    }
    let tripped = false;
    for (const p of this.active) {
      if (this.busV > p.ovpV) {
        p.ovpLatched = true;
        tripped = true;
      }
    }
    if (tripped) {
      for (const p of this.models) this.updatePower(p, endMs);
      this.solve();
    }
    this.pack.step(this.totalA, dtS);
    this.stale = true;
    const k = 1 - Math.exp(-dtS / THERMAL_TAU_S);
    for (const p of this.models) {
      if (p.walkInUntilMs !== null) {
        p.refV += p.rampVps * dtS;
        if (p.refV >= p.setV || endMs >= p.walkInUntilMs) {
          p.refV = p.setV;
          p.walkInUntilMs = null;
        }
      }
      const outW = p.outputA * this.busV;
      const lossW = p.wasOn ? IDLE_LOSS_W + outW * LOSS_FRACTION : 0;
      const exhaustSs = this.ambientC + lossW * EXHAUST_C_PER_W;
      const intakeSs = this.ambientC + INTAKE_SHARE * (exhaustSs - this.ambientC);
      p.exhaustC += (exhaustSs - p.exhaustC) * k;
      p.intakeC += (intakeSs - p.intakeC) * k;
    }
  }

  /** Available current of one PSU now: SET limit, rating, and V·I ≤ available power. */
  private limitOf(p: PsuModel): number {
    const cmd = p.limitA === null ? p.maxCurrentA : Math.min(p.limitA, p.maxCurrentA);
    const mainsFactor = p.mainsV >= MAINS_DERATE_BELOW_V ? 1 : p.mainsV / MAINS_DERATE_REF_V;
    const powerA = (p.powerRatingW * mainsFactor) / Math.max(this.busV, MIN_POWER_V);
    return Math.max(0, Math.min(cmd, powerA));
  }

  private sourceA(p: PsuModel, v: number): number {
    const i = (p.refV - v) / p.droopOhm;
    return i <= 0 ? 0 : i >= p.ilimA ? p.ilimA : i;
  }

  /**
   * Operating point: the bus voltage V where Σ I_k(V) = (V − OCV)/R, each PSU a drooping
   * voltage source clamped to 0..limit (it never sinks). Σ I_k is piecewise linear and falling,
   * the pack line rising, so walking the sorted breakpoints finds the exact root.
   */
  private solve(): void {
    this.stale = false;
    this.solvedSoc = this.pack.socPct;
    this.solvedConnected = this.pack.connected;
    this.solvedR = this.pack.internalResistanceOhm;
    const active = this.active;
    active.length = 0;
    for (const p of this.models) {
      p.outputA = 0;
      p.currentLimited = false;
      if (!p.present || !p.wasOn) continue;
      p.ilimA = this.limitOf(p);
      active.push(p);
    }
    const pack = this.pack;
    if (!pack.connected) {
      let v = 0;
      for (const p of active) if (p.refV > v) v = p.refV;
      this.busV = v;
      this.totalA = 0;
      return;
    }
    const ocv = pack.ocvV();
    const r = Math.max(pack.internalResistanceOhm, 1e-4);
    let lo = ocv;
    let flo = this.netA(lo, ocv, r);
    let v = ocv;
    if (flo > 0) {
      const bp = this.breakpoints;
      bp.length = 0;
      for (const p of active) {
        const knee = p.refV - p.ilimA * p.droopOhm;
        if (knee > ocv) insertSorted(bp, knee);
        if (p.refV > ocv) insertSorted(bp, p.refV);
      }
      for (const b of bp) {
        if (b <= lo) continue;
        const fb = this.netA(b, ocv, r);
        if (fb <= 0) {
          v = lo + (flo * (b - lo)) / (flo - fb);
          break;
        }
        lo = b;
        flo = fb;
        v = b;
      }
    }
    let total = 0;
    for (const p of active) {
      const i = this.sourceA(p, v);
      p.outputA = i;
      p.currentLimited = i > 0 && i >= p.ilimA - 1e-9;
      total += i;
    }
    this.busV = v;
    this.totalA = total;
  }

  private netA(v: number, ocv: number, r: number): number {
    let s = 0;
    for (const p of this.active) s += this.sourceA(p, v);
    return s - (v - ocv) / r;
  }
}

function insertSorted(a: number[], x: number): void {
  let i = a.length;
  a.push(x);
  while (i > 0 && a[i - 1] > x) {
    a[i] = a[i - 1];
    i--;
  }
  a[i] = x;
}

/** Next due time on a fixed cadence; if far behind (stopped clock, long stall), restart from now. */
function nextDue(due: number, periodMs: number, now: number): number {
  const next = due + periodMs;
  return next > now ? next : now + periodMs;
}

function clampByte(t: number): number {
  const r = Math.round(t);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}
