/**
 * The host's session with one Waveshare USB-CAN-A: open the transport, send the setting
 * command, wait for the adapter to apply it, then move frames both ways. A supervisor keeps
 * the link alive: any failure takes it 'down' and it retries with exponential backoff on the
 * injected clock, with a fresh transport from the factory each time (the port may have moved).
 */
import type { Clock, TimerHandle } from '../../clock.js';
import type { Transport, TransportFactory } from '../../link/transports/types.js';
import type { CanFrame } from './types.js';
import { canIdHex } from './types.js';
import {
  encodeFrame,
  settingFrame,
  WaveshareDecoder,
  type WaveshareDecoderStats,
  type WaveshareFraming,
} from './waveshare.js';

export type LinkState = 'connecting' | 'up' | 'down';

export interface CanAdapterLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

export interface CanAdapterOptions {
  busId: string;
  factory: TransportFactory;
  framing: WaveshareFraming;
  bitrate: number;
  /** ID kind in the setting frame (§6.3); a BMS bus uses standard 11-bit ids. Default extended. */
  frameType?: 'standard' | 'extended';
  clock: Clock;
  backoff?: { initialMs?: number; maxMs?: number };
  /** Wait after the setting frame before sending (MTI waits 200 ms; §6.3). */
  settleMs?: number;
  log?: CanAdapterLog;
}

export type CanAdapterStats = WaveshareDecoderStats & {
  /** Connection attempts after the first one (retries and requested reconnects). */
  reconnects: number;
  txFrames: number;
  /** send() calls that put nothing on the wire: link not up, unencodable frame, write error. */
  txFailures: number;
  lastError: string | null;
};

type FrameListener = (frame: CanFrame, ts: number) => void;
type StateListener = (state: LinkState, detail: string) => void;

