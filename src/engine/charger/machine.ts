/**
 * The LiFePO4 charger as a pure state machine: `step(state, input, settings, limits)` returns
 * the next state, the commands for the PSU group and notes that explain every decision. No
 * I/O, no timers: the engine feeds status rounds (≈ 5 Hz), ticks (≈ 1 s) and user inputs,
 * sends the commands through the gate and records the notes.
 *
 * Behaviour follows flatpack2-charger-behaviour.md §4 (DETECT → RAMP → CC → CV → DONE, or
 * ERROR), where the original ran threads with sleeps. Deliberate differences, each marked
 * "Δ" where it is implemented:
 *  Δ1 Settings are validated up front (settings.ts); `start`/`setCurrent` refuse what the
 *     group cannot deliver (current ≤ 0, target above 57.6 V or the OVP, …).
 *  Δ2 Safety timer, over-temperature and PSU alarm are checked in every active phase (the
 *     original checked the timer and High Temp only in CC/CV).
 *  Δ3 The safety timer counts time spent in RAMP/CC/CV over the whole session (across
 *     disconnects, pauses and a crash resume) instead of restarting at each RAMP entry.
 *  Δ4 DETECT gives up after detectTimeoutMin → ERROR + standby with a reason (a session that
 *     found no battery did not complete, and 'done' would read as SOC 100 %).
 *  Δ5 PSU groups: chargeCurrentA is the total; each broadcast SET carries
 *     floor(total / online units, 0.1 A), capped at the unit maximum and by the power rating.
 *     A PSU dropping out or returning re-shares at once with a new SET and a note. The DETECT
 *     probe current is per unit (it is a probe, not a charge current).
 *  Δ6 Pause/resume: losing every PSU → 'paused' (Ah/Wh kept); their return, or a `start`
 *     with `resume` after a crash, re-enters through DETECT and RAMP from the measured battery
 *     voltage — never straight back to the old setpoint (the original either ERRORed on a
 *     failed SET and restarted from zero, or silently carried on).
 *  Δ7 Manual stop → 'done' with the reason and a standby command; the session outcome is
 *     'stopped', so the SOC estimate does not claim 100 %.
 *  Δ8 RAMP → CC compares the measured total with what the last SET lets the group deliver
 *     (after the 0.1 A floor and the power clamp), not with the nominal charge current, which
 *     a power-clamped group never reaches.
 *  Δ9 Decisions act only on fresh readings: a DETECT check, RAMP step or CC setpoint step
 *     needs a status round newer than the previous step and ≤ 2 s old (missing status rounds
 *     hold the ramp instead of stepping blind). A status round in which the online set
 *     changed re-shares but makes no CC/CV decision (its currents are transitional).
 *  Δ10 In CC, a round with total current ≤ minCurrentDetectA does not count as reaching the
 *     CV voltage: an open battery lets the output rise to the setpoint, and the original could
 *     then go CV → "Charge complete". The disconnect timer decides instead.
 *  Δ11 Ah/Wh are integrated in every active phase (the original counted only CC/CV, missing
 *     the RAMP charge); dt outside (0, 2 s) is skipped but always re-anchors the integration.
 *  Δ12 Setpoints are on the wire's grid: the target is floored to 0.01 V, the ramp start is
 *     capped at the target (the original could SET above it for a battery above target).
 */
import { checkGroupCurrent, checkPsuSetpoint, validateChargerSettings, type DcOutputLimits } from '../gate.js';
import { socFromCellVoltage } from './ocv.js';
import { chargeTargetV, type ChargerSettings } from './settings.js';

export { DEFAULT_CHARGER_SETTINGS, chargeTargetV, nominalTargetV } from './settings.js';
export type { ChargerSettings } from './settings.js';
// The limit check lives in the command gate; re-exported for the machine's callers.
export { validateChargerSettings } from '../gate.js';
export type { ChargerSettingsCheck } from '../gate.js';
export { socEstimate } from './soc.js';

export type ChargerPhase = 'idle' | 'detect' | 'ramp' | 'CC' | 'CV' | 'paused' | 'done' | 'error';

export interface PsuReading {
  id: string;
  online: boolean;
  /**
   * May obey a broadcast SET (logged in by us within its login budget), reporting or not.
   * The charge current is shared over every such unit: a SET reaches them all.
   */
  obeying?: boolean;
  voltageV: number | null;
  currentA: number | null;
  /** Status 0x0C. */
  alarm: boolean;
  /** A warning/alarm name containing "High temp". */
  overTemp: boolean;
}

export interface PhaseSpan {
  phase: ChargerPhase;
  startedAt: number;
  endedAt: number | null;
}

/** What the runtime reads from the stored session (charge_sessions and charge_phases rows) to continue it after a crash. */
export interface ResumeInfo {
  startedAt: number;
  ah: number;
  wh: number;
  peakCurrentA?: number;
  /** Safety-timer time already spent in RAMP/CC/CV. */
  chargingMs?: number;
  rampStartedAt?: number | null;
  ccToCvAt?: number | null;
  socStartPct?: number | null;
  socAhBase?: number;
  phaseHistory?: PhaseSpan[];
}

