/**
 * RAPI byte framing (openevse-rapi.md §1–§3): a frame is `$` … CR. Pure apart from its buffer.
 *
 * - Bytes before a `$` are not RAPI (boot debug text `relayCloseMs: …`, §1, §12.7; the LF the
 *   board adds after CR in echo mode, §3): dropped; CR and LF are not counted, other bytes are
 *   (`corruptBytes`, and `noiseBytes` on their own).
 * - A `$` inside an open frame restarts it (§2); the partial frame counts as corrupt.
 * - A line longer than `maxLine` without CR is dropped, and the framer waits for the next `$`.
 * - A frame whose checksum fails is still returned, with `checksumOk: false`, so the driver can
 *   count it and retry the query it answered at once (issue 13 "bad input"); its bytes count
 *   as corrupt here too.
 * - `encode` throws for a command longer than 31 characters: the board would drop it without
 *   a word (§2, §12.2), so it is a caller's bug to build one (check.ts refuses long LCD text).
 */
import type { Framer } from '../../link/types.js';
import { commandTooLong, parseLine, type RapiFrame } from './codec.js';

const DOLLAR = 0x24;
const CR = 0x0d;
const LF = 0x0a;

export interface RapiFramerOptions {
  /** Longest line accepted from the board (its longest reply, `GL`, is ~45 characters). Default 160. */
  maxLine?: number;
}

export class RapiFramer implements Framer<RapiFrame> {
  private buf: number[] | null = null;
  private corrupt = 0;
  private noise = 0;
  private badChecksum = 0;
  private readonly maxLine: number;

  constructor(opts: RapiFramerOptions = {}) {
    this.maxLine = opts.maxLine ?? 160;
  }

  get corruptBytes(): number {
    return this.corrupt;
  }

  /** Bytes outside any `$`…CR frame (boot text, stray bytes), CR/LF not counted. */
  get noiseBytes(): number {
    return this.noise;
  }

  /** Frames whose checksum did not match. */
  get badChecksumFrames(): number {
    return this.badChecksum;
  }

  push(chunk: Uint8Array): RapiFrame[] {
    const out: RapiFrame[] = [];
    for (const b of chunk) {
      if (b === DOLLAR) {
        if (this.buf) this.corrupt += this.buf.length;
        this.buf = [b];
        continue;
      }
      if (!this.buf) {
        if (b !== CR && b !== LF) {
          this.corrupt++;
          this.noise++;
        }
        continue;
      }
      if (b === CR) {
        const line = String.fromCharCode(...this.buf);
        this.buf = null;
        const f = parseLine(line);
        if (!f.checksumOk) {
          this.badChecksum++;
          this.corrupt += line.length + 1;
        }
        out.push(f);
        continue;
      }
      if (b === LF) continue;
      this.buf.push(b);
      if (this.buf.length > this.maxLine) {
        this.corrupt += this.buf.length;
        this.buf = null;
      }
    }
    return out;
  }

  reset(): void {
    this.buf = null;
  }

  encode(frame: RapiFrame): Uint8Array {
    if (frame.kind === 'command') {
      const why = commandTooLong(frame);
      if (why) throw new RangeError(why);
    }
    return Buffer.from(frame.line + '\r', 'latin1');
  }
}
