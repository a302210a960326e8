// The event log and recordings on SQLite (better-sqlite3, WAL).
//
// Writes are queued in memory and written in one transaction per flush: on a timer
// (wall clock — durability is about real seconds, not simulated time), when maxBatch
// rows are queued, before every read, and synchronously for a durable event. One
// process owns the file.
//
// Event ids are handed out (and published live) before their row is written, so they come
// from blocks reserved durably in store_meta: a run starts above the last reserved block, and
// an id seen by a subscriber is never given to another event after a crash (gaps are fine).
//
// A write that fails (disk full, read-only file, I/O error) never throws into the caller:
// the store enters a fault (StoreHealth), tells its watchers once, keeps events and direct
// writes queued in order, and retries on a wall-clock timer; the first write that succeeds
// again clears the fault. Opening a store proves it can write, or throws StoreOpenError.
import Database from 'better-sqlite3';
import { accessSync, constants as fsConstants, existsSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { and, asc, desc, eq, gt, gte, inArray, lt, lte, sql, type SQL } from 'drizzle-orm';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { fileURLToPath } from 'node:url';
import * as schema from '../../drizzle/schema.js';
import { WalCheckpointer } from './checkpointer.js';
import { CursorError, decodeCursor, encodeCursor } from './cursor.js';
import { BucketAverager } from './downsample.js';
import {
  DAY_MS,
  HOUR_MS,
  MINUTE_MS,
  RollupBatch,
  addSample,
  bucketOf,
  coarsen,
  decodeRollup,
  emptyRollup,
  encodeStats,
  mergeInto,
  rollupToRow,
  rollupRowsToPoints,
  type EncodedRollupRow,
  type Resolution,
  type Rollup,
} from './rollups.js';
import {
  ByteWriter,
  FRAME_ID_PER_MS,
  decodeFrameText,
  decodeValues,
  encodeFrameText,
  encodeValues,
  frameTs,
  type KeyInterner,
  type KeyLookup,
} from './row-codec.js';
import type {
  BusSetpointRow,
  DeviceInput,
  DeviceRow,
  EventFilter,
  EventInput,
  FrameFilter,
  FrameRow,
  Page,
  PruneOptions,
  PruneResult,
  SampleRow,
  SampleValue,
  StoredEvent,
  StoredFrame,
  StoreOptions,
  StoreStats,
} from './types.js';

export type * from './types.js';

/** Resolved from this file so the server finds its migrations whatever its cwd. */
const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

interface QueuedSample {
  ts: number;
  dev: number;
  v: Buffer;
}

/**
 * The frames waiting for the next flush, one array per column (no object per frame: a batch of
 * 5,000 queued rows lived long enough to be copied by the young-generation GC): each frame's id
 * (the time, row-codec.ts), link key, channel, text column and ts column; its bytes are copied
 * into one arena (off-heap), so the caller's byte array is not kept until the flush either.
 */
class FrameColumns {
  id: number[] = [];
  lk: number[] = [];
  ch: number[] = [];
  text: Array<string | number | null> = [];
  ts: Array<number | null> = [];
  /** Where each frame's bytes are in the arena. */
  off: number[] = [];
  len: number[] = [];
  private arena: Buffer;
  private used = 0;

  constructor(arena?: Buffer) {
    this.arena = arena ?? Buffer.allocUnsafeSlow(FRAME_ARENA_BYTES);
  }

  get length(): number {
    return this.id.length;
  }

  addBytes(b: Uint8Array): void {
    const need = this.used + b.length;
    if (need > this.arena.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(need, this.arena.length * 2));
      this.arena.copy(grown, 0, 0, this.used);
      this.arena = grown;
    }
    this.arena.set(b, this.used);
    this.off.push(this.used);
    this.len.push(b.length);
    this.used = need;
  }

  /** Frame i's bytes (a view into the arena: bound, and so copied, by the insert right away). */
  bytes(i: number): Buffer {
    const o = this.off[i]!;
    return this.arena.subarray(o, o + this.len[i]!);
  }

  /** The columns emptied for the next batch, keeping an arena of the usual size. */
  next(): FrameColumns {
    return new FrameColumns(this.arena.length <= FRAME_ARENA_BYTES ? this.arena : undefined);
  }
}
/** The frame bytes arena's usual size (5,000 CAN frames take 40 KiB; longer serial lines grow it for one batch). */
const FRAME_ARENA_BYTES = 256 * 1024;

/** A frame channel: what frames share (frame_channels). */
interface Channel {
  id: number;
  /** The link's store_keys id (frames.lk). */
  lk: number;
  link: string;
  protocol: string;
  dir: 'rx' | 'tx';
  kind: string;
  deviceId: string | null;
  address: string | null;
  meta: string | null;
}

/**
 * Frames and samples are written this many rows to an INSERT (multi-row VALUES): one call into
 * SQLite per 32 rows instead of one per row. Measured on 200k frame rows (2 cores, loaded): 1 row
 * a statement 0.27-0.40 M rows/s, 16-100 rows 0.54-1.1 M rows/s.
 */
export const ROWS_PER_INSERT = 32;
/** The channel cache by address keeps this many channels per address and this many addresses (the full key map holds all). */
const CHANNELS_PER_ADDRESS = 8;
const MAX_CHANNEL_ADDRESSES = 4096;
/** Readings of this many characters or more are stored inline, not interned. */
const MAX_INTERNED_TEXT = 64;
/** At most this many distinct text readings are interned; later ones are stored inline. */
const MAX_INTERNED_TEXTS = 20_000;
/** Samples copied by migration 0021 with JSON values (ids up to this) wait to be rewritten compactly. */
const LEGACY_SAMPLES_UPTO_KEY = 'samples_legacy_upto';
/** The legacy rewrite has done every sample up to this id. */
const LEGACY_SAMPLES_DONE_KEY = 'samples_legacy_done';

interface QueuedEvent {
  id: number;
  ts: number;
  type: string;
  deviceId: string | null;
  busId: string | null;
  json: string;
}

type EventRecord = typeof schema.events.$inferSelect;

/** Whether the store can write; `error`/`code` describe the fault while it cannot. */
export interface StoreHealth {
  writable: boolean;
  /** What failed and why, for people (null while writable). */
  error: string | null;
  /** The SQLite/system error code (SQLITE_FULL, SQLITE_READONLY, ENOSPC, …), when there is one. */
  code: string | null;
  /** Wall-clock ms when the current fault began (null while writable). */
  since: number | null;
  /** Failed write attempts since the store was opened. */
  failures: number;
}

/** One write, for watchers (metrics): a flush transaction that went through, or a write that failed. */
export type StoreWrite =
  | { ok: true; durationMs: number; rows: number; /** fsynced (synchronous=FULL): a durable event or setpoint was in it */ durable: boolean }
  | { ok: false; /** what failed ("writing queued rows", "reserving event ids", a direct write's name) */ where: string };

/** The database cannot be used for recording: thrown by Store.open with one line that says what to do. */
export class StoreOpenError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
  ) {
    super(message);
    this.name = 'StoreOpenError';
  }
}

const EVENT_ID_KEY = 'event_id_reserved';
/** Rollups are complete for buckets at or after this ts; the backfill lowers it hour by hour. */
const ROLLUP_BELOW_KEY = 'rollup_backfill_below';
/** Raw samples before this ts were pruned (raw reads of older windows would be partial). */
const SAMPLES_PRUNED_KEY = 'samples_pruned_before';
const MINUTE_ROLLUPS_PRUNED_KEY = 'rollups_1m_pruned_before';
/** Daily rollups are complete for buckets at or after this ts; their rebuild from hourly rows lowers it day by day. */
const DAY_ROLLUP_BELOW_KEY = 'rollups_1d_backfill_below';
/** The rollup backfill is done: every bucket that has raw samples has its rollups. */
const BACKFILL_DONE = Number.MIN_SAFE_INTEGER;
/** One backfill step reads this much raw time (a few ms of work on a busy store). */
const BACKFILL_STEP_MS = 5 * MINUTE_MS;
/** Telemetry reads minute rollups for windows of up to this many minutes (about two days). */
const MAX_MINUTE_ROWS = 3000;
/**
 * Telemetry reads hourly rollups for windows of up to this many hours (50 days), daily ones
 * beyond, whatever maxPoints: the time budget (30 ms a query) decides, not the point count.
 * Measured on 2 cores at load 5: 720 hourly rows 15 ms, 2,160 (90 days) 39 ms, 8,760 (a year) 110 ms.
 */
const MAX_HOUR_ROWS = 1200;
/** Prune batches aim at this much work each, then yield to the event loop. */
const PRUNE_BATCH_TARGET_MS = 4;

/** A rollup table's statements. */
interface RollupTable {
  width: number;
  batch: RollupBatch;
  get: Database.Statement<[string, number], { n: number; keys: string; stats: Buffer }>;
  put: Database.Statement<[string, number, number, string, Buffer]>;
  range: Database.Statement<[string, number, number], { bucket: number; n: number; keys: string; stats: Buffer }>;
  /** The same rows as arrays (no object per row): for reading long windows. */
  rangeRaw: Database.Statement<[string, number, number], EncodedRollupRow>;
  deleteRange: Database.Statement<[string, number, number]>;
}
/** Below this much free space on the database's file system, open() refuses to start. */
const DEFAULT_MIN_FREE_BYTES = 256 * 1024;

/** Raw row of the hand-written event queries (snake_case columns). */
interface RawEvent {
  id: number;
  ts: number;
  type: string;
  device_id: string | null;
  bus_id: string | null;
  data: string;
}

export class Store {
  /** The raw connection, for later modules' own prepared statements. Flush before reading. */
  readonly db: Database.Database;
  /** WAL checkpoints in a worker thread (file stores only); see checkpointer.ts. */
  readonly checkpointer: WalCheckpointer | null;
  /** Drizzle over the same connection, for later modules' queries. */
  readonly orm: BetterSQLite3Database<typeof schema>;

  private readonly maxBatch: number;
  private readonly maxQueued: number;
  private readonly onFlushError: ((err: Error) => void) | undefined;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** Set while writes fail: appends stop forcing flushes and the timer retries. */
  private fault: { error: string; code: string | null; since: number } | null = null;
  private failures = 0;
  private lastRetryAt = 0;
  private readonly faultRetryMs: number;
  private readonly healthWatchers = new Set<(h: StoreHealth) => void>();
  private readonly writeWatchers = new Set<(w: StoreWrite) => void>();
  /** Set while flushDurable runs its flush (synchronous=FULL), for the write watchers. */
  private durableFlush = false;
  /** Direct writes (devices, charge sessions) that failed or came during a fault: replayed in order. */
  private pendingWrites: Array<{ where: string; run: () => void }> = [];
  private readonly maxPendingWrites = 10_000;
  /** Ids up to this are durably reserved (may have been handed out by this or an earlier run). */
  private reservedEventId: number;
  private readonly eventIdBlock: number;
  private readonly reserveStmt: Database.Statement<[string, number]>;