export type ChargerInput =
  | { type: 'start'; now: number; currentA?: number; psuIds: string[]; resume?: ResumeInfo }
  | { type: 'stop'; now: number; reason: string }
  /** Every status round: the bus's PSUs; a group PSU missing from the list counts as offline. */
  | { type: 'status'; now: number; psus: PsuReading[] }
  | { type: 'tick'; now: number }
  | { type: 'setCurrent'; now: number; currentA: number }
  | { type: 'link'; now: number; allPsusLost: boolean }
  /** The linked BMS's limits and requests (null = BMS lost beyond its timeout): caps, holds, stops. */
  | { type: 'bms'; now: number; bms: BmsLimits | null }
  /** Something outside the machine went wrong (e.g. the gate refused a command): ERROR + standby. */
  | { type: 'fault'; now: number; reason: string };

/** What a linked BMS allows (issue: BMS-guided charging). Nulls mean "not reported". */
export interface BmsLimits {
  chargeVoltageLimitV: number | null;
  chargeCurrentLimitA: number | null;
  /** False on a charge-disable request or a charge-blocking protection. */
  chargeAllowed: boolean;
  /** Why charging is not allowed (the BMS flag or protection that says so). */
  blockReason: string | null;
  /** The BMS stopped charging because the battery is full (not because of a fault). */
  full?: boolean;
}

export type ChargerCommand =
  /** Broadcast SET; currentA is PER RECTIFIER (the total is shared over the online units). */
  | {
      kind: 'set';
      voltageV: number;
      currentA: number;
      reason: string;
      /** One step of a high-rate ramp (RAMP or the CC setpoint ramp): the event log summarises these instead of recording each twice. */
      step?: boolean;
    }
  | { kind: 'standby'; reason: string };

export type SessionOutcome = 'done' | 'error' | 'stopped';

export type ChargerNote =
  | { type: 'phase'; from: ChargerPhase; to: ChargerPhase; reason: string }
  | { type: 'session-started'; resumed: boolean; psuIds: string[]; chargeCurrentA: number; targetVoltageV: number }
  | { type: 'session-ended'; outcome: SessionOutcome; reason: string; ah: number; wh: number; durationMs: number }
  | { type: 'battery-detected'; by: 'voltage' | 'current'; voltageV: number; currentA: number; socPct: number; rampStartV: number }
  | { type: 'cc-to-cv'; voltageV: number; currentA: number }
  | { type: 'psu-group'; lost: string[]; returned: string[]; online: string[]; perUnitCurrentA: number | null; message: string }
  | { type: 'current-changed'; fromA: number; toA: number }
  | { type: 'warning'; message: string }
  | { type: 'rejected'; input: ChargerInput['type']; reason: string }
  | {
      type: 'bms-cap';
      targetVoltageV: number;
      chargeCurrentA: number;
      configuredTargetV: number;
      configuredCurrentA: number;
      bmsVoltageLimitV: number | null;
      bmsCurrentLimitA: number | null;
    }
  | { type: 'bms-hold'; reason: string }
  | { type: 'bms-release'; reason: string };

/** The group's view of the battery from one status round. */
export interface BatteryReading {
  voltageV: number;
  totalCurrentA: number;
  at: number;
}

export interface ChargerState {
  phase: ChargerPhase;
  /** Total over the group (A). */
  chargeCurrentA: number;
  targetVoltageV: number;
  /** Present RAMP / CC-ramp setpoint; null outside them. */
  rampVoltageV: number | null;
  ah: number;
  wh: number;
  peakCurrentA: number;
  startedAt: number | null;
  /** First RAMP entry of the session. */
  rampStartedAt: number | null;
  /** Start of the present RAMP/CC/CV stretch (safety timer). */
  chargingSince: number | null;
  /** Safety-timer time of earlier stretches. */
  chargingMs: number;
  detectSince: number | null;
  /** Last DETECT check / RAMP step / CC setpoint step (step cadence). */
  lastStepAt: number | null;
  ccToCvAt: number | null;
  /** Last command as sent per unit (standby included). */
  lastSetpoint: { voltageV: number; currentA: number } | null;
  stopReason: string | null;
  outcome: SessionOutcome | null;
  phaseHistory: PhaseSpan[];
  socStartPct: number | null;
  socAhBase: number;
  cvEntryCurrentA: number | null;
  /**
   * In CC: since when the current has stayed below 95 % of what the group may deliver while the
   * battery sits at the setpoint (the rectifiers are voltage-limited: the current tapers). The
   * CC→CV transition is dated here, where the taper starts, not where the voltage criterion fires.
   */
  taperSince?: number | null;
  lowCurrentSince: number | null;
  prevTotalCurrentA: number | null;
  lastIntegrationAt: number | null;
  latest: BatteryReading | null;
  /** The session's group, fixed at start. */
  psuIds: string[];
  onlinePsuIds: string[];
  pausedFrom: ChargerPhase | null;
  resumed: boolean;
  /** Target and current before BMS caps (what the user or config asked for). */
  baseTargetVoltageV: number;
  baseChargeCurrentA: number;
  /** Last limits from the linked BMS; kept across sessions. */
  bms: BmsLimits | null;
  /** Set while the BMS holds the charge (paused with standby); the reason. */
  bmsHold: string | null;
}

export interface StepResult {
  state: ChargerState;
  commands: ChargerCommand[];
  notes: ChargerNote[];
}

/** A reading older than this is stale for a step decision; also the integration gap limit. */
export const READING_MAX_AGE_MS = 2000;

const ACTIVE: ReadonlySet<ChargerPhase> = new Set(['detect', 'ramp', 'CC', 'CV', 'paused']);
const CHARGING: ReadonlySet<ChargerPhase> = new Set(['ramp', 'CC', 'CV']);

