// Row shapes the Store accepts and returns. Timestamps are integer ms from the Clock.

/** A CAN frame as recorded: what was on the wire plus its decoded kind and device. */
export interface FrameRow {
  ts: number;
  busId: string;
  dir: 'rx' | 'tx';
  canId: number;
  extended: boolean;
  remote: boolean;
  /** Kept by reference until the next flush: do not mutate it after appending. */
  data: Uint8Array;
  /** Decoded kind: 'status', 'hello', 'set', 'unknown', 'invalid', 'corrupt', … */
  kind: string;
  deviceId: string | null;
}

export interface StoredFrame extends FrameRow {
  id: number;
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
  busId?: string;
  canId?: number;
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
