/**
 * The PI18 profile workflow through a real HTTP + WebSocket server on the simulated rig with the
 * paralleled LVX6048 pair (issue 11 §5, §6): inverters in the API, dump → save → plan → apply with
 * progress, idempotent re-apply, refusals before any I/O with every violation, NAK mid-apply →
 * rollback recorded in the audit, compare and sync-check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, startLiveServer, waitFor, type LiveServer } from '../../helpers/server.js';
import { SIM_INVERTERS } from '../../../src/rig.js';
import type { Pi18SimNode } from '../../../src/families/pi18/family.js';

let s: LiveServer;
const sim = (link: 'inv0' | 'inv1') => (s.rig.sim!.pi18.get(link) as Pi18SimNode).sim;

const PLAN = `mutation($d: ID!, $p: ProfileInput!) { planProfile(deviceId: $d, profile: $p) { id serial steps { index command frameText frameHex expect } diff { keys from to } } }`;
const APPLY = `mutation($id: ID!, $c: Boolean!) { applyProfile(planId: $id, confirm: $c) { id action result operator serial code message abortedAtStep rollbackHeld frames { phase index command frameHex replyHex outcome } before after } }`;

beforeAll(async () => {
  s = await startLiveServer({ inverters: true, speed: 20 });
  await waitFor(async () => {
    const r = await s.gql<{ inverters: { id: string; online: boolean; settings: unknown }[] }>(`{ inverters { id online settings { batteryType } } }`);
    return r.data?.inverters.length === 2 && r.data.inverters.every((i) => i.online && i.settings);
  }, 'both inverters online with settings');
}, 120_000);
afterAll(() => s?.stop());

describe('PI18 inverters through the API', () => {
  it('the demo rig shows the pair: master and slave by serial, live readings, settings decoded, faults in words', async () => {
    const r = await s.gql<{ inverters: Record<string, unknown>[] }>(
      `{ inverters { id name busId serial role parallelIndex mode pvPowerW batteryVoltageV acOutputVoltageV faults { group name text } settings { batteryType cutoffVoltageV outputMode } firmware { main } } }`,
    );
    expect(r.errors).toBeUndefined();
    const byId = Object.fromEntries(r.data!.inverters.map((i) => [i.id, i]));
    expect(byId['inv-master']).toMatchObject({ serial: SIM_INVERTERS[0].serial, busId: 'inv0', role: 'master', parallelIndex: 0, settings: { outputMode: 'parallel' } });
    expect(byId['inv-slave']).toMatchObject({ serial: SIM_INVERTERS[1].serial, busId: 'inv1', role: 'slave', parallelIndex: 1 });
    expect(typeof byId['inv-master']!.batteryVoltageV).toBe('number');
    sim('inv1').setFault(86);
    try {
      const f = await waitFor(async () => {
        const q = await s.gql<{ device: { faults: { group: string; text: string }[]; faultText: string | null } }>(`{ device(id: "inv-slave") { ... on Inverter { faults { group text } faultText } } }`);
        return q.data?.device.faults.length ? q.data.device : null;
      }, 'fault 86 on the slave');
      expect(f.faultText).toMatch(/parallel output setting different/i);
    } finally {
      sim('inv1').setFault(0);
    }
    // The next tests apply to the slave: wait until its polled faults (FWS) show the fault gone.
    await waitFor(async () => {
      const q = await s.gql<{ device: { faults: unknown[] } }>(`{ device(id: "inv-slave") { ... on Inverter { faults { group } } } }`);
      return q.data?.device.faults.length === 0 ? true : null;
    }, 'the slave without a fault');
  });

  it('dump → save → plan → apply with progress; the audit says who, which frames and replies; re-apply sends nothing', async () => {
    const d = await s.gql<{ dumpProfile: { yaml: string; serial: string; profile: Record<string, unknown> } }>(`mutation { dumpProfile(deviceId: "inv-master") { yaml serial profile } }`);
    expect(d.errors).toBeUndefined();
    expect(d.data!.dumpProfile.serial).toBe(SIM_INVERTERS[0].serial);
    expect(d.data!.dumpProfile.yaml).toContain('metadata:');
    const wanted = { ...d.data!.dumpProfile.profile, max_charging_current: 40, max_utility_charging_current: 20 };
    const yaml = Object.entries(wanted).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n');
    const saved = await s.gql<{ saveProfile: { name: string; savedBy: string } }>(`mutation($y: String!) { saveProfile(name: "night", yaml: $y) { name savedBy } }`, { y: yaml });
    expect(saved.errors).toBeUndefined();
    expect(saved.data!.saveProfile.savedBy).toBe('local');
    const list = await s.gql<{ inverterProfiles: { name: string }[] }>(`{ inverterProfiles { name } }`);
    expect(list.data!.inverterProfiles.map((p) => p.name)).toContain('night');

    const sentBefore = sim('inv0').applied.length;
    const p = await s.gql<{ planProfile: { id: string; steps: { command: string; frameHex: string }[] } }>(PLAN, { d: 'inv-master', p: { name: 'night' } });
    expect(p.errors).toBeUndefined();
    const steps = p.data!.planProfile.steps.map((x) => x.command);
    expect(steps.some((c) => c.startsWith('MCHGC'))).toBe(true);
    expect(steps.some((c) => c.startsWith('MUCHGC'))).toBe(true);
    expect(sim('inv0').applied.length).toBe(sentBefore); // a plan touches nothing

    const ws = s.ws();
    const progress = collect<{ applyProgress: { phase: string; index: number | null; command: string | null; outcome: string | null; result: string | null } }>(
      ws,
      `subscription($id: ID!) { applyProgress(planId: $id) { phase index command outcome result } }`,
      { id: p.data!.planProfile.id },
    );
    await new Promise((r) => setTimeout(r, 200));
    const a = await s.gql<{ applyProfile: Record<string, unknown> & { frames: { phase: string; command: string; replyHex: string | null; outcome: string }[] } }>(APPLY, { id: p.data!.planProfile.id, c: true });
    expect(a.errors).toBeUndefined();
    expect(a.data!.applyProfile).toMatchObject({ action: 'apply', result: 'applied', operator: 'local', serial: SIM_INVERTERS[0].serial });
    expect(a.data!.applyProfile.frames.map((f) => f.command)).toEqual(steps);
    expect(a.data!.applyProfile.frames.every((f) => f.outcome === 'ack' && f.replyHex)).toBe(true);
    expect((a.data!.applyProfile.after as Record<string, unknown>).max_charging_current).toBe(40);
    expect(sim('inv0').piri.maxChargingCurrentA).toBe(40);
    const got = await waitFor(() => progress.items.find((i) => i.applyProgress.phase === 'done'), 'the done progress message');
    expect(got.applyProgress.result).toBe('applied');
    expect(progress.items.filter((i) => i.applyProgress.phase === 'step').map((i) => i.applyProgress.command)).toEqual(steps);
    progress.stop();

    // Re-applying the same profile: a new plan has no steps and the apply sends nothing.
    const n = sim('inv0').applied.length;
    const p2 = await s.gql<{ planProfile: { id: string; steps: unknown[] } }>(PLAN, { d: 'inv-master', p: { name: 'night' } });
    expect(p2.data!.planProfile.steps).toEqual([]);
    const a2 = await s.gql<{ applyProfile: { result: string } }>(APPLY, { id: p2.data!.planProfile.id, c: true });
    expect(a2.data!.applyProfile.result).toBe('nothing-to-do');
    expect(sim('inv0').applied.length).toBe(n);

    const audits = await s.gql<{ inverterAudits: { action: string; result: string; deviceId: string }[] }>(`{ inverterAudits(deviceId: "inv-master") { action result deviceId } }`);
    expect(audits.data!.inverterAudits.slice(0, 4).map((x) => `${x.action}:${x.result}`)).toEqual(['apply:nothing-to-do', 'plan:planned', 'apply:applied', 'plan:planned']);
  });

  it('an apply without confirm, and a plan of another unit, are refused by the gate and recorded; nothing is sent', async () => {
    const p = await s.gql<{ planProfile: { id: string } }>(PLAN, { d: 'inv-slave', p: { yaml: 'max_charging_current: 50' } });
    expect(p.errors).toBeUndefined();
    const n = sim('inv1').applied.length;
    const a = await s.gql<{ applyProfile: { result: string; code: string; message: string } }>(APPLY, { id: p.data!.planProfile.id, c: false });
    expect(a.data!.applyProfile).toMatchObject({ result: 'refused', code: 'BAD_USER_INPUT' });
    expect(a.data!.applyProfile.message).toMatch(/confirm/);
    expect(sim('inv1').applied.length).toBe(n);
  });

  it('an invalid profile is refused before any I/O with every violation listed', async () => {
    const n = sim('inv0').applied.length;
    const r = await s.gql(PLAN, { d: 'inv-master', p: { yaml: 'cutoff_voltage: 52.0\nstop_discharge_voltage: 46\nstop_charge_voltage: full\nmax_charging_current: 45\nbulk_voltage: 56.4' } });
    expect(r.errors?.[0]?.extensions?.code).toBe('OUT_OF_RANGE');
    const violations = (r.errors![0]!.extensions as { violations: { key: string }[] }).violations.map((v) => v.key);
    expect(violations).toEqual(expect.arrayContaining(['cutoff_voltage', 'max_charging_current', 'bulk_voltage,float_voltage']));
    expect(violations.length).toBeGreaterThanOrEqual(4);
    expect(sim('inv0').applied.length).toBe(n);
    // The refused dry run is in the audit, with every violation.
    const a = await s.gql<{ inverterAudits: { action: string; result: string; code: string; message: string; frames: unknown[] }[] }>(`{ inverterAudits(deviceId: "inv-master", limit: 1) { action result code message frames { command } } }`);
    expect(a.data!.inverterAudits[0]).toMatchObject({ action: 'plan', result: 'refused', code: 'OUT_OF_RANGE', frames: [] });
    expect(a.data!.inverterAudits[0]!.message).toMatch(/cutoff_voltage.*max_charging_current|max_charging_current.*cutoff_voltage/);
  });

  it('a NAK mid-apply aborts, rolls back what was changed (read back), and the audit says which step and that the rollback held', async () => {
    const before = { ...sim('inv1').piri };
    const p = await s.gql<{ planProfile: { id: string; steps: { command: string }[] } }>(PLAN, {
      d: 'inv-slave',
      p: { yaml: `max_charging_current: ${before.maxChargingCurrentA === 60 ? 70 : 60}\ncharger_priority: ${before.chargerPriority === 'solar_only' ? 'solar_first' : 'solar_only'}` },
    });
    expect(p.errors).toBeUndefined();
    const steps = p.data!.planProfile.steps.map((x) => x.command);
    expect(steps.length).toBe(2);
    const second = steps[1]!;
    sim('inv1').script.next('nak', { when: (c) => c === second });
    const a = await s.gql<{ applyProfile: { result: string; code: string; abortedAtStep: number; rollbackHeld: boolean; frames: { phase: string; command: string; outcome: string }[] } }>(APPLY, { id: p.data!.planProfile.id, c: true });
    expect(a.errors).toBeUndefined();
    expect(a.data!.applyProfile).toMatchObject({ result: 'aborted', abortedAtStep: 2, rollbackHeld: true });
    expect(a.data!.applyProfile.frames.filter((f) => f.phase === 'rollback').length).toBeGreaterThan(0);
    expect(sim('inv1').piri.maxChargingCurrentA).toBe(before.maxChargingCurrentA);
    expect(sim('inv1').piri.chargerPriority).toBe(before.chargerPriority);
    // A subscriber that comes after the apply still gets every step, the rollback and the end.
    const late = collect<{ applyProgress: { phase: string; command: string | null; outcome: string | null; result: string | null } }>(
      s.ws(),
      `subscription($id: ID!) { applyProgress(planId: $id) { phase command outcome result } }`,
      { id: p.data!.planProfile.id },
    );
    const done = await waitFor(() => late.items.find((i) => i.applyProgress.phase === 'done'), 'the replayed progress');
    late.stop();
    expect(done.applyProgress.result).toBe('aborted');
    const phases = late.items.map((i) => `${i.applyProgress.phase}:${i.applyProgress.outcome ?? ''}`);
    expect(phases.filter((x) => x.startsWith('step'))).toEqual(['step:ack', 'step:nak']);
    expect(phases.some((x) => x === 'rollback:ack')).toBe(true);
  });

  it('compare and sync-check the pair: every finding, both idle → inconclusive', async () => {
    const c = await s.gql<{ compareInverters: { equal: string[]; differ: { key: string }[]; metadata: { what: string }[] } }>(`mutation { compareInverters(a: "inv-master", b: "inv-slave") { equal differ { key a b } metadata { what a b } } }`);
    expect(c.errors).toBeUndefined();
    expect(c.data!.compareInverters.equal.length + c.data!.compareInverters.differ.length).toBeGreaterThan(5);

    const q = `mutation { syncCheck(a: "inv-master", b: ${JSON.stringify(SIM_INVERTERS[1].serial)}) { ok inconclusive findings { rule severity message } } }`;
    const ok = await s.gql<{ syncCheck: { ok: boolean; inconclusive: boolean; findings: { rule: string }[] } }>(q);
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.syncCheck.ok).toBe(true);

    sim('inv1').firmware = { ...sim('inv1').firmware, main: '09999' };
    sim('inv1').setFault(86);
    for (const u of ['inv0', 'inv1'] as const) Object.assign(sim(u).status, { mode: 'standby', acOutputVoltageV: 0, acOutputFrequencyHz: 0 });
    try {
      const bad = await s.gql<{ syncCheck: { ok: boolean; inconclusive: boolean; findings: { rule: string }[] } }>(q);
      const rules = bad.data!.syncCheck.findings.map((f) => f.rule);
      expect(rules).toEqual(expect.arrayContaining(['firmware_mismatch', 'fault', 'both_idle']));
      expect(bad.data!.syncCheck).toMatchObject({ ok: false, inconclusive: true });
    } finally {
      sim('inv1').setFault(0);
    }
  });
});

describe('PI18 profile work and roles (tokens)', () => {
  let t: LiveServer;
  const TOK = { operator: 'operator-token-0123456789', admin: 'admin-token-0123456789' };
  const as = (who: keyof typeof TOK) => ({ authorization: `Bearer ${TOK[who]}` });
  beforeAll(async () => {
    t = await startLiveServer({ inverters: true, speed: 20, server: { tokens: [{ name: 'phone', role: 'operator', token: TOK.operator }, { name: 'me', role: 'admin', token: TOK.admin }] } });
    await waitFor(async () => {
      const r = await t.gql<{ inverters: { online: boolean; settings: unknown }[] }>(`{ inverters { online settings { batteryType } } }`, undefined, as('operator'));
      return r.data?.inverters.every((i) => i.online && i.settings) && r.data.inverters.length === 2;
    }, 'both inverters online', 30_000);
  }, 120_000);
  afterAll(() => t?.stop());

  it('an operator saves and plans (recorded under the token name) but only an admin applies; the audit names who', async () => {
    const saved = await t.gql<{ saveProfile: { savedBy: string } }>(`mutation { saveProfile(name: "p1", yaml: "max_charging_current: 50") { savedBy } }`, undefined, as('operator'));
    expect(saved.data!.saveProfile.savedBy).toBe('phone');
    const p = await t.gql<{ planProfile: { id: string } }>(PLAN, { d: 'inv-master', p: { name: 'p1' } }, as('operator'));
    expect(p.errors).toBeUndefined();
    const denied = await t.gql(APPLY, { id: p.data!.planProfile.id, c: true }, as('operator'));
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const ok = await t.gql<{ applyProfile: { result: string; operator: string } }>(APPLY, { id: p.data!.planProfile.id, c: true }, as('admin'));
    expect(ok.data!.applyProfile).toMatchObject({ result: 'applied', operator: 'me' });
    const audits = await t.gql<{ inverterAudits: { action: string; operator: string }[] }>(`{ inverterAudits(deviceId: "inv-master", limit: 2) { action operator } }`, undefined, as('operator'));
    expect(audits.data!.inverterAudits).toEqual([{ action: 'apply', operator: 'me' }, { action: 'plan', operator: 'phone' }]);
  });

  it('a job that applies a saved profile: an operator may not write it (applyProfile is admin only), an admin may, and runJobNow applies it through the gate', async () => {
    const sim = (t.rig.sim!.pi18.get('inv0') as Pi18SimNode).sim;
    const wanted = sim.piri.maxChargingCurrentA === 70 ? 60 : 70;
    const saved = await t.gql(`mutation($y: String!) { saveProfile(name: "evening", yaml: $y) { name } }`, { y: `max_charging_current: ${wanted}` }, as('admin'));
    expect(saved.errors).toBeUndefined();
    const CREATE = `mutation($i: JobInput!) { createJob(input: $i) { id createdBy } }`;
    const input = (profile: string) => ({ id: 'evening-profile', name: 'evening profile', cron: '0 18 * * *', timezone: 'UTC', actions: [{ type: 'device-command', deviceId: 'inv-master', command: 'apply-profile', args: { profile } }] });
    const denied = await t.gql(CREATE, { i: input('evening') }, as('operator'));
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(denied.errors?.[0]?.message).toMatch(/needs admin/);
    const missing = await t.gql(CREATE, { i: input('no-such') }, as('admin'));
    expect(missing.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((missing.errors?.[0]?.extensions as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual(['actions.0.args.profile']);
    const made = await t.gql<{ createJob: { id: string; createdBy: string } }>(CREATE, { i: input('evening') }, as('admin'));
    expect(made.errors).toBeUndefined();
    const RUN = `mutation { runJobNow(id: "evening-profile") { outcome code reason steps { outcome message } } }`;
    expect((await t.gql(RUN, undefined, as('operator'))).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const run = await t.gql<{ runJobNow: { outcome: string; code: string | null; steps: { outcome: string; message: string }[] } }>(RUN, undefined, as('admin'));
    expect(run.errors).toBeUndefined();
    expect(run.data!.runJobNow).toMatchObject({ outcome: 'OK', code: null });
    expect(run.data!.runJobNow.steps[0]!.message).toMatch(/saved profile "evening" applied/);
    expect(sim.piri.maxChargingCurrentA).toBe(wanted);
  });
});
