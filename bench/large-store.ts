/**
 * A large store, built in a temp folder and deleted after: PP_BENCH_DEVICES devices (10) with
 * raw 1 Hz samples for the last PP_BENCH_RAW_HOURS hours (6, written through the Store, rollups
 * and all) and minute + hourly + daily rollups for PP_BENCH_ROLLUP_DAYS days before that (30; 365
 * for a year; inserted directly as encoded rollup rows). Reports telemetry(…, maxPoints 2000) p95 per
 * window against reading 2,000 ready raw rows in the same run, start (open + first answer), and
 * a batched prune's longest batch.
 *
 * The issue's full-size store (default raw retention, 90 days of 1 Hz samples for 10 devices:
 * 77.8 M rows, and a year of rollups) is PP_BENCH_RAW_DAYS=90 PP_BENCH_ROLLUP_DAYS=275: one day
 * is written through the Store (raw samples and the rollups it makes of them), then copied back
 * day by day, oldest first, in SQL (77.8 M rows through the Store would take most of an hour).
 * The copies' rows are real rows of the real schema and indexes, in time order per day; only a
 * rollup's `lastTs` keeps the template day's time, which changes no query's cost.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Store } from '../src/store/store.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, addSample, bucketOf, emptyRollup, encodeStats, mergeInto, type Rollup } from '../src/store/rollups.js';
import { printJsonThenExit } from './proc.mjs';

const DEVICES = Number(process.env.PP_BENCH_DEVICES ?? 10);
const RAW_HOURS_ENV = Number(process.env.PP_BENCH_RAW_HOURS ?? 6);
const RAW_DAYS = process.env.PP_BENCH_RAW_DAYS === undefined ? null : Number(process.env.PP_BENCH_RAW_DAYS);
const RAW_HOURS = RAW_DAYS === null ? RAW_HOURS_ENV : RAW_DAYS * 24;
const ROLLUP_DAYS = Number(process.env.PP_BENCH_ROLLUP_DAYS ?? 30);
const RUNS = 20;
const DAY = 24 * HOUR_MS;

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor(0.95 * s.length))].toFixed(3);
}

const valuesAt = (t: number, d: number) => ({
  outputVoltageV: 53 + Math.sin(t / 3.6e6 + d),
  outputCurrentA: 20 + 10 * Math.sin(t / 6e5),
  outputPowerW: 1000 + d,
  inputVoltageV: 230,
  intakeTempC: 25,
  outputTempC: 35,
  state: 'on',
});

/** The small store: rollups computed from a synthetic signal, then raw samples through the Store. */
function buildSynthetic(file: string, devices: string[], rawFrom: number, now: number): Store {
  const store = Store.open({ path: file, maxBatch: 5000 });
  // Old rollups: one minute row per device per minute, an hour row per hour.
  const put1m = store.db.prepare('INSERT INTO rollups_1m (device_id, bucket, n, keys, stats) VALUES (?, ?, ?, ?, ?)');
  const put1h = store.db.prepare('INSERT INTO rollups_1h (device_id, bucket, n, keys, stats) VALUES (?, ?, ?, ?, ?)');
  // Daily rows: merged from the hours as they are made, written when the day is over (the raw
  // samples' day, if the rollups end inside one, is merged into by the Store as they arrive).
  const put1d = store.db.prepare('INSERT OR REPLACE INTO rollups_1d (device_id, bucket, n, keys, stats) VALUES (?, ?, ?, ?, ?)');
  const days = new Map<number, Rollup>();
  const flushDay = (d: number) => {
    const r = days.get(d);
    if (r === undefined) return;
    const e = encodeStats(r);
    put1d.run(devices[d], r.bucket, r.n, e.keys, e.stats);
    days.delete(d);
  };
  const rollFrom = rawFrom - ROLLUP_DAYS * DAY;
  for (let h = rollFrom; h < rawFrom; h += HOUR_MS) {
    store.db.transaction(() => {
      for (let d = 0; d < DEVICES; d++) {
        const hour = emptyRollup(devices[d], h);
        for (let m = h; m < h + HOUR_MS; m += MINUTE_MS) {
          const r: Rollup = emptyRollup(devices[d], m);
          for (let s = 0; s < 60; s += 15) addSample(r, m + s * 1000, valuesAt(m + s * 1000, d));
          r.n = 60;
          const e = encodeStats(r);
          put1m.run(devices[d], m, r.n, e.keys, e.stats);
          mergeInto(hour, r);
        }
        const e = encodeStats(hour);
        put1h.run(devices[d], h, hour.n, e.keys, e.stats);
        const dayStart = bucketOf(h, DAY_MS);
        if (days.get(d) !== undefined && days.get(d)!.bucket !== dayStart) flushDay(d);
        if (days.get(d) === undefined) days.set(d, emptyRollup(devices[d], dayStart));
        mergeInto(days.get(d)!, hour);
      }
    })();
  }
  store.db.transaction(() => {
    for (let d = 0; d < DEVICES; d++) flushDay(d);
  })();
  // Recent raw samples through the Store (rollups written as they arrive).
  for (let t = rawFrom; t < now; t += 1000) for (let d = 0; d < DEVICES; d++) store.appendSample({ ts: t, deviceId: devices[d], values: valuesAt(t, d) });
  store.flush();
  return store;
}