  private frameQ = new FrameColumns();
  /** The highest frame id handed out (ids rise: row-codec.ts nextFrameId). */
  private lastFrameId: number;
  /** Frame ids up to this were given before migration 0021: a cursor holding one is refused. */
  private readonly frameIdsBefore0021: number;
  /** Interned strings (store_keys) by kind and value, and back. */
  private readonly keyIds = new Map<string, number>();
  private readonly deviceById = new Map<number, string>();
  private readonly shapeById = new Map<number, readonly string[]>();
  private readonly textById = new Map<number, string>();
  private textCount = 0;
  private nextKeyId: number;
  /** Frame channels by their key, and by id. */
  private readonly channelIds = new Map<string, number>();
  /**
   * The channels seen per address (at most CHANNELS_PER_ADDRESS each): a frame finds its channel
   * by comparing its fields, without building the full key string per frame.
   */
  private readonly channelsByAddress = new Map<string | null, Channel[]>();
  private readonly channels = new Map<number, Channel>();
  private nextChannelId: number;
  /** Keys and channels handed out but not yet committed: written first in the next write. */
  private newKeys: Array<[number, string, string]> = [];
  private newChannels: Channel[] = [];
  private readonly insKey: Database.Statement;
  private readonly insChannel: Database.Statement;
  private readonly interner: KeyInterner;
  private readonly lookup: KeyLookup;
  private readonly writer = new ByteWriter();
  /** Shape ids by their reading names joined (a lookup without building the JSON each time). */
  private readonly shapeCache = new Map<string, number>();
  /** The last list of reading names interned and its id. */
  private lastShape: { names: string[]; id: number } | null = null;
  /** Device ids' store_keys ids, by the id itself (no 'device\0…' key string per sample). */
  private readonly deviceKeyIds = new Map<string, number>();
  /** The last meta object serialised and its JSON: callers pass a few shared constants (CAN flags). */
  private lastMeta: Record<string, unknown> | undefined = undefined;
  private lastMetaJson: string | null = null;
  private sampleQ: QueuedSample[] = [];
  private eventQ: QueuedEvent[] = [];
  /** Bus setpoints to write with the next flush, newest per bus (kept through a fault like events). */
  private busSetpointQ = new Map<string, BusSetpointRow>();
  private queued = 0;
  private nextEventId: number;

  private flushedRows = 0;
  private flushes = 0;
  private lastFlushMs = 0;
  private flushErrors = 0;
  private dropped = 0;

  // The hot insert path uses raw prepared better-sqlite3 statements bound positionally:
  // at 100k+ frames/s the query builder's per-call object building and value mapping
  // would cost more than SQLite itself. Drizzle owns the schema, migrations and reads.
  private readonly insFrame: Database.Statement;
  private readonly insSample: Database.Statement;
  /** ROWS_PER_INSERT rows in one statement (the rest of a batch goes through insFrame / insSample). */
  private readonly insFrames: Database.Statement;
  private readonly insSamples: Database.Statement;
  /** The bound values of one multi-row insert, reused. */
  private readonly frameArgs: unknown[] = new Array(6 * ROWS_PER_INSERT);
  private readonly sampleArgs: unknown[] = new Array(3 * ROWS_PER_INSERT);
  private readonly insEvent: Database.Statement;
  private readonly putBusSetpointStmt: Database.Statement;
  private readonly writeQueued: (reserveUpTo: number | null) => void;
  private readonly latestPerDeviceStmt: Database.Statement<{ type: string }, RawEvent>;
  private readonly latestOfTypeStmt: Database.Statement<[string], RawEvent>;
  private readonly latestOfTypeForDeviceStmt: Database.Statement<[string, string], RawEvent>;
  private readonly latestSampleStmt: Database.Statement<[number], { ts: number; v: Buffer | string }>;
  private readonly rangeStatsStmt: Database.Statement<
    [number, number, number],
    { n: number; minTs: number | null; maxTs: number | null }
  >;
  private readonly rangeRowsStmt: Database.Statement<[number, number, number]>;
  private readonly countRawStmt: Database.Statement<[number, number, number, number], { n: number }>;
  private readonly minute: RollupTable;
  private readonly hour: RollupTable;
  private readonly day: RollupTable;
  private readonly metaGetStmt: Database.Statement<[string], { value: number }>;
  private readonly metaPutStmt: Database.Statement<[string, number]>;
  /** Rollups are complete from this ts on (BACKFILL_DONE: everywhere). */
  private rollupsFrom: number;
  private samplesPrunedBefore: number;
  private minuteRollupsPrunedBefore: number;
  private readonly rawWindowCap: number;
  private backfill: Promise<void> | null = null;
  /** Daily rollups are complete from this ts on (BACKFILL_DONE: everywhere, as far as the hourly ones are). */
  private dayRollupsFrom: number;
  private dayBackfill: Promise<void> | null = null;
  private legacyRun: Promise<void> | null = null;

  /**
   * Opens (creating and migrating) the database and proves it can write: the first id block
   * is reserved with an fsynced commit. Throws StoreOpenError, with one line that says what to
   * do, when the file cannot be opened or written or its disk is (nearly) full.
   */
  static open(opts: StoreOptions): Store {
    const where = opts.path === ':memory:' ? 'an in-memory database' : `database ${opts.path}`;
    const fail = (err: unknown): StoreOpenError => {
      const code = errorCode(err);
      const msg = err instanceof Error ? err.message : String(err);
      return new StoreOpenError(
        `${where} cannot be written (${withCode(code, msg)}): free space on its disk, fix the file's or folder's permissions or the read-only mount, or set database.path (--db) to a writable place; nothing was started`,
        code,
      );
    };
    if (opts.path !== ':memory:' && !opts.path.startsWith('file:')) {
      const min = opts.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES;
      let free: number | null = null;
      try {
        const st = statfsSync(dirname(opts.path));
        free = st.bavail * st.bsize;
      } catch {
        // The folder is missing or unreadable: opening the file below says why.
      }
      try {
        // EROFS (read-only mount), EACCES (permissions): said plainly before SQLite's CANTOPEN.
        accessSync(existsSync(opts.path) ? opts.path : dirname(opts.path), fsConstants.W_OK);
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw fail(err);
      }
      if (free !== null && free < min) {
        throw new StoreOpenError(
          `${where} cannot be written: its disk is full (${Math.floor(free / 1024)} KiB free, at least ${Math.ceil(min / 1024)} KiB needed): free space on it or set database.path (--db) to another disk; nothing was started`,
          'ENOSPC',
        );
      }
    }
    let db: Database.Database;
    try {
      db = new Database(opts.path);
    } catch (err) {
      throw fail(err);
    }
    try {
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode: a commit survives a process crash (SIGKILL) without an fsync
      // per transaction; only an OS crash/power cut can lose the last commits.
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      const orm = drizzle({ client: db, schema });
      migrate(orm, { migrationsFolder: MIGRATIONS_DIR });
      return new Store(db, orm, opts);
    } catch (err) {
      try {
        db.close();
      } catch {
        // Closing a half-open database may fail too; the first error is the one to report.
      }
      throw isStorageError(err) ? fail(err) : err;
    }
  }

