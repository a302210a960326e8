/**
 * Waveshare USB-CAN-A serial link codec (flatpack2.md §6): CAN frames ⇄ the adapter's
 * variable-length `AA … 55` framing and fixed 20-byte `AA 55 … checksum` framing.
 * Pure: no I/O, no timers; bad bytes are counted and skipped, never thrown.
 */
import type { Framer } from '../../link/types.js';
import type { CanFrame } from './types.js';

export type WaveshareFraming = 'variable' | 'fixed';

/** Bit rate (bit/s) → setting-command code (flatpack2.md §6.3 byte 3). */
export const WAVESHARE_BITRATE_CODES: ReadonlyMap<number, number> = new Map([
  [1_000_000, 0x01],
  [800_000, 0x02],
  [500_000, 0x03],
  [400_000, 0x04],
  [250_000, 0x05],
  [200_000, 0x06],
  [125_000, 0x07],
  [100_000, 0x08],
  [50_000, 0x09],
  [20_000, 0x0a],
  [10_000, 0x0b],
  [5_000, 0x0c],
]);

const HEAD = 0xaa;
const TAIL = 0x55;
const FIXED_LEN = 20;
const FIXED_TYPE_DATA = 0x01;
const SETTING_VARIABLE = 0x12;
const SETTING_FIXED = 0x02;
const MAX_EXT_ID = 0x1fffffff;
const MAX_STD_ID = 0x7ff;

export interface WaveshareEncodeOptions {
  /**
   * Variable framing only: append DLC filler bytes after the ID of a remote frame, as the
   * adapter itself does towards the host (WS-RS). The host → adapter direction sends none.
   */
  remoteDlcBytes?: boolean;
}

/**
 * Why a frame cannot be encoded, or null. Remote frames carry their DLC as `data.length`
 * (the bytes themselves are ignored), which is how the decoder yields them too.
 */
export function canFrameProblem(frame: CanFrame): string | null {
  const maxId = frame.extended ? MAX_EXT_ID : MAX_STD_ID;
  if (!Number.isInteger(frame.id) || frame.id < 0 || frame.id > maxId) {
    return `CAN id ${frame.id} out of range for a ${frame.extended ? '29' : '11'}-bit identifier`;
  }
  if (frame.data.length > 8) return `CAN frame has ${frame.data.length} data bytes (max 8)`;
  return null;
}

function assertEncodable(frame: CanFrame): void {
  const problem = canFrameProblem(frame);
  if (problem) throw new RangeError(problem);
}

/**
 * Variable-length frame (§6.1): `AA TT id(2|4 LE) data 55`. Throws RangeError for a frame
 * that no adapter could send (id out of range, > 8 bytes); that is a caller bug, not bad input.
 */
export function encodeVariable(frame: CanFrame, opts: WaveshareEncodeOptions = {}): Uint8Array {
  assertEncodable(frame);
  const dlc = frame.data.length;
  const idLen = frame.extended ? 4 : 2;
  const dataLen = frame.remote ? (opts.remoteDlcBytes ? dlc : 0) : dlc;
  const out = new Uint8Array(2 + idLen + dataLen + 1);
  out[0] = HEAD;
  out[1] = 0xc0 | (frame.extended ? 0x20 : 0) | (frame.remote ? 0x10 : 0) | dlc;
  const id = frame.id;
  out[2] = id & 0xff;
  out[3] = (id >>> 8) & 0xff;
  if (frame.extended) {
    out[4] = (id >>> 16) & 0xff;
    out[5] = (id >>> 24) & 0xff;
  }
  // Remote filler bytes stay zero: the adapter's are meaningless.
  if (!frame.remote) out.set(frame.data, 2 + idLen);
  out[out.length - 1] = TAIL;
  return out;
}

/** Fixed 20-byte frame (§6.2). Throws RangeError like `encodeVariable`. */
export function encodeFixed(frame: CanFrame): Uint8Array {
  assertEncodable(frame);
  const out = new Uint8Array(FIXED_LEN);
  out[0] = HEAD;
  out[1] = TAIL;
  out[2] = FIXED_TYPE_DATA;
  out[3] = frame.extended ? 0x02 : 0x01;
  out[4] = frame.remote ? 0x02 : 0x01;
  const id = frame.id;
  out[5] = id & 0xff;
  out[6] = (id >>> 8) & 0xff;
  out[7] = (id >>> 16) & 0xff;
  out[8] = (id >>> 24) & 0xff;
  out[9] = frame.data.length;
  if (!frame.remote) out.set(frame.data, 10);
  out[19] = checksum(out, 0);
  return out;
}

