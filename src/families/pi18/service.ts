/**
 * The PI18 profile workflow as the API runs it (pi18-profile-workflow.md; issue 11 §5): dump,
 * diff, plan (a dry run, recorded), apply (a family command through the gate, recorded), compare
 * and sync-check — every one on the running server's own drivers, so the monitor and the writer
 * are the same program: an apply pauses that unit's polling and holds its exchange slot
 * (driver.session in apply.ts), nothing is stopped.
 *
 * One service per engine (`pi18Service(engine)`); its errors are `Pi18Error`s with a code from
 * src/codes.ts and a message naming the inverter and what to do.
 */
import type { Code } from '../../codes.js';
import type { Engine } from '../../engine/engine.js';
import { Topic } from '../../engine/pubsub.js';
import type { Firmware, Piri } from './codec.js';
import type { Pi18Driver, QueryResult } from './driver.js';
import type { InverterView } from './project.js';
import { checkPi18FamilyCommand, Pi18LinkDriver, type Pi18ApplyCommand } from './family.js';
import type { ApplyProgress, ApplyReport, ApplyStepReport } from './apply.js';
import { diffProfile, dumpProfile, parseProfile, planProfile, profileToYaml, type DiffEntry, type Plan, type Profile, type ProfileMeta, type Skipped } from './profile.js';
import { compareUnits, syncCheck, type CompareResult, type SyncResult } from './sync.js';
import { Pi18Records, type AuditRow } from './store.js';
import type { Violation } from './check.js';

export class Pi18Error extends Error {
  constructor(
    readonly code: Code,
    message: string,
    readonly violations: Violation[] = [],
  ) {
    super(message);
  }
}

export interface DumpResult {
  deviceId: string;
  serial: string;
  firmware: Firmware;
  batteryRatedVoltageV: number;
  profile: Profile;
  skipped: Skipped[];
  yaml: string;
}

export interface PlanRecord {
  id: number;
  deviceId: string;
  profileName: string | null;
  plan: Plan;
  diff: DiffEntry[];
  createdAt: number;
  operator: string;
}

/** One progress message of an apply, for the subscription (keyed by the plan it runs). */
export interface ApplyProgressEvent {
  planId: number;
  deviceId: string;
  at: number;
  progress: ApplyProgress;
}

export class Pi18Service {
  readonly records: Pi18Records;
  readonly progress = new Topic<ApplyProgressEvent>();
  private readonly applying = new Set<string>();
  /** The progress of the latest applies, per plan, so a subscriber that comes late still sees every step. */
  private readonly progressLog = new Map<number, ApplyProgressEvent[]>();

  /** An apply's progress: what was already reported for `planId`, then what comes. */
  async *progressOf(planId: number): AsyncGenerator<ApplyProgressEvent> {
    const live = this.progress.iterate((e) => e.planId === planId, 200);
    const past = [...(this.progressLog.get(planId) ?? [])];
    const seen = new Set(past);
    try {
      for (const e of past) yield e;
      for await (const e of live) if (!seen.has(e)) yield e;
    } finally {
      await live.return?.();
    }
  }

  private record(e: ApplyProgressEvent): void {
    let log = this.progressLog.get(e.planId);
    if (!log) {
      this.progressLog.set(e.planId, (log = []));
      // Keep the latest 50 applies' progress.
      for (const k of this.progressLog.keys()) if (this.progressLog.size > 50) this.progressLog.delete(k);
    }
    if (log.length < 500) log.push(e);
    this.progress.publish(e);
  }

  constructor(private readonly engine: Engine) {
    this.records = new Pi18Records(engine.store);
  }

  /** The unit's view and its driver, or a refusal naming what to do. */
  unit(deviceId: string): { view: InverterView; driver: Pi18Driver } {
    const view = this.engine.deviceView<InverterView>(deviceId);
    const d = this.engine.driverOf(deviceId);
    if (!view || view.kind !== 'pi18' || !(d instanceof Pi18LinkDriver)) {
      const ids = this.engine.devicesOfKind<InverterView>('pi18').map((v) => v.id);
      throw new Pi18Error('NOT_FOUND', `no inverter "${deviceId}"; the inverters are ${ids.length ? ids.join(', ') : '(none configured)'}`);
    }
    // An apply holds the unit's exchange slot for its whole run: nothing else of ours talks to it meanwhile.
    if (this.applying.has(deviceId)) throw new Pi18Error('CONFLICT', `inverter ${view.name}: a profile apply is running on it; wait for it to finish (applyProgress shows where it is)`);
    if (!view.online) throw new Pi18Error('DEVICE_OFFLINE', `inverter ${view.name} is offline (${view.offlineReason ?? 'not heard yet'}); nothing was read or sent — check its USB cable`);
    return { view, driver: d.unit };
  }

