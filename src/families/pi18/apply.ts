/**
 * Runs a profile plan (profile.ts) against one unit through its driver
 * (pi18-profile-workflow.md §5 and §8):
 *
 * 1. Requires an explicit confirm. Polling of the unit pauses for the whole run (driver.session).
 * 2. Identity guard: ID must give the serial the plan was made for.
 * 3. Pre-flight: no active fault (FWS) and not in fault mode (MOD); rated battery voltage as in the
 *    plan; MCHGCR/MUCHGCR refreshed; PIRI re-read and the plan re-made from it — if the unit
 *    already matches, nothing is sent (idempotent); if the steps differ from the plan the
 *    operator saw, the run is refused (make a new plan).
 * 4. Each step: setter → `^1` → settle → PIRI read-back that must show the step's values. The
 *    first NAK, timeout, CRC failure, read-back mismatch or lost link aborts.
 * 5. Rollback of what was (or may have been) changed: the original values of the attempted
 *    steps' keys are planned from the unit's current PIRI with the same safe ordering, written
 *    with read-back, and the report says whether the rollback held.
 */
import type { Code } from '../../codes.js';
import type { Firmware, Piri } from './codec.js';
import type { Pi18Driver, SetterOutcome } from './driver.js';
import { diffProfile, planProfile, profileFromPiri, type Plan, type PlanStep, type Profile, type ProfileKey } from './profile.js';

export interface ApplyStepReport {
  index: number;
  command: string;
  frameHex: string;
  replyHex: string | null;
  outcome: SetterOutcome['outcome'];
  readBack: Piri | null;
  message: string;
}

export interface ApplyReport {
  result: 'applied' | 'nothing-to-do' | 'refused' | 'aborted';
  code?: Code;
  message: string;
  serial: string | null;
  firmware: Firmware | null;
  before: Piri | null;
  after: Piri | null;
  steps: ApplyStepReport[];
  /** 1-based index of the step that failed. */
  abortedAtStep?: number;
  rollback?: { held: boolean; steps: ApplyStepReport[]; message: string };
}

export type ApplyProgress =
  | { phase: 'preflight'; message: string }
  | { phase: 'step' | 'rollback'; index: number; total: number; command: string; outcome: SetterOutcome['outcome']; message: string }
  | { phase: 'done'; report: ApplyReport };

export interface ApplyOptions {
  confirm: boolean;
  onProgress?: (p: ApplyProgress) => void;
}

