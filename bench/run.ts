/**
 * `npm run bench`: throughput figures as JSON, each ratio measured side by side in one run.
 *
 * 1. pipeline: Waveshare bytes → link codec → Flatpack2 decode → frame rows in the SQLite
 *    event log, against a bare better-sqlite3 batched insert of the same rows.
 * 2. engine: the same bytes through the real driver and engine (frames + telemetry samples
 *    + projections), for the cost of everything a live bus does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeFrame, WaveshareDecoder } from '../src/families/can/waveshare.js';
import { decodeFp2, encodeStatus, encodeLoginRequest, encodeLogin } from '../src/families/flatpack2/codec.js';
import { canFrameRecord, type CanFrame } from '../src/families/can/types.js';
import { Store, type FrameRow, type SampleRow } from '../src/store/store.js';
import { runBare, benchStoreVsBare } from './store-bench.js';
import { benchFanout } from './fanout.js';
import { benchLargeStore } from './large-store.js';
import { FakeClock } from '../src/clock.js';
import { family as flatpack2 } from '../src/families/flatpack2/family.js';
import type { DeviceFamily, FamilyLink } from '../src/families/types.js';
import type { LoadedFamilies } from '../src/families/registry.js';
import { Engine } from '../src/engine/engine.js';
import type { CanLink } from '../src/families/can/types.js';
import { silentLogger } from '../src/log.js';
import { parseConfig } from '../src/config/load.js';

const N = Number(process.argv[2] ?? 200_000);
const REPS = 3;
const SERIALS = ['192750001639', '163850019608', '132071181554', '111122223333'];

/**
 * A realistic bus capture: status frames from 4 PSUs at 5 Hz, a login per PSU per second, and
 * every PSU asking to be logged in (with its address) at the start and now and then, so that
 * all four are known to the driver and every status frame becomes a telemetry sample.
 */
function makeCapture(n: number): { bytes: Uint8Array; frames: number } {
  const frames: CanFrame[] = [];
  for (let i = 0; frames.length < n; i++) {
    const unit = i % 4;
    if (i % 20 === 0) frames.push(encodeLogin(SERIALS[unit], unit + 1));
    if (i % 400 < 4) frames.push(encodeLoginRequest(SERIALS[unit], unit + 1));
    frames.push(
      encodeStatus({ addr: unit + 1, stateCode: 0x04, intakeTempC: 25 + (i % 7), currentA: (i % 400) / 10, voltageV: 50 + (i % 700) / 100, inputVoltageV: 230, outputTempC: 35 }),
    );
  }
  frames.length = n;
  const parts = frames.map((f) => encodeFrame(f, 'variable'));
  const bytes = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { bytes, frames: n };
}

/** Serial reads arrive in chunks; 4 KiB is what a CH340 at 2 Mbaud hands over under load. */
function* chunks(bytes: Uint8Array, size = 4096): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

function pipelineOnce(dir: string, capture: Uint8Array, run: number): { ms: number; rows: FrameRow[] } {
  const store = Store.open({ path: path.join(dir, `pipeline-${run}.db`), maxBatch: 5000 });
  const rows: FrameRow[] = [];
  const dec = new WaveshareDecoder();
  const out: CanFrame[] = [];
  const t0 = performance.now();
  let ts = 1_795_000_000_000;
  for (const chunk of chunks(capture)) {
    out.length = 0;
    dec.push(chunk, out);
    for (const f of out) {
      const msg = decodeFp2(f);
      const addr = msg.kind === 'status' || msg.kind === 'login' ? msg.addr : 0;
      const row: FrameRow = { ts: ts++, link: 'can0', ...canFrameRecord(f, 'rx', msg.kind, addr ? `fp2-${SERIALS[addr - 1]}` : null) };
      store.appendFrame(row);
      if (run === 0) rows.push(row);
    }
  }
  store.flush();
  const ms = performance.now() - t0;
  store.close();
  return { ms, rows };
}

