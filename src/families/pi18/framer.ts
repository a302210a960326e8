/**
 * PI18 framing (pi18.md §3.3), the same on USB-HID and on serial:
 *
 * 1. Drop everything before a frame start (`^`, or `(` for a PI30-style `(NAK`).
 * 2. Read up to the first CR (a CRC byte equal to CR is bumped, so the first CR ends the frame,
 *    §3.2) and check the candidate (`parseLine`: CRC with the 0x00/0x01 ambiguity, a three-digit
 *    length field; a length that disagrees with the content is only flagged, §1.2).
 * 3. A candidate that fails is skipped up to the next frame start inside it, not as a whole: the
 *    tail of an abandoned exchange (stale HID reports, §3.2) followed by a good reply gives one
 *    candidate "stale…^D…good…CR", and the good reply must survive.
 *
 * Every dropped byte counts in `corruptBytes`, except 0x00 (HID report padding, §3.2), which is
 * counted apart in `paddingBytes`. Pure apart from its buffer; never throws on bad bytes.
 */
import type { Framer } from '../../link/types.js';
import { buildFrame, CARET, CR, PAREN, parseLine, type CrcVariant, type Pi18Frame } from './codec.js';

export interface Pi18Reject {
  /** The bytes given up (a failed candidate up to the next start, or noise before a start). */
  bytes: Uint8Array;
  reason: string;
}

export interface Pi18FramerOptions {
  /** CRC variant for frames this side sends (pi18.md §2). Default 'bump-nul'. */
  crcVariant?: CrcVariant;
  /** Called for every failed candidate (not for noise before a start): the driver records it. */
  onReject?: (reject: Pi18Reject) => void;
  /** A candidate with no CR after this many bytes is given up (a GS reply is 111 bytes). Default 512. */
  maxFrameBytes?: number;
}

export class Pi18Framer implements Framer<Pi18Frame> {
  private buf = new Uint8Array(0);
  private corrupt = 0;
  private padding = 0;
  private rejects = 0;
  private readonly maxFrame: number;
  private readonly rejectListeners = new Set<(r: Pi18Reject) => void>();

  constructor(private readonly opts: Pi18FramerOptions = {}) {
    this.maxFrame = opts.maxFrameBytes ?? 512;
    if (opts.onReject) this.rejectListeners.add(opts.onReject);
  }

  /** Subscribes to failed candidates (a driver records them as invalid frames); returns an unsubscribe. */
  onReject(listener: (r: Pi18Reject) => void): () => void {
    this.rejectListeners.add(listener);
    return () => this.rejectListeners.delete(listener);
  }

  get corruptBytes(): number {
    return this.corrupt;
  }

  /** 0x00 bytes dropped outside frames (HID padding); not corruption. */
  get paddingBytes(): number {
    return this.padding;
  }

  /** Candidates that failed their check. */
  get rejectedFrames(): number {
    return this.rejects;
  }

  encode(frame: Pi18Frame): Uint8Array {
    return buildFrame(frame, this.opts.crcVariant ?? 'bump-nul');
  }

  reset(): void {
    this.buf = new Uint8Array(0);
  }

  /**
   * Drops a partial frame before a new exchange (pi18.md §3.2 mitigation 1: drain stale bytes
   * before every send) and counts it as corrupt; returns the bytes dropped. Whole stale frames
   * have already come out of `push` (the request queue discards them as late or unsolicited).
   */
  drain(): number {
    const n = this.buf.length;
    if (n) this.drop(n);
    return n;
  }

  push(chunk: Uint8Array): Pi18Frame[] {
    if (chunk.length) {
      const next = new Uint8Array(this.buf.length + chunk.length);
      next.set(this.buf);
      next.set(chunk, this.buf.length);
      this.buf = next;
    }
    const out: Pi18Frame[] = [];
    for (;;) {
      const start = this.findStart(0);
      if (start < 0) {
        this.drop(this.buf.length);
        break;
      }
      if (start > 0) this.drop(start);
      const cr = this.buf.indexOf(CR, 1);
      if (cr < 0) {
        if (this.buf.length > this.maxFrame) this.skipCandidate(this.buf.length, `no CR within ${this.maxFrame} bytes`);
        else break;
        continue;
      }
      const candidate = this.buf.subarray(0, cr + 1);
      const parsed = parseLine(candidate);
      if (parsed.ok) {
        out.push(parsed.frame);
        this.buf = this.buf.slice(cr + 1);
      } else {
        this.skipCandidate(cr + 1, parsed.reason);
      }
    }
    return out;
  }

  private findStart(from: number): number {
    for (let i = from; i < this.buf.length; i++) {
      const b = this.buf[i];
      if (b === CARET || b === PAREN) return i;
    }
    return -1;
  }

  /** Gives up the candidate at 0 up to the next frame start inside its first `len` bytes (or all of them). */
  private skipCandidate(len: number, reason: string): void {
    let next = this.findStart(1);
    if (next < 0 || next > len) next = len;
    this.rejects++;
    const bytes = this.buf.slice(0, next);
    this.drop(next);
    for (const l of this.rejectListeners) {
      try {
        l({ bytes, reason });
      } catch {
        // A listener's bug must not break framing.
      }
    }
  }

  private drop(n: number): void {
    for (let i = 0; i < n; i++) {
      if (this.buf[i] === 0x00) this.padding++;
      else this.corrupt++;
    }
    this.buf = this.buf.slice(n);
  }
}
