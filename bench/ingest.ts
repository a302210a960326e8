/**
 * The ingest paths of `npm run bench`, importable on their own (bench/run.ts measures them;
 * `node --import tsx --cpu-prof bench/ingest.ts [frames] [runs]` profiles the engine path alone).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeFrame, WaveshareDecoder } from '../src/families/can/waveshare.js';
import { decodeFp2, encodeStatus, encodeLoginRequest, encodeLogin } from '../src/families/flatpack2/codec.js';
import { canFrameRecord, type CanFrame } from '../src/families/can/types.js';
import { Store, type FrameRow, type SampleRow } from '../src/store/store.js';
import { FakeClock } from '../src/clock.js';
import { family as flatpack2 } from '../src/families/flatpack2/family.js';
import type { DeviceFamily, FamilyLink } from '../src/families/types.js';
import type { LoadedFamilies } from '../src/families/registry.js';
import { Engine } from '../src/engine/engine.js';
import type { CanLink } from '../src/families/can/types.js';
import { silentLogger } from '../src/log.js';
import { parseConfig } from '../src/config/load.js';

export const SERIALS = ['192750001639', '163850019608', '132071181554', '111122223333'];

/**
 * A realistic bus capture: status frames from 4 PSUs at 5 Hz, a login per PSU per second, and
 * every PSU asking to be logged in (with its address) at the start and now and then, so that
 * all four are known to the driver and every status frame becomes a telemetry sample.
 */
export function makeCapture(n: number): { bytes: Uint8Array; frames: number } {
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

export function pipelineOnce(dir: string, capture: Uint8Array, run: number): { ms: number; rows: FrameRow[] } {
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

/** The real Flatpack2 driver and Engine on an in-memory CAN link: `feed` delivers a received frame now. */
export function flatpack2Engine(store: Store, clock: FakeClock): { engine: Engine; driver: FamilyLink['driver']; feed(f: CanFrame): void } {
  const listeners: Array<(f: CanFrame, ts: number) => void> = [];
  const link: CanLink = {
    id: 'can0',
    busId: 'can0',
    state: 'up',
    send: async () => ({ ok: true }),
    reconnect: () => {},
    onFrame: (cb) => (listeners.push(cb), () => {}),
    onTx: () => () => {},
    onState: () => () => {},
  };
  const cfg = parseConfig({ buses: [{ id: 'can0', adapter: { path: '/dev/null' }, flatpack2: {} }] }).links[0].flatpack2!;
  const families = new Map([['flatpack2', flatpack2 as unknown as DeviceFamily]]) as LoadedFamilies;
  const engine = new Engine({ store, clock, log: silentLogger(), simulated: true, families });
  const fl = flatpack2.attach({ linkId: 'can0', link, clock, log: silentLogger(), cfg, known: [] });
  engine.addLink('can0', flatpack2 as unknown as DeviceFamily, fl as unknown as FamilyLink);
  return { engine, driver: fl.driver as FamilyLink['driver'], feed: (f) => { for (const l of listeners) l(f, clock.now()); } };
}


/** Bus time per frame: 4 PSUs at 5 Hz each (the sampler keeps what a real bus would leave it). */
const STATUS_SPACING_MS = 50;

export function engineOnce(dir: string, capture: Uint8Array, run: number): { ms: number; samples: number; statusFrames: number; storedSamples: number; sampleRows: SampleRow[] } {
  const store = Store.open({ path: path.join(dir, `engine-${run}.db`), maxBatch: 5000 });
  const clock = new FakeClock();
  const { engine, driver, feed } = flatpack2Engine(store, clock);
  driver.start();
  let samples = 0;
  engine.samples.subscribe(() => {
    samples++;
  });
  let statusFrames = 0;
  const dec = new WaveshareDecoder();
  const out: CanFrame[] = [];
  const t0 = performance.now();
  for (const chunk of chunks(capture)) {
    out.length = 0;
    dec.push(chunk, out);
    for (const f of out) {
      // Bus time moves as on a real bus, 50 ms a frame (no timer fires: nothing here waits on
      // one). The ~5 % login frames make it run a little fast: the sampler keeps a few more rows.
      clock.stall(STATUS_SPACING_MS);
      if (run === 0 && decodeFp2(f).kind === 'status') statusFrames++;
      feed(f);
    }
  }
  store.flush();
  const ms = performance.now() - t0;
  // The sample rows the store kept (the sampler's 1 Hz plus changes), for the bare insert of the same rows.
  const sampleRows: SampleRow[] = run === 0 ? store.samplesAfterId(0, 1e9).map((r) => ({ ts: r.ts, deviceId: r.deviceId, values: r.values })) : [];
  const storedSamples = (store.db.prepare('SELECT count(*) AS n FROM samples').get() as { n: number }).n;
  driver.stop();
  store.close();
  return { ms, samples, statusFrames, storedSamples, sampleRows };
}


// `node --import tsx [--cpu-prof] bench/ingest.ts [frames] [runs]`: the engine path alone.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const n = Number(process.argv[2] ?? 200_000);
  const runs = Number(process.argv[3] ?? 3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'powerplane-ingest-'));
  try {
    const { bytes } = makeCapture(n);
    for (let r = 0; r < runs; r++) {
      const e = engineOnce(dir, bytes, r);
      console.log(JSON.stringify({ run: r, framesPerS: Math.round(n / (e.ms / 1000)), samples: e.samples }));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
