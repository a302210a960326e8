/**
 * Energy per device and local day, for the dashboard's energy today / week / month.
 *
 * From the store's rollups (src/store/rollups.ts): each bucket's power is the family's power
 * reading taken over the bucket's averages, and its energy that power × the part of the bucket
 * inside the window (the running minute counts up to `to`). The minute rollups serve today (from
 * the hour that holds today's local midnight; further back only where the hourly ones cannot
 * serve); the hours before come from the hourly rollups. A bucket split by a local midnight is
 * shared between the two days by time. Reading fewer rows is the point: a minute rollup row per
 * device and minute of a month is most of a second of SQLite reads on this hardware.
 *
 * How exact: a power reading that is one value (powerW, outputPowerW, pvPowerW) is averaged
 * exactly, so a minute's energy is exact while the device reported through that minute. Where
 * power is V × I of two averages the error is the covariance of V and I within the bucket
 * (negligible at a minute). A bucket counts whole when the device reported in it: up to one
 * minute too much where a device came or went. An hour from the hourly range (the days before
 * today) counts the share of it the device reported in, its sample count against the median
 * count of the window's hours (a device reports at a steady rate): exact for whole hours, an
 * estimate for the hour a device came or went; a battery that changes direction inside a bucket counts
 * the bucket's net. Buckets the rollups do not have yet (a store being rebuilt after an
 * upgrade) are integrated from the raw samples instead (energyFromSamples).
 *
 * Which value is a device kind's power comes from its family's config entry (`energy`, in
 * src/families/<kind>/config.ts; registry.ts `energySources`).
 */
import type { Store } from './store.js';
import { HOUR_MS, MINUTE_MS, averagesOf } from './rollups.js';

export const MAX_GAP_MS = 60_000;
const DAY_MS = 86_400_000;

type Values = Record<string, unknown>;
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A kind's power in W from one sample: + in its main direction (delivered, charged, produced), − the other way. */
export interface EnergySource {
  what: string;
  reverse?: string;
  power(v: Values): number | null;
}

/** v[a] × v[b] when both are finite numbers (a power from a voltage and a current). */
export function mul(a: unknown, b: unknown): number | null {
  const x = num(a);
  const y = num(b);
  return x === null || y === null ? null : x * y;
}

export { num as finiteOrNull };

export interface EnergyDay {
  /** The local day, YYYY-MM-DD, in the caller's time zone offset. */
  day: string;
  deviceId: string;
  kind: string;
  /** Wh in the main direction (delivered, charged, produced). */
  wh: number;
  /** Wh the other way (discharged); 0 for one-way devices. */
  whReverse: number;
}

/** The local day of `ts` for a zone `tzOffsetMin` minutes east of UTC. */
export function dayOf(ts: number, tzOffsetMin: number): string {
  return new Date(ts + tzOffsetMin * 60_000).toISOString().slice(0, 10);
}

export interface EnergyOptions {
  from: number;
  to: number;
  tzOffsetMin: number;
  devices: ReadonlyArray<{ id: string; kind: string }>;
  sources: Readonly<Record<string, EnergySource>>;
}

/** Accumulates Wh per device and local day. */
class DayTotals {
  private readonly out = new Map<string, EnergyDay>();
  constructor(private readonly tzOffsetMin: number) {}

  add(d: { id: string; kind: string }, ts: number, wh: number): void {
    if (wh === 0) return;
    const day = dayOf(ts, this.tzOffsetMin);
    const key = `${d.id}|${day}`;
    let acc = this.out.get(key);
    if (acc === undefined) {
      acc = { day, deviceId: d.id, kind: d.kind, wh: 0, whReverse: 0 };
      this.out.set(key, acc);
    }
    if (wh > 0) acc.wh += wh;
    else acc.whReverse += -wh;
  }

