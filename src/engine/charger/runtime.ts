/**
 * Runs one charger: feeds the pure machine its inputs (status rounds, a 1 s tick, presence
 * changes), sends its commands through the command gate, and turns its notes into events,
 * session rows and PSU ownership. Crash safety lives here: the session row is updated as the
 * charge goes, and a session without an end is resumed (softly, through DETECT) at start.
 */
import { randomUUID } from 'node:crypto';
import type { Clock, TimerHandle } from '../../clock.js';
import type { Logger } from '../../log.js';
import { checkChargeStart, checkStorageWritable, type DcOutputLimits, type GateCode } from '../gate.js';
import type { Code } from '../../codes.js';
import type { ChargeSessionStore, ChargeSessionRow } from '../../store/sessions.js';
import type { BatteryLimitsSource, DcUnitView } from '../capabilities.js';
import { sameLimits } from './limits.js';
import {
  chargingElapsedMs,
  initialChargerState,
  isActive,
  socEstimate,
  step,
  validateChargerSettings,
  type ChargerCommand,
  type ChargerInput,
  type ChargerPhase,
  type ChargerSettings,
  type ChargerState,
  type PhaseSpan,
  type ResumeInfo,
  type BmsLimits,
} from './machine.js';

export interface ChargerHost {
  /** The battery (capability: battery limits) that guides this charger. */
  battery(id: string): BatteryLimitsSource | undefined;
  clock: Clock;
  log: Logger;
  sessions: ChargeSessionStore;
  /** Whether the store can write (a charge is not started while it cannot). */
  storage(): { writable: boolean; error: string | null };
  record(e: { type: string; deviceId?: string | null; busId?: string | null; data?: Record<string, unknown> }, durable?: boolean): void;
  sample(deviceId: string, ts: number, values: Record<string, number | string | null>): void;
  /** The units of the DC output bus this charger drives. */
  busPsus(busId: string): DcUnitView[];
  limits(busId: string): DcOutputLimits;
  /** The bus's adapter link is up: a command can reach the PSUs and their readings are current. */
  linkUp(busId: string): boolean;
  /** The bus's fallback voltage policy and the PSUs that have not confirmed it yet. */
  fallback(busId: string): { voltageV: number | null; pendingIds: string[] };
  /** Sends a charger command through the gate (origin "charger"); resolves to the gate's verdict. */
  send(busId: string, cmd: ChargerCommand): Promise<{ ok: true } | { ok: false; code: GateCode; message: string }>;
  /** Marks `owned` as driven by charger `owner` and the rest of `group` as free. */
  setOwner(group: string[], owned: string[], owner: string): void;
  changed(): void;
}

export interface ChargerView {
  id: string;
  name: string;
  busId: string;
  phase: ChargerPhase;
  targetVoltageV: number;
  chargeCurrentA: number;
  rampVoltageV: number | null;
  deliveredAh: number;
  deliveredWh: number;
  socPct: number | null;
  progress: number | null;
  stopReason: string | null;
  sessionId: string | null;
  sessionStartedAt: number | null;
  psuIds: string[];
  settings: ChargerSettings;
  ccToCvAt: number | null;
  peakCurrentA: number;
  elapsedMs: number | null;
  batteryId: string | null;
  /** Set when the linked BMS lowers the target or current below the configured values. */
  bmsCaps: { voltageLimitV: number | null; currentLimitA: number | null; reason: string } | null;
  /** Why the BMS holds the charge (charge disable, a protection), if it does. */
  bmsHold: string | null;
  /** What the PSUs deliver (at full current) when nothing supervises them, and whether all confirmed it. */
  fallback: { voltageV: number | null; confirmed: boolean; pendingIds: string[] };
}

export type ChargerResult =
  | { ok: true; view: ChargerView }
  | { ok: false; code: GateCode | Extract<Code, 'NOT_CHARGING' | 'NO_PSUS' | 'ALREADY_CHARGING' | 'BMS_OFFLINE' | 'FALLBACK_PENDING'> | Extract<Code, 'BMS_DIALECT_MISMATCH' | 'BMS_DIALECT_PENDING'>; message: string };