  /** An inverter by id or by serial. */
  resolve(idOrSerial: string): string {
    const all = this.engine.devicesOfKind<InverterView>('pi18');
    return (all.find((v) => v.id === idOrSerial) ?? all.find((v) => v.serial === idOrSerial))?.id ?? idOrSerial;
  }

  private must<T>(r: QueryResult<T>, who: string, what: string): T {
    if (!r.ok) throw new Pi18Error(r.code, `${who}: cannot read ${what} (${r.message}); nothing was sent`);
    return r.value;
  }

  /** Fresh identity, current steps and PIRI, with polling paused while they are read. */
  private async read(deviceId: string): Promise<{ view: InverterView; driver: Pi18Driver; piri: Piri; serial: string; firmware: Firmware; steps: { charge: number[]; utility: number[] } }> {
    const { view, driver } = this.unit(deviceId);
    return driver.session(async () => {
      const id = this.must(await driver.readIdentity(), driver.label, 'its identity (ID, VFW)');
      const steps = this.must(await driver.readCurrentSteps(), driver.label, 'its current steps (MCHGCR, MUCHGCR)');
      const piri = this.must(await driver.readPiri(), driver.label, 'its settings (PIRI)');
      return { view, driver, piri, serial: id.serial, firmware: id.firmware, steps };
    });
  }

  async dump(deviceId: string): Promise<DumpResult> {
    const r = await this.read(deviceId);
    const { profile, skipped } = dumpProfile(r.piri, { device: r.driver.label, currentSteps: r.steps });
    const meta: ProfileMeta = { serial: r.serial, firmware: r.firmware, battery_rated_voltage: r.piri.batteryRatedVoltageV, dumped_at: new Date(this.engine.clock.now()).toISOString() };
    return { deviceId, serial: r.serial, firmware: r.firmware, batteryRatedVoltageV: r.piri.batteryRatedVoltageV, profile, skipped, yaml: profileToYaml(profile, meta, skipped) };
  }

  /** A profile from YAML text or a saved profile's name; every violation in one refusal. */
  profileOf(input: { yaml?: string | null; name?: string | null }, device: string): { profile: Profile; meta: ProfileMeta; name: string | null } {
    let yaml = input.yaml ?? null;
    const name = input.name ?? null;
    if (yaml === null) {
      if (!name) throw new Pi18Error('BAD_USER_INPUT', 'give a profile: its YAML (yaml) or the name of a saved one (profile)');
      const saved = this.records.profile(name);
      if (!saved) throw new Pi18Error('NOT_FOUND', `no saved profile "${name}"; the saved ones are ${this.records.profiles().map((p) => p.name).join(', ') || '(none)'}`);
      yaml = saved.yaml;
    }
    const p = parseProfile(yaml, device);
    if (!p.ok) throw invalid(p.violations);
    return { profile: p.profile, meta: p.meta, name };
  }

  saveProfile(name: string, yaml: string, actor: string) {
    if (!/^[\w.@ -]{1,64}$/.test(name)) throw new Pi18Error('BAD_USER_INPUT', `profile names are 1–64 letters, digits, space, ".", "@", "-" or "_"; got ${JSON.stringify(name)}`);
    const p = parseProfile(yaml, `profile "${name}"`);
    if (!p.ok) throw invalid(p.violations);
    return this.records.saveProfile({ name, yaml, savedBy: actor, savedAt: this.engine.clock.now() });
  }

  async diff(deviceId: string, input: { yaml?: string | null; name?: string | null }): Promise<{ serial: string; entries: DiffEntry[] }> {
    const r = await this.read(deviceId);
    const { profile } = this.profileOf(input, r.driver.label);
    return { serial: r.serial, entries: diffProfile(profile, r.piri) };
  }

