/**
 * The host's session with one Waveshare USB-CAN-A: open the transport, send the setting
 * command, wait for the adapter to apply it, then move frames both ways. The generic link
 * supervisor (src/link/supervisor.ts) keeps it alive: any failure takes it 'down' and it
 * retries with exponential backoff on the injected clock, with a fresh transport from the
 * factory each time (the port may have moved). What is Waveshare's here is the framer
 * (WaveshareFramer) and the handshake (setting frame + settle).
 */
import type { Clock } from '../../clock.js';
import { delay, SupervisedLink } from '../../link/supervisor.js';
import type { TransportFactory } from '../../link/transports/types.js';
import type { FrameListener, LinkState, SendResult, StateListener } from '../../link/types.js';
import type { CanFrame, CanLink } from './types.js';
import { canIdHex, hex } from './types.js';
import { settingFrame, WaveshareFramer, type WaveshareDecoderStats, type WaveshareFraming } from './waveshare.js';

export type { LinkState } from '../../link/types.js';

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

const DEFAULT_SETTLE_MS = 200;

export class CanAdapterLink implements CanLink {
  readonly id: string;
  /** The same as `id` (the config calls a CAN link a bus). */
  readonly busId: string;
  private readonly framer: WaveshareFramer;
  private readonly link: SupervisedLink<CanFrame>;

  constructor(opts: CanAdapterOptions) {
    this.id = opts.busId;
    this.busId = opts.busId;
    const clock = opts.clock;
    const settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
    // Validated here so a bad bit rate fails at construction, not inside the supervisor.
    const setting = settingFrame({ framing: opts.framing, bitrate: opts.bitrate, frameType: opts.frameType ?? 'extended' });
    this.framer = new WaveshareFramer(opts.framing);
    const log = opts.log;
    this.link = new SupervisedLink(opts.factory, this.framer, {
      id: opts.busId,
      clock,
      name: 'CAN adapter',
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
      ...(log
        ? {
            log: {
              info: (o, m) => log.info({ busId: opts.busId, ...o }, m),
              warn: (o, m) => log.warn({ busId: opts.busId, ...o }, m),
            },
          }
        : {}),
      describe: (f) => `${canIdHex(f)}${f.remote ? ' RTR' : ''} [${hex(f.data)}]`,
      // The adapter does not acknowledge the setting; give it time to apply it (§6.3).
      handshake: async (t, signal) => {
        await t.write(setting);
        await delay(clock, settleMs, signal);
      },
      upDetail: (t) => `${t.description} at ${opts.bitrate} bit/s, ${opts.framing} framing`,
    });
  }

  get state(): LinkState {
    return this.link.state;
  }

  get stats(): CanAdapterStats {
    const s = this.link.stats();
    return {
      ...this.framer.stats,
      reconnects: s.reconnects,
      txFrames: s.txFrames,
      txFailures: s.txFailures,
      lastError: s.lastError,
    };
  }

  start(): void {
    this.link.start();
  }

  stop(): Promise<void> {
    return this.link.stop();
  }

  /** Closes and reopens now, e.g. when the driver's watchdog hears nothing. */
  reconnect(reason: string): void {
    this.link.reconnect(reason);
  }

  send(frame: CanFrame): Promise<SendResult> {
    return this.link.send(frame);
  }

  onFrame(cb: FrameListener<CanFrame>): () => void {
    return this.link.onFrame(cb);
  }

  onTx(cb: FrameListener<CanFrame>): () => void {
    return this.link.onTx(cb);
  }

  onState(cb: StateListener): () => void {
    return this.link.onState(cb);
  }
}
