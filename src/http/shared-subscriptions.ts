/**
 * Fan-out of GraphQL subscriptions over graphql-ws: identical subscriptions (same document,
 * operation, variables and role) share one execution, and each of its results is serialised
 * once; every subscriber's socket gets that JSON in a `next` message written straight to it.
 *
 * The events of one turn of the event loop go out at its end (setImmediate) in ONE write per
 * socket: finished WebSocket frames, built once per graphql-ws id and shared by the subscribers
 * whose ids are the same. Per subscriber and event there is no cork, no second write and no
 * header buffer: each write through a net.Socket allocates (write request, stream bookkeeping),
 * and at 1,000 events/s × 100 sockets that garbage, not the JSON, was what the server's
 * scavenges collected (bench/fanout.ts reports the GC count and pauses).
 *
 * A subscriber whose socket cannot keep up (more than `maxBufferedBytes` waiting to be sent)
 * skips updates, counted; before its next delivered update it gets an explicit gap marker:
 * a `next` message whose payload is `{ "extensions": { "gap": { "missed": N } } }` (no data).
 * No update is ever dropped without the subscriber being told how many.
 */
import type { ExecutionResult } from 'graphql';
import type WebSocket from 'ws';

export interface ShareTarget {
  socket: WebSocket;
  /** The graphql-ws operation id of this subscriber. */
  id: string;
}

interface RawSocket {
  write(b: Buffer): boolean;
}

/** The `next` envelope of one graphql-ws operation id, shared by the members that use that id. */
interface Envelope {
  prefix: string;
  prefixBuf: Buffer;
  members: number;
  /** This flush's frames for members that were there all turn (when several share the id). */
  frames: Buffer | null;
  flush: number;
}

interface Member {
  socket: WebSocket;
  env: Envelope;
  missed: number;
  /** Index into the group's pending events from which this member gets them (it joined mid-turn). */
  from: number;
  /** Resolves the never-yielding iterator graphql-ws waits on. */
  finish: ((r: IteratorResult<never>) => void) | null;
  fail: ((e: unknown) => void) | null;
  done: boolean;
}

interface Group {
  members: Set<Member>;
  source: AsyncIterator<ExecutionResult>;
  /**
   * This turn's payloads, serialised once each (the JSON and the envelope's closing brace): the
   * results, and a gap marker where the source skipped updates after some of them.
   */
  pending: Buffer[];
  /** Per pending payload: 0 for a result, the updates a gap marker announces for a marker. */
  pendingMissed: number[];
  flushing: boolean;
  envelopes: Map<string, Envelope>;
  flushes: number;
}

export interface FanoutStats {
  groups: number;
  members: number;
  /** Results executed and serialised (once per group per event). */
  serialised: number;
  /** Messages written to sockets. */
  sent: number;
  /** Updates skipped for slow subscribers (each later announced by a gap marker). */
  missed: number;
  gapMarkers: number;
}

export class SharedSubscriptions {
  private readonly groups = new Map<string, Group>();
  readonly stats: FanoutStats = { groups: 0, members: 0, serialised: 0, sent: 0, missed: 0, gapMarkers: 0 };

  constructor(
    private readonly opts: {
      /** A socket with more than this waiting to be written skips updates (and is told). Default 1 MiB. */
      maxBufferedBytes?: number;
      /** Applied to every result once, before it is serialised (error codes). */
      fix?: (r: ExecutionResult) => ExecutionResult;
    } = {},
  ) {}

  /**
   * Joins (or starts) the shared execution for `key`. `start` runs the real subscription the
   * first time; when it does not give a stream (errors), its result is returned as is.
   */
  async subscribe(
    key: string,
    target: ShareTarget,
    start: () => Promise<AsyncIterable<ExecutionResult> | ExecutionResult>,
  ): Promise<AsyncIterableIterator<never> | ExecutionResult> {
    let group = this.groups.get(key);
    if (group === undefined) {
      const r = await start();
      if (!isAsyncIterable(r)) return r;
      // Another identical subscription may have started meanwhile: join it and end this one.
      const raced = this.groups.get(key);
      if (raced) {
        void r[Symbol.asyncIterator]().return?.();
        group = raced;
      } else {
        group = { members: new Set(), source: r[Symbol.asyncIterator](), pending: [], pendingMissed: [], flushing: false, envelopes: new Map(), flushes: 0 };
        this.groups.set(key, group);
        this.stats.groups = this.groups.size;
        void this.pump(key, group);
      }
    }
    return this.join(key, group, target);
  }