/**
 * The full-size store: one day (the last) through the Store in a template file, then that
 * file's schema and keys with every day copied in from it, oldest first: rollups for every day,
 * raw samples for the last RAW_DAYS.
 */
async function buildReplicated(dir: string, file: string, devices: string[], now: number): Promise<Store> {
  const template = path.join(dir, 'template.db');
  const t = Store.open({ path: template, maxBatch: 5000 });
  for (let ts = now - DAY; ts < now; ts += 1000) for (let d = 0; d < DEVICES; d++) t.appendSample({ ts, deviceId: devices[d], values: valuesAt(ts, d) });
  t.flush();
  t.close();
  fs.copyFileSync(template, file);
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.exec(`ATTACH DATABASE '${template.replace(/'/g, "''")}' AS t`);
  db.exec('DELETE FROM samples; DELETE FROM rollups_1m; DELETE FROM rollups_1h; DELETE FROM rollups_1d;');
  const days = RAW_DAYS! + ROLLUP_DAYS;
  const copy = [
    db.prepare('INSERT INTO rollups_1m (device_id, bucket, n, keys, stats) SELECT device_id, bucket - ?, n, keys, stats FROM t.rollups_1m ORDER BY bucket, device_id'),
    db.prepare('INSERT INTO rollups_1h (device_id, bucket, n, keys, stats) SELECT device_id, bucket - ?, n, keys, stats FROM t.rollups_1h ORDER BY bucket, device_id'),
    db.prepare('INSERT INTO rollups_1d (device_id, bucket, n, keys, stats) SELECT device_id, bucket - ?, n, keys, stats FROM t.rollups_1d'),
  ];
  const copySamples = db.prepare('INSERT INTO samples (dev, ts, v) SELECT dev, ts - ?, v FROM t.samples ORDER BY id');
  for (let back = days - 1; back >= 0; back--) {
    db.transaction(() => {
      for (const c of copy) c.run(back * DAY);
      if (back < RAW_DAYS!) copySamples.run(back * DAY);
    })();
  }
  db.exec('DETACH DATABASE t');
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  fs.rmSync(template, { force: true });
  return Store.open({ path: file, maxBatch: 5000 });
}

