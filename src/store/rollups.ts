// Telemetry rollups: per device and time bucket, per numeric reading, count/min/max/sum and the
// last value (the one with the greatest ts; on a tie, the one that arrived last). Pure: the
// Store accumulates a batch of samples here as they are appended, merges the batch into the
// stored rows in its flush transaction, and rebuilds buckets from raw samples.
import type { SampleRow, SampleValue } from './types.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
/** A daily rollup's width: UTC days (buckets start at UTC midnight). */
export const DAY_MS = 86_400_000;

/** The resolutions a telemetry window can be read at. */
export type Resolution = 'raw' | 'raw-averaged' | '1m' | '1h' | '1d';

export interface KeyStats {
  count: number;
  min: number;
  max: number;
  sum: number;
  last: number;
  lastTs: number;
}

export interface Rollup {
  deviceId: string;
  /** Bucket start (ms, a multiple of the width). */
  bucket: number;
  /** Samples in the bucket (with or without numeric readings). */
  n: number;
  /** Per numeric reading, in first-seen order. */
  stats: Map<string, KeyStats>;
}

/** Per reading, as the API shows a rolled-up point. */
export interface PointStats {
  count: number;
  min: number;
  max: number;
  avg: number;
  last: number;
}

export const bucketOf = (ts: number, widthMs: number): number => Math.floor(ts / widthMs) * widthMs;

export function emptyRollup(deviceId: string, bucket: number): Rollup {
  return { deviceId, bucket, n: 0, stats: new Map() };
}

/** Adds one sample (arriving after everything already in `r`). */
export function addSample(r: Rollup, ts: number, values: Record<string, unknown>): void {
  r.n++;
  for (const key in values) {
    const raw = values[key];
    if (typeof raw !== 'number' || !Number.isFinite(raw)) continue;
    // -0 as +0: the raw sample is stored as JSON, which has no -0, and a rebuild reads that.
    const v = raw + 0;
    const s = r.stats.get(key);
    if (s === undefined) {
      r.stats.set(key, { count: 1, min: v, max: v, sum: v, last: v, lastTs: ts });
      continue;
    }
    s.count++;
    if (v < s.min) s.min = v;
    if (v > s.max) s.max = v;
    s.sum += v;
    if (ts >= s.lastTs) {
      s.last = v;
      s.lastTs = ts;
    }
  }
}

/** Merges `later` (samples that arrived after those of `into`) into `into`. */
export function mergeInto(into: Rollup, later: Rollup): void {
  into.n += later.n;
  for (const [key, b] of later.stats) {
    const a = into.stats.get(key);
    if (a === undefined) {
      into.stats.set(key, { ...b });
      continue;
    }
    a.count += b.count;
    if (b.min < a.min) a.min = b.min;
    if (b.max > a.max) a.max = b.max;
    a.sum += b.sum;
    if (b.lastTs >= a.lastTs) {
      a.last = b.last;
      a.lastTs = b.lastTs;
    }
  }
}

const FIELDS = 6;

export function encodeStats(r: Rollup): { keys: string; stats: Buffer } {
  const keys = [...r.stats.keys()];
  const buf = Buffer.allocUnsafe(keys.length * FIELDS * 8);
  let o = 0;
  for (const s of r.stats.values()) {
    buf.writeDoubleLE(s.count, o);
    buf.writeDoubleLE(s.min, o + 8);
    buf.writeDoubleLE(s.max, o + 16);
    buf.writeDoubleLE(s.sum, o + 24);
    buf.writeDoubleLE(s.last, o + 32);
    buf.writeDoubleLE(s.lastTs, o + 40);
    o += FIELDS * 8;
  }
  return { keys: JSON.stringify(keys), stats: buf };
}

/** Rows of one device share their key list: parsed once. */
const keyLists = new Map<string, string[]>();

function parseKeys(json: string): string[] {
  let k = keyLists.get(json);
  if (k === undefined) {
    k = JSON.parse(json) as string[];
    if (keyLists.size >= 1000) keyLists.clear();
    keyLists.set(json, k);
  }
  return k;
}

export function decodeRollup(deviceId: string, bucket: number, n: number, keysJson: string, stats: Buffer): Rollup {
  const keys = parseKeys(keysJson);
  const m = new Map<string, KeyStats>();
  for (let i = 0, o = 0; i < keys.length; i++, o += FIELDS * 8) {
    m.set(keys[i], {
      count: stats.readDoubleLE(o),
      min: stats.readDoubleLE(o + 8),
      max: stats.readDoubleLE(o + 16),
      sum: stats.readDoubleLE(o + 24),
      last: stats.readDoubleLE(o + 32),
      lastTs: stats.readDoubleLE(o + 40),
    });
  }
  return { deviceId, bucket, n, stats: m };
}

/** Per key list, each key's position (the averages reader's lookup). */
const keyIndexes = new Map<string, Map<string, number>>();

/**
 * One stored bucket's readings as their averages, decoding only the readings asked for (a
 * reader of many buckets that needs one or two readings of each, e.g. energy by day).
 */
export function averagesOf(keysJson: string, stats: Buffer): Record<string, number | undefined> {
  let idx = keyIndexes.get(keysJson);
  if (idx === undefined) {
    idx = new Map(parseKeys(keysJson).map((k, i) => [k, i]));
    if (keyIndexes.size >= 1000) keyIndexes.clear();
    keyIndexes.set(keysJson, idx);
  }
  const at = idx;
  return new Proxy({} as Record<string, number | undefined>, {
    get(_t, key) {
      const i = typeof key === 'string' ? at.get(key) : undefined;
      if (i === undefined) return undefined;
      const o = i * FIELDS * 8;
      return stats.readDoubleLE(o + 24) / stats.readDoubleLE(o);
    },
  });
}

