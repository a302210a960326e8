/**
 * PI18 inverters in the API (issue 11 §6): the `Inverter` device type (live readings, decoded
 * settings, faults and warnings in words, parallel role), saved profiles, plans (dry runs) and
 * the audit; mutations for the profile workflow — dumpProfile, saveProfile, diffProfile,
 * planProfile, applyProfile(confirm: true), compareInverters, syncCheck — and a subscription to
 * an apply's progress. Factory reset (PF), serial write (ID), energy clear (CLE) and the other
 * commands the reference lists as dangerous are not reachable from here: the only writes are the
 * profile's setters, through the gate.
 */
import { apiError, builder, OPERATOR } from '../../schema/builder.js';
import { Device, registerDeviceType } from '../../schema/devices.js';
import { currentActor } from '../../engine/actor.js';
import type { Context } from '../../schema/builder.js';
import { enumText, type Firmware, type Piri } from './codec.js';
import type { InverterFlag, InverterView } from './project.js';
import { profileFromPiri, type DiffEntry, type PlanStep } from './profile.js';
import { Pi18Error, pi18Service, type ApplyProgressEvent, type DumpResult, type PlanRecord } from './service.js';
import type { SavedProfile, AuditRow } from './store.js';
import type { Finding } from './sync.js';
import type { Violation } from './check.js';

registerDeviceType('pi18', 'Inverter');

/** Runs a service call, turning its refusals into API errors (code + message, every violation listed). */
async function run<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Pi18Error) {
      const err = apiError(e.code, e.message);
      if (e.violations.length) (err.extensions as Record<string, unknown>).violations = e.violations.map((v: Violation) => ({ key: v.key, code: v.code, message: v.message }));
      throw err;
    }
    throw e;
  }
}

const actorOf = (ctx: Context) => currentActor() ?? ctx.actor;
const num = (v: InverterView, k: string) => (v.online && v.readings && typeof v.readings[k] === 'number' ? (v.readings[k] as number) : null);

const FirmwareRef = builder.objectRef<Firmware>('InverterFirmware').implement({
  fields: (t) => ({ main: t.exposeString('main'), slave1: t.exposeString('slave1'), slave2: t.exposeString('slave2') }),
});

const Flag = builder.objectRef<InverterFlag>('InverterFlag').implement({
  description: 'An active fault or warning, in words',
  fields: (t) => ({ group: t.exposeString('group', { description: 'fault or warning' }), name: t.exposeString('name'), text: t.exposeString('text') }),
});

const Settings = builder.objectRef<Piri>('InverterSettings').implement({
  description: 'The decoded settings (PIRI); enums as names, an unknown code as "unknown(<code>)"',
  fields: (t) => ({
    batteryRatedVoltageV: t.exposeFloat('batteryRatedVoltageV'),
    batteryType: t.string({ resolve: (p) => enumText(p.batteryType) }),
    cutoffVoltageV: t.exposeFloat('cutoffVoltageV'),
    stopDischargeVoltageV: t.exposeFloat('stopDischargeVoltageV'),
    stopChargeVoltageV: t.float({ description: '0 = full', resolve: (p) => p.stopChargeVoltageV }),
    bulkVoltageV: t.exposeFloat('bulkVoltageV'),
    floatVoltageV: t.exposeFloat('floatVoltageV'),
    maxChargingCurrentA: t.exposeFloat('maxChargingCurrentA'),
    maxUtilityChargingCurrentA: t.exposeFloat('maxUtilityChargingCurrentA'),
    outputSourcePriority: t.string({ resolve: (p) => enumText(p.outputSourcePriority) }),
    chargerPriority: t.string({ resolve: (p) => enumText(p.chargerPriority) }),
    solarPowerPriority: t.string({ resolve: (p) => enumText(p.solarPowerPriority) }),
    machineType: t.string({ resolve: (p) => enumText(p.machineType) }),
    outputMode: t.string({ resolve: (p) => enumText(p.outputMode) }),
    parallelMaxNum: t.exposeInt('parallelMaxNum'),
    acOutputRatedActivePowerW: t.exposeFloat('acOutputRatedActivePowerW'),
    profile: t.field({ type: 'JSON', description: 'the settings as profile keys (battery_type, cutoff_voltage, …)', resolve: (p) => profileFromPiri(p) }),
  }),
});

