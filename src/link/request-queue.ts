/**
 * One request/reply exchange at a time per device, for the families whose device answers
 * requests (PI18, VE.Bus MK2, OpenEVSE RAPI; see shared/protocols/*.md): each of them handles
 * one request at a time and mixes replies with unsolicited frames (MK2 `V`, RAPI `$AT`/`$AB`).
 *
 * Rules, each tested on the FakeClock (test/link/request-queue.test.ts):
 * - Requests go out in submission order, one in flight; the next waits for a result.
 * - The reply matcher is registered before the write, so a reply delivered synchronously from
 *   inside `send` (an echoing transport, a simulator) is still matched.
 * - The deadline runs on the injected clock from just before the write. On a timeout a request
 *   marked `idempotent` is re-sent up to `retries` times; a setter (not idempotent) never is:
 *   whether it took effect is for a read-back to tell, not for a blind re-send.
 * - After a request finally times out, a "late window" (default: that request's timeout) holds
 *   the next exchange back; a frame matching the timed-out request in that window is discarded
 *   and counted (`stats.lateReplies`), so a late reply is never taken as the next request's.
 * - `gapAfterMs` (per request or queue-wide) keeps the line quiet for a while after an exchange.
 * - A frame that matches nothing goes to the `onUnsolicited` listeners.
 * - Link loss (`linkDown()`, or a send that returns LINK_DOWN) fails the request in flight at
 *   once, and every queued one, with LINK_DOWN. A WRITE_FAILED send fails that request only.
 * - Results are values; `request()` never rejects. A matched reply the `nak` predicate calls a
 *   refusal (PI18 `^0`, RAPI `$NK`) gives `{ ok: false, code: 'NAK', reply }`.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { Link, SendResult } from './types.js';

export type RequestFailureCode = 'TIMEOUT' | 'NAK' | 'LINK_DOWN' | 'WRITE_FAILED';

export type RequestResult<F> =
  | { ok: true; reply: F; attempts: number }
  | { ok: false; code: RequestFailureCode; message: string; attempts: number; reply?: F };

interface RequestBase<F> {
  /** Short name for messages, e.g. "PIRI", "$GS", "F 0", "MCHGV552,540". */
  label: string;
  frame: F;
  /** Is this received frame the reply to this request? Must not throw (a throw counts as no). */
  match(frame: F): boolean;
  /** Is this matched reply a refusal? (PI18 `^0`, RAPI `$NK`.) Default: never. */
  nak?(reply: F): boolean;
  /** Deadline per attempt; default from the queue options. */
  timeoutMs?: number;
  /**
   * Quiet time after this exchange ends (any result) before the next write, e.g. between
   * EEPROM-backed MK2 setting writes (vebus-mk2.md §5: 50–200 ms). Default from the queue options.
   */
  gapAfterMs?: number;
}

/**
 * A request. Only an idempotent one (a query, a read-back) can carry retries; a setter's type
 * has none, so "re-send a setter after a timeout" cannot even be written.
 */
export type RequestSpec<F> =
  | (RequestBase<F> & { idempotent: true; retries?: number })
  | (RequestBase<F> & { idempotent?: false; retries?: never });

export interface RequestQueueOptions<F> {
  clock: Clock;
  /** Writes one frame; usually `link.send`. Should not reject (a rejection counts as WRITE_FAILED). */
  send(frame: F): Promise<SendResult>;
  /** Who this queue talks to, for messages: e.g. "inverter pi18-1 (/dev/hidraw0)". */
  device: string;
  /** Default per-attempt deadline. Default 1000 ms. */
  timeoutMs?: number;
  /** Default re-sends after a timeout, for idempotent requests only. Default 2. */
  retries?: number;
  /** How long after a final timeout late replies are awaited and discarded. Default: that request's timeout. */
  lateWindowMs?: number;
  /** Default quiet time after each exchange before the next write. Default 0. */
  gapAfterMs?: number;
}

export interface RequestQueueStats {
  /** request() calls. */
  requests: number;
  /** Frames handed to send (first attempts and retries). */
  writes: number;
  retries: number;
  replies: number;
  naks: number;
  /** Requests that failed with TIMEOUT (after their retries). */
  timeouts: number;
  writeFailures: number;
  /** Requests failed because the link went down (in flight or queued). */
  linkDownFailures: number;
  /** Replies to a timed-out request that arrived in its late window; discarded. */
  lateReplies: number;
  /** Frames that matched no request, passed to the onUnsolicited listeners. */
  unsolicited: number;
  /** Matcher or nak predicate calls that threw (a family bug); treated as "no match". */
  matcherErrors: number;
}

