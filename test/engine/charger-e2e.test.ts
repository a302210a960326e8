/**
 * The charger end to end against the simulator on a fake clock: a 400 Ah pack from 10 % to
 * DONE through every phase, recorded as a session; reconnects and PSU loss handled softly.
 */
import type { CanAdapterLink } from '../../src/families/can/adapter.js';
import type { Flatpack2PsuView } from '../../src/families/flatpack2/view.js';
import { afterEach, describe, expect, it } from 'vitest';
import { makeSimRig, tempDbPath, type TestRig } from '../helpers/rig.js';
import { simulatedConfig, SIM_PSU_SERIALS } from '../../src/rig.js';
import { decodeFp2 } from '../../src/families/flatpack2/codec.js';
import type { CanFrame } from '../../src/families/can/types.js';

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

function bigPackRig(socPct = 10, chargeCurrentA = 80) {
  const dbPath = tempDbPath('pp-charge-');
  const config = simulatedConfig({ port: 0, dbPath, bms: false, vebus: false });
  config.chargers[0].settings = { ...config.chargers[0].settings, capacityAh: 400, chargeCurrentA, tailCurrentA: 4 };
  return makeSimRig({ dbPath, config, pack: { socPct, capacityAh: 400 } });
}

async function runUntil(t: TestRig, cond: () => boolean, maxMs: number, stepMs = 60_000): Promise<void> {
  for (let done = 0; done < maxMs && !cond(); done += stepMs) await t.clock.advance(stepMs);
}

