/**
 * The generic link supervisor (issue 10): one connection's life on any transport and framer.
 *
 *   factory() → Transport → open → handshake? → 'up' → frames both ways … failure → 'down'
 *                                                     → retry after a backoff on the clock
 *
 * Rules (each tested on the FakeClock in test/link/supervisor.test.ts):
 * - Every attempt gets a fresh transport from the factory (a replugged adapter may have moved).
 * - A failure (factory or open rejects, the handshake throws or times out, the transport
 *   closes by itself) takes the link 'down' and retries after `backoff.initialMs`, doubling up
 *   to `backoff.maxMs`. Reaching 'up' resets the backoff.
 * - Every teardown bumps a generation: late callbacks of an old attempt (an open that resolves
 *   after a reconnect, data or a close event from the old transport, a write that fails late)
 *   are ignored, and a transport an old attempt opened is closed. The next attempt (and the
 *   end of `stop()`) waits for a superseded factory/open to settle and let go of the device,
 *   so two attempts never hold it at once (transports must settle `open`: TCP has a timeout).
 * - `reconnect(reason)` closes and reopens now; it supersedes an attempt in progress and a
 *   pending retry. A failed write reconnects once per connection (later failures of the same
 *   connection find a new generation).
 * - `send` never throws or rejects: LINK_DOWN (not up, nothing written) or WRITE_FAILED (the
 *   framer cannot encode the frame, or the transport refused the write).
 * - Listener exceptions are caught and logged; they never break the link.
 * - Bytes received during the handshake already go through the framer and frames reach the
 *   frame listeners (as the Waveshare link always did); the state is 'connecting' until the
 *   handshake resolves.
 */
import { SilenceWatchdog, type Clock, type TimerHandle } from '../clock.js';
import type { Transport, TransportFactory } from './transports/types.js';
import type { FrameListener, Framer, Link, LinkState, SendResult, StateListener } from './types.js';

export interface LinkLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

export interface SupervisedLinkOptions<F> {
  /** Config id of the link ("can0", "inverter1"); in every log line and message. */
  id: string;
  clock: Clock;
  /** Retry delays: the first, doubled after each failure up to the cap. Default 1 s … 30 s. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** A frame for log lines (e.g. "0x05FF4004 C8 00 …"). Default JSON. */
  describe?: (frame: F) => string;
  log?: LinkLog;
  /**
   * What the thing at the other end is called for people, in log lines: "CAN adapter",
   * "PI18 inverter". Default "link".
   */
  name?: string;
  /**
   * Runs after the transport opened and before the link goes 'up', e.g. Waveshare's setting
   * frame and its 200 ms settle (on the injected clock; see `delay`). A throw or rejection takes
   * the link down and retries with the backoff. `signal` aborts when the attempt is superseded
   * (reconnect, stop, the transport closed, the handshake timed out).
   */
  handshake?: (transport: Transport, signal: AbortSignal) => Promise<void> | void;
  /** A handshake that has not finished after this long fails the attempt. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** The detail of the 'up' state change. Default: the transport's description. */
  upDetail?: (transport: Transport) => string;
  /**
   * Reconnect when nothing was received for `silenceMs` while up (counted in awake time: a
   * stalled event loop does not count as silence; see SilenceWatchdog). Off by default: only
   * use it where the device talks on its own (a request/reply device is silent when not asked).
   */
  watchdog?: { silenceMs: number; tickMs?: number };
}

export interface SupervisedLinkStats {
  /** Frames the framer yielded. */
  rxFrames: number;
  /** The framer's discarded bytes (resync, failed checks). */
  corruptBytes: number;
  /** Connection attempts after the first one (retries and requested reconnects). */
  reconnects: number;
  /** Frames written successfully. */
  txFrames: number;
  /** send() calls that did not put a frame on the wire: link not up, unencodable frame, write error. */
  txFailures: number;
  /** The last failure's message (open, handshake, loss, write), or null. */
  lastError: string | null;
}

const DEFAULT_INITIAL_BACKOFF_MS = 1000;
const DEFAULT_MAX_BACKOFF_MS = 30_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Waits `ms` on `clock`; rejects when `signal` aborts (the attempt was superseded), so a
 * handshake never goes on talking to a transport the link has given up.
 */
