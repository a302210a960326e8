/**
 * Issue 14: "apply a saved PI18 profile" as a scheduled job action (an async job command: the
 * plan reads PIRI first). On the simulated LVX6048 pair with the FakeClock: the job applies the
 * saved profile at its time through the path a person's apply takes (plan and apply in the
 * audit, the gate's command.* events, each setter read back), a job naming a missing profile is
 * refused at create with a code, and an apply whose read-back fails is recorded as a failed run
 * with the rollback.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Scheduler } from '../../../src/engine/scheduler/scheduler.js';
import type { JobRun } from '../../../src/engine/scheduler/spec.js';
import { deviceCommandsOf } from '../../../src/engine/scheduler/actions.js';
import { simulatedConfig } from '../../../src/rig.js';
import { pi18Service } from '../../../src/families/pi18/service.js';
import type { Pi18SimNode } from '../../../src/families/pi18/family.js';
import type { InverterView } from '../../../src/families/pi18/project.js';
import { makeSimRig, tempDbPath, type TestRig } from '../../helpers/rig.js';

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

const M = 60_000;
const runsOf = (s: Scheduler, jobId: string): JobRun[] => s.runsOf(jobId, 1000, null).items.reverse();

async function inverterRig(): Promise<TestRig> {
  const dbPath = tempDbPath('pp-jobs-pi18-');
  const r = makeSimRig({ dbPath, config: simulatedConfig({ port: 0, dbPath, bms: false, inverters: true }) });
  const ready = () => r.rig.engine.deviceView<InverterView>('inv-master');
  for (let i = 0; i < 120 && !(ready()?.online && ready()?.settings); i++) await r.clock.advance(500);
  expect(ready()?.online).toBe(true);
  expect(ready()?.settings).toBeTruthy();
  return r;
}

const sim = (r: TestRig) => (r.rig.sim!.pi18.get('inv0') as Pi18SimNode).sim;

/** Moves the FakeClock on until the job has a finished run (setters settle and read back on it). */
async function finishedRun(r: TestRig, jobId: string, maxMs = 10 * M): Promise<JobRun> {
  for (let waited = 0; waited < maxMs; waited += 250) {
    const last = runsOf(r.rig.engine.scheduler, jobId).at(-1);
    if (last && last.outcome !== 'running') return last;
    await r.clock.advance(250);
  }
  throw new Error(`job ${jobId} has no finished run after ${maxMs} ms of fake time`);
}