export function encodeFrame(
  frame: CanFrame,
  framing: WaveshareFraming,
  opts: WaveshareEncodeOptions = {},
): Uint8Array {
  return framing === 'fixed' ? encodeFixed(frame) : encodeVariable(frame, opts);
}

/** Sum of bytes 2..18 of the 20-byte frame starting at `p` (§6.2). */
function checksum(src: Uint8Array, p: number): number {
  let sum = 0;
  for (let i = p + 2; i < p + 19; i++) sum += src[i]!;
  return sum & 0xff;
}

export interface WaveshareSetting {
  framing: WaveshareFraming;
  bitrate: number;
  frameType: 'standard' | 'extended';
}

/**
 * The 20-byte setting command (§6.3) exactly as MTI sends it: no filter, mask 0 (accept all),
 * normal mode, retransmission byte 01. Throws RangeError for a bit rate the adapter lacks, so
 * config validation can call it early; the data path only calls it with validated values.
 */
export function settingFrame(opts: {
  framing: WaveshareFraming;
  bitrate: number;
  frameType?: 'standard' | 'extended';
}): Uint8Array {
  const code = WAVESHARE_BITRATE_CODES.get(opts.bitrate);
  if (code === undefined) {
    const allowed = [...WAVESHARE_BITRATE_CODES.keys()].join(', ');
    throw new RangeError(
      `Waveshare USB-CAN-A cannot run CAN at ${opts.bitrate} bit/s; allowed bit rates: ${allowed}`,
    );
  }
  const out = new Uint8Array(FIXED_LEN);
  out[0] = HEAD;
  out[1] = TAIL;
  out[2] = opts.framing === 'fixed' ? SETTING_FIXED : SETTING_VARIABLE;
  out[3] = code;
  out[4] = (opts.frameType ?? 'extended') === 'extended' ? 0x02 : 0x01;
  out[14] = 0x01;
  out[19] = checksum(out, 0);
  return out;
}

/** Reads a setting command (the adapter simulator's view); null if it is not a valid one. */
export function parseSettingFrame(bytes: Uint8Array): WaveshareSetting | null {
  if (bytes.length < FIXED_LEN || bytes[0] !== HEAD || bytes[1] !== TAIL) return null;
  if (bytes[19] !== checksum(bytes, 0)) return null;
  const type = bytes[2];
  if (type !== SETTING_VARIABLE && type !== SETTING_FIXED) return null;
  let bitrate: number | undefined;
  for (const [rate, code] of WAVESHARE_BITRATE_CODES) if (code === bytes[3]) bitrate = rate;
  if (bitrate === undefined) return null;
  const ft = bytes[4];
  if (ft !== 0x01 && ft !== 0x02) return null;
  return {
    framing: type === SETTING_FIXED ? 'fixed' : 'variable',
    bitrate,
    frameType: ft === 0x02 ? 'extended' : 'standard',
  };
}

export interface WaveshareDecoderStats {
  /** CAN frames yielded. */
  frames: number;
  /** Valid 20-byte frames that are not CAN data (status replies, config echoes, settings). */
  adapterMessages: number;
  /** Bytes discarded while resynchronising, or in frames that could not be used. */
  droppedBytes: number;
  /** 20-byte candidates whose checksum failed (one byte dropped each). */
  badChecksum: number;
  /** Variable-length candidates without the `55` terminator (one byte dropped each). */
  badTerminator: number;
  /** Candidates with an impossible type byte or identifier. */
  badType: number;
}

export interface WaveshareDecoderOptions {
  /**
   * Variable framing: remote frames carry DLC filler bytes after the ID. True (default) for
   * the adapter → host direction (WS-RS); false for host → adapter (the adapter simulator).
   */
  remoteDlcBytes?: boolean;
  /** Receives a copy of every valid non-CAN 20-byte frame (e.g. a setting command). */
  onAdapterMessage?: (bytes: Uint8Array) => void;
}

