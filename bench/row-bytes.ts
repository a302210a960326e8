/**
 * Bytes per stored frame and per stored sample (issue 15 item 2), measured on a real SQLite file:
 * `npx tsx bench/row-bytes.ts [rows]` (default 100,000 of each) prints JSON.
 *
 * The store records a rig's traffic through its own write path (Store.appendFrame/appendSample):
 * Flatpack2 status frames of two PSUs (extended CAN ids, 8 data bytes), BMS frames (standard ids),
 * and 1 Hz samples of both PSUs and the BMS with the codecs' resolutions (centivolts, deciamps,
 * whole °C; the BMS's mV cells), plus a few PI18 and RAPI lines for the ASCII protocols' figure.
 * After VACUUM, the dbstat virtual table gives each table's and index's bytes (pages × page size,
 * so page slack counts too); a figure is (table + its indexes) / rows. Cleans up after itself.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store, type FrameRow } from '../src/store/store.js';
import { canFrameRecord } from '../src/families/can/types.js';

export interface RowBytes {
  frames: number;
  samples: number;
  /** (frames table + its index) bytes / frames, CAN traffic. */
  bytesPerFrame: number;
  /** (samples table + its index) bytes / samples. */
  bytesPerSample: number;
  /** The same for the ASCII protocols (PI18 and RAPI lines, 14–30 bytes each). */
  bytesPerAsciiFrame: number;
  fileBytes: number;
  detail: Record<string, number>;
}

const T0 = Date.UTC(2026, 11, 1);

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** CAN frames as a Flatpack2 + BMS bus records them: 2 PSUs' status at 5 Hz, BMS frames at 1 Hz each. */
export function canFrames(n: number, seed = 1): FrameRow[] {
  const r = rng(seed);
  const out: FrameRow[] = [];
  for (let i = 0; out.length < n; i++) {
    const ts = T0 + i * 100 + Math.floor(r() * 20);
    const unit = i % 3;
    if (unit < 2) {
      const data = Uint8Array.of(0x1b, 0x10 + unit, 0x00, 0x4e + Math.floor(r() * 4), 0x15, 0xe6, 0x00, 0x1c + Math.floor(r() * 3));
      out.push({ ts, link: 'can0', ...canFrameRecord({ id: 0x05014004 + unit * 0x4000, extended: true, remote: false, data }, 'rx', 'status', `fp2-${unit}`) });
    } else {
      const id = [0x351, 0x355, 0x356, 0x359, 0x35c, 0x35e][i % 6]!;
      const data = Uint8Array.of(0x28, 0x02, Math.floor(r() * 256), 0x03, 0xe8, 0x03, 0xe0, 0x01);
      out.push({ ts, link: 'can1', ...canFrameRecord({ id, extended: false, remote: false, data }, 'rx', 'state', 'bms0') });
    }
  }
  return out;
}

/** PI18 and RAPI lines (query and reply) as their drivers record them. */
export function asciiFrames(n: number): FrameRow[] {
  const enc = (s: string) => new TextEncoder().encode(s);
  const out: FrameRow[] = [];
  for (let i = 0; out.length < n; i++) {
    const ts = T0 + i * 500;
    if (i % 2 === 0) {
      out.push({ ts, link: 'inv0', protocol: 'pi18', dir: 'tx', address: null, bytes: Uint8Array.of(0x5e, 0x50, 0x30, 0x30, 0x35, 0x47, 0x53, 0x58, 0x59, 0x0d), text: '^P005GS', kind: 'GS', deviceId: 'inv0' });
    } else {
      out.push({ ts, link: 'evse0', protocol: 'rapi', dir: 'rx', address: '2A', bytes: enc(`$OK ${2300 + (i % 7)} ${i % 16} :2A^7E\r`), text: `$OK ${2300 + (i % 7)} ${i % 16} :2A^7E`, kind: 'GG', deviceId: 'evse0' });
    }
  }
  return out;
}