export async function benchLargeStore(): Promise<Record<string, unknown>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'powerplane-large-'));
  const file = path.join(dir, 'large.db');
  try {
    const now = Math.floor(Date.UTC(2027, 0, 1) / HOUR_MS) * HOUR_MS;
    const rawFrom = now - RAW_HOURS * HOUR_MS;
    const devices = Array.from({ length: DEVICES }, (_, i) => `fp2-${1000 + i}`);
    const tBuild = performance.now();
    const rollFrom = rawFrom - ROLLUP_DAYS * DAY;
    let store: Store;
    if (RAW_DAYS === null) store = buildSynthetic(file, devices, rawFrom, now);
    else store = await buildReplicated(dir, file, devices, now);
    const buildS = +((performance.now() - tBuild) / 1000).toFixed(1);
    const rawCount = (store.db.prepare('SELECT count(*) AS n FROM samples').get() as { n: number }).n;
    store.close();
    const sizeMiB = Math.round(fs.statSync(file).size / 2 ** 20);

    // Start: open (migrations, watermark) and the first answer.
    const t0 = performance.now();
    store = Store.open({ path: file });
    const firstAnswer = store.telemetry(devices[0], now - HOUR_MS, now, 2000);
    const startMs = +(performance.now() - t0).toFixed(1);
    store.close();
    // Start as the server does it on a store that needs work: the rollups' watermark gone (a
    // rebuild from raw samples starts at open) and a prune started on the next turn; the first
    // answer waits for at most one step of either.
    const { default: Database } = await import('better-sqlite3');
    const raw = new Database(file);
    raw.prepare("DELETE FROM store_meta WHERE key = 'rollup_backfill_below'").run();
    raw.close();
    const t1 = performance.now();
    store = Store.open({ path: file });
    const busyPrune = new Promise<void>((resolve) => setImmediate(() => void store.pruneInBatches({ samplesOlderThan: rawFrom + HOUR_MS / 4 }).then(() => resolve())));
    await new Promise((r) => setImmediate(r));
    store.telemetry(devices[0], now - HOUR_MS, now, 2000);
    const startBusyMs = +(performance.now() - t1).toFixed(1);
    await busyPrune;
    await store.backfillRollups();

    // Baseline: 2,000 ready raw rows read and parsed.
    // Through the store's own page read: it decodes the compact values (src/store/row-codec.ts).
    const base: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const a = performance.now();
      store.rawSamplesPage(devices[i % DEVICES], rawFrom, Number.MAX_SAFE_INTEGER, 2000);
      base.push(performance.now() - a);
    }
    const baseline = p95(base);
    const windows: Array<[string, number]> = [
      ['15m', 15 * MINUTE_MS],
      ['1h', HOUR_MS],
      ['12h', 12 * HOUR_MS],
      ['7d', 7 * DAY],
      ['30d', 30 * DAY],
      // The longest window read from hourly rollups: 1,200 hour buckets with `to` on an hour's
      // start (longer ones read daily rollups).
      ['1200h', 1199 * HOUR_MS],
      ['90d', 90 * DAY],
      ['365d', 365 * DAY],
    ];
    const perWindow: Record<string, unknown> = {};
    for (const [name, span] of windows) {
      if (span > RAW_HOURS * HOUR_MS + ROLLUP_DAYS * DAY) continue;
      const times: number[] = [];
      let points = 0;
      let resolution = '';
      for (let i = 0; i < RUNS; i++) {
        const dev = devices[i % DEVICES];
        const a = performance.now();
        const r = store.telemetry(dev, now - span, now, 2000);
        times.push(performance.now() - a);
        points = r.length;
        resolution = store.telemetryPlan(dev, now - span, now, 2000).resolution;
      }
      perWindow[name] = { p95Ms: p95(times), ratioToBaseline: +(p95(times) / baseline).toFixed(2), points, resolution };
    }
    // Prune half the raw samples and the older half of the minute rollups in batches, with the
    // event loop's delay watched meanwhile (what a control loop sharing the process would see).
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const tp = performance.now();
    // The full-size store prunes what retention frees in a day (its oldest day of raw samples and
    // of minute rollups); the small one half of each.
    const prune =
      RAW_DAYS === null
        ? { samplesOlderThan: rawFrom + (RAW_HOURS / 2) * HOUR_MS, minuteRollupsOlderThan: rollFrom + (ROLLUP_DAYS / 2) * DAY }
        : { samplesOlderThan: rawFrom + DAY, minuteRollupsOlderThan: rollFrom + DAY };
    const pr = await store.pruneInBatches(prune);
    h.disable();
    const pruneS = (performance.now() - tp) / 1000;
    store.close();
    // Baseline: the same monitor over an idle loop for as long (at most 10 s), same machine, same load.
    const idle = monitorEventLoopDelay({ resolution: 1 });
    idle.enable();
    await new Promise((r) => setTimeout(r, Math.min(10_000, pruneS * 1000)));
    idle.disable();
    return {
      what: `${DEVICES} devices: raw 1 Hz samples for ${RAW_HOURS} h, minute, hourly and daily rollups for ${ROLLUP_DAYS} days before${RAW_DAYS === null ? '' : ' (one day through the Store, copied back day by day)'} (env PP_BENCH_DEVICES, PP_BENCH_RAW_HOURS or PP_BENCH_RAW_DAYS, PP_BENCH_ROLLUP_DAYS)`,
      rawSamples: rawCount,
      buildSeconds: buildS,
      fileMiB: sizeMiB,
      startToFirstAnswerMs: startMs,
      startToFirstAnswerWithRebuildAndPruneMs: startBusyMs,
      firstAnswerPoints: firstAnswer.length,
      baselineReady2000RowsP95Ms: baseline,
      telemetryMaxPoints2000: perWindow,
      prune: {
        samples: pr.samples,
        minuteRollups: pr.minuteRollups,
        batches: pr.batches,
        longestBatchMs: +pr.longestBatchMs.toFixed(2),
        longestBatchCpuMs: +pr.longestBatchCpuMs.toFixed(2),
        seconds: +pruneS.toFixed(1),
        eventLoopDelayMs: { p50: +(h.percentile(50) / 1e6).toFixed(2), p99: +(h.percentile(99) / 1e6).toFixed(2), max: +(h.max / 1e6).toFixed(2) },
        idleBaselineEventLoopDelayMs: { p50: +(idle.percentile(50) / 1e6).toFixed(2), p99: +(idle.percentile(99) / 1e6).toFixed(2), max: +(idle.max / 1e6).toFixed(2) },
      },
      loadAverage: os.loadavg().map((x) => +x.toFixed(2)),
      targets: { windowP95Ms: 30, startMs: 1500, pruneBatchMs: 'a few' },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === `file://${path.resolve(process.argv[1])}`) {
  printJsonThenExit(benchLargeStore());
}