describe('charger end to end on the simulated rig', () => {
  it('charges a 400 Ah pack from 10 % to DONE through DETECT → RAMP → CC → CV and records the session', async () => {
    t = bigPackRig();
    const sets: Array<{ v: number; a: number }> = [];
    (t.rig.links.get('can0') as CanAdapterLink).onTx((f: CanFrame) => {
      const m = decodeFp2(f);
      if (m.kind === 'set') sets.push({ v: m.voltageV, a: m.currentA ?? Infinity });
    });
    await t.clock.advance(4000);
    const charger = t.rig.engine.charger('charger1')!;
    const r = await charger.startCharge('api');
    expect(r.ok).toBe(true);
    // While charging, a manual setpoint on an owned PSU is refused with a code saying so.
    const manual = await t.rig.engine.setPsuOutput('api', `fp2-${SIM_PSU_SERIALS[0]}`, { voltageV: 50, currentA: 5 });
    expect(manual).toMatchObject({ ok: false, code: 'CHARGER_OWNS_PSU' });

    await runUntil(t, () => charger.phase === 'done' || charger.phase === 'error', 10 * 3600_000);
    const view = charger.view();
    expect(view.phase).toBe('done');
    expect(view.stopReason).toMatch(/Charge complete \(tail current/);
    expect(view.deliveredAh).toBeGreaterThan(300);
    // Never above the target voltage or the per-unit share of the charge current.
    for (const s of sets) {
      expect(s.v).toBeLessThanOrEqual(57.6);
      expect(s.a).toBeLessThanOrEqual(40);
    }
    const session = t.rig.engine.sessions.get(view.sessionId!)!;
    expect(session).toMatchObject({ outcome: 'done', chargerId: 'charger1', targetVoltageV: 57.6, chargeCurrentA: 80 });
    expect(session.ccToCvAt).not.toBeNull();
    expect(session.peakCurrentA).toBeGreaterThan(70);
    const phases = t.rig.engine.sessions.phases(session.id).map((p) => p.phase);
    expect(phases).toEqual(['detect', 'ramp', 'CC', 'CV', 'done']);
    // The PSUs are released and in standby.
    expect(t.rig.engine.listDevices().every((d) => d.kind !== "flatpack2" || (d as Flatpack2PsuView).ownedBy === null)).toBe(true);
    expect(t.rig.engine.busSetpoint('can0')).toMatchObject({ standby: true, origin: 'charger' });
  }, 120_000);

  it('pauses when the adapter is lost and resumes softly through DETECT and RAMP, keeping Ah', async () => {
    t = bigPackRig(30);
    const sets: Array<{ ts: number; v: number; a: number }> = [];
    (t.rig.links.get('can0') as CanAdapterLink).onTx((f: CanFrame, ts: number) => {
      const m = decodeFp2(f);
      if (m.kind === 'set') sets.push({ ts, v: m.voltageV, a: m.currentA ?? Infinity });
    });
    await t.clock.advance(4000);
    const charger = t.rig.engine.charger('charger1')!;
    await charger.startCharge('api');
    await runUntil(t, () => charger.phase === 'CC', 3600_000, 10_000);
    await t.clock.advance(120_000);
    expect(charger.phase).toBe('CC');
    const ahBefore = charger.view().deliveredAh;
    const lastCcSet = sets[sets.length - 1];
    t.rig.sim!.unplug('can0');
    await t.clock.advance(20_000);
    expect(charger.phase).toBe('paused');
    const unpluggedAt = t.clock.now();
    t.rig.sim!.replug('can0');
    await runUntil(t, () => charger.phase === 'CC', 3600_000, 5_000);
    expect(charger.view().deliveredAh).toBeGreaterThanOrEqual(ahBefore);
    const after = sets.filter((s) => s.ts > unpluggedAt);
    // Soft re-entry: the first SET after the outage is the DETECT probe, then the ramp starts
    // below the battery voltage — never straight back to the CC setpoint at full current.
    expect(after[0]).toMatchObject({ v: 48, a: 0.2 });
    expect(after[1].v).toBeLessThan(lastCcSet.v);
    const phases = t.rig.engine.sessions.phases(charger.view().sessionId!).map((p) => p.phase);
    expect(phases).toEqual(['detect', 'ramp', 'CC', 'paused', 'detect', 'ramp', 'CC']);
  }, 120_000);

  it('stops on a PSU alarm with ERROR and standby', async () => {
    t = bigPackRig(50);
    await t.clock.advance(4000);
    const charger = t.rig.engine.charger('charger1')!;
    await charger.startCharge('api');
    await runUntil(t, () => charger.phase === 'CC', 3600_000, 10_000);
    t.rig.sim!.flatpack2.get('can0')!.injectOverTemp(SIM_PSU_SERIALS[1], 'alarm');
    await t.clock.advance(3000);
    expect(charger.phase).toBe('error');
    expect(charger.view().stopReason).toMatch(/alarm/i);
    expect(t.rig.engine.busSetpoint('can0')).toMatchObject({ standby: true });
  }, 120_000);

  it('waits in DETECT without a battery and times out with a reason', async () => {
    t = bigPackRig(50);
    t.rig.sim!.pack.connected = false;
    await t.clock.advance(4000);
    const charger = t.rig.engine.charger('charger1')!;
    await charger.startCharge('api');
    await t.clock.advance(60_000);
    expect(charger.phase).toBe('detect');
    await t.clock.advance(30 * 60_000);
    expect(charger.phase).toBe('error');
    expect(charger.view().stopReason).toMatch(/No battery detected within 30 min/);
  }, 120_000);

  it('refuses a start current above the PSU limits: typed error, nothing sent', async () => {
    t = bigPackRig(50);
    await t.clock.advance(4000);
    const charger = t.rig.engine.charger('charger1')!;
    const r = await charger.startCharge('api', 90);
    expect(r).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(charger.phase).not.toBe('detect');
    const bad = await charger.updateSettings('api', { cellVoltageMaxV: 3.7 });
    expect(bad).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    if (!bad.ok) expect(bad.message).toMatch(/cellVoltageMaxV/);
  });

  it('refuses a change of the target voltage during a running charge with CONFLICT, and allows it once stopped', async () => {
    t = bigPackRig(50);
    await t.clock.advance(4000);
    const charger = t.rig.engine.charger('charger1')!;
    expect((await charger.startCharge('api')).ok).toBe(true);
    await t.clock.advance(60_000);
    const target = charger.view().targetVoltageV;
    for (const patch of [{ cellVoltageMaxV: 3.5 }, { cellCount: 15 }]) {
      const r = await charger.updateSettings('api', patch);
      expect(r).toMatchObject({ ok: false, code: 'CONFLICT' });
      if (!r.ok) expect(r.message).toMatch(/is charging .*stop the charge first/);
    }
    expect(charger.view()).toMatchObject({ targetVoltageV: target, settings: { cellVoltageMaxV: 3.6, cellCount: 16 } });
    // A value that is wrong in itself is still OUT_OF_RANGE, whatever the state.
    expect(await charger.updateSettings('api', { cellVoltageMaxV: 3.7 })).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect((await charger.stopCharge('api', 'test')).ok).toBe(true);
    const after = await charger.updateSettings('api', { cellVoltageMaxV: 3.5 });
    expect(after.ok).toBe(true);
    expect(charger.view().targetVoltageV).toBe(56);
  });
});