/** detect, ramp, CC, CV or paused: a session is running. */
export function isActive(phase: ChargerPhase): boolean {
  return ACTIVE.has(phase);
}

const roundV = (v: number) => Math.round(v * 100) / 100;
const fmtV = (v: number) => `${v.toFixed(2)} V`;
const fmtA = (a: number) => `${a.toFixed(1)} A`;

/**
 * Per-unit current for a broadcast SET: the total shared over `units`, floored to 0.1 A and
 * kept within the unit's range; the power clamp at `voltageV` is the gate's own, so the gate
 * accepts the value unchanged.
 */
export function perUnitCurrentA(totalA: number, units: number, voltageV: number, limits: DcOutputLimits): number {
  const share = Math.floor((totalA / Math.max(1, units)) * 10 + 1e-6) / 10;
  const a = Math.min(limits.maxCurrentA, Math.max(limits.minCurrentA, share));
  const g = checkPsuSetpoint(limits, { voltageV, currentA: a });
  // A voltage the gate refuses cannot be sent anyway; the command itself will be refused.
  return g.ok ? g.value.currentA : a;
}

export function initialChargerState(settings: ChargerSettings, _limits: DcOutputLimits): ChargerState {
  return {
    phase: 'idle',
    chargeCurrentA: settings.chargeCurrentA,
    targetVoltageV: chargeTargetV(settings),
    rampVoltageV: null,
    ah: 0,
    wh: 0,
    peakCurrentA: 0,
    startedAt: null,
    rampStartedAt: null,
    chargingSince: null,
    chargingMs: 0,
    detectSince: null,
    lastStepAt: null,
    ccToCvAt: null,
    lastSetpoint: null,
    stopReason: null,
    outcome: null,
    phaseHistory: [],
    socStartPct: null,
    socAhBase: 0,
    cvEntryCurrentA: null,
    taperSince: null,
    lowCurrentSince: null,
    prevTotalCurrentA: null,
    lastIntegrationAt: null,
    latest: null,
    psuIds: [],
    onlinePsuIds: [],
    pausedFrom: null,
    resumed: false,
    baseTargetVoltageV: chargeTargetV(settings),
    baseChargeCurrentA: settings.chargeCurrentA,
    bms: null,
    bmsHold: null,
  };
}

/** Safety-timer time (RAMP/CC/CV) of the session up to `now`. */
export function chargingElapsedMs(state: ChargerState, now: number): number {
  return state.chargingMs + (state.chargingSince !== null ? Math.max(0, now - state.chargingSince) : 0);
}

/** What a crash resume needs, as the engine would rebuild it from the session's events. */
export function resumeInfoFromState(state: ChargerState, now: number): ResumeInfo {
  return {
    startedAt: state.startedAt ?? now,
    ah: state.ah,
    wh: state.wh,
    peakCurrentA: state.peakCurrentA,
    chargingMs: chargingElapsedMs(state, now),
    rampStartedAt: state.rampStartedAt,
    ccToCvAt: state.ccToCvAt,
    socStartPct: state.socStartPct,
    socAhBase: state.socAhBase,
    phaseHistory: state.phaseHistory.map((p) => ({ ...p })),
  };
}

/** Pure transition: never mutates its arguments. */
export function step(state: ChargerState, input: ChargerInput, settings: ChargerSettings, limits: DcOutputLimits): StepResult {
  const run = new Transition(state, settings, limits, input.now);
  switch (input.type) {
    case 'start':
      run.start(input.psuIds, input.currentA, input.resume);
      break;
    case 'stop':
      run.stop(input.reason);
      break;
    case 'status':
      run.status(input.psus);
      break;
    case 'tick':
      run.tick();
      break;
    case 'setCurrent':
      run.setCurrent(input.currentA);
      break;
    case 'link':
      run.link(input.allPsusLost);
      break;
    case 'fault':
      run.fault(input.reason);
      break;
    case 'bms':
      run.bms(input.bms);
      break;
  }
  return { state: run.s, commands: run.commands, notes: run.notes };
}

/** One step's working copy: methods change `s` (a fresh copy) and collect commands/notes. */
class Transition {
  s: ChargerState;
  readonly commands: ChargerCommand[] = [];
  readonly notes: ChargerNote[] = [];

  constructor(
    state: ChargerState,
    private readonly cfg: ChargerSettings,
    private readonly limits: DcOutputLimits,
    private readonly now: number,
  ) {
    // Arrays are replaced, never pushed into, so a shallow copy keeps the input untouched.
    this.s = { ...state };
  }

  private get intervalMs(): number {
    return this.cfg.rampStepIntervalS * 1000;
  }

  private reject(input: ChargerInput['type'], reason: string): void {
    this.notes.push({ type: 'rejected', input, reason });
  }

  // ---- inputs -------------------------------------------------------------------------