/** A rolled-up point as a telemetry row: each reading's average in `values`, the rest in `stats`. */
export function rollupToRow(r: Rollup, resolution: Resolution, widthMs: number): SampleRow {
  const values: Record<string, SampleValue> = {};
  const stats: Record<string, PointStats> = {};
  for (const [key, s] of r.stats) {
    const avg = s.sum / s.count;
    values[key] = avg;
    stats[key] = { count: s.count, min: s.min, max: s.max, avg, last: s.last };
  }
  return { ts: r.bucket, deviceId: r.deviceId, values, stats, resolution, bucketMs: widthMs, samples: r.n };
}

/**
 * The rollups of one batch of samples, per bucket, for one width. Appends in arrival order;
 * `take()` hands the batch over and starts a new one.
 */
export class RollupBatch {
  private map = new Map<string, Rollup>();
  /** Each device's rollup last added to: devices' samples interleave, so one "last" for all missed every time. */
  private current = new Map<string, Rollup>();

  constructor(readonly widthMs: number) {}

  add(deviceId: string, ts: number, values: Record<string, unknown>): void {
    const bucket = bucketOf(ts, this.widthMs);
    let r = this.current.get(deviceId);
    if (r === undefined || r.bucket !== bucket) {
      const k = `${bucket}|${deviceId}`;
      r = this.map.get(k);
      if (r === undefined) {
        r = emptyRollup(deviceId, bucket);
        this.map.set(k, r);
      }
      this.current.set(deviceId, r);
    }
    addSample(r, ts, values);
  }

  get size(): number {
    return this.map.size;
  }

  rollups(): IterableIterator<Rollup> {
    return this.map.values();
  }

  clear(): void {
    this.map = new Map();
    this.current = new Map();
  }
}

/**
 * Merges rollups (ascending by bucket, one device) into buckets `widthMs` wide, aligned on
 * `originMs`: for a window with more hourly buckets than points.
 */
export function coarsen(rows: Iterable<Rollup>, widthMs: number, originMs: number): Rollup[] {
  const out: Rollup[] = [];
  let cur: Rollup | null = null;
  for (const r of rows) {
    const b = originMs + Math.floor((r.bucket - originMs) / widthMs) * widthMs;
    if (cur === null || cur.bucket !== b) {
      cur = emptyRollup(r.deviceId, b);
      out.push(cur);
    }
    mergeInto(cur, r);
  }
  return out;
}

/** A stored rollup row as read in raw (array) mode, its stats still encoded: [bucket, n, keys, stats]. */
export type EncodedRollupRow = [bucket: number, n: number, keys: string, stats: Buffer];

/**
 * Stored rollup rows of one device (ascending by bucket) straight to telemetry rows, merged into
 * buckets `widthMs` wide aligned on `originMs` (rows as wide as `widthMs` stay one point each).
 * The same points as decodeRollup → coarsen → rollupToRow, without a Map and six objects per
 * stored row: a year of hourly rows is read in a few ms instead of tens.
 */
export function rollupRowsToPoints(rows: Iterable<EncodedRollupRow>, deviceId: string, widthMs: number, originMs: number, resolution: Resolution): SampleRow[] {
  const out: SampleRow[] = [];
  let bucket = NaN;
  let n = 0;
  // Per reading of the current point, in first-seen order: [count, min, max, sum, last, lastTs].
  let keys: string[] = [];
  let acc: number[][] = [];
  let index = new Map<string, number>();
  /** The key list of the bucket's first row (the readings are in its order). */
  let first: string[] | null = null;
  const emit = () => {
    const values: Record<string, SampleValue> = {};
    const stats: Record<string, PointStats> = {};
    for (let i = 0; i < keys.length; i++) {
      const a = acc[i];
      const avg = a[3] / a[0];
      values[keys[i]] = avg;
      stats[keys[i]] = { count: a[0], min: a[1], max: a[2], avg, last: a[4] };
    }
    out.push({ ts: bucket, deviceId, values, stats, resolution, bucketMs: widthMs, samples: n });
  };
  for (const r of rows) {
    const b = originMs + Math.floor((r[0] - originMs) / widthMs) * widthMs;
    if (b !== bucket) {
      if (!Number.isNaN(bucket)) emit();
      bucket = b;
      n = 0;
      keys = [];
      acc = [];
      index = new Map();
      first = null;
    }
    n += r[1];
    const rk = parseKeys(r[2]);
    const opening = keys.length === 0;
    const s = r[3];
    for (let i = 0, o = 0; i < rk.length; i++, o += FIELDS * 8) {
      const count = s.readDoubleLE(o);
      const min = s.readDoubleLE(o + 8);
      const max = s.readDoubleLE(o + 16);
      const sum = s.readDoubleLE(o + 24);
      const last = s.readDoubleLE(o + 32);
      const lastTs = s.readDoubleLE(o + 40);
      // Rows of a device share one key list (the same parsed array): its i-th key is the i-th reading.
      const k = rk === first ? i : index.get(rk[i]);
      if (k === undefined) {
        index.set(rk[i], keys.length);
        keys.push(rk[i]);
        acc.push([count, min, max, sum, last, lastTs]);
        continue;
      }
      const a = acc[k];
      a[0] += count;
      if (min < a[1]) a[1] = min;
      if (max > a[2]) a[2] = max;
      a[3] += sum;
      if (lastTs >= a[5]) {
        a[4] = last;
        a[5] = lastTs;
      }
    }
    if (opening) first = rk;
  }
  if (!Number.isNaN(bucket)) emit();
  return out;
}
