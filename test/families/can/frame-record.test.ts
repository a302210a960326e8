/** A CAN frame as the store records it: the generic frame record (issue 10, "Store"). */
import { describe, expect, it } from 'vitest';
import { canAddress, canFrameRecord, canIdHex } from '../../../src/families/can/types.js';

describe('canFrameRecord', () => {
  it('fills the generic record: protocol can, the id in hex as the address, the data field as bytes, the flags as meta', () => {
    const data = Uint8Array.of(0x78, 0x00, 0x18, 0x15);
    expect(canFrameRecord({ id: 0x05ff4004, extended: true, remote: false, data }, 'tx', 'set', null)).toEqual({
      protocol: 'can',
      dir: 'tx',
      address: '05FF4004',
      bytes: data,
      text: null,
      kind: 'set',
      deviceId: null,
      meta: { extended: true, remote: false },
    });
    const std = canFrameRecord({ id: 0x35e, extended: false, remote: true, data: new Uint8Array(0) }, 'rx', 'identity', 'bms0', 'PYLON');
    expect([std.address, std.meta, std.text, std.deviceId]).toEqual(['35E', { extended: false, remote: true }, 'PYLON', 'bms0']);
  });

  it('addresses: 8 digits extended, 3 standard, the same id in both forms apart, and right past the cache bound', () => {
    expect(canAddress({ id: 0x0a, extended: false })).toBe('00A');
    expect(canAddress({ id: 0x0a, extended: true })).toBe('0000000A');
    expect(canAddress({ id: 0x0a, extended: false })).toBe('00A');
    for (let id = 0; id < 10_000; id++) expect(canAddress({ id: 0x18000000 + id, extended: true })).toBe((0x18000000 + id).toString(16).toUpperCase());
    expect(canIdHex({ id: 0x05014004, extended: true })).toBe('0x05014004');
    expect(canIdHex({ id: 0x351, extended: false })).toBe('0x351');
  });
});