  start(psuIds: string[], currentA: number | undefined, resume: ResumeInfo | undefined): void {
    if (isActive(this.s.phase)) return this.reject('start', `Already charging (${this.s.phase}) - stop the charge first`);
    const ids = [...new Set(psuIds)];
    if (ids.length === 0) return this.reject('start', 'No PSUs to charge with - none discovered on this bus yet');
    const chargeCurrentA = currentA ?? this.cfg.chargeCurrentA;
    // Δ1: the same validation as the config loader, with the override and this group's size.
    const check = validateChargerSettings({ ...this.cfg, chargeCurrentA }, this.limits, ids.length);
    if (!check.ok) return this.reject('start', check.message);

    const now = this.now;
    const history = (resume?.phaseHistory ?? []).map((p) => ({ ...p, endedAt: p.endedAt ?? now }));
    this.s = {
      ...initialChargerState(this.cfg, this.limits),
      chargeCurrentA,
      ah: resume?.ah ?? 0,
      wh: resume?.wh ?? 0,
      peakCurrentA: resume?.peakCurrentA ?? 0,
      startedAt: resume?.startedAt ?? now,
      rampStartedAt: resume?.rampStartedAt ?? null,
      chargingMs: resume?.chargingMs ?? 0,
      ccToCvAt: resume?.ccToCvAt ?? null,
      socStartPct: resume?.socStartPct ?? null,
      socAhBase: resume?.socAhBase ?? 0,
      phaseHistory: history,
      psuIds: ids,
      onlinePsuIds: ids,
      resumed: resume !== undefined,
      baseChargeCurrentA: chargeCurrentA,
      bms: this.s.bms,
    };
    this.applyBmsCaps(false);
    this.notes.push({ type: 'session-started', resumed: resume !== undefined, psuIds: ids, chargeCurrentA, targetVoltageV: this.s.targetVoltageV });
    // Δ6: a resumed session re-enters through DETECT like a fresh one, with its Ah/Wh.
    this.enterDetect(resume ? 'Resuming the session after a restart - re-detecting the battery' : 'Charge started');
    if (this.s.bms && !this.s.bms.chargeAllowed) this.bmsHold(`BMS: ${this.s.bms.blockReason ?? 'charging not allowed'}`);
  }

  stop(reason: string): void {
    if (!isActive(this.s.phase)) return this.reject('stop', 'Not charging');
    // Δ7: manual stop ends as 'done' with the reason; the outcome says it was stopped.
    this.finish('stopped', reason);
  }

  bms(lim: BmsLimits | null): void {
    const s = this.s;
    s.bms = lim;
    if (!isActive(s.phase)) {
      this.applyBmsCaps(false);
      return;
    }
    if (lim === null) return this.fail('BMS frames lost - charging stopped safely (check the BMS and its CAN link)');
    if (!lim.chargeAllowed) {
      // A BMS that stops charging a full battery ends the charge, also one it already holds
      // (its 0 A limit can arrive a frame before the cleared charge-enable); anything else holds it.
      if (lim.full && (s.phase === 'CC' || s.phase === 'CV' || (s.phase === 'paused' && s.bmsHold !== null))) return this.finish('done', `Charge complete (BMS reports the battery full: ${lim.blockReason ?? 'charging disabled'})`);
      if (s.bmsHold === null) this.bmsHold(`BMS: ${lim.blockReason ?? 'charging not allowed'}`);
      return;
    }
    const capped = this.applyBmsCaps(true);
    if (s.bmsHold !== null) {
      const why = s.bmsHold;
      s.bmsHold = null;
      this.notes.push({ type: 'bms-release', reason: `BMS allows charging again (was: ${why})` });
      // Soft re-entry, as after any pause.
      if (s.onlinePsuIds.length) this.enterDetect('BMS allows charging again - re-detecting the battery');
      return;
    }
    if (capped && s.chargeCurrentA < this.limits.minCurrentA * Math.max(1, s.onlinePsuIds.length)) {
      this.bmsHold(`BMS charge current limit ${fmtA(lim.chargeCurrentLimitA ?? 0)} is below what the PSUs can regulate`);
    }
  }

  private cappedCurrentA(): number {
    const s = this.s;
    const cap = s.bms?.chargeCurrentLimitA;
    return cap !== null && cap !== undefined && Number.isFinite(cap) ? Math.min(s.baseChargeCurrentA, Math.max(0, Math.floor(cap * 10 + 1e-6) / 10)) : s.baseChargeCurrentA;
  }

  private cappedTargetV(): number {
    const s = this.s;
    const cap = s.bms?.chargeVoltageLimitV;
    return cap !== null && cap !== undefined && Number.isFinite(cap) ? Math.min(s.baseTargetVoltageV, Math.floor(cap * 100 + 1e-6) / 100) : s.baseTargetVoltageV;
  }

  /** Recomputes target and current under the BMS limits; re-sends the setpoint when charging. */
  private applyBmsCaps(emit: boolean): boolean {
    const s = this.s;
    const targetVoltageV = this.cappedTargetV();
    const chargeCurrentA = this.cappedCurrentA();
    if (targetVoltageV === s.targetVoltageV && chargeCurrentA === s.chargeCurrentA) return false;
    const raisedTarget = targetVoltageV > s.targetVoltageV;
    const oldTarget = s.targetVoltageV;
    s.targetVoltageV = targetVoltageV;
    s.chargeCurrentA = chargeCurrentA;
    this.notes.push({
      type: 'bms-cap',
      targetVoltageV,
      chargeCurrentA,
      configuredTargetV: s.baseTargetVoltageV,
      configuredCurrentA: s.baseChargeCurrentA,
      bmsVoltageLimitV: s.bms?.chargeVoltageLimitV ?? null,
      bmsCurrentLimitA: s.bms?.chargeCurrentLimitA ?? null,
    });
    if (!emit || s.bmsHold !== null) return true;
    const why = `BMS limits: ${fmtV(targetVoltageV)} / ${fmtA(chargeCurrentA)}`;
    if (s.rampVoltageV !== null && s.rampVoltageV > targetVoltageV) s.rampVoltageV = targetVoltageV;
    if (s.phase === 'CV' && raisedTarget) {
      // A higher limit is approached by the CC setpoint ramp, one step at a time.
      s.rampVoltageV = oldTarget;
      this.setPhase('CC', `BMS raised the charge voltage limit to ${fmtV(targetVoltageV)}`);
      this.emitSet(oldTarget, why);
    } else if (s.phase === 'CV') this.emitSet(targetVoltageV, why);
    else if (s.phase === 'CC') this.emitSet(s.rampVoltageV ?? targetVoltageV, why);
    else if (s.phase === 'ramp' && s.rampVoltageV !== null) this.emitSet(s.rampVoltageV, why);
    return true;
  }