export const Inverter = builder.objectRef<InverterView>('Inverter').implement({
  interfaces: [Device],
  isTypeOf: (d) => (d as InverterView).kind === 'pi18',
  fields: (t) => ({
    serial: t.exposeString('serial', { nullable: true }),
    firmware: t.field({ type: FirmwareRef, nullable: true, resolve: (v) => v.firmware }),
    batteryRatedVoltageV: t.exposeFloat('batteryRatedVoltageV', { nullable: true }),
    ratedPowerW: t.exposeFloat('ratedPowerW', { nullable: true }),
    offlineReason: t.exposeString('offlineReason', { nullable: true }),
    mode: t.exposeString('mode', { nullable: true, description: 'power_on, standby, bypass, battery, fault, hybrid' }),
    parallelIndex: t.exposeInt('parallelIndex', { nullable: true, description: 'GS #28: 0 = master of a parallel system' }),
    role: t.exposeString('role', { nullable: true, description: 'single, master or slave' }),
    readingsAt: t.field({ type: 'DateTime', nullable: true, resolve: (v) => v.readingsAt }),
    acInputVoltageV: t.float({ nullable: true, resolve: (v) => num(v, 'acInputVoltageV') }),
    acInputFrequencyHz: t.float({ nullable: true, resolve: (v) => num(v, 'acInputFrequencyHz') }),
    acOutputVoltageV: t.float({ nullable: true, resolve: (v) => num(v, 'acOutputVoltageV') }),
    acOutputFrequencyHz: t.float({ nullable: true, resolve: (v) => num(v, 'acOutputFrequencyHz') }),
    acOutputPowerW: t.float({ nullable: true, resolve: (v) => num(v, 'acOutputPowerW') }),
    acOutputApparentPowerVA: t.float({ nullable: true, resolve: (v) => num(v, 'acOutputApparentPowerVA') }),
    loadPct: t.float({ nullable: true, resolve: (v) => num(v, 'loadPct') }),
    batteryVoltageV: t.float({ nullable: true, resolve: (v) => num(v, 'batteryVoltageV') }),
    batteryCurrentA: t.float({ nullable: true, description: '+ = charging', resolve: (v) => num(v, 'batteryCurrentA') }),
    batterySocPct: t.float({ nullable: true, resolve: (v) => num(v, 'batterySocPct') }),
    pvPowerW: t.float({ nullable: true, resolve: (v) => num(v, 'pvPowerW') }),
    pv1PowerW: t.float({ nullable: true, resolve: (v) => num(v, 'pv1PowerW') }),
    pv2PowerW: t.float({ nullable: true, resolve: (v) => num(v, 'pv2PowerW') }),
    pv1VoltageV: t.float({ nullable: true, resolve: (v) => num(v, 'pv1VoltageV') }),
    pv2VoltageV: t.float({ nullable: true, resolve: (v) => num(v, 'pv2VoltageV') }),
    heatSinkTempC: t.float({ nullable: true, resolve: (v) => num(v, 'heatSinkTempC') }),
    settings: t.field({ type: Settings, nullable: true, resolve: (v) => v.settings }),
    settingsAt: t.field({ type: 'DateTime', nullable: true, resolve: (v) => v.settingsAt }),
    faultCode: t.exposeInt('faultCode', { nullable: true }),
    faultText: t.exposeString('faultText', { nullable: true }),
    faults: t.field({ type: [Flag], description: 'active faults and warnings, in words', resolve: (v) => v.activeFlags }),
    chargeCurrentSteps: t.intList({ nullable: true, resolve: (v) => v.currentSteps?.charge ?? null }),
    utilityCurrentSteps: t.intList({ nullable: true, resolve: (v) => v.currentSteps?.utility ?? null }),
  }),
});

const ProfileRef = builder.objectRef<SavedProfile>('InverterProfile').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    yaml: t.exposeString('yaml'),
    savedBy: t.exposeString('savedBy', { description: 'the API actor (token name or "local") who saved it' }),
    savedAt: t.field({ type: 'DateTime', resolve: (p) => p.savedAt }),
    createdAt: t.field({ type: 'DateTime', resolve: (p) => p.createdAt }),
  }),
});

const Skip = builder.objectRef<DumpResult['skipped'][number]>('ProfileSkippedKey').implement({
  fields: (t) => ({ key: t.exposeString('key'), value: t.field({ type: 'JSON', resolve: (s) => s.value }), reason: t.exposeString('reason') }),
});

const Dump = builder.objectRef<DumpResult>('ProfileDump').implement({
  fields: (t) => ({
    deviceId: t.exposeID('deviceId'),
    serial: t.exposeString('serial'),
    firmware: t.field({ type: FirmwareRef, resolve: (d) => d.firmware }),
    batteryRatedVoltageV: t.exposeFloat('batteryRatedVoltageV'),
    profile: t.field({ type: 'JSON', resolve: (d) => d.profile }),
    skipped: t.field({ type: [Skip], resolve: (d) => d.skipped }),
    yaml: t.exposeString('yaml', { description: 'the profile with per-key guidance and metadata; validates and round-trips' }),
  }),
});