function engineOnce(dir: string, capture: Uint8Array, run: number): { ms: number; samples: number; statusFrames: number; sampleRows: SampleRow[] } {
  const store = Store.open({ path: path.join(dir, `engine-${run}.db`), maxBatch: 5000 });
  const clock = new FakeClock();
  const frameListeners: Array<(f: CanFrame, ts: number) => void> = [];
  const link: CanLink = {
    id: 'can0',
    busId: 'can0',
    state: 'up',
    send: async () => ({ ok: true }),
    reconnect: () => {},
    onFrame: (cb) => (frameListeners.push(cb), () => {}),
    onTx: () => () => {},
    onState: () => () => {},
  };
  const cfg = parseConfig({ buses: [{ id: 'can0', adapter: { path: '/dev/null' }, flatpack2: {} }] }).links[0].flatpack2!;
  const families = new Map([['flatpack2', flatpack2 as unknown as DeviceFamily]]) as LoadedFamilies;
  const engine = new Engine({ store, clock, log: silentLogger(), simulated: true, families });
  const fl = flatpack2.attach({ linkId: 'can0', link, clock, log: silentLogger(), cfg, known: [] });
  engine.addLink('can0', flatpack2 as unknown as DeviceFamily, fl as unknown as FamilyLink);
  const driver = fl.driver;
  driver.start();
  let samples = 0;
  const sampleRows: SampleRow[] = [];
  engine.samples.subscribe((x) => {
    samples++;
    if (run === 0) sampleRows.push({ ts: x.ts, deviceId: x.deviceId, values: { ...x.values } });
  });
  let statusFrames = 0;
  const dec = new WaveshareDecoder();
  const out: CanFrame[] = [];
  const t0 = performance.now();
  for (const chunk of chunks(capture)) {
    out.length = 0;
    dec.push(chunk, out);
    for (const f of out) {
      if (run === 0 && decodeFp2(f).kind === 'status') statusFrames++;
      for (const l of frameListeners) l(f, clock.now());
    }
  }
  store.flush();
  const ms = performance.now() - t0;
  driver.stop();
  store.close();
  return { ms, samples, statusFrames, sampleRows };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'powerplane-bench-'));
  try {
    const { bytes, frames } = makeCapture(N);
    // Warm-up (JIT, page cache), not measured.
    pipelineOnce(dir, makeCapture(20_000).bytes, 99);
    let best = { pipeline: Infinity, bare: Infinity, engine: Infinity, bareFull: Infinity };
    let rows: FrameRow[] = [];
    let samples = 0;
    let statusFrames = 0;
    let sampleRows: SampleRow[] = [];
    for (let r = 0; r < REPS; r++) {
      const p = pipelineOnce(dir, bytes, r);
      if (r === 0) rows = p.rows;
      best.pipeline = Math.min(best.pipeline, p.ms);
      best.bare = Math.min(best.bare, runBare(dir, rows, r));
      const e = engineOnce(dir, bytes, r);
      if (r === 0) {
        samples = e.samples;
        statusFrames = e.statusFrames;
        sampleRows = e.sampleRows;
      }
      best.engine = Math.min(best.engine, e.ms);
      best.bareFull = Math.min(best.bareFull, runBare(dir, rows, 100 + r, sampleRows));
    }
    const perS = (ms: number) => Math.round(frames / (ms / 1000));
    const store = benchStoreVsBare(N, REPS);
    const result = {
      frames,
      captureBytes: bytes.length,
      pipeline: {
        what: 'Waveshare bytes → link codec → Flatpack2 decode → frames table (SQLite, WAL, batched)',
        framesPerS: perS(best.pipeline),
        bareInsertRowsPerS: perS(best.bare),
        ratio: +(best.bare / best.pipeline).toFixed(3),
      },
      engine: {
        what: 'same bytes through Flatpack2Driver + Engine with all 4 PSUs logged in: frame rows, a telemetry sample per status frame (with its rollups), projections, pub/sub',
        framesPerS: perS(best.engine),
        statusFrames,
        telemetrySamples: samples,
        everyStatusFrameASample: samples === statusFrames,
        bareInsertOfSameRowsPerS: perS(best.bareFull),
        bareInsertOfSameRows: 'the frame rows and the sample rows (values as JSON) of this run, bare better-sqlite3 prepared inserts in 5,000-row transactions',
        ratioToBareInsertOfSameRows: +(best.bareFull / best.engine).toFixed(3),
        ratioToBareFrameInsert: +(best.bare / best.engine).toFixed(3),
        targets: { framesPerS: 250_000, ratioToBareInsertOfSameRows: 0.5 },
      },
      storeOnly: store,
      fanout: process.env.PP_BENCH_SKIP_FANOUT ? 'skipped (PP_BENCH_SKIP_FANOUT)' : await benchFanout(),
      largeStore: process.env.PP_BENCH_SKIP_LARGE ? 'skipped (PP_BENCH_SKIP_LARGE)' : await benchLargeStore(),
      memory: { rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20), heapUsedMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20) },
      node: process.version,
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