  /** The BMS said stop pushing current: standby while it holds, soft re-entry after. */
  private bmsHold(reason: string): void {
    const s = this.s;
    const from = s.phase;
    this.endChargingStretch();
    this.clearPhaseData();
    s.detectSince = null;
    s.pausedFrom = from;
    s.bmsHold = reason;
    this.notes.push({ type: 'bms-hold', reason });
    if (from !== 'paused') this.setPhase('paused', reason);
    this.commands.push({ kind: 'standby', reason });
    s.lastSetpoint = { voltageV: this.limits.standby.voltageV, currentA: this.limits.standby.currentA };
  }

  fault(reason: string): void {
    if (!isActive(this.s.phase)) return this.reject('fault', 'Not charging');
    this.fail(reason);
  }

  setCurrent(currentA: number): void {
    const s = this.s;
    if (!isActive(s.phase)) return this.reject('setCurrent', 'Not charging - start a charge with this current instead');
    const group = checkGroupCurrent(this.limits, s.psuIds.length, currentA);
    if (!group.ok) return this.reject('setCurrent', `Charge current ${group.message}`);
    const fromA = s.chargeCurrentA;
    s.baseChargeCurrentA = currentA;
    s.chargeCurrentA = this.cappedCurrentA();
    this.notes.push({ type: 'current-changed', fromA, toA: s.chargeCurrentA });
    // §4.8: CV → SET(target, A); CC → SET(ramp ?? target, A); RAMP → SET(ramp, A); DETECT: later.
    if (s.phase === 'paused') return;
    const why = `charge current changed from ${fmtA(fromA)} to ${fmtA(s.chargeCurrentA)}`;
    if (s.phase === 'CV') this.emitSet(s.targetVoltageV, why);
    else if (s.phase === 'CC') this.emitSet(s.rampVoltageV ?? s.targetVoltageV, why);
    else if (s.phase === 'ramp' && s.rampVoltageV !== null) this.emitSet(s.rampVoltageV, why);
  }

  link(allPsusLost: boolean): void {
    if (allPsusLost) {
      if (CHARGING.has(this.s.phase) || this.s.phase === 'detect') this.pause('Link to all PSUs lost');
      return;
    }
    if (this.s.phase === 'paused' && this.s.bmsHold === null) {
      // Assume the whole group is back; the next status round re-shares if not.
      this.s.onlinePsuIds = this.s.psuIds;
      this.enterDetect('Link to the PSUs restored - re-detecting the battery');
    }
  }

  tick(): void {
    const s = this.s;
    if (!(CHARGING.has(s.phase) || s.phase === 'detect')) return;
    if (this.checkTimers()) return;
    if (s.lastStepAt !== null && this.now - s.lastStepAt < this.intervalMs) return;
    const rd = this.freshReading();
    if (!rd) return; // Δ9: hold until a status round shows the effect of the last step
    if (s.phase === 'detect') this.detectCheck(rd);
    else if (s.phase === 'ramp') this.rampStep(rd);
    else if (s.phase === 'CC') this.ccSetpointStep();
  }

  status(psus: PsuReading[]): void {
    const s = this.s;
    if (!isActive(s.phase)) return;
    // A SET is broadcast: every PSU on the bus that obeys it is part of the group, including
    // one that joined after the start (a resumed session's second PSU) or stopped reporting
    // but may still be logged in.
    const online = psus.filter((p) => p.online);
    const sharing = psus.filter((p) => p.online || p.obeying === true).map((p) => p.id);
    for (const id of sharing) if (!s.psuIds.includes(id)) s.psuIds = [...s.psuIds, id];
    // §3.3 ALARM and Δ2 over-temperature: in every active phase.
    const alarmed = online.find((p) => p.alarm);
    if (alarmed) return this.fail(`PSU ${alarmed.id} ALARM - charging stopped`);
    const hot = online.find((p) => p.overTemp);
    if (hot) return this.fail(`PSU ${hot.id} High Temp - charging stopped`);

    if (online.length === 0) {
      if (s.phase !== 'paused') this.pause(`No PSU of the group is online (${s.psuIds.join(', ')})`);
      return;
    }
    const onlineIds = s.psuIds.filter((id) => sharing.includes(id));
    if (s.phase === 'paused' && s.bmsHold !== null) {
      // A rectifier that logs in during a BMS hold runs at its power-on voltage until told
      // otherwise: the hold's standby goes out again for it.
      const joined = onlineIds.filter((id) => !s.onlinePsuIds.includes(id));
      s.onlinePsuIds = onlineIds;
      if (joined.length) this.commands.push({ kind: 'standby', reason: `${s.bmsHold} (PSU ${joined.join(', ')} joined)` });
      return;
    }
    if (s.phase === 'paused') {
      s.onlinePsuIds = onlineIds;
      this.enterDetect(`PSU(s) ${onlineIds.join(', ')} back online - re-detecting the battery`);
      return;
    }
    const changed = onlineIds.length !== s.onlinePsuIds.length || onlineIds.some((id, i) => s.onlinePsuIds[i] !== id);
    if (changed) this.regroup(onlineIds);

    const volts = online.map((p) => p.voltageV).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    const amps = online.map((p) => p.currentA).filter((a): a is number => typeof a === 'number' && Number.isFinite(a));
    if (volts.length === 0 || amps.length === 0) return;
    // Paralleled outputs share one node: the highest reading is the battery side.
    const voltageV = Math.max(...volts);
    const totalCurrentA = amps.reduce((a, b) => a + b, 0);
    this.integrate(voltageV, totalCurrentA);
    s.latest = { voltageV, totalCurrentA, at: this.now };
    if (this.checkTimers()) return;
    if (changed) return; // Δ9: transitional round

    if (s.phase === 'CC') this.ccStatus(voltageV, totalCurrentA);
    if (this.s.phase === 'CV') this.cvStatus(totalCurrentA);
  }