export function delay(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'));
}

export class SupervisedLink<F> implements Link<F> {
  readonly id: string;
  private readonly opts: SupervisedLinkOptions<F>;
  private readonly factory: TransportFactory;
  private readonly framer: Framer<F>;
  private readonly clock: Clock;
  private readonly name: string;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly watchdog: SilenceWatchdog | null;

  private currentState: LinkState = 'down';
  private currentDetail = 'not started';
  private started = false;
  private stopped = false;
  /** Bumped on every teardown (and every attempt) so late callbacks from an old attempt are ignored. */
  private generation = 0;
  private attempts = 0;
  private nextBackoffMs: number;
  /** The transport of the current attempt once it opened (during the handshake and while up). */
  private transport: Transport | null = null;
  private unsubscribers: (() => void)[] = [];
  private retryTimer: TimerHandle | undefined;
  private handshakeTimer: TimerHandle | undefined;
  private handshakeAbort: AbortController | null = null;
  /** The factory/open of the newest attempt while it is in progress. */
  private opening: Promise<Transport | null> | null = null;

  private rxFrames = 0;
  private reconnects = 0;
  private txFrames = 0;
  private txFailures = 0;
  private lastError: string | null = null;

  private readonly frameListeners = new Set<FrameListener<F>>();
  private readonly txListeners = new Set<FrameListener<F>>();
  private readonly stateListeners = new Set<StateListener>();

  constructor(factory: TransportFactory, framer: Framer<F>, opts: SupervisedLinkOptions<F>) {
    this.factory = factory;
    this.framer = framer;
    this.opts = opts;
    this.id = opts.id;
    this.clock = opts.clock;
    this.name = opts.name ?? 'link';
    this.initialBackoffMs = opts.backoff?.initialMs ?? DEFAULT_INITIAL_BACKOFF_MS;
    this.maxBackoffMs = opts.backoff?.maxMs ?? DEFAULT_MAX_BACKOFF_MS;
    if (!(this.initialBackoffMs > 0) || !(this.maxBackoffMs >= this.initialBackoffMs)) {
      throw new RangeError(
        `link ${opts.id}: backoff needs 0 < initialMs ≤ maxMs, got ${this.initialBackoffMs} … ${this.maxBackoffMs}`,
      );
    }
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.nextBackoffMs = this.initialBackoffMs;
    const wd = opts.watchdog;
    this.watchdog = wd
      ? new SilenceWatchdog({
          clock: this.clock,
          tickMs: wd.tickMs ?? Math.max(1, Math.min(1000, Math.floor(wd.silenceMs / 4))),
          check: () => this.checkSilence(wd.silenceMs),
        })
      : null;
  }

  get state(): LinkState {
    return this.currentState;
  }

  /** The detail of the last state change ("opening (attempt 3)", "memory:can0 unplugged"…). */
  get detail(): string {
    return this.currentDetail;
  }

  stats(): SupervisedLinkStats {
    return {
      rxFrames: this.rxFrames,
      corruptBytes: this.framer.corruptBytes,
      reconnects: this.reconnects,
      txFrames: this.txFrames,
      txFailures: this.txFailures,
      lastError: this.lastError,
    };
  }

