/**
 * Batteries and BMS-guided charging end to end on the simulated rig (fake clock): the BMS
 * stack on its own bus in fixed framing, one shared pack with the rectifiers.
 */
import type { CanAdapterLink } from '../../../src/families/can/adapter.js';
import type { BatteryView } from '../../../src/families/bms/view.js';
import { afterEach, describe, expect, it } from 'vitest';
import { makeSimRig, tempDbPath, type TestRig } from '../../helpers/rig.js';
import { simulatedConfig } from '../../../src/rig.js';
import { bmsLimitsFromSnapshot } from '../../../src/families/bms/policy.js';
import { decodeFp2 } from '../../../src/families/flatpack2/codec.js';
import type { CanFrame } from '../../../src/families/can/types.js';

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

function bmsRig(socPct: number, chargeCurrentA = 30, capacityAh = 100) {
  const dbPath = tempDbPath('pp-bms-');
  const config = simulatedConfig({ port: 0, dbPath, bms: true, vebus: false });
  config.chargers[0].settings = { ...config.chargers[0].settings, capacityAh, chargeCurrentA };
  return makeSimRig({ dbPath, config, pack: { socPct, capacityAh } });
}

async function runUntil(t: TestRig, cond: () => boolean, maxMs: number, stepMs = 10_000): Promise<void> {
  for (let done = 0; done < maxMs && !cond(); done += stepMs) await t.clock.advance(stepMs);
}

describe('battery BMS on the simulated rig', () => {
  it('shows the battery with stack and module values from the BMS frames', async () => {
    t = bmsRig(60);
    await t.clock.advance(5000);
    const b = t.rig.engine.device<BatteryView>('bms0')!;
    expect(b.online).toBe(true);
    const s = b.snapshot!;
    expect(s.socPct).toBeGreaterThan(55);
    expect(s.socPct).toBeLessThan(65);
    expect(s.voltageV).toBeGreaterThan(50);
    expect(s.cellHighV! - s.cellLowV!).toBeCloseTo(s.cellDeltaV!, 3);
    expect(s.chargeVoltageLimitV).toBeCloseTo(57.6, 1);
    expect(s.modules.map((m) => m.index)).toEqual([1, 2]);
    expect(t.store.listFrames({ link: 'can1', dir: 'rx' }, 5).items.length).toBe(5);
    expect(t.rig.engine.latestFrames('can1')!.some((f) => f.address === '351' && f.kind === 'charge-limits')).toBe(true);
  });

  it('records alarms and protections as events when they raise and clear', async () => {
    t = bmsRig(60);
    await t.clock.advance(5000);
    const bms = t.rig.sim!.bms.get('can1')!;
    bms.injectOverTemp(true);
    await t.clock.advance(5000);
    const raised = t.store
      .listEvents({ types: ['battery.flag.raised'], deviceId: 'bms0' }, 50)
      .items.filter((e) => e.data.group !== 'request')
      .map((e) => e.data.name);
    expect(raised).toContain('cell-over-temp-charge');
    expect(raised.length).toBeGreaterThan(0);
    expect(t.rig.engine.device<BatteryView>('bms0')!.snapshot!.protections!.length + t.rig.engine.device<BatteryView>('bms0')!.snapshot!.alarms!.length).toBeGreaterThan(0);
    bms.injectOverTemp(false);
    // Protections are held ≥ 60 s and released with hysteresis: give them a few minutes.
    await t.clock.advance(300_000);
    const cleared = t.store.listEvents({ types: ['battery.flag.cleared'], deviceId: 'bms0' }, 20).items.map((e) => e.data.name);
    expect(cleared).toEqual(expect.arrayContaining(raised));
  });

  it('flags frames with a wrong DLC and never turns them into telemetry', async () => {
    t = bmsRig(60);
    await t.clock.advance(3000);
    const before = t.rig.engine.device<BatteryView>('bms0')!.snapshot!.socPct;
    const stranger = t.rig.sim!.canBuses.get('can1')!.attach('stranger', () => {});
    // 0x355 SOC/SOH with DLC 2 and SOC 250 %: both impossible.
    stranger.send({ id: 0x355, extended: false, remote: false, data: new Uint8Array([0xfa, 0x00]) });
    await t.clock.advance(50);
    expect(t.store.latestEvent({ types: ['frame.invalid'], deviceId: 'bms0' })).not.toBeNull();
    expect(t.rig.engine.device<BatteryView>('bms0')!.snapshot!.socPct).toBe(before);
    expect(t.store.listFrames({ link: 'can1', kind: 'invalid' }, 5).items.length).toBe(1);
  });

  it('caps the charge at the BMS current limit, with an event naming the BMS value', async () => {
    t = bmsRig(92, 80, 100);
    await t.clock.advance(5000);
    const limit = t.rig.engine.device<BatteryView>('bms0')!.snapshot!.chargeCurrentLimitA!;
    expect(limit).toBeLessThan(80); // tapering above 90 % SOC
    const sets: Array<{ v: number; a: number }> = [];
    (t.rig.links.get('can0') as CanAdapterLink).onTx((f: CanFrame) => {
      const m = decodeFp2(f);
      if (m.kind === 'set') sets.push({ v: m.voltageV, a: m.currentA ?? Infinity });
    });
    const charger = t.rig.engine.charger('charger1')!;
    expect((await charger.startCharge('api')).ok).toBe(true);
    await runUntil(t, () => ['CC', 'CV'].includes(charger.phase), 3600_000, 5000);
    const cap = t.store.latestEvent({ types: ['charger.bms-cap'], deviceId: 'charger1' })!;
    expect(cap.data.bmsCurrentLimitA).toBeGreaterThan(0);
    expect(cap.data.configuredCurrentA).toBe(80);
    expect(charger.view().bmsCaps).not.toBeNull();
    // Every charge setpoint respects the BMS limit known when it was sent (2 PSUs share it).
    const bmsMax = t.store.listEvents({ types: ['charger.bms-cap'] }, 100).items.reduce((m, e) => Math.max(m, Number(e.data.bmsCurrentLimitA ?? 0)), 0);
    for (const s of sets.filter((x) => x.a > 0.2)) expect(s.a * 2).toBeLessThanOrEqual(bmsMax + 0.2);
    expect(charger.view().progress).toBe(t.rig.engine.device<BatteryView>('bms0')!.snapshot!.socPct);
  });

  it('pauses on a charge-blocking protection, resumes softly when it clears', async () => {
    t = bmsRig(50, 30);
    await t.clock.advance(5000);
    const charger = t.rig.engine.charger('charger1')!;
    await charger.startCharge('api');
    await runUntil(t, () => charger.phase === 'CC', 3600_000, 5000);
    const bms = t.rig.sim!.bms.get('can1')!;
    bms.injectCellOverVoltage(true);
    await t.clock.advance(5000);
    expect(charger.phase).toBe('paused');
    expect(charger.view().bmsHold).toMatch(/cell-over-voltage/);
    expect(t.rig.engine.busSetpoint('can0')).toMatchObject({ standby: true, origin: 'charger' });
    const hold = t.store.latestEvent({ types: ['charger.bms-hold'], deviceId: 'charger1' })!;
    expect(String(hold.data.reason)).toMatch(/cell-over-voltage/);
    bms.injectCellOverVoltage(false);
    await runUntil(t, () => charger.phase === 'CC', 3600_000, 5000);
    const phases = t.rig.engine.sessions.phases(charger.view().sessionId!).map((p) => p.phase);
    expect(phases).toEqual(['detect', 'ramp', 'CC', 'paused', 'detect', 'ramp', 'CC']);
  });

  it('stops the charge safely when the BMS goes silent', async () => {
    t = bmsRig(50, 30);
    await t.clock.advance(5000);
    const charger = t.rig.engine.charger('charger1')!;
    await charger.startCharge('api');
    await runUntil(t, () => charger.phase === 'CC', 3600_000, 5000);
    t.rig.sim!.bms.get('can1')!.silenceAll(true);
    await t.clock.advance(15_000);
    expect(t.rig.engine.device<BatteryView>('bms0')!.online).toBe(false);
    expect(charger.phase).toBe('error');
    expect(charger.view().stopReason).toMatch(/BMS frames lost/);
    expect(t.rig.engine.busSetpoint('can0')).toMatchObject({ standby: true });
    const again = await charger.startCharge('api');
    expect(again).toMatchObject({ ok: false, code: 'BMS_OFFLINE' });
  });

  it('a BMS-guided charge of the demo pack ends DONE when the BMS reports it full', async () => {
    t = bmsRig(85, 30);
    await t.clock.advance(5000);
    const charger = t.rig.engine.charger('charger1')!;
    await charger.startCharge('api');
    await runUntil(t, () => charger.phase === 'done' || charger.phase === 'error', 6 * 3600_000, 30_000);
    expect(charger.phase).toBe('done');
    expect(charger.view().stopReason).toMatch(/Charge complete/);
  }, 120_000);
});

