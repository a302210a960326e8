import { readFileSync } from 'node:fs';
// Store behaviour on real SQLite files in a temp dir.
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, type FrameRow, type StoreOptions } from '../../src/store/store.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/append-durable-then-wait.ts', import.meta.url));

let dir: string;
let dbPath: string;
const open: Store[] = [];

function openStore(opts: Partial<StoreOptions> = {}): Store {
  // A long timer by default so tests see exactly what their own flushes wrote.
  const s = Store.open({ path: dbPath, flushIntervalMs: 600_000, ...opts });
  open.push(s);
  return s;
}

/** A second connection: what another process would see on disk. */
function peek<T>(query: string): T[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare(query).all() as T[];
  } finally {
    db.close();
  }
}

const ascii = (t: string) => new TextEncoder().encode(t);

/** Frames of every protocol the store records: CAN, PI18 and RAPI ASCII lines, MK2 binary. */
function frame(i: number, over: Partial<FrameRow> = {}): FrameRow {
  const base = {
    ts: 1000 + i,
    link: i % 2 === 0 ? 'can0' : 'can1',
    dir: i % 3 === 0 ? ('tx' as const) : ('rx' as const),
    kind: i % 3 === 0 ? 'set' : 'status',
    deviceId: i % 4 === 0 ? null : `fp2-${i % 4}`,
  };
  const proto = i % 6;
  const f: FrameRow =
    proto === 1
      ? // pi18.md §3: ^P007PIRI with its CRC EE 38 and CR.
        { ...base, protocol: 'pi18', address: null, bytes: Uint8Array.of(0x5e, 0x50, 0x30, 0x30, 0x37, 0x50, 0x49, 0x52, 0x49, 0xee, 0x38, 0x0d), text: '^P007PIRI', kind: 'PIRI' }
      : proto === 3
        ? // vebus-mk2.md §11 example 1: select VE.Bus address 0.
          { ...base, protocol: 'mk2', address: '0', bytes: Uint8Array.of(0x04, 0xff, 0x41, 0x01, 0x00, 0xbb), text: null, kind: 'A' }
        : proto === 5
          ? // openevse-rapi.md vector 13: $GS with sequence id 2A.
            { ...base, protocol: 'rapi', address: '2A', bytes: ascii('$GS :2A^59\r'), text: '$GS :2A^59', kind: 'GS' }
          : {
              ...base,
              protocol: 'can',
              address: (0x05014000 + (i % 4)).toString(16).toUpperCase().padStart(8, '0'),
              bytes: Uint8Array.of(i & 0xff, (i >> 8) & 0xff, 0xaa),
              text: null,
              meta: { extended: i % 5 !== 0, remote: i % 7 === 0 },
            };
  return { ...f, ...over };
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'powerplane-store-test-'));
  dbPath = path.join(dir, 'test.db');
});