  private join(key: string, group: Group, target: ShareTarget): AsyncIterableIterator<never> {
    let env = group.envelopes.get(target.id);
    if (env === undefined) {
      const prefix = `{"id":${JSON.stringify(target.id)},"type":"next","payload":`;
      env = { prefix, prefixBuf: Buffer.from(prefix), members: 0, frames: null, flush: -1 };
      group.envelopes.set(target.id, env);
    }
    env.members++;
    const m: Member = { socket: target.socket, env, missed: 0, from: group.pending.length, finish: null, fail: null, done: false };
    group.members.add(m);
    this.stats.members++;
    const leave = () => {
      if (m.done) return;
      m.done = true;
      group.members.delete(m);
      if (--m.env.members === 0) group.envelopes.delete(target.id);
      this.stats.members--;
      if (group.members.size === 0 && this.groups.get(key) === group) {
        this.groups.delete(key);
        this.stats.groups = this.groups.size;
        void group.source.return?.();
      }
    };
    const it: AsyncIterableIterator<never> = {
      // graphql-ws waits on this until the subscription ends; the results go out in pump().
      next: () =>
        m.done
          ? Promise.resolve({ value: undefined as never, done: true })
          : new Promise<IteratorResult<never>>((resolve, reject) => {
              m.finish = resolve;
              m.fail = reject;
            }),
      return: () => {
        leave();
        m.finish?.({ value: undefined as never, done: true });
        return Promise.resolve({ value: undefined as never, done: true });
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  /** The shared execution for `key` skipped updates at its source: every subscriber is told. */
  gap(key: string, missed: number): void {
    const g = this.groups.get(key);
    if (!g) return;
    this.stats.missed += missed * g.members.size;
    if (g.pending.length > 0) {
      // After this turn's results (the skipped ones came after them): the marker goes in line.
      g.pending.push(gapPayload(missed));
      g.pendingMissed.push(missed);
      return;
    }
    for (const m of g.members) m.missed += missed;
  }

  private async pump(key: string, group: Group): Promise<void> {
    const end = (err?: unknown) => {
      // What this turn serialised goes out before graphql-ws says `complete` (or `error`).
      this.flush(group);
      if (this.groups.get(key) === group) {
        this.groups.delete(key);
        this.stats.groups = this.groups.size;
      }
      for (const m of group.members) {
        m.done = true;
        this.stats.members--;
        if (err !== undefined) m.fail?.(err);
        else m.finish?.({ value: undefined as never, done: true });
      }
      group.members.clear();
    };
    try {
      for (;;) {
        const r = await group.source.next();
        if (r.done) return end();
        // Everyone left (and the source was told to end): stop here, whatever the source does.
        if (group.members.size === 0) {
          if (this.groups.get(key) !== group) return;
          continue;
        }
        const result = this.opts.fix ? this.opts.fix(r.value) : r.value;
        group.pending.push(Buffer.from(JSON.stringify(result) + '}'));
        group.pendingMissed.push(0);
        this.stats.serialised++;
        if (!group.flushing) {
          group.flushing = true;
          setImmediate(() => this.flush(group));
        }
      }
    } catch (err) {
      end(err);
    }
  }

  /**
   * Sends this turn's events (usually one; several when a read brought several frames) to every
   * member: one write per socket per turn, built once per envelope id and shared by the members
   * whose graphql-ws ids are the same. Nothing is allocated per member per event beyond that.
   */
  private flush(group: Group): void {
    group.flushing = false;
    const events = group.pending;
    if (events.length === 0) return;
    const missedAt = group.pendingMissed;
    group.pending = [];
    group.pendingMissed = [];
    const flush = ++group.flushes;
    const limit = this.opts.maxBufferedBytes ?? 1024 * 1024;
    for (const m of group.members) {
      const from = m.from;
      m.from = 0;
      const n = events.length - from;
      const s = m.socket;
      if (n <= 0 || s.readyState !== 1) continue;
      // Results and in-line gap markers from `from` on.
      let results = n;
      let markers = 0;
      let announced = 0;
      for (let i = from; i < events.length; i++) {
        if (missedAt[i] > 0) {
          results--;
          markers++;
          announced += missedAt[i];
        }
      }
      if (s.bufferedAmount > limit) {
        // Already counted in stats.missed when the source skipped them.
        m.missed += results + announced;
        this.stats.missed += results;
        continue;
      }
      const raw = rawSocket(s);
      if (m.missed > 0) {
        const marker = gapPayload(m.missed);
        if (raw) raw.write(textFrames(m.env.prefixBuf, [marker], 0));
        else s.send(m.env.prefix + marker.toString());
        this.stats.gapMarkers++;
        m.missed = 0;
      }
      this.stats.gapMarkers += markers;
      if (raw) {
        const env = m.env;
        let frames: Buffer;
        if (from === 0 && env.flush === flush) frames = env.frames!;
        else {
          frames = textFrames(env.prefixBuf, events, from);
          if (from === 0 && env.members > 1) {
            env.frames = frames;
            env.flush = flush;
          }
        }
        raw.write(frames);
      } else {
        for (let i = from; i < events.length; i++) s.send(m.env.prefix + events[i].toString());
      }
      this.stats.sent += results;
    }
  }
}

/**
 * The socket under a ws WebSocket to write finished frames to, or null when ws must frame the
 * message itself: per-message compression is on, or ws still holds messages of its own.
 */
function rawSocket(s: WebSocket): RawSocket | null {
  const w = s as unknown as { _socket?: RawSocket; _extensions?: Record<string, unknown>; _sender?: { _queue?: unknown[]; _bufferedBytes?: number } };
  const raw = w._socket;
  if (!raw || typeof raw.write !== 'function') return null;
  for (const _ in w._extensions ?? {}) return null;
  if ((w._sender?._queue?.length ?? 0) > 0 || (w._sender?._bufferedBytes ?? 0) > 0) return null;
  return raw;
}

/**
 * Unmasked, final text frames (RFC 6455 §5.2), as ws's Sender writes them without compression,
 * one per event from `from` on: the envelope's prefix, then the event's shared JSON.
 */
function textFrames(prefix: Buffer, bodies: Buffer[], from: number): Buffer {
  let total = 0;
  for (let i = from; i < bodies.length; i++) {
    const len = prefix.length + bodies[i].length;
    total += headerLength(len) + len;
  }
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (let i = from; i < bodies.length; i++) {
    const len = prefix.length + bodies[i].length;
    out[o] = 0x81;
    if (len < 126) {
      out[o + 1] = len;
      o += 2;
    } else if (len < 65536) {
      out[o + 1] = 126;
      out.writeUInt16BE(len, o + 2);
      o += 4;
    } else {
      out[o + 1] = 127;
      out.writeUInt32BE(Math.floor(len / 2 ** 32), o + 2);
      out.writeUInt32BE(len >>> 0, o + 6);
      o += 10;
    }
    o += prefix.copy(out, o);
    o += bodies[i].copy(out, o);
  }
  return out;
}

/** A `next` payload that says how many updates this subscriber missed (closing the envelope too). */
function gapPayload(missed: number): Buffer {
  return Buffer.from(`{"extensions":{"gap":{"missed":${missed}}}}}`);
}

function headerLength(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

function isAsyncIterable(x: unknown): x is AsyncIterable<ExecutionResult> {
  return typeof x === 'object' && x !== null && typeof (x as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}
