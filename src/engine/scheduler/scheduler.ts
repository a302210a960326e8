/**
 * The scheduler: jobs from the store and the config, each armed on the injectable clock for its
 * next fire time (croner computes the instants, timing.ts). A fire runs the job's conditions
 * and then its actions in order, through the same command path as a person's (actions.ts),
 * stopping at the first refusal; every run is a job_runs row and a `job.run` event.
 *
 * The invariants:
 * - a scheduled instant is handled at most once: `lastScheduledAt` is written before the run
 *   starts and the next fire is always searched after it, so neither a restart nor the clock
 *   moving backwards runs a slot twice;
 * - a slot missed while the server was down (or skipped over by the clock jumping forward) is
 *   decided by the job's catch-up policy, once, however many slots were missed: `once` runs it
 *   (if it is not later than maxLatenessS), `skip` records it skipped; either way a
 *   `job.catch-up` event;
 * - no two runs of one job overlap: a fire while the previous run is in progress is recorded
 *   skipped with the reason;
 * - timers sleep at most MAX_SLEEP_MS and re-check, so a wall-clock change is noticed within it.
 */
import type { Clock, TimerHandle } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { Store, StoredEvent } from '../../store/store.js';
import type { Engine } from '../engine.js';
import type { Code } from '../../codes.js';
import { Topic } from '../pubsub.js';
import { runAsActor } from '../actor.js';
import { JobStore } from './job-store.js';
import { nextFire, nextFires, latestFireBetween } from './timing.js';
import { describeAction, evaluateCondition, roleRefusal, runAction, validateJobRefs, type ActionResult, type RefIssue } from './actions.js';
import type { Role } from '../../auth.js';
import { hostTimezone, issueLines, jobInputSchema, type Job, type JobAction, type JobRun, type JobSpec, type RunTrigger, type StepResult } from './spec.js';

/** Longest single sleep: a wall-clock jump is noticed within this (clock ms). */
export const MAX_SLEEP_MS = 60_000;
/** A fire later than this after its instant counts as missed (the clock jumped, the loop stalled long). */
export const MISSED_AFTER_MS = MAX_SLEEP_MS + 5_000;
/**
 * A catch-up run decided at start waits this long (clock ms) so that the links are up and the
 * devices heard first: run at once, a 01:00 charge start would always be refused "no PSU online".
 * The decision (and its event) is at start; the lateness is measured there.
 */
export const START_SETTLE_MS = 30_000;

export type SchedulerResult<T> = { ok: true; value: T } | { ok: false; code: Code; message: string; issues?: RefIssue[] };

export interface SchedulerOptions {
  engine: Engine;
  store: Store;
  clock: Clock;
  log: Logger;
  /** Carries out one action (default: actions.ts runAction); tests inject a slow one. */
  runAction?: (a: JobAction, job: Job) => Promise<ActionResult>;
}

export class Scheduler {
  /** Every run as it starts (outcome "running") and as it ends. */
  readonly runs = new Topic<JobRun>();
  private readonly engine: Engine;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly db: JobStore;
  private readonly act: (a: JobAction, job: Job) => Promise<ActionResult>;
  private readonly jobs = new Map<string, Job>();
  private readonly timers = new Map<string, { handle: TimerHandle; due: number }>();
  private readonly inProgress = new Map<string, Promise<JobRun>>();
  private readonly settling = new Map<string, TimerHandle>();
  private readonly store: Store;
  private started = false;

  constructor(opts: SchedulerOptions) {
    this.engine = opts.engine;
    this.clock = opts.clock;
    this.log = opts.log;
    this.store = opts.store;
    this.db = new JobStore(opts.store);
    this.act = opts.runAction ?? ((a, job) => runAction(this.engine, a, job.name));
    for (const j of this.db.list()) this.jobs.set(j.id, j);
  }

  // ---- definitions ----

