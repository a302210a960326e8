/**
 * When a job fires: croner computes the instants (cron syntax, timezone, DST), nothing else.
 * The scheduler's timers run on the injectable clock (src/clock.ts), so a FakeClock drives them.
 *
 * DST, as croner resolves it: a wall time that does not exist on the spring-forward day (02:30
 * in Europe/Berlin) fires once at the first instant after the gap (03:00 local); a wall time
 * that occurs twice on the fall-back day fires once, at its first occurrence; interval
 * patterns (every hour) fire at every real hour, two "02:00"s included.
 */
import { Cron } from 'croner';
import type { Job } from './spec.js';

type Timed = Pick<Job, 'cron' | 'at' | 'timezone'>;

function cronOf(job: Timed): Cron {
  return new Cron(job.cron!, { paused: true, timezone: job.timezone, mode: '5-or-6-parts' });
}

/** The first fire strictly after `after` (ms), or null (a one-off in the past, an exhausted pattern). */
export function nextFire(job: Timed, after: number): number | null {
  if (job.at !== null) return job.at > after ? job.at : null;
  return cronOf(job).nextRun(new Date(after))?.getTime() ?? null;
}

/** The next `count` fires strictly after `after`. */
export function nextFires(job: Timed, after: number, count: number): number[] {
  if (job.at !== null) return job.at > after && count > 0 ? [job.at] : [];
  return cronOf(job).nextRuns(count, new Date(after)).map((d) => d.getTime());
}

/** The latest fire in (from, to], or null: the slot a downtime made the job miss. */
export function latestFireBetween(job: Timed, from: number, to: number): number | null {
  if (to <= from) return null;
  if (job.at !== null) return job.at > from && job.at <= to ? job.at : null;
  const prev = cronOf(job).previousRuns(1, new Date(to + 1))[0]?.getTime();
  return prev !== undefined && prev > from && prev <= to ? prev : null;
}