/** 1 Hz samples of two PSUs and a BMS, values at their codecs' resolutions. */
export function rigSamples(n: number, seed = 2): Array<{ ts: number; deviceId: string; values: Record<string, number | string | null> }> {
  const r = rng(seed);
  const out: Array<{ ts: number; deviceId: string; values: Record<string, number | string | null> }> = [];
  for (let i = 0; out.length < n; i++) {
    const ts = T0 + Math.floor(i / 3) * 1000 + (i % 3) * 7;
    const k = i % 3;
    if (k < 2) {
      const v = Math.round((53.3 + r() * 0.4) * 100) / 100;
      const a = Math.round((10 + r() * 30) * 10) / 10;
      out.push({
        ts,
        deviceId: `fp2-${k}`,
        values: { outputVoltageV: v, outputCurrentA: a, outputPowerW: Math.round(v * a * 10) / 10, inputVoltageV: 228 + Math.floor(r() * 6), intakeTempC: 24 + Math.floor(r() * 3), outputTempC: 31 + Math.floor(r() * 4), state: 'normal' },
      });
    } else {
      const cellHighV = Math.round((3.33 + r() * 0.02) * 1000) / 1000;
      const cellLowV = Math.round((cellHighV - r() * 0.015) * 1000) / 1000;
      out.push({
        ts,
        deviceId: 'bms0',
        values: {
          socPct: 40 + Math.floor(r() * 50),
          sohPct: 98,
          voltageV: Math.round((53.1 + r()) * 100) / 100,
          currentA: Math.round((r() * 60 - 10) * 10) / 10,
          tempC: Math.round((22 + r() * 4) * 10) / 10,
          cellHighV,
          cellLowV,
          cellDeltaV: Math.round((cellHighV - cellLowV) * 1000) / 1000,
          chargeVoltageLimitV: 56.8,
          chargeCurrentLimitA: 100,
        },
      });
    }
  }
  return out;
}

/** Bytes of each table and index of the file (dbstat: pages × page size). */
function objectBytes(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare('SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name').all() as Array<{ name: string; bytes: number }>;
    return Object.fromEntries(rows.map((r) => [r.name, r.bytes]));
  } finally {
    db.close();
  }
}

/** Writes `rows` CAN frames and samples through the Store into a fresh file, VACUUMs and measures. */
export function measureRowBytes(rows: number, dir?: string): RowBytes {
  const own = dir === undefined;
  const where = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'powerplane-row-bytes-'));
  try {
    const measure = (name: string, fill: (s: Store) => void): Record<string, number> => {
      const file = path.join(where, `${name}.db`);
      const s = Store.open({ path: file, flushIntervalMs: 600_000, backfillRollups: false });
      fill(s);
      s.close();
      const db = new Database(file);
      db.exec('VACUUM');
      db.close();
      const b = objectBytes(file);
      b.file = fs.statSync(file).size;
      return b;
    };
    const can = measure('can', (s) => {
      for (const f of canFrames(rows)) s.appendFrame(f);
    });
    const ascii = measure('ascii', (s) => {
      for (const f of asciiFrames(rows)) s.appendFrame(f);
    });
    const smp = measure('samples', (s) => {
      for (const x of rigSamples(rows)) s.appendSample(x);
    });
    const frameBytes = (b: Record<string, number>) => (b.frames ?? 0) + (b.frames_link_idx ?? 0);
    return {
      frames: rows,
      samples: rows,
      bytesPerFrame: +(frameBytes(can) / rows).toFixed(1),
      bytesPerSample: +(((smp.samples ?? 0) + (smp.samples_dev_ts_idx ?? 0)) / rows).toFixed(1),
      bytesPerAsciiFrame: +(frameBytes(ascii) / rows).toFixed(1),
      fileBytes: can.file! + smp.file!,
      detail: {
        framesTable: can.frames ?? 0,
        framesIndex: can.frames_link_idx ?? 0,
        frameChannels: can.frame_channels ?? 0,
        samplesTable: smp.samples ?? 0,
        samplesIndex: smp.samples_dev_ts_idx ?? 0,
        storeKeys: smp.store_keys ?? 0,
      },
    };
  } finally {
    if (own) fs.rmSync(where, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const rows = Number(process.argv[2] ?? 100_000);
  console.log(JSON.stringify({ rowBytes: measureRowBytes(rows), targets: { bytesPerFrame: 50, bytesPerSample: 60 } }, null, 2));
}