  /** `w` watts over [a, b), shared between the local days it spans. */
  spread(d: { id: string; kind: string }, w: number, a: number, b: number): void {
    const tz = this.tzOffsetMin * 60_000;
    while (a < b) {
      const nextMidnight = Math.floor((a + tz) / DAY_MS) * DAY_MS + DAY_MS - tz;
      const end = Math.min(b, nextMidnight);
      this.add(d, a, (w * (end - a)) / 3_600_000);
      a = end;
    }
  }

  rows(): EnergyDay[] {
    return [...this.out.values()].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  }
}

function median(xs: number[]): number {
  if (!xs.length) return 1;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Energy per device and local day over [from, to), from the rollups (see the head of this file). */
export function energyByDay(store: Pick<Store, 'telemetry' | 'rollupRows' | 'rollupCoverage'>, opts: EnergyOptions): EnergyDay[] {
  const totals = new DayTotals(opts.tzOffsetMin);
  const { from, to } = opts;
  if (!(from < to)) return [];
  const cover = store.rollupCoverage;
  // Before the rollups are complete: the raw samples.
  const start = Math.min(to, Math.max(from, cover.from));
  if (from < start) integrateSamples(store, { ...opts, to: start }, totals);
  const tz = opts.tzOffsetMin * 60_000;
  const todayMidnight = Math.floor((to - 1 + tz) / DAY_MS) * DAY_MS - tz;
  const minuteStart = Math.min(to, Math.max(start, Math.ceil(cover.minuteFrom / MINUTE_MS) * MINUTE_MS, Math.floor(todayMidnight / HOUR_MS) * HOUR_MS));
  for (const d of opts.devices) {
    const p = opts.sources[d.kind];
    if (!p) continue;
    /** The bucket's average power over [bucket, bucket + covered) ∩ [lo, hi). */
    type Row = ReturnType<Store['rollupRows']>[number];
    const take = (r: Row, covered: number, lo: number, hi: number) => {
      const a = Math.max(r.bucket, lo);
      const b = Math.min(r.bucket + covered, hi);
      if (!(a < b)) return;
      const w = p.power(averagesOf(r.keys, r.stats));
      if (w !== null && Number.isFinite(w)) totals.spread(d, w, a, b);
    };
    if (start < minuteStart) {
      // An hour counts the part of it the device reported in: its samples against the median
      // count of the window's hours (a device reports at a steady rate; most hours are whole).
      const hours = store.rollupRows(d.id, '1h', start, minuteStart - 1);
      const full = median(hours.map((r) => r.n));
      for (const r of hours) take(r, HOUR_MS * Math.min(1, r.n / full), start, minuteStart);
    }
    if (minuteStart < to) for (const r of store.rollupRows(d.id, '1m', minuteStart, to - 1)) take(r, MINUTE_MS, minuteStart, to);
  }
  return totals.rows();
}

/**
 * Energy per device and local day over [from, to) from the raw samples: the power each sample
 * reports, integrated over time (trapezoids; a gap longer than MAX_GAP_MS counts nothing, the
 * device was away; a sample without the power reading, e.g. another reply of the same device,
 * is passed over).
 */
export function energyFromSamples(store: Pick<Store, 'telemetry'>, opts: EnergyOptions): EnergyDay[] {
  const totals = new DayTotals(opts.tzOffsetMin);
  integrateSamples(store, opts, totals);
  return totals.rows();
}

function integrateSamples(store: Pick<Store, 'telemetry'>, opts: EnergyOptions, totals: DayTotals): void {
  for (const d of opts.devices) {
    const p = opts.sources[d.kind];
    if (!p) continue;
    const rows = store.telemetry(d.id, opts.from, opts.to - 1, Number.MAX_SAFE_INTEGER);
    let prev: { ts: number; w: number } | null = null;
    for (const r of rows) {
      const w = p.power(r.values as Values);
      if (w === null) continue;
      if (prev && r.ts > prev.ts && r.ts - prev.ts <= MAX_GAP_MS) totals.add(d, prev.ts, (((prev.w + w) / 2) * (r.ts - prev.ts)) / 3_600_000);
      prev = { ts: r.ts, w };
    }
  }
}
