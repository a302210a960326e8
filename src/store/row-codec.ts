// The compact row encodings of the frames and samples tables (migration 0021). Pure: no I/O.
//
// Frames: the rowid is the time, `id = floor(ts) * FRAME_ID_PER_MS + n` (n counts the frames of
// that millisecond), so a frame needs no ts column and no ts index: time bounds and pruning are
// rowid ranges. Ids always rise (id = max(floor(ts) * FRAME_ID_PER_MS, previous id + 1)); a frame
// whose id does not say its ts (more than FRAME_ID_PER_MS frames in one ms, a clock stepped back, a
// fractional ts) keeps its ts in the `ts` column, so ts = frameTs(id, tsColumn) is always exact,
// and id ≥ floor(ts) * FRAME_ID_PER_MS always holds.
//
// Samples: `v` is one varint with the shape (the ordered reading names, interned in store_keys)
// followed by one varint per reading: zigzag(mantissa) << 3 | tag, where tag 0..4 is a decimal
// with that many digits after the point (53.47 → 5347, tag 2: 3 bytes), 5 a special value
// (mantissa 0 null; 1 a float64 follows; 2 a UTF-8 string follows, its byte length first; 3 JSON
// text follows, for values of other types), 6 an interned text (mantissa = its store_keys id).
// A number that is not a decimal with ≤ 4 digits (or is too large) is kept as float64: lossless.

/** Frame ids per millisecond (2^10: ids stay below 2^53 until the year 2248). */
export const FRAME_ID_PER_MS = 1024;

/** The id of the first frame that can have been recorded at `ts` or later. */
export function frameIdAtOrAfter(ts: number): number {
  return Math.ceil(ts) * FRAME_ID_PER_MS;
}

/** The next frame id after `last` for a frame at `ts`, and the ts column to store (null when the id says it). */
export function nextFrameId(last: number, ts: number): { id: number; tsColumn: number | null } {
  const base = Math.floor(ts) * FRAME_ID_PER_MS;
  const id = base > last ? base : last + 1;
  return { id, tsColumn: Math.floor(id / FRAME_ID_PER_MS) === ts ? null : ts };
}

/** A stored frame's ts from its id and its ts column. */
export function frameTs(id: number, tsColumn: number | null): number {
  return tsColumn ?? Math.floor(id / FRAME_ID_PER_MS);
}

/**
 * The text column: null (none); an integer k when the text is the first k bytes read as Latin-1
 * (PI18 and RAPI lines: the text is the line without its checksum or CR); else the text.
 */
export function encodeFrameText(text: string | null | undefined, bytes: Uint8Array): string | number | null {
  if (text === null || text === undefined) return null;
  if (text.length === 0 || text.length > bytes.length) return text;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) !== bytes[i]) return text;
  return text.length;
}

export function decodeFrameText(col: string | number | null, bytes: Uint8Array): string | null {
  if (col === null) return null;
  if (typeof col === 'number') return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(col, bytes.byteLength)).toString('latin1');
  return col;
}

// ---- sample values ----------------------------------------------------------------------

const TAG_NULL_ETC = 5;
const TAG_TEXT = 6;
const SCALES = [1, 10, 100, 1000, 10000];
/** Mantissas up to 2^48 keep zigzag << 3 below 2^53 (exact in a double). */
const MAX_MANTISSA = 2 ** 48;

/** What the encoder needs of the store's key tables (ids are assigned by the caller). */
export interface KeyInterner {
  /** The id of an ordered list of reading names. */
  shape(keys: readonly string[]): number;
  /** The id of a text value, or null when it is to be kept inline (long or rare text). */
  text(value: string): number | null;
}

export interface KeyLookup {
  shape(id: number): readonly string[];
  text(id: number): string;
}

/** A growable byte buffer for varints (one per store, reused). */
export class ByteWriter {
  private buf = Buffer.allocUnsafe(256);
  private n = 0;

