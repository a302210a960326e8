/**
 * Which readings become telemetry samples in the store (issue 15 item 2). Live subscribers see
 * every reading; the history keeps, per device, one sample every 1/rateHz seconds (default 1 Hz;
 * the first reading at or after each due time, on a grid, so the rate holds on average) plus
 * every reading that changed beyond its deadband since the last sample kept: a numeric
 * reading by more than its deadband (none by default: the rate alone), a text reading or a
 * null/present change always (a state change is worth a sample). Raw frames are not sampled.
 *
 * A rule can be set globally (`database.sampling`), per link (`links[].sampling`) and per device
 * (`links[].sampling.devices.<id>`); the most specific level that sets a field wins, and a
 * deadband is looked up per reading through the levels (a map by reading name, or one number
 * for every numeric reading of that level).
 */
export interface SamplingRule {
  /** Samples per second kept at most when nothing changes beyond its deadband; 0: only on change. */
  rateHz?: number;
  /** Absolute deadband: one number for every numeric reading, or per reading name. */
  deadband?: number | Record<string, number>;
}

/** The levels of rules that apply to one device, most specific first. */
export type SamplingLevels = ReadonlyArray<SamplingRule | undefined>;

export const DEFAULT_SAMPLE_RATE_HZ = 1;

type Values = Record<string, number | string | null>;

interface Resolved {
  intervalMs: number;
  deadband: (reading: string) => number | undefined;
  /** No level sets a deadband: a numeric reading alone never makes a change (the cheap reject path). */
  noDeadband: boolean;
}

function resolve(levels: SamplingLevels): Resolved {
  const rate = levels.find((l) => l?.rateHz !== undefined)?.rateHz ?? DEFAULT_SAMPLE_RATE_HZ;
  const cache = new Map<string, number | undefined>();
  return {
    intervalMs: rate > 0 ? 1000 / rate : Number.POSITIVE_INFINITY,
    noDeadband: levels.every((l) => l?.deadband === undefined),
    deadband: (reading) => {
      if (cache.has(reading)) return cache.get(reading);
      let d: number | undefined;
      for (const l of levels) {
        const db = l?.deadband;
        if (db === undefined) continue;
        if (typeof db === 'number') {
          d = db;
          break;
        }
        if (db[reading] !== undefined) {
          d = db[reading];
          break;
        }
      }
      cache.set(reading, d);
      return d;
    },
  };
}

export class Sampler {
  /** Per device: the last sample kept, and when the next periodic one is due. */
  private readonly last = new Map<string, { ts: number; values: Values; keys: number; due: number }>();
  private readonly rules = new Map<string, Resolved>();

  /** `levelsFor(deviceId)`: the rules for a device, most specific first (asked once per device). */
  constructor(private readonly levelsFor: (deviceId: string) => SamplingLevels = () => []) {}

  /** Whether this reading is to be stored as a sample; remembers it as the last one kept when so. */
  admit(deviceId: string, ts: number, values: Values): boolean {
    const prev = this.last.get(deviceId);
    let rule = this.rules.get(deviceId);
    if (rule === undefined) {
      rule = resolve(this.levelsFor(deviceId));
      this.rules.set(deviceId, rule);
    }
    // Periodic samples are due on a grid (every intervalMs from the first), so the rate holds on
    // average whatever the readings' own period; a change beyond a deadband is kept in between.
    const fresh = prev === undefined || ts < prev.ts;
    const periodic = !fresh && ts >= prev.due;
    if (!fresh && !periodic && !changed(prev.values, prev.keys, values, rule)) return false;
    let due = fresh ? ts + rule.intervalMs : prev.due;
    if (periodic) due = ts - prev.due >= rule.intervalMs ? ts + rule.intervalMs : prev.due + rule.intervalMs;
    // The values are copied: a caller may reuse its object.
    const copy = { ...values };
    let keys = 0;
    for (const _ in copy) keys++;
    this.last.set(deviceId, { ts, values: copy, keys, due });
    return true;
  }

  /** Forgets the resolved rules (after a config change); the last samples kept stay. */
  reset(): void {
    this.rules.clear();
  }
}

/**
 * Whether `next` changed beyond the rule since `prev` (which has `prevKeys` keys): a numeric
 * reading beyond its deadband, any other value that differs, a reading that appeared or went.
 */
function changed(prev: Values, prevKeys: number, next: Values, rule: Resolved): boolean {
  // Readings of `next` that have a value; each one that gets past the loop is a key of `prev`
  // too (equal to a value of prev, or a number where prev has a number).
  let present = 0;
  for (const k in next) {
    const a = next[k];
    if (a === undefined) continue;
    present++;
    const b = prev[k];
    if (typeof a === 'number' && typeof b === 'number') {
      if (rule.noDeadband || a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
      const d = rule.deadband(k);
      if (d !== undefined && Math.abs(a - b) > d) return true;
      continue;
    }
    if (a !== b) return true;
  }
  // So a reading of `prev` that `next` lacks (or has undefined) shows as fewer readings present.
  return present !== prevKeys;
}