/**
 * Streaming decoder for both framings on one byte stream, chosen per frame by the byte
 * after `AA`, with the resync rules of §6.4: a failed candidate costs exactly one byte, a
 * partial frame waits for more bytes.
 */
/** Room for any partial frame (≤ 19 bytes of a 20-byte frame) with slack; the buffer returns to this size after a big chunk. */
const PENDING_CAPACITY = 64;

export class WaveshareDecoder {
  readonly stats: WaveshareDecoderStats = {
    frames: 0,
    adapterMessages: 0,
    droppedBytes: 0,
    badChecksum: 0,
    badTerminator: 0,
    badType: 0,
  };

  private readonly remoteDlcBytes: boolean;
  private readonly onAdapterMessage: ((bytes: Uint8Array) => void) | undefined;
  /** Unconsumed tail of earlier chunks; at most one partial frame in normal operation. */
  private pending: Uint8Array = new Uint8Array(PENDING_CAPACITY);
  private pendingLen = 0;

  constructor(opts: WaveshareDecoderOptions = {}) {
    this.remoteDlcBytes = opts.remoteDlcBytes ?? true;
    this.onAdapterMessage = opts.onAdapterMessage;
  }

  /** Decodes what `chunk` completes; frames are appended to `out` (also returned). */
  push(chunk: Uint8Array, out: CanFrame[] = []): CanFrame[] {
    if (this.pendingLen === 0) {
      // Common case: parse straight from the caller's chunk, keep only a partial tail.
      const used = this.parse(chunk, chunk.length, out);
      this.keep(chunk, used, chunk.length);
      return out;
    }
    const total = this.pendingLen + chunk.length;
    if (total > this.pending.length) {
      const grown = new Uint8Array(Math.max(total, this.pending.length * 2));
      grown.set(this.pending.subarray(0, this.pendingLen));
      this.pending = grown;
    }
    this.pending.set(chunk, this.pendingLen);
    const used = this.parse(this.pending, total, out);
    this.pendingLen = total - used;
    if (this.pending.length > PENDING_CAPACITY && this.pendingLen <= PENDING_CAPACITY) {
      // A big read that joined a partial frame grew the buffer; what is left is at most one
      // partial frame again, so give the big buffer back instead of holding it forever.
      const small = new Uint8Array(PENDING_CAPACITY);
      small.set(this.pending.subarray(used, total));
      this.pending = small;
    } else if (used > 0) {
      this.pending.copyWithin(0, used, total);
    }
    return out;
  }

  /** Bytes of buffer the decoder holds between pushes (its partial-frame store). */
  get bufferCapacity(): number {
    return this.pending.length;
  }

  /** Forgets any partial frame (e.g. on reconnect). Stats are cumulative and kept. */
  reset(): void {
    this.pendingLen = 0;
    if (this.pending.length > PENDING_CAPACITY) this.pending = new Uint8Array(PENDING_CAPACITY);
  }

  private keep(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (n === 0) return;
    if (n > this.pending.length) this.pending = new Uint8Array(Math.max(n, this.pending.length * 2));
    this.pending.set(src.subarray(from, to));
    this.pendingLen = n;
  }