const toHex = (b: Uint8Array | null) => (b ? Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ') : null);

function stepReport(index: number, o: SetterOutcome): ApplyStepReport {
  return { index, command: o.command, frameHex: toHex(o.sent) ?? '', replyHex: toHex(o.reply), outcome: o.outcome, readBack: o.readBack, message: o.message };
}

export async function applyPlan(driver: Pi18Driver, plan: Plan, opts: ApplyOptions): Promise<ApplyReport> {
  const progress = (p: ApplyProgress) => {
    try {
      opts.onProgress?.(p);
    } catch {
      // A progress listener's bug must not break an apply half-way.
    }
  };
  const who = driver.label;
  const base = { serial: null as string | null, firmware: null as Firmware | null, before: null as Piri | null, after: null as Piri | null, steps: [] as ApplyStepReport[] };
  const finish = (r: ApplyReport): ApplyReport => {
    progress({ phase: 'done', report: r });
    return r;
  };
  const refuse = (code: Code, message: string, extra: Partial<ApplyReport> = {}): ApplyReport => finish({ ...base, ...extra, result: 'refused', code, message });
  if (opts.confirm !== true) return refuse('BAD_USER_INPUT', `${who}: an apply writes to the inverter and needs an explicit confirm; review the plan first`);

  return driver.session(async () => {
    progress({ phase: 'preflight', message: 'reading identity' });
    const id = await driver.readIdentity();
    if (!id.ok) return refuse(id.code, `${who}: cannot read its identity before writing (${id.message}); nothing was sent`);
    base.serial = id.value.serial;
    base.firmware = id.value.firmware;
    if (plan.serial && plan.serial !== id.value.serial && plan.serial !== id.value.rawId) {
      return refuse('CONFLICT', `${who} is serial ${id.value.serial}, but the plan was made for ${plan.serial}; nothing was sent — make a plan for this unit`);
    }
    if (Math.round(id.value.batteryRatedVoltageV) !== Math.round(plan.batteryRatedVoltageV)) {
      return refuse('CONFLICT', `${who} is a ${id.value.batteryRatedVoltageV} V unit but the plan is for ${plan.batteryRatedVoltageV} V; nothing was sent`);
    }
    progress({ phase: 'preflight', message: 'checking faults' });
    const fws = await driver.readFaults();
    if (!fws.ok) return refuse(fws.code, `${who}: cannot read its fault status (${fws.message}); nothing was sent`);
    if (fws.value.faultCode !== 0) {
      return refuse('CONFLICT', `${who} has an active fault ${String(fws.value.faultCode).padStart(2, '0')} (${fws.value.faultText}); nothing was sent — clear the fault first`);
    }
    const st = await driver.readStatus();
    if (!st.ok) return refuse(st.code, `${who}: cannot read its status (${st.message}); nothing was sent`);
    if (st.value.mode === 'fault') return refuse('CONFLICT', `${who} is in fault mode; nothing was sent — clear the fault first`);
    const steps = await driver.readCurrentSteps();
    if (!steps.ok) return refuse(steps.code, `${who}: cannot read its current steps (${steps.message}); nothing was sent`);
    const live = await driver.readPiri();
    if (!live.ok) return refuse(live.code, `${who}: cannot read its settings (${live.message}); nothing was sent`);
    base.before = live.value;
    base.after = live.value;

    const again = planProfile(plan.wanted, live.value, { unit: plan.unit, serial: plan.serial, currentSteps: steps.value, device: who });
    if (!again.ok) return refuse(again.violations[0]!.code, again.violations.map((v) => v.message).join('; '));
    if (again.plan.steps.length === 0) return finish({ ...base, result: 'nothing-to-do', message: `${who} already matches the profile; nothing was sent` });
    const same = again.plan.steps.length === plan.steps.length && again.plan.steps.every((s, i) => s.command === plan.steps[i]!.command);
    if (!same) {
      return refuse('CONFLICT', `${who}'s settings changed since the plan was made (it would now send ${again.plan.steps.map((s) => s.command).join(', ')}); nothing was sent — make a new plan`);
    }

    const done: PlanStep[] = [];
    for (const step of plan.steps) {
      const o = await driver.writeSetting(step.setting, plan.unit);
      const r = stepReport(step.index, o);
      base.steps.push(r);
      if (o.readBack) base.after = o.readBack;
      progress({ phase: 'step', index: step.index, total: plan.steps.length, command: step.command, outcome: o.outcome, message: o.message });
      if (o.outcome === 'ack') {
        done.push(step);
        continue;
      }
      // Aborted. Roll back every attempted step, the failed one too: a lost ack may hide a change.
      const code: Code = o.outcome === 'link' ? 'LINK_DOWN' : o.outcome === 'timeout' || o.outcome === 'corrupt' ? 'DEVICE_OFFLINE' : 'CONFLICT';
      const rollback = await rollBack(driver, plan, [...done, step], live.value, progress);
      const after = await driver.readPiri();
      if (after.ok) base.after = after.value;
      return finish({
        ...base,
        result: 'aborted',
        code,
        abortedAtStep: step.index,
        message: `${who}: step ${step.index} of ${plan.steps.length} (${step.command}) failed: ${o.message}. ${rollback.message}`,
        rollback,
      });
    }
    return finish({ ...base, result: 'applied', message: `${who}: applied ${done.length} step${done.length === 1 ? '' : 's'} (${done.map((s) => s.command).join(', ')}), each read back` });
  });
}

async function rollBack(
  driver: Pi18Driver,
  plan: Plan,
  attempted: PlanStep[],
  original: Piri,
  progress: (p: ApplyProgress) => void,
): Promise<{ held: boolean; steps: ApplyStepReport[]; message: string }> {
  const who = driver.label;
  const keys = new Set<ProfileKey>(attempted.flatMap((s) => s.keys));
  const orig = profileFromPiri(original) as Record<ProfileKey, unknown>;
  const restore: Record<string, unknown> = {};
  for (const k of keys) restore[k] = orig[k];
  // Going back to AGM/Flooded: the voltages first (they need type user), the type last.
  const phases: Profile[] = [];
  const voltageKeys = ['cutoff_voltage', 'stop_discharge_voltage', 'stop_charge_voltage', 'bulk_voltage', 'float_voltage'];
  if ('battery_type' in restore && restore.battery_type !== 'user' && voltageKeys.some((k) => k in restore)) {
    const { battery_type, ...rest } = restore;
    phases.push(rest as Profile, { battery_type } as Profile);
  } else {
    phases.push(restore as Profile);
  }
  const steps: ApplyStepReport[] = [];
  for (const phase of phases) {
    const now = await driver.readPiri();
    if (!now.ok) return { held: false, steps, message: `Rollback not possible: the unit's settings cannot be read (${now.message}); check it by hand — it may be left half-applied` };
    const back = planProfile(phase, now.value, { unit: plan.unit, device: who, currentSteps: driver.currentSteps });
    if (!back.ok) return { held: false, steps, message: `Rollback not possible: ${back.violations.map((v) => v.message).join('; ')}` };
    for (const step of back.plan.steps) {
      const o = await driver.writeSetting(step.setting, plan.unit);
      steps.push(stepReport(steps.length + 1, o));
      progress({ phase: 'rollback', index: steps.length, total: back.plan.steps.length, command: step.command, outcome: o.outcome, message: o.message });
      if (o.outcome !== 'ack') {
        return { held: false, steps, message: `Rollback failed at ${step.command} (${o.message}); the unit may be left half-applied — check it and re-apply or roll back by hand` };
      }
    }
  }
  const check = await driver.readPiri();
  if (!check.ok) return { held: false, steps, message: `Rollback sent, but its final read-back failed (${check.message})` };
  const left = diffProfile(restore as Profile, check.value);
  if (left.length) return { held: false, steps, message: `Rollback did not hold: ${left.map((d) => d.keys.join('/')).join(', ')} still differ from before` };
  return { held: true, steps, message: steps.length ? `Rolled back ${steps.length} step${steps.length === 1 ? '' : 's'}; the read-back shows the original settings` : 'Nothing had changed; the unit has its original settings' };
}
