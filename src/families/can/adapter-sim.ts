/**
 * The device side of a Waveshare USB-CAN-A: bytes from the host ⇄ frames on a CanBusSim.
 * Like the real adapter it stores the last setting command (framing + bit rate) across host
 * reconnects, accepts data frames in either framing, answers nothing to the setting command
 * (flatpack2.md §6.3), and at the wrong bit rate passes no traffic at all.
 */
import type { Transport } from '../../link/transports/types.js';
import type { CanBusNode, CanBusSim } from './bus-sim.js';
import type { CanFrame } from './types.js';
import {
  encodeFrame,
  parseSettingFrame,
  WaveshareDecoder,
  type WaveshareDecoderStats,
  type WaveshareFraming,
} from './waveshare.js';

export interface WaveshareAdapterSimStats {
  /** Setting commands received from the host. */
  settings: number;
  /** Data frames from the host put on the bus. */
  hostToBus: number;
  /** Bus frames written to the host. */
  busToHost: number;
  /** Frames not passed because the configured bit rate differs from the bus's. */
  blockedWrongBitrate: number;
  /** Writes to the host that failed (host side not open, unplugged). */
  hostWriteErrors: number;
  /** What the adapter's own decoder saw from the host. */
  decoder: WaveshareDecoderStats;
}

export class WaveshareAdapterSim {
  private readonly transport: Transport;
  private readonly bus: CanBusSim;
  private readonly initialFraming: WaveshareFraming;
  private readonly decoder: WaveshareDecoder;
  private setting: { framing: WaveshareFraming; bitrate: number } | null = null;
  private node: CanBusNode | null = null;
  private unsubscribe: (() => void) | null = null;
  private readonly rx: CanFrame[] = [];
  readonly stats: WaveshareAdapterSimStats;

  constructor(opts: { transport: Transport; bus: CanBusSim; initialFraming?: WaveshareFraming }) {
    this.transport = opts.transport;
    this.bus = opts.bus;
    this.initialFraming = opts.initialFraming ?? 'variable';
    // The host sends remote frames per the PDF (no filler bytes), unlike the adapter.
    this.decoder = new WaveshareDecoder({
      remoteDlcBytes: false,
      onAdapterMessage: (bytes) => this.onCommand(bytes),
    });
    this.stats = {
      settings: 0,
      hostToBus: 0,
      busToHost: 0,
      blockedWrongBitrate: 0,
      hostWriteErrors: 0,
      decoder: this.decoder.stats,
    };
  }

  /** The last setting command received, or null while still on factory defaults. */
  get config(): { framing: WaveshareFraming; bitrate: number } | null {
    return this.setting;
  }

  get framing(): WaveshareFraming {
    return this.setting?.framing ?? this.initialFraming;
  }

  /** Attaches to the bus and listens to the host. The transport must already be open. */
  start(): void {
    if (this.node) return;
    this.node = this.bus.attach('waveshare-adapter', (frame) => this.fromBus(frame));
    this.unsubscribe = this.transport.onData((chunk) => this.fromHost(chunk));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.node?.detach();
    this.node = null;
    this.decoder.reset();
  }

  /** A real adapter at the wrong bit rate sees only error frames, so it passes nothing. */
  private get bitrateMatches(): boolean {
    return (this.setting?.bitrate ?? this.bus.bitrate) === this.bus.bitrate;
  }

  private onCommand(bytes: Uint8Array): void {
    const setting = parseSettingFrame(bytes);
    if (!setting) return; // status queries etc.: not simulated, the host sees no reply
    this.stats.settings++;
    this.setting = { framing: setting.framing, bitrate: setting.bitrate };
  }

  private fromHost(chunk: Uint8Array): void {
    const frames = this.rx;
    frames.length = 0;
    this.decoder.push(chunk, frames);
    for (const frame of frames) {
      if (!this.bitrateMatches) {
        this.stats.blockedWrongBitrate++;
        continue;
      }
      this.stats.hostToBus++;
      this.node?.send(frame);
    }
  }

  private fromBus(frame: CanFrame): void {
    if (!this.bitrateMatches) {
      this.stats.blockedWrongBitrate++;
      return;
    }
    // Remote frames towards the host carry DLC filler bytes, as the real adapter's do (WS-RS).
    const bytes = encodeFrame(frame, this.framing, { remoteDlcBytes: true });
    this.stats.busToHost++;
    this.transport.write(bytes).catch(() => {
      this.stats.hostWriteErrors++;
    });
  }
}