  /** Decodes frames from src[0..end); returns how many bytes are consumed (the rest wait). */
  private parse(src: Uint8Array, end: number, out: CanFrame[]): number {
    const stats = this.stats;
    let p = 0;
    while (p < end) {
      // Rule 1: drop everything before the next AA.
      if (src[p] !== HEAD) {
        let next = src.indexOf(HEAD, p);
        if (next < 0 || next >= end) next = end;
        stats.droppedBytes += next - p;
        p = next;
        if (p >= end) break;
      }
      if (end - p < 2) break;
      const t = src[p + 1]!;

      if (t === TAIL) {
        // Rule 2: fixed 20-byte frame.
        if (end - p < FIXED_LEN) break;
        if (checksum(src, p) !== src[p + 19]) {
          stats.badChecksum++;
          stats.droppedBytes++;
          p++;
          continue;
        }
        if (src[p + 2] !== FIXED_TYPE_DATA) {
          stats.adapterMessages++;
          this.onAdapterMessage?.(copy(src, p, FIXED_LEN));
          p += FIXED_LEN;
          continue;
        }
        const fmt = src[p + 3];
        const kind = src[p + 4];
        const dlc = src[p + 9]!;
        const id = (src[p + 5]! | (src[p + 6]! << 8) | (src[p + 7]! << 16) | (src[p + 8]! << 24)) >>> 0;
        const extended = fmt === 0x02;
        if (
          (fmt !== 0x01 && fmt !== 0x02) ||
          (kind !== 0x01 && kind !== 0x02) ||
          dlc > 8 ||
          id > (extended ? MAX_EXT_ID : MAX_STD_ID)
        ) {
          // The checksum held, so the framing is right and the content is not CAN.
          stats.badType++;
          stats.droppedBytes += FIXED_LEN;
          p += FIXED_LEN;
          continue;
        }
        const remote = kind === 0x02;
        out.push({ id, extended, remote, data: remote ? zeros(dlc) : copy(src, p + 10, dlc) });
        stats.frames++;
        p += FIXED_LEN;
        continue;
      }

      if ((t & 0xc0) === 0xc0 && (t & 0x0f) <= 8) {
        // Rule 3: variable-length frame.
        const extended = (t & 0x20) !== 0;
        const remote = (t & 0x10) !== 0;
        const dlc = t & 0x0f;
        const idLen = extended ? 4 : 2;
        const n = 2 + idLen + (remote && !this.remoteDlcBytes ? 0 : dlc) + 1;
        if (end - p < n) break;
        if (src[p + n - 1] !== TAIL) {
          stats.badTerminator++;
          stats.droppedBytes++;
          p++;
          continue;
        }
        let id: number;
        if (extended) {
          id = (src[p + 2]! | (src[p + 3]! << 8) | (src[p + 4]! << 16) | (src[p + 5]! << 24)) >>> 0;
        } else {
          id = src[p + 2]! | (src[p + 3]! << 8);
        }
        if (id > (extended ? MAX_EXT_ID : MAX_STD_ID)) {
          // No checksum here, so an impossible ID means we are not on a frame boundary.
          stats.badType++;
          stats.droppedBytes++;
          p++;
          continue;
        }
        out.push({ id, extended, remote, data: remote ? zeros(dlc) : copy(src, p + 2 + idLen, dlc) });
        stats.frames++;
        p += n;
        continue;
      }

      // Rule 4: not a type byte.
      stats.badType++;
      stats.droppedBytes++;
      p++;
    }
    return p;
  }
}

/**
 * Each yielded frame owns its data. Not slice(): on a Buffer (serialport's pooled reads) that
 * is a view. A byte loop is also faster than a native call for 0..8 bytes.
 */
function copy(src: Uint8Array, from: number, len: number): Uint8Array {
  const d = new Uint8Array(len);
  for (let i = 0; i < len; i++) d[i] = src[from + i]!;
  return d;
}

/** A remote frame's data: DLC zero bytes (the request length survives, filler does not). */
function zeros(len: number): Uint8Array {
  return new Uint8Array(len);
}

/**
 * The Waveshare framing as a `Framer<CanFrame>` for the generic link supervisor
 * (src/link/supervisor.ts). `corruptBytes` is the decoder's `droppedBytes`; the decoder's
 * detailed counters (badChecksum, badTerminator, badType…) stay available as `stats`.
 */
export class WaveshareFramer implements Framer<CanFrame> {
  private readonly decoder: WaveshareDecoder;

  constructor(
    readonly framing: WaveshareFraming,
    opts: WaveshareDecoderOptions = {},
  ) {
    this.decoder = new WaveshareDecoder(opts);
  }

  push(chunk: Uint8Array): CanFrame[] {
    return this.decoder.push(chunk, []);
  }

  reset(): void {
    this.decoder.reset();
  }

  get corruptBytes(): number {
    return this.decoder.stats.droppedBytes;
  }

  /** The decoder's detailed counters (live object). */
  get stats(): Readonly<WaveshareDecoderStats> {
    return this.decoder.stats;
  }

  /** Throws RangeError for a frame no adapter could send (see `canFrameProblem`). */
  encode(frame: CanFrame): Uint8Array {
    return encodeFrame(frame, this.framing);
  }
}
