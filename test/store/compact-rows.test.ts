/**
 * Compact rows (issue 15 item 2): migration 0021 converts a store made by the previous schema
 * (migrations up to 0020, with real rows of every family) without losing or changing a row; the
 * compact encodings round-trip; a real file of 20k rows costs ≤ 50 bytes per frame and ≤ 60 per
 * sample.
 */
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, type StoredFrame } from '../../src/store/store.js';
import { encodeCursor } from '../../src/store/cursor.js';
import { ByteWriter, decodeValues, encodeValues, FRAME_ID_PER_MS } from '../../src/store/row-codec.js';
import { measureRowBytes } from '../../bench/row-bytes.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

let dir: string;
let dbPath: string;
const open: Store[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'powerplane-compact-rows-'));
  dbPath = path.join(dir, 'old.db');
});

afterEach(() => {
  for (const s of open.splice(0)) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A database as the previous release left it: the migrations up to `tag`. */
function oldDatabase(tag: string): Database.Database {
  const old = path.join(dir, `migrations-${tag}`);
  fs.cpSync(path.join(REPO, 'migrations'), old, { recursive: true });
  const journalPath = path.join(old, 'meta', '_journal.json');
  const journal = JSON.parse(fs.readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
  const upTo = journal.entries.findIndex((e) => e.tag === tag);
  expect(upTo).toBeGreaterThanOrEqual(0);
  journal.entries = journal.entries.slice(0, upTo + 1);
  fs.writeFileSync(journalPath, JSON.stringify(journal));
  const db = new Database(dbPath);
  migrate(drizzle({ client: db }), { migrationsFolder: old });
  return db;
}

const ascii = (s: string) => Buffer.from(s, 'latin1');
const T = Date.UTC(2026, 10, 20, 12);

interface OldFrame {
  ts: number;
  protocol: string;
  link: string;
  dir: 'rx' | 'tx';
  address: string | null;
  bytes: Buffer;
  text: string | null;
  kind: string;
  deviceId: string | null;
  meta: Record<string, unknown> | null;
}

/** Frames of every family as their drivers recorded them under the previous schema (0007–0020). */
function oldFrames(): OldFrame[] {
  const can = (ext: boolean, remote = false) => ({ extended: ext, remote });
  const rows: OldFrame[] = [
    // Flatpack2 (flatpack2.md): a status frame, the login, a SET, a hello with the serial.
    { ts: T, protocol: 'can', link: 'can0', dir: 'rx', address: '05014004', bytes: Buffer.from('1b10004e1534120000'.slice(0, 16), 'hex'), text: null, kind: 'status', deviceId: 'fp2-192750001639', meta: can(true) },
    { ts: T + 1, protocol: 'can', link: 'can0', dir: 'tx', address: '05004804', bytes: Buffer.from('1927500016390000', 'hex'), text: null, kind: 'login', deviceId: 'fp2-192750001639', meta: can(true) },
    { ts: T + 1, protocol: 'can', link: 'can0', dir: 'tx', address: '05FF4004', bytes: Buffer.from('7800181518153e17', 'hex'), text: null, kind: 'set', deviceId: null, meta: can(true) },
    { ts: T + 1, protocol: 'can', link: 'can0', dir: 'rx', address: '05000000', bytes: Buffer.from('1b19275000163900', 'hex'), text: null, kind: 'hello', deviceId: 'fp2-192750001639', meta: can(true) },
    // BMS (bms-can.md): 0x351 charge limits, 0x355 SOC, an unknown remote frame, an invalid one.
    { ts: T + 2, protocol: 'can', link: 'bms0', dir: 'rx', address: '351', bytes: Buffer.from('2802e803e803e001', 'hex'), text: null, kind: 'charge-limits', deviceId: 'bms0', meta: can(false) },
    { ts: T + 3, protocol: 'can', link: 'bms0', dir: 'rx', address: '355', bytes: Buffer.from('50006400', 'hex'), text: null, kind: 'soc', deviceId: 'bms0', meta: can(false) },
    { ts: T + 3, protocol: 'can', link: 'bms0', dir: 'rx', address: '00A', bytes: Buffer.alloc(0), text: null, kind: 'unknown', deviceId: null, meta: can(false, true) },
    { ts: T + 4, protocol: 'can', link: 'bms0', dir: 'rx', address: '356', bytes: Buffer.from('ffff', 'hex'), text: 'voltage 655.35 V out of bounds', kind: 'invalid', deviceId: 'bms0', meta: can(false) },
    // PI18 (pi18.md §3): ^P007PIRI with its CRC and CR; a reply with meta; a NAK.
    { ts: T + 5, protocol: 'pi18', link: 'inv0', dir: 'tx', address: null, bytes: Buffer.from([...ascii('^P007PIRI'), 0xee, 0x38, 0x0d]), text: '^P007PIRI', kind: 'PIRI', deviceId: 'inv0', meta: null },
    { ts: T + 6, protocol: 'pi18', link: 'inv0', dir: 'rx', address: null, bytes: Buffer.from([...ascii('^D0882300,217,2300,500,217,5000,5000,480,480,530,440,570,560,2,10,080,1,1,1,9,1,0,0,0,1,00'), 0x9a, 0x3c, 0x0d]), text: '^D0882300,217,2300,500,217,5000,5000,480,480,530,440,570,560,2,10,080,1,1,1,9,1,0,0,0,1,00', kind: 'PIRI', deviceId: 'inv0', meta: { command: 'PIRI' } },
    { ts: T + 6, protocol: 'pi18', link: 'inv0', dir: 'rx', address: null, bytes: Buffer.from([...ascii('^0'), 0x1b, 0xe3, 0x0d]), text: '^0 (NAK)', kind: 'nak', deviceId: 'inv0', meta: { command: 'PEA', lengthMismatch: true } },
    // VE.Bus MK2 (vebus-mk2.md §11): select address 0; a reply with a binary text.
    { ts: T + 7, protocol: 'mk2', link: 'vebus0', dir: 'tx', address: '0', bytes: Buffer.from('04ff410100bb', 'hex'), text: 'A: select address 0', kind: 'A', deviceId: 'mp0', meta: null },
    { ts: T + 8, protocol: 'mk2', link: 'vebus0', dir: 'rx', address: '0', bytes: Buffer.from('0fff56240a0a0a000000000000000000c0', 'hex'), text: null, kind: 'version', deviceId: 'mp0', meta: null },
    // OpenEVSE RAPI (openevse-rapi.md vector 13): $GS with sequence id, its reply; a line with Latin-1 noise.
    { ts: T + 9, protocol: 'rapi', link: 'evse0', dir: 'tx', address: '2A', bytes: ascii('$GS :2A^59\r'), text: '$GS :2A^59', kind: 'GS', deviceId: 'evse0', meta: null },
    { ts: T + 9, protocol: 'rapi', link: 'evse0', dir: 'rx', address: '2A', bytes: ascii('$OK 03 0 02 0700 :2A^7E\r'), text: '$OK 03 0 02 0700 :2A^7E', kind: 'GS', deviceId: 'evse0', meta: null },
    { ts: T + 10, protocol: 'rapi', link: 'evse0', dir: 'rx', address: null, bytes: Buffer.from([0x24, 0xe9, 0x4f, 0x4b, 0x0d]), text: '$éOK', kind: 'corrupt', deviceId: 'evse0', meta: null },
    // A text that is not the bytes, an empty text, a clock stepped back, a fractional ts.
    { ts: T + 11, protocol: 'rapi', link: 'evse0', dir: 'rx', address: null, bytes: ascii('$ST 1\r'), text: 'state: ready', kind: 'ST', deviceId: 'evse0', meta: null },
    { ts: T + 11, protocol: 'pi18', link: 'inv0', dir: 'rx', address: null, bytes: ascii('\r'), text: '', kind: 'stale', deviceId: 'inv0', meta: { disposition: 'late' } },
    { ts: T - 5000, protocol: 'can', link: 'can0', dir: 'rx', address: '05014004', bytes: Buffer.from('1b10004e15341200', 'hex'), text: null, kind: 'status', deviceId: 'fp2-192750001639', meta: can(true) },
    { ts: T + 12.5, protocol: 'can', link: 'can0', dir: 'rx', address: '05014004', bytes: Buffer.from('1b10004e15341200', 'hex'), text: null, kind: 'status', deviceId: 'fp2-192750001639', meta: can(true) },
  ];
  // A burst: more frames in one ms than a frame id has room for (they keep their ts).
  for (let i = 0; i < FRAME_ID_PER_MS + 3; i++) rows.push({ ts: T + 20, protocol: 'can', link: 'bms0', dir: 'rx', address: '359', bytes: Buffer.from([i & 0xff, i >> 8]), text: null, kind: 'alarms', deviceId: 'bms0', meta: can(false) });
  rows.push({ ts: T + 21, protocol: 'can', link: 'bms0', dir: 'rx', address: '359', bytes: Buffer.from([1]), text: null, kind: 'alarms', deviceId: 'bms0', meta: can(false) });
  return rows;
}

type Values = Record<string, number | string | null>;

/** Samples of every family as the engine recorded them (values as JSON text). */
function oldSamples(): Array<{ ts: number; deviceId: string; values: Values }> {
  const out: Array<{ ts: number; deviceId: string; values: Values }> = [];
  for (let i = 0; i < 40; i++) {
    const ts = T + i * 1000;
    out.push({ ts, deviceId: 'fp2-192750001639', values: { outputVoltageV: 53.47 + i / 100, outputCurrentA: 12.3, outputPowerW: 657.7, inputVoltageV: 230, intakeTempC: 25, outputTempC: 33, state: i % 10 === 0 ? 'walk-in' : 'normal' } });
    out.push({ ts, deviceId: 'bms0', values: { socPct: 80, sohPct: 98, voltageV: 53.12, currentA: -12.5, tempC: 23.4, cellHighV: 3.345, cellLowV: 3.331, cellDeltaV: 0.014, chargeVoltageLimitV: 56.8, chargeCurrentLimitA: 100 } });
    out.push({ ts: ts + 1, deviceId: 'inv0', values: { acOutputVoltageV: 230.1, acOutputActivePowerW: 1234, batteryVoltageV: 52.9, pvInputPowerW: null, mode: 'Battery', warning: 'Übertemperatur ⚠ near limit, check the fan and the air intake of the unit now' } });
    out.push({ ts: ts + 2, deviceId: 'mp0', values: { acInVoltageV: 229.7, acInCurrentA: 0.1, dcVoltageV: 53.04, dcCurrentA: -20.25, stateOfChargePct: 79.5, state: 'inverting', frequencyHz: 50.01 } });
    out.push({ ts: ts + 3, deviceId: 'evse0', values: { currentA: 15.98, voltageV: 240, powerW: 3835.2, energyWh: 123456.789, tempC: 31.5, state: 'charging', pilotA: 16 } });
  }
  // Numbers the decimal encoding cannot hold (kept as float64), negatives, zero, big, tiny.
  out.push({ ts: T + 99_000, deviceId: 'charger-1', values: { a: 0.1 + 0.2, b: -1e-9, c: 2 ** 52 + 1, d: 0, e: -273.15, f: 1e21, g: Math.PI } });
  // Two samples of one device in the same ms (kept both).
  out.push({ ts: T + 99_000, deviceId: 'charger-1', values: { a: 1 } });
  return out;
}

function insertOld(db: Database.Database): void {
  db.transaction(() => insertOldRows(db))();
}

function insertOldRows(db: Database.Database): void {
  const f = db.prepare('INSERT INTO frames (ts, protocol, link, dir, address, bytes, text, kind, device_id, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  for (const r of oldFrames()) f.run(r.ts, r.protocol, r.link, r.dir, r.address, r.bytes, r.text, r.kind, r.deviceId, r.meta === null ? null : JSON.stringify(r.meta));
  const s = db.prepare('INSERT INTO samples (ts, device_id, "values") VALUES (?, ?, ?)');
  for (const r of oldSamples()) s.run(r.ts, r.deviceId, JSON.stringify(r.values));
}

const plainFrame = (f: StoredFrame) => ({ ts: f.ts, protocol: f.protocol, link: f.link, dir: f.dir, address: f.address, bytes: Buffer.from(f.bytes).toString('hex'), text: f.text, kind: f.kind, deviceId: f.deviceId, meta: f.meta });
const plainOld = (r: { ts: number; protocol: string; link: string; dir: string; address: string | null; bytes: Buffer; text: string | null; kind: string; device_id: string | null; meta: string | null }) => ({
  ts: r.ts,
  protocol: r.protocol,
  link: r.link,
  dir: r.dir,
  address: r.address,
  bytes: r.bytes.toString('hex'),
  text: r.text,
  kind: r.kind,
  deviceId: r.device_id,
  meta: r.meta === null ? null : (JSON.parse(r.meta) as Record<string, unknown>),
});
const byFrame = (a: ReturnType<typeof plainOld>, b: ReturnType<typeof plainOld>) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1;

function allFrames(s: Store): StoredFrame[] {
  const out: StoredFrame[] = [];
  let after: string | null = null;
  do {
    const p = s.listFrames({}, 500, after);
    out.push(...p.items);
    after = p.hasNextPage ? p.endCursor : null;
  } while (after !== null);
  return out;
}

describe('migration 0021: a store made by the previous schema converts without losing rows', () => {
  it('every frame and sample of every family reads back the same; samples keep their ids, the outbox cursor and the sequence', async () => {
    const db = oldDatabase('0020_fleet_outbox');
    insertOld(db);
    // The newest samples were deleted once (the AUTOINCREMENT sequence stays above them), and the
    // fleet outbox has forwarded some samples.
    const maxBefore = (db.prepare('SELECT max(id) AS m FROM samples').get() as { m: number }).m;
    db.prepare('DELETE FROM samples WHERE id > ?').run(maxBefore - 2);
    db.prepare("INSERT INTO fleet_cursor (stream, last_id) VALUES ('samples', 17)").run();
    const framesBefore = (db.prepare('SELECT ts, protocol, link, dir, address, bytes, text, kind, device_id, meta FROM frames').all() as Parameters<typeof plainOld>[0][]).map(plainOld);
    const samplesBefore = (db.prepare('SELECT id, ts, device_id, "values" AS v FROM samples ORDER BY id').all() as Array<{ id: number; ts: number; device_id: string; v: string }>).map((r) => ({ id: r.id, ts: r.ts, deviceId: r.device_id, values: JSON.parse(r.v) as Values }));
    const oldFrameIds = (db.prepare('SELECT max(id) AS m FROM frames').get() as { m: number }).m;
    expect(framesBefore.length).toBe(oldFrames().length);
    expect(samplesBefore.length).toBe(oldSamples().length - 2);
    db.close();

    const s = Store.open({ path: dbPath, flushIntervalMs: 600_000, backfillRollups: false });
    open.push(s);

    // Frames: every row, every field (the order by time; rows of one ms keep their order).
    const after = allFrames(s);
    expect(after.map(plainFrame).sort(byFrame)).toEqual([...framesBefore].sort(byFrame));
    expect(after.every((f, i) => i === 0 || f.id < after[i - 1]!.id)).toBe(true);
    // The burst kept its order and its ts although it overflowed its ms.
    const burst = after.filter((f) => f.address === '359' && f.ts === T + 20).reverse();
    expect(burst.map((f) => Buffer.from(f.bytes).readUInt16LE(0) ?? 0).slice(0, 3)).toEqual([0, 1, 2]);
    expect(burst).toHaveLength(FRAME_ID_PER_MS + 3);
    // Filters on migrated rows: by channel and by time.
    expect(s.listFrames({ protocol: 'pi18' }, 10).items.map((f) => f.kind)).toEqual(['stale', 'nak', 'PIRI', 'PIRI']);
    expect(s.listFrames({ link: 'evse0', dir: 'rx' }, 10).items.map((f) => f.text)).toEqual(['state: ready', '$éOK', '$OK 03 0 02 0700 :2A^7E']);
    expect(s.listFrames({ from: T + 12, to: T + 13 }, 10).items.map((f) => f.ts)).toEqual([T + 12.5]);
    expect(s.listFrames({ to: T - 1 }, 10).items.map((f) => f.ts)).toEqual([T - 5000]);
    // A cursor handed out before the conversion holds an old id: refused with a code, never a wrong page.
    expect(() => s.listFrames({}, 10, encodeCursor(oldFrameIds))).toThrow(expect.objectContaining({ code: 'BAD_CURSOR' }));

    // Samples: the same ids (the outbox's cursor), ts, device and values, before and after the rewrite.
    const read = () => s.samplesAfterId(0, 10_000);
    expect(read()).toEqual(samplesBefore);
    expect(s.samplesAfterId(17, 3).map((r) => r.id)).toEqual([18, 19, 20]);
    expect(s.db.prepare("SELECT last_id FROM fleet_cursor WHERE stream = 'samples'").get()).toEqual({ last_id: 17 });
    for (const d of ['fp2-192750001639', 'bms0', 'inv0', 'mp0', 'evse0', 'charger-1']) {
      expect(s.telemetry(d, T - 1, T + 200_000, 10_000).map((r) => ({ ts: r.ts, values: r.values }))).toEqual(
        samplesBefore.filter((r) => r.deviceId === d).map((r) => ({ ts: r.ts, values: r.values })),
      );
    }
    expect(s.db.prepare("SELECT count(*) AS n FROM samples WHERE typeof(v) = 'text'").get()).toEqual({ n: samplesBefore.length });
    await s.compactLegacySamples(7);
    expect(s.db.prepare("SELECT count(*) AS n FROM samples WHERE typeof(v) = 'text'").get()).toEqual({ n: 0 });
    expect(read()).toEqual(samplesBefore);
    // The sequence stayed above the deleted ids: a new sample never reuses one the outbox may have sent.
    s.appendSample({ ts: T + 200_000, deviceId: 'bms0', values: { socPct: 81 } });
    expect(s.samplesAfterId(maxBefore - 2, 10).map((r) => r.id)).toEqual([maxBefore + 1]);

    // Reopened: the interned keys and channels load, nothing is converted twice.
    s.close();
    open.pop();
    const again = Store.open({ path: dbPath, flushIntervalMs: 600_000, backfillRollups: false });
    open.push(again);
    expect(again.samplesAfterId(0, 10_000).slice(0, samplesBefore.length)).toEqual(samplesBefore);
    expect(allFrames(again).map(plainFrame).sort(byFrame)).toEqual([...framesBefore].sort(byFrame));
    expect(again.db.prepare("SELECT count(*) AS n FROM store_meta WHERE key LIKE 'samples_legacy%'").get()).toEqual({ n: 0 });
  });

  it('the open() of a migrated store rewrites the old samples in the background by itself', async () => {
    const db = oldDatabase('0020_fleet_outbox');
    insertOld(db);
    db.close();
    const s = Store.open({ path: dbPath, flushIntervalMs: 600_000 });
    open.push(s);
    await s.compactLegacySamples();
    expect(s.db.prepare("SELECT count(*) AS n FROM samples WHERE typeof(v) = 'text'").get()).toEqual({ n: 0 });
    expect(s.samplesAfterId(0, 10_000).map((r) => r.values)).toEqual(oldSamples().map((r) => JSON.parse(JSON.stringify(r.values)) as Values));
  });
});

describe('compact encodings', () => {
  it('sample values round-trip exactly (decimals, float64, text, null, JSON-only values as JSON did)', () => {
    const shapes: string[][] = [];
    const texts: string[] = [];
    const keys = {
      shape: (n: readonly string[]) => {
        const i = shapes.findIndex((x) => JSON.stringify(x) === JSON.stringify(n));
        return i >= 0 ? i : shapes.push([...n]) - 1;
      },
      text: (t: string) => (t.length > 10 ? null : texts.includes(t) ? texts.indexOf(t) : texts.push(t) - 1),
    };
    const lookup = { shape: (i: number) => shapes[i]!, text: (i: number) => texts[i]! };
    const w = new ByteWriter();
    const cases: Record<string, unknown>[] = [
      { v: 53.47, a: -12.3, p: 657.7, t: 25, z: 0, nz: -0, s: 'normal', n: null },
      { x: 0.1 + 0.2, big: 2 ** 53, huge: 1e300, tiny: 5e-324, neg: -123456.7891, e: 1e-4, cell: 3.345 },
      { long: 'a text longer than ten', uni: 'Ünï ⚠', empty: '', nan: NaN, inf: Infinity, undef: undefined },
      { bool: true, obj: { a: 1 }, arr: [1, 'x'] },
      {},
    ];
    for (const c of cases) {
      const back = decodeValues(encodeValues(c, keys, w), lookup);
      expect(back).toEqual(JSON.parse(JSON.stringify(c)));
      for (const k of Object.keys(back)) if (typeof back[k] === 'number') expect(Object.is(back[k], JSON.parse(JSON.stringify(c))[k])).toBe(true);
    }
  });
});

describe('bytes per row on a real file', () => {
  it('≤ 50 bytes per CAN frame and ≤ 60 per sample (20k rows each, after VACUUM, by dbstat)', () => {
    const r = measureRowBytes(20_000, dir);
    expect(r.bytesPerFrame).toBeLessThanOrEqual(50);
    expect(r.bytesPerSample).toBeLessThanOrEqual(60);
  });
});