const PROGRESS_EVERY_MS = 5_000;
/** How long a crash resume waits for the session's other PSUs after the first one reports. */
const RESUME_SETTLE_MS = 3_000;

export class ChargerRuntime {
  private state: ChargerState;
  private sessionId: string | null = null;
  private tickTimer: TimerHandle | undefined;
  private lastProgressAt = 0;
  /** A session left open by a crash, waiting for the PSUs to come back. */
  private pendingResume: ChargeSessionRow | null = null;
  private resumeWaitFrom: number | null = null;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly id: string,
    readonly name: string,
    readonly busId: string,
    private readonly psuFilter: 'all' | string[],
    private settings: ChargerSettings,
    readonly batteryId: string | null,
    private readonly host: ChargerHost,
  ) {
    this.state = initialChargerState(settings, host.limits(busId));
    if (psuFilter !== 'all') {
      host.log.warn({ charger: id }, `charger ${id}: psus lists ${psuFilter.join(', ')}, but a Flatpack2 SET is broadcast: the charger drives every PSU on ${busId} and shares its current over all of them`);
    }
    const open = host.sessions.open(id);
    const latest = open ?? host.sessions.latest(id);
    if (open) {
      // Crash safety: the session goes on once the PSUs are back (unless auto-start is off).
      if (settings.autoStart) this.pendingResume = open;
      else host.sessions.end(open.id, { endedAt: host.clock.now(), outcome: 'stopped', reason: 'server restarted with autoStart off' });
    } else if (latest) {
      this.state = { ...this.state, phase: latest.outcome === 'error' ? 'error' : 'done', stopReason: latest.reason, outcome: (latest.outcome ?? null) as ChargerState['outcome'] };
    }
  }

  start(): void {
    this.tickTimer = this.host.clock.setInterval(() => this.input({ type: 'tick', now: this.host.clock.now() }), 1000);
  }

  stop(): void {
    this.host.clock.clearInterval(this.tickTimer);
    this.persistProgress(true);
  }

  /**
   * The PSU ids of the group: every PSU on the bus. A SET is broadcast, so a charger drives
   * every unit that obeys it whatever the config lists; sharing the current over fewer units
   * than obey would multiply it (issue 8, defect 1).
   */
  groupIds(): string[] {
    return this.host.busPsus(this.busId).map((p) => p.id);
  }

  /** Units the charge current is shared over now: reporting, or logged in and obeying. */
  private sharingIds(): string[] {
    return this.host
      .busPsus(this.busId)
      .filter((p) => p.online || p.obeying)
      .map((p) => p.id);
  }

  get phase(): ChargerPhase {
    return this.state.phase;
  }

  /** A session left open by a crash that has not resumed yet. */
  get resumePending(): boolean {
    return this.pendingResume !== null;
  }

  get activeSessionId(): string | null {
    return isActive(this.state.phase) ? this.sessionId : null;
  }

  view(): ChargerView {
    const s = this.state;
    const latestI = s.latest?.totalCurrentA ?? 0;
    const estimate = socEstimate(s, this.settings, latestI);
    const battery = this.batteryId ? this.host.battery(this.batteryId) : undefined;
    // With a linked BMS its state of charge is the truth; the estimate is the fallback.
    const bmsSoc = battery?.online() ? battery.socPct() : null;
    const soc = bmsSoc ?? estimate;
    const capped = s.targetVoltageV < s.baseTargetVoltageV || s.chargeCurrentA < s.baseChargeCurrentA;
    return {
      id: this.id,
      name: this.name,
      busId: this.busId,
      phase: s.phase,
      targetVoltageV: s.targetVoltageV,
      chargeCurrentA: s.chargeCurrentA,
      rampVoltageV: s.rampVoltageV,
      deliveredAh: s.ah,
      deliveredWh: s.wh,
      socPct: soc,
      progress: soc,
      stopReason: s.stopReason,
      sessionId: this.sessionId ?? this.pendingResume?.id ?? null,
      // The machine's start time is the session's (a resume carries the row's start over).
      sessionStartedAt: s.startedAt ?? this.pendingResume?.startedAt ?? null,
      psuIds: s.psuIds.length ? s.psuIds : this.groupIds(),
      settings: this.settings,
      ccToCvAt: s.ccToCvAt,
      peakCurrentA: s.peakCurrentA,
      elapsedMs: s.startedAt !== null ? this.host.clock.now() - s.startedAt : null,
      batteryId: this.batteryId,
      bmsCaps:
        capped && s.bms
          ? {
              voltageLimitV: s.bms.chargeVoltageLimitV,
              currentLimitA: s.bms.chargeCurrentLimitA,
              reason: `BMS limits ${s.targetVoltageV < s.baseTargetVoltageV ? `target ${s.targetVoltageV.toFixed(2)} V (configured ${s.baseTargetVoltageV.toFixed(2)} V)` : ''}${s.targetVoltageV < s.baseTargetVoltageV && s.chargeCurrentA < s.baseChargeCurrentA ? ', ' : ''}${s.chargeCurrentA < s.baseChargeCurrentA ? `current ${s.chargeCurrentA.toFixed(1)} A (configured ${s.baseChargeCurrentA.toFixed(1)} A)` : ''}`,
            }
          : null,
      bmsHold: s.bmsHold,
      fallback: (() => {
        const f = this.host.fallback(this.busId);
        return { voltageV: f.voltageV, confirmed: f.pendingIds.length === 0, pendingIds: f.pendingIds };
      })(),
    };
  }

  /** New limits from the linked BMS (null: it went silent beyond its timeout). */
  onBms(limits: BmsLimits | null): void {
    if (sameLimits(this.state.bms, limits) && (limits !== null || this.state.bms === null)) return;
    void this.input({ type: 'bms', now: this.host.clock.now(), bms: limits }, 'bms');
  }

  /** The fallback state with the pending units' friendly names, for the messages. */
  private withNames(f: { voltageV: number | null; pendingIds: string[] }): { voltageV: number | null; pendingIds: string[]; pendingNames: string[] } {
    const units = this.host.busPsus(this.busId);
    return { ...f, pendingNames: f.pendingIds.map((id) => units.find((u) => u.id === id)?.name ?? id) };
  }

  /** A manual or API start; `currentA` overrides the configured charge current. */
  async startCharge(origin: string, currentA?: number): Promise<ChargerResult> {
    if (isActive(this.state.phase)) return { ok: false, code: 'ALREADY_CHARGING', message: `${this.name} is already charging (${this.state.phase}); stop it first if you want to start over` };
    const battery = this.batteryId ? this.host.battery(this.batteryId) : undefined;
    const gate = checkChargeStart({
      chargerId: this.id,
      chargerName: this.name,
      busId: this.busId,
      storage: this.host.storage(),
      battery: this.batteryId ? { id: this.batteryId, name: battery?.name, online: battery?.online() ?? false, refusal: battery?.refusal() ?? null } : null,
      linkUp: this.host.linkUp(this.busId),
      unitsOnline: this.host.busPsus(this.busId).filter((p) => p.online).length,
      fallback: this.withNames(this.host.fallback(this.busId)),
    });
    if (!gate.ok) return gate;
    const online = this.sharingIds();
    // The machine validates the start (settings and current for this group) through the gate;
    // a refusal comes back as a 'rejected' note, recorded as an event with the reason.
    const notes = await this.input({ type: 'start', now: this.host.clock.now(), currentA, psuIds: online }, origin);
    const rejected = notes.find((n) => n.type === 'rejected');
    if (rejected && rejected.type === 'rejected') return { ok: false, code: 'OUT_OF_RANGE', message: rejected.reason };
    if (this.pendingResume) {
      // A new charge replaces the session a crash left open: close that one for good.
      this.host.sessions.end(this.pendingResume.id, { endedAt: this.host.clock.now(), outcome: 'stopped', reason: 'superseded by a new start' });
      this.pendingResume = null;
    }
    return { ok: true, view: this.view() };
  }

  async stopCharge(origin: string, reason: string): Promise<ChargerResult> {
    if (!isActive(this.state.phase)) {
      if (this.pendingResume) {
        // A crashed session that had not resumed yet: the user's stop ends it for good.
        this.host.sessions.end(this.pendingResume.id, { endedAt: this.host.clock.now(), outcome: 'stopped', reason });
        this.host.record({ type: 'charger.session.ended', deviceId: this.id, busId: this.busId, data: { sessionId: this.pendingResume.id, outcome: 'stopped', reason, origin } }, true);
        this.pendingResume = null;
        this.state = { ...this.state, phase: 'done', stopReason: reason, outcome: 'stopped' };
        // The PSUs may still hold the crashed session's last setpoint: a stop leaves them in standby.
        await this.host.send(this.busId, { kind: 'standby', reason });
        this.host.changed();
        return { ok: true, view: this.view() };
      }
      return { ok: false, code: 'NOT_CHARGING', message: `${this.name} is not charging (${this.state.phase}), so there is nothing to stop` };
    }
    await this.input({ type: 'stop', now: this.host.clock.now(), reason }, origin);
    return { ok: true, view: this.view() };
  }

  async updateSettings(origin: string, patch: Partial<ChargerSettings>): Promise<ChargerResult> {
    const storage = checkStorageWritable(this.host.storage(), { standby: false });
    if (!storage.ok) return { ok: false, code: storage.code, message: `${this.name}: ${storage.message}` };
    const next: ChargerSettings = { ...this.settings, ...patch };
    const count = Math.max(1, isActive(this.state.phase) ? this.state.psuIds.length : this.groupIds().length);
    const check = validateChargerSettings(next, this.host.limits(this.busId), count);
    if (!check.ok) {
      this.host.record({ type: 'charger.settings-rejected', deviceId: this.id, busId: this.busId, data: { origin, patch, key: check.key, reason: check.message } }, true);
      return { ok: false, code: 'OUT_OF_RANGE', message: `${check.key}: ${check.message}` };
    }
    if (isActive(this.state.phase) && patch.chargeCurrentA !== undefined && patch.chargeCurrentA !== this.settings.chargeCurrentA && !this.host.linkUp(this.busId)) {
      // The rectifiers keep the current they were given until they can be told otherwise:
      // a change that cannot reach them now is refused rather than shown as if it applied.
      return { ok: false, code: 'LINK_DOWN', message: `the CAN adapter of ${this.busId} is not connected, so the rectifiers cannot be given a new current now; retry when it is back` };
    }
    if (isActive(this.state.phase) && (patch.cellCount !== undefined || patch.cellVoltageMaxV !== undefined)) {
      // The value may be fine; the state is what refuses it: a conflict, not a range error.
      return { ok: false, code: 'CONFLICT', message: `${this.name} is charging (${this.state.phase}) and its target voltage (cells and volts per cell) is fixed for a running charge; stop the charge first, then change them` };
    }
    const before = this.settings;
    this.settings = next;
    this.host.record({ type: 'charger.settings', deviceId: this.id, busId: this.busId, data: { origin, patch, settings: next } }, true);
    if (patch.chargeCurrentA !== undefined && isActive(this.state.phase) && patch.chargeCurrentA !== before.chargeCurrentA) {
      await this.input({ type: 'setCurrent', now: this.host.clock.now(), currentA: patch.chargeCurrentA }, origin);
    }
    if (!isActive(this.state.phase)) this.state = { ...this.state, targetVoltageV: initialChargerState(next, this.host.limits(this.busId)).targetVoltageV, chargeCurrentA: next.chargeCurrentA };
    this.host.changed();
    return { ok: true, view: this.view() };
  }

  /** A status frame from a PSU of the group: one round per frame of the first online PSU (≈ 5 Hz). */
  onStatus(psuId: string): void {
    // Called for every status frame on the bus: nothing to work out while idle. Frames read
    // while the adapter is still being configured do not count: no command could answer them.
    if (!this.pendingResume && !isActive(this.state.phase)) return;
    if (!this.host.linkUp(this.busId)) return;
    const group = this.groupIds();
    const psus = this.host.busPsus(this.busId);
    const firstOnline = group.find((id) => psus.find((p) => p.id === id)?.online);
    if (firstOnline !== psuId) return;
    if (this.pendingResume) {
      // Resume once the session's PSUs are back, or after a short wait for the stragglers;
      // one that returns later joins the group and the current is re-shared at once.
      const now = this.host.clock.now();
      this.resumeWaitFrom ??= now;
      const back = this.pendingResume.psuIds.every((id) => psus.find((p) => p.id === id)?.online);
      // Never resume onto PSUs whose unsupervised fallback is not the safe one yet.
      const fallbackOk = this.host.fallback(this.busId).pendingIds.length === 0;
      if (fallbackOk && (back || now - this.resumeWaitFrom >= RESUME_SETTLE_MS)) void this.resume(this.pendingResume);
      return;
    }
    void this.input({ type: 'status', now: this.host.clock.now(), psus: this.readings() });
  }

  /** A PSU of the bus went on- or offline (or the link dropped). */
  onPresence(): void {
    if (!isActive(this.state.phase) || !this.host.linkUp(this.busId)) return;
    const online = this.readings().filter((r) => r.online);
    if (online.length === 0) void this.input({ type: 'link', now: this.host.clock.now(), allPsusLost: true });
    else void this.input({ type: 'status', now: this.host.clock.now(), psus: this.readings() });
  }

  private readings() {
    return this.host.busPsus(this.busId).map((p) => ({
      id: p.id,
      online: p.online,
      obeying: p.obeying,
      voltageV: p.outputVoltageV,
      currentA: p.outputCurrentA,
      alarm: p.alarm,
      overTemp: p.overTemp,
    }));
  }

  private async resume(row: ChargeSessionRow): Promise<void> {
    this.pendingResume = null;
    const phases = this.host.sessions.phases(row.id);
    const info: ResumeInfo = {
      startedAt: row.startedAt,
      ah: row.deliveredAh,
      wh: row.deliveredWh,
      peakCurrentA: row.peakCurrentA,
      chargingMs: row.chargingMs,
      rampStartedAt: row.rampStartedAt,
      ccToCvAt: row.ccToCvAt,
      socStartPct: row.socStartPct,
      phaseHistory: phases.map((p): PhaseSpan => ({ phase: p.phase as ChargerPhase, startedAt: p.startedAt, endedAt: p.endedAt })),
    };
    this.sessionId = row.id;
    this.host.sessions.resumed(row.id);
    const online = this.sharingIds();
    this.host.log.warn({ charger: this.id, session: row.id }, `charger ${this.id}: resuming session ${row.id} after a restart (${row.deliveredAh.toFixed(2)} Ah so far), soft start through DETECT`);
    const notes = await this.input({ type: 'start', now: this.host.clock.now(), currentA: row.chargeCurrentA, psuIds: online, resume: info }, 'resume');
    const rejected = notes.find((n) => n.type === 'rejected');
    if (rejected && rejected.type === 'rejected') {
      // The session cannot go on as it was (e.g. its current needs a rectifier that did not
      // come back): end it for good, and leave the rectifiers in standby — they may still hold
      // the crashed run's last setpoint.
      const reason = `could not resume after a restart: ${rejected.reason}`;
      this.host.sessions.end(row.id, { endedAt: this.host.clock.now(), outcome: 'error', reason });
      this.host.record({ type: 'charger.session.ended', deviceId: this.id, busId: this.busId, data: { sessionId: row.id, outcome: 'error', reason, origin: 'resume' } }, true);
      this.host.log.error({ charger: this.id, session: row.id }, `charger ${this.id}: ${reason}; rectifiers to standby`);
      this.state = { ...this.state, phase: 'error', stopReason: reason, outcome: 'error' };
      await this.host.send(this.busId, { kind: 'standby', reason });
      this.host.changed();
    }
  }

  /** Ramp steps sent since the last phase change (summarised on the next charger.phase event). */
  private steps: { count: number; fromV: number | null; toV: number | null } = { count: 0, fromV: null, toV: null };

  /** Serialises machine steps: a command's gate round-trip finishes before the next step. */
  private input(i: ChargerInput, origin = 'charger'): Promise<ReturnType<typeof step>['notes']> {
    const run = this.queue.then(() => this.apply(i, origin));
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async apply(i: ChargerInput, origin: string): Promise<ReturnType<typeof step>['notes']> {
    const limits = this.host.limits(this.busId);
    const r = step(this.state, i, this.settings, limits);
    this.state = r.state;
    const now = this.host.clock.now();
    for (const n of r.notes) this.onNote(n, origin, now);
    const group = this.groupIds();
    this.host.setOwner(group, isActive(this.state.phase) ? group : [], this.id);
    for (const cmd of r.commands) {
      if (cmd.kind === 'set' && cmd.step) {
        this.steps.count++;
        this.steps.fromV ??= cmd.voltageV;
        this.steps.toV = cmd.voltageV;
      }
      const verdict = await this.host.send(this.busId, cmd);
      if (!verdict.ok && isActive(this.state.phase)) {
        // The machine only emits gate-valid values; a refusal means the world changed under
        // it (limits, a lost link). Fail safe: ERROR and standby.
        if (verdict.code === 'LINK_DOWN') continue; // the pause/resume path handles a lost link
        // A full or read-only disk is the fail-safe's case: the same stop, whichever noticed first
        // (the charger's next step can meet the refusal before the engine's fail-safe runs).
        if (verdict.code === 'STORAGE_UNAVAILABLE') {
          await this.apply({ type: 'stop', now: this.host.clock.now(), reason: `storage unavailable: ${verdict.message}` }, 'safety');
          continue;
        }
        await this.apply({ type: 'fault', now: this.host.clock.now(), reason: `command refused by the gate (${verdict.code}): ${verdict.message}` }, 'safety');
      }
    }
    if (i.type === 'tick' || i.type === 'status') this.persistProgress(false);
    if (r.notes.length || r.commands.length || i.type === 'status') this.host.changed();
    return r.notes;
  }

  private onNote(n: ReturnType<typeof step>['notes'][number], origin: string, now: number): void {
    const ev = (type: string, data: Record<string, unknown>, durable = true) =>
      this.host.record({ type, deviceId: this.id, busId: this.busId, data: { sessionId: this.sessionId, ...data } }, durable);
    switch (n.type) {
      case 'session-started': {
        if (!n.resumed) {
          this.sessionId = randomUUID();
          this.host.sessions.create({
            id: this.sessionId,
            chargerId: this.id,
            startedAt: now,
            targetVoltageV: n.targetVoltageV,
            chargeCurrentA: n.chargeCurrentA,
            deliveredAh: 0,
            deliveredWh: 0,
            peakCurrentA: 0,
            ccToCvAt: null,
            chargingMs: 0,
            rampStartedAt: null,
            socStartPct: null,
            settings: { ...this.settings },
            psuIds: n.psuIds,
          });
        }
        ev('charger.session.started', { origin, resumed: n.resumed, psuIds: n.psuIds, chargeCurrentA: n.chargeCurrentA, targetVoltageV: n.targetVoltageV, ah: this.state.ah, wh: this.state.wh });
        this.host.log.info({ charger: this.id, session: this.sessionId }, `charger ${this.id}: session ${n.resumed ? 'resumed' : 'started'} (${n.chargeCurrentA} A to ${n.targetVoltageV} V)`);
        return;
      }
      case 'phase':
        if (this.sessionId) this.host.sessions.phase(this.sessionId, n.to, now, n.reason);
        // The ramp's steps are summarised here, once per phase, not as events of their own.
        ev('charger.phase', { from: n.from, to: n.to, reason: n.reason, ah: this.state.ah, wh: this.state.wh, ...(this.steps.count ? { steps: { ...this.steps } } : {}) });
        this.steps = { count: 0, fromV: null, toV: null };
        this.host.log.info({ charger: this.id }, `charger ${this.id}: ${n.from} → ${n.to} (${n.reason})`);
        return;
      case 'session-ended':
        this.persistProgress(true);
        if (this.sessionId) this.host.sessions.end(this.sessionId, { endedAt: now, outcome: n.outcome, reason: n.reason });
        ev('charger.session.ended', { outcome: n.outcome, reason: n.reason, ah: n.ah, wh: n.wh, durationMs: n.durationMs, origin });
        (n.outcome === 'error' ? this.host.log.error : this.host.log.info).call(this.host.log, { charger: this.id }, `charger ${this.id}: ${n.outcome}: ${n.reason} (${n.ah.toFixed(2)} Ah, ${n.wh.toFixed(1)} Wh)`);
        return;
      case 'cc-to-cv':
        ev('charger.cc-to-cv', { voltageV: n.voltageV, currentA: n.currentA });
        return;
      case 'battery-detected':
        ev('charger.battery-detected', { by: n.by, voltageV: n.voltageV, currentA: n.currentA, socPct: n.socPct, rampStartV: n.rampStartV });
        return;
      case 'psu-group':
        ev('charger.psu-group', { lost: n.lost, returned: n.returned, online: n.online, perUnitCurrentA: n.perUnitCurrentA, message: n.message });
        this.host.log.warn({ charger: this.id }, `charger ${this.id}: ${n.message}`);
        return;
      case 'current-changed':
        ev('charger.current', { fromA: n.fromA, toA: n.toA, origin });
        return;
      case 'warning':
        ev('charger.warning', { message: n.message });
        return;
      case 'rejected':
        ev('charger.rejected', { input: n.input, reason: n.reason, origin });
        return;
      case 'bms-cap':
        ev('charger.bms-cap', {
          targetVoltageV: n.targetVoltageV,
          chargeCurrentA: n.chargeCurrentA,
          configuredTargetV: n.configuredTargetV,
          configuredCurrentA: n.configuredCurrentA,
          bmsVoltageLimitV: n.bmsVoltageLimitV,
          bmsCurrentLimitA: n.bmsCurrentLimitA,
        });
        this.host.log.info({ charger: this.id }, `charger ${this.id}: BMS limits now ${n.targetVoltageV.toFixed(2)} V / ${n.chargeCurrentA.toFixed(1)} A (BMS says ${n.bmsVoltageLimitV ?? '-'} V / ${n.bmsCurrentLimitA ?? '-'} A)`);
        return;
      case 'bms-hold':
        ev('charger.bms-hold', { reason: n.reason, bms: this.state.bms });
        this.host.log.warn({ charger: this.id }, `charger ${this.id}: paused by the BMS: ${n.reason}`);
        return;
      case 'bms-release':
        ev('charger.bms-release', { reason: n.reason, bms: this.state.bms });
        return;
    }
  }

  /** Session row and a telemetry sample; forced on phase/session ends, else every 5 s. */
  private persistProgress(force: boolean): void {
    const now = this.host.clock.now();
    const s = this.state;
    if (!this.sessionId || (!force && now - this.lastProgressAt < PROGRESS_EVERY_MS)) return;
    if (!force && !isActive(s.phase)) return;
    this.lastProgressAt = now;
    this.host.sessions.progress(this.sessionId, {
      deliveredAh: s.ah,
      deliveredWh: s.wh,
      peakCurrentA: s.peakCurrentA,
      chargingMs: chargingElapsedMs(s, now),
      ccToCvAt: s.ccToCvAt,
      rampStartedAt: s.rampStartedAt,
      socStartPct: s.socStartPct,
      chargeCurrentA: s.chargeCurrentA,
    });
    const soc = socEstimate(s, this.settings, s.latest?.totalCurrentA ?? 0);
    this.host.sample(this.id, now, {
      voltageV: s.latest?.voltageV ?? null,
      currentA: s.latest?.totalCurrentA ?? null,
      ah: Math.round(s.ah * 1000) / 1000,
      wh: Math.round(s.wh * 10) / 10,
      socPct: soc === null ? null : Math.round(soc * 10) / 10,
      phase: s.phase,
      sessionId: this.sessionId,
    });
  }
}