  /** Parses and checks a job as a person wrote it: shape, cron, timezone, then references. */
  check(input: unknown, prefix = ''): { ok: true; spec: JobSpec } | { ok: false; issues: RefIssue[] } {
    const r = jobInputSchema.safeParse(input);
    if (!r.success) return { ok: false, issues: issueLines(r.error, prefix) };
    const refs = validateJobRefs(r.data, this.engine, prefix);
    return refs.length ? { ok: false, issues: refs } : { ok: true, spec: r.data };
  }

  /** `check` plus what only a person's edit is refused for (a one-off time in the past): createJob's checks. */
  checkEdit(input: unknown): { ok: true; spec: JobSpec } | { ok: false; issues: RefIssue[] } {
    const c = this.check(input);
    if (!c.ok) return c;
    const past = this.pastOneOff(c.spec);
    return past ? { ok: false, issues: [past] } : c;
  }

  /**
   * The jobs of the config (read-only in the API). Each is checked against the engine; a bad
   * one throws with its key ("jobs.1.actions.0.chargerId: …"). Config jobs no longer in the
   * config are removed; their run history stays.
   */
  loadConfigJobs(specs: unknown[]): void {
    const lines: string[] = [];
    const ok: JobSpec[] = [];
    specs.forEach((s, i) => {
      const c = this.check(s, `jobs.${i}`);
      if (!c.ok) lines.push(...c.issues.map((x) => `  ${x.path}: ${x.message}`));
      else if (!c.spec.id) lines.push(`  jobs.${i}.id: give each job of the config an id (it keys the job's run history)`);
      else if (this.jobs.get(c.spec.id)?.source === 'api') lines.push(`  jobs.${i}.id: a job created through the API already has the id "${c.spec.id}"; choose another`);
      else ok.push(c.spec);
    });
    if (lines.length) throw new Error(`invalid scheduled jobs in the config:\n${lines.join('\n')}`);
    const now = this.clock.now();
    const keep = new Set(ok.map((s) => s.id!));
    for (const j of [...this.jobs.values()]) {
      if (j.source === 'config' && !keep.has(j.id)) {
        this.db.delete(j.id);
        this.jobs.delete(j.id);
        this.disarm(j.id);
      }
    }
    for (const spec of ok) {
      const prev = this.jobs.get(spec.id!);
      const job = this.toJob(spec, spec.id!, 'config', 'config', prev, now);
      // An unchanged definition keeps its handled instant (a downtime is caught up by policy);
      // a changed one owes nothing from before the change.
      const same = prev && JSON.stringify(this.definition(prev)) === JSON.stringify(this.definition(job));
      if (same) job.updatedAt = prev.updatedAt;
      else job.lastScheduledAt = Math.max(prev?.lastScheduledAt ?? now, now);
      this.db.put(job);
      this.jobs.set(job.id, job);
      if (this.started) this.arm(job);
    }
  }

  private definition(j: Job) {
    return [j.name, j.cron, j.at, j.timezone, j.enabled, j.catchUp, j.maxLatenessS, j.conditions, j.actions];
  }

  private toJob(spec: JobSpec, id: string, source: Job['source'], actor: string, prev: Job | undefined, now: number): Job {
    return {
      id,
      name: spec.name,
      cron: spec.cron ?? null,
      at: spec.at ?? null,
      timezone: spec.timezone ?? prev?.timezone ?? hostTimezone(),
      enabled: spec.enabled,
      catchUp: spec.catchUp,
      maxLatenessS: spec.maxLatenessS,
      conditions: spec.conditions,
      actions: spec.actions,
      source,
      createdBy: prev?.createdBy ?? actor,
      createdAt: prev?.createdAt ?? now,
      updatedAt: now,
      // Nothing from before a definition (or its change) is owed.
      lastScheduledAt: Math.max(prev?.lastScheduledAt ?? now, now),
    };
  }