const Diff = builder.objectRef<DiffEntry>('ProfileDiffEntry').implement({
  fields: (t) => ({
    keys: t.stringList({ resolve: (d) => d.keys }),
    from: t.field({ type: 'JSON', resolve: (d) => d.from }),
    to: t.field({ type: 'JSON', resolve: (d) => d.to }),
  }),
});

const Step = builder.objectRef<PlanStep>('ProfilePlanStep').implement({
  fields: (t) => ({
    index: t.exposeInt('index'),
    keys: t.stringList({ resolve: (s) => s.keys }),
    from: t.field({ type: 'JSON', resolve: (s) => s.from }),
    to: t.field({ type: 'JSON', resolve: (s) => s.to }),
    command: t.exposeString('command'),
    frameText: t.exposeString('frameText'),
    frameHex: t.exposeString('frameHex'),
    expect: t.field({ type: 'JSON', description: 'the profile keys the PIRI read-back after this step must show', resolve: (s) => profileFromPiri(s.expect) }),
  }),
});

const PlanRef = builder.objectRef<PlanRecord>('ProfilePlan').implement({
  description: 'A dry run: the exact frames an apply would send, in the safe order, with the read-back expected after each; recorded in the audit',
  fields: (t) => ({
    id: t.exposeID('id'),
    deviceId: t.exposeID('deviceId'),
    serial: t.string({ nullable: true, resolve: (p) => p.plan.serial }),
    profileName: t.exposeString('profileName', { nullable: true }),
    unit: t.int({ description: 'parallel unit index used in MCHGC/MUCHGC/PCP', resolve: (p) => p.plan.unit }),
    operator: t.exposeString('operator'),
    createdAt: t.field({ type: 'DateTime', resolve: (p) => p.createdAt }),
    diff: t.field({ type: [Diff], resolve: (p) => p.diff }),
    steps: t.field({ type: [Step], resolve: (p) => p.plan.steps }),
    before: t.field({ type: 'JSON', resolve: (p) => profileFromPiri(p.plan.before) }),
    after: t.field({ type: 'JSON', resolve: (p) => profileFromPiri(p.plan.after) }),
  }),
});

const AuditFrame = builder.objectRef<Record<string, unknown>>('InverterAuditFrame').implement({
  fields: (t) => ({
    phase: t.string({ resolve: (f) => String(f.phase ?? 'plan') }),
    index: t.int({ resolve: (f) => Number(f.index) }),
    command: t.string({ resolve: (f) => String(f.command) }),
    frameHex: t.string({ resolve: (f) => String(f.frameHex ?? '') }),
    replyHex: t.string({ nullable: true, resolve: (f) => (typeof f.replyHex === 'string' ? f.replyHex : null) }),
    outcome: t.string({ nullable: true, resolve: (f) => (typeof f.outcome === 'string' ? f.outcome : null) }),
    message: t.string({ nullable: true, resolve: (f) => (typeof f.message === 'string' ? f.message : null) }),
  }),
});

const piriProfile = (p: unknown) => (p ? profileFromPiri(p as Piri) : null);

const Audit = builder.objectRef<AuditRow>('InverterAudit').implement({
  description: 'One dry run or apply: who, which unit, the frames sent and raw replies, before/after, result',
  fields: (t) => ({
    id: t.exposeID('id'),
    at: t.field({ type: 'DateTime', resolve: (a) => a.ts }),
    action: t.exposeString('action', { description: 'plan (dry run) or apply' }),
    result: t.exposeString('result', { description: 'a dry run: planned or refused (before any I/O, every violation in the message); an apply: applied, nothing-to-do, refused or aborted' }),
    operator: t.exposeString('operator'),
    deviceId: t.exposeID('deviceId'),
    serial: t.exposeString('serial', { nullable: true }),
    firmware: t.field({ type: 'JSON', nullable: true, resolve: (a) => a.firmware ?? null }),
    profileName: t.exposeString('profileName', { nullable: true }),
    planId: t.id({ nullable: true, resolve: (a) => a.planId ?? (a.action === 'plan' ? a.id : null) }),
    frames: t.field({ type: [AuditFrame], resolve: (a) => a.frames }),
    before: t.field({ type: 'JSON', nullable: true, resolve: (a) => piriProfile(a.before) }),
    after: t.field({ type: 'JSON', nullable: true, resolve: (a) => piriProfile(a.after) }),
    code: t.exposeString('code', { nullable: true }),
    message: t.exposeString('message'),
    abortedAtStep: t.exposeInt('abortedAtStep', { nullable: true }),
    rollbackHeld: t.exposeBoolean('rollbackHeld', { nullable: true, description: 'after an abort: whether the rollback read back the original settings' }),
  }),
});

