/**
 * The accepted event is on disk before a power setpoint leaves: when the write of that very
 * event fails (the disk filled just now), the setpoint is not sent; a standby still is.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CanAdapterLink } from '../../src/families/can/adapter.js';
import type { CanFrame } from '../../src/families/can/types.js';
import { decodeFp2 } from '../../src/families/flatpack2/codec.js';
import type { Store } from '../../src/store/store.js';
import { makeSimRig, type TestRig } from '../helpers/rig.js';

let t: TestRig | null = null;
afterEach(async () => {
  for (const r of repairs.splice(0)) r();
  await t?.stop();
  t = null;
});

const repairs: Array<() => void> = [];
/** Every write from now on fails as on a full disk (SQLite triggers; the store's health flips at the first one). */
function fillDisk(store: Store): void {
  const tables = ['frames', 'samples', 'events', 'devices', 'store_meta', 'bus_setpoints'];
  for (const tb of tables) for (const op of ['INSERT', 'UPDATE']) store.db.exec(`CREATE TEMP TRIGGER full_${op}_${tb} BEFORE ${op} ON ${tb} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
  repairs.push(() => {
    for (const tb of tables) for (const op of ['INSERT', 'UPDATE']) store.db.exec(`DROP TRIGGER full_${op}_${tb}`);
  });
}

describe('storage and setpoints', () => {
  it('defect: a power setpoint whose accepted event could not be written is not sent (STORAGE_UNAVAILABLE); a standby still goes out', async () => {
    t = makeSimRig();
    await t.clock.advance(5000);
    const sets: Array<{ v: number }> = [];
    (t.rig.links.get('can0') as CanAdapterLink).onTx((f: CanFrame) => {
      const m = decodeFp2(f);
      if (m.kind === 'set') sets.push({ v: m.voltageV });
    });
    expect(t.store.health.writable).toBe(true);
    fillDisk(t.store);
    const r = await t.rig.engine.setPsuOutput('api', 'all', { voltageV: 53.2, currentA: 10 });
    expect(r).toMatchObject({ ok: false, code: 'STORAGE_UNAVAILABLE' });
    expect(sets.filter((s) => s.v === 53.2)).toEqual([]);
    const sb = await t.rig.engine.standby('api', 'all');
    expect(sb.ok && sb.sent).toBe(true);
    expect(sets.some((s) => s.v === 48)).toBe(true);
  });
});
