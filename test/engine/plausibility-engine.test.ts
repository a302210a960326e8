/**
 * Defect 8.7 end to end on the simulated rig (fake clock): an impossible Flatpack2 status or BMS
 * limit that reaches the adapter (can0 runs the checksum-less variable framing in the demo rig)
 * is recorded as an `invalid` frame with its reason and changes no reading, limit or decision.
 */
import type { BatteryView } from '../../src/families/bms/view.js';
import type { Flatpack2PsuView } from '../../src/families/flatpack2/view.js';
import { afterEach, describe, expect, it } from 'vitest';
import { makeSimRig, tempDbPath, type TestRig } from '../helpers/rig.js';
import { simulatedConfig, SIM_PSU_SERIALS } from '../../src/rig.js';
import { psuDeviceId } from '../../src/families/flatpack2/view.js';
import { statusId } from '../../src/families/flatpack2/codec.js';

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

const bytes = (s: string) => Uint8Array.from(s.trim().split(/\s+/), (h) => parseInt(h, 16));

describe('defect 8.7: impossible values never become telemetry on the rig', () => {
  it('defect 8.7: a Flatpack2 status with 6553.5 A, 255 °C or 65535 V input is recorded invalid with its reason, not a reading', async () => {
    t = makeSimRig();
    await t.clock.advance(4000);
    const id = psuDeviceId(SIM_PSU_SERIALS[0]);
    const psu = t.rig.engine.device<Flatpack2PsuView>(id)!;
    expect(psu.online).toBe(true);
    const stranger = t.rig.sim!.canBuses.get('can0')!.attach('stranger', () => {});
    const bad = ['1B FF FF DC 14 F1 00 23', 'FF 00 00 DC 14 F1 00 23', '1B 00 00 DC 14 FF FF 23'];
    for (const data of bad) stranger.send({ id: statusId(psu.addr!, 0x04), extended: true, remote: false, data: bytes(data) });
    await t.clock.advance(50);
    const reasons = t.store.listEvents({ types: ['frame.invalid'] }, 10).items.map((e) => String(e.data.reason));
    expect(reasons).toEqual(expect.arrayContaining([expect.stringMatching(/Iout 6553\.5 A outside 0–70 A/), expect.stringMatching(/intake temperature 255 °C/), expect.stringMatching(/Vin 65535 V/)]));
    expect(t.store.listFrames({ link: 'can0', kind: 'invalid' }, 10).items.length).toBe(3);
    const now = t.rig.engine.device<Flatpack2PsuView>(id)!;
    expect(now.outputCurrentA).toBeLessThan(70);
    expect(now.intakeTempC).toBeLessThan(100);
    expect(now.inputVoltageV).toBeLessThan(350);
  });

  it('defect 8.7: a BMS 0x351 with a 3276.7 A charge limit is recorded invalid and is not a limit', async () => {
    const dbPath = tempDbPath('pp-plaus-');
    t = makeSimRig({ dbPath, config: simulatedConfig({ port: 0, dbPath, bms: true, vebus: false }), pack: { socPct: 60 } });
    await t.clock.advance(3000);
    const before = t.rig.engine.device<BatteryView>('bms0')!.snapshot!.chargeCurrentLimitA;
    expect(before).toBeGreaterThan(0);
    const stranger = t.rig.sim!.canBuses.get('can1')!.attach('stranger', () => {});
    stranger.send({ id: 0x351, extended: false, remote: false, data: bytes('40 02 FF 7F 74 0E CC 01') });
    await t.clock.advance(50);
    const ev = t.store.latestEvent({ types: ['frame.invalid'], deviceId: 'bms0' })!;
    expect(String(ev.data.reason)).toMatch(/charge current limit 3276\.7 A outside 0–1000 A/);
    expect(t.rig.engine.device<BatteryView>('bms0')!.snapshot!.chargeCurrentLimitA).toBe(before);
    expect(t.store.listFrames({ link: 'can1', kind: 'invalid' }, 5).items.length).toBe(1);
  });
});
