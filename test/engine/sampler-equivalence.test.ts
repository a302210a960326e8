/**
 * The sampler's cheap reject path (issue 15 ingest: no deadband lookups when no level sets one,
 * a count of readings instead of a second pass over the last sample) decides exactly as the
 * straightforward rule: checked against a reference over random reading streams.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Sampler, type SamplingLevels } from '../../src/engine/sampler.js';

type Values = Record<string, number | string | null | undefined>;

/** The rule as first written (sampler.ts before the fast path): two passes, a deadband lookup per numeric change. */
function referenceSampler(levels: SamplingLevels) {
  const rate = levels.find((l) => l?.rateHz !== undefined)?.rateHz ?? 1;
  const intervalMs = rate > 0 ? 1000 / rate : Number.POSITIVE_INFINITY;
  const deadband = (k: string): number | undefined => {
    for (const l of levels) {
      const db = l?.deadband;
      if (db === undefined) continue;
      if (typeof db === 'number') return db;
      if (db[k] !== undefined) return db[k];
    }
    return undefined;
  };
  const changed = (prev: Values, next: Values): boolean => {
    for (const k in next) {
      const a = next[k];
      const b = prev[k];
      if (a === undefined) continue;
      if (typeof a === 'number' && typeof b === 'number') {
        if (a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
        const d = deadband(k);
        if (d !== undefined && Math.abs(a - b) > d) return true;
        continue;
      }
      if (a !== b) return true;
    }
    for (const k in prev) if (!(k in next) || next[k] === undefined) return true;
    return false;
  };
  let last: { ts: number; values: Values; due: number } | undefined;
  return (ts: number, values: Values): boolean => {
    const prev = last;
    const fresh = prev === undefined || ts < prev.ts;
    const periodic = !fresh && ts >= prev.due;
    if (!fresh && !periodic && !changed(prev.values, values)) return false;
    let due = fresh ? ts + intervalMs : prev.due;
    if (periodic) due = ts - prev.due >= intervalMs ? ts + intervalMs : prev.due + intervalMs;
    last = { ts, values: { ...values }, due };
    return true;
  };
}

const value = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(53.5, 53.52, 53.6, 10, 10.04, 0, -1, Number.NaN) },
  { weight: 2, arbitrary: fc.constantFrom('normal', 'walk-in', 'off') },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
/** A reading: some of a few names (a name may be missing, or present with undefined). */
const reading = fc.dictionary(fc.constantFrom('v', 'a', 'state', 'fault', 't'), value, { maxKeys: 5 });
const rule = fc.record(
  {
    rateHz: fc.constantFrom(0, 0.5, 1, 5),
    deadband: fc.oneof(fc.constant(undefined), fc.constantFrom(0, 0.03, 1), fc.dictionary(fc.constantFrom('v', 'a', 't'), fc.constantFrom(0, 0.03, 1), { maxKeys: 2 })),
  },
  { requiredKeys: [] },
);

describe('Sampler fast path', () => {
  it('admits exactly the readings the two-pass rule admits, for random streams, rules and levels', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(rule, { nil: undefined }), { maxLength: 3 }),
        fc.array(fc.tuple(fc.integer({ min: -300, max: 1500 }), reading), { minLength: 1, maxLength: 60 }),
        (levels, stream) => {
          const s = new Sampler(() => levels);
          const ref = referenceSampler(levels);
          let ts = 1_000_000;
          for (const [step, values] of stream) {
            ts += step;
            expect(s.admit('d', ts, values as Record<string, number | string | null>)).toBe(ref(ts, values));
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
