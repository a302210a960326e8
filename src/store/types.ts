// Row shapes the Store accepts and returns. Timestamps are integer ms from the Clock.
import type { FrameRecord } from '../families/contract.js';

/**
 * A frame as appended: the family contract's FrameRecord (any protocol) with when and on which
 * link it was seen. Kept by reference until the next flush: do not mutate it (its bytes or
 * meta) after appending.
 */
export interface FrameRow extends FrameRecord {
  ts: number;
  /** The link (bus) id. */
  link: string;
}

/** A frame as read back: `meta` is null when none was recorded. */
export interface StoredFrame extends Omit<FrameRow, 'meta'> {
  id: number;
  meta: Record<string, unknown> | null;
}

export interface EventInput {
  ts: number;
  type: string;
  deviceId?: string | null;
  busId?: string | null;
  data?: Record<string, unknown>;
}

export interface StoredEvent {
  id: number;
  ts: number;
  type: string;
  deviceId: string | null;
  busId: string | null;
  data: Record<string, unknown>;
}

/** A rectifier bus's desired output: its last accepted setpoint (table bus_setpoints). */
export interface BusSetpointRow {
  busId: string;
  voltageV: number;
  currentA: number;
  origin: string;
  at: number;
  standby: boolean;
}

export type SampleValue = number | string | null;

export interface SampleRow {
  ts: number;
  deviceId: string;
  values: Record<string, SampleValue>;
  /** Rolled-up points only: per numeric reading, count/min/max/avg/last over the bucket. */
  stats?: Record<string, { count: number; min: number; max: number; avg: number; last: number }>;
  /** How the point was read: 'raw', 'raw-averaged', '1m', '1h' or '1d' (absent on live samples). */
  resolution?: 'raw' | 'raw-averaged' | '1m' | '1h' | '1d';
  /** Rolled-up points: the bucket's width (ms; ts is its start). */
  bucketMs?: number;
  /** Rolled-up points: how many samples the bucket holds. */
  samples?: number;
}

export interface DeviceInput {
  id: string;
  kind: string;
  busId: string | null;
  name: string | null;
  serial: string | null;
  seenAt: number;
  /** Replaces the stored meta when given; the stored meta is kept when omitted. */
  meta?: Record<string, unknown>;
}

export interface DeviceRow {
  id: string;
  kind: string;
  busId: string | null;
  name: string | null;
  serial: string | null;
  firstSeen: number;
  lastSeen: number;
  meta: Record<string, unknown>;
}

export interface Page<T> {
  items: T[];
  endCursor: string | null;
  hasNextPage: boolean;
}

export interface FrameFilter {
  link?: string;
  protocol?: string;
  /** Exact, as recorded (CAN: zero-padded upper-case hex, e.g. '05014004'). */
  address?: string;
  dir?: 'rx' | 'tx';
  kind?: string;
  deviceId?: string;
  /** Inclusive ts bounds. */
  from?: number;
  to?: number;
}

export interface EventFilter {
  types?: string[];
  /** e.g. 'setpoint.' matches 'setpoint.requested', 'setpoint.accepted', … */
  typePrefix?: string;
  deviceId?: string;
  /** Inclusive ts bounds. */
  from?: number;
  to?: number;
}

export interface StoreOptions {
  /** File path or ':memory:'. */
  path: string;
  /** Longest time a queued row waits before it is written (wall clock). Default 250. */
  flushIntervalMs?: number;
  /** Flush as soon as this many rows are queued. Default 5000. */
  maxBatch?: number;
  /**
   * While flushes keep failing (disk full, read-only file), new frames and samples beyond
   * this many queued rows are dropped and counted in stats.dropped; events are never
   * dropped. Default 200,000.
   */
  maxQueued?: number;
  /** Called on every failed write (the rows stay queued and are retried); see also Store.watchHealth. */
  onFlushError?: (err: Error) => void;
  /** During a write fault, how often (wall ms) the queued writes are retried. Default 5000. */
  faultRetryMs?: number;
  /** Event ids are reserved durably in blocks of this many (gaps after a restart are fine). Default 1000. */
  eventIdBlock?: number;
  /** open() refuses a file system with less free space than this (bytes). Default 256 KiB. */
  minFreeBytes?: number;
  /**
   * Rebuild missing rollups (a store older than them) from raw samples in the background,
   * newest first, in small steps. Default true; tests turn it off to drive it themselves.
   */
  backfillRollups?: boolean;
  /**
   * Up to this many raw samples in a window are read (and averaged into maxPoints buckets when
   * more) before telemetry turns to rollups. Default 2,000 (parsing raw rows costs more than
   * reading rollups).
   */
  rawWindowCap?: number;
}

/** What a prune deleted. */
export interface PruneResult {
  frames: number;
  samples: number;
  minuteRollups: number;
}

export interface PruneOptions {
  framesOlderThan?: number;
  samplesOlderThan?: number;
  /** Minute rollups with a bucket start before this go (hourly ones are kept). */
  minuteRollupsOlderThan?: number;
}

export interface StoreStats {
  /** Rows appended but not yet written. */
  queued: number;
  flushedRows: number;
  flushes: number;
  /** Duration of the last successful flush. */
  lastFlushMs: number;
  flushErrors: number;
  /** Frames and samples refused because the queue was full while flushes failed. */
  dropped: number;
}