describe('BMS policy', () => {
  const base = {
    chargeVoltageLimitV: 57.6,
    chargeCurrentLimitA: 50,
    socPct: 60,
    requestFlags: ['charge-enable', 'discharge-enable'],
    protections: [] as string[],
    dialectCheck: { configured: 'deye', detected: 'deye', maker: 'DY001', status: 'confirmed', since: 0, reason: '' },
  };
  it('allows charging with charge-enable and no charge-blocking protection', () => {
    expect(bmsLimitsFromSnapshot(base as never)).toMatchObject({ chargeAllowed: true, blockReason: null, full: false });
  });
  it('a discharge-only protection does not block a charge; any other does', () => {
    expect(bmsLimitsFromSnapshot({ ...base, protections: ['discharge-over-current'] } as never).chargeAllowed).toBe(true);
    expect(bmsLimitsFromSnapshot({ ...base, protections: ['cell-over-temp-charge'] } as never)).toMatchObject({ chargeAllowed: false, blockReason: 'protection cell-over-temp-charge' });
  });
  it('a cleared charge-enable flag is a charge-disable request; at 100 % it means full', () => {
    expect(bmsLimitsFromSnapshot({ ...base, requestFlags: ['discharge-enable'] } as never)).toMatchObject({ chargeAllowed: false, full: false });
    expect(bmsLimitsFromSnapshot({ ...base, socPct: 100, chargeCurrentLimitA: 0, requestFlags: ['discharge-enable'] } as never)).toMatchObject({ chargeAllowed: false, full: true });
  });
});
