import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { CanFrame } from '../../../src/families/can/types.js';
import {
  encodeFixed,
  encodeFrame,
  encodeVariable,
  parseSettingFrame,
  settingFrame,
  WAVESHARE_BITRATE_CODES,
  WaveshareDecoder,
  type WaveshareFraming,
} from '../../../src/families/can/waveshare.js';

const bytes = (s: string) => Uint8Array.from(s.trim().split(/\s+/), (h) => parseInt(h, 16));
const frame = (id: number, extended: boolean, data: string, remote = false): CanFrame => ({
  id,
  extended,
  remote,
  data: data ? bytes(data) : new Uint8Array(0),
});

function decodeAll(stream: Uint8Array, chunkSize = stream.length, d = new WaveshareDecoder()) {
  const out: CanFrame[] = [];
  for (let i = 0; i < stream.length; i += Math.max(1, chunkSize)) d.push(stream.subarray(i, i + chunkSize), out);
  return { frames: out, stats: d.stats };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// Every wire vector of flatpack2.md §6.1 (variable) and §6.2 (fixed).
const VECTORS: { name: string; framing: WaveshareFraming; frame: CanFrame; wire: string }[] = [
  // flatpack2.md §6.1, WS-PDF example 1
  { name: 'std 0x123 DLC 8', framing: 'variable', frame: frame(0x123, false, '11 22 33 44 55 66 77 88'), wire: 'AA C8 23 01 11 22 33 44 55 66 77 88 55' },
  // flatpack2.md §6.1, WS-PDF example 2
  { name: 'std 0x103 DLC 2', framing: 'variable', frame: frame(0x103, false, '11 22'), wire: 'AA C2 03 01 11 22 55' },
  // flatpack2.md §6.1, WS-PDF example 3
  { name: 'ext 0x1234567 DLC 8', framing: 'variable', frame: frame(0x1234567, true, '11 22 33 44 55 66 77 88'), wire: 'AA E8 67 45 23 01 11 22 33 44 55 66 77 88 55' },
  // flatpack2.md §6.1, WS-PDF example 4
  { name: 'ext 0x1033021 DLC 2', framing: 'variable', frame: frame(0x1033021, true, '11 22'), wire: 'AA E2 21 30 03 01 11 22 55' },
  // flatpack2.md §6.1 "Flatpack examples": MTI's default SET
  { name: 'Flatpack SET all', framing: 'variable', frame: frame(0x05ff4004, true, 'C8 00 18 15 18 15 70 17'), wire: 'AA E8 04 40 FF 05 C8 00 18 15 18 15 70 17 55' },
  // flatpack2.md §6.1 "Flatpack examples": login PSU 1
  { name: 'Flatpack login PSU 1', framing: 'variable', frame: frame(0x05004804, true, '13 20 71 18 15 54 00 00'), wire: 'AA E8 04 48 00 05 13 20 71 18 15 54 00 00 55' },
  // flatpack2.md §6.2, WS-PDF / WS-RS example 1
  { name: 'fixed std 0x123', framing: 'fixed', frame: frame(0x123, false, '11 22 33 44 55 66 77 88'), wire: 'AA 55 01 01 01 23 01 00 00 08 11 22 33 44 55 66 77 88 00 93' },
  // flatpack2.md §6.2, WS-PDF / WS-RS example 2
  { name: 'fixed ext 0x12345678', framing: 'fixed', frame: frame(0x12345678, true, '01 02 03 04 05 06 07 08'), wire: 'AA 55 01 02 01 78 56 34 12 08 01 02 03 04 05 06 07 08 00 44' },
];

describe('Waveshare encoders (flatpack2.md §6.1, §6.2)', () => {
  for (const v of VECTORS) {
    it(`encodes ${v.name}`, () => {
      expect(encodeFrame(v.frame, v.framing)).toEqual(bytes(v.wire));
      expect((v.framing === 'fixed' ? encodeFixed : encodeVariable)(v.frame)).toEqual(bytes(v.wire));
    });
  }

  it('rejects frames no adapter could send', () => {
    expect(() => encodeVariable(frame(0x800, false, ''))).toThrow(RangeError);
    expect(() => encodeFixed(frame(0x20000000, true, ''))).toThrow(RangeError);
    expect(() => encodeVariable({ id: 1, extended: true, remote: false, data: new Uint8Array(9) })).toThrow(/9 data bytes/);
  });

  it('encodes remote frames with the DLC and no data, filler bytes only on request', () => {
    const r = { id: 0x123, extended: false, remote: true, data: new Uint8Array(3) };
    // Type byte per §6.1: C0 | remote 0x10 | DLC 3 = D3; no data bytes host → adapter.
    expect(encodeVariable(r)).toEqual(bytes('AA D3 23 01 55'));
    expect(encodeVariable(r, { remoteDlcBytes: true })).toEqual(bytes('AA D3 23 01 00 00 00 55'));
    // §6.2: byte 4 = 02 remote, byte 9 = DLC, data zero; checksum 01+01+02+23+01+03 = 2B.
    expect(encodeFixed(r)).toEqual(bytes('AA 55 01 01 02 23 01 00 00 03 00 00 00 00 00 00 00 00 00 2B'));
  });
});

describe('Waveshare setting command (flatpack2.md §6.3)', () => {
  it('reproduces the exact frame MTI sends (variable, 125 kbit/s, extended)', () => {
    // flatpack2.md §6.3 "Exact frame MTI sends"
    expect(settingFrame({ framing: 'variable', bitrate: 125_000 })).toEqual(
      bytes('AA 55 12 07 02 00 00 00 00 00 00 00 00 00 01 00 00 00 00 1C'),
    );
  });

  it('uses type 02 for the fixed framing and the bit-rate code table', () => {
    // flatpack2.md §6.3 byte 2 = 02 (fixed), byte 3 = 03 (500k), byte 4 = 01 (standard)
    expect(settingFrame({ framing: 'fixed', bitrate: 500_000, frameType: 'standard' })).toEqual(
      bytes('AA 55 02 03 01 00 00 00 00 00 00 00 00 00 01 00 00 00 00 07'),
    );
    expect([...WAVESHARE_BITRATE_CODES.values()]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(WAVESHARE_BITRATE_CODES.get(125_000)).toBe(0x07);
  });

  it('throws a RangeError naming the allowed bit rates', () => {
    expect(() => settingFrame({ framing: 'variable', bitrate: 123_456 })).toThrow(RangeError);
    expect(() => settingFrame({ framing: 'variable', bitrate: 123_456 })).toThrow(/123456.*125000/);
  });

  it('parses every setting it can build, and rejects other frames', () => {
    for (const bitrate of WAVESHARE_BITRATE_CODES.keys()) {
      for (const framing of ['variable', 'fixed'] as const) {
        for (const frameType of ['standard', 'extended'] as const) {
          expect(parseSettingFrame(settingFrame({ framing, bitrate, frameType }))).toEqual({ framing, bitrate, frameType });
        }
      }
    }
    const bad = settingFrame({ framing: 'variable', bitrate: 125_000 });
    bad[19] ^= 1;
    expect(parseSettingFrame(bad)).toBeNull();
    expect(parseSettingFrame(bytes(VECTORS[6]!.wire))).toBeNull(); // a data frame
    expect(parseSettingFrame(bytes('AA 55 12'))).toBeNull();
  });
});

describe('WaveshareDecoder', () => {
  for (const v of VECTORS) {
    it(`decodes ${v.name}, whole and in 1-byte chunks`, () => {
      expect(decodeAll(bytes(v.wire)).frames).toEqual([v.frame]);
      const oneByOne = decodeAll(bytes(v.wire), 1);
      expect(oneByOne.frames).toEqual([v.frame]);
      expect(oneByOne.stats.droppedBytes).toBe(0);
    });
  }

  it('follows the worked resync example of flatpack2.md §6.4', () => {
    // flatpack2.md §6.4 "Worked resync example"
    const stream = bytes(
      '00 FF 55 AA E8 04 40 01 05 1B 00 00 DC 14 F1 00 23 55 AA 12 AA E8 54 15 00 05 1B 13 20 71 18 15 54 00 55',
    );
    const expected = [frame(0x05014004, true, '1B 00 00 DC 14 F1 00 23'), frame(0x05001554, true, '1B 13 20 71 18 15 54 00')];
    for (const chunk of [stream.length, 1, 3, 7]) {
      const { frames, stats } = decodeAll(stream, chunk);
      expect(frames).toEqual(expected);
      // Dropped: "00 FF 55" (3) + "AA 12" (2); the AA of "AA 12" is one bad-type candidate.
      expect(stats).toEqual({ frames: 2, adapterMessages: 0, droppedBytes: 5, badChecksum: 0, badTerminator: 0, badType: 1 });
    }
  });

  it('decodes two frames in one chunk, of both framings on the same stream', () => {
    const stream = concat(bytes(VECTORS[4]!.wire), bytes(VECTORS[7]!.wire), bytes(VECTORS[1]!.wire));
    expect(decodeAll(stream).frames).toEqual([VECTORS[4]!.frame, VECTORS[7]!.frame, VECTORS[1]!.frame]);
  });

  it('skips garbage between frames', () => {
    const stream = concat(bytes('01 02 03'), bytes(VECTORS[4]!.wire), bytes('55 55 00 FE'), bytes(VECTORS[6]!.wire), bytes('AA'));
    const { frames, stats } = decodeAll(stream);
    expect(frames).toEqual([VECTORS[4]!.frame, VECTORS[6]!.frame]);
    expect(stats.droppedBytes).toBe(7);
  });

  it('waits for the rest of a half frame', () => {
    const d = new WaveshareDecoder();
    const wire = bytes(VECTORS[5]!.wire);
    expect(d.push(wire.subarray(0, 9))).toEqual([]);
    expect(d.push(wire.subarray(9))).toEqual([VECTORS[5]!.frame]);
    const fixed = bytes(VECTORS[7]!.wire);
    expect(d.push(fixed.subarray(0, 19))).toEqual([]);
    expect(d.push(fixed.subarray(19))).toEqual([VECTORS[7]!.frame]);
    expect(d.stats.droppedBytes).toBe(0);
  });

  it('defect 9.10: gives back the buffer a big read grew while a frame was partial', () => {
    const d = new WaveshareDecoder();
    const wire = bytes(VECTORS[5]!.wire);
    const baseline = d.bufferCapacity;
    // A partial frame waits; then one 8 MB read completes it, carries many frames and ends
    // in another partial frame (the rest arrives later).
    expect(d.push(wire.subarray(0, 5))).toEqual([]);
    const copies = Math.ceil((8 * 1024 * 1024) / wire.length);
    const big = new Uint8Array(wire.length - 5 + copies * wire.length + 5);
    big.set(wire.subarray(5), 0);
    for (let i = 0; i < copies; i++) big.set(wire, wire.length - 5 + i * wire.length);
    big.set(wire.subarray(0, 5), wire.length - 5 + copies * wire.length);
    const frames = d.push(big);
    expect(frames).toHaveLength(copies + 1);
    expect(frames[copies]).toEqual(VECTORS[5]!.frame);
    // Not 8 MB kept for the rest of the process: back to the small partial-frame store.
    expect(d.bufferCapacity).toBe(baseline);
    expect(d.bufferCapacity).toBeLessThan(1024);
    // …and the partial frame it kept is intact.
    expect(d.push(wire.subarray(5))).toEqual([VECTORS[5]!.frame]);
    expect(d.stats.droppedBytes).toBe(0);
    // reset() also lets a grown buffer go (garbage bigger than the store, then a reset).
    d.push(wire.subarray(0, 5));
    d.push(new Uint8Array(1000).fill(0xaa));
    d.reset();
    expect(d.bufferCapacity).toBe(baseline);
  });

  it('recovers from a truncated frame followed by a good one', () => {
    // A frame cut short (the adapter was reset mid-frame), then flatpack2.md §6.1 login.
    const stream = concat(bytes('AA E8 04 40 FF 05 C8'), bytes(VECTORS[5]!.wire));
    for (const chunk of [stream.length, 1]) {
      const { frames, stats } = decodeAll(stream, chunk);
      expect(frames).toEqual([VECTORS[5]!.frame]);
      expect(stats.badTerminator).toBe(1);
      expect(stats.droppedBytes).toBe(7);
    }
  });

  it('counts a bad checksum, drops one byte and decodes the following frame', () => {
    const bad = bytes(VECTORS[7]!.wire);
    bad[19] = 0x45; // §6.2 vector with checksum 44 altered
    const { frames, stats } = decodeAll(concat(bad, bytes(VECTORS[6]!.wire)), 1);
    expect(frames).toEqual([VECTORS[6]!.frame]);
    expect(stats.badChecksum).toBe(1);
    expect(stats.droppedBytes).toBe(20);
  });

  it('recovers from a truncated 20-byte frame whose 20 bytes swallow good frames', () => {
    // "AA 55 01 01" (cut short), then §6.1 login + §6.1 std 0x103: the fixed candidate's
    // checksum fails (5F ≠ AA) and only its AA may go, or the login frame is lost (§6.4).
    const stream = concat(bytes('AA 55 01 01'), bytes(VECTORS[5]!.wire), bytes(VECTORS[1]!.wire));
    for (const chunk of [stream.length, 1]) {
      const { frames, stats } = decodeAll(stream, chunk);
      expect(frames).toEqual([VECTORS[5]!.frame, VECTORS[1]!.frame]);
      expect(stats).toMatchObject({ badChecksum: 1, droppedBytes: 4 });
    }
  });

  it('counts a bad terminator and decodes the following frame', () => {
    const bad = bytes(VECTORS[2]!.wire);
    bad[bad.length - 1] = 0x56;
    const { frames, stats } = decodeAll(concat(bad, bytes(VECTORS[3]!.wire)));
    expect(frames).toEqual([VECTORS[3]!.frame]);
    expect(stats.badTerminator).toBe(1);
    expect(stats.droppedBytes).toBe(15);
  });

  it('finds a real frame that starts inside a rejected candidate', () => {
    // "AA C2" claims a 7-byte standard frame, but its 7th byte is not 55; the real frame
    // starts at the second AA. Dropping more than one byte would lose it (§6.4).
    const stream = concat(bytes('AA C2'), bytes(VECTORS[1]!.wire));
    expect(decodeAll(stream).frames).toEqual([VECTORS[1]!.frame]);
  });

  it('rejects an impossible extended ID in the variable framing', () => {
    // ID bytes FF FF FF FF exceed 29 bits (§6.1: max FF FF FF 1F).
    const { frames, stats } = decodeAll(concat(bytes('AA E0 FF FF FF FF 55'), bytes(VECTORS[3]!.wire)));
    expect(frames).toEqual([VECTORS[3]!.frame]);
    expect(stats.badType).toBe(1);
  });

  it('decodes remote frames, skipping the filler bytes the adapter appends', () => {
    // §6.1: remote ext ID 0x05014004, DLC 8, adapter puts 8 filler bytes after the ID (WS-RS).
    const fromAdapter = bytes('AA F8 04 40 01 05 DE AD BE EF 01 02 03 04 55');
    const r = { id: 0x05014004, extended: true, remote: true, data: new Uint8Array(8) };
    expect(decodeAll(fromAdapter).frames).toEqual([r]);
    // Host → adapter (PDF): no filler; the adapter simulator decodes with remoteDlcBytes false.
    const fromHost = bytes('AA F8 04 40 01 05 55');
    expect(decodeAll(fromHost, 1, new WaveshareDecoder({ remoteDlcBytes: false })).frames).toEqual([r]);
    // §6.2 fixed remote frame: byte 4 = 02.
    const std = { id: 0x123, extended: false, remote: true, data: new Uint8Array(3) };
    expect(decodeAll(encodeFixed(std)).frames).toEqual([std]);
  });

  it('counts 20-byte adapter messages without yielding them', () => {
    const seen: Uint8Array[] = [];
    const d = new WaveshareDecoder({ onAdapterMessage: (b) => seen.push(b) });
    // §6.3 status reply (PYCAN): type 04, bytes 3/4 error counters; checksum 04+02+05 = 0B.
    const status = bytes('AA 55 04 02 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 0B');
    const setting = settingFrame({ framing: 'variable', bitrate: 125_000 });
    const { frames, stats } = decodeAll(concat(status, setting, bytes(VECTORS[0]!.wire)), 1, d);
    expect(frames).toEqual([VECTORS[0]!.frame]);
    expect(stats.adapterMessages).toBe(2);
    expect(stats.droppedBytes).toBe(0);
    expect(seen).toEqual([status, setting]);
  });

  it('gives every frame its own copy of the data', () => {
    const wire = concat(bytes(VECTORS[4]!.wire), bytes(VECTORS[5]!.wire));
    const d = new WaveshareDecoder();
    const [a, b] = d.push(wire);
    wire.fill(0);
    expect(a!.data).toEqual(VECTORS[4]!.frame.data);
    expect(b!.data).toEqual(VECTORS[5]!.frame.data);
    expect(a!.data.buffer).not.toBe(b!.data.buffer);
  });

  it('copies out of a reused Buffer (serialport reads into a pool)', () => {
    const seen: Uint8Array[] = [];
    const d = new WaveshareDecoder({ onAdapterMessage: (b) => seen.push(b) });
    const setting = settingFrame({ framing: 'variable', bitrate: 125_000 });
    const pool = Buffer.from(concat(bytes(VECTORS[4]!.wire), setting));
    const [f] = d.push(pool);
    pool.fill(0);
    expect(f!.data).toEqual(VECTORS[4]!.frame.data);
    expect(seen).toEqual([setting]);
  });

  it('reset() forgets a partial frame', () => {
    const d = new WaveshareDecoder();
    d.push(bytes('AA E8 04 40'));
    d.reset();
    expect(d.push(bytes(VECTORS[3]!.wire))).toEqual([VECTORS[3]!.frame]);
  });
});

describe('Waveshare round trip (property)', () => {
  const arbFrame: fc.Arbitrary<CanFrame> = fc
    .record({
      extended: fc.boolean(),
      remote: fc.boolean(),
      id29: fc.integer({ min: 0, max: 0x1fffffff }),
      id11: fc.integer({ min: 0, max: 0x7ff }),
      data: fc.uint8Array({ maxLength: 8 }),
    })
    .map(({ extended, remote, id29, id11, data }) => ({
      id: extended ? id29 : id11,
      extended,
      remote,
      // Remote frames carry only a DLC; the decoder yields that many zero bytes.
      data: remote ? new Uint8Array(data.length) : data,
    }));

  const arbChunking = fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 });

  function split(stream: Uint8Array, sizes: number[]): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = 0, k = 0; i < stream.length; k++) {
      const n = sizes[k % sizes.length]!;
      out.push(stream.subarray(i, i + n));
      i += n;
    }
    return out;
  }

  for (const framing of ['variable', 'fixed'] as const) {
    it(`encode → decode yields the same frames in ${framing} framing, however the bytes are chunked`, () => {
      fc.assert(
        fc.property(fc.array(arbFrame, { maxLength: 30 }), arbChunking, (frames, sizes) => {
          // The adapter → host direction: remote frames carry filler bytes (WS-RS).
          const stream = concat(...frames.map((f) => encodeFrame(f, framing, { remoteDlcBytes: true })));
          const d = new WaveshareDecoder();
          const out: CanFrame[] = [];
          for (const c of split(stream, sizes)) d.push(c, out);
          expect(out).toEqual(frames);
          expect(d.stats.droppedBytes).toBe(0);
        }),
      );
    });

    it(`finds every frame after garbage without AA bytes in ${framing} framing`, () => {
      const noise = fc.uint8Array({ maxLength: 12 }).map((a) => a.map((b) => (b === 0xaa ? 0x00 : b)));
      fc.assert(
        fc.property(fc.array(fc.tuple(noise, arbFrame), { maxLength: 20 }), arbChunking, (items, sizes) => {
          const stream = concat(...items.flatMap(([n, f]) => [n, encodeFrame(f, framing, { remoteDlcBytes: true })]));
          const d = new WaveshareDecoder();
          const out: CanFrame[] = [];
          for (const c of split(stream, sizes)) d.push(c, out);
          expect(out).toEqual(items.map(([, f]) => f));
          expect(d.stats.droppedBytes).toBe(items.reduce((s, [n]) => s + n.length, 0));
        }),
      );
    });
  }
});