describe('PI18 apply-profile as a job action', () => {
  it('a job applies a saved profile at its time: planned and applied through the gate, the settings change (read back), all under the job', async () => {
    t = await inverterRig();
    expect(deviceCommandsOf('pi18')).toContain('apply-profile');
    const before = { ...sim(t).piri };
    expect(before.maxChargingCurrentA).not.toBe(40);
    const svc = pi18Service(t.rig.engine);
    svc.saveProfile('summer', 'max_charging_current: 40\ncharger_priority: solar_only', 'test');

    const s = t.rig.engine.scheduler;
    const at = t.clock.now() + 10 * M;
    const c = s.create({ name: 'summer profile', at, actions: [{ type: 'device-command', deviceId: 'inv-master', command: 'apply-profile', args: { profile: 'summer' } }] }, 'me', 'admin');
    if (!c.ok) throw new Error(c.message);
    expect(s.nextRuns(c.value.id, 1)).toEqual([at]);

    // Nothing happens before its time.
    await t.clock.advance(9 * M);
    expect(runsOf(s, c.value.id)).toEqual([]);
    expect(sim(t).piri.maxChargingCurrentA).toBe(before.maxChargingCurrentA);

    await t.clock.advance(M);
    const run = await finishedRun(t, c.value.id);
    expect(run).toMatchObject({ trigger: 'schedule', scheduledAt: at, outcome: 'ok', code: null });
    expect(run.steps).toEqual([expect.objectContaining({ action: 'apply-profile on inv-master', outcome: 'ok' })]);
    expect(run.steps[0]!.message).toMatch(/saved profile "summer" applied.*read back/);

    // The unit's settings changed, and the driver's own read-back of PIRI shows it.
    expect(sim(t).piri).toMatchObject({ maxChargingCurrentA: 40, chargerPriority: 'solar_only' });
    const view = await (async () => {
      for (let i = 0; i < 200; i++) {
        const v = t!.rig.engine.deviceView<InverterView>('inv-master');
        if (v?.settings?.maxChargingCurrentA === 40) return v;
        await t!.clock.advance(500);
      }
      return t!.rig.engine.deviceView<InverterView>('inv-master');
    })();
    expect(view?.settings).toMatchObject({ maxChargingCurrentA: 40, chargerPriority: 'solar_only' });

    // The same path a person's apply takes: a plan and an apply in the audit, under the job's actor;
    // the gate's command events with origin "schedule", found in the run's events.
    const audits = svc.records.audits({ deviceId: 'inv-master', limit: 2 });
    expect(audits.map((a) => `${a.action}:${a.result}`)).toEqual(['apply:applied', 'plan:planned']);
    expect(audits.every((a) => a.operator === `job:${c.value.id}#${run.id}`)).toBe(true);
    expect(audits[0]!.profileName).toBe('summer');
    expect(audits[0]!.frames.map((f) => (f as { outcome: string }).outcome).every((o) => o === 'ack')).toBe(true);
    const events = t.store.listEvents({ types: ['command.accepted', 'command.done'], deviceId: 'inv-master' }, 10).items;
    expect(events.map((e) => e.type).sort()).toEqual(['command.accepted', 'command.done']);
    expect(events.every((e) => e.data.origin === 'schedule' && e.data.actor === `job:${c.value.id}#${run.id}`)).toBe(true);
    expect(run.eventIds).toEqual(expect.arrayContaining(events.map((e) => e.id)));
  }, 120_000);

  it('a job naming a missing saved profile is refused at create (and in the config) with a code and the key; only an admin may write an apply-profile job', async () => {
    t = await inverterRig();
    const s = t.rig.engine.scheduler;
    pi18Service(t.rig.engine).saveProfile('winter', 'max_charging_current: 30', 'test');
    const job = (profile: string) => ({ id: 'p1', name: 'apply', cron: '0 0 1 4 *', timezone: 'UTC', actions: [{ type: 'device-command', deviceId: 'inv-master', command: 'apply-profile', args: { profile } }] });

    const r = s.create(job('summer'), 'me', 'admin');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.code).toBe('BAD_USER_INPUT');
    expect(r.issues).toEqual([{ path: 'actions.0.args.profile', message: expect.stringMatching(/no saved profile "summer" \(saved: winter\)/) }]);
    expect(s.get('p1')).toBeUndefined();
    // The editor's validation says the same.
    const v = s.checkEdit(job('summer'));
    expect(v.ok).toBe(false);
    // A config job naming it is refused at load with its key.
    expect(() => s.loadConfigJobs([job('summer')])).toThrow(/jobs\.0\.actions\.0\.args\.profile: no saved profile "summer"/);
    // Args of the wrong shape are refused too.
    const bad = s.create({ ...job('winter'), actions: [{ type: 'device-command', deviceId: 'inv-master', command: 'apply-profile', args: { profileId: 'winter' } }] }, 'me', 'admin');
    expect(bad).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });

    // An operator cannot schedule what only an admin may do by hand (applyProfile is admin only).
    expect(s.create(job('winter'), 'phone', 'operator')).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    const ok = s.create(job('winter'), 'me', 'admin');
    expect(ok.ok).toBe(true);
    const asOperator = await s.runNow('p1', 'phone', 'operator');
    expect(asOperator).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(s.update('p1', { ...job('winter'), name: 'renamed' }, 'phone', 'operator')).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    // Enabling and disabling stays an operator's: the admin wrote what it does.
    expect(s.setEnabled('p1', false)).toMatchObject({ ok: true });
  }, 120_000);

  it('an apply whose read-back fails is recorded as a failed run with the code, the step and the rollback; the unit is back where it was', async () => {
    t = await inverterRig();
    const before = { ...sim(t).piri };
    const svc = pi18Service(t.rig.engine);
    svc.saveProfile('summer', 'max_charging_current: 40\ncharger_priority: solar_only', 'test');
    // The unit acks the charger-priority setter but keeps its old value: the read-back does not match.
    sim(t).script.next('ignore', { when: (cmd) => cmd.startsWith('PCP') });

    const s = t.rig.engine.scheduler;
    const c = s.create({ name: 'summer profile', cron: '0 */5 * * * *', timezone: 'UTC', actions: [{ type: 'device-command', deviceId: 'inv-master', command: 'apply-profile', args: { profile: 'summer' } }, { type: 'prune-history', framesOlderThanDays: 7 }] }, 'me', 'admin');
    if (!c.ok) throw new Error(c.message);
    const run = await finishedRun(t, c.value.id);
    expect(run.outcome).toBe('failed');
    expect(run.code).toBeTruthy();
    const audit = svc.records.audits({ deviceId: 'inv-master', action: 'apply', limit: 1 })[0]!;
    expect(audit).toMatchObject({ result: 'aborted', rollbackHeld: true });
    expect(run.code).toBe(audit.code);
    expect(run.steps[0]).toMatchObject({ action: 'apply-profile on inv-master', outcome: 'failed', code: audit.code });
    expect(run.steps[0]!.message).toMatch(/PCP/);
    expect(run.steps[0]!.message).toMatch(/rollback held/);
    expect(run.steps[0]!.message).toContain(`inverter audit #${audit.id}`);
    // The next action of the job is not run after a failure.
    expect(run.steps[1]).toMatchObject({ outcome: 'not-run' });
    expect(run.reason).toMatch(/apply-profile on inv-master/);
    // The rollback's frames are in the audit, and the unit's settings are what they were.
    expect((audit.frames as Array<{ phase: string }>).some((f) => f.phase === 'rollback')).toBe(true);
    expect(sim(t).piri).toEqual(before);
    // The gate's command.failed event is the run's.
    const failed = t.store.listEvents({ types: ['command.failed'], deviceId: 'inv-master' }, 5).items;
    expect(failed.length).toBe(1);
    expect(run.eventIds).toContain(failed[0]!.id);
  }, 120_000);

  it('an apply refused before any write (the unit has an active fault) is recorded refused with its code; nothing is sent', async () => {
    t = await inverterRig();
    const svc = pi18Service(t.rig.engine);
    svc.saveProfile('summer', 'max_charging_current: 40', 'test');
    sim(t).setFault(86);
    const sent = sim(t).applied.length;
    const s = t.rig.engine.scheduler;
    const c = s.create({ name: 'summer profile', at: t.clock.now() + M, actions: [{ type: 'device-command', deviceId: 'inv-master', command: 'apply-profile', args: { profile: 'summer' } }] }, 'me', 'admin');
    if (!c.ok) throw new Error(c.message);
    await t.clock.advance(M);
    const run = await finishedRun(t, c.value.id);
    expect(run).toMatchObject({ outcome: 'refused', code: 'CONFLICT' });
    expect(run.steps[0]).toMatchObject({ outcome: 'refused', code: 'CONFLICT' });
    expect(run.steps[0]!.message).toMatch(/active fault 86.*nothing was sent/);
    expect(sim(t).applied.length).toBe(sent);
    expect(svc.records.audits({ deviceId: 'inv-master', action: 'apply', limit: 1 })[0]).toMatchObject({ result: 'refused', code: 'CONFLICT' });
  }, 120_000);
});
