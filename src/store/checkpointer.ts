/**
 * WAL checkpoints off the event loop. A checkpoint copies the WAL's pages into the database
 * file and fsyncs both; on the main thread (SQLite's auto-checkpoint runs inside whichever
 * commit crosses 1,000 pages, and the batched prune asked for one after every batch) that is a
 * stall of tens to hundreds of milliseconds on a busy disk, felt by the charger's control loop
 * and every live subscriber. Here a worker thread holds its own connection to the same file
 * and runs PASSIVE checkpoints, which never wait for and never block the writer (WAL allows a
 * checkpoint beside one writer and any readers); the main connection's auto-checkpoint is off.
 *
 * The worker starts on the first request (most short-lived stores never need one). If it
 * cannot start or dies, the main connection's auto-checkpoint comes back (SQLite's default,
 * 1,000 pages): the WAL stays bounded either way, only the stalls return.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';

/** SQLite's default wal_autocheckpoint, restored when the worker is gone. */
const AUTO_CHECKPOINT_PAGES = 1000;
/** Longest close() waits for the worker to close its connection (a checkpoint may be running). */
const CLOSE_WAIT_MS = 5000;

// CommonJS, evaluated in the worker: one connection, a PASSIVE checkpoint per request, the
// result posted back. busy = 1 when a reader or the writer kept it from copying everything.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const closed = new Int32Array(workerData.closed);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
parentPort.on('message', (m) => {
  if (m === 'close') {
    try { db.close(); } finally { Atomics.store(closed, 0, 1); Atomics.notify(closed, 0); }
    parentPort.close();
    return;
  }
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    parentPort.postMessage({ ok: true, busy: r.busy, log: r.log, checkpointed: r.checkpointed });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err && err.message || err) });
  }
});
`;

export interface CheckpointResult {
  ok: boolean;
  busy?: number;
  log?: number;
  checkpointed?: number;
  error?: string;
}

export interface CheckpointerStats {
  /** Checkpoints the worker has run. */
  done: number;
  /** Requests skipped because one was still running. */
  coalesced: number;
  /** True once the worker failed and the main connection checkpoints itself again. */
  fallback: boolean;
}

export class WalCheckpointer {
  private worker: Worker | null = null;
  private inFlight = false;
  private lastAt = -Infinity;
  private closed = false;
  private failed = false;
  private changesAt = -1;
  /** Set to 1 by the worker once its connection is closed (see close()). */
  private readonly closedFlag = new Int32Array(new SharedArrayBuffer(4));
  private readonly changes: Database.Statement;
  private readonly waiters: Array<(r: CheckpointResult) => void> = [];
  readonly stats: CheckpointerStats = { done: 0, coalesced: 0, fallback: false };

  /**
   * @param db the main connection (its auto-checkpoint is turned off here)
   * @param path the database file the worker opens
   * @param minIntervalMs after a commit, a checkpoint is asked for at most this often (wall ms)
   */
  constructor(
    private readonly db: Database.Database,
    private readonly path: string,
    private readonly minIntervalMs = 1000,
    private readonly onFallback?: (why: string) => void,
  ) {
    db.pragma('wal_autocheckpoint = 0');
    this.changes = db.prepare('SELECT total_changes()').pluck();
  }

  /**
   * After a commit, and on the store's timer (the background rollup rebuild and the legacy
   * rewrite commit outside flushes): a checkpoint if the connection changed rows since the
   * last one, none ran for minIntervalMs and none is running.
   */
  afterCommit(): void {
    if (this.closed || this.failed || performance.now() - this.lastAt < this.minIntervalMs) return;
    const n = this.changes.get() as number;
    if (n === this.changesAt) return;
    this.changesAt = n;
    this.request();
  }

  /** Asks for a checkpoint now (coalesced with one already running). */
  request(): void {
    if (this.closed || this.failed) return;
    if (this.inFlight) {
      this.stats.coalesced++;
      return;
    }
    const w = this.start();
    if (w === null) return;
    this.inFlight = true;
    this.lastAt = performance.now();
    w.postMessage('checkpoint');
  }

  /** Resolves with the next checkpoint's result (asks for one if none is running): for tests and tools. */
  next(): Promise<CheckpointResult> {
    if (this.closed || this.failed) return Promise.resolve({ ok: false, error: this.failed ? 'checkpoint worker failed' : 'closed' });
    const p = new Promise<CheckpointResult>((resolve) => this.waiters.push(resolve));
    this.request();
    return p;
  }

  /**
   * Stops the worker and waits (blocking, at most CLOSE_WAIT_MS) until its connection is
   * closed: after the store's close() no thread holds the file, so it can be removed or
   * reopened at once. The main connection's close makes the last checkpoint itself.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    if (w !== null) {
      w.removeAllListeners('exit');
      w.removeAllListeners('error');
      w.on('error', () => {});
      w.postMessage('close');
      // Finishes a checkpoint in progress first; a worker still starting opens and closes.
      if (Atomics.wait(this.closedFlag, 0, 0, CLOSE_WAIT_MS) === 'timed-out') void w.terminate();
    }
    for (const resolve of this.waiters.splice(0)) resolve({ ok: false, error: 'closed' });
  }

  private start(): Worker | null {
    if (this.worker !== null) return this.worker;
    let w: Worker;
    try {
      const driver = createRequire(import.meta.url).resolve('better-sqlite3');
      w = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path: this.path, closed: this.closedFlag.buffer } });
    } catch (err) {
      this.fail(`the checkpoint worker did not start: ${(err as Error).message}`);
      return null;
    }
    // A checkpoint worker never keeps the process alive.
    w.unref();
    w.on('message', (m: CheckpointResult) => {
      this.inFlight = false;
      if (m.ok) this.stats.done++;
      for (const resolve of this.waiters.splice(0)) resolve(m);
    });
    w.on('error', (err) => this.fail(`the checkpoint worker failed: ${err.message}`));
    w.on('exit', (code) => this.fail(`the checkpoint worker exited (${code})`));
    this.worker = w;
    return w;
  }

  private fail(why: string): void {
    if (this.closed || this.failed) return;
    this.failed = true;
    this.inFlight = false;
    this.worker = null;
    this.stats.fallback = true;
    try {
      this.db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    } catch {
      // The main connection is closing or faulted: nothing more to bound.
    }
    for (const resolve of this.waiters.splice(0)) resolve({ ok: false, error: why });
    this.onFallback?.(why);
  }

  /** Test seam: the worker, to kill it. */
  get workerForTest(): Worker | null {
    return this.worker;
  }
}