  reset(): void {
    this.n = 0;
  }

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + k));
    this.buf.copy(next, 0, 0, this.n);
    this.buf = next;
  }

  varint(v: number): void {
    this.room(8);
    // v is a non-negative integer < 2^53: 7 bits per byte, high bit = more.
    while (v >= 0x80) {
      this.buf[this.n++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.n++] = v;
  }

  float64(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.n);
    this.n += 8;
  }

  bytes(b: Buffer): void {
    this.room(b.length);
    b.copy(this.buf, this.n);
    this.n += b.length;
  }

  /** A copy of what was written. */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.n));
  }
}

const zigzag = (m: number): number => (m < 0 ? -2 * m - 1 : 2 * m);
const unzigzag = (z: number): number => (z % 2 === 1 ? -(z + 1) / 2 : z / 2);

/** The decimal digits (0..4) that represent `v` exactly, or -1. */
function scaleOf(v: number): number {
  if (Object.is(v, -0)) return 0;
  for (let k = 0; k < SCALES.length; k++) {
    const m = Math.round(v * SCALES[k]!);
    if (Math.abs(m) >= MAX_MANTISSA) return -1;
    if (m / SCALES[k]! === v) return k;
  }
  return -1;
}

/**
 * A sample's values as the compact blob. Keys whose value is undefined are left out and
 * non-finite numbers read back as null, as JSON did before (the values' old encoding).
 */
export function encodeValues(values: Record<string, unknown>, keys: KeyInterner, w: ByteWriter): Buffer {
  const names: string[] = [];
  for (const k in values) if (values[k] !== undefined && typeof values[k] !== 'function') names.push(k);
  w.reset();
  w.varint(keys.shape(names));
  for (const k of names) {
    const v = values[k];
    if (v === null) {
      w.varint(TAG_NULL_ETC);
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) {
        w.varint(TAG_NULL_ETC);
        continue;
      }
      const s = scaleOf(v);
      if (s >= 0) {
        w.varint(zigzag(Math.round(v * SCALES[s]!)) * 8 + s);
      } else {
        w.varint(1 * 8 + TAG_NULL_ETC);
        w.float64(v);
      }
    } else if (typeof v === 'string') {
      const id = keys.text(v);
      if (id !== null) {
        w.varint(id * 8 + TAG_TEXT);
      } else {
        const b = Buffer.from(v, 'utf8');
        w.varint(2 * 8 + TAG_NULL_ETC);
        w.varint(b.length);
        w.bytes(b);
      }
    } else {
      const json = JSON.stringify(v);
      if (json === undefined) {
        w.varint(TAG_NULL_ETC);
        continue;
      }
      const b = Buffer.from(json, 'utf8');
      w.varint(3 * 8 + TAG_NULL_ETC);
      w.varint(b.length);
      w.bytes(b);
    }
  }
  return w.take();
}

/** A stored `v` back as values: a compact blob, or the JSON text of a row not yet converted. */
export function decodeValues(v: Uint8Array | string, keys: KeyLookup): Record<string, number | string | null> {
  if (typeof v === 'string') return JSON.parse(v) as Record<string, number | string | null>;
  let p = 0;
  const varint = (): number => {
    let x = 0;
    let mul = 1;
    for (;;) {
      const b = v[p++]!;
      x += (b & 0x7f) * mul;
      if (b < 0x80) return x;
      mul *= 0x80;
    }
  };
  const names = keys.shape(varint());
  const out: Record<string, number | string | null> = {};
  for (const k of names) {
    const x = varint();
    const tag = x % 8;
    const m = Math.floor(x / 8);
    if (tag <= 4) {
      out[k] = unzigzag(m) / SCALES[tag]!;
    } else if (tag === TAG_TEXT) {
      out[k] = keys.text(m);
    } else if (m === 0) {
      out[k] = null;
    } else if (m === 1) {
      out[k] = Buffer.from(v.buffer, v.byteOffset + p, 8).readDoubleLE(0);
      p += 8;
    } else {
      const len = varint();
      const s = Buffer.from(v.buffer, v.byteOffset + p, len).toString('utf8');
      p += len;
      out[k] = m === 2 ? s : (JSON.parse(s) as number | string | null);
    }
  }
  return out;
}
