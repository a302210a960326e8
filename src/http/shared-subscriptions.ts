/**
 * Fan-out of GraphQL subscriptions over graphql-ws: identical subscriptions (same document,
 * operation, variables and role) share one execution, and each of its results is serialised
 * once; every subscriber's socket gets that JSON in a `next` message written straight to it.
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
  cork(): void;
  uncork(): void;
  write(b: Buffer): boolean;
  writableCorked?: number;
}

interface Member {
  socket: WebSocket;
  prefix: string;
  prefixBuf: Buffer;
  missed: number;
  /** Resolves the never-yielding iterator graphql-ws waits on. */
  finish: ((r: IteratorResult<never>) => void) | null;
  fail: ((e: unknown) => void) | null;
  done: boolean;
}

interface Group {
  members: Set<Member>;
  source: AsyncIterator<ExecutionResult>;
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
        group = { members: new Set(), source: r[Symbol.asyncIterator]() };
        this.groups.set(key, group);
        this.stats.groups = this.groups.size;
        void this.pump(key, group);
      }
    }
    return this.join(key, group, target);
  }

  private join(key: string, group: Group, target: ShareTarget): AsyncIterableIterator<never> {
    const prefix = `{"id":${JSON.stringify(target.id)},"type":"next","payload":`;
    const m: Member = { socket: target.socket, prefix, prefixBuf: Buffer.from(prefix), missed: 0, finish: null, fail: null, done: false };
    group.members.add(m);
    this.stats.members++;
    const leave = () => {
      if (m.done) return;
      m.done = true;
      group.members.delete(m);
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

  private corked: Array<{ uncork(): void }> = [];

  /**
   * Holds a socket's writes until the event loop turns: the updates that piled up while it was
   * busy go out in one write per socket, not one per update.
   */
  private cork(s: WebSocket): RawSocket | null {
    const w = s as unknown as { _socket?: RawSocket; _extensions?: Record<string, unknown> };
    const raw = w._socket;
    // With per-message compression ws must frame (and order) every message itself.
    if (!raw || typeof raw.cork !== 'function' || Object.keys(w._extensions ?? {}).length > 0) return null;
    if ((raw.writableCorked ?? 0) > 0) return raw;
    raw.cork();
    if (this.corked.push(raw) === 1) {
      setImmediate(() => {
        const list = this.corked;
        this.corked = [];
        for (const r of list) r.uncork();
      });
    }
    return raw;
  }

  /** The shared execution for `key` skipped updates at its source: every subscriber is told. */
  gap(key: string, missed: number): void {
    const g = this.groups.get(key);
    if (!g) return;
    for (const m of g.members) {
      m.missed += missed;
      this.stats.missed += missed;
    }
  }

  private async pump(key: string, group: Group): Promise<void> {
    const limit = this.opts.maxBufferedBytes ?? 1024 * 1024;
    const end = (err?: unknown) => {
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
        const json = JSON.stringify(result);
        const jsonBuf = Buffer.from(json + '}');
        this.stats.serialised++;
        for (const m of group.members) {
          const s = m.socket;
          if (s.readyState !== 1) continue;
          if (s.bufferedAmount > limit) {
            m.missed++;
            this.stats.missed++;
            continue;
          }
          if (m.missed > 0) {
            s.send(`${m.prefix}{"extensions":{"gap":{"missed":${m.missed}}}}}`);
            this.stats.gapMarkers++;
            m.missed = 0;
          }
          const raw = this.cork(s);
          if (raw) writeTextFrame(raw, m.prefixBuf, jsonBuf);
          else s.send(m.prefix + json + '}');
          this.stats.sent++;
        }
      }
    } catch (err) {
      end(err);
    }
  }
}

/**
 * One unmasked, final text frame (RFC 6455 §5.2), as ws's Sender writes it without compression:
 * the member's prefix, then the event's JSON shared by every member (written, not copied).
 */
function writeTextFrame(raw: RawSocket, prefix: Buffer, body: Buffer): void {
  const len = prefix.length + body.length;
  let head: Buffer;
  if (len < 126) {
    head = Buffer.allocUnsafe(2);
    head[1] = len;
  } else if (len < 65536) {
    head = Buffer.allocUnsafe(4);
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.allocUnsafe(10);
    head[1] = 127;
    head.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    head.writeUInt32BE(len >>> 0, 6);
  }
  head[0] = 0x81;
  raw.write(Buffer.concat([head, prefix]));
  raw.write(body);
}

function isAsyncIterable(x: unknown): x is AsyncIterable<ExecutionResult> {
  return typeof x === 'object' && x !== null && typeof (x as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}
