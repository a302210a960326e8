/**
 * The remaining Flatpack2 frames of flatpack2.md §2.1/§2.7, decoded by name with the
 * reference's byte vectors: identity read and its chunked replies, enumeration prompt,
 * park/release and its ack, the one-value reads (issue 17, item 6).
 */
import { describe, expect, it } from 'vitest';
import type { CanFrame } from '../../../src/families/can/types.js';
import { decodeFp2, encodeIdentityReply, encodeIdentityRequest, Fp2IdentityAssembler, fp2Text, type Fp2Message } from '../../../src/families/flatpack2/codec.js';

const bytes = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/), (b) => parseInt(b, 16));
const ext = (id: number, data: string): CanFrame => ({ id, extended: true, remote: false, data: bytes(data) });
const hexOf = (d: Uint8Array): string => Array.from(d, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
type Reply = Extract<Fp2Message, { kind: 'identity-reply' }>;

describe('flatpack2 codec: the frames beyond control', () => {
  it('identity read request 0x0501BC00 50 08 00 (UQF) and on BFFC', () => {
    expect(decodeFp2(ext(0x0501bc00, '50 08 00'))).toEqual({ kind: 'identity-request', addr: 1, selector: 0x08 });
    expect(decodeFp2(ext(0x0501bffc, '50 14 00'))).toEqual({ kind: 'identity-request', addr: 1, selector: 0x14 });
    expect(hexOf(encodeIdentityRequest(1, 0x08).data)).toBe('50 08 00');
    expect(encodeIdentityRequest(1, 0x08).id).toBe(0x0501bc00);
  });

  it('serial reply in two chunks 53 08 82 19 27 50 00 16 + 53 08 01 39 → "192750001639" (UQF)', () => {
    const a = decodeFp2(ext(0x0501bc00, '53 08 82 19 27 50 00 16')) as Reply;
    const b = decodeFp2(ext(0x0501bc00, '53 08 01 39')) as Reply;
    expect(a).toMatchObject({ kind: 'identity-reply', addr: 1, selector: 8, seq: 0x82, first: true, last: false });
    expect(b).toMatchObject({ kind: 'identity-reply', selector: 8, seq: 0x01, first: false, last: true });
    const asm = new Fp2IdentityAssembler();
    expect(asm.add(a)).toBeNull();
    expect(asm.add(b)).toBe(8);
    expect(asm.identity().serial).toBe('192750001639');
  });

  it('build year 53 14 00 DD 07 → 2013 (6P4C, NGU); model name in chunks → "FLATPACK2 48/2000 HE"', () => {
    const asm = new Fp2IdentityAssembler();
    expect(asm.add(decodeFp2(ext(0x0501bc00, '53 14 00 DD 07')) as Reply)).toBe(0x14);
    const name = 'FLATPACK2 48/2000 HE';
    const frames = encodeIdentityReply(1, 0x00, Uint8Array.from(name, (c) => c.charCodeAt(0)));
    expect(frames.map((f) => f.data[2])).toEqual([0x84, 3, 2, 1]);
    for (const f of frames) asm.add(decodeFp2(f) as Reply);
    expect(asm.identity()).toMatchObject({ model: name, buildYear: 2013 });
    // A middle chunk without its first is dropped, not glued to another value.
    const lone = new Fp2IdentityAssembler();
    expect(lone.add(decodeFp2(frames[2]) as Reply)).toBeNull();
    expect(lone.identity().model).toBeNull();
  });

  it('enumeration prompt 0x0500BC02 6D 30 00 (NGU)', () => {
    expect(decodeFp2(ext(0x0500bc02, '6D 30 00'))).toEqual({ kind: 'enumerate' });
    expect(fp2Text({ kind: 'enumerate' })).toMatch(/enumeration prompt/);
  });

  it('park 0x0501AC02 7B 04 00 02 1C 01 01 (V×10 big-endian: 54.0 V) and its ack 0x0501AC00 33 05 00 02 1C 01 01 (NGU)', () => {
    expect(decodeFp2(ext(0x0501ac02, '7B 04 00 02 1C 01 01'))).toEqual({ kind: 'park', addr: 1, voltageV: 54, flags: 0x0101 });
    expect(decodeFp2(ext(0x0501ac00, '33 05 00 02 1C 01 01'))).toEqual({ kind: 'park-ack', addr: 1, voltageV: 54, flags: 0x0101 });
    expect(decodeFp2(ext(0x0501ac02, '7B 04 00 02 1C'))).toMatchObject({ kind: 'invalid' });
  });

  it('one-value reads: available max current 23 01 00 A6 01 = 42.2 A, intake 23 00 00 23 00 = 35 °C, AC input CB 01 00 D8 00 = 216 V', () => {
    expect(decodeFp2(ext(0x05019ffc, '20 01 00'))).toEqual({ kind: 'read-request', addr: 1, func: 0x9ffc, op: 0x20, selector: 1 });
    expect(decodeFp2(ext(0x05019c00, '20 01 00'))).toMatchObject({ kind: 'read-request', func: 0x9c00 });
    expect(decodeFp2(ext(0x05019ffc, '23 01 00 A6 01'))).toMatchObject({ kind: 'read-reply', name: 'available max current', value: 42.2, unit: 'A' });
    expect(decodeFp2(ext(0x05019800, '23 00 00 23 00'))).toMatchObject({ kind: 'read-reply', name: 'intake temperature', value: 35, unit: '°C' });
    expect(decodeFp2(ext(0x05029804, 'CB 01 00 D8 00'))).toMatchObject({ kind: 'read-reply', addr: 2, name: 'AC input voltage', value: 216, unit: 'V' });
    expect(fp2Text(decodeFp2(ext(0x05029804, 'CB 01 00 D8 00')))).toBe('PSU 2 AC input voltage: 216 V');
    // A named value outside its plausibility bound is a corrupted frame, not a reading (defect 8.7's rule).
    expect(decodeFp2(ext(0x05029804, 'CB 01 00 FE 10'))).toMatchObject({ kind: 'invalid' });
    expect(decodeFp2(ext(0x0501ac00, '33 05 00 FF 1C 01 01'))).toMatchObject({ kind: 'invalid' });
    // The default-voltage write on 9C00 is still itself.
    expect(decodeFp2(ext(0x05019c00, '29 15 00 18 15'))).toMatchObject({ kind: 'default-voltage', voltageV: 54 });
  });
});

describe('flatpack2 identity at discovery (simulated rig)', () => {
  it('each PSU is asked once what it is, and its view carries the decoded identity', async () => {
    const { makeSimRig } = await import('../../helpers/rig.js');
    const { SIM_PSU_SERIALS } = await import('../../../src/rig.js');
    const { psuDeviceId } = await import('../../../src/families/flatpack2/view.js');
    const t = makeSimRig();
    try {
      const asked: number[] = [];
      (t.rig.links.get('can0') as unknown as { onTx(cb: (f: CanFrame) => void): void }).onTx((f) => {
        const m = decodeFp2(f);
        if (m.kind === 'identity-request') asked.push(m.selector);
      });
      await t.clock.advance(6000);
      const v = t.rig.engine.device<import('../../../src/families/flatpack2/view.js').Flatpack2PsuView>(psuDeviceId(SIM_PSU_SERIALS[0]))!;
      expect(v.identity).toMatchObject({ model: 'FLATPACK2 48/2000 HE', serial: SIM_PSU_SERIALS[0], buildYear: 2000 + Number(SIM_PSU_SERIALS[0].slice(0, 2)) });
      await t.clock.advance(10_000);
      // Once per discovery: three selectors per PSU, not again on every status.
      expect(asked.length).toBe(3 * SIM_PSU_SERIALS.length);
    } finally {
      await t.stop();
    }
  });
});
