// WAL checkpoints in a worker thread, on a real SQLite file (src/store/checkpointer.ts).
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
let dbPath: string;
const open: Store[] = [];

function openStore(): Store {
  const s = Store.open({ path: dbPath, flushIntervalMs: 600_000, backfillRollups: false });
  open.push(s);
  return s;
}

/** Writes `n` samples of `dev` in `batches` flushes. */
function write(s: Store, dev: string, from: number, n: number, batches: number): void {
  const per = Math.ceil(n / batches);
  for (let i = 0; i < n; i++) {
    s.appendSample({ ts: from + i * 1000, deviceId: dev, values: { voltageV: 50 + (i % 7) / 10, currentA: i % 13, text: `t${i % 3}` } });
    if ((i + 1) % per === 0) s.flush();
  }
  s.flush();
}

/** Every WAL checkpoint the main connection runs itself, by spying on its pragma calls. */
function mainThreadCheckpoints(s: Store): string[] {
  const calls: string[] = [];
  const pragma = s.db.pragma.bind(s.db);
  (s.db as { pragma: typeof s.db.pragma }).pragma = ((src: string, o?: { simple?: boolean }) => {
    if (/wal_checkpoint/i.test(src)) calls.push(src);
    return pragma(src, o);
  }) as typeof s.db.pragma;
  return calls;
}

const walBytes = () => (fs.existsSync(`${dbPath}-wal`) ? fs.statSync(`${dbPath}-wal`).size : 0);

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pp-ckpt-'));
  dbPath = path.join(dir, 'store.db');
});

afterEach(() => {
  for (const s of open.splice(0)) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('WAL checkpoints', () => {
  it('defect 15.9: WAL checkpoints ran on the event loop (SQLite auto-checkpoint inside a commit, and one per prune batch)', async () => {
    const s = openStore();
    const ckpts = mainThreadCheckpoints(s);
    // The main connection never checkpoints by itself: 0 turns SQLite's auto-checkpoint off.
    expect(s.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    write(s, 'fp2-1', 0, 20_000, 40);
    write(s, 'fp2-2', 0, 20_000, 40);
    const pr = await s.pruneInBatches({ samplesOlderThan: 10_000_000 });
    expect(pr.samples).toBe(20_000);
    expect(pr.batches).toBeGreaterThan(1);
    expect(ckpts).toEqual([]);
    // The worker ran them: after the prune's last request, a checkpoint copies the whole WAL.
    await waitFor(() => s.checkpointer!.stats.done > 0 || null, 'a checkpoint by the worker');
    const r = await s.checkpointer!.next();
    expect(r).toMatchObject({ ok: true, busy: 0 });
    expect(r.checkpointed).toBe(r.log);
    expect(s.checkpointer!.stats.fallback).toBe(false);
    // Every row is still there for the main connection.
    expect(s.db.prepare('SELECT count(*) AS n FROM samples').get()).toEqual({ n: 20_000 });
  });

  it('keeps the WAL bounded under steady writes: a checkpoint that copied everything lets the next commit start the WAL over', async () => {
    const s = openStore();
    for (let round = 0; round < 4; round++) {
      write(s, 'fp2-1', round * 10_000_000, 5_000, 5);
      const r = await s.checkpointer!.next();
      expect(r.ok).toBe(true);
    }
    const after4 = walBytes();
    for (let round = 4; round < 12; round++) {
      write(s, 'fp2-1', round * 10_000_000, 5_000, 5);
      await s.checkpointer!.next();
    }
    // Twelve rounds of the same size: the WAL file is reused from its start, not grown.
    expect(walBytes()).toBeLessThanOrEqual(after4);
    expect(s.db.prepare('SELECT count(*) AS n FROM samples').get()).toEqual({ n: 60_000 });
  });

  it('falls back to SQLite auto-checkpoint on the main connection when the worker dies', async () => {
    const s = openStore();
    write(s, 'fp2-1', 0, 1_000, 2);
    expect((await s.checkpointer!.next()).ok).toBe(true);
    await s.checkpointer!.workerForTest!.terminate();
    await waitFor(() => s.checkpointer!.stats.fallback || null, 'the fallback to auto-checkpoint');
    expect(s.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    // Writes go on as before.
    write(s, 'fp2-1', 10_000_000, 1_000, 2);
    expect(s.db.prepare('SELECT count(*) AS n FROM samples').get()).toEqual({ n: 2_000 });
  });

  it("writes outside flushes (the rollup rebuild's own transactions) are checkpointed from the store's timer", async () => {
    const s = Store.open({ path: dbPath, flushIntervalMs: 20, backfillRollups: false });
    open.push(s);
    await waitFor(() => s.checkpointer!.stats.done > 0 || null, 'the first checkpoint');
    const before = s.checkpointer!.stats.done;
    // A commit the flush path never saw.
    s.db.prepare("INSERT OR REPLACE INTO store_meta (key, value) VALUES ('test_direct_write', 1)").run();
    await waitFor(() => s.checkpointer!.stats.done > before || null, 'a checkpoint after the direct write');
    // Nothing written since: no more checkpoints, however long the timer runs.
    const settled = s.checkpointer!.stats.done;
    await new Promise((r) => setTimeout(r, 1500));
    expect(s.checkpointer!.stats.done).toBe(settled);
  });

  it('an in-memory store has no worker and keeps SQLite auto-checkpoint', () => {
    const s = Store.open({ path: ':memory:', flushIntervalMs: 600_000 });
    open.push(s);
    expect(s.checkpointer).toBeNull();
  });

  it('defect 15.10: the checkpoint worker outlived the store\'s close (a test removing the folder found files reappearing)', async () => {
    const s = openStore();
    write(s, 'fp2-1', 0, 3_000, 3);
    expect((await s.checkpointer!.next()).ok).toBe(true);
    write(s, 'fp2-1', 10_000_000, 3_000, 3);
    s.checkpointer!.request();
    s.close();
    open.splice(open.indexOf(s), 1);
    // No connection is left: leaving WAL mode needs the file to itself.
    const db = new Database(dbPath);
    try {
      db.pragma('busy_timeout = 0');
      expect(db.pragma('journal_mode = DELETE', { simple: true })).toBe('delete');
      expect(db.prepare('SELECT count(*) AS n FROM samples').get()).toEqual({ n: 6_000 });
    } finally {
      db.close();
    }
  });

  it('a checkpoint left running at close does not keep the store from reopening with every row', async () => {
    const s = openStore();
    write(s, 'fp2-1', 0, 3_000, 3);
    s.checkpointer!.request();
    s.close();
    open.splice(open.indexOf(s), 1);
    const again = openStore();
    expect(again.db.prepare('SELECT count(*) AS n FROM samples').get()).toEqual({ n: 3_000 });
  });
});
