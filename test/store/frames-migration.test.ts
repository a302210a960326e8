/**
 * Migrations 0005–0007 turn the CAN-only `frames` table into the generic frame record (issue 10,
 * "Store"): a real SQLite file made by the migrations up to 0004, holding rows of the old shape,
 * is opened by the Store, migrated, and read back through the new API.
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

const REPO = fileURLToPath(new URL('../../', import.meta.url));

let dir: string;
let dbPath: string;
const open: Store[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'powerplane-frames-migration-'));
  dbPath = path.join(dir, 'old.db');
});

afterEach(() => {
  for (const s of open.splice(0)) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A database as the release before the generic frames left it: the migrations up to `tag`. */
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

interface OldFrame {
  ts: number;
  busId: string;
  dir: 'rx' | 'tx';
  canId: number;
  extended: boolean;
  remote: boolean;
  data: Uint8Array;
  kind: string;
  deviceId: string | null;
}

/** Rows of the old shape, as the engine wrote them before: Flatpack2 and BMS traffic on two buses. */
const OLD: OldFrame[] = [
  { ts: 1000, busId: 'can0', dir: 'rx', canId: 0x05014004, extended: true, remote: false, data: Uint8Array.of(0x1b, 0x10, 0x00, 0x4e, 0x15, 0x34, 0x12, 0x00), kind: 'status', deviceId: 'fp2-123' },
  { ts: 1001, busId: 'can0', dir: 'tx', canId: 0x05ff4004, extended: true, remote: false, data: Uint8Array.of(0x78, 0x00, 0x18, 0x15, 0x18, 0x15, 0x3e, 0x17), kind: 'set', deviceId: null },
  { ts: 1002, busId: 'can1', dir: 'rx', canId: 0x351, extended: false, remote: false, data: Uint8Array.of(0x28, 0x02, 0xe8, 0x03, 0xe8, 0x03, 0xe0, 0x01), kind: 'charge-limits', deviceId: 'bms0' },
  { ts: 1003, busId: 'can1', dir: 'rx', canId: 0x0a, extended: false, remote: true, data: new Uint8Array(0), kind: 'unknown', deviceId: null },
  { ts: 1004, busId: 'can0', dir: 'rx', canId: 0x18ff50e5, extended: true, remote: true, data: Uint8Array.of(0xff), kind: 'invalid', deviceId: null },
];

