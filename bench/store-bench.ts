// Store write throughput against the floor it stands on: the same frame rows through
// Store.appendFrame + flush versus a bare better-sqlite3 prepared insert, batched in
// transactions of the same size, into the same schema (made by the same migrations)
// with the same pragmas, in temp files.
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store, type FrameRow, type SampleRow } from '../src/store/store.js';
import { canFrameRecord } from '../src/families/can/types.js';
import { ByteWriter, encodeFrameText, encodeValues, nextFrameId } from '../src/store/row-codec.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));
const BATCH = 5000;

export interface StoreBenchResult {
  storeRowsPerS: number;
  bareRowsPerS: number;
  /** storeRowsPerS / bareRowsPerS; the project requires ≥ 0.4. */
  ratio: number;
}

/** Flatpack2-like traffic: status frames from a few rectifiers plus some tx login frames. */
export function makeRows(n: number): FrameRow[] {
  const rows: FrameRow[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const unit = i % 4;
    const tx = i % 10 === 0;
    rows[i] = {
      ts: 1_700_000_000_000 + i,
      link: 'can0',
      ...canFrameRecord(
        { id: tx ? 0x05004804 + (unit << 16) : 0x05014004 + (unit << 16), extended: true, remote: false, data: Uint8Array.of(0x1b, i & 0xff, (i >> 8) & 0xff, 0x10, 0x00, 0x4e, 0x15, 0x34) },
        tx ? 'tx' : 'rx',
        tx ? 'hello' : 'status',
        `fp2-${unit}`,
      ),
    };
  }
  return rows;
}

function tempDbPath(dir: string, name: string): string {
  return path.join(dir, name);
}

function runStore(dir: string, rows: FrameRow[], run: number): number {
  const store = Store.open({ path: tempDbPath(dir, `store-${run}.db`), maxBatch: BATCH });
  try {
    const t0 = performance.now();
    for (let i = 0; i < rows.length; i++) store.appendFrame(rows[i]);
    store.flush();
    return performance.now() - t0;
  } finally {
    store.close();
  }
}

/**
 * Bare inserts of `rows` (and `samples`, in the compact encoding) in 5,000-row transactions; returns ms.
 * `rowsPerInsert` > 1: that many rows to an INSERT (multi-row VALUES, the rest one by one), as
 * the Store writes them (src/store/store.ts ROWS_PER_INSERT), so the floor is no slower than the store's own method.
 */
