/**
 * Defect 8.8 on the whole simulated rig (fake clock): an event-loop stall during a BMS-guided
 * charge — 362 ms at --sim-speed 50 is 18 s of simulated time, a heavy query at 1× was 15 s —
 * must not end the charge in ERROR "BMS frames lost". `FakeClock.stall` moves time on without
 * firing any timer or reading anything, as a blocked loop does; the overdue timers (the
 * simulators' and the watchdogs') then fire late, in due order, as Node fires them.
 */
import type { BatteryView } from '../../src/families/bms/view.js';
import { afterEach, describe, expect, it } from 'vitest';
import { makeSimRig, tempDbPath, type TestRig } from '../helpers/rig.js';
import { simulatedConfig } from '../../src/rig.js';

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

function bmsRig(): TestRig {
  const dbPath = tempDbPath('pp-stall-');
  const config = simulatedConfig({ port: 0, dbPath, bms: true, vebus: false });
  return makeSimRig({ dbPath, config, pack: { socPct: 50 } });
}

async function untilPhase(rig: TestRig, phase: string, maxMs: number): Promise<void> {
  const charger = rig.rig.engine.charger('charger1')!;
  for (let done = 0; done < maxMs && charger.phase !== phase; done += 1000) await rig.clock.advance(1000);
  expect(charger.phase).toBe(phase);
}

const offlineEvents = (rig: TestRig) => rig.store.listEvents({ types: ['device.offline'] }, 100).items;

describe('a stalled event loop during a BMS-guided charge', () => {
  it.each([18_000, 15_000, 60_000])('defect 8.8: a %i ms stall does not take the BMS or a PSU offline, and the charge goes on', async (stallMs) => {
    t = bmsRig();
    await t.clock.advance(5000);
    const charger = t.rig.engine.charger('charger1')!;
    await charger.startCharge('api');
    await untilPhase(t, 'CC', 10 * 60_000);
    // Between two BMS bursts (they come every second), as a stall usually is.
    await t.clock.advance(500);
    const before = offlineEvents(t).length;

    t.clock.stall(stallMs);
    await t.clock.advance(30_000);

    expect(charger.phase).toBe('CC');
    expect(charger.view().stopReason).toBeNull();
    expect(offlineEvents(t).length).toBe(before);
    expect(t.rig.engine.device<BatteryView>('bms0')?.online).toBe(true);
  }, 120_000);

  it('defect 8.8: a real BMS silence during the charge is still found and ends it safely', async () => {
    t = bmsRig();
    await t.clock.advance(5000);
    const charger = t.rig.engine.charger('charger1')!;
    await charger.startCharge('api');
    await untilPhase(t, 'CC', 10 * 60_000);
    t.rig.sim!.bms.get('can1')!.silenceAll(true);
    await t.clock.advance(12_000);
    expect(t.rig.engine.device<BatteryView>('bms0')?.online).toBe(false);
    expect(charger.phase).toBe('error');
    expect(charger.view().stopReason).toMatch(/BMS frames lost/);
  }, 120_000);
});