  // ---- phase logic --------------------------------------------------------------------

  /** §4.2 on the step cadence, with a fresh reading. */
  private detectCheck(rd: BatteryReading): void {
    const s = this.s;
    s.lastStepAt = this.now;
    const byVoltage = rd.voltageV > this.cfg.detectVoltageV + this.cfg.detectThresholdV;
    const byCurrent = rd.totalCurrentA >= this.cfg.minCurrentDetectA;
    if (!byVoltage && !byCurrent) return;
    const step = this.cfg.rampStepVoltageV;
    // ramp_start = max(round(V − 3 × step), detect V); Δ12: never above the target.
    const rampStartV = Math.min(Math.max(roundV(rd.voltageV - 3 * step), this.cfg.detectVoltageV), s.targetVoltageV);
    const socPct = socFromCellVoltage(rd.voltageV / this.cfg.cellCount);
    s.socStartPct = socPct;
    s.socAhBase = s.ah;
    s.rampVoltageV = rampStartV;
    s.chargingSince = this.now;
    s.rampStartedAt ??= this.now;
    s.detectSince = null;
    this.notes.push({ type: 'battery-detected', by: byVoltage ? 'voltage' : 'current', voltageV: rd.voltageV, currentA: rd.totalCurrentA, socPct, rampStartV });
    const how = byVoltage
      ? `${fmtV(rd.voltageV)} > ${fmtV(this.cfg.detectVoltageV + this.cfg.detectThresholdV)}`
      : `${fmtA(rd.totalCurrentA)} ≥ ${fmtA(this.cfg.minCurrentDetectA)}`;
    this.setPhase('ramp', `Battery detected (${how})`);
    this.emitSet(rampStartV, `RAMP start at ${fmtV(rampStartV)} (battery ${fmtV(rd.voltageV)})`);
  }

  /** §4.3 on the step cadence, with a fresh reading. */
  private rampStep(rd: BatteryReading): void {
    const s = this.s;
    const disconnectV = this.cfg.detectVoltageV + this.cfg.detectThresholdV - 0.5;
    if (rd.voltageV < disconnectV) {
      return this.enterDetect(`Battery disconnected during RAMP (${fmtV(rd.voltageV)} < ${fmtV(disconnectV)})`);
    }
    const rampV = s.rampVoltageV ?? s.targetVoltageV;
    // Δ8: "at the current limit" means what the last SET lets the group deliver.
    const deliverableA = perUnitCurrentA(s.chargeCurrentA, s.onlinePsuIds.length, rampV, this.limits) * Math.max(1, s.onlinePsuIds.length);
    const ccThresholdA = 0.95 * Math.min(s.chargeCurrentA, deliverableA);
    if (rd.totalCurrentA >= ccThresholdA) {
      s.lowCurrentSince = null;
      this.setPhase('CC', `Current ${fmtA(rd.totalCurrentA)} ≥ 95 % of ${fmtA(Math.min(s.chargeCurrentA, deliverableA))}`);
      // §4.4: the CC setpoint ramp takes its first step without waiting.
      this.ccSetpointStep();
      return;
    }
    const next = Math.min(roundV(rampV + this.cfg.rampStepVoltageV), s.targetVoltageV);
    s.rampVoltageV = next;
    s.lastStepAt = this.now;
    this.emitSet(next, `RAMP step to ${fmtV(next)}`, true);
    if (next >= s.targetVoltageV) this.enterCv(rd.voltageV, rd.totalCurrentA, `RAMP reached the target ${fmtV(s.targetVoltageV)}`);
  }

  /** §4.4: one step of the CC setpoint ramp (never more than rampStepVoltageV). */
  private ccSetpointStep(): void {
    const s = this.s;
    s.lastStepAt = this.now;
    if (s.rampVoltageV === null || s.rampVoltageV >= s.targetVoltageV) return;
    const next = Math.min(roundV(s.rampVoltageV + this.cfg.rampStepVoltageV), s.targetVoltageV);
    s.rampVoltageV = next;
    this.emitSet(next, `CC setpoint step to ${fmtV(next)}`, true);
  }

