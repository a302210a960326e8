/**
 * Scheduled jobs: definitions, their next fire times, a validation/preview for editors, the run
 * history and a live feed of runs. Changes are operator mutations and take effect at once;
 * jobs from the config are listed (source CONFIG, readOnly) but refused READ_ONLY on change.
 * Actions and conditions are JSON shaped as src/engine/scheduler/spec.ts says (a small typed
 * union checked on the server, with the key of every problem).
 */
import { GraphQLError } from 'graphql';
import { builder, apiError, OPERATOR } from './builder.js';
import { clampFirst, connectionOf } from './connection.js';
import { CursorError, decodeCursor, encodeCursor } from '../store/cursor.js';
import type { Job, JobRun, StepResult } from '../engine/scheduler/spec.js';
import type { SchedulerResult } from '../engine/scheduler/scheduler.js';
import type { RefIssue } from '../engine/scheduler/actions.js';

const JobSource = builder.enumType('JobSource', { values: { API: { value: 'api' }, CONFIG: { value: 'config' } } as const });
const CatchUpPolicy = builder.enumType('CatchUpPolicy', {
  description: 'What a slot missed while the server was down becomes: SKIP (recorded skipped) or ONCE (run once at start, if not later than maxLatenessS).',
  values: { SKIP: { value: 'skip' }, ONCE: { value: 'once' } } as const,
});
const JobRunOutcome = builder.enumType('JobRunOutcome', {
  values: { RUNNING: { value: 'running' }, OK: { value: 'ok' }, REFUSED: { value: 'refused' }, FAILED: { value: 'failed' }, SKIPPED: { value: 'skipped' } } as const,
});
const JobRunTrigger = builder.enumType('JobRunTrigger', { values: { SCHEDULE: { value: 'schedule' }, CATCH_UP: { value: 'catch-up' }, MANUAL: { value: 'manual' } } as const });

const JobRunStep = builder.objectRef<StepResult>('JobRunStep').implement({
  fields: (t) => ({
    action: t.exposeString('action'),
    outcome: t.exposeString('outcome', { description: 'ok, refused, failed or not-run (an earlier action did not succeed)' }),
    code: t.string({ nullable: true, resolve: (s) => s.code ?? null }),
    message: t.exposeString('message'),
  }),
});

const JobRunRef = builder.objectRef<JobRun>('JobRun');
const JobRef = builder.objectRef<Job>('Job');

JobRunRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    jobId: t.exposeID('jobId'),
    job: t.field({ type: JobRef, nullable: true, resolve: (r, _a, ctx) => ctx.engine.scheduler.get(r.jobId) ?? null }),
    scheduledAt: t.field({ type: 'DateTime', nullable: true, description: 'The instant the schedule named (null for a manual run).', resolve: (r) => r.scheduledAt }),
    startedAt: t.field({ type: 'DateTime', resolve: (r) => r.startedAt }),
    finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.finishedAt }),
    trigger: t.field({ type: JobRunTrigger, resolve: (r) => r.trigger }),
    outcome: t.field({ type: JobRunOutcome, resolve: (r) => r.outcome }),
    code: t.string({ nullable: true, description: "The gate's refusal code of a REFUSED run.", resolve: (r) => r.code }),
    reason: t.string({ nullable: true, resolve: (r) => r.reason }),
    steps: t.field({ type: [JobRunStep], resolve: (r) => r.steps }),
    eventIds: t.idList({ description: 'The events the actions caused (query events for them).', resolve: (r) => r.eventIds.map(String) }),
  }),
});

JobRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    cron: t.string({ nullable: true, description: 'A croner expression (seconds optional); null for a one-off job.', resolve: (j) => j.cron }),
    at: t.field({ type: 'DateTime', nullable: true, description: "A one-off job's time.", resolve: (j) => j.at }),
    timezone: t.exposeString('timezone'),
    enabled: t.exposeBoolean('enabled'),
    catchUp: t.field({ type: CatchUpPolicy, resolve: (j) => j.catchUp }),
    maxLatenessS: t.exposeInt('maxLatenessS'),
    conditions: t.field({ type: 'JSON', description: 'All must hold at fire time: soc-below/soc-above {batteryId, pct}, device-online {deviceId}, charger-idle {chargerId}.', resolve: (j) => j.conditions }),
    actions: t.field({
      type: 'JSON',
      description:
        'Run in order, stopping at the first refusal: charge-start {chargerId, currentA?}, charge-stop {chargerId}, dc-output-set {target, voltageV, currentA}, dc-output-standby {target}, prune-history {framesOlderThanDays?, samplesOlderThanDays?}, device-command {deviceId, command, args?} — a family\'s command: VE.Bus apply-mode {mode} and write-setting-ram-only {id, value}; EVSE set-current {currentA}, enable, disable, sleep; PI18 apply-profile {profile} (a saved profile by name; admin only, planned and applied with read-back and rollback).',
      resolve: (j) => j.actions,
    }),
    source: t.field({ type: JobSource, resolve: (j) => j.source }),
    readOnly: t.boolean({ description: 'From the config file: change it there.', resolve: (j) => j.source === 'config' }),
    createdBy: t.exposeString('createdBy'),
    createdAt: t.field({ type: 'DateTime', resolve: (j) => j.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (j) => j.updatedAt }),
    nextRunAt: t.field({ type: 'DateTime', nullable: true, resolve: (j, _a, ctx) => ctx.engine.scheduler.nextRuns(j.id, 1)[0] ?? null }),
    running: t.boolean({ resolve: (j, _a, ctx) => ctx.engine.scheduler.isRunning(j.id) }),
    lastRun: t.field({ type: JobRunRef, nullable: true, resolve: (j, _a, ctx) => ctx.engine.scheduler.runsOf(j.id, 1, null).items[0] ?? null }),
  }),
});

const JobIssue = builder.objectRef<RefIssue>('JobIssue').implement({
  fields: (t) => ({ path: t.exposeString('path', { description: 'The key, e.g. actions.0.chargerId' }), message: t.exposeString('message') }),
});

const JobValidation = builder.objectRef<{ ok: boolean; issues: RefIssue[]; nextRuns: number[] }>('JobValidation').implement({
  fields: (t) => ({
    ok: t.exposeBoolean('ok'),
    issues: t.field({ type: [JobIssue], resolve: (v) => v.issues }),
    nextRuns: t.field({ type: ['DateTime'], resolve: (v) => v.nextRuns }),
  }),
});

const JobInput = builder.inputType('JobInput', {
  fields: (t) => ({
    id: t.id({ required: false, description: 'createJob only; default job-<n>' }),
    name: t.string({ required: true }),
    cron: t.string({ required: false, description: 'A croner expression, seconds optional; or give `at`.' }),
    at: t.field({ type: 'DateTime', required: false, description: 'A one-off time; or give `cron`.' }),
    timezone: t.string({ required: false, description: "IANA name; default the server host's." }),
    enabled: t.boolean({ required: false }),
    catchUp: t.field({ type: CatchUpPolicy, required: false }),
    maxLatenessS: t.int({ required: false }),
    conditions: t.field({ type: 'JSON', required: false }),
    actions: t.field({ type: 'JSON', required: true }),
  }),
});

type JobInputShape = typeof JobInput.$inferInput;

/** GraphQL input → the scheduler's input (absent keys, not nulls). */
function toSpec(i: JobInputShape): Record<string, unknown> {
  return Object.fromEntries(Object.entries(i).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [k, k === 'id' ? String(v) : v]));
}

function unwrap<T>(r: SchedulerResult<T>): T {
  if (r.ok) return r.value;
  if (r.issues) throw new GraphQLError(r.message, { extensions: { code: r.code, issues: r.issues } });
  throw apiError(r.code, r.message);
}

const JobRunConnection = connectionOf('JobRun', JobRunRef);