const DEFAULT_INITIAL_BACKOFF_MS = 1000;
const DEFAULT_MAX_BACKOFF_MS = 30_000;
const DEFAULT_SETTLE_MS = 200;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class CanAdapterLink {
  readonly busId: string;
  private readonly opts: CanAdapterOptions;
  private readonly clock: Clock;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly settleMs: number;
  private readonly setting: Uint8Array;
  private readonly decoder = new WaveshareDecoder();
  private readonly rxBatch: CanFrame[] = [];

  private currentState: LinkState = 'down';
  private started = false;
  private stopped = false;
  /** Bumped on every teardown so late callbacks from an old attempt are ignored. */
  private generation = 0;
  private attempts = 0;
  private nextBackoffMs: number;
  private transport: Transport | null = null;
  private unsubscribers: (() => void)[] = [];
  private retryTimer: TimerHandle | undefined;
  private settleTimer: TimerHandle | undefined;

  private reconnects = 0;
  private txFrames = 0;
  private txFailures = 0;
  private lastError: string | null = null;

  private readonly frameListeners = new Set<FrameListener>();
  private readonly txListeners = new Set<FrameListener>();
  private readonly stateListeners = new Set<StateListener>();

  constructor(opts: CanAdapterOptions) {
    this.opts = opts;
    this.busId = opts.busId;
    this.clock = opts.clock;
    this.initialBackoffMs = opts.backoff?.initialMs ?? DEFAULT_INITIAL_BACKOFF_MS;
    this.maxBackoffMs = opts.backoff?.maxMs ?? DEFAULT_MAX_BACKOFF_MS;
    this.settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
    this.nextBackoffMs = this.initialBackoffMs;
    // Validated here so a bad bit rate fails at construction, not inside the supervisor.
    this.setting = settingFrame({ framing: opts.framing, bitrate: opts.bitrate, frameType: opts.frameType ?? 'extended' });
  }

  get state(): LinkState {
    return this.currentState;
  }

  get stats(): CanAdapterStats {
    return {
      ...this.decoder.stats,
      reconnects: this.reconnects,
      txFrames: this.txFrames,
      txFailures: this.txFailures,
      lastError: this.lastError,
    };
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    void this.connect();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const transport = this.teardown();
    this.setState('down', 'stopped');
    if (transport) await transport.close().catch(() => undefined);
  }

  /** Closes and reopens now, e.g. when the driver's watchdog hears nothing. */
  reconnect(reason: string): void {
    if (!this.started || this.stopped) return;
    this.log('warn', { reason }, 'reconnecting CAN adapter');
    const transport = this.teardown();
    this.setState('down', `reconnecting: ${reason}`);
    void (async () => {
      if (transport) await transport.close().catch(() => undefined);
      // A stop() or another reconnect() while closing supersedes this one.
      if (!this.stopped && !this.transport && this.retryTimer === undefined && this.currentState === 'down') {
        void this.connect();
      }
    })();
  }

  async send(frame: CanFrame): Promise<boolean> {
    const transport = this.transport;
    if (this.currentState !== 'up' || !transport) {
      this.txFailures++;
      return false;
    }
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(frame, this.opts.framing);
    } catch (err) {
      this.txFailures++;
      this.log('warn', { canId: canIdHex(frame), err: message(err) }, 'CAN frame not sent: cannot be encoded (caller bug)');
      return false;
    }
    const gen = this.generation;
    try {
      await transport.write(bytes);
    } catch (err) {
      this.txFailures++;
      this.lastError = message(err);
      // Only the first failure of this connection reconnects; later ones see a new generation.
      if (gen === this.generation) this.reconnect(`write failed: ${this.lastError}`);
      return false;
    }
    this.txFrames++;
    const ts = this.clock.now();
    for (const l of this.txListeners) this.safeCall(() => l(frame, ts));
    return true;
  }

  onFrame(cb: FrameListener): () => void {
    this.frameListeners.add(cb);
    return () => this.frameListeners.delete(cb);
  }

  onTx(cb: FrameListener): () => void {
    this.txListeners.add(cb);
    return () => this.txListeners.delete(cb);
  }

  onState(cb: StateListener): () => void {
    this.stateListeners.add(cb);
    return () => this.stateListeners.delete(cb);
  }

  // ---- supervisor ----

  private async connect(): Promise<void> {
    this.retryTimer = undefined;
    if (this.stopped) return;
    const gen = ++this.generation;
    if (this.attempts++ > 0) this.reconnects++;
    this.setState('connecting', `opening (attempt ${this.attempts})`);

    let transport: Transport | null = null;
    try {
      transport = await this.opts.factory();
      if (gen !== this.generation) return void transport.close().catch(() => undefined);
      await transport.open();
      if (gen !== this.generation) return void transport.close().catch(() => undefined);
    } catch (err) {
      if (gen === this.generation) this.fail(transport, err, 'cannot open CAN adapter');
      return;
    }

    this.transport = transport;
    this.decoder.reset();
    const t = transport;
    this.unsubscribers.push(
      t.onData((chunk) => this.onData(gen, chunk)),
      t.onClose((err) => {
        if (gen !== this.generation) return;
        this.fail(t, err ?? new Error(`${t.description} closed`), 'CAN adapter connection lost');
      }),
    );
    this.log('info', { transport: t.description }, 'CAN adapter port open; sending setting command');

    try {
      await t.write(this.setting);
    } catch (err) {
      if (gen === this.generation) this.fail(t, err, 'cannot configure CAN adapter');
      return;
    }
    if (gen !== this.generation) return;
    // The adapter does not acknowledge the setting; give it time to apply it (§6.3).
    this.settleTimer = this.clock.setTimeout(() => {
      this.settleTimer = undefined;
      if (gen !== this.generation) return;
      this.nextBackoffMs = this.initialBackoffMs;
      this.setState('up', `${t.description} at ${this.opts.bitrate} bit/s, ${this.opts.framing} framing`);
    }, this.settleMs);
  }

  private onData(gen: number, chunk: Uint8Array): void {
    if (gen !== this.generation) return;
    const frames = this.rxBatch;
    frames.length = 0;
    this.decoder.push(chunk, frames);
    if (frames.length === 0) return;
    const ts = this.clock.now();
    for (const frame of frames) {
      for (const l of this.frameListeners) this.safeCall(() => l(frame, ts));
    }
  }

  /** Link failed: go down, drop the transport, retry after the current backoff. */
  private fail(transport: Transport | null, err: unknown, what: string): void {
    this.lastError = message(err);
    const own = this.teardown();
    const t = own ?? transport;
    if (t) void t.close().catch(() => undefined);
    if (this.stopped) return;
    const delayMs = this.nextBackoffMs;
    this.nextBackoffMs = Math.min(this.nextBackoffMs * 2, this.maxBackoffMs);
    this.log('warn', { err: this.lastError, retryInMs: delayMs }, `${what}; retrying in ${delayMs} ms`);
    this.setState('down', this.lastError);
    this.retryTimer = this.clock.setTimeout(() => void this.connect(), delayMs);
  }

  /** Forgets the current connection and timers; returns the transport for the caller to close. */
  private teardown(): Transport | null {
    this.generation++;
    for (const u of this.unsubscribers) u();
    this.unsubscribers = [];
    this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.clock.clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    const t = this.transport;
    this.transport = null;
    this.decoder.reset();
    return t;
  }

  private setState(state: LinkState, detail: string): void {
    this.currentState = state;
    if (state === 'up') this.log('info', { detail }, 'CAN adapter link up');
    for (const l of this.stateListeners) this.safeCall(() => l(state, detail));
  }

  private safeCall(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log('warn', { err: message(err) }, 'CAN adapter listener threw; continuing');
    }
  }

  private log(level: 'info' | 'warn', o: object, msg: string): void {
    this.opts.log?.[level]({ busId: this.busId, ...o }, msg);
  }
}