afterEach(() => {
  for (const s of open.splice(0)) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('open and migrations', () => {
  it('creates the tables and indexes in WAL mode, and re-opening applies nothing twice', () => {
    const s = openStore();
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    s.appendEvent({ ts: 1, type: 'device.discovered', deviceId: 'fp2-1' }, { durable: true });
    s.close();

    const names = peek<{ name: string }>("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')").map(
      (r) => r.name,
    );
    expect(names).toEqual(
      expect.arrayContaining([
        'frames',
        'samples',
        'events',
        'devices',
        'frame_channels',
        'store_keys',
        'frames_link_idx',
        'samples_dev_ts_idx',
        'events_type_device_id_id_idx',
        'events_device_id_id_idx',
        'events_ts_idx',
      ]),
    );
    // One row per migration drizzle-kit generated (migrations/meta/_journal.json).
    const journal = JSON.parse(readFileSync(new URL('../../migrations/meta/_journal.json', import.meta.url), 'utf8')) as { entries: unknown[] };
    expect(journal.entries.length).toBeGreaterThanOrEqual(2);
    expect(peek('SELECT * FROM __drizzle_migrations')).toHaveLength(journal.entries.length);

    const again = openStore();
    expect(peek('SELECT * FROM __drizzle_migrations')).toHaveLength(journal.entries.length);
    expect(again.listEvents({}, 10).items.map((e) => e.type)).toEqual(['device.discovered']);
  });

  it('commits a durable event fsynced (synchronous=FULL) and returns to NORMAL for batches', () => {
    const s = openStore();
    const seen: number[] = [];
    const realPragma = s.db.pragma.bind(s.db);
    // Record the synchronous level in force when the durable transaction commits.
    (s.db as unknown as { pragma: typeof s.db.pragma }).pragma = ((src: string, o?: { simple?: boolean }) => {
      const r = realPragma(src, o as never);
      if (src.startsWith('synchronous =')) seen.push(realPragma('synchronous', { simple: true }) as number);
      return r;
    }) as typeof s.db.pragma;
    s.appendFrame(frame(1));
    s.appendEvent({ ts: 2, type: 'setpoint.accepted', data: {} }, { durable: true });
    expect(seen).toEqual([2, 1]); // FULL during the durable commit, NORMAL after
    expect(realPragma('synchronous', { simple: true })).toBe(1);
    expect(s.listEvents({}, 5).items).toHaveLength(1);
    s.close();
  });

  it('refuses appends after close, and close writes what was queued', () => {
    const s = openStore();
    s.appendFrame(frame(1));
    s.appendEvent({ ts: 5, type: 'connection.changed', busId: 'can0', data: { up: true } });
    s.close();
    expect(() => s.appendFrame(frame(2))).toThrow(/closed/);
    expect(peek('SELECT id FROM frames')).toHaveLength(1);
    expect(peek('SELECT id FROM events')).toHaveLength(1);
  });
});

describe('frames', () => {
  it('round-trips every field and pages newest first with an opaque cursor', () => {
    const s = openStore();
    const input = Array.from({ length: 25 }, (_, i) => frame(i));
    for (const f of input) s.appendFrame(f);
    // Ids are opaque and rise in the order frames were recorded (they encode the time).
    const ids = s.listFrames({}, 100).items.map((f) => f.id).reverse();
    expect(ids).toHaveLength(25);
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);

    const seen: number[] = [];
    let after: string | null = null;
    const sizes: number[] = [];
    for (;;) {
      const page = s.listFrames({}, 10, after);
      sizes.push(page.items.length);
      seen.push(...page.items.map((f) => f.id));
      if (!page.hasNextPage) {
        expect(page.endCursor).toBe(page.items.length ? page.endCursor : null);
        break;
      }
      after = page.endCursor;
    }
    expect(sizes).toEqual([10, 10, 5]);
    expect(seen).toEqual([...ids].reverse());

    const newest = s.listFrames({}, 1).items[0];
    const { id, bytes, ...rest } = newest;
    const { bytes: inBytes, ...inRest } = input[24];
    expect(id).toBe(ids[24]);
    expect(rest).toEqual({ meta: null, ...inRest });
    expect(Array.from(bytes)).toEqual(Array.from(inBytes));
    // Every protocol's frame comes back as it went in (a frame without meta reads meta: null).
    const back = new Map(s.listFrames({}, 100).items.map((f) => [f.id, f]));
    input.forEach((f, i) => {
      const { bytes: b, ...r } = back.get(ids[i]!)!;
      expect({ ...r, bytes: Array.from(b) }).toEqual({ id: ids[i], meta: null, ...f, bytes: Array.from(f.bytes) });
    });
  });

  it('applies each filter, alone and combined with pagination', () => {
    const s = openStore();
    const input = Array.from({ length: 60 }, (_, i) => frame(i));
    for (const f of input) s.appendFrame(f);
    const ids = s.listFrames({}, 100).items.map((f) => f.id).reverse();
    const idsWhere = (pred: (f: FrameRow) => boolean) =>
      input
        .map((f, i) => ({ f, id: ids[i]! }))
        .filter((x) => pred(x.f))
        .map((x) => x.id)
        .reverse();
    const all = (filter: Parameters<Store['listFrames']>[0]) => {
      const ids: number[] = [];
      let after: string | null = null;
      do {
        const page = s.listFrames(filter, 7, after);
        ids.push(...page.items.map((f) => f.id));
        after = page.hasNextPage ? page.endCursor : null;
      } while (after !== null);
      return ids;
    };
    expect(all({ link: 'can1' })).toEqual(idsWhere((f) => f.link === 'can1'));
    expect(all({ address: '05014002' })).toEqual(idsWhere((f) => f.address === '05014002'));
    expect(all({ protocol: 'pi18' })).toEqual(idsWhere((f) => f.protocol === 'pi18'));
    expect(all({ protocol: 'can', address: '05014002' }).length).toBeGreaterThan(0);
    expect(all({ dir: 'tx' })).toEqual(idsWhere((f) => f.dir === 'tx'));
    expect(all({ kind: 'set' })).toEqual(idsWhere((f) => f.kind === 'set'));
    expect(all({ deviceId: 'fp2-3' })).toEqual(idsWhere((f) => f.deviceId === 'fp2-3'));
    expect(all({ from: 1010, to: 1020 })).toEqual(idsWhere((f) => f.ts >= 1010 && f.ts <= 1020));
    expect(all({ link: 'can0', dir: 'rx', from: 1030 })).toEqual(
      idsWhere((f) => f.link === 'can0' && f.dir === 'rx' && f.ts >= 1030),
    );
    expect(s.listFrames({ link: 'nope' }, 5)).toEqual({ items: [], endCursor: null, hasNextPage: false });
    expect(() => s.listFrames({}, 5, 'bm90LWFuLWlk')).toThrow(/invalid page cursor/);
  });

  it('shows queued rows to reads, and batches them on disk until a flush', () => {
    const s = openStore({ maxBatch: 100 });
    for (let i = 0; i < 10; i++) s.appendFrame(frame(i));
    expect(s.stats.queued).toBe(10);
    expect(peek('SELECT id FROM frames')).toHaveLength(0);
    expect(s.listFrames({}, 100).items).toHaveLength(10);
    expect(s.stats).toMatchObject({ queued: 0, flushedRows: 10, flushes: 1 });
    expect(peek('SELECT id FROM frames')).toHaveLength(10);

    // maxBatch forces a flush without a read.
    for (let i = 0; i < 100; i++) s.appendFrame(frame(i));
    expect(s.stats).toMatchObject({ queued: 0, flushedRows: 110, flushes: 2 });
    expect(peek('SELECT id FROM frames')).toHaveLength(110);
  });

  it('writes queued rows on the wall-clock timer', async () => {
    const s = openStore({ flushIntervalMs: 20 });
    s.appendFrame(frame(1));
    const deadline = Date.now() + 5000;
    while (s.stats.queued > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(s.stats.queued).toBe(0);
    expect(peek('SELECT id FROM frames')).toHaveLength(1);
  });
});

describe('events', () => {
  it('assigns ids at append, and a durable append commits everything queued before it', () => {
    const s = openStore();
    s.appendFrame(frame(1));
    s.appendSample({ ts: 1, deviceId: 'fp2-1', values: { voltageV: 53.1 } });
    const a = s.appendEvent({ ts: 10, type: 'setpoint.requested', deviceId: 'fp2-1', data: { voltageV: 53.5 } });
    expect(a).toEqual({
      id: 1,
      ts: 10,
      type: 'setpoint.requested',
      deviceId: 'fp2-1',
      busId: null,
      data: { voltageV: 53.5 },
    });
    expect(peek('SELECT id FROM events')).toHaveLength(0);

    const b = s.appendEvent({ ts: 11, type: 'setpoint.accepted', deviceId: 'fp2-1' }, { durable: true });
    expect(b.id).toBe(2);
    expect(peek('SELECT id FROM events ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }]);
    expect(peek('SELECT id FROM frames')).toHaveLength(1);
    expect(peek('SELECT id FROM samples')).toHaveLength(1);
  });

  it('filters by types, type prefix, device and time, newest first across pages', () => {
    const s = openStore();
    const types = ['setpoint.requested', 'setpoint.accepted', 'setpoint.rejected', 'connection.changed', 'Setpoint.odd'];
    const input = Array.from({ length: 40 }, (_, i) => ({
      ts: 100 + i,
      type: types[i % types.length],
      deviceId: i % 3 === 0 ? null : `fp2-${i % 3}`,
      data: { n: i },
    }));
    for (const e of input) s.appendEvent(e);
    const expected = (pred: (e: (typeof input)[number]) => boolean) =>
      input
        .map((e, i) => ({ e, id: i + 1 }))
        .filter((x) => pred(x.e))
        .map((x) => x.id)
        .reverse();
    const all = (filter: Parameters<Store['listEvents']>[0]) => {
      const ids: number[] = [];
      let after: string | null = null;
      do {
        const page = s.listEvents(filter, 4, after);
        ids.push(...page.items.map((e) => e.id));
        after = page.hasNextPage ? page.endCursor : null;
      } while (after !== null);
      return ids;
    };
    expect(all({})).toEqual(expected(() => true));
    expect(all({ types: ['setpoint.accepted', 'connection.changed'] })).toEqual(
      expected((e) => e.type === 'setpoint.accepted' || e.type === 'connection.changed'),
    );
    // Case-sensitive: 'Setpoint.odd' is not a 'setpoint.' event.
    expect(all({ typePrefix: 'setpoint.' })).toEqual(expected((e) => e.type.startsWith('setpoint.')));
    expect(all({ deviceId: 'fp2-2', typePrefix: 'setpoint.' })).toEqual(
      expected((e) => e.deviceId === 'fp2-2' && e.type.startsWith('setpoint.')),
    );
    expect(all({ from: 110, to: 119 })).toEqual(expected((e) => e.ts >= 110 && e.ts <= 119));
    expect(all({ types: [] })).toEqual([]);

    const one = s.listEvents({ types: ['setpoint.rejected'] }, 1).items[0];
    expect(one).toEqual({ id: 38, ts: 137, type: 'setpoint.rejected', deviceId: 'fp2-1', busId: null, data: { n: 37 } });
  });

  it('continues ids after reopen (events from max id + 1, frames above the last frame id)', () => {
    const s = openStore();
    for (let i = 0; i < 3; i++) s.appendEvent({ ts: i, type: 'x' });
    for (let i = 0; i < 3; i++) s.appendFrame(frame(i));
    const lastFrameId = s.listFrames({}, 1).items[0]!.id;
    s.close();

    const again = openStore();
    expect(again.appendEvent({ ts: 9, type: 'y' }).id).toBe(4);
    // Even a frame stamped before the last one (a clock stepped back) gets a higher id, and keeps its ts.
    again.appendFrame(frame(0, { ts: 5 }));
    const back = again.listFrames({}, 1).items[0]!;
    expect(back.id).toBeGreaterThan(lastFrameId);
    expect(back.ts).toBe(5);
    expect(again.listFrames({}, 10).items).toHaveLength(4);
    expect(again.eventsAfter(2).map((e) => [e.id, e.type])).toEqual([
      [3, 'x'],
      [4, 'y'],
    ]);
    expect(again.eventsAfter(0, { types: ['y'] }).map((e) => e.id)).toEqual([4]);
  });

  it('finds the latest event of a type per device, and the latest of several types', () => {
    const s = openStore();
    const log: [string, string | null, number][] = [
      ['setpoint.accepted', 'fp2-b', 1],
      ['setpoint.accepted', 'fp2-a', 2],
      ['setpoint.rejected', 'fp2-a', 3],
      ['setpoint.accepted', 'fp2-b', 4],
      ['setpoint.accepted', null, 5],
      ['setpoint.accepted', 'fp2-a', 6],
      ['setpoint.requested', 'fp2-c', 7],
      ['setpoint.rejected', 'fp2-b', 8],
    ];
    for (const [type, deviceId, n] of log) s.appendEvent({ ts: n, type, deviceId, data: { n } });

    expect(s.latestEventPerDevice('setpoint.accepted').map((e) => [e.deviceId, e.data.n])).toEqual([
      ['fp2-a', 6],
      ['fp2-b', 4],
    ]);
    expect(s.latestEventPerDevice('nothing')).toEqual([]);
    expect(s.latestEvent({ types: ['setpoint.accepted', 'setpoint.rejected'] })?.data.n).toBe(8);
    expect(s.latestEvent({ types: ['setpoint.accepted', 'setpoint.rejected'], deviceId: 'fp2-a' })?.data.n).toBe(6);
    expect(s.latestEvent({ types: ['setpoint.requested'], deviceId: 'fp2-a' })).toBeNull();
  });
});

describe('durability', () => {
  it('keeps a durable event when the process is SIGKILLed right after appending it', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dbPath], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve(out.slice(0, nl));
      });
      child.on('exit', () => reject(new Error(`fixture exited before reporting: ${stderr}`)));
    });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const ids = JSON.parse(line) as { durableId: number; queuedId: number };

    const s = openStore();
    const events = s.eventsAfter(0);
    expect(events.map((e) => e.id)).toEqual([ids.durableId]);
    expect(events[0]).toMatchObject({ type: 'setpoint.accepted', deviceId: 'fp2-1', data: { voltageV: 53.5, currentA: 20 } });
    // Everything queued before the durable event went down with it…
    expect(s.listFrames({}, 2000).items).toHaveLength(1000);
    // …and the later, non-durable one did not: the kill really skipped any graceful flush.
    expect(ids.queuedId).toBe(ids.durableId + 1);
    // Ids continue above the durably reserved block: the lost, never-committed id (it may
    // have been published live) is never handed out again (defect 9.7).
    expect(s.appendEvent({ ts: 2000, type: 'restart' }).id).toBeGreaterThan(ids.queuedId);
  });

  it('keeps rows queued through failing flushes without throwing into appends, then writes them', () => {
    const errors: Error[] = [];
    const s = openStore({ maxBatch: 10, maxQueued: 50, onFlushError: (e) => errors.push(e) });
    s.db.exec("CREATE TEMP TRIGGER refuse BEFORE INSERT ON frames BEGIN SELECT RAISE(ABORT, 'disk says no'); END");

    for (let i = 0; i < 60; i++) s.appendFrame(frame(i));
    expect(errors.map((e) => e.message)).toEqual(['disk says no']);
    expect(s.stats).toMatchObject({ queued: 50, dropped: 10, flushErrors: 1 });
    expect(() => s.flush()).toThrow(/disk says no/);
    // Events are never dropped, even with a full queue.
    s.appendEvent({ ts: 1, type: 'x' });
    expect(s.stats.queued).toBe(51);

    s.db.exec('DROP TRIGGER refuse');
    s.flush();
    expect(s.stats).toMatchObject({ queued: 0, flushedRows: 51 });
    expect(s.listFrames({}, 100).items.map((r) => r.ts).reverse()).toEqual(
      Array.from({ length: 50 }, (_, i) => 1000 + i),
    );
  });
});

