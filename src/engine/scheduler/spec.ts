/**
 * What a scheduled job is, as data: its schedule (a croner expression, seconds optional, or a
 * one-off instant), timezone, catch-up policy, an optional set of conditions and a short
 * sequence of actions. Pure: the config loader and the API validate the same shape with it;
 * references to chargers, devices and buses are checked against the running engine by
 * `validateJobRefs` (actions.ts) at load and on every create/update.
 */
import { Cron } from 'croner';
import { z } from 'zod';

/** The host's timezone, the default of a job that names none. */
export function hostTimezone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

export function isTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Croner's parse of a cron expression; null when it is valid, else what is wrong. */
export function cronError(expr: string): string | null {
  try {
    new Cron(expr, { paused: true, mode: '5-or-6-parts' });
    return null;
  } catch (e) {
    return `not a cron expression croner reads ("${expr}"): ${String((e as Error).message).replace(/^CronPattern: /, '')}; five fields (minute hour day month weekday) or six with seconds first`;
  }
}

const id = z.string().min(1).max(200);

/**
 * The built-in actions. `device-command` carries a family's named command (registered by the
 * family, see actions.ts `registerDeviceCommand`); its `args` are checked by that family's validator.
 */
export const actionSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('charge-start'), chargerId: id, currentA: z.number().positive().max(10_000).optional() }).strict(),
  z.object({ type: z.literal('charge-stop'), chargerId: id }).strict(),
  z.object({ type: z.literal('dc-output-set'), target: id, voltageV: z.number().positive().max(1000), currentA: z.number().positive().max(10_000) }).strict(),
  z.object({ type: z.literal('dc-output-standby'), target: id }).strict(),
  z
    .object({ type: z.literal('prune-history'), framesOlderThanDays: z.number().positive().max(36_500).optional(), samplesOlderThanDays: z.number().positive().max(36_500).optional() })
    .strict()
    .refine((a) => a.framesOlderThanDays !== undefined || a.samplesOlderThanDays !== undefined, { message: 'name framesOlderThanDays and/or samplesOlderThanDays' }),
  z.object({ type: z.literal('device-command'), deviceId: id, command: id, args: z.record(z.string(), z.unknown()).optional() }).strict(),
]);
export type JobAction = z.infer<typeof actionSchema>;
export type JobActionType = JobAction['type'];

/** A small typed set evaluated at fire time from the live projections; all must hold. */
export const conditionSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('soc-below'), batteryId: id, pct: z.number().min(0).max(100) }).strict(),
  z.object({ type: z.literal('soc-above'), batteryId: id, pct: z.number().min(0).max(100) }).strict(),
  z.object({ type: z.literal('device-online'), deviceId: id }).strict(),
  z.object({ type: z.literal('charger-idle'), chargerId: id }).strict(),
]);
export type JobCondition = z.infer<typeof conditionSchema>;

export const DEFAULT_MAX_LATENESS_S = 3600;

/** A job as a person writes it (YAML `jobs:` entry, API input). */
export const jobInputSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "." and "-" (at most 64)').optional(),
    name: z.string().trim().min(1, 'give the job a name').max(200),
    cron: z.string().trim().min(1).max(200).optional(),
    /** A one-off instant (ms since the epoch, or ISO-8601 in the YAML). */
    at: z.union([z.number().int(), z.string().transform((s, ctx) => {
      const ms = Date.parse(s);
      if (!Number.isFinite(ms)) ctx.addIssue({ code: 'custom', message: `not an ISO-8601 time: "${s}"` });
      return ms;
    })]).optional(),
    timezone: z.string().optional(),
    enabled: z.boolean().default(true),
    catchUp: z.enum(['skip', 'once']).default('skip'),
    /** catchUp once: a missed run later than this is skipped all the same. */
    maxLatenessS: z.number().int().positive().max(31 * 86_400).default(DEFAULT_MAX_LATENESS_S),
    conditions: z.array(conditionSchema).max(8).default([]),
    actions: z.array(actionSchema).min(1, 'name at least one action').max(16),
  })
  .strict()
  .superRefine((j, ctx) => {
    if ((j.cron === undefined) === (j.at === undefined)) ctx.addIssue({ code: 'custom', path: ['cron'], message: 'give either cron (a croner expression) or at (a one-off time), not both' });
    if (j.cron !== undefined) {
      const err = cronError(j.cron);
      if (err) ctx.addIssue({ code: 'custom', path: ['cron'], message: err });
    }
    if (j.timezone !== undefined && !isTimezone(j.timezone)) ctx.addIssue({ code: 'custom', path: ['timezone'], message: `unknown timezone "${j.timezone}"; use an IANA name such as Europe/Berlin or UTC` });
  });
export type JobInput = z.input<typeof jobInputSchema>;
export type JobSpec = z.output<typeof jobInputSchema>;

export type JobSource = 'api' | 'config';

/** A job as the scheduler holds it. */
export interface Job {
  id: string;
  name: string;
  cron: string | null;
  at: number | null;
  timezone: string;
  enabled: boolean;
  catchUp: 'skip' | 'once';
  maxLatenessS: number;
  conditions: JobCondition[];
  actions: JobAction[];
  source: JobSource;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
  /** The latest scheduled instant that was handled (run, skipped or caught up): never handled twice. */
  lastScheduledAt: number | null;
}

export type RunOutcome = 'running' | 'ok' | 'refused' | 'failed' | 'skipped';
export type RunTrigger = 'schedule' | 'catch-up' | 'manual';

export interface StepResult {
  action: string;
  outcome: 'ok' | 'refused' | 'failed' | 'not-run';
  code?: string;
  message: string;
}

export interface JobRun {
  id: number;
  jobId: string;
  /** The instant the schedule named (null for a manual run). */
  scheduledAt: number | null;
  startedAt: number;
  finishedAt: number | null;
  trigger: RunTrigger;
  outcome: RunOutcome;
  code: string | null;
  reason: string | null;
  steps: StepResult[];
  eventIds: number[];
}

/** "path.to.key: message" lines of a zod error, with a prefix (e.g. "jobs.2"). */
export function issueLines(err: z.ZodError, prefix?: string): Array<{ path: string; message: string }> {
  return err.issues.map((i) => ({ path: [prefix, ...i.path.map(String)].filter((x) => x !== undefined && x !== '').join('.'), message: i.message }));
}
