/**
 * PI18 framer: resync, split HID reports and stale reports of an abandoned exchange
 * (pi18.md §3.2 "Reading" and "Stale bytes", §3.3).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildFrame, type Pi18Frame } from '../../../src/families/pi18/codec.js';
import { Pi18Framer, type Pi18Reject } from '../../../src/families/pi18/framer.js';
import { toHidReports } from '../../../src/link/transports/hid.js';

const hex = (s: string) => Uint8Array.from(s.trim().split(/\s+/), (h) => parseInt(h, 16));
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const line = (text: string, crc: string) => Uint8Array.from([...ascii(text), ...hex(crc), 0x0d]);
const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
/** Input reports as a hidraw read() returns them: 8 bytes each, the last padded with 0x00 (§3.2). */
const reports = (bytes: Uint8Array) => toHidReports(bytes, 8, null).map((r) => Uint8Array.from(r));

// pi18.md §4.1 / §4.2 / §4.3 examples, CRCs as given there.
const PIRI = line('^D0882300,217,2300,500,217,5000,5000,480,480,530,440,570,570,2,10,070,1,1,1,9,0,0,0,0,1,00', 'e1 6b');
const GS = line('^D1062232,499,2232,499,1406,1376,028,549,000,000,000,010,095,060,000,000,0082,0000,1604,0000,0,2,0,1,1,1,1,0', '44 12');
const MOD = hex('5e 44 30 30 35 30 35 d9 9f 0d');
const ACK = hex('5e 31 0b c2 0d');

const payloads = (frames: Pi18Frame[]) => frames.map((f) => (f.type === 'data' ? f.payload : f.type));