const FindingRef = builder.objectRef<Finding>('SyncFinding').implement({
  fields: (t) => ({ rule: t.exposeString('rule'), severity: t.exposeString('severity'), message: t.exposeString('message') }),
});

type SyncOut = Awaited<ReturnType<ReturnType<typeof pi18Service>['syncCheck']>>;
const SyncRef = builder.objectRef<SyncOut>('SyncCheckResult').implement({
  fields: (t) => ({
    a: t.exposeID('a'),
    b: t.exposeID('b'),
    ok: t.exposeBoolean('ok', { description: 'no error finding' }),
    inconclusive: t.exposeBoolean('inconclusive', { description: 'both units idle: frequency and voltage sync not judged' }),
    findings: t.field({ type: [FindingRef], resolve: (r) => r.findings }),
  }),
});

type CompareOut = Awaited<ReturnType<ReturnType<typeof pi18Service>['compare']>>;
const KeyDiff = builder.objectRef<{ key: string; a: unknown; b: unknown }>('CompareKeyDiff').implement({
  fields: (t) => ({ key: t.exposeString('key'), a: t.field({ type: 'JSON', resolve: (d) => d.a }), b: t.field({ type: 'JSON', resolve: (d) => d.b }) }),
});
const MetaDiff = builder.objectRef<{ what: string; a: unknown; b: unknown }>('CompareMetaDiff').implement({
  fields: (t) => ({ what: t.exposeString('what'), a: t.field({ type: 'JSON', resolve: (d) => d.a }), b: t.field({ type: 'JSON', resolve: (d) => d.b }) }),
});
const CompareRef = builder.objectRef<CompareOut>('CompareResult').implement({
  fields: (t) => ({
    a: t.exposeID('a'),
    b: t.exposeID('b'),
    equal: t.stringList({ resolve: (r) => r.equal }),
    differ: t.field({ type: [KeyDiff], resolve: (r) => r.differ }),
    onlyA: t.stringList({ resolve: (r) => r.onlyA }),
    onlyB: t.stringList({ resolve: (r) => r.onlyB }),
    metadata: t.field({ type: [MetaDiff], resolve: (r) => r.metadata }),
  }),
});

const DiffResult = builder.objectRef<{ serial: string; entries: DiffEntry[] }>('ProfileDiff').implement({
  fields: (t) => ({ serial: t.exposeString('serial'), entries: t.field({ type: [Diff], resolve: (d) => d.entries }) }),
});

const Progress = builder.objectRef<ApplyProgressEvent>('ApplyProgress').implement({
  description: 'One step of an apply as it happens: preflight, each setter with its outcome, rollback, done (with the audit)',
  fields: (t) => ({
    planId: t.id({ resolve: (e) => e.planId }),
    deviceId: t.exposeID('deviceId'),
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
    phase: t.string({ resolve: (e) => e.progress.phase }),
    index: t.int({ nullable: true, resolve: (e) => ('index' in e.progress ? e.progress.index : null) }),
    total: t.int({ nullable: true, resolve: (e) => ('total' in e.progress ? e.progress.total : null) }),
    command: t.string({ nullable: true, resolve: (e) => ('command' in e.progress ? e.progress.command : null) }),
    outcome: t.string({ nullable: true, resolve: (e) => ('outcome' in e.progress ? e.progress.outcome : null) }),
    message: t.string({ resolve: (e) => (e.progress.phase === 'done' ? e.progress.report.message : e.progress.message) }),
    result: t.string({ nullable: true, description: 'on done: applied, nothing-to-do, refused or aborted', resolve: (e) => (e.progress.phase === 'done' ? e.progress.report.result : null) }),
  }),
});

const ProfileInput = builder.inputType('ProfileInput', {
  description: 'A profile: its YAML, or the name of a saved one',
  fields: (t) => ({ yaml: t.string(), name: t.string() }),
});

const svc = (ctx: Context) => pi18Service(ctx.engine);
const dev = (ctx: Context, id: unknown) => svc(ctx).resolve(String(id));