function insertOld(db: Database.Database, rows: OldFrame[]): void {
  const ins = db.prepare('INSERT INTO frames (ts, bus_id, dir, can_id, extended, remote, data, kind, device_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  for (const f of rows) ins.run(f.ts, f.busId, f.dir, f.canId, f.extended ? 1 : 0, f.remote ? 1 : 0, f.data, f.kind, f.deviceId);
}

const plain = (f: StoredFrame) => ({ ...f, bytes: Array.from(f.bytes) });

describe('generic frames: an existing database migrates', () => {
  it('CAN rows of the old schema read back as protocol "can" frame records (address, bytes, meta), filters and cursors work', () => {
    const db = oldDatabase('0004_bus_setpoints_from_events');
    expect(db.prepare('SELECT name FROM pragma_table_info(?)').all('frames').map((c) => (c as { name: string }).name)).toContain('can_id');
    insertOld(db, OLD);
    db.close();

    const s = Store.open({ path: dbPath, flushIntervalMs: 600_000 });
    open.push(s);
    const all = s.listFrames({}, 100).items;
    // Migration 0021 gave the frames new ids (the time, src/store/row-codec.ts), newest first still.
    expect(all.every((f, i) => i === 0 || f.id < all[i - 1]!.id)).toBe(true);
    expect(all.map(plain).map(({ id: _id, ...f }) => f)).toEqual([
      { ts: 1004, protocol: 'can', link: 'can0', dir: 'rx', address: '18FF50E5', bytes: [0xff], text: null, kind: 'invalid', deviceId: null, meta: { extended: true, remote: true } },
      { ts: 1003, protocol: 'can', link: 'can1', dir: 'rx', address: '00A', bytes: [], text: null, kind: 'unknown', deviceId: null, meta: { extended: false, remote: true } },
      { ts: 1002, protocol: 'can', link: 'can1', dir: 'rx', address: '351', bytes: [0x28, 0x02, 0xe8, 0x03, 0xe8, 0x03, 0xe0, 0x01], text: null, kind: 'charge-limits', deviceId: 'bms0', meta: { extended: false, remote: false } },
      { ts: 1001, protocol: 'can', link: 'can0', dir: 'tx', address: '05FF4004', bytes: [0x78, 0x00, 0x18, 0x15, 0x18, 0x15, 0x3e, 0x17], text: null, kind: 'set', deviceId: null, meta: { extended: true, remote: false } },
      { ts: 1000, protocol: 'can', link: 'can0', dir: 'rx', address: '05014004', bytes: [0x1b, 0x10, 0x00, 0x4e, 0x15, 0x34, 0x12, 0x00], text: null, kind: 'status', deviceId: 'fp2-123', meta: { extended: true, remote: false } },
    ]);

    // The readers' filters on migrated rows.
    expect(s.listFrames({ link: 'can1' }, 10).items.map((f) => f.ts)).toEqual([1003, 1002]);
    expect(s.listFrames({ protocol: 'can', address: '05FF4004', dir: 'tx' }, 10).items.map((f) => f.ts)).toEqual([1001]);
    expect(s.listFrames({ kind: 'status', deviceId: 'fp2-123' }, 10).items.map((f) => f.ts)).toEqual([1000]);
    const p1 = s.listFrames({}, 2);
    expect(s.listFrames({}, 10, p1.endCursor).items.map((f) => f.ts)).toEqual([1002, 1001, 1000]);

    // New frames of other protocols go in after them, ids continuing.
    s.appendFrame({ ts: 2000, link: 'inv0', protocol: 'pi18', dir: 'tx', address: null, bytes: Uint8Array.of(0x5e, 0x50, 0x30, 0x30, 0x37, 0x50, 0x49, 0x52, 0x49, 0xee, 0x38, 0x0d), text: '^P007PIRI', kind: 'PIRI', deviceId: 'inv0' });
    const pi18 = s.listFrames({ protocol: 'pi18' }, 10).items;
    expect(pi18.map((f) => [f.ts, f.link, f.text, f.meta])).toEqual([[2000, 'inv0', '^P007PIRI', null]]);
    expect(pi18[0]!.id).toBeGreaterThan(all[0]!.id);

    // The CAN columns are gone and the indexes are the new ones.
    const cols = s.db.prepare('SELECT name FROM pragma_table_info(?)').all('frames').map((c) => (c as { name: string }).name);
    expect(cols).toEqual(['id', 'lk', 'ch', 'bytes', 'text', 'ts']);
    const idx = s.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'frames' ORDER BY name").all().map((r) => (r as { name: string }).name);
    expect(idx).toEqual(['frames_link_idx']);
  });

  it('an empty frames table of the old schema migrates too, and re-opening applies nothing twice', () => {
    oldDatabase('0004_bus_setpoints_from_events').close();
    const s = Store.open({ path: dbPath, flushIntervalMs: 600_000 });
    expect(s.listFrames({}, 10).items).toEqual([]);
    s.appendFrame({ ts: 1, link: 'evse0', protocol: 'rapi', dir: 'rx', address: '2A', bytes: new TextEncoder().encode('$OK 02 0 02 0700 :2A^7E\r'), text: '$OK 02 0 02 0700 :2A^7E', kind: 'GS', deviceId: 'evse0', meta: { seq: 0x2a } });
    s.close();
    const again = Store.open({ path: dbPath, flushIntervalMs: 600_000 });
    open.push(again);
    expect(again.listFrames({}, 10).items.map((f) => [f.ts, f.protocol, f.address, f.meta, f.text])).toEqual([[1, 'rapi', '2A', { seq: 42 }, '$OK 02 0 02 0700 :2A^7E']]);
  });
});
