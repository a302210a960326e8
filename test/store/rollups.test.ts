// Telemetry rollups, resolution selection and batched pruning on real SQLite files.
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, type StoreOptions } from '../../src/store/store.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, RollupBatch, addSample, bucketOf, coarsen, decodeRollup, emptyRollup, encodeStats, rollupRowsToPoints, rollupToRow, type EncodedRollupRow, type Rollup } from '../../src/store/rollups.js';

let dir: string;
let n = 0;
const open: Store[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pp-rollups-'));
});
afterEach(() => {
  for (const s of open.splice(0)) {
    try {
      s.close();
    } catch {
      // already closed
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

function openStore(file: string, opts: Partial<StoreOptions> = {}): Store {
  const s = Store.open({ path: path.join(dir, file), flushIntervalMs: 600_000, backfillRollups: false, ...opts });
  open.push(s);
  return s;
}

type Values = Record<string, number | string | null>;
interface In {
  dev: string;
  ts: number;
  values: Values;
}

interface Expected {
  n: number;
  stats: Map<string, { count: number; min: number; max: number; sum: number; last: number; lastTs: number }>;
}

/** The rollups, computed directly over the raw samples in arrival order (ties in ts: the later arrival is last). */
function direct(samples: In[], dev: string, width: number): Map<number, Expected> {
  const out = new Map<number, Expected>();
  for (const s of samples) {
    if (s.dev !== dev) continue;
    const b = bucketOf(s.ts, width);
    let e = out.get(b);
    if (!e) out.set(b, (e = { n: 0, stats: new Map() }));
    e.n++;
    for (const [k, raw] of Object.entries(s.values)) {
      if (typeof raw !== 'number' || !Number.isFinite(raw)) continue;
      const v = raw + 0; // a stored sample is JSON: no -0

      const st = e.stats.get(k);
      if (!st) {
        e.stats.set(k, { count: 1, min: v, max: v, sum: v, last: v, lastTs: s.ts });
        continue;
      }
      st.count++;
      st.min = Math.min(st.min, v);
      st.max = Math.max(st.max, v);
      st.sum += v;
      if (s.ts >= st.lastTs) {
        st.last = v;
        st.lastTs = s.ts;
      }
    }
  }
  return out;
}

function expectRollupsMatch(got: Rollup[], want: Map<number, Expected>): void {
  expect(got.map((r) => r.bucket)).toEqual([...want.keys()].sort((a, b) => a - b));
  for (const r of got) {
    const w = want.get(r.bucket)!;
    expect(r.n).toBe(w.n);
    expect([...r.stats.keys()].sort()).toEqual([...w.stats.keys()].sort());
    for (const [k, s] of w.stats) {
      const g = r.stats.get(k)!;
      expect(g.count).toBe(s.count);
      expect(g.min).toBe(s.min);
      expect(g.max).toBe(s.max);
      expect(g.last).toBe(s.last);
      expect(g.lastTs).toBe(s.lastTs);
      expect(g.sum).toBeCloseTo(s.sum, 6);
    }
  }
}

const T0 = 1_800_000_000_000; // an hour boundary
/** Timestamps over three hours, half of them within a ms of a minute or hour edge. */
const tsArb = fc.oneof(
  fc.integer({ min: 0, max: 3 * HOUR_MS - 1 }),
  fc.tuple(fc.integer({ min: 0, max: 180 }), fc.constantFrom(-1, 0, 1)).map(([k, d]) => Math.max(0, k * MINUTE_MS + d)),
).map((t) => T0 + t);
const valuesArb: fc.Arbitrary<Values> = fc.record(
  {
    v: fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double({ min: -1e3, max: 1e3, noNaN: true })),
    w: fc.integer({ min: 0, max: 50 }),
    mode: fc.constantFrom('cc', 'cv'),
    fault: fc.constant(null),
  },
  { requiredKeys: [] },
);
const streamArb = fc.array(
  fc.record({ dev: fc.constantFrom('a', 'b'), ts: tsArb, values: valuesArb, flushAfter: fc.boolean() }),
  { minLength: 1, maxLength: 120 },
);

describe('telemetry rollups', () => {
  it('per-minute and per-hour rollups equal a direct computation over the raw samples (random streams, gaps, out-of-order arrivals at bucket edges, any flush points), written incrementally and rebuilt when missing', async () => {
    await fc.assert(
      fc.asyncProperty(streamArb, async (stream) => {
        const file = `p${n++}.db`;
        const s = openStore(file, { maxBatch: 7 });
        for (const x of stream) {
          s.appendSample({ ts: x.ts, deviceId: x.dev, values: x.values });
          if (x.flushAfter) s.flush();
        }
        const from = T0 - HOUR_MS;
        const to = T0 + 4 * HOUR_MS;
        for (const dev of ['a', 'b']) {
          expectRollupsMatch(s.rollups(dev, '1m', from, to), direct(stream, dev, MINUTE_MS));
          expectRollupsMatch(s.rollups(dev, '1h', from, to), direct(stream, dev, HOUR_MS));
          expectRollupsMatch(s.rollups(dev, '1d', from, to), direct(stream, dev, DAY_MS));
        }
        s.close();
        // Rollups missing (a store from before them): rebuilt from the raw samples.
        const db = new Database(path.join(dir, file));
        db.exec("DELETE FROM rollups_1m; DELETE FROM rollups_1h; DELETE FROM rollups_1d; DELETE FROM store_meta WHERE key IN ('rollup_backfill_below', 'rollups_1d_backfill_below')");
        db.close();
        const again = openStore(file);
        expect(again.rollupsComplete).toBe(false);
        await again.backfillRollups();
        expect(again.rollupsComplete).toBe(true);
        for (const dev of ['a', 'b']) {
          expectRollupsMatch(again.rollups(dev, '1m', from, to), direct(stream, dev, MINUTE_MS));
          expectRollupsMatch(again.rollups(dev, '1h', from, to), direct(stream, dev, HOUR_MS));
          expectRollupsMatch(again.rollups(dev, '1d', from, to), direct(stream, dev, DAY_MS));
        }
        again.close();
      }),
      { numRuns: Number(process.env.PP_RUNS ?? 40) },
    );
  });

  it('per-day rollups equal a direct computation over the raw samples across UTC day edges (written incrementally), and are rebuilt from the hourly rows when missing', async () => {
    const D0 = Date.UTC(2027, 0, 1); // a UTC midnight
    const dayTs = fc
      .oneof(
        fc.integer({ min: 0, max: 3 * DAY_MS - 1 }),
        fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom(-1, 0, 1)).map(([k, d]) => Math.max(0, k * DAY_MS + d)),
        fc.tuple(fc.integer({ min: 0, max: 72 }), fc.constantFrom(-1, 0, 1)).map(([k, d]) => Math.max(0, k * HOUR_MS + d)),
      )
      .map((t) => D0 + t);
    const days = fc.array(fc.record({ dev: fc.constantFrom('a', 'b'), ts: dayTs, values: valuesArb, flushAfter: fc.boolean() }), { minLength: 1, maxLength: 120 });
    await fc.assert(
      fc.asyncProperty(days, async (stream) => {
        const file = `d${n++}.db`;
        const s = openStore(file, { maxBatch: 7 });
        for (const x of stream) {
          s.appendSample({ ts: x.ts, deviceId: x.dev, values: x.values });
          if (x.flushAfter) s.flush();
        }
        const from = D0 - DAY_MS;
        const to = D0 + 5 * DAY_MS;
        for (const dev of ['a', 'b']) expectRollupsMatch(s.rollups(dev, '1d', from, to), direct(stream, dev, DAY_MS));
        s.close();
        // Daily rollups missing (a store from before migration 0022): rebuilt from the hourly rows.
        const db = new Database(path.join(dir, file));
        db.exec("DELETE FROM rollups_1d; DELETE FROM store_meta WHERE key = 'rollups_1d_backfill_below'");
        db.close();
        const again = openStore(file);
        expect(again.dayRollupsComplete).toBe(false);
        // A sample arriving while the rebuild waits joins the day it falls in.
        const late = { dev: 'a', ts: Math.max(...stream.map((x) => x.ts)), values: { v: 7 } };
        again.appendSample({ ts: late.ts, deviceId: late.dev, values: late.values });
        await again.backfillDayRollups();
        expect(again.dayRollupsComplete).toBe(true);
        const all = [...stream, late];
        for (const dev of ['a', 'b']) expectRollupsMatch(again.rollups(dev, '1d', from, to), direct(all, dev, DAY_MS));
        again.close();
      }),
      { numRuns: Number(process.env.PP_RUNS ?? 30) },
    );
  });

  it('a new store has nothing to rebuild; a store with samples and no rollups starts rebuilding at open', async () => {
    expect(openStore('empty.db').rollupsComplete).toBe(true);
    const s = openStore('old.db');
    for (let i = 0; i < 600; i++) s.appendSample({ ts: T0 + i * 10_000, deviceId: 'a', values: { v: i } });
    s.close();
    const db = new Database(path.join(dir, 'old.db'));
    db.exec("DELETE FROM rollups_1m; DELETE FROM rollups_1h; DELETE FROM store_meta WHERE key = 'rollup_backfill_below'");
    db.close();
    const again = openStore('old.db', { backfillRollups: true });
    expect(again.rollupsComplete).toBe(false);
    await again.backfillRollups();
    expect(again.rollups('a', '1h', T0, T0 + 2 * HOUR_MS).map((r) => r.n)).toEqual([360, 240]);
  });
});

describe('telemetry resolution', () => {
  const STEP = 20_000; // a sample every 20 s for four days
  const DAYS = 4;
  function filled(opts: Partial<StoreOptions> = {}): { s: Store; samples: In[] } {
    const s = openStore(`res${n++}.db`, { rawWindowCap: 100, ...opts });
    const samples: In[] = [];
    for (let t = 0; t < DAYS * 24 * HOUR_MS; t += STEP) {
      const x = { dev: 'psu', ts: T0 + t, values: { v: (t / STEP) % 97, mode: 'cc' } };
      samples.push(x);
      s.appendSample({ ts: x.ts, deviceId: x.dev, values: x.values });
    }
    s.flush();
    return { s, samples };
  }

  it('picks raw for short windows, averaged raw up to the cap, then minute (merged), hour and merged-hour rollups, never more than maxPoints', () => {
    const { s, samples } = filled();
    const cases: Array<[number, number, number, string, number | null]> = [
      // [from offset, span, maxPoints, resolution, bucketMs]
      [HOUR_MS, 10 * MINUTE_MS, 100, 'raw', null],
      [HOUR_MS, HOUR_MS - 1, 100, '1m', MINUTE_MS],
      [HOUR_MS, 24 * HOUR_MS - 1, 100, '1m', 15 * MINUTE_MS],
      [HOUR_MS, 3 * 24 * HOUR_MS - 1, 100, '1h', HOUR_MS],
      [0, DAYS * 24 * HOUR_MS - 1, 20, '1h', 5 * HOUR_MS],
    ];
    for (const [off, span, maxPoints, resolution, bucketMs] of cases) {
      const from = T0 + off;
      const to = from + span;
      expect(s.telemetryPlan('psu', from, to, maxPoints)).toEqual({ resolution, bucketMs });
      const pts = s.telemetry('psu', from, to, maxPoints);
      expect(pts.length).toBeGreaterThan(0);
      expect(pts.length).toBeLessThanOrEqual(maxPoints);
      expect(pts.every((p, i) => i === 0 || p.ts > pts[i - 1].ts)).toBe(true);
      if (resolution === 'raw') continue;
      // Each point against the raw samples of its bucket.
      for (const p of pts) {
        const inBucket = samples.filter((x) => x.ts >= p.ts && x.ts < p.ts + p.bucketMs!);
        expect(p.samples).toBe(inBucket.length);
        const vs = inBucket.map((x) => x.values.v as number);
        expect(p.stats!.v).toEqual({ count: vs.length, min: Math.min(...vs), max: Math.max(...vs), avg: expect.closeTo(vs.reduce((a, b) => a + b, 0) / vs.length, 9), last: vs[vs.length - 1] });
        expect(p.values.v).toBeCloseTo(p.stats!.v.avg, 9);
        expect(p.resolution).toBe(resolution);
      }
    }
    // Up to the raw cap, averaged raw samples (their text readings kept).
    const wide = openStore(`res${n++}.db`, { rawWindowCap: 1000 });
    for (const x of samples.slice(0, 400)) wide.appendSample({ ts: x.ts, deviceId: x.dev, values: x.values });
    expect(wide.telemetryPlan('psu', T0, T0 + 2 * HOUR_MS, 100).resolution).toBe('raw-averaged');
    const avg = wide.telemetry('psu', T0, T0 + 2 * HOUR_MS, 100);
    expect(avg.length).toBeLessThanOrEqual(100);
    expect(avg[0].values.mode).toBe('cc');
  });

  it('reads a window whose raw samples were pruned from rollups, and an older one than the minute retention from hourly rollups', () => {
    const { s, samples } = filled({ rawWindowCap: 10_000 });
    s.prune({ samplesOlderThan: T0 + 2 * 24 * HOUR_MS, minuteRollupsOlderThan: T0 + 24 * HOUR_MS });
    // Day 2 (raw pruned, minute rollups kept): 6 h at 1-minute resolution.
    const from = T0 + 24 * HOUR_MS;
    expect(s.telemetryPlan('psu', from, from + 6 * HOUR_MS - 1, 10_000)).toEqual({ resolution: '1m', bucketMs: MINUTE_MS });
    const pts = s.telemetry('psu', from, from + 6 * HOUR_MS - 1, 10_000);
    expect(pts).toHaveLength(360);
    expect(pts.reduce((a, p) => a + p.samples!, 0)).toBe(samples.filter((x) => x.ts >= from && x.ts < from + 6 * HOUR_MS).length);
    // Day 1 (minute rollups pruned too): hourly.
    expect(s.telemetryPlan('psu', T0, T0 + 6 * HOUR_MS - 1, 10_000)).toEqual({ resolution: '1h', bucketMs: HOUR_MS });
    expect(s.telemetry('psu', T0, T0 + 6 * HOUR_MS - 1, 10_000).map((p) => p.samples)).toEqual([180, 180, 180, 180, 180, 180]);
    // Recent raw samples are still raw.
    const recent = T0 + 3 * 24 * HOUR_MS;
    expect(s.telemetryPlan('psu', recent, recent + 10 * MINUTE_MS, 100).resolution).toBe('raw');
  });
});

describe('telemetry resolution over a year', () => {
  const D0 = Date.UTC(2026, 0, 1);
  const STEP = 20 * MINUTE_MS; // a sample every 20 min for 400 days
  function yearStore(): { s: Store; samples: In[] } {
    const s = openStore(`year${n++}.db`, { rawWindowCap: 100 });
    const samples: In[] = [];
    for (let t = D0; t < D0 + 400 * DAY_MS; t += STEP) {
      const x = { dev: 'psu', ts: t, values: { v: ((t - D0) / STEP) % 89, mode: 'cc' } };
      samples.push(x);
      s.appendSample({ ts: x.ts, deviceId: x.dev, values: x.values });
    }
    s.flush();
    return { s, samples };
  }

  it('a 1-year window reads daily rollups (366 points for maxPoints 2000, each equal to its raw samples); 50 days and less read hourly ones; while the daily rows are rebuilding it reads merged hourly ones', async () => {
    const { s, samples } = yearStore();
    const to = D0 + 400 * DAY_MS - 1;
    const from = to - 365 * DAY_MS;
    expect(s.telemetryPlan('psu', from, to, 2000)).toEqual({ resolution: '1d', bucketMs: DAY_MS });
    const pts = s.telemetry('psu', from, to, 2000);
    expect(pts).toHaveLength(366);
    for (const p of pts) {
      const vs = samples.filter((x) => x.ts >= p.ts && x.ts < p.ts + DAY_MS).map((x) => x.values.v as number);
      expect(p.resolution).toBe('1d');
      expect(p.samples).toBe(vs.length);
      expect(p.stats!.v).toEqual({ count: vs.length, min: Math.min(...vs), max: Math.max(...vs), avg: expect.closeTo(vs.reduce((a, b) => a + b, 0) / vs.length, 9), last: vs[vs.length - 1] });
    }
    // Fewer points than days: days merged.
    expect(s.telemetryPlan('psu', from, to, 100)).toEqual({ resolution: '1d', bucketMs: 4 * DAY_MS });
    expect(s.telemetry('psu', from, to, 100).length).toBeLessThanOrEqual(100);
    // Up to 1,200 hours: hourly (merged past maxPoints); beyond: daily, whatever maxPoints.
    expect(s.telemetryPlan('psu', to - 50 * DAY_MS + 1, to, 2000)).toEqual({ resolution: '1h', bucketMs: HOUR_MS });
    expect(s.telemetryPlan('psu', to - 50 * DAY_MS + 1, to, 600)).toEqual({ resolution: '1h', bucketMs: 2 * HOUR_MS });
    expect(s.telemetryPlan('psu', to - 90 * DAY_MS, to, 2000)).toEqual({ resolution: '1d', bucketMs: DAY_MS });
    expect(s.telemetryPlan('psu', to - 90 * DAY_MS, to, 5000)).toEqual({ resolution: '1d', bucketMs: DAY_MS });
    s.close();
    // Daily rows missing: hourly (merged into ≤ maxPoints) until the rebuild is done, then daily again.
    const file = path.join(dir, `year${n - 1}.db`);
    const db = new Database(file);
    db.exec("DELETE FROM rollups_1d; DELETE FROM store_meta WHERE key = 'rollups_1d_backfill_below'");
    db.close();
    const again = Store.open({ path: file, flushIntervalMs: 600_000, backfillRollups: false });
    open.push(again);
    expect(again.telemetryPlan('psu', from, to, 2000)).toEqual({ resolution: '1h', bucketMs: 5 * HOUR_MS });
    expect(again.telemetry('psu', from, to, 2000).length).toBeLessThanOrEqual(2000);
    await again.backfillDayRollups();
    expect(again.telemetryPlan('psu', from, to, 2000)).toEqual({ resolution: '1d', bucketMs: DAY_MS });
    expect(again.telemetry('psu', from, to, 2000)).toEqual(pts);
  });
});

describe('migration 0022 (daily rollups) on a store made by the previous schema', () => {
  it('keeps every minute and hourly rollup row and rebuilds the daily rows from the hourly ones at open, by itself', async () => {
    // Migrations up to 0021, as the previous release left a store.
    const old = path.join(dir, 'migrations-0021');
    fs.cpSync(fileURLToPath(new URL('../../migrations', import.meta.url)), old, { recursive: true });
    const journalPath = path.join(old, 'meta', '_journal.json');
    const journal = JSON.parse(fs.readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
    const upTo = journal.entries.findIndex((e) => e.tag === '0021_compact_rows');
    expect(upTo).toBeGreaterThanOrEqual(0);
    journal.entries = journal.entries.slice(0, upTo + 1);
    fs.writeFileSync(journalPath, JSON.stringify(journal));
    const file = path.join(dir, 'v21.db');
    const db = new Database(file);
    migrate(drizzle({ client: db }), { migrationsFolder: old });
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'rollups_1d'").get()).toEqual({ n: 0 });
    // Rollup rows as that release wrote them: three days and a bit of two devices, a sample every 7 s.
    const D0 = Date.UTC(2026, 5, 1);
    const samples: In[] = [];
    for (let t = D0 - 5 * HOUR_MS; t < D0 + 3 * DAY_MS; t += 7000) {
      for (const dev of ['psu-1', 'bms']) samples.push({ dev, ts: t, values: dev === 'bms' ? { soc: (t / 7000) % 100, cellMaxV: 3.3 + ((t / 7000) % 7) / 100 } : { v: 53 + ((t / 7000) % 11) / 10, a: (t / 7000) % 40 } });
    }
    for (const [table, width] of [['rollups_1m', MINUTE_MS], ['rollups_1h', HOUR_MS]] as const) {
      const b = new RollupBatch(width);
      for (const x of samples) b.add(x.dev, x.ts, x.values);
      const put = db.prepare(`INSERT INTO ${table} (device_id, bucket, n, keys, stats) VALUES (?, ?, ?, ?, ?)`);
      db.transaction(() => {
        for (const r of b.rollups()) {
          const e = encodeStats(r);
          put.run(r.deviceId, r.bucket, r.n, e.keys, e.stats);
        }
      })();
    }
    const rowsOf = (d: Database.Database, table: string) => d.prepare(`SELECT device_id, bucket, n, keys, hex(stats) AS stats FROM ${table} ORDER BY device_id, bucket`).all();
    const before1m = rowsOf(db, 'rollups_1m');
    const before1h = rowsOf(db, 'rollups_1h');
    expect(before1h).toHaveLength(2 * (3 * 24 + 5));
    // Its raw samples pruned (as the default retention does after 90 days).
    db.prepare('INSERT INTO store_meta (key, value) VALUES (?, ?)').run('samples_pruned_before', D0 + 3 * DAY_MS);
    db.close();

    const s = Store.open({ path: file, flushIntervalMs: 600_000 });
    open.push(s);
    expect(s.dayRollupsComplete).toBe(false);
    await s.backfillDayRollups();
    expect(s.dayRollupsComplete).toBe(true);
    expect(rowsOf(s.db, 'rollups_1m')).toEqual(before1m);
    expect(rowsOf(s.db, 'rollups_1h')).toEqual(before1h);
    for (const dev of ['psu-1', 'bms']) expectRollupsMatch(s.rollups(dev, '1d', D0 - 2 * DAY_MS, D0 + 4 * DAY_MS), direct(samples, dev, DAY_MS));
    // Read back through the year window's plan: daily.
    expect(s.telemetryPlan('bms', D0 + 3 * DAY_MS - 365 * DAY_MS, D0 + 3 * DAY_MS - 1, 2000)).toEqual({ resolution: '1d', bucketMs: DAY_MS });
    expect(s.telemetry('bms', D0 + 3 * DAY_MS - 365 * DAY_MS, D0 + 3 * DAY_MS - 1, 2000).map((p) => p.samples)).toEqual([...direct(samples, 'bms', DAY_MS).values()].map((e) => e.n));
    s.close();
    // Opened again: nothing left to rebuild.
    const again = openStore('v21.db');
    expect(again.dayRollupsComplete).toBe(true);
  });
});

describe('reading rollups into points', () => {
  it('rollupRowsToPoints gives exactly the points of decode → coarsen → rollupToRow (random rows, key lists that differ, any width)', () => {
    const rowArb = fc.record({ hour: fc.integer({ min: 0, max: 40 }), samples: fc.array(fc.tuple(fc.integer({ min: 0, max: HOUR_MS - 1 }), valuesArb), { minLength: 1, maxLength: 6 }) });
    fc.assert(
      fc.property(fc.uniqueArray(rowArb, { selector: (r) => r.hour, maxLength: 30 }), fc.integer({ min: 1, max: 7 }), (spec, widthHours) => {
        const rows: EncodedRollupRow[] = [...spec]
          .sort((a, b) => a.hour - b.hour)
          .map(({ hour, samples }) => {
            const r = emptyRollup('d', T0 + hour * HOUR_MS);
            for (const [t, v] of samples) addSample(r, r.bucket + t, v);
            const e = encodeStats(r);
            return [r.bucket, r.n, e.keys, e.stats];
          });
        const width = widthHours * HOUR_MS;
        const decoded = rows.map(([b, n, k, st]) => decodeRollup('d', b, n, k, st));
        const want = (width === HOUR_MS ? decoded : coarsen(decoded, width, T0)).map((r) => rollupToRow(r, '1h', width));
        expect(rollupRowsToPoints(rows, 'd', width, T0, '1h')).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });
});

describe('prune', () => {
  it('deletes by the time indexes in batches, with the event loop free between them; hourly rollups stay', async () => {
    const s = openStore('prune.db');
    for (let i = 0; i < 20_000; i++) {
      s.appendSample({ ts: T0 + i * 1000, deviceId: i % 2 ? 'a' : 'b', values: { v: i } });
      s.appendFrame({ ts: T0 + i * 1000, link: 'can0', protocol: 'can', dir: 'rx', address: '05014004', bytes: Uint8Array.of(1, 2), text: null, kind: 'status', deviceId: 'a' });
    }
    s.flush();
    const hoursBefore = s.rollups('a', '1h', T0, T0 + 6 * HOUR_MS).length;
    const cut = T0 + 15_000 * 1000;
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    const r = await s.pruneInBatches({ framesOlderThan: cut, samplesOlderThan: cut, minuteRollupsOlderThan: cut }, 0.01);
    clearInterval(ticker);
    expect(r).toMatchObject({ frames: 15_000, samples: 15_000, minuteRollups: 500 });
    expect(r.batches).toBeGreaterThan(10);
    // Other work ran between the batches.
    expect(ticks).toBeGreaterThan(0);
    expect(s.listFrames({}, 10_000).items).toHaveLength(5000);
    expect(s.rollups('a', '1h', T0, T0 + 6 * HOUR_MS)).toHaveLength(hoursBefore);
    expect(s.rollups('a', '1m', T0, cut - 1)).toHaveLength(0);
    // The deletes walk an index by time, never every row: samples per device by (dev, ts),
    // frames by their id, which is the time (src/store/row-codec.ts).
    const plan = (q: string, ...args: number[]) => (s.db.prepare(`EXPLAIN QUERY PLAN ${q}`).all(...args) as Array<{ detail: string }>).map((x) => x.detail).join('; ');
    expect(plan('SELECT id FROM samples WHERE dev = ? AND ts < ? ORDER BY ts LIMIT ?', 1, 0, 10)).toMatch(/USING (COVERING )?INDEX samples_dev_ts_idx/);
    expect(plan('SELECT id FROM frames WHERE id < ? ORDER BY id LIMIT ?', 0, 10)).toMatch(/USING INTEGER PRIMARY KEY/);
  });
});