  /** A dry run: the plan from the unit's fresh settings, recorded in the audit (nothing is sent). */
  async plan(deviceId: string, input: { yaml?: string | null; name?: string | null }, operator: string): Promise<PlanRecord> {
    const r = await this.read(deviceId);
    // A dry run refused before any I/O is recorded too (with every violation), then refused.
    const refused = (e: Pi18Error, profileName: string | null): Pi18Error => {
      this.append({ ts: this.engine.clock.now(), action: 'plan', result: 'refused', operator, deviceId, serial: r.serial, firmware: { ...r.firmware }, profileName, frames: [], before: r.piri as unknown as Record<string, unknown>, code: e.code, message: e.message });
      return e;
    };
    let parsed: ReturnType<Pi18Service['profileOf']>;
    try {
      parsed = this.profileOf(input, r.driver.label);
    } catch (e) {
      throw e instanceof Pi18Error && e.code !== 'NOT_FOUND' ? refused(e, input.name ?? null) : e;
    }
    const { profile, meta, name } = parsed;
    if (meta.battery_rated_voltage !== undefined && Math.round(meta.battery_rated_voltage) !== Math.round(r.piri.batteryRatedVoltageV)) {
      throw refused(new Pi18Error('CONFLICT', `${r.driver.label} is a ${r.piri.batteryRatedVoltageV} V unit but the profile was dumped from a ${meta.battery_rated_voltage} V unit; nothing was planned`), name);
    }
    const res = planProfile(profile, r.piri, { unit: r.view.parallelIndex ?? 0, serial: r.serial, currentSteps: r.steps, device: r.driver.label });
    if (!res.ok) throw refused(invalid(res.violations), name);
    const row = this.records.append({
      ts: this.engine.clock.now(),
      action: 'plan',
      result: 'planned',
      operator,
      deviceId,
      serial: r.serial,
      firmware: { ...r.firmware },
      profileName: name,
      plan: res.plan as unknown as Record<string, unknown>,
      frames: res.plan.steps.map((s) => ({ index: s.index, command: s.command, frameHex: s.frameHex, frameText: s.frameText })),
      before: r.piri as unknown as Record<string, unknown>,
      after: res.plan.after as unknown as Record<string, unknown>,
      message: res.plan.steps.length ? `${r.driver.label}: ${res.plan.steps.length} step(s) planned (${res.plan.steps.map((s) => s.command).join(', ')}); nothing was sent` : `${r.driver.label} already matches the profile; an apply would send nothing`,
    });
    return { id: row.id, deviceId, profileName: name, plan: res.plan, diff: diffProfile(profile, r.piri), createdAt: row.ts, operator };
  }

  planRecord(id: number): PlanRecord | null {
    const row = this.records.audit(id);
    if (!row || row.action !== 'plan' || !row.plan) return null;
    const plan = row.plan as unknown as Plan;
    return { id: row.id, deviceId: row.deviceId, profileName: row.profileName, plan, diff: diffProfile(plan.wanted, plan.before), createdAt: row.ts, operator: row.operator };
  }

  /**
   * Runs a recorded plan: a family command through the gate (engine.command: every step checked
   * together on the merged state, refused before any I/O), then apply.ts. The outcome — applied,
   * nothing to do, refused or aborted with its rollback — is an audit record, returned.
   */
  async apply(planId: number, confirm: boolean, operator: string, origin: 'api' | 'schedule' = 'api'): Promise<AuditRow> {
    const rec = this.planRecord(planId);
    if (!rec) throw new Pi18Error('NOT_FOUND', `no plan ${planId}; make one with planProfile (profile plan)`);
    const deviceId = rec.deviceId;
    const view = this.engine.deviceView<InverterView>(deviceId);
    const who = view ? `inverter ${view.name}` : `inverter ${deviceId}`;
    if (this.applying.has(deviceId)) throw new Pi18Error('CONFLICT', `${who}: another apply is running on it; wait for it to finish`);
    this.applying.add(deviceId);
    try {
      const publish = (progress: ApplyProgress) => this.record({ planId, deviceId, at: this.engine.clock.now(), progress });
      const cmd: Pi18ApplyCommand = { op: 'apply', plan: rec.plan, confirm, onProgress: publish, out: { report: null } };
      const describe = `apply plan ${planId}${rec.profileName ? ` (profile ${rec.profileName})` : ''}: ${rec.plan.steps.map((s) => s.command).join(', ') || 'no steps'}`;
      const r = await this.engine.command(origin, deviceId, cmd, checkPi18FamilyCommand, describe);
      const report = cmd.out.report;
      const base = { ts: this.engine.clock.now(), action: 'apply', operator, deviceId, profileName: rec.profileName, planId, plan: null };
      let row: AuditRow;
      if (!report) {
        // Refused by the gate (or the engine) before any I/O.
        const code = r.ok ? 'INTERNAL' : r.code;
        const message = r.ok ? `${who}: the apply ran but gave no report` : r.message;
        row = this.append({ ...base, result: 'refused', serial: view?.serial ?? rec.plan.serial, firmware: view?.firmware ? { ...view.firmware } : null, frames: [], before: null, after: null, code, message });
        publish({ phase: 'done', report: { result: 'refused', code, message, serial: row.serial, firmware: null, before: null, after: null, steps: [] } });
      } else {
        const frames = [...report.steps.map((s) => frameRow(s, 'apply')), ...(report.rollback?.steps ?? []).map((s) => frameRow(s, 'rollback'))];
        row = this.append({
          ...base,
          result: report.result,
          serial: report.serial,
          firmware: report.firmware ? { ...report.firmware } : null,
          frames,
          before: report.before as unknown as Record<string, unknown> | null,
          after: report.after as unknown as Record<string, unknown> | null,
          code: report.code ?? null,
          message: report.message,
          abortedAtStep: report.abortedAtStep ?? null,
          rollbackHeld: report.rollback ? report.rollback.held : null,
        });
      }
      return row;
    } finally {
      this.applying.delete(deviceId);
    }
  }

