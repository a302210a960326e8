// The store's write path (issue 15, ingest): frames queued as columns and written
// ROWS_PER_INSERT rows to an INSERT, their channel found by address without a key string.
// What comes back must be exactly what was appended, whatever the batch sizes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROWS_PER_INSERT, Store, type FrameRow } from '../../src/store/store.js';

let dir: string;
let dbPath: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pp-write-path-'));
  dbPath = path.join(dir, 'w.db');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 5, 1);

/** Frames that share one address but differ in every other channel field, in a shuffled order. */
function mixedFrames(n: number): FrameRow[] {
  const rows: FrameRow[] = [];
  for (let i = 0; i < n; i++) {
    const v = (i * 7919) % 23; // 23 channel variants on one address: more than the per-address cache holds
    rows.push({
      // Several frames in one ms, a clock step back now and then, a fractional ts.
      ts: T0 + Math.floor(i / 3) - (i % 97 === 50 ? 5 : 0) + (i % 211 === 7 ? 0.5 : 0),
      link: v % 2 ? 'can0' : 'can1',
      protocol: v % 5 === 0 ? 'pi18' : 'can',
      dir: v % 3 ? 'rx' : 'tx',
      address: i % 50 === 0 ? null : '05014004',
      bytes: Uint8Array.of(i & 0xff, (i >> 8) & 0xff, v),
      text: v % 4 === 0 ? `line ${i}` : v % 4 === 1 ? String.fromCharCode(i & 0xff, (i >> 8) & 0xff) : null,
      kind: `k${v % 4}`,
      deviceId: v % 6 === 0 ? null : `dev-${v % 6}`,
      ...(v % 7 === 0 ? { meta: { extended: v % 2 === 0, remote: false } } : {}),
    });
  }
  return rows;
}

describe('store write path', () => {
  for (const n of [1, ROWS_PER_INSERT - 1, ROWS_PER_INSERT, ROWS_PER_INSERT + 1, 5 * ROWS_PER_INSERT + 3, 1000]) {
    it(`${n} frames and samples read back exactly as appended, across multi-row INSERT edges, and again after a reopen`, () => {
      const rows = mixedFrames(n);
      const maxBatch = 97; // flushes at odd sizes, not multiples of ROWS_PER_INSERT
      let s = Store.open({ path: dbPath, flushIntervalMs: 600_000, maxBatch });
      const samples: Array<{ ts: number; deviceId: string; values: Record<string, number | string | null> }> = [];
      rows.forEach((r, i) => {
        s.appendFrame(r);
        if (i % 3 === 0) {
          const sample = { ts: T0 + i, deviceId: `dev-${i % 4}`, values: { v: i / 10, state: i % 2 ? 'on' : 'off', n: i % 5 === 0 ? null : i } };
          samples.push(sample);
          s.appendSample(sample);
        }
      });
      s.flush();
      const check = (st: Store) => {
        const back = st.listFrames({}, 100_000).items;
        expect(back).toHaveLength(n);
        // Ids rise in append order (the page itself is newest first).
        const byId = [...back].sort((a, b) => a.id - b.id);
        expect(new Set(byId.map((f) => f.id)).size).toBe(n);
        byId.forEach((f, i) => {
          const r = rows[i]!;
          expect({ ...f, id: undefined, bytes: [...f.bytes] }).toEqual({
            id: undefined,
            ts: r.ts,
            link: r.link,
            protocol: r.protocol,
            dir: r.dir,
            address: r.address,
            bytes: [...r.bytes],
            text: r.text,
            kind: r.kind,
            deviceId: r.deviceId,
            meta: r.meta ?? null,
          });
        });
        const stored = st.samplesAfterId(0, 100_000);
        expect(stored.map((x) => ({ ts: x.ts, deviceId: x.deviceId, values: x.values }))).toEqual(samples);
        for (let i = 1; i < stored.length; i++) expect(stored[i]!.id).toBeGreaterThan(stored[i - 1]!.id);
      };
      check(s);
      s.close();
      s = Store.open({ path: dbPath, flushIntervalMs: 600_000, maxBatch });
      check(s);
      // Appending after a reopen reuses the stored channels (no duplicate channel rows).
      const channelsBefore = (s.db.prepare('SELECT count(*) AS n FROM frame_channels').get() as { n: number }).n;
      for (const r of rows.slice(0, 40)) s.appendFrame({ ...r, ts: r.ts + 3_600_000 });
      s.flush();
      expect((s.db.prepare('SELECT count(*) AS n FROM frame_channels').get() as { n: number }).n).toBe(channelsBefore);
      s.close();
    });
  }

  it('a frame row is one channel per distinct (link, protocol, dir, kind, device, address, meta), however many share an address', () => {
    const rows = mixedFrames(2000);
    const s = Store.open({ path: dbPath, flushIntervalMs: 600_000 });
    for (const r of rows) s.appendFrame(r);
    s.flush();
    const distinct = new Set(rows.map((r) => JSON.stringify([r.link, r.protocol, r.dir, r.kind, r.deviceId, r.address, r.meta ?? null])));
    expect((s.db.prepare('SELECT count(*) AS n FROM frame_channels').get() as { n: number }).n).toBe(distinct.size);
    expect(distinct.size).toBeGreaterThan(8);
    s.close();
  });

  it('a frame\'s bytes are taken at append: the caller may reuse its array; long frames beyond the usual arena size read back whole', () => {
    const s = Store.open({ path: dbPath, flushIntervalMs: 600_000, maxBatch: 5000 });
    const reused = new Uint8Array(8);
    const want: number[][] = [];
    for (let i = 0; i < 300; i++) {
      // Every 3rd frame is 4 KiB (300 frames: about 400 KiB in one batch), the others reuse one array.
      const long = i % 3 === 0;
      const bytes = long ? Uint8Array.from({ length: 4096 }, (_, k) => (i + k) & 0xff) : reused.fill(i & 0xff);
      want.push([...bytes]);
      s.appendFrame({ ts: T0 + i, link: 'tty0', protocol: 'pi18', dir: 'rx', address: null, bytes, text: null, kind: 'line', deviceId: null });
    }
    reused.fill(0xee);
    s.flush();
    const back = s.listFrames({}, 1000).items.sort((a, b) => a.id - b.id);
    expect(back.map((f) => [...f.bytes])).toEqual(want);
    s.close();
  });
});