  /** §4.5 CC decisions on every status round. */
  private ccStatus(voltageV: number, totalA: number): void {
    const s = this.s;
    if (totalA <= this.cfg.minCurrentDetectA) {
      s.lowCurrentSince ??= this.now;
      if (this.now - s.lowCurrentSince >= this.cfg.disconnectDetectTimeS * 1000) {
        return this.enterDetect(
          `Battery disconnected during CC (total current ≤ ${fmtA(this.cfg.minCurrentDetectA)} for ${this.cfg.disconnectDetectTimeS} s)`,
        );
      }
      return; // Δ10: a near-zero current never counts as reaching the CV voltage
    }
    s.lowCurrentSince = null;
    // The taper (CC→CV, defined): the setpoint is at the target and the current has fallen below
    // 95 % of what the group may deliver there, so the rectifiers are voltage-limited. The
    // voltage the PSUs report can sit more than the tolerance under the target for a long time
    // while the current already falls; the taper is what marks the transition.
    const atTarget = s.rampVoltageV !== null && s.rampVoltageV >= s.targetVoltageV - 1e-9;
    const groupA = perUnitCurrentA(s.chargeCurrentA, s.onlinePsuIds.length, s.targetVoltageV, this.limits) * Math.max(1, s.onlinePsuIds.length);
    const ccA = Math.min(s.chargeCurrentA, groupA);
    s.taperSince = atTarget && totalA < 0.95 * ccA - 1e-9 ? (s.taperSince ?? this.now) : null;
    const cvAtV = s.targetVoltageV - this.cfg.voltageToleranceV;
    if (voltageV >= cvAtV - 1e-9) {
      if (s.rampVoltageV === null || s.rampVoltageV < s.targetVoltageV) this.emitSet(s.targetVoltageV, `CV at the target ${fmtV(s.targetVoltageV)}`);
      this.enterCv(voltageV, totalA, `Battery at ${fmtV(voltageV)} ≥ ${fmtV(cvAtV)}`);
    } else if (s.taperSince !== null && this.now - s.taperSince >= this.cfg.rampStepIntervalS * 1000) {
      // Held for one step interval, so one noisy round is not a transition.
      this.enterCv(voltageV, totalA, `Current tapering at the target ${fmtV(s.targetVoltageV)}: ${fmtA(totalA)} < 95 % of ${fmtA(ccA)}`);
    }
  }

  /** §4.5 CV decisions: tail current → DONE, or a sudden drop to nothing → DETECT. */
  private cvStatus(totalA: number): void {
    const s = this.s;
    const prev = s.prevTotalCurrentA;
    s.prevTotalCurrentA = totalA;
    const tail = this.cfg.tailCurrentA;
    if (totalA > tail) return;
    if (prev !== null && prev > 1.5 * tail && totalA <= this.cfg.minCurrentDetectA) {
      return this.enterDetect(`Battery disconnected during CV (current fell from ${fmtA(prev)} to ${fmtA(totalA)} in one round)`);
    }
    this.finish('done', `Charge complete (tail current ${totalA.toFixed(1)}A)`);
  }

  /** Δ5: a PSU dropped out or came back: share the total over the online units at once. */
  private regroup(onlineIds: string[]): void {
    const s = this.s;
    const lost = s.onlinePsuIds.filter((id) => !onlineIds.includes(id));
    const returned = onlineIds.filter((id) => !s.onlinePsuIds.includes(id));
    s.onlinePsuIds = onlineIds;
    let perUnit: number | null = null;
    let message: string;
    const what = [lost.length ? `PSU ${lost.join(', ')} dropped out` : '', returned.length ? `PSU ${returned.join(', ')} back` : '']
      .filter(Boolean)
      .join('; ');
    if (s.phase === 'detect') {
      this.emitDetect(`${what} - re-sending the DETECT probe`);
      perUnit = this.cfg.detectCurrentA;
      message = `${what}; DETECT probe re-sent to ${onlineIds.length} PSU(s)`;
    } else {
      const v = s.phase === 'CV' ? s.targetVoltageV : (s.rampVoltageV ?? s.targetVoltageV);
      perUnit = perUnitCurrentA(s.chargeCurrentA, onlineIds.length, v, this.limits);
      const unitsCarry = `${onlineIds.length} PSU(s) carry ${fmtA(perUnit)} each (${fmtA(perUnit * onlineIds.length)} of ${fmtA(s.chargeCurrentA)})`;
      message = `${what}; ${unitsCarry}`;
      this.emitSet(v, `${what} - re-sharing: ${unitsCarry}`);
    }
    this.notes.push({ type: 'psu-group', lost, returned, online: onlineIds, perUnitCurrentA: perUnit, message });
  }

  private integrate(voltageV: number, totalA: number): void {
    const s = this.s;
    if (s.lastIntegrationAt !== null) {
      const dt = this.now - s.lastIntegrationAt;
      // §4.5: only 0 < dt < 2 s; a longer gap is not invented.
      if (dt > 0 && dt < READING_MAX_AGE_MS) {
        s.ah += (totalA * dt) / 3_600_000;
        s.wh += (totalA * voltageV * dt) / 3_600_000;
      }
    }
    s.lastIntegrationAt = this.now;
    if (totalA > s.peakCurrentA) s.peakCurrentA = totalA;
  }