/** What became of one received frame. */
export type FrameDisposition = 'reply' | 'late' | 'unsolicited';

interface Entry<F> {
  spec: RequestSpec<F>;
  resolve(result: RequestResult<F>): void;
  attempts: number;
  /** Identifies the current attempt; a stale timer or send completion compares against it. */
  token: number;
  timer: TimerHandle | undefined;
}

const DEFAULT_TIMEOUT_MS = 1000;
const DEFAULT_RETRIES = 2;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class RequestQueue<F> {
  private readonly opts: RequestQueueOptions<F>;
  private readonly waiting: Entry<F>[] = [];
  private current: Entry<F> | null = null;
  private late: { label: string; match: (frame: F) => boolean; timer: TimerHandle } | null = null;
  /** Quiet time after an exchange (`gapAfterMs`); the next write waits for it. */
  private gapTimer: TimerHandle | undefined;
  private tokens = 0;
  private pumpScheduled = false;
  private disposed = false;
  private readonly unsolicitedListeners = new Set<(frame: F) => void>();
  private readonly counters: RequestQueueStats = {
    requests: 0,
    writes: 0,
    retries: 0,
    replies: 0,
    naks: 0,
    timeouts: 0,
    writeFailures: 0,
    linkDownFailures: 0,
    lateReplies: 0,
    unsolicited: 0,
    matcherErrors: 0,
  };

  constructor(opts: RequestQueueOptions<F>) {
    this.opts = opts;
  }

  /**
   * A queue wired to a link: sends through it, takes its frames, and fails everything when
   * it leaves 'up'. `detach()` undoes the wiring.
   */
  static forLink<F>(
    link: Pick<Link<F>, 'send' | 'onFrame' | 'onState'>,
    opts: Omit<RequestQueueOptions<F>, 'send'>,
  ): { queue: RequestQueue<F>; detach(): void } {
    const queue = new RequestQueue<F>({ ...opts, send: (frame) => link.send(frame) });
    const offFrame = link.onFrame((frame) => queue.handleFrame(frame));
    const offState = link.onState((state, detail) => {
      if (state !== 'up') queue.linkDown(`link ${state}: ${detail}`);
    });
    return {
      queue,
      detach() {
        offFrame();
        offState();
      },
    };
  }

  get stats(): Readonly<RequestQueueStats> {
    return { ...this.counters };
  }

  /** Whether an exchange is waiting for its reply. */
  get inFlight(): boolean {
    return this.current !== null;
  }

  /** Requests waiting behind the one in flight. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Queues a request; resolves with its result (never rejects). */
  request(spec: RequestSpec<F>): Promise<RequestResult<F>> {
    this.counters.requests++;
    if (this.disposed) {
      this.counters.linkDownFailures++;
      return Promise.resolve({
        ok: false,
        code: 'LINK_DOWN',
        message: `${this.opts.device}: ${spec.label} not sent — the request queue is stopped`,
        attempts: 0,
      });
    }
    return new Promise<RequestResult<F>>((resolve) => {
      this.waiting.push({ spec, resolve, attempts: 0, token: 0, timer: undefined });
      this.pump();
    });
  }

  /** Frames not claimed by any request (RAPI `$AT`, MK2 `V` frames). */
  onUnsolicited(listener: (frame: F) => void): () => void {
    this.unsolicitedListeners.add(listener);
    return () => this.unsolicitedListeners.delete(listener);
  }

  /** Feed every received frame here (the link's onFrame). */
  handleFrame(frame: F): FrameDisposition {
    const e = this.current;
    if (e && e.attempts > 0 && this.safely(() => e.spec.match(frame))) {
      this.counters.replies++;
      if (e.spec.nak && this.safely(() => e.spec.nak!(frame))) {
        this.counters.naks++;
        this.finish(e, {
          ok: false,
          code: 'NAK',
          message: `${this.opts.device} refused ${e.spec.label} — check the value is allowed in the device's current mode`,
          attempts: e.attempts,
          reply: frame,
        });
      } else {
        this.finish(e, { ok: true, reply: frame, attempts: e.attempts });
      }
      return 'reply';
    }
    const late = this.late;
    if (late && this.safely(() => late.match(frame))) {
      this.counters.lateReplies++;
      return 'late';
    }
    this.counters.unsolicited++;
    for (const l of this.unsolicitedListeners) {
      try {
        l(frame);
      } catch {
        // A listener's bug must not stop the queue; the listener owns its logging.
      }
    }
    return 'unsolicited';
  }

  /** The link is gone: fail the request in flight and every queued one, now. */
  linkDown(reason: string): void {
    this.failAll(reason);
  }

  /** Stops for good: everything pending fails with LINK_DOWN, later requests fail at once. */
  dispose(reason = 'request queue stopped'): void {
    this.disposed = true;
    this.failAll(reason);
  }

  // ---- internals ----

  private safely(fn: () => boolean): boolean {
    try {
      return fn();
    } catch {
      this.counters.matcherErrors++;
      return false;
    }
  }

  private pump(): void {
    if (this.current || this.late || this.gapTimer || this.disposed) return;
    const next = this.waiting.shift();
    if (!next) return;
    this.current = next;
    void this.attempt(next);
  }

  /** Starts the next exchange on a microtask, outside the frame handler that ended the last. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private async attempt(e: Entry<F>): Promise<void> {
    const token = ++this.tokens;
    e.token = token;
    e.attempts++;
    // Matcher (this.current) and deadline are in place before the first byte goes out.
    const timeoutMs = e.spec.timeoutMs ?? this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    e.timer = this.opts.clock.setTimeout(() => this.onTimeout(e, token, timeoutMs), timeoutMs);
    this.counters.writes++;
    let res: SendResult;
    try {
      res = await this.opts.send(e.spec.frame);
    } catch (err) {
      res = { ok: false, code: 'WRITE_FAILED', message: errorText(err) };
    }
    // Already settled: replied (maybe synchronously from inside send), timed out, or link lost.
    if (this.current !== e || e.token !== token || res.ok) return;
    if (res.code === 'LINK_DOWN') {
      this.failAll(res.message);
      return;
    }
    this.counters.writeFailures++;
    this.finish(e, {
      ok: false,
      code: 'WRITE_FAILED',
      message: `${this.opts.device}: ${e.spec.label} could not be written (${res.message}) — check the connection`,
      attempts: e.attempts,
    });
  }

  private onTimeout(e: Entry<F>, token: number, timeoutMs: number): void {
    if (this.current !== e || e.token !== token) return;
    e.timer = undefined;
    const retries = e.spec.idempotent ? (e.spec.retries ?? this.opts.retries ?? DEFAULT_RETRIES) : 0;
    if (e.attempts <= retries) {
      this.counters.retries++;
      void this.attempt(e);
      return;
    }
    this.counters.timeouts++;
    const windowMs = this.opts.lateWindowMs ?? timeoutMs;
    if (windowMs > 0) {
      const timer = this.opts.clock.setTimeout(() => {
        if (this.late?.timer !== timer) return;
        this.late = null;
        this.schedulePump();
      }, windowMs);
      this.late = { label: e.spec.label, match: e.spec.match, timer };
    }
    this.finish(e, {
      ok: false,
      code: 'TIMEOUT',
      message:
        `${this.opts.device}: no reply to ${e.spec.label} within ${timeoutMs} ms` +
        ` (${e.attempts} attempt${e.attempts === 1 ? '' : 's'}) — check the cable and that the device is powered`,
      attempts: e.attempts,
    });
  }

  private finish(e: Entry<F>, result: RequestResult<F>): void {
    this.opts.clock.clearTimeout(e.timer);
    e.timer = undefined;
    if (this.current === e) {
      this.current = null;
      const gap = e.spec.gapAfterMs ?? this.opts.gapAfterMs ?? 0;
      if (gap > 0) {
        const timer = this.opts.clock.setTimeout(() => {
          if (this.gapTimer !== timer) return;
          this.gapTimer = undefined;
          this.schedulePump();
        }, gap);
        this.gapTimer = timer;
      }
    }
    e.resolve(result);
    this.schedulePump();
  }

  private failAll(reason: string): void {
    if (this.late) {
      // A new connection starts clean: nothing from the old one can still arrive.
      this.opts.clock.clearTimeout(this.late.timer);
      this.late = null;
    }
    this.opts.clock.clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
    const entries = this.current ? [this.current, ...this.waiting] : [...this.waiting];
    // Detached first, so finish() starts no quiet gap: there is nothing to keep quiet for.
    this.current = null;
    this.waiting.length = 0;
    for (const e of entries) {
      this.counters.linkDownFailures++;
      this.finish(e, {
        ok: false,
        code: 'LINK_DOWN',
        message: `${this.opts.device}: ${e.spec.label} ${e.attempts > 0 ? 'not answered' : 'not sent'} — link lost (${reason}); check the connection`,
        attempts: e.attempts,
      });
    }
  }
}
