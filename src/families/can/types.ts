import type { Link } from '../../link/types.js';

/** A classic CAN 2.0 frame as the link codecs yield it, whatever the adapter's framing. */
export interface CanFrame {
  /** 11-bit (standard) or 29-bit (extended) identifier. */
  id: number;
  extended: boolean;
  remote: boolean;
  /** 0..8 bytes. */
  data: Uint8Array;
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(' ');
}

export function canIdHex(frame: Pick<CanFrame, 'id' | 'extended'>): string {
  return '0x' + frame.id.toString(16).toUpperCase().padStart(frame.extended ? 8 : 3, '0');
}

/**
 * What a driver on the CAN carrier needs of its link (CanAdapterLink satisfies it): the generic
 * `Link<CanFrame>`, whose id the config calls a bus id.
 */
export interface CanLink extends Link<CanFrame> {
  readonly busId: string;
  /** Counters (decoder errors, reconnects, tx) for the API and the corrupt-input report. */
  readonly stats?: object;
}

/** A CAN link's counters as plain values (empty for a link that keeps none). */
export function adapterStats(link: CanLink): Record<string, number | string | null> {
  return { ...((link.stats ?? {}) as Record<string, number | string | null>) };
}