export function runBare(dir: string, rows: FrameRow[], run: number, samples: SampleRow[] = [], rowsPerInsert = 1): number {
  const db = new Database(tempDbPath(dir, `bare-${run}.db`));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    migrate(drizzle({ client: db }), { migrationsFolder: MIGRATIONS_DIR });
    // The compact rows of migration 0021 (src/store/row-codec.ts): the floor interns channels,
    // devices and shapes in maps too, and encodes the values the same way.
    const ins = db.prepare('INSERT INTO frames (id, lk, ch, bytes, text, ts) VALUES (?, ?, ?, ?, ?, ?)');
    const insKey = db.prepare('INSERT INTO store_keys (id, kind, value) VALUES (?, ?, ?)');
    const insChannel = db.prepare('INSERT INTO frame_channels (id, link, protocol, dir, kind, device_id, address, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const metaJson = new Map<unknown, string>();
    const json = (m: object) => metaJson.get(m) ?? (metaJson.set(m, JSON.stringify(m)), metaJson.get(m)!);
    const channels = new Map<string, { ch: number; lk: number }>();
    const keys = new Map<string, number>();
    const key = (kind: string, value: string) => {
      let id = keys.get(kind + '\u0000' + value);
      if (id === undefined) {
        id = keys.size + 1;
        keys.set(kind + '\u0000' + value, id);
        insKey.run(id, kind, value);
      }
      return id;
    };
    const writer = new ByteWriter();
    // A shape's JSON is built once per distinct list of names, as the Store does (internShape),
    // not per sample: the floor does no work the store does not.
    const shapes = new Map<string, number>();
    const shape = (names: readonly string[]) => {
      const j = names.join('\u0000');
      let id = shapes.get(j);
      if (id === undefined) shapes.set(j, (id = key('shape', JSON.stringify(names))));
      return id;
    };
    const interner = { shape, text: (v: string) => key('text', v) };
    let lastId = 0;
    const insSample = db.prepare('INSERT INTO samples (dev, ts, v) VALUES (?, ?, ?)');
    const K = Math.max(1, rowsPerInsert);
    const insMany = db.prepare(`INSERT INTO frames (id, lk, ch, bytes, text, ts) VALUES ${Array(K).fill('(?, ?, ?, ?, ?, ?)').join(', ')}`);
    const insSampleMany = db.prepare(`INSERT INTO samples (dev, ts, v) VALUES ${Array(K).fill('(?, ?, ?)').join(', ')}`);
    const args: unknown[] = new Array(6 * K);
    const sampleArgs: unknown[] = new Array(3 * K);
    const insertBatch = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const f = rows[i];
        // Up to K rows gathered into one multi-row INSERT (K = 1: one statement a row, as before).
        const o = ((i - from) % K) * 6;
        const meta = f.meta ? json(f.meta) : null;
        const ck = `${f.link}\u0001${f.protocol}\u0001${f.dir}\u0001${f.kind}\u0001${f.deviceId}\u0001${f.address}\u0001${meta}`;
        let c = channels.get(ck);
        if (c === undefined) {
          c = { ch: channels.size + 1, lk: key('link', f.link) };
          channels.set(ck, c);
          insChannel.run(c.ch, f.link, f.protocol, f.dir, f.kind, f.deviceId, f.address, meta);
        }
        const { id, tsColumn } = nextFrameId(lastId, f.ts);
        lastId = id;
        if (K === 1) {
          ins.run(id, c.lk, c.ch, f.bytes, encodeFrameText(f.text, f.bytes), tsColumn);
          continue;
        }
        args[o] = id;
        args[o + 1] = c.lk;
        args[o + 2] = c.ch;
        args[o + 3] = f.bytes;
        args[o + 4] = encodeFrameText(f.text, f.bytes);
        args[o + 5] = tsColumn;
        if (o === 6 * (K - 1)) insMany.run(args);
      }
      // The rest of the batch (fewer than K rows) one by one.
      const rest = K === 1 ? 0 : (to - from) % K;
      for (let r = 0; r < rest; r++) ins.run(...args.slice(r * 6, r * 6 + 6));
    });
    const insertSamples = db.transaction((from: number, to: number) => {
      if (K === 1) {
        for (let i = from; i < to; i++) insSample.run(key('device', samples[i].deviceId), samples[i].ts, encodeValues(samples[i].values, interner, writer));
        return;
      }
      for (let i = from; i < to; i++) {
        const o = ((i - from) % K) * 3;
        sampleArgs[o] = key('device', samples[i].deviceId);
        sampleArgs[o + 1] = samples[i].ts;
        sampleArgs[o + 2] = encodeValues(samples[i].values, interner, writer);
        if (o === 3 * (K - 1)) insSampleMany.run(sampleArgs);
      }
      const rest = (to - from) % K;
      for (let r = 0; r < rest; r++) insSample.run(...sampleArgs.slice(r * 3, r * 3 + 3));
    });
    const t0 = performance.now();
    for (let i = 0; i < rows.length; i += BATCH) insertBatch(i, Math.min(rows.length, i + BATCH));
    for (let i = 0; i < samples.length; i += BATCH) insertSamples(i, Math.min(samples.length, i + BATCH));
    return performance.now() - t0;
  } finally {
    db.close();
  }
}

/** Best of `reps` alternating runs per side (a noisy 2-core box punishes single runs). */
export function benchStoreVsBare(rows: number, reps = 3): StoreBenchResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'powerplane-store-bench-'));
  try {
    const data = makeRows(rows);
    // Warm both paths (JIT, page cache) on a small run that is not measured.
    const warm = data.slice(0, Math.min(rows, 20_000));
    runBare(dir, warm, -1);
    runStore(dir, warm, -1);
    let storeMs = Infinity;
    let bareMs = Infinity;
    for (let r = 0; r < Math.max(1, reps); r++) {
      bareMs = Math.min(bareMs, runBare(dir, data, r));
      storeMs = Math.min(storeMs, runStore(dir, data, r));
    }
    const storeRowsPerS = rows / (storeMs / 1000);
    const bareRowsPerS = rows / (bareMs / 1000);
    return { storeRowsPerS, bareRowsPerS, ratio: storeRowsPerS / bareRowsPerS };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// `npx tsx bench/store-bench.ts [rows]` prints one measurement.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const n = Number(process.argv[2] ?? 200_000);
  const r = benchStoreVsBare(n);
  console.log(
    `store ${Math.round(r.storeRowsPerS).toLocaleString()} rows/s, bare ${Math.round(r.bareRowsPerS).toLocaleString()} rows/s, ratio ${r.ratio.toFixed(2)} (${n} rows)`,
  );
}