describe('samples', () => {
  it('returns raw rows when they fit, and ≤ maxPoints bucket averages when they do not', () => {
    // Up to 10,000 raw rows averaged (the default goes to rollups beyond maxPoints: rollups.test.ts).
    const s = openStore({ rawWindowCap: 10_000 });
    for (let i = 0; i < 10_000; i++) {
      s.appendSample({ ts: 1000 + i, deviceId: 'fp2-1', values: { voltageV: i, mode: `m${i}`, fault: null } });
    }
    s.appendSample({ ts: 5000, deviceId: 'fp2-2', values: { voltageV: 1e9 } });

    const raw = s.telemetry('fp2-1', 1000, 1009, 100);
    expect(raw).toHaveLength(10);
    expect(raw[3]).toEqual({ ts: 1003, deviceId: 'fp2-1', values: { voltageV: 3, mode: 'm3', fault: null } });

    const down = s.telemetry('fp2-1', 0, 1e6, 100);
    expect(down.length).toBeLessThanOrEqual(100);
    // 10,000 consecutive ms in 100 buckets: bucket b holds i = 100b … 100b+99.
    expect(down).toHaveLength(100);
    down.forEach((row, b) => {
      expect(row.values.voltageV).toBeCloseTo(100 * b + 49.5, 9);
      expect(row.values.mode).toBe(`m${100 * b + 99}`);
      expect(row.values.fault).toBeNull();
      expect(row.ts).toBe(1000 + 100 * b + 50);
    });
    const mean = down.reduce((a, r) => a + (r.values.voltageV as number), 0) / down.length;
    expect(mean).toBeCloseTo(4999.5, 9);

    const odd = s.telemetry('fp2-1', 1000, 1999, 7);
    expect(odd.length).toBeLessThanOrEqual(7);
    expect(odd.every((r, i) => i === 0 || r.ts > odd[i - 1].ts)).toBe(true);
    expect(s.telemetry('fp2-1', 50_000, 60_000, 100)).toEqual([]);
  });

  it('gives the newest sample of every device', () => {
    const s = openStore();
    s.appendSample({ ts: 5, deviceId: 'b', values: { v: 1 } });
    s.appendSample({ ts: 9, deviceId: 'a', values: { v: 2 } });
    s.appendSample({ ts: 7, deviceId: 'b', values: { v: 3 } });
    s.appendSample({ ts: 3, deviceId: 'a', values: { v: 4 } });
    expect(s.latestSamplePerDevice()).toEqual([
      { ts: 9, deviceId: 'a', values: { v: 2 } },
      { ts: 7, deviceId: 'b', values: { v: 3 } },
    ]);
  });

  it('prunes frames and samples older than a time and leaves events alone', () => {
    const s = openStore();
    for (let i = 0; i < 20; i++) s.appendFrame(frame(i, { ts: i }));
    for (let i = 0; i < 10; i++) s.appendSample({ ts: i, deviceId: 'a', values: { v: i } });
    s.appendEvent({ ts: 0, type: 'x' });
    expect(s.prune({ framesOlderThan: 15, samplesOlderThan: 4 })).toEqual({ frames: 15, samples: 4, minuteRollups: 0 });
    expect(s.listFrames({}, 100).items.map((f) => f.ts)).toEqual([19, 18, 17, 16, 15]);
    // (A window reaching before the pruned time is read from rollups: see rollups.test.ts.)
    expect(s.telemetry('a', 4, 100, 100).map((r) => r.ts)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(s.prune({})).toEqual({ frames: 0, samples: 0, minuteRollups: 0 });
    expect(s.eventsAfter(0)).toHaveLength(1);
  });
});

describe('devices', () => {
  it('upserts: keeps the first sighting, known name/serial and meta unless replaced', () => {
    const s = openStore();
    s.upsertDevice({ id: 'fp2-1', kind: 'flatpack2', busId: 'can0', name: null, serial: '141471110820', seenAt: 50 });
    s.upsertDevice({ id: 'fp2-1', kind: 'flatpack2', busId: 'can0', name: 'Rectifier 1', serial: null, seenAt: 90, meta: { fw: 1 } });
    s.upsertDevice({ id: 'fp2-1', kind: 'flatpack2', busId: null, name: null, serial: null, seenAt: 70 });
    s.upsertDevice({ id: 'bms', kind: 'bms-can', busId: 'can1', name: null, serial: null, seenAt: 1 });
    expect(s.listDevices()).toEqual([
      { id: 'bms', kind: 'bms-can', busId: 'can1', name: null, serial: null, firstSeen: 1, lastSeen: 1, meta: {} },
      {
        id: 'fp2-1',
        kind: 'flatpack2',
        busId: 'can0',
        name: 'Rectifier 1',
        serial: '141471110820',
        firstSeen: 50,
        lastSeen: 90,
        meta: { fw: 1 },
      },
    ]);
  });
});

describe('bus setpoints (the durable desired output of each bus)', () => {
  const sp = (busId: string, voltageV: number, over: Partial<{ currentA: number; origin: string; at: number; standby: boolean }> = {}) => ({
    busId,
    voltageV,
    currentA: 10,
    origin: 'api',
    at: 1000,
    standby: false,
    ...over,
  });

  it('commits a bus setpoint in the same durable transaction as its setpoint.accepted event, one row per bus', () => {
    const s = openStore();
    s.putBusSetpoint(sp('can0', 52));
    expect(peek('SELECT * FROM bus_setpoints')).toEqual([]);
    s.appendEvent({ ts: 1000, type: 'setpoint.accepted', busId: 'can0', data: { voltageV: 52 } }, { durable: true });
    expect(peek('SELECT bus_id, voltage_v, current_a, origin, at, standby FROM bus_setpoints')).toEqual([
      { bus_id: 'can0', voltage_v: 52, current_a: 10, origin: 'api', at: 1000, standby: 0 },
    ]);
    s.putBusSetpoint(sp('can1', 48, { currentA: 0.1, origin: 'charger', at: 2000, standby: true }));
    s.appendEvent({ ts: 2000, type: 'setpoint.accepted', busId: 'can1' }, { durable: true });
    s.putBusSetpoint(sp('can0', 53.5, { at: 3000 }));
    s.appendEvent({ ts: 3000, type: 'setpoint.accepted', busId: 'can0' }, { durable: true });
    expect(s.busSetpoints()).toEqual([sp('can0', 53.5, { at: 3000 }), sp('can1', 48, { currentA: 0.1, origin: 'charger', at: 2000, standby: true })]);

    // One transaction: when the setpoint row cannot be written, neither is the event (and back).
    s.db.exec("CREATE TEMP TRIGGER refuse BEFORE UPDATE ON bus_setpoints BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
    s.putBusSetpoint(sp('can0', 50, { at: 4000 }));
    s.appendEvent({ ts: 4000, type: 'setpoint.accepted', busId: 'can0' }, { durable: true });
    expect(s.health.writable).toBe(false);
    expect(peek<{ ts: number }>("SELECT ts FROM events WHERE type = 'setpoint.accepted' ORDER BY id").map((r) => r.ts)).toEqual([1000, 2000, 3000]);
    expect(peek<{ voltage_v: number }>("SELECT voltage_v FROM bus_setpoints WHERE bus_id = 'can0'")).toEqual([{ voltage_v: 53.5 }]);
    // Kept in memory during the fault: reads give what the bus was last told.
    expect(s.busSetpoints().find((r) => r.busId === 'can0')).toEqual(sp('can0', 50, { at: 4000 }));
    s.db.exec('DROP TRIGGER refuse');
    expect(s.retry()).toBe(true);
    expect(peek<{ ts: number }>("SELECT ts FROM events WHERE type = 'setpoint.accepted' ORDER BY id").map((r) => r.ts)).toEqual([1000, 2000, 3000, 4000]);
    expect(peek<{ voltage_v: number; at: number }>("SELECT voltage_v, at FROM bus_setpoints WHERE bus_id = 'can0'")).toEqual([{ voltage_v: 50, at: 4000 }]);
    s.close();
    expect(openStore().busSetpoints().map((r) => [r.busId, r.voltageV])).toEqual([
      ['can0', 50],
      ['can1', 48],
    ]);
  });

  it('fills bus_setpoints from the newest setpoint.accepted event of each bus when an existing database migrates', async () => {
    // A database as the release before bus_setpoints left it: migrations up to 0002 only.
    const { drizzle } = await import('drizzle-orm/better-sqlite3');
    const { migrate } = await import('drizzle-orm/better-sqlite3/migrator');
    const old = path.join(dir, 'migrations-0002');
    fs.cpSync(path.join(REPO, 'migrations'), old, { recursive: true });
    const journalPath = path.join(old, 'meta', '_journal.json');
    const journal = JSON.parse(fs.readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
    const upTo = journal.entries.findIndex((e) => e.tag === '0002_store_meta');
    expect(upTo).toBeGreaterThanOrEqual(0);
    journal.entries = journal.entries.slice(0, upTo + 1);
    fs.writeFileSync(journalPath, JSON.stringify(journal));
    const db = new Database(dbPath);
    migrate(drizzle({ client: db }), { migrationsFolder: old });
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'bus_setpoints'").all()).toEqual([]);
    const ins = db.prepare('INSERT INTO events (id, ts, type, device_id, bus_id, data) VALUES (?, ?, ?, ?, ?, ?)');
    let id = 0;
    const ev = (type: string, busId: string | null, data: Record<string, unknown>): number => {
      ins.run(++id, 1000 + id, type, null, busId, JSON.stringify(data));
      return 1000 + id;
    };
    ev('setpoint.accepted', 'can0', { origin: 'api', voltageV: 51, currentA: 5, standby: false });
    const can0At = ev('setpoint.accepted', 'can0', { origin: 'api', voltageV: 52, currentA: 15, standby: false });
    // More than 200 newer setpoints of another bus: the old scan found nothing for can0.
    let can2At = 0;
    for (let i = 0; i < 250; i++) can2At = ev('setpoint.accepted', 'can2', { origin: 'api', voltageV: 50, currentA: 1 + i, standby: false });
    ev('setpoint.rejected', 'can0', { origin: 'api', voltageV: 60, currentA: 1 });
    const can1At = ev('setpoint.accepted', 'can1', { origin: 'charger', voltageV: 48, currentA: 0.1, standby: true });
    ev('setpoint.accepted', null, { origin: 'api', voltageV: 49, currentA: 1 });
    const can3At = ev('setpoint.accepted', 'can3', { origin: 'startup', voltageV: 53, currentA: 2 }); // no standby flag: not standby
    // A malformed newest event does not hide the valid one before it.
    ev('setpoint.accepted', 'can3', { origin: 'api' });
    db.close();

    const s = openStore();
    expect(s.busSetpoints()).toEqual([
      { busId: 'can0', voltageV: 52, currentA: 15, origin: 'api', at: can0At, standby: false },
      { busId: 'can1', voltageV: 48, currentA: 0.1, origin: 'charger', at: can1At, standby: true },
      { busId: 'can2', voltageV: 50, currentA: 250, origin: 'api', at: can2At, standby: false },
      { busId: 'can3', voltageV: 53, currentA: 2, origin: 'startup', at: can3At, standby: false },
    ]);
  });
});