  private constructor(db: Database.Database, orm: BetterSQLite3Database<typeof schema>, opts: StoreOptions) {
    this.db = db;
    this.orm = orm;
    this.checkpointer = opts.path === ':memory:' || opts.path === '' ? null : new WalCheckpointer(db, opts.path);
    this.maxBatch = Math.max(1, opts.maxBatch ?? 5000);
    this.maxQueued = Math.max(this.maxBatch, opts.maxQueued ?? 200_000);
    this.onFlushError = opts.onFlushError;

    this.insFrame = db.prepare('INSERT INTO frames (id, lk, ch, bytes, text, ts) VALUES (?, ?, ?, ?, ?, ?)');
    this.insSample = db.prepare('INSERT INTO samples (dev, ts, v) VALUES (?, ?, ?)');
    this.insFrames = db.prepare(`INSERT INTO frames (id, lk, ch, bytes, text, ts) VALUES ${Array(ROWS_PER_INSERT).fill('(?, ?, ?, ?, ?, ?)').join(', ')}`);
    this.insSamples = db.prepare(`INSERT INTO samples (dev, ts, v) VALUES ${Array(ROWS_PER_INSERT).fill('(?, ?, ?)').join(', ')}`);
    this.insKey = db.prepare('INSERT INTO store_keys (id, kind, value) VALUES (?, ?, ?)');
    this.insChannel = db.prepare(
      'INSERT INTO frame_channels (id, link, protocol, dir, kind, device_id, address, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    for (const r of db.prepare('SELECT id, kind, value FROM store_keys').all() as Array<{ id: number; kind: string; value: string }>) this.keyLoaded(r.id, r.kind, r.value);
    this.nextKeyId = ((db.prepare('SELECT max(id) AS m FROM store_keys').get() as { m: number | null }).m ?? 0) + 1;
    for (const c of db.prepare('SELECT id, link, protocol, dir, kind, device_id AS deviceId, address, meta FROM frame_channels').all() as Channel[]) {
      c.lk = this.intern('link', c.link);
      this.channels.set(c.id, c);
      this.channelIds.set(channelKey(c.link, c.protocol, c.dir, c.kind, c.deviceId, c.address, c.meta), c.id);
    }
    this.nextChannelId = ((db.prepare('SELECT max(id) AS m FROM frame_channels').get() as { m: number | null }).m ?? 0) + 1;
    this.frameIdsBefore0021 = (db.prepare("SELECT value FROM store_meta WHERE key = 'frames_ids_before_0021'").get() as { value: number } | undefined)?.value ?? 0;
    this.lastFrameId = (db.prepare('SELECT max(id) AS m FROM frames').get() as { m: number | null }).m ?? 0;
    this.interner = {
      shape: (names) => this.internShape(names),
      text: (value) => this.internText(value),
    };
    this.lookup = {
      shape: (id) => {
        const k = this.shapeById.get(id);
        if (k === undefined) throw new Error(`sample shape ${id} is not in store_keys: the database is damaged`);
        return k;
      },
      text: (id) => {
        const t = this.textById.get(id);
        if (t === undefined) throw new Error(`sample text ${id} is not in store_keys: the database is damaged`);
        return t;
      },
    };
    this.insEvent = db.prepare('INSERT INTO events (id, ts, type, device_id, bus_id, data) VALUES (?, ?, ?, ?, ?, ?)');
    this.putBusSetpointStmt = db.prepare(
      `INSERT INTO bus_setpoints (bus_id, voltage_v, current_a, origin, at, standby) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(bus_id) DO UPDATE SET voltage_v = excluded.voltage_v, current_a = excluded.current_a,
         origin = excluded.origin, at = excluded.at, standby = excluded.standby`,
    );
    this.writeQueued = db.transaction((reserveUpTo: number | null) => {
      this.writeAll();
      for (const w of this.pendingWrites) w.run();
      if (reserveUpTo !== null) this.reserveStmt.run(EVENT_ID_KEY, reserveUpTo);
    });

    // Skip-scan over the (type, device_id, id) index: one index seek per device instead of
    // reading every event of the type.
    this.latestPerDeviceStmt = db.prepare(`
      WITH RECURSIVE dev(d) AS (
        SELECT (SELECT min(device_id) FROM events WHERE type = @type AND device_id IS NOT NULL)
        UNION ALL
        SELECT (SELECT min(device_id) FROM events WHERE type = @type AND device_id > dev.d)
        FROM dev WHERE dev.d IS NOT NULL
      )
      SELECT e.id, e.ts, e.type, e.device_id, e.bus_id, e.data
      FROM dev JOIN events e ON e.id = (SELECT max(id) FROM events WHERE type = @type AND device_id = dev.d)
      WHERE dev.d IS NOT NULL
      ORDER BY e.device_id`);
    this.latestOfTypeStmt = db.prepare(
      'SELECT id, ts, type, device_id, bus_id, data FROM events WHERE type = ? ORDER BY id DESC LIMIT 1',
    );
    this.latestOfTypeForDeviceStmt = db.prepare(
      'SELECT id, ts, type, device_id, bus_id, data FROM events WHERE type = ? AND device_id = ? ORDER BY id DESC LIMIT 1',
    );
    this.latestSampleStmt = db.prepare('SELECT ts, v FROM samples WHERE dev = ? ORDER BY ts DESC, id DESC LIMIT 1');
    this.rangeStatsStmt = db.prepare('SELECT count(*) AS n, min(ts) AS minTs, max(ts) AS maxTs FROM samples WHERE dev = ? AND ts BETWEEN ? AND ?');
    this.rangeRowsStmt = db.prepare('SELECT ts, v FROM samples WHERE dev = ? AND ts BETWEEN ? AND ? ORDER BY ts, id').raw(true);
    this.countRawStmt = db.prepare('SELECT count(*) AS n FROM (SELECT 1 FROM samples WHERE dev = ? AND ts BETWEEN ? AND ? LIMIT ?)');
    const rollupTable = (name: string, width: number): RollupTable => ({
      width,
      batch: new RollupBatch(width),
      get: db.prepare(`SELECT n, keys, stats FROM ${name} WHERE device_id = ? AND bucket = ?`),
      put: db.prepare(`INSERT OR REPLACE INTO ${name} (device_id, bucket, n, keys, stats) VALUES (?, ?, ?, ?, ?)`),
      range: db.prepare(`SELECT bucket, n, keys, stats FROM ${name} WHERE device_id = ? AND bucket BETWEEN ? AND ? ORDER BY bucket`),
      rangeRaw: db.prepare<[string, number, number], EncodedRollupRow>(`SELECT bucket, n, keys, stats FROM ${name} WHERE device_id = ? AND bucket BETWEEN ? AND ? ORDER BY bucket`).raw(true),
      deleteRange: db.prepare(`DELETE FROM ${name} WHERE device_id = ? AND bucket >= ? AND bucket < ?`),
    });
    this.minute = rollupTable('rollups_1m', MINUTE_MS);
    this.hour = rollupTable('rollups_1h', HOUR_MS);
    this.day = rollupTable('rollups_1d', DAY_MS);
    this.rawWindowCap = Math.max(0, opts.rawWindowCap ?? 2000);
    this.metaGetStmt = db.prepare('SELECT value FROM store_meta WHERE key = ?');
    this.metaPutStmt = db.prepare('INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    this.samplesPrunedBefore = this.metaGetStmt.get(SAMPLES_PRUNED_KEY)?.value ?? BACKFILL_DONE;
    this.minuteRollupsPrunedBefore = this.metaGetStmt.get(MINUTE_ROLLUPS_PRUNED_KEY)?.value ?? BACKFILL_DONE;
    this.rollupsFrom = this.initRollupWatermark();
    this.dayRollupsFrom = this.initDayRollupWatermark();

    // Ids continue above anything an earlier run may have handed out: the highest stored id
    // and the highest reserved one (published live, perhaps never written before a crash).
    this.eventIdBlock = Math.max(1, Math.floor(opts.eventIdBlock ?? 1000));
    this.faultRetryMs = Math.max(1, opts.faultRetryMs ?? 5000);
    this.reserveStmt = db.prepare(
      'INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)',
    );
    const maxId = db.prepare('SELECT max(id) AS m FROM events').get() as { m: number | null };
    const reserved = db.prepare('SELECT value FROM store_meta WHERE key = ?').get(EVENT_ID_KEY) as { value: number } | undefined;
    this.reservedEventId = Math.max(maxId.m ?? 0, reserved?.value ?? 0);
    this.nextEventId = this.reservedEventId + 1;
    // The first reservation is also the proof that the file can be written (fsynced).
    this.durably(() => this.reserveStmt.run(EVENT_ID_KEY, this.nextEventId - 1 + this.eventIdBlock));
    this.reservedEventId = this.nextEventId - 1 + this.eventIdBlock;

    this.timer = setInterval(() => this.tick(), Math.max(1, opts.flushIntervalMs ?? 250));
    this.timer.unref();
    if (opts.backfillRollups !== false && this.rollupsFrom !== BACKFILL_DONE) void this.backfillRollups();
    if (opts.backfillRollups !== false && this.dayRollupsFrom !== BACKFILL_DONE) void this.backfillDayRollups();
    if (opts.backfillRollups !== false && this.metaGetStmt.get(LEGACY_SAMPLES_UPTO_KEY) !== undefined) void this.compactLegacySamples();
  }

  /**
   * Where rollups are complete from. A store that predates them (no watermark yet) has them
   * rebuilt from its raw samples, newest hour first, by backfillRollups(); a store without
   * samples has nothing to rebuild. Two index lookups, never a scan.
   */
  private initRollupWatermark(): number {
    const stored = this.metaGetStmt.get(ROLLUP_BELOW_KEY)?.value;
    if (stored !== undefined) return stored;
    const maxTs = this.sampleTsBound('max');
    const from = maxTs === null ? BACKFILL_DONE : bucketOf(maxTs, HOUR_MS) + HOUR_MS;
    this.metaPutStmt.run(ROLLUP_BELOW_KEY, from);
    return from;
  }

  /**
   * Where daily rollups are complete from. A store that predates them (no watermark yet) has
   * them rebuilt from its hourly rows, newest day first, by backfillDayRollups(): from the day
   * after the newest hourly row (that day's row is rebuilt first, so the samples merged into it
   * from now on join the hours it already had). One index seek per device, never a scan.
   */
  private initDayRollupWatermark(): number {
    const stored = this.metaGetStmt.get(DAY_ROLLUP_BELOW_KEY)?.value;
    if (stored !== undefined) return stored;
    const maxBucket = this.hourBucketBound('max');
    const from = maxBucket === null ? BACKFILL_DONE : bucketOf(maxBucket, DAY_MS) + DAY_MS;
    this.metaPutStmt.run(DAY_ROLLUP_BELOW_KEY, from);
    return from;
  }

  /** The devices that have hourly rollups, by a skip-scan of the primary key (one seek per device). */
  private hourRollupDevices(): string[] {
    return (
      this.db
        .prepare(
          `WITH RECURSIVE dev(d) AS (
             SELECT (SELECT min(device_id) FROM rollups_1h)
             UNION ALL
             SELECT (SELECT min(device_id) FROM rollups_1h WHERE device_id > dev.d) FROM dev WHERE dev.d IS NOT NULL
           ) SELECT d FROM dev WHERE d IS NOT NULL`,
        )
        .all() as Array<{ d: string }>
    ).map((r) => r.d);
  }

  /** The oldest or newest hourly bucket over every device, null when there are none. */
  private hourBucketBound(which: 'min' | 'max'): number | null {
    const stmt = this.db.prepare(`SELECT ${which}(bucket) AS b FROM rollups_1h WHERE device_id = ?`);
    let best: number | null = null;
    for (const d of this.hourRollupDevices()) {
      const b = (stmt.get(d) as { b: number | null }).b;
      if (b !== null && (best === null || (which === 'min' ? b < best : b > best))) best = b;
    }
    return best;
  }

  /** The oldest or newest sample ts over every device (one index seek per device), null when there are none. */
  private sampleTsBound(which: 'min' | 'max'): number | null {
    const stmt = this.db.prepare(`SELECT ${which}(ts) AS t FROM samples WHERE dev = ?`);
    let best: number | null = null;
    for (const dev of this.deviceById.keys()) {
      const t = (stmt.get(dev) as { t: number | null }).t;
      if (t !== null && (best === null || (which === 'min' ? t < best : t > best))) best = t;
    }
    return best;
  }

  // ---- interned keys and frame channels (row-codec.ts) ---------------------------------

  private keyLoaded(id: number, kind: string, value: string): void {
    this.keyIds.set(kind + '\u0000' + value, id);
    if (kind === 'device') this.deviceById.set(id, value);
    else if (kind === 'shape') this.shapeById.set(id, JSON.parse(value) as string[]);
    else if (kind === 'text') {
      this.textById.set(id, value);
      this.textCount++;
    }
  }

  /** The id of a key, handed out now (committed with the next write) when it is new. */
  private intern(kind: string, value: string): number {
    const found = this.keyIds.get(kind + '\u0000' + value);
    if (found !== undefined) return found;
    const id = this.nextKeyId++;
    this.keyLoaded(id, kind, value);
    this.newKeys.push([id, kind, value]);
    return id;
  }

  private internShape(names: readonly string[]): number {
    // A device's readings come with the same names each time: the last list is compared first.
    const last = this.lastShape;
    if (last !== null && last.names.length === names.length) {
      let same = true;
      for (let i = 0; i < names.length; i++) {
        if (last.names[i] !== names[i]) {
          same = false;
          break;
        }
      }
      if (same) return last.id;
    }
    const id = this.internShapeByKey(names);
    this.lastShape = { names: names.slice(), id };
    return id;
  }

  private internShapeByKey(names: readonly string[]): number {
    const joined = names.join('\u0000');
    let id = this.shapeCache.get(joined);
    if (id === undefined) {
      id = this.intern('shape', JSON.stringify(names));
      this.shapeCache.set(joined, id);
    }
    return id;
  }

  private internText(value: string): number | null {
    if (value.length >= MAX_INTERNED_TEXT) return null;
    const found = this.keyIds.get('text\u0000' + value);
    if (found !== undefined) return found;
    return this.textCount >= MAX_INTERNED_TEXTS ? null : this.intern('text', value);
  }

  /** A device's key, or undefined when it never had a sample (reads need not intern). */
  private deviceKey(deviceId: string): number | undefined {
    return this.keyIds.get('device\u0000' + deviceId);
  }

  private internChannel(link: string, protocol: string, dir: 'rx' | 'tx', kind: string, deviceId: string | null, address: string | null, meta: string | null): Channel {
    const near = this.channelsByAddress.get(address);
    if (near !== undefined) {
      for (let i = 0; i < near.length; i++) {
        const c = near[i]!;
        if (c.kind === kind && c.deviceId === deviceId && c.dir === dir && c.link === link && c.protocol === protocol && c.meta === meta) return c;
      }
    }
    const key = channelKey(link, protocol, dir, kind, deviceId, address, meta);
    const found = this.channelIds.get(key);
    let c: Channel;
    if (found !== undefined) {
      c = this.channels.get(found)!;
    } else {
      c = { id: this.nextChannelId++, lk: this.intern('link', link), link, protocol, dir, kind, deviceId, address, meta };
      this.channels.set(c.id, c);
      this.channelIds.set(key, c.id);
      this.newChannels.push(c);
    }
    if (near !== undefined) {
      if (near.length < CHANNELS_PER_ADDRESS) near.push(c);
    } else if (this.channelsByAddress.size < MAX_CHANNEL_ADDRESSES) {
      this.channelsByAddress.set(address, [c]);
    }
    return c;
  }

  /** Writes the keys and channels handed out since the last commit (inside the caller's transaction). */
  private writeNewKeys(): void {
    for (const k of this.newKeys) this.insKey.run(k[0], k[1], k[2]);
    for (const c of this.newChannels) this.insChannel.run(c.id, c.link, c.protocol, c.dir, c.kind, c.deviceId, c.address, c.meta);
  }

  /** Whether rollups are complete (nothing older is waiting to be rebuilt from raw samples). */
  get rollupsComplete(): boolean {
    return this.rollupsFrom === BACKFILL_DONE;
  }

  /**
   * Rebuilds the rollups below the watermark from raw samples, newest first, a few minutes of
   * samples per step with the event loop free between steps; resolves when every bucket that
   * has raw samples has its rollups. Started by open() when needed; safe to call again (one
   * run at a time).
   */
  backfillRollups(): Promise<void> {
    if (this.backfill) return this.backfill;
    const run = async () => {
      while (!this.closed && this.rollupsFrom !== BACKFILL_DONE) {
        if (this.fault) {
          await new Promise((r) => setTimeout(r, this.faultRetryMs).unref());
          continue;
        }
        const minTs = this.sampleTsBound('min');
        if (minTs === null || minTs >= this.rollupsFrom) {
          this.setRollupsFrom(BACKFILL_DONE);
          break;
        }
        const hourEnd = this.rollupsFrom;
        const hourStart = hourEnd - HOUR_MS;
        const devices = new Set<string>();
        for (let t = hourEnd; t > hourStart && !this.closed; t -= BACKFILL_STEP_MS) {
          for (const d of this.rebuildMinutes(t - BACKFILL_STEP_MS, t)) devices.add(d);
          await new Promise((r) => setImmediate(r));
        }
        if (this.closed) break;
        this.rebuildHour(hourStart, devices);
        this.setRollupsFrom(hourStart);
        await new Promise((r) => setImmediate(r));
      }
    };
    this.backfill = run()
      .catch((err) => {
        this.writeFailed(err, 'rebuilding telemetry rollups');
      })
      .finally(() => {
        this.backfill = null;
      });
    return this.backfill;
  }

  private setRollupsFrom(v: number): void {
    this.metaPutStmt.run(ROLLUP_BELOW_KEY, v);
    this.rollupsFrom = v;
  }

  /** Minute rollups of [from, to) (minute-aligned) recomputed from raw samples, every device; returns the devices. */
  private rebuildMinutes(from: number, to: number): Set<string> {
    this.flushForRead();
    // Per device, by the (dev, ts) index: samples have no index by time alone.
    const stmt = this.db.prepare('SELECT ts, v FROM samples WHERE dev = ? AND ts >= ? AND ts < ? ORDER BY ts, id').raw(true);
    const batch = new RollupBatch(MINUTE_MS);
    const devices = new Set<string>();
    for (const [dev, deviceId] of this.deviceById) {
      for (const [ts, v] of stmt.iterate(dev, from, to) as IterableIterator<[number, Buffer | string]>) {
        batch.add(deviceId, ts, decodeValues(v, this.lookup));
        devices.add(deviceId);
      }
    }
    this.db.transaction(() => {
      for (const d of devices) this.minute.deleteRange.run(d, from, to);
      for (const r of batch.rollups()) {
        const e = encodeStats(r);
        this.minute.put.run(r.deviceId, r.bucket, r.n, e.keys, e.stats);
      }
    })();
    return devices;
  }

  /** The hourly rollups of one hour, from its (just rebuilt) minute rollups. */
  private rebuildHour(hourStart: number, devices: Set<string>): void {
    this.flushForRead();
    this.db.transaction(() => {
      for (const d of devices) {
        const h = emptyRollup(d, hourStart);
        for (const r of this.minute.range.all(d, hourStart, hourStart + HOUR_MS - 1)) mergeInto(h, decodeRollup(d, r.bucket, r.n, r.keys, r.stats));
        const e = encodeStats(h);
        this.hour.put.run(d, hourStart, h.n, e.keys, e.stats);
      }
      this.rebuildDay(bucketOf(hourStart, DAY_MS), devices);
    })();
  }

  /** The daily rollups of one UTC day from its hourly rows (inside the caller's transaction). */
  private rebuildDay(dayStart: number, devices: Iterable<string>): void {
    for (const d of devices) {
      const day = emptyRollup(d, dayStart);
      let hours = 0;
      for (const r of this.hour.range.all(d, dayStart, dayStart + DAY_MS - 1)) {
        mergeInto(day, decodeRollup(d, r.bucket, r.n, r.keys, r.stats));
        hours++;
      }
      if (hours === 0) {
        this.day.deleteRange.run(d, dayStart, dayStart + DAY_MS);
        continue;
      }
      const e = encodeStats(day);
      this.day.put.run(d, dayStart, day.n, e.keys, e.stats);
    }
  }

  /** Whether daily rollups are complete as far as the hourly ones are (none waiting to be rebuilt from them). */
  get dayRollupsComplete(): boolean {
    return this.dayRollupsFrom === BACKFILL_DONE;
  }

  /**
   * Rebuilds the daily rollups below their watermark from the hourly rows, newest day first, one
   * day of every device per step with the event loop free between steps; resolves when every
   * day that has hourly rows has its daily row. Started by open() when needed (a store made
   * before migration 0022, or one whose watermark was lost); safe to call again.
   */
  backfillDayRollups(): Promise<void> {
    if (this.dayBackfill) return this.dayBackfill;
    const run = async () => {
      while (!this.closed && this.dayRollupsFrom !== BACKFILL_DONE) {
        if (this.fault) {
          await new Promise((r) => setTimeout(r, this.faultRetryMs).unref());
          continue;
        }
        this.flushForRead();
        const minBucket = this.hourBucketBound('min');
        if (minBucket === null || minBucket >= this.dayRollupsFrom) {
          this.metaPutStmt.run(DAY_ROLLUP_BELOW_KEY, BACKFILL_DONE);
          this.dayRollupsFrom = BACKFILL_DONE;
          break;
        }
        const dayStart = this.dayRollupsFrom - DAY_MS;
        const devices = this.hourRollupDevices();
        this.db.transaction(() => {
          this.rebuildDay(dayStart, devices);
          this.metaPutStmt.run(DAY_ROLLUP_BELOW_KEY, dayStart);
        })();
        this.dayRollupsFrom = dayStart;
        await new Promise((r) => setImmediate(r));
      }
    };
    this.dayBackfill = run()
      .catch((err) => {
        this.writeFailed(err, 'rebuilding daily telemetry rollups');
      })
      .finally(() => {
        this.dayBackfill = null;
      });
    return this.dayBackfill;
  }

  /**
   * Where the rollup tables can be read from: both are complete for buckets at or after `from`
   * (older ones may still be rebuilding from raw samples), and the minute table keeps buckets at
   * or after `minuteFrom` (older ones were pruned). Number.MIN_SAFE_INTEGER: from the beginning.
   */
  get rollupCoverage(): { from: number; minuteFrom: number } {
    return { from: this.rollupsFrom, minuteFrom: this.minuteRollupsPrunedBefore };
  }

  private rollupTable(resolution: '1m' | '1h' | '1d'): RollupTable {
    return resolution === '1m' ? this.minute : resolution === '1h' ? this.hour : this.day;
  }

  /** Stored rollup rows of one device as they are in the table (undecoded): buckets with start in [from, to], ascending. */
  rollupRows(deviceId: string, resolution: '1m' | '1h' | '1d', from: number, to: number): Array<{ bucket: number; n: number; keys: string; stats: Buffer }> {
    this.flushForRead();
    const t = this.rollupTable(resolution);
    return t.range.all(deviceId, bucketOf(from, t.width), to);
  }

  /** Stored rollups of one device (tests, CSV export): buckets with start in [from, to], ascending. */
  rollups(deviceId: string, resolution: '1m' | '1h' | '1d', from: number, to: number): Rollup[] {
    this.flushForRead();
    const t = this.rollupTable(resolution);
    return t.range.all(deviceId, bucketOf(from, t.width), to).map((r) => decodeRollup(deviceId, r.bucket, r.n, r.keys, r.stats));
  }

  private tick(): void {
    if (this.closed) return;
    if (this.fault) {
      if (Date.now() - this.lastRetryAt >= this.faultRetryMs) this.retry();
    } else {
      if (this.hasQueued()) this.backgroundFlush();
      // Writes outside flushes (the rollup rebuild, the legacy rewrite, direct writes) too.
      this.checkpointer?.afterCommit();
    }
  }

  /** Rows or direct writes wait for a flush. */
  private hasQueued(): boolean {
    return this.queued > 0 || this.pendingWrites.length > 0 || this.busSetpointQ.size > 0;
  }

  /** Runs `fn` in a transaction committed with synchronous=FULL (survives a power cut). */
  private durably(fn: () => void): void {
    this.db.pragma('synchronous = FULL');
    try {
      this.db.transaction(fn)();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  // ---- health ---------------------------------------------------------------------------

  get health(): StoreHealth {
    const f = this.fault;
    return { writable: f === null, error: f?.error ?? null, code: f?.code ?? null, since: f?.since ?? null, failures: this.failures };
  }

  /** Calls `fn` on every change of health (fault entered, fault cleared); returns an unsubscribe. */
  watchHealth(fn: (h: StoreHealth) => void): () => void {
    this.healthWatchers.add(fn);
    return () => this.healthWatchers.delete(fn);
  }

  /**
   * Calls `fn` after every flush transaction (its duration and whether it was fsynced) and
   * every failed write (where it failed); returns an unsubscribe. For metrics; a watcher that
   * throws is ignored.
   */
  watchWrites(fn: (w: StoreWrite) => void): () => void {
    this.writeWatchers.add(fn);
    return () => this.writeWatchers.delete(fn);
  }

  private notifyWrite(w: StoreWrite): void {
    for (const fn of this.writeWatchers) {
      try {
        fn(w);
      } catch {
        // metrics must never turn a write into a failure
      }
    }
  }

  /** Tries the queued writes now (the timer does this every faultRetryMs during a fault). True when they went through. */
  retry(): boolean {
    if (this.closed) return false;
    this.lastRetryAt = Date.now();
    this.backgroundFlush();
    return this.fault === null;
  }

  private writeFailed(err: unknown, where: string): void {
    this.failures++;
    this.flushErrors++;
    this.lastRetryAt = Date.now();
    const e = err instanceof Error ? err : new Error(String(err));
    this.onFlushError?.(e);
    this.notifyWrite({ ok: false, where });
    if (this.fault) return;
    const code = errorCode(err);
    this.fault = { error: `${where} failed: ${withCode(code, e.message)}`, code, since: Date.now() };
    this.notifyHealth();
  }

  private notifyHealth(): void {
    const h = this.health;
    for (const fn of this.healthWatchers) {
      try {
        fn(h);
      } catch {
        // A watcher's own failure must not turn a contained write fault into a thrown one.
      }
    }
  }

  /**
   * A direct write (a device row, a charge session): run now, or, during a fault, queued with
   * the other rows and replayed in order once writes work again. Never throws a write error.
   */
  write(where: string, run: () => void): void {
    this.assertOpen();
    if (this.fault) {
      // Kept in order with the queued rows: the flush that works again writes them, then these.
      this.pendWrite(where, run);
      return;
    }
    try {
      run();
    } catch (err) {
      // A disk that refuses the write will take it later; a write that is wrong in itself
      // (a constraint, a bug) would fail forever and hold every later row back: not kept.
      if (isDiskError(err)) this.pendWrite(where, run);
      else this.dropped++;
      this.writeFailed(err, where);
    }
  }

  private pendWrite(where: string, run: () => void): void {
    if (this.pendingWrites.length >= this.maxPendingWrites) {
      this.dropped++;
      return;
    }
    this.pendingWrites.push({ where, run });
  }

  /** Reserves the next block of event ids durably before any of them is handed out. */
  private reserveEventIds(): void {
    const upTo = this.nextEventId - 1 + this.eventIdBlock;
    try {
      this.durably(() => this.reserveStmt.run(EVENT_ID_KEY, upTo));
      this.reservedEventId = upTo;
    } catch (err) {
      this.writeFailed(err, 'reserving event ids');
    }
  }

  get stats(): StoreStats {
    return {
      queued: this.queued + this.pendingWrites.length + this.busSetpointQ.size,
      flushedRows: this.flushedRows,
      flushes: this.flushes,
      lastFlushMs: this.lastFlushMs,
      flushErrors: this.flushErrors,
      dropped: this.dropped,
    };
  }

  // ---- writes -------------------------------------------------------------------------

  /**
   * Queues a frame of any protocol; its bytes are copied now (the caller may reuse its array).
   * Its meta is serialised now, so a value JSON cannot hold fails here, not in a flush;
   * the same meta object passed again is taken as unchanged (its JSON is reused).
   */
  appendFrame(f: FrameRow): void {
    this.appendFrameRecord(f.ts, f.link, f);
  }

  /** appendFrame of a frame record (a driver's, kept by reference) on `link` at `ts`: no row object built per frame. */
  appendFrameRecord(ts: number, link: string, f: Omit<FrameRow, 'ts' | 'link'>): void {
    if ((this.queued >= this.maxBatch || this.closed) && this.refuse()) return;
    const m = f.meta;
    let metaJson: string | null = null;
    if (m !== undefined && m !== null) {
      if (m !== this.lastMeta) {
        this.lastMetaJson = JSON.stringify(m);
        this.lastMeta = m;
      }
      metaJson = this.lastMetaJson;
    }
    const c = this.internChannel(link, f.protocol, f.dir, f.kind, f.deviceId ?? null, f.address ?? null, metaJson);
    // nextFrameId (row-codec.ts), inline: no result object per frame.
    const base = Math.floor(ts) * FRAME_ID_PER_MS;
    const id = base > this.lastFrameId ? base : this.lastFrameId + 1;
    this.lastFrameId = id;
    const q = this.frameQ;
    q.id.push(id);
    q.lk.push(c.lk);
    q.ch.push(c.id);
    q.addBytes(f.bytes);
    q.text.push(encodeFrameText(f.text, f.bytes));
    q.ts.push(Math.floor(id / FRAME_ID_PER_MS) === ts ? null : ts);
    if (++this.queued >= this.maxBatch && !this.fault) this.backgroundFlush();
  }

  appendSample(s: SampleRow): void {
    if ((this.queued >= this.maxBatch || this.closed) && this.refuse()) return;
    // Encoded now (row-codec.ts): the caller may reuse its values object, and a value that
    // cannot be encoded fails here, at its source, not later in a flush.
    let dev = this.deviceKeyIds.get(s.deviceId);
    if (dev === undefined) {
      dev = this.intern('device', s.deviceId);
      this.deviceKeyIds.set(s.deviceId, dev);
    }
    this.sampleQ.push({ ts: s.ts, dev, v: encodeValues(s.values, this.interner, this.writer) });
    this.minute.batch.add(s.deviceId, s.ts, s.values);
    this.hour.batch.add(s.deviceId, s.ts, s.values);
    this.day.batch.add(s.deviceId, s.ts, s.values);
    if (++this.queued >= this.maxBatch && !this.fault) this.backgroundFlush();
  }

  /**
   * Assigns the event its id at once (from a durably reserved block). With durable,
   * everything queued (this event included) is committed before returning. A failed write
   * does not throw: the store enters a fault (see health), the rows stay queued and are
   * retried; during a fault a durable event is kept in memory only.
   */
  appendEvent(e: EventInput, opts?: { durable?: boolean }): StoredEvent {
    this.assertOpen();
    const data = e.data ?? {};
    const json = JSON.stringify(data);
    // Reserve the next block when half of this one is used, so a slow or failing disk
    // still leaves reserved ids to hand out.
    if (!this.fault && this.nextEventId > this.reservedEventId - Math.floor(this.eventIdBlock / 2)) this.reserveEventIds();
    const ev: StoredEvent = {
      id: this.nextEventId++,
      ts: e.ts,
      type: e.type,
      deviceId: e.deviceId ?? null,
      busId: e.busId ?? null,
      data,
    };
    this.eventQ.push({ id: ev.id, ts: ev.ts, type: ev.type, deviceId: ev.deviceId, busId: ev.busId, json });
    this.queued++;
    if (opts?.durable) {
      if (!this.fault) this.flushDurable();
    } else if (this.queued >= this.maxBatch && !this.fault) this.backgroundFlush();
    return ev;
  }

  /**
   * Records a bus's desired output (replacing its previous one). It is queued, not written:
   * append the bus's durable `setpoint.accepted` event right after, and both are committed in
   * the same fsynced transaction. During a fault it stays queued (the newest per bus) and is
   * written with the events when writes work again.
   */
  putBusSetpoint(sp: BusSetpointRow): void {
    this.assertOpen();
    // A row SQLite would refuse (NOT NULL) would hold every later write back: not kept.
    if (!Number.isFinite(sp.voltageV) || !Number.isFinite(sp.currentA) || !Number.isFinite(sp.at)) {
      this.dropped++;
      return;
    }
    this.busSetpointQ.set(sp.busId, { ...sp });
  }

  /**
   * A durable commit is fsynced (synchronous=FULL for this one transaction): a setpoint or a
   * charge phase must survive a power cut, not only a killed process. Batches of frames and
   * samples stay on NORMAL, where WAL commits are cheap. A failure is a fault, not a throw.
   */
  private flushDurable(): void {
    try {
      this.db.pragma('synchronous = FULL');
      this.durableFlush = true;
      try {
        this.flush();
      } finally {
        this.durableFlush = false;
        this.db.pragma('synchronous = NORMAL');
      }
    } catch (err) {
      if (!this.fault) this.writeFailed(err, 'writing a durable event');
    }
  }

  /**
   * Writes every queued row (and replays queued direct writes) in one transaction. Throws if
   * it fails (the store is then in a fault and the rows stay queued); a success clears a fault.
   */
  flush(): void {
    this.assertOpen();
    const needReserve = this.nextEventId - 1 > this.reservedEventId - Math.floor(this.eventIdBlock / 2);
    // During a fault the id reservation is always rewritten: it also proves writes work again.
    if (!this.hasQueued() && !this.fault) return;
    const t0 = performance.now();
    const reserveUpTo = needReserve ? this.nextEventId - 1 + this.eventIdBlock : this.fault ? this.reservedEventId : null;
    try {
      this.writeQueued(reserveUpTo);
    } catch (err) {
      this.writeFailed(err, 'writing queued rows');
      throw err;
    }
    if (reserveUpTo !== null) this.reservedEventId = reserveUpTo;
    this.lastFlushMs = performance.now() - t0;
    const rows = this.queued + this.pendingWrites.length + this.busSetpointQ.size;
    this.flushedRows += rows;
    this.flushes++;
    this.frameQ = this.frameQ.next();
    this.sampleQ = [];
    this.newKeys = [];
    this.newChannels = [];
    this.minute.batch.clear();
    this.hour.batch.clear();
    this.day.batch.clear();
    this.eventQ = [];
    this.busSetpointQ = new Map();
    this.pendingWrites = [];
    this.queued = 0;
    if (this.writeWatchers.size > 0) this.notifyWrite({ ok: true, durationMs: this.lastFlushMs, rows, durable: this.durableFlush });
    if (this.fault) this.recovered();
    this.checkpointer?.afterCommit();
  }

  private recovered(): void {
    this.fault = null;
    this.notifyHealth();
  }

  /** Merges a batch's rollups into the stored rows (the batch's samples arrived after theirs). */
  private writeRollups(t: RollupTable): void {
    if (t.batch.size === 0) return;
    for (const r of t.batch.rollups()) {
      const old = t.get.get(r.deviceId, r.bucket);
      let merged = r;
      if (old !== undefined) {
        merged = decodeRollup(r.deviceId, r.bucket, old.n, old.keys, old.stats);
        mergeInto(merged, r);
      }
      const e = encodeStats(merged);
      t.put.run(r.deviceId, r.bucket, merged.n, e.keys, e.stats);
    }
  }

  private writeAll(): void {
    this.writeNewKeys();
    const q = this.frameQ;
    const n = q.length;
    let i = 0;
    // Rows in queue order (sample ids rise in that order), ROWS_PER_INSERT to a statement.
    const fa = this.frameArgs;
    for (; i + ROWS_PER_INSERT <= n; i += ROWS_PER_INSERT) {
      for (let j = i, o = 0; j < i + ROWS_PER_INSERT; j++) {
        fa[o++] = q.id[j];
        fa[o++] = q.lk[j];
        fa[o++] = q.ch[j];
        fa[o++] = q.bytes(j);
        fa[o++] = q.text[j];
        fa[o++] = q.ts[j];
      }
      this.insFrames.run(fa);
    }
    for (; i < n; i++) this.insFrame.run(q.id[i], q.lk[i], q.ch[i], q.bytes(i), q.text[i], q.ts[i]);
    const sq = this.sampleQ;
    const sa = this.sampleArgs;
    i = 0;
    for (; i + ROWS_PER_INSERT <= sq.length; i += ROWS_PER_INSERT) {
      for (let j = i, o = 0; j < i + ROWS_PER_INSERT; j++) {
        const r = sq[j]!;
        sa[o++] = r.dev;
        sa[o++] = r.ts;
        sa[o++] = r.v;
      }
      this.insSamples.run(sa);
    }
    for (; i < sq.length; i++) this.insSample.run(sq[i]!.dev, sq[i]!.ts, sq[i]!.v);
    this.writeRollups(this.minute);
    this.writeRollups(this.hour);
    this.writeRollups(this.day);
    for (const e of this.eventQ) this.insEvent.run(e.id, e.ts, e.type, e.deviceId, e.busId, e.json);
    for (const b of this.busSetpointQ.values()) {
      this.putBusSetpointStmt.run(b.busId, b.voltageV, b.currentA, b.origin, b.at, b.standby ? 1 : 0);
    }
  }

  /**
   * Flush from the timer, an append or a read: never throws into the data path. While
   * flushes fail, appends leave the retrying to the timer.
   */
  private backgroundFlush(): void {
    if (this.closed) return;
    try {
      this.flush();
    } catch {
      // flush() has recorded the fault (health, watchers, onFlushError); the timer retries.
    }
  }

  /** Throws when closed; true when a row must be dropped: flushes keep failing and the queue is full. */
  private refuse(): boolean {
    this.assertOpen();
    if (this.fault && this.queued >= this.maxQueued) {
      this.dropped++;
      return true;
    }
    return false;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('store is closed: open a new Store before recording');
  }

  /** Registers a device or records another sighting (keeps firstSeen, known name/serial). */
  upsertDevice(d: DeviceInput): void {
    const t = schema.devices;
    this.write(`recording device ${d.id}`, () => this.upsertDeviceNow(d, t));
  }

  private upsertDeviceNow(d: DeviceInput, t: typeof schema.devices): void {
    this.orm
      .insert(t)
      .values({
        id: d.id,
        kind: d.kind,
        busId: d.busId,
        name: d.name,
        serial: d.serial,
        firstSeen: d.seenAt,
        lastSeen: d.seenAt,
        meta: d.meta ?? {},
      })
      .onConflictDoUpdate({
        target: t.id,
        set: {
          kind: sql`excluded.kind`,
          busId: sql`coalesce(excluded.bus_id, ${t.busId})`,
          name: sql`coalesce(excluded.name, ${t.name})`,
          serial: sql`coalesce(excluded.serial, ${t.serial})`,
          firstSeen: sql`min(${t.firstSeen}, excluded.first_seen)`,
          lastSeen: sql`max(${t.lastSeen}, excluded.last_seen)`,
          ...(d.meta !== undefined ? { meta: sql`excluded.meta` } : {}),
        },
      })
      .run();
  }

  /**
   * Deletes frames, samples and minute rollups older than the given times (hourly rollups are
   * kept), all at once: for tests and tools. The server uses pruneInBatches.
   */
  prune(opts: PruneOptions): PruneResult {
    const total: PruneResult = { frames: 0, samples: 0, minuteRollups: 0 };
    for (const _ of this.pruneSteps(opts, total)) {
      // Each step is one small batch; nothing else to do between them here.
    }
    return total;
  }

  /**
   * The same as prune, by the time indexes, in batches of a few milliseconds each with the
   * event loop free between them (a batch grows or shrinks to take about `batchMs`).
   */
  async pruneInBatches(
    opts: PruneOptions,
    batchMs = PRUNE_BATCH_TARGET_MS,
  ): Promise<PruneResult & { batches: number; longestBatchMs: number; longestBatchCpuMs: number }> {
    const total: PruneResult = { frames: 0, samples: 0, minuteRollups: 0 };
    let batches = 0;
    let longest = 0;
    let longestCpu = 0;
    const steps = this.pruneSteps(opts, total, batchMs);
    for (;;) {
      // CPU time next to wall time: on a loaded machine a batch's wall time includes the time
      // the process waited for a core, which no batch size can shorten.
      const c0 = process.cpuUsage();
      const step = steps.next();
      if (step.done) break;
      const c = process.cpuUsage(c0);
      batches++;
      if (step.value > longest) longest = step.value;
      longestCpu = Math.max(longestCpu, (c.user + c.system) / 1000);
      await new Promise((r) => setImmediate(r));
    }
    return { ...total, batches, longestBatchMs: longest, longestBatchCpuMs: longestCpu };
  }

  /** One batch per step (yields its duration in ms); adds what went to `total`. */
  private *pruneSteps(opts: PruneOptions, total: PruneResult, batchMs = PRUNE_BATCH_TARGET_MS): Generator<number> {
    this.flushForRead();
    // During a fault pruning waits (it is no help: SQLite needs room to delete, too).
    if (this.fault) return;
    let size = 200;
    const step = (del: Database.Statement, args: unknown[]): { n: number; ms: number } | null => {
      if (this.closed || this.fault) return null;
      const t0 = performance.now();
      let n = 0;
      try {
        n = del.run(...args, size).changes;
      } catch (err) {
        this.writeFailed(err, 'pruning old frames, samples and rollups');
        return null;
      }
      let ms = performance.now() - t0;
      // The pages each batch frees go through the WAL: a checkpoint after each batch keeps each
      // copy small, in the checkpoint worker (its fsyncs off the event loop) where there is one.
      if (this.checkpointer !== null) this.checkpointer.request();
      else {
        try {
          this.db.pragma('wal_checkpoint(PASSIVE)');
        } catch {
          // Another connection in the middle of a write: the next batch checkpoints.
        }
      }
      ms = performance.now() - t0;
      if (ms < batchMs / 2) size = Math.min(50_000, size * 2);
      else if (ms > batchMs) size = Math.max(50, Math.floor(size / 2));
      return { n, ms };
    };
    // Each table's rows cost differently to delete: every phase starts small again rather
    // than with the size the previous one grew to (one oversized first batch otherwise).
    if (opts.framesOlderThan !== undefined) {
      size = 200;
      // A frame's id is at least floor(ts) × FRAME_ID_PER_MS, so every id below floor(cutoff) ×
      // FRAME_ID_PER_MS is older than the cutoff: a rowid range, no ts index (row-codec.ts).
      const del = this.db.prepare('DELETE FROM frames WHERE id IN (SELECT id FROM frames WHERE id < ? ORDER BY id LIMIT ?)');
      const below = Math.max(0, Math.floor(opts.framesOlderThan)) * FRAME_ID_PER_MS;
      for (;;) {
        const limit = size;
        const r = step(del, [below]);
        if (r === null) return;
        total.frames += r.n;
        yield r.ms;
        if (r.n < limit) break;
      }
    }
    if (opts.samplesOlderThan !== undefined) {
      if (opts.samplesOlderThan > this.samplesPrunedBefore) {
        this.metaPutStmt.run(SAMPLES_PRUNED_KEY, opts.samplesOlderThan);
        this.samplesPrunedBefore = opts.samplesOlderThan;
      }
      size = 200;
      // Device by device, by the (dev, ts) index: samples have no index by time alone.
      const del = this.db.prepare('DELETE FROM samples WHERE id IN (SELECT id FROM samples WHERE dev = ? AND ts < ? ORDER BY ts LIMIT ?)');
      for (const dev of [...this.deviceById.keys()]) {
        for (;;) {
          const limit = size;
          const r = step(del, [dev, opts.samplesOlderThan]);
          if (r === null) return;
          total.samples += r.n;
          yield r.ms;
          if (r.n < limit) break;
        }
      }
    }
    if (opts.minuteRollupsOlderThan !== undefined) {
      if (opts.minuteRollupsOlderThan > this.minuteRollupsPrunedBefore) {
        this.metaPutStmt.run(MINUTE_ROLLUPS_PRUNED_KEY, opts.minuteRollupsOlderThan);
        this.minuteRollupsPrunedBefore = opts.minuteRollupsOlderThan;
      }
      // Devices by a skip-scan of the primary key: one seek per device, not a scan.
      const devices = (
        this.db
          .prepare(
            `WITH RECURSIVE dev(d) AS (
               SELECT (SELECT min(device_id) FROM rollups_1m)
               UNION ALL
               SELECT (SELECT min(device_id) FROM rollups_1m WHERE device_id > dev.d) FROM dev WHERE dev.d IS NOT NULL
             ) SELECT d FROM dev WHERE d IS NOT NULL`,
          )
          .all() as Array<{ d: string }>
      ).map((r) => r.d);
      size = 200;
      const del = this.db.prepare('DELETE FROM rollups_1m WHERE rowid IN (SELECT rowid FROM rollups_1m WHERE device_id = ? AND bucket < ? LIMIT ?)');
      for (const d of devices) {
        for (;;) {
          const limit = size;
          const r = step(del, [d, opts.minuteRollupsOlderThan]);
          if (r === null) return;
          total.minuteRollups += r.n;
          yield r.ms;
          if (r.n < limit) break;
        }
      }
    }
  }

  /** Flushes what is queued, stops the timer and closes the file. */
  close(): void {
    if (this.closed) return;
    clearInterval(this.timer);
    try {
      this.flush();
      // Everything handed out is on disk now: give back the unused reservation, so a clean
      // restart continues at the next id without a gap.
      this.db.prepare('UPDATE store_meta SET value = ? WHERE key = ?').run(this.nextEventId - 1, EVENT_ID_KEY);
    } finally {
      this.closed = true;
      this.checkpointer?.close();
      this.db.close();
    }
  }

  // ---- reads (each flushes first so queued rows are visible) ---------------------------

  /** During a fault, reads do not retry the writes (the timer does): they see what is on disk. */
  private flushForRead(): void {
    this.assertOpen();
    if (!this.fault && this.hasQueued()) this.backgroundFlush();
  }

  /**
   * Every bus's desired output (its last accepted setpoint), by bus id. During a fault, a
   * setpoint not yet on disk is included: it is what the bus was last told.
   */
  busSetpoints(): BusSetpointRow[] {
    this.flushForRead();
    const byBus = new Map<string, BusSetpointRow>();
    for (const r of this.orm.select().from(schema.busSetpoints).all()) byBus.set(r.busId, r);
    for (const [id, r] of this.busSetpointQ) byBus.set(id, { ...r });
    return [...byBus.values()].sort((a, b) => (a.busId < b.busId ? -1 : a.busId > b.busId ? 1 : 0));
  }

  listDevices(): DeviceRow[] {
    this.flushForRead();
    return this.orm.select().from(schema.devices).orderBy(asc(schema.devices.id)).all();
  }

  /** Newest first. */
  listFrames(f: FrameFilter, first: number, after?: string | null): Page<StoredFrame> {
    this.flushForRead();
    const afterId = decodeCursor(after);
    if (afterId !== null && afterId <= this.frameIdsBefore0021) {
      throw new CursorError(`page cursor ${JSON.stringify(after)} is from before the frame history was converted (migration 0021): start again from the first page`);
    }
    const limit = pageSize(first);
    // Time bounds are id bounds (row-codec.ts: id ≥ floor(ts) × FRAME_ID_PER_MS), then exact.
    let lo = f.from !== undefined ? Math.max(0, Math.floor(f.from) * FRAME_ID_PER_MS) : 0;
    let hi = f.to !== undefined ? Math.floor(f.to) * FRAME_ID_PER_MS + FRAME_ID_PER_MS - 1 : Number.MAX_SAFE_INTEGER;
    if (afterId !== null) hi = Math.min(hi, afterId - 1);
    if (!(lo <= hi)) return { items: [], endCursor: null, hasNextPage: false };
    lo = Math.min(lo, Number.MAX_SAFE_INTEGER);
    hi = Math.min(hi, Number.MAX_SAFE_INTEGER);
    const tsFrom = f.from ?? -Number.MAX_VALUE;
    const tsTo = f.to ?? Number.MAX_VALUE;
    const cols = `SELECT id, ch, bytes, text, ts FROM frames`;
    const exact = `AND coalesce(ts, id / ${FRAME_ID_PER_MS}) BETWEEN ? AND ?`;
    type Raw = { id: number; ch: number; bytes: Buffer; text: string | number | null; ts: number | null };
    let rows: Raw[];
    const byChannel = f.link !== undefined || f.protocol !== undefined || f.address !== undefined || f.dir !== undefined || f.kind !== undefined || f.deviceId !== undefined;
    if (!byChannel) {
      rows = this.db.prepare(`${cols} WHERE id BETWEEN ? AND ? ${exact} ORDER BY id DESC LIMIT ?`).all(lo, hi, tsFrom, tsTo, limit + 1) as Raw[];
    } else {
      const chs: number[] = [];
      for (const c of this.channels.values()) {
        if (
          (f.link === undefined || c.link === f.link) &&
          (f.protocol === undefined || c.protocol === f.protocol) &&
          (f.address === undefined || c.address === f.address) &&
          (f.dir === undefined || c.dir === f.dir) &&
          (f.kind === undefined || c.kind === f.kind) &&
          (f.deviceId === undefined || c.deviceId === f.deviceId)
        )
          chs.push(c.id);
      }
      if (chs.length === 0) return { items: [], endCursor: null, hasNextPage: false };
      // Per link by its index (lk, rowid): the newest limit+1 of the matching channels, merged.
      const byLink = new Map<number, number[]>();
      for (const ch of chs) {
        const lk = this.channels.get(ch)!.lk;
        const l = byLink.get(lk);
        if (l) l.push(ch);
        else byLink.set(lk, [ch]);
      }
      const allOf = (lk: number, n: number) => n === [...this.channels.values()].filter((c) => c.lk === lk).length;
      const whole = this.db.prepare(`${cols} WHERE lk = ? AND id BETWEEN ? AND ? ${exact} ORDER BY id DESC LIMIT ?`);
      const some = this.db.prepare(`${cols} WHERE lk = ? AND id BETWEEN ? AND ? AND ch IN (SELECT value FROM json_each(?)) ${exact} ORDER BY id DESC LIMIT ?`);
      rows = [];
      for (const [lk, list] of byLink) {
        rows.push(...((allOf(lk, list.length) ? whole.all(lk, lo, hi, tsFrom, tsTo, limit + 1) : some.all(lk, lo, hi, JSON.stringify(list), tsFrom, tsTo, limit + 1)) as Raw[]));
      }
      if (byLink.size > 1) rows.sort((a, b) => b.id - a.id);
      rows.length = Math.min(rows.length, limit + 1);
    }
    return toPage(rows.map((r) => this.storedFrame(r)), limit);
  }

  private storedFrame(r: { id: number; ch: number; bytes: Buffer; text: string | number | null; ts: number | null }): StoredFrame {
    const c = this.channels.get(r.ch);
    if (c === undefined) throw new Error(`frame ${r.id} names channel ${r.ch}, which is not in frame_channels: the database is damaged`);
    return {
      id: r.id,
      ts: frameTs(r.id, r.ts),
      protocol: c.protocol,
      link: c.link,
      dir: c.dir,
      address: c.address,
      bytes: r.bytes,
      text: decodeFrameText(r.text, r.bytes),
      kind: c.kind,
      deviceId: c.deviceId,
      meta: c.meta === null ? null : (JSON.parse(c.meta) as Record<string, unknown>),
    };
  }

  /** Newest first. */
  listEvents(f: EventFilter, first: number, after?: string | null): Page<StoredEvent> {
    this.flushForRead();
    const t = schema.events;
    const afterId = decodeCursor(after);
    const limit = pageSize(first);
    if (f.types !== undefined && f.types.length === 0) return { items: [], endCursor: null, hasNextPage: false };
    const conds: (SQL | undefined)[] = [
      f.types !== undefined ? inArray(t.type, f.types) : undefined,
      // A range rather than LIKE: LIKE is case-insensitive and cannot use the type index.
      f.typePrefix !== undefined ? gte(t.type, f.typePrefix) : undefined,
      f.typePrefix !== undefined ? lt(t.type, f.typePrefix + '\u{10FFFF}') : undefined,
      f.deviceId !== undefined ? eq(t.deviceId, f.deviceId) : undefined,
      f.from !== undefined ? gte(t.ts, f.from) : undefined,
      f.to !== undefined ? lte(t.ts, f.to) : undefined,
      afterId !== null ? lt(t.id, afterId) : undefined,
    ];
    const rows = this.orm
      .select()
      .from(t)
      .where(and(...conds))
      .orderBy(desc(t.id))
      .limit(limit + 1)
      .all();
    return toPage(rows.map(fromEventRecord), limit);
  }

  /** The latest event of `type` for every device that has one, by device id. */
  latestEventPerDevice(type: string): StoredEvent[] {
    this.flushForRead();
    return this.latestPerDeviceStmt.all({ type }).map(fromRawEvent);
  }

  /** The latest event of any of `types` (for one device when given). */
  latestEvent(f: { types: string[]; deviceId?: string }): StoredEvent | null {
    this.flushForRead();
    let best: RawEvent | undefined;
    for (const type of f.types) {
      const row =
        f.deviceId !== undefined
          ? this.latestOfTypeForDeviceStmt.get(type, f.deviceId)
          : this.latestOfTypeStmt.get(type);
      if (row !== undefined && (best === undefined || row.id > best.id)) best = row;
    }
    return best === undefined ? null : fromRawEvent(best);
  }

  /** Events with id > `id`, ascending: replay for a subscriber or a projection. */
  eventsAfter(id: number, f?: { types?: string[] }): StoredEvent[] {
    this.flushForRead();
    const t = schema.events;
    if (f?.types !== undefined && f.types.length === 0) return [];
    const rows = this.orm
      .select()
      .from(t)
      .where(and(gt(t.id, id), f?.types !== undefined ? inArray(t.type, f.types) : undefined))
      .orderBy(asc(t.id))
      .all();
    return rows.map(fromEventRecord);
  }

  /** The newest sample of every device, by device id. */
  latestSamplePerDevice(): SampleRow[] {
    this.flushForRead();
    const out: SampleRow[] = [];
    for (const [dev, deviceId] of this.deviceById) {
      const r = this.latestSampleStmt.get(dev);
      if (r !== undefined) out.push({ ts: r.ts, deviceId, values: decodeValues(r.v, this.lookup) });
    }
    return out.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  }

  /**
   * How telemetry(deviceId, from, to, maxPoints) reads its window: the raw samples when there
   * are at most maxPoints; averaged raw samples when there are at most rawWindowCap (2,000 by
   * default: parsing raw rows costs more than reading rollups); else minute rollups for windows
   * of up to max(maxPoints, 3000) minutes, else hourly rollups for windows of up to
   * 1,200 hours (50 days), else daily (UTC) rollups, each merged into wider buckets when
   * there would be more than maxPoints.
   * A resolution is only used where it is complete: raw samples not pruned, rollups rebuilt,
   * minute rollups not pruned. Costs at most one index count of rawWindowCap rows.
   */
  telemetryPlan(deviceId: string, from: number, to: number, maxPoints: number): { resolution: Resolution; bucketMs: number | null } {
    this.flushForRead();
    const rawComplete = from >= this.samplesPrunedBefore;
    const rollupsComplete = from >= this.rollupsFrom;
    if (rawComplete || !rollupsComplete) {
      const cap = Math.max(this.rawWindowCap, Math.floor(maxPoints));
      const dev = this.deviceKey(deviceId);
      const n = dev === undefined ? 0 : (this.countRawStmt.get(dev, from, to, cap + 1)?.n ?? 0);
      if (n <= maxPoints) return { resolution: 'raw', bucketMs: null };
      if (n <= cap || !rollupsComplete) return { resolution: 'raw-averaged', bucketMs: null };
    }
    const minutes = Math.floor(to / MINUTE_MS) - Math.floor(from / MINUTE_MS) + 1;
    // Minute rollups while there are few enough to read (merged into wider buckets past maxPoints).
    if (minutes <= Math.max(maxPoints, MAX_MINUTE_ROWS) && from >= this.minuteRollupsPrunedBefore) {
      return { resolution: '1m', bucketMs: minutes <= maxPoints ? MINUTE_MS : Math.ceil(minutes / Math.floor(maxPoints)) * MINUTE_MS };
    }
    const hours = Math.floor(to / HOUR_MS) - Math.floor(from / HOUR_MS) + 1;
    // Daily rollups past MAX_HOUR_ROWS hours, where complete for every day the window touches.
    const firstDay = bucketOf(from, DAY_MS);
    if (hours > MAX_HOUR_ROWS && firstDay >= this.rollupsFrom && firstDay >= this.dayRollupsFrom) {
      const days = Math.floor(to / DAY_MS) - Math.floor(from / DAY_MS) + 1;
      return { resolution: '1d', bucketMs: days <= maxPoints ? DAY_MS : Math.ceil(days / Math.floor(maxPoints)) * DAY_MS };
    }
    return { resolution: '1h', bucketMs: hours <= maxPoints ? HOUR_MS : Math.ceil(hours / Math.floor(maxPoints)) * HOUR_MS };
  }

  /**
   * Telemetry of one device over from ≤ ts ≤ to, ascending, at most maxPoints points, at the
   * resolution telemetryPlan picks. Rolled-up points carry ts = their bucket's start (the first
   * may start before `from`), each reading's average in `values` and count/min/max/avg/last in
   * `stats`; rollups hold numeric readings only. Averaged raw points keep a text reading's
   * last value.
   */
  telemetry(deviceId: string, from: number, to: number, maxPoints: number): SampleRow[] {
    this.flushForRead();
    if (!(maxPoints >= 1) || from > to) return [];
    const plan = this.telemetryPlan(deviceId, from, to, maxPoints);
    if (plan.resolution === 'raw' || plan.resolution === 'raw-averaged') return this.rawTelemetry(deviceId, from, to, maxPoints);
    const t = this.rollupTable(plan.resolution);
    const width = plan.bucketMs ?? t.width;
    return rollupRowsToPoints(t.rangeRaw.all(deviceId, bucketOf(from, t.width), to), deviceId, width, bucketOf(from, t.width), plan.resolution);
  }

  private rawTelemetry(deviceId: string, from: number, to: number, maxPoints: number): SampleRow[] {
    const dev = this.deviceKey(deviceId);
    if (dev === undefined) return [];
    const range = this.rangeStatsStmt.get(dev, from, to);
    if (range === undefined || range.n === 0 || range.minTs === null || range.maxTs === null) return [];
    const rows = this.rangeRowsStmt.iterate(dev, from, to) as IterableIterator<[number, Buffer | string]>;
    if (range.n <= maxPoints) {
      const out: SampleRow[] = [];
      for (const [ts, v] of rows) out.push({ ts, deviceId, values: decodeValues(v, this.lookup) });
      return out;
    }
    const acc = new BucketAverager(deviceId, range.minTs, range.maxTs, Math.floor(maxPoints));
    for (const [ts, v] of rows) acc.add(ts, decodeValues(v, this.lookup));
    return acc.finish();
  }

  /**
   * Raw samples of one device, ascending by (ts, id), in pages: for a CSV export of a long
   * window without holding it in memory. `after` is the last [ts, id] of the previous page.
   */
  rawSamplesPage(deviceId: string, from: number, to: number, limit: number, after?: [number, number]): Array<{ ts: number; id: number; values: Record<string, SampleValue> }> {
    this.flushForRead();
    const [ats, aid] = after ?? [from - 1, Number.MAX_SAFE_INTEGER];
    const dev = this.deviceKey(deviceId);
    if (dev === undefined) return [];
    const rows = this.db
      .prepare('SELECT id, ts, v FROM samples WHERE dev = ? AND ts BETWEEN ? AND ? AND (ts > ? OR (ts = ? AND id > ?)) ORDER BY ts, id LIMIT ?')
      .all(dev, from, to, ats, ats, after ? aid : -1, limit) as Array<{ id: number; ts: number; v: Buffer | string }>;
    return rows.map((r) => ({ ts: r.ts, id: r.id, values: decodeValues(r.v, this.lookup) }));
  }

  /**
   * Samples with id > `afterId`, ascending by id (the order they were recorded), at most `limit`:
   * for the fleet outbox, whose cursor is a sample id.
   */
  samplesAfterId(afterId: number, limit: number): Array<{ id: number; ts: number; deviceId: string; values: Record<string, SampleValue> }> {
    this.flushForRead();
    const rows = this.db.prepare('SELECT id, ts, dev, v FROM samples WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit) as Array<{ id: number; ts: number; dev: number; v: Buffer | string }>;
    return rows.map((r) => ({ id: r.id, ts: r.ts, deviceId: this.deviceById.get(r.dev) ?? String(r.dev), values: decodeValues(r.v, this.lookup) }));
  }

  /**
   * Rewrites the samples migration 0021 copied with JSON values in the compact encoding, a batch
   * at a time with the event loop free between batches; resolves when none is left. Started by
   * open(); readers decode both forms meanwhile. Safe to call again (one run at a time).
   */
  compactLegacySamples(batch = 2000): Promise<void> {
    if (this.legacyRun) return this.legacyRun;
    const run = async () => {
      const upTo = this.metaGetStmt.get(LEGACY_SAMPLES_UPTO_KEY)?.value;
      if (upTo === undefined) return;
      const sel = this.db.prepare('SELECT id, v FROM samples WHERE id > ? AND id <= ? ORDER BY id LIMIT ?').raw(true);
      const upd = this.db.prepare('UPDATE samples SET v = ? WHERE id = ?');
      let done = this.metaGetStmt.get(LEGACY_SAMPLES_DONE_KEY)?.value ?? 0;
      while (!this.closed && done < upTo) {
        if (this.fault) {
          await new Promise((r) => setTimeout(r, this.faultRetryMs).unref());
          continue;
        }
        this.flushForRead();
        const rows = sel.all(done, upTo, batch) as Array<[number, Buffer | string]>;
        const last = rows.length ? rows[rows.length - 1]![0] : upTo;
        this.db.transaction(() => {
          for (const [id, v] of rows) {
            if (typeof v !== 'string') continue;
            upd.run(encodeValues(JSON.parse(v) as Record<string, unknown>, this.interner, this.writer), id);
          }
          // The keys the rewrite interned (and any a queued row holds) are committed with it.
          this.writeNewKeys();
          this.metaPutStmt.run(LEGACY_SAMPLES_DONE_KEY, last);
        })();
        this.newKeys = [];
        this.newChannels = [];
        done = last;
        await new Promise((r) => setImmediate(r));
      }
      if (done >= upTo) {
        this.db.prepare('DELETE FROM store_meta WHERE key IN (?, ?)').run(LEGACY_SAMPLES_UPTO_KEY, LEGACY_SAMPLES_DONE_KEY);
      }
    };
    this.legacyRun = run()
      .catch((err) => {
        this.writeFailed(err, 'rewriting old telemetry samples compactly');
      })
      .finally(() => {
        this.legacyRun = null;
      });
    return this.legacyRun;
  }
}

/** A frame channel's map key. */
function channelKey(link: string, protocol: string, dir: string, kind: string, deviceId: string | null, address: string | null, meta: string | null): string {
  return `${link}\u0001${protocol}\u0001${dir}\u0001${kind}\u0001${deviceId ?? '\u0002'}\u0001${address ?? '\u0002'}\u0001${meta ?? '\u0002'}`;
}

/** The SQLite or system error code of a failed write (SQLITE_FULL, SQLITE_READONLY, ENOSPC, …). */
function errorCode(err: unknown): string | null {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : null;
}

/** A failure of the database or its file system, as opposed to a bug in a query. */
function isStorageError(err: unknown): boolean {
  const c = errorCode(err);
  return c !== null && (c.startsWith('SQLITE_') || c.startsWith('E'));
}

/** "CODE: message", unless the message already starts with its code (Node's fs errors do). */
function withCode(code: string | null, msg: string): string {
  return code && !msg.startsWith(code) ? `${code}: ${msg}` : msg;
}

/** The disk or file refused a write (full, read-only, I/O, locked…): worth retrying later. */
function isDiskError(err: unknown): boolean {
  const c = errorCode(err);
  if (c === null) return false;
  if (/^E[A-Z]+$/.test(c)) return true;
  return /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|BUSY|LOCKED|CORRUPT|NOTADB|PERM|NOMEM|PROTOCOL)/.test(c);
}

function pageSize(first: number): number {
  if (!Number.isFinite(first) || first < 0) throw new Error(`page size must be ≥ 0, got ${first}`);
  return Math.floor(first);
}

function toPage<T extends { id: number }>(rows: T[], limit: number): Page<T> {
  const hasNextPage = rows.length > limit;
  const items = hasNextPage ? rows.slice(0, limit) : rows;
  const last = items[items.length - 1];
  return { items, endCursor: last === undefined ? null : encodeCursor(last.id), hasNextPage };
}

function fromEventRecord(r: EventRecord): StoredEvent {
  return { id: r.id, ts: r.ts, type: r.type, deviceId: r.deviceId, busId: r.busId, data: r.data };
}

function fromRawEvent(r: RawEvent): StoredEvent {
  return {
    id: r.id,
    ts: r.ts,
    type: r.type,
    deviceId: r.device_id,
    busId: r.bus_id,
    data: JSON.parse(r.data) as Record<string, unknown>,
  };
}