  /** Safety timer (Δ2/Δ3) and DETECT timeout (Δ4). True when the session ended. */
  private checkTimers(): boolean {
    const s = this.s;
    const limitMs = this.cfg.safetyTimeLimitMin * 60_000;
    if (chargingElapsedMs(s, this.now) >= limitMs) {
      this.fail(`Safety timeout (${this.cfg.safetyTimeLimitMin} min)`);
      return true;
    }
    if (s.phase === 'detect' && s.detectSince !== null && this.now - s.detectSince >= this.cfg.detectTimeoutMin * 60_000) {
      const last = s.latest && s.latest.at >= s.detectSince ? ` (last reading ${fmtV(s.latest.voltageV)} / ${fmtA(s.latest.totalCurrentA)})` : ' (no status from the PSUs)';
      this.fail(
        `No battery detected within ${this.cfg.detectTimeoutMin} min${last} - check the battery connection and its BMS, then start again`,
      );
      return true;
    }
    return false;
  }

  private freshReading(): BatteryReading | null {
    const { latest, lastStepAt } = this.s;
    if (!latest) return null;
    if (lastStepAt !== null && latest.at <= lastStepAt) return null;
    if (this.now - latest.at > READING_MAX_AGE_MS) return null;
    return latest;
  }

  // ---- transitions --------------------------------------------------------------------

  private setPhase(to: ChargerPhase, reason: string): void {
    const s = this.s;
    const from = s.phase;
    if (from === to) return;
    const hist = s.phaseHistory.slice();
    const last = hist[hist.length - 1];
    if (last && last.endedAt === null) hist[hist.length - 1] = { ...last, endedAt: this.now };
    hist.push({ phase: to, startedAt: this.now, endedAt: null });
    s.phaseHistory = hist;
    s.phase = to;
    this.notes.push({ type: 'phase', from, to, reason });
  }

  private endChargingStretch(): void {
    const s = this.s;
    if (s.chargingSince !== null) {
      s.chargingMs += Math.max(0, this.now - s.chargingSince);
      s.chargingSince = null;
    }
  }

  private clearPhaseData(): void {
    const s = this.s;
    s.rampVoltageV = null;
    s.lowCurrentSince = null;
    s.prevTotalCurrentA = null;
    s.cvEntryCurrentA = null;
    s.taperSince = null;
  }

  /** §4.6 (and start, resume): SET(detect V, detect I), Ah/Wh kept. */
  private enterDetect(reason: string): void {
    const s = this.s;
    this.endChargingStretch();
    this.clearPhaseData();
    s.pausedFrom = null;
    s.detectSince = this.now;
    s.lastStepAt = this.now;
    s.lastIntegrationAt = this.now;
    this.setPhase('detect', reason);
    this.emitDetect(reason);
  }

  private enterCv(voltageV: number, totalA: number, reason: string): void {
    const s = this.s;
    s.rampVoltageV = null;
    s.lowCurrentSince = null;
    s.cvEntryCurrentA = totalA;
    s.prevTotalCurrentA = null;
    s.ccToCvAt = s.taperSince ?? this.now;
    s.taperSince = null;
    this.setPhase('CV', reason);
    this.notes.push({ type: 'cc-to-cv', voltageV, currentA: totalA });
  }

  /** Δ6: no command can reach a lost group; the session waits with its Ah/Wh. */
  private pause(reason: string): void {
    const s = this.s;
    const from = s.phase;
    this.endChargingStretch();
    this.clearPhaseData();
    s.detectSince = null;
    s.pausedFrom = from;
    s.onlinePsuIds = [];
    this.setPhase('paused', reason);
    // A PSU that went silent may still obey: standby while paused. With the adapter gone the
    // engine keeps it as the bus's desired state; the resume starts from the DETECT probe.
    this.commands.push({ kind: 'standby', reason });
    s.lastSetpoint = { voltageV: this.limits.standby.voltageV, currentA: this.limits.standby.currentA };
  }

  private fail(reason: string): void {
    this.finish('error', reason);
  }

  private finish(outcome: SessionOutcome, reason: string): void {
    const s = this.s;
    this.endChargingStretch();
    this.clearPhaseData();
    s.detectSince = null;
    s.pausedFrom = null;
    s.stopReason = reason;
    s.outcome = outcome;
    this.setPhase(outcome === 'error' ? 'error' : 'done', reason);
    this.commands.push({ kind: 'standby', reason });
    s.lastSetpoint = { voltageV: this.limits.standby.voltageV, currentA: this.limits.standby.currentA };
    this.notes.push({
      type: 'session-ended',
      outcome,
      reason,
      ah: s.ah,
      wh: s.wh,
      durationMs: s.startedAt !== null ? this.now - s.startedAt : 0,
    });
  }

  // ---- commands -----------------------------------------------------------------------

  private emitDetect(reason: string): void {
    const voltageV = this.cfg.detectVoltageV;
    const currentA = this.cfg.detectCurrentA;
    this.commands.push({ kind: 'set', voltageV, currentA, reason: `DETECT probe: ${reason}` });
    this.s.lastSetpoint = { voltageV, currentA };
  }

  /** A charge setpoint: ≤ target, the total shared over the online units. */
  private emitSet(voltageV: number, reason: string, step = false): void {
    const s = this.s;
    const v = Math.min(roundV(voltageV), s.targetVoltageV);
    const currentA = perUnitCurrentA(s.chargeCurrentA, s.onlinePsuIds.length, v, this.limits);
    this.commands.push(step ? { kind: 'set', voltageV: v, currentA, reason, step } : { kind: 'set', voltageV: v, currentA, reason });
    s.lastSetpoint = { voltageV: v, currentA };
  }
}
