/**
 * MK2 byte framing (vebus-mk2.md §2): `LEN TYPE … CHECKSUM`. Resync rule (§2, the simulation
 * reference §1): a frame start is a position whose byte[1] is a known TYPE and whose LEN fits;
 * a candidate whose checksum fails, or a position that cannot start a frame, loses ONE byte
 * (counted in `corruptBytes`) and the scan goes on. A partial frame waits for the next chunk.
 * Unsolicited `V` frames are ordinary frames here: they are recognised wherever they start.
 *
 * Used both ways: the driver's link frames what the MK sends, the simulator what the host sends
 * (`hostOnly` then refuses frames with LEN bit 7, which a host never sends: sim reference §1).
 */
import type { Framer } from '../../link/types.js';
import { decodeFrame, encodeFrame, KNOWN_TYPES, MAX_LEN, TYPE_MK, type Mk2Frame } from './codec.js';

/** Letters of MK commands and replies (vebus-mk2.md §3). */
const MK_LETTERS: ReadonlySet<number> = new Set([...'VASRLFDHWXYZN'].map((c) => c.charCodeAt(0)));

export interface Mk2FramerOptions {
  /** Accept only TYPE 0xFF frames without LED bytes (the simulator's side of the link). */
  hostOnly?: boolean;
  /** Longest LEN & 0x7F accepted; default 20 (VELIB's buffer, §2). */
  maxLen?: number;
}

export class Mk2Framer implements Framer<Mk2Frame> {
  private buf: Uint8Array = new Uint8Array(0);
  private dropped = 0;
  private readonly maxLen: number;

  constructor(private readonly opts: Mk2FramerOptions = {}) {
    this.maxLen = opts.maxLen ?? MAX_LEN;
  }

  get corruptBytes(): number {
    return this.dropped;
  }

  /** Bytes held while waiting for the rest of a frame. */
  get pending(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = new Uint8Array(0);
  }

  encode(frame: Mk2Frame): Uint8Array {
    return encodeFrame(frame);
  }

  private plausibleStart(i: number): boolean {
    const b = this.buf;
    const lenByte = b[i]!;
    const len = lenByte & 0x7f;
    if (len < 1 || len > this.maxLen) return false;
    if (i + 1 >= b.length) return true; // cannot tell yet
    const type = b[i + 1]!;
    if (!KNOWN_TYPES.has(type)) return false;
    if (type === TYPE_MK && len < 2) return false;
    if (this.opts.hostOnly && (type !== TYPE_MK || (lenByte & 0x80) !== 0)) return false;
    if ((lenByte & 0x80) !== 0 && len < 3) return false;
    return true;
  }

  /**
   * Start of a whole MK frame (TYPE 0xFF and a known letter, e.g. an unsolicited V) ending
   * exactly at the end of the buffer, or −1. Only MK frames: inside a long info frame still
   * arriving, a few bytes that happen to form a valid 0x20 frame must not cut it short.
   */
  private completeFrameAtEnd(from: number): number {
    for (let j = from; j < this.buf.length - 2; j++) {
      if (this.buf[j + 1] !== TYPE_MK || !MK_LETTERS.has(this.buf[j + 2]!)) continue;
      if (!this.plausibleStart(j)) continue;
      const total = (this.buf[j]! & 0x7f) + 2;
      if (j + total !== this.buf.length) continue;
      if (decodeFrame(this.buf.subarray(j, j + total))) return j;
    }
    return -1;
  }

  push(chunk: Uint8Array): Mk2Frame[] {
    const merged = new Uint8Array(this.buf.length + chunk.length);
    merged.set(this.buf, 0);
    merged.set(chunk, this.buf.length);
    this.buf = merged;
    const out: Mk2Frame[] = [];
    let i = 0;
    while (i < this.buf.length) {
      if (!this.plausibleStart(i)) {
        i++;
        this.dropped++;
        continue;
      }
      const total = (this.buf[i]! & 0x7f) + 2;
      if (i + total > this.buf.length) {
        // Wait for the rest — unless a whole valid frame ends exactly at the end of what we
        // have: then the bytes before it were noise that only looked like a long frame start,
        // and holding that frame hostage until more bytes come would stall a reply.
        const j = this.completeFrameAtEnd(i + 1);
        if (j < 0) break;
        this.dropped += j - i;
        i = j;
        continue;
      }
      const f = decodeFrame(this.buf.subarray(i, i + total));
      if (!f) {
        i++;
        this.dropped++;
        continue;
      }
      out.push(f);
      i += total;
    }
    this.buf = this.buf.slice(i);
    return out;
  }
}
