// Time-bucketed averaging of telemetry rows, streamed: rows arrive in ascending ts and
// only the current bucket is held, so a window of millions of samples costs O(buckets)
// memory.
import type { SampleRow, SampleValue } from './types.js';

interface KeyAcc {
  sum: number;
  n: number;
  /** Last string (or null) seen for this key, used when it had no numeric value. */
  last: SampleValue;
}

/**
 * Splits [minTs, maxTs] into at most maxPoints equal-width buckets and emits one row per
 * non-empty bucket: ts is the mean ts of its rows (rounded), each numeric field is the
 * mean of its numeric values, a field that was never numeric keeps its last value.
 */
export class BucketAverager {
  private readonly widthMs: number;
  private readonly out: SampleRow[] = [];
  private bucket = -1;
  private rows = 0;
  private tsSum = 0;
  private keys = new Map<string, KeyAcc>();

  constructor(
    private readonly deviceId: string,
    private readonly minTs: number,
    maxTs: number,
    maxPoints: number,
  ) {
    this.widthMs = Math.max(1, Math.ceil((maxTs - minTs + 1) / Math.max(1, maxPoints)));
  }

  /** Rows must be added in ascending ts order. */
  add(ts: number, values: Record<string, unknown>): void {
    const b = Math.floor((ts - this.minTs) / this.widthMs);
    if (b !== this.bucket) {
      this.emit();
      this.bucket = b;
    }
    this.rows++;
    this.tsSum += ts;
    for (const key in values) {
      const v = values[key];
      let acc = this.keys.get(key);
      if (acc === undefined) {
        acc = { sum: 0, n: 0, last: null };
        this.keys.set(key, acc);
      }
      if (typeof v === 'number') {
        if (Number.isFinite(v)) {
          acc.sum += v;
          acc.n++;
        }
      } else if (typeof v === 'string') {
        acc.last = v;
      }
    }
  }

  finish(): SampleRow[] {
    this.emit();
    return this.out;
  }

  private emit(): void {
    if (this.rows === 0) return;
    const values: Record<string, SampleValue> = {};
    for (const [key, acc] of this.keys) values[key] = acc.n > 0 ? acc.sum / acc.n : acc.last;
    this.out.push({ ts: Math.round(this.tsSum / this.rows), deviceId: this.deviceId, values });
    this.rows = 0;
    this.tsSum = 0;
    this.keys = new Map();
  }
}