builder.queryFields((t) => ({
  jobs: t.field({ type: [JobRef], resolve: (_r, _a, ctx) => ctx.engine.scheduler.list() }),
  job: t.field({ type: JobRef, nullable: true, args: { id: t.arg.id({ required: true }) }, resolve: (_r, a, ctx) => ctx.engine.scheduler.get(String(a.id)) ?? null }),
  jobRuns: t.field({
    type: JobRunConnection,
    description: 'Runs, newest first; omit jobId for every job.',
    args: { jobId: t.arg.id({ required: false }), first: t.arg.int({ required: false }), after: t.arg.string({ required: false }) },
    resolve: (_r, a, ctx) => {
      let after: number | null;
      try {
        after = decodeCursor(a.after);
      } catch (e) {
        if (e instanceof CursorError) throw apiError('BAD_CURSOR', e.message);
        throw e;
      }
      const page = ctx.engine.scheduler.runsOf(a.jobId ? String(a.jobId) : null, clampFirst(a.first, 200, 20), after);
      const edges = page.items.map((node) => ({ cursor: encodeCursor(node.id), node }));
      return { edges, pageInfo: { endCursor: edges[edges.length - 1]?.cursor ?? null, hasNextPage: page.hasNextPage } };
    },
  }),
  nextRuns: t.field({
    type: ['DateTime'],
    args: { jobId: t.arg.id({ required: true }), count: t.arg.int({ required: false, defaultValue: 5 }) },
    resolve: (_r, a, ctx) => {
      if (!ctx.engine.scheduler.get(String(a.jobId))) throw apiError('NOT_FOUND', `no job "${a.jobId}"; query jobs { id } for the ids`);
      return ctx.engine.scheduler.nextRuns(String(a.jobId), Math.max(1, Math.min(50, a.count ?? 5)));
    },
  }),
  validateJob: t.field({
    type: JobValidation,
    description: "A job as an editor holds it, checked as createJob would check it, with its next fire times (a preview before saving).",
    args: { input: t.arg({ type: JobInput, required: true }), count: t.arg.int({ required: false, defaultValue: 5 }) },
    resolve: (_r, a, ctx) => {
      const c = ctx.engine.scheduler.checkEdit(toSpec(a.input));
      if (!c.ok) return { ok: false, issues: c.issues, nextRuns: [] };
      return { ok: true, issues: [], nextRuns: ctx.engine.scheduler.preview(c.spec, Math.max(1, Math.min(50, a.count ?? 5))) };
    },
  }),
}));

builder.mutationFields((t) => ({
  createJob: t.field({ ...OPERATOR, type: JobRef, args: { input: t.arg({ type: JobInput, required: true }) }, resolve: (_r, a, ctx) => unwrap(ctx.engine.scheduler.create(toSpec(a.input), ctx.actor, ctx.role)) }),
  updateJob: t.field({
    ...OPERATOR,
    type: JobRef,
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: JobInput, required: true }) },
    resolve: (_r, a, ctx) => unwrap(ctx.engine.scheduler.update(String(a.id), toSpec(a.input), ctx.actor, ctx.role)),
  }),
  deleteJob: t.field({ ...OPERATOR, type: JobRef, description: 'Returns the deleted job; its run history stays.', args: { id: t.arg.id({ required: true }) }, resolve: (_r, a, ctx) => unwrap(ctx.engine.scheduler.delete(String(a.id))) }),
  setJobEnabled: t.field({
    ...OPERATOR,
    type: JobRef,
    args: { id: t.arg.id({ required: true }), enabled: t.arg.boolean({ required: true }) },
    resolve: (_r, a, ctx) => unwrap(ctx.engine.scheduler.setEnabled(String(a.id), a.enabled)),
  }),
  runJobNow: t.field({
    ...OPERATOR,
    type: JobRunRef,
    description: "Runs the job's conditions and actions now and answers with the finished run (SKIPPED while a run is in progress).",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_r, a, ctx) => unwrap(await ctx.engine.scheduler.runNow(String(a.id), ctx.actor, ctx.role)),
  }),
}));

builder.subscriptionFields((t) => ({
  jobRuns: t.field({
    type: JobRunRef,
    description: 'Every run as it starts (RUNNING) and as it ends.',
    args: { jobId: t.arg.id({ required: false }) },
    subscribe: (_r, a, ctx) => ctx.engine.scheduler.runs.iterate((r) => !a.jobId || r.jobId === String(a.jobId), 200),
    resolve: (r) => r,
  }),
}));
