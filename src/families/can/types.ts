import type { Link } from '../../link/types.js';
import type { FrameRecord } from '../contract.js';

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
  return '0x' + canAddress(frame);
}

/** A CAN id as a frame record's address: upper-case hex, 8 digits when extended, 3 when standard ('05014004', '351'). */
export function canAddress(frame: Pick<CanFrame, 'id' | 'extended'>): string {
  // A bus carries a handful of ids: one string per id, not one per frame (every recorded frame
  // holds its address until the store's next flush). Bounded, for a bus full of random ids.
  const cache = frame.extended ? extAddresses : stdAddresses;
  let a = cache.get(frame.id);
  if (a === undefined) {
    if (cache.size >= ADDRESS_CACHE_MAX) cache.clear();
    a = frame.id.toString(16).toUpperCase().padStart(frame.extended ? 8 : 3, '0');
    cache.set(frame.id, a);
  }
  return a;
}
const ADDRESS_CACHE_MAX = 4096;
const extAddresses = new Map<number, string>();
const stdAddresses = new Map<number, string>();

/** The CAN flags as a frame record's meta: four shared constants, so the store serialises each once. */
const CAN_META = [
  [Object.freeze({ extended: false, remote: false }), Object.freeze({ extended: false, remote: true })],
  [Object.freeze({ extended: true, remote: false }), Object.freeze({ extended: true, remote: true })],
] as const;

/** A CAN frame as the store records it (protocol 'can'; the bytes are the data field, kept by reference). */
export function canFrameRecord(frame: CanFrame, dir: 'rx' | 'tx', kind: string, deviceId: string | null, text: string | null = null): FrameRecord {
  return {
    protocol: 'can',
    dir,
    address: canAddress(frame),
    bytes: frame.data,
    text,
    kind,
    deviceId,
    meta: CAN_META[frame.extended ? 1 : 0][frame.remote ? 1 : 0] as Record<string, unknown>,
  };
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