  /**
   * A saved profile, planned from the unit's fresh settings and applied: the same two steps a
   * person takes (planProfile, then applyProfile with confirm), each recorded in the audit, for a
   * scheduled job and a command from the fleet. A refusal before the apply (unit offline or busy,
   * no such profile, a plan the profile's checks refuse) throws a Pi18Error, as plan does.
   */
  async applySaved(deviceId: string, profileName: string, o: { confirm: boolean; operator: string; origin: 'api' | 'schedule' }): Promise<{ plan: PlanRecord; audit: AuditRow }> {
    const plan = await this.plan(deviceId, { name: profileName }, o.operator);
    const audit = await this.apply(plan.id, o.confirm, o.operator, o.origin);
    return { plan, audit };
  }

  /** The audit row, written now; a store that cannot write keeps it for later (Store.write) and the row is answered as it will be. */
  private append(a: Parameters<Pi18Records['append']>[0]): AuditRow {
    try {
      return this.records.append(a);
    } catch {
      this.engine.store.write(`recording the inverter audit of ${a.deviceId}`, () => void this.records.append(a));
      return { id: -1, planId: null, plan: null, profileName: null, serial: null, firmware: null, before: null, after: null, code: null, abortedAtStep: null, rollbackHeld: null, ...a } as AuditRow;
    }
  }

  async compare(a: string, b: string): Promise<CompareResult & { a: string; b: string }> {
    if (a === b) throw new Pi18Error('BAD_USER_INPUT', `compare needs two different inverters; got ${a} twice`);
    const [ra, rb] = await Promise.all([this.read(a), this.read(b)]);
    const res = compareUnits(
      { label: `${ra.view.name} (${ra.serial})`, piri: ra.piri, firmware: ra.firmware, currentSteps: ra.steps },
      { label: `${rb.view.name} (${rb.serial})`, piri: rb.piri, firmware: rb.firmware, currentSteps: rb.steps },
    );
    return { ...res, a, b };
  }

  async syncCheck(a: string, b: string): Promise<SyncResult & { a: string; b: string }> {
    if (a === b) throw new Pi18Error('BAD_USER_INPUT', `sync-check needs the two units of a pair; got ${a} twice`);
    const ua = this.unit(a);
    const ub = this.unit(b);
    // Both read at about the same moment (each unit has its own link).
    const [sa, sb] = await Promise.all([ua.driver.readSync(), ub.driver.readSync()]);
    const res = syncCheck(this.must(sa, ua.driver.label, 'its status (GS, FWS, MOD, VFW)'), this.must(sb, ub.driver.label, 'its status (GS, FWS, MOD, VFW)'));
    return { ...res, a, b };
  }
}

function frameRow(s: ApplyStepReport, phase: 'apply' | 'rollback'): Record<string, unknown> {
  return { phase, index: s.index, command: s.command, frameHex: s.frameHex, replyHex: s.replyHex, outcome: s.outcome, message: s.message };
}

function invalid(v: Violation[]): Pi18Error {
  const code: Code = v.some((x) => x.code === 'BAD_USER_INPUT') ? 'BAD_USER_INPUT' : v.some((x) => x.code === 'OUT_OF_RANGE') ? 'OUT_OF_RANGE' : 'CONFLICT';
  return new Pi18Error(code, `${v.length} problem${v.length === 1 ? '' : 's'}: ${v.map((x) => x.message).join('; ')}`, v);
}

const services = new WeakMap<Engine, Pi18Service>();

/** The engine's PI18 service (made on first use). */
export function pi18Service(engine: Engine): Pi18Service {
  let s = services.get(engine);
  if (!s) services.set(engine, (s = new Pi18Service(engine)));
  return s;
}

export type { ApplyReport };
