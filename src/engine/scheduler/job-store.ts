/**
 * Jobs and job runs in SQLite (tables jobs / job_runs, migration 0008). Job definitions are
 * written directly (a failed write is an error for the caller); run records and the handled
 * instant go through Store.write, so during a storage fault they wait in order with the events.
 */
import { and, asc, desc, eq, lt } from 'drizzle-orm';
import * as schema from '../../../drizzle/schema.js';
import type { Store } from '../../store/store.js';
import type { Job, JobAction, JobCondition, JobRun, RunOutcome, RunTrigger, StepResult } from './spec.js';

type JobRow = typeof schema.jobs.$inferSelect;
type RunRow = typeof schema.jobRuns.$inferSelect;

function toJob(r: JobRow): Job {
  return {
    id: r.id,
    name: r.name,
    cron: r.cron,
    at: r.at,
    timezone: r.timezone,
    enabled: r.enabled,
    catchUp: r.catchUp === 'once' ? 'once' : 'skip',
    maxLatenessS: r.maxLatenessS,
    conditions: r.conditions as JobCondition[],
    actions: r.actions as JobAction[],
    source: r.source === 'config' ? 'config' : 'api',
    createdBy: r.createdBy,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    lastScheduledAt: r.lastScheduledAt,
  };
}

function toRun(r: RunRow): JobRun {
  return {
    id: r.id,
    jobId: r.jobId,
    scheduledAt: r.scheduledAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    trigger: r.trigger as RunTrigger,
    outcome: r.outcome as RunOutcome,
    code: r.code,
    reason: r.reason,
    steps: r.steps as StepResult[],
    eventIds: r.eventIds,
  };
}

export class JobStore {
  private nextRunId: number;

  constructor(private readonly store: Store) {
    const max = store.db.prepare('SELECT max(id) AS m FROM job_runs').get() as { m: number | null };
    this.nextRunId = (max.m ?? 0) + 1;
  }

  list(): Job[] {
    return this.store.orm.select().from(schema.jobs).orderBy(asc(schema.jobs.createdAt), asc(schema.jobs.id)).all().map(toJob);
  }

  get(id: string): Job | null {
    const r = this.store.orm.select().from(schema.jobs).where(eq(schema.jobs.id, id)).get();
    return r ? toJob(r) : null;
  }

  /** Inserts or replaces a definition (throws when the database cannot be written). */
  put(j: Job): void {
    const row = { ...j, conditions: j.conditions as unknown[], actions: j.actions as unknown[] };
    this.store.orm.insert(schema.jobs).values(row).onConflictDoUpdate({ target: schema.jobs.id, set: row }).run();
  }

  delete(id: string): boolean {
    return this.store.orm.delete(schema.jobs).where(eq(schema.jobs.id, id)).run().changes > 0;
  }

  /** The handled instant, before the run starts (never handled twice, even after a crash). */
  markScheduled(id: string, at: number): void {
    this.store.write(`recording the scheduled time of job ${id}`, () => {
      this.store.orm.update(schema.jobs).set({ lastScheduledAt: at }).where(eq(schema.jobs.id, id)).run();
    });
  }

  newRunId(): number {
    return this.nextRunId++;
  }

  putRun(r: JobRun): void {
    const row = { ...r, steps: r.steps as unknown[] };
    this.store.write(`recording run ${r.id} of job ${r.jobId}`, () => {
      this.store.orm.insert(schema.jobRuns).values(row).onConflictDoUpdate({ target: schema.jobRuns.id, set: row }).run();
    });
  }

  /** Newest first; `after` is the id of the last run of the previous page. */
  runs(jobId: string | null, first: number, after: number | null): { items: JobRun[]; hasNextPage: boolean } {
    const where = and(jobId !== null ? eq(schema.jobRuns.jobId, jobId) : undefined, after !== null ? lt(schema.jobRuns.id, after) : undefined);
    const rows = this.store.orm.select().from(schema.jobRuns).where(where).orderBy(desc(schema.jobRuns.id)).limit(first + 1).all();
    return { items: rows.slice(0, first).map(toRun), hasNextPage: rows.length > first };
  }

  run(id: number): JobRun | null {
    const r = this.store.orm.select().from(schema.jobRuns).where(eq(schema.jobRuns.id, id)).get();
    return r ? toRun(r) : null;
  }

  /** Runs a stop interrupted (outcome still "running"). */
  unfinishedRuns(): JobRun[] {
    return this.store.orm.select().from(schema.jobRuns).where(eq(schema.jobRuns.outcome, 'running')).all().map(toRun);
  }
}