describe('Pi18Framer', () => {
  it('reassembles a reply split over 8-byte HID reports, padding and all (§3.2)', () => {
    const f = new Pi18Framer();
    const out: Pi18Frame[] = [];
    const rs = reports(PIRI);
    expect(rs.length).toBe(Math.ceil(PIRI.length / 8));
    for (const r of rs) out.push(...f.push(r));
    expect(payloads(out)).toEqual(['2300,217,2300,500,217,5000,5000,480,480,530,440,570,570,2,10,070,1,1,1,9,0,0,0,0,1,00']);
    expect(out[0]!.raw).toEqual(PIRI);
    // The padding after the CR is not corruption.
    expect(f.corruptBytes).toBe(0);
    expect(f.paddingBytes).toBe(rs.length * 8 - PIRI.length);
  });

  it('reads byte by byte and several frames in one chunk', () => {
    const f = new Pi18Framer();
    const out: Pi18Frame[] = [];
    for (const b of cat(ACK, MOD)) out.push(...f.push(Uint8Array.of(b)));
    expect(payloads(out)).toEqual(['ack', '05']);
    expect(payloads(f.push(cat(GS, ACK, MOD)))).toHaveLength(3);
    expect(f.corruptBytes).toBe(0);
  });

  it('stale reports: the tail of an abandoned GS reply before the next reply is dropped and counted (§3.2)', () => {
    const f = new Pi18Framer();
    const gsReports = reports(GS);
    // The host gave up on GS after its first 3 reports; the rest stayed queued in the kernel.
    const stale = gsReports.slice(3);
    const out: Pi18Frame[] = [];
    for (const r of [...stale, ...reports(MOD)]) out.push(...f.push(r));
    expect(payloads(out)).toEqual(['05']);
    const staleBytes = GS.length - 24;
    expect(f.corruptBytes).toBe(staleBytes);
  });

  it('stale reports: the start of a reply whose CR never came is skipped up to the next ^, and the good reply survives', () => {
    const rejects: Pi18Reject[] = [];
    const f = new Pi18Framer({ onReject: (r) => rejects.push(r) });
    const out: Pi18Frame[] = [];
    const partial = GS.subarray(0, 40);
    for (const r of [...reports(partial).map((r) => r.subarray(0, 8)), ...reports(PIRI)]) out.push(...f.push(r));
    expect(payloads(out)).toHaveLength(1);
    expect(out[0]!.type).toBe('data');
    expect(rejects).toHaveLength(1);
    expect(rejects[0]!.reason).toMatch(/CRC/);
    // The 40 stale bytes; the 0x00 padding of the last partial report is not counted.
    expect(f.corruptBytes).toBe(40);
  });

  it('a whole stale reply before the next one comes out as a frame (the request queue discards it as late)', () => {
    const f = new Pi18Framer();
    const out = [...reports(GS), ...reports(ACK)].flatMap((r) => f.push(r));
    expect(payloads(out).map((p) => (p === 'ack' ? p : 'data'))).toEqual(['data', 'ack']);
  });

  it('a corrupted CRC is rejected, counted and reported; noise before ^ is dropped', () => {
    const rejects: Pi18Reject[] = [];
    const f = new Pi18Framer({ onReject: (r) => rejects.push(r) });
    const bad = MOD.slice();
    bad[7] ^= 0x40;
    const out = f.push(cat(ascii('xyz'), bad, MOD));
    expect(payloads(out)).toEqual(['05']);
    expect(f.corruptBytes).toBe(3 + MOD.length);
    expect(f.rejectedFrames).toBe(1);
    expect(rejects[0]!.bytes).toEqual(bad);
  });

  it('a PI30 (NAK reply is a frame (§1.3, §3.3 step 4)', () => {
    const f = new Pi18Framer();
    expect(f.push(buildFrame({ type: 'nak30', text: '(NAK' }))).toMatchObject([{ type: 'nak30', text: '(NAK' }]);
  });

  it('gives up a start with no CR after maxFrameBytes', () => {
    const f = new Pi18Framer({ maxFrameBytes: 64 });
    expect(f.push(cat(ascii('^D1'), new Uint8Array(70).fill(0x31)))).toEqual([]);
    expect(f.corruptBytes).toBe(73);
    expect(payloads(f.push(MOD))).toEqual(['05']);
  });

  it('reset forgets a partial frame but keeps the counters', () => {
    const f = new Pi18Framer();
    f.push(ascii('zz'));
    f.push(GS.subarray(0, 20));
    f.reset();
    expect(payloads(f.push(MOD))).toEqual(['05']);
    expect(f.corruptBytes).toBe(2);
  });

  it('encodes requests with CRC; the vendor variant on request', () => {
    expect(new Pi18Framer().encode({ type: 'set', command: 'BUCD440,540' }).subarray(-3)).toEqual(hex('d7 01 0d'));
    expect(new Pi18Framer({ crcVariant: 'vendor' }).encode({ type: 'set', command: 'BUCD440,540' }).subarray(-3)).toEqual(hex('d7 00 0d'));
  });

  it('property: any garbage without a CR between frames, any chunking → every frame recovered in order, every garbage byte counted', () => {
    const pool = [PIRI, GS, MOD, ACK, hex('5e 30 1b e3 0d'), buildFrame({ type: 'nak30', text: '(NAK' })];
    const garbage = fc.uint8Array({ maxLength: 24 }).map((g) => g.filter((b) => b !== 0x0d));
    fc.assert(
      fc.property(fc.array(fc.tuple(garbage, fc.integer({ min: 0, max: pool.length - 1 })), { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1 }), (items, cuts) => {
        const stream = cat(...items.flatMap(([g, i]) => [g, pool[i]!]));
        const f = new Pi18Framer();
        const out: Pi18Frame[] = [];
        let at = 0;
        for (let k = 0; at < stream.length; k++) {
          const n = cuts[k % cuts.length]!;
          out.push(...f.push(stream.subarray(at, at + n)));
          at += n;
        }
        expect(out.map((fr) => Array.from(fr.raw!))).toEqual(items.map(([, i]) => Array.from(pool[i]!)));
        const garbageBytes = items.reduce((a, [g]) => a + g.length, 0);
        expect(f.corruptBytes + f.paddingBytes).toBe(garbageBytes);
      }),
      { numRuns: 400 },
    );
  });
});