builder.queryFields((t) => ({
  inverters: t.field({ type: [Inverter], resolve: (_r, _a, ctx) => ctx.engine.devicesOfKind<InverterView>('pi18') }),
  inverterProfiles: t.field({ type: [ProfileRef], resolve: (_r, _a, ctx) => svc(ctx).records.profiles() }),
  inverterProfile: t.field({ type: ProfileRef, nullable: true, args: { name: t.arg.string({ required: true }) }, resolve: (_r, a, ctx) => svc(ctx).records.profile(a.name) }),
  inverterPlan: t.field({
    type: PlanRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => svc(ctx).planRecord(Number(a.id)),
  }),
  inverterAudits: t.field({
    type: [Audit],
    description: 'Dry runs and applies, newest first',
    args: { deviceId: t.arg.id(), action: t.arg.string(), before: t.arg.id({ description: 'page back: audits with a smaller id' }), limit: t.arg.int() },
    resolve: (_r, a, ctx) =>
      svc(ctx).records.audits({ deviceId: a.deviceId ? dev(ctx, a.deviceId) : undefined, action: a.action ?? undefined, before: a.before ? Number(a.before) : undefined, limit: a.limit ?? 50 }),
  }),
}));

builder.mutationFields((t) => ({
  dumpProfile: t.field({
    ...OPERATOR,
    type: Dump,
    description: "Reads the unit's settings (ID, VFW, MCHGCR, MUCHGCR, PIRI; polling paused meanwhile) as a profile; nothing is written",
    args: { deviceId: t.arg.id({ required: true, description: 'inverter id or serial' }) },
    resolve: (_r, a, ctx) => run(() => svc(ctx).dump(dev(ctx, a.deviceId))),
  }),
  saveProfile: t.field({
    ...OPERATOR,
    type: ProfileRef,
    description: 'Saves (or replaces) a named profile; it must parse (every problem listed)',
    args: { name: t.arg.string({ required: true }), yaml: t.arg.string({ required: true }) },
    resolve: (_r, a, ctx) => run(() => svc(ctx).saveProfile(a.name, a.yaml, actorOf(ctx))),
  }),
  diffProfile: t.field({
    ...OPERATOR,
    type: DiffResult,
    args: { deviceId: t.arg.id({ required: true }), profile: t.arg({ type: ProfileInput, required: true }) },
    resolve: (_r, a, ctx) => run(() => svc(ctx).diff(dev(ctx, a.deviceId), a.profile)),
  }),
  planProfile: t.field({
    ...OPERATOR,
    type: PlanRef,
    description: 'A dry run: validates (every violation listed, before any write), diffs against fresh settings, and lists the exact frames in the safe order; recorded in the audit',
    args: { deviceId: t.arg.id({ required: true }), profile: t.arg({ type: ProfileInput, required: true }) },
    resolve: (_r, a, ctx) => run(() => svc(ctx).plan(dev(ctx, a.deviceId), a.profile, actorOf(ctx))),
  }),
  // Admin only (the Mutation default): it writes the unit's persistent battery thresholds and charging limits.
  applyProfile: t.field({
    type: Audit,
    description:
      'Admin only. Runs a plan (confirm: true required): identity guard, pre-flight, each setter read back, abort and rollback on the first failure; polling of the unit pauses meanwhile. Answers the audit record (result applied, nothing-to-do, refused or aborted).',
    args: { planId: t.arg.id({ required: true }), confirm: t.arg.boolean({ required: true }) },
    resolve: (_r, a, ctx) => run(() => svc(ctx).apply(Number(a.planId), a.confirm, actorOf(ctx))),
  }),
  compareInverters: t.field({
    ...OPERATOR,
    type: CompareRef,
    args: { a: t.arg.id({ required: true }), b: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => run(() => svc(ctx).compare(dev(ctx, a.a), dev(ctx, a.b))),
  }),
  syncCheck: t.field({
    ...OPERATOR,
    type: SyncRef,
    description: 'Reads GS, FWS, MOD and VFW of both units of a parallel pair and reports every finding',
    args: { a: t.arg.id({ required: true }), b: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => run(() => svc(ctx).syncCheck(dev(ctx, a.a), dev(ctx, a.b))),
  }),
}));

builder.subscriptionFields((t) => ({
  applyProgress: t.field({
    type: Progress,
    description: "An apply's progress step by step, by the plan's id: what was already reported for it, then each step as it happens",
    args: { planId: t.arg.id({ required: true }) },
    subscribe: (_r, a, ctx) => svc(ctx).progressOf(Number(a.planId)),
    resolve: (e) => e,
  }),
}));
