/**
 * What a simulator saw (requests received, setters applied, reports written), oldest first:
 * the record tests assert on ("never interleaved", "no $SC was sent"). Only the most recent
 * `SIM_RECORD_LIMIT` entries are kept, because the built-in rig runs a simulator for days:
 * kept whole, the MK2 simulator's record alone grew by ~2 MB a minute at `--sim-speed 50` (heap
 * snapshots: 32,000 frames in 200 s), about 55 MB a day at real speed (defect 15.8).
 *
 * The record stays a plain array (index, slice, filter and `length` work as before); when it is
 * full, the oldest eighth is dropped at once, so a push costs O(1) amortised. An index kept
 * across that drop (`before = sim.received.length`) would point further on: a test stays well
 * below the limit between the two reads.
 */
export const SIM_RECORD_LIMIT = 5_000;

/** Appends `entry` to `log`, dropping the oldest entries first so that it never holds more than `limit`. */
export function record<T>(log: T[], entry: T, limit = SIM_RECORD_LIMIT): void {
  if (log.length >= limit) log.splice(0, log.length - limit + Math.max(1, limit >> 3));
  log.push(entry);
}