  /** Opens the first connection; idempotent. A stopped link cannot be started again. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.watchdog?.start();
    void this.connect();
  }

  /** Closes the transport, cancels every timer; the link stays 'down' for good. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watchdog?.stop();
    const prior = this.opening;
    const transport = this.teardown('stopped');
    this.setState('down', 'stopped');
    if (transport) await transport.close().catch(() => undefined);
    // An attempt still opening closes what it opened; after stop() nothing is held open.
    if (prior) await prior;
  }

  reconnect(reason: string): void {
    if (!this.started || this.stopped) return;
    this.log('warn', { reason }, `reconnecting ${this.name}`);
    const prior = this.opening;
    const transport = this.teardown(`reconnecting: ${reason}`);
    const gen = this.generation;
    this.setState('down', `reconnecting: ${reason}`);
    void (async () => {
      if (transport) await transport.close().catch(() => undefined);
      // An attempt still opening closes what it opened before the next one starts.
      if (prior) await prior;
      // A stop(), another reconnect() or a state listener's reconnect while closing supersedes this one.
      if (gen === this.generation && !this.stopped) void this.connect();
    })();
  }

  async send(frame: F): Promise<SendResult> {
    const transport = this.transport;
    if (this.currentState !== 'up' || !transport) {
      this.txFailures++;
      return {
        ok: false,
        code: 'LINK_DOWN',
        message: `link ${this.id} is ${this.currentState} (${this.currentDetail}); nothing was sent — retry when it is up`,
      };
    }
    let bytes: Uint8Array;
    try {
      bytes = this.framer.encode(frame);
    } catch (err) {
      this.txFailures++;
      const m = message(err);
      this.log('warn', { frame: this.describe(frame), err: m }, 'frame not sent: it cannot be encoded (caller bug)');
      return { ok: false, code: 'WRITE_FAILED', message: `link ${this.id}: frame ${this.describe(frame)} cannot be encoded: ${m}` };
    }
    const gen = this.generation;
    try {
      await transport.write(bytes);
    } catch (err) {
      this.txFailures++;
      const m = message(err);
      this.lastError = m;
      // Only the first failure of this connection reconnects; later ones see a new generation.
      if (gen === this.generation) this.reconnect(`write failed: ${m}`);
      return {
        ok: false,
        code: 'WRITE_FAILED',
        message: `link ${this.id}: write to ${transport.description} failed (${m}); the link reconnects, retry when it is up`,
      };
    }
    this.txFrames++;
    const ts = this.clock.now();
    for (const l of this.txListeners) this.safeCall(() => l(frame, ts));
    return { ok: true };
  }

  onFrame(listener: FrameListener<F>): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  onTx(listener: FrameListener<F>): () => void {
    this.txListeners.add(listener);
    return () => this.txListeners.delete(listener);
  }

  onState(listener: StateListener): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  // ---- supervisor ----

  private async connect(): Promise<void> {
    this.retryTimer = undefined;
    if (this.stopped) return;
    const gen = ++this.generation;
    if (this.attempts++ > 0) this.reconnects++;
    this.setState('connecting', `opening (attempt ${this.attempts})`);
    if (gen !== this.generation) return; // a state listener reconnected or stopped

    const opening = this.openTransport(gen);
    this.opening = opening;
    const transport = await opening;
    if (this.opening === opening) this.opening = null;
    if (!transport) return;

    this.transport = transport;
    this.framer.reset();
    const t = transport;
    this.unsubscribers.push(
      t.onData((chunk) => this.onData(gen, chunk)),
      t.onClose((err) => {
        if (gen !== this.generation) return;
        this.fail(t, err ?? new Error(`${t.description} closed`), `${this.name} connection lost`);
      }),
    );
    if (!t.isOpen) {
      // It went away between open() and the subscription above, so no close event will come.
      this.fail(t, new Error(`${t.description} closed right after opening`), `${this.name} connection lost`);
      return;
    }
    this.log('info', { transport: t.description }, `${this.name} port open`);

    const handshake = this.opts.handshake;
    if (handshake) {
      const abort = new AbortController();
      this.handshakeAbort = abort;
      // Settles when the attempt is superseded or the handshake times out, even if the
      // handshake itself ignores its signal.
      const aborted = new Promise<never>((_resolve, reject) => {
        abort.signal.addEventListener('abort', () => reject(abortError(abort.signal)), { once: true });
      });
      aborted.catch(() => undefined);
      this.handshakeTimer = this.clock.setTimeout(() => {
        this.handshakeTimer = undefined;
        abort.abort(new Error(`${this.name} handshake on ${t.description} did not finish within ${this.handshakeTimeoutMs} ms`));
      }, this.handshakeTimeoutMs);
      try {
        await Promise.race([Promise.resolve().then(() => handshake(t, abort.signal)), aborted]);
      } catch (err) {
        if (gen === this.generation) this.fail(t, err, `${this.name} handshake failed`);
        return;
      } finally {
        if (gen === this.generation) {
          this.clock.clearTimeout(this.handshakeTimer);
          this.handshakeTimer = undefined;
          this.handshakeAbort = null;
        }
      }
      if (gen !== this.generation) return;
    }

    this.nextBackoffMs = this.initialBackoffMs;
    this.watchdog?.heard('rx');
    this.setState('up', this.opts.upDetail ? this.opts.upDetail(t) : t.description);
  }

  /**
   * Factory and open for attempt `gen`: the open transport, or null when the attempt failed
   * (then `fail` has scheduled the retry) or was superseded (then its transport is closed
   * before this settles, so the next attempt never finds the device still held by this one).
   */
  private async openTransport(gen: number): Promise<Transport | null> {
    let transport: Transport | null = null;
    try {
      transport = await this.factory();
      if (gen === this.generation) await transport.open();
    } catch (err) {
      if (gen === this.generation) {
        this.fail(transport, err, `cannot open ${this.name}`);
        return null;
      }
    }
    if (gen === this.generation) return transport;
    if (transport) await transport.close().catch(() => undefined);
    return null;
  }