  list(): Job[] {
    return [...this.jobs.values()].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  private writable(): SchedulerResult<never> | null {
    const h = this.store.health;
    return h.writable ? null : { ok: false, code: 'STORAGE_UNAVAILABLE', message: `jobs cannot be changed while the database cannot be written (${h.error}); free space on its disk or fix its permissions` };
  }

  private editable(id: string): SchedulerResult<Job> {
    const w = this.writable();
    if (w) return w;
    const j = this.jobs.get(id);
    if (!j) return { ok: false, code: 'NOT_FOUND', message: `no job "${id}"; query jobs { id } for the ids` };
    if (j.source === 'config') return { ok: false, code: 'READ_ONLY', message: `job "${j.name}" (${id}) comes from the config file; change it there and restart the server` };
    return { ok: true, value: j };
  }

  private invalid(issues: RefIssue[]): SchedulerResult<never> {
    return { ok: false, code: 'BAD_USER_INPUT', message: issues.map((i) => `${i.path || '(job)'}: ${i.message}`).join('; '), issues };
  }

  /**
   * `role`: the writer's role, when known (the API's); a job whose actions need more than it has
   * (a profile apply needs admin, as its own mutation does) is refused FORBIDDEN.
   */
  create(input: unknown, actor: string, role?: Role | null): SchedulerResult<Job> {
    const w = this.writable();
    if (w) return w;
    const c = this.check(input);
    if (!c.ok) return this.invalid(c.issues);
    const denied = roleRefusal(c.spec.actions, this.engine, role, actor);
    if (denied) return { ok: false, ...denied };
    const past = this.pastOneOff(c.spec);
    if (past) return this.invalid([past]);
    const id = c.spec.id ?? this.newId();
    if (this.jobs.has(id)) return this.invalid([{ path: 'id', message: `a job with the id "${id}" exists; choose another or leave it out` }]);
    const job = this.toJob(c.spec, id, 'api', actor, undefined, this.clock.now());
    this.db.put(job);
    this.jobs.set(id, job);
    this.engine.record({ type: 'job.created', data: { jobId: id, name: job.name, cron: job.cron, at: job.at, timezone: job.timezone, actions: job.actions.map(describeAction) } }, true);
    if (this.started) this.arm(job);
    return { ok: true, value: job };
  }

  update(id: string, input: unknown, actor: string, role?: Role | null): SchedulerResult<Job> {
    const e = this.editable(id);
    if (!e.ok) return e;
    const c = this.check(input);
    if (!c.ok) return this.invalid(c.issues);
    // Both what it does now and what it will do: a lower role neither rewrites nor writes an admin's action.
    const denied = roleRefusal([...e.value.actions, ...c.spec.actions], this.engine, role, actor);
    if (denied) return { ok: false, ...denied };
    const past = this.pastOneOff(c.spec);
    if (past) return this.invalid([past]);
    if (c.spec.id !== undefined && c.spec.id !== id) return this.invalid([{ path: 'id', message: `a job's id cannot change (${id})` }]);
    const job = this.toJob(c.spec, id, 'api', actor, e.value, this.clock.now());
    this.db.put(job);
    this.jobs.set(id, job);
    this.engine.record({ type: 'job.updated', data: { jobId: id, name: job.name, cron: job.cron, at: job.at, timezone: job.timezone, actions: job.actions.map(describeAction) } }, true);
    if (this.started) this.arm(job);
    return { ok: true, value: job };
  }

  delete(id: string): SchedulerResult<Job> {
    const e = this.editable(id);
    if (!e.ok) return e;
    this.disarm(id);
    this.db.delete(id);
    this.jobs.delete(id);
    this.engine.record({ type: 'job.deleted', data: { jobId: id, name: e.value.name } }, true);
    return e;
  }

  setEnabled(id: string, enabled: boolean): SchedulerResult<Job> {
    const e = this.editable(id);
    if (!e.ok) return e;
    if (e.value.enabled === enabled) return e;
    const now = this.clock.now();
    // Re-enabled: the slots it was disabled for are not owed.
    const job: Job = { ...e.value, enabled, updatedAt: now, lastScheduledAt: Math.max(e.value.lastScheduledAt ?? now, now) };
    this.db.put(job);
    this.jobs.set(id, job);
    this.engine.record({ type: enabled ? 'job.enabled' : 'job.disabled', data: { jobId: id, name: job.name } }, true);
    if (this.started) this.arm(job);
    return { ok: true, value: job };
  }

  /** A one-off time already past would never run: refused when a person sets it (a config keeps its past ones). */
  private pastOneOff(spec: JobSpec): RefIssue | null {
    const now = this.clock.now();
    return spec.at !== undefined && spec.at <= now ? { path: 'at', message: `${new Date(spec.at).toISOString()} is in the past (now ${new Date(now).toISOString()}); a one-off job needs a future time` } : null;
  }

  private newId(): string {
    for (let n = this.jobs.size + 1; ; n++) if (!this.jobs.has(`job-${n}`)) return `job-${n}`;
  }

  /** The next `count` fire times of a job (none while disabled). */
  nextRuns(id: string, count: number): number[] {
    const j = this.jobs.get(id);
    if (!j || !j.enabled) return [];
    return nextFires(j, this.after(j), count);
  }

  /** The next `count` fire times a job as written would have (for a preview before saving). */
  preview(spec: JobSpec, count: number): number[] {
    return nextFires({ cron: spec.cron ?? null, at: spec.at ?? null, timezone: spec.timezone ?? hostTimezone() }, this.clock.now() - 1, count);
  }

  runsOf(jobId: string | null, first: number, after: number | null) {
    return this.db.runs(jobId, first, after);
  }

  run(id: number): JobRun | null {
    return this.db.run(id);
  }

  isRunning(id: string): boolean {
    return this.inProgress.has(id);
  }

  // ---- timing ----

  start(): void {
    if (this.started) return;
    this.started = true;
    const now = this.clock.now();
    for (const r of this.db.unfinishedRuns()) {
      const done: JobRun = { ...r, finishedAt: now, outcome: 'failed', reason: 'the server stopped while this run was in progress; check the state of its devices' };
      this.db.putRun(done);
      this.engine.record({ type: 'job.run', data: this.runData(done) }, true);
    }
    for (const j of this.jobs.values()) {
      if (!j.enabled) continue;
      this.catchUp(j, now, 'the server was down', START_SETTLE_MS);
      this.arm(this.jobs.get(j.id)!);
    }
  }

  stop(): void {
    this.started = false;
    for (const id of [...this.timers.keys()]) this.disarm(id);
    for (const t of this.settling.values()) this.clock.clearTimeout(t);
    this.settling.clear();
  }

  /** Slots up to here are handled or not owed; the next fire is searched after it. */
  private after(j: Job): number {
    return Math.max(j.lastScheduledAt ?? -Infinity, this.clock.now() - 1);
  }

  private disarm(id: string): void {
    const t = this.timers.get(id);
    if (t) this.clock.clearTimeout(t.handle);
    this.timers.delete(id);
  }

  private arm(j: Job): void {
    this.disarm(j.id);
    if (!this.started || !j.enabled || !this.jobs.has(j.id)) return;
    const due = nextFire(j, this.after(j));
    if (due === null) return;
    const handle = this.clock.setTimeout(() => this.wake(j.id, due), Math.min(MAX_SLEEP_MS, Math.max(0, due - this.clock.now())));
    this.timers.set(j.id, { handle, due });
  }

  private wake(id: string, due: number): void {
    this.timers.delete(id);
    const j = this.jobs.get(id);
    if (!j || !j.enabled || !this.started) return;
    const now = this.clock.now();
    if (now < due) {
      // Not yet (a long sleep in steps, or the clock went back): check again.
      this.arm(j);
      return;
    }
    if (now - due > MISSED_AFTER_MS) {
      // The clock jumped forward (or the process was frozen) past one or more slots.
      this.catchUp(j, now, 'the clock moved forward past it');
      this.arm(this.jobs.get(id)!);
      return;
    }
    this.fire(j, due, 'schedule');
  }

  /** A slot in (lastScheduledAt, now] that was not run: decided once by the catch-up policy. */
  private catchUp(j: Job, now: number, why: string, delayMs = 0): void {
    const missed = latestFireBetween(j, j.lastScheduledAt ?? now, now);
    if (missed === null) return;
    const latenessMs = now - missed;
    const run = j.catchUp === 'once' && latenessMs <= j.maxLatenessS * 1000;
    const reason =
      j.catchUp === 'once'
        ? run
          ? `missed at ${new Date(missed).toISOString()} (${why}); catchUp once: run ${delayMs ? `in ${Math.round(delayMs / 1000)} s, once the devices are heard` : 'now'}, ${Math.round(latenessMs / 1000)} s late`
          : `missed at ${new Date(missed).toISOString()} (${why}); catchUp once, but ${Math.round(latenessMs / 1000)} s late is more than maxLatenessS ${j.maxLatenessS}`
        : `missed at ${new Date(missed).toISOString()} (${why}); catchUp skip`;
    this.engine.record({ type: 'job.catch-up', data: { jobId: j.id, name: j.name, scheduledAt: missed, latenessMs, policy: j.catchUp, decision: run ? 'run' : 'skip', reason } }, true);
    this.log.info({ job: j.id }, `job "${j.name}": ${reason}`);
    if (run && delayMs > 0) {
      this.handled(j, missed);
      this.settling.set(
        j.id,
        this.clock.setTimeout(() => {
          this.settling.delete(j.id);
          const cur = this.jobs.get(j.id);
          if (!cur || !cur.enabled || !this.started) return;
          void this.execute(cur, missed, 'catch-up');
        }, delayMs),
      );
    } else if (run) this.fire(j, missed, 'catch-up');
    else {
      this.handled(j, missed);
      this.record(j, { scheduledAt: missed, trigger: 'catch-up', outcome: 'skipped', reason });
    }
  }

  private handled(j: Job, at: number): void {
    const next = { ...j, lastScheduledAt: Math.max(j.lastScheduledAt ?? at, at) };
    this.jobs.set(j.id, next);
    this.db.markScheduled(j.id, next.lastScheduledAt!);
  }

  private fire(j: Job, scheduledAt: number, trigger: RunTrigger): void {
    this.handled(j, scheduledAt);
    const job = this.jobs.get(j.id)!;
    this.arm(job);
    void this.execute(job, scheduledAt, trigger);
  }

  /** Runs a job now (the API's runJobNow); resolves with the finished run. */
  runNow(id: string, actor: string, role?: Role | null): Promise<SchedulerResult<JobRun>> | SchedulerResult<JobRun> {
    const j = this.jobs.get(id);
    if (!j) return { ok: false, code: 'NOT_FOUND', message: `no job "${id}"; query jobs { id } for the ids` };
    const denied = roleRefusal(j.actions, this.engine, role, actor);
    if (denied) return { ok: false, ...denied };
    return this.execute(j, null, 'manual', actor).then((value) => ({ ok: true as const, value }));
  }

  private record(j: Job, r: Pick<JobRun, 'scheduledAt' | 'trigger' | 'outcome' | 'reason'> & Partial<JobRun>): JobRun {
    const now = this.clock.now();
    const run: JobRun = { id: this.db.newRunId(), jobId: j.id, startedAt: now, finishedAt: now, code: null, steps: [], eventIds: [], ...r };
    this.db.putRun(run);
    this.engine.record({ type: 'job.run', data: this.runData(run) }, run.outcome !== 'skipped');
    this.runs.publish(run);
    return run;
  }

  private runData(r: JobRun): Record<string, unknown> {
    const j = this.jobs.get(r.jobId);
    return { jobId: r.jobId, name: j?.name ?? null, runId: r.id, trigger: r.trigger, scheduledAt: r.scheduledAt, outcome: r.outcome, code: r.code, reason: r.reason, eventIds: r.eventIds };
  }

  private async execute(j: Job, scheduledAt: number | null, trigger: RunTrigger, by?: string): Promise<JobRun> {
    const previous = this.inProgress.get(j.id);
    if (previous) {
      return this.record(j, { scheduledAt, trigger, outcome: 'skipped', reason: `the previous run of "${j.name}" is still in progress; runs of one job never overlap` });
    }
    const p = this.executeNow(j, scheduledAt, trigger, by);
    this.inProgress.set(j.id, p);
    try {
      return await p;
    } finally {
      this.inProgress.delete(j.id);
    }
  }

  private async executeNow(j: Job, scheduledAt: number | null, trigger: RunTrigger, by?: string): Promise<JobRun> {
    const run: JobRun = { id: this.db.newRunId(), jobId: j.id, scheduledAt, startedAt: this.clock.now(), finishedAt: null, trigger, outcome: 'running', code: null, reason: null, steps: [], eventIds: [] };
    this.db.putRun(run);
    this.runs.publish({ ...run });
    const failedCondition = j.conditions.map((c) => evaluateCondition(this.engine, c)).find((r) => !r.ok);
    if (failedCondition && !failedCondition.ok) {
      return this.finish(j, { ...run, outcome: 'skipped', reason: `condition not met: ${failedCondition.reason}` });
    }
    // Events the actions cause carry this actor (Engine.record adds it), so they are found exactly.
    const actor = `job:${j.id}#${run.id}${by ? ` by ${by}` : ''}`;
    const eventIds: number[] = [];
    const unsubscribe = this.engine.events.subscribe((e: StoredEvent) => {
      if (e.data.actor === actor) eventIds.push(e.id);
    });
    const steps: StepResult[] = [];
    let outcome: JobRun['outcome'] = 'ok';
    let code: string | null = null;
    let reason: string | null = null;
    try {
      for (const a of j.actions) {
        const what = describeAction(a);
        if (outcome !== 'ok') {
          steps.push({ action: what, outcome: 'not-run', message: 'an earlier action did not succeed' });
          continue;
        }
        let r: ActionResult;
        try {
          r = await runAsActor(actor, () => this.act(a, j));
        } catch (err) {
          outcome = 'failed';
          reason = `${what}: ${String((err as Error)?.message ?? err)}`;
          steps.push({ action: what, outcome: 'failed', message: reason });
          this.log.error({ job: j.id, err: String(err) }, `job "${j.name}": ${reason}`);
          continue;
        }
        if (r.ok) steps.push({ action: what, outcome: 'ok', message: r.message });
        else {
          // Refused before anything was sent, or failed after it went out (with the code either way).
          const o = r.failed ? ('failed' as const) : ('refused' as const);
          outcome = o;
          code = r.code;
          reason = `${what}: ${r.message}`;
          steps.push({ action: what, outcome: o, code: r.code, message: r.message });
        }
      }
    } finally {
      unsubscribe();
    }
    return this.finish(j, { ...run, outcome, code, reason, steps, eventIds });
  }

  private finish(j: Job, run: JobRun): JobRun {
    const done: JobRun = { ...run, finishedAt: this.clock.now() };
    this.db.putRun(done);
    this.engine.record({ type: 'job.run', data: this.runData(done) }, true);
    if (done.outcome === 'refused' || done.outcome === 'failed') this.log.warn({ job: j.id, code: done.code }, `job "${j.name}": ${done.outcome}: ${done.reason}`);
    this.runs.publish(done);
    return done;
  }
}