  private onData(gen: number, chunk: Uint8Array): void {
    if (gen !== this.generation) return;
    let frames: F[];
    try {
      frames = this.framer.push(chunk);
    } catch (err) {
      // A framer must not throw on bytes; if one does, drop the chunk rather than the link.
      this.log('warn', { err: message(err) }, 'framer threw on received bytes (a bug); chunk dropped');
      return;
    }
    if (frames.length === 0) return;
    this.rxFrames += frames.length;
    this.watchdog?.heard('rx');
    const ts = this.clock.now();
    for (const frame of frames) {
      // All of them, even if a listener reconnects meanwhile: they were received on this connection.
      for (const l of this.frameListeners) this.safeCall(() => l(frame, ts));
    }
  }

  private checkSilence(silenceMs: number): void {
    if (this.currentState !== 'up' || !this.watchdog) return;
    const silent = this.watchdog.silentMs('rx');
    if (silent !== null && silent > silenceMs) {
      this.watchdog.heard('rx'); // one reconnect per silent period
      this.reconnect(`nothing received for ${Math.round(silenceMs / 1000)} s`);
    }
  }

  /** The attempt failed: go down, drop the transport, retry after the current backoff. */
  private fail(transport: Transport | null, err: unknown, what: string): void {
    this.lastError = message(err);
    const own = this.teardown(this.lastError);
    const t = own ?? transport;
    if (t) void t.close().catch(() => undefined);
    if (this.stopped) return;
    const delayMs = this.nextBackoffMs;
    this.nextBackoffMs = Math.min(this.nextBackoffMs * 2, this.maxBackoffMs);
    this.log('warn', { err: this.lastError, retryInMs: delayMs }, `${what}; retrying in ${delayMs} ms`);
    const gen = this.generation;
    this.setState('down', this.lastError);
    // A state listener may have reconnected or stopped meanwhile; then that wins.
    if (gen !== this.generation || this.stopped) return;
    this.retryTimer = this.clock.setTimeout(() => void this.connect(), delayMs);
  }

  /** Forgets the current attempt and its timers; returns its transport for the caller to close. */
  private teardown(reason: string): Transport | null {
    this.generation++;
    for (const u of this.unsubscribers) u();
    this.unsubscribers = [];
    this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.clock.clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    const abort = this.handshakeAbort;
    this.handshakeAbort = null;
    abort?.abort(new Error(`attempt superseded: ${reason}`));
    const t = this.transport;
    this.transport = null;
    this.framer.reset();
    return t;
  }

  private setState(state: LinkState, detail: string): void {
    this.currentState = state;
    this.currentDetail = detail;
    if (state === 'up') this.log('info', { detail }, `${this.name} link up`);
    for (const l of this.stateListeners) this.safeCall(() => l(state, detail));
  }

  private safeCall(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log('warn', { err: message(err) }, `${this.name} listener threw; continuing`);
    }
  }

  private describe(frame: F): string {
    try {
      if (this.opts.describe) return this.opts.describe(frame);
      return JSON.stringify(frame, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)) ?? String(frame);
    } catch {
      return String(frame);
    }
  }

  private log(level: 'info' | 'warn', o: object, msg: string): void {
    try {
      this.opts.log?.[level]({ link: this.id, ...o }, msg);
    } catch {
      // A broken logger must not break the link.
    }
  }
}
