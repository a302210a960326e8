/**
 * Issue 8: the charger and restore stay safe under faults — each defect the review observed,
 * reproduced on the simulated rig with a server that can be SIGKILLed and restarted over the
 * same database while the simulated PSUs and pack keep running.
 */
import type { Flatpack2PsuView } from '../../src/families/flatpack2/view.js';
import { afterEach, describe, expect, it } from 'vitest';
import { makeCrashableRig, type CrashableRig } from '../helpers/crash-rig.js';
import { tempDbPath } from '../helpers/rig.js';
import { simulatedConfig, SIM_PSU_SERIALS } from '../../src/rig.js';
import { decodeFp2 } from '../../src/families/flatpack2/codec.js';
import { FLATPACK2_STANDBY } from '../../src/families/flatpack2/limits.js';
import { parseConfig } from '../../src/config/load.js';
import type { PowerplaneConfig } from '../../src/config/schema.js';
import type { ChargerSettings } from '../../src/engine/charger/settings.js';

const [A, B] = SIM_PSU_SERIALS;
const CHARGE_A = 30;
let t: CrashableRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

function config(settings: Partial<ChargerSettings> = {}, dbPath = tempDbPath('pp-fault-')): PowerplaneConfig {
  const c = simulatedConfig({ port: 0, dbPath, bms: false, vebus: false });
  c.chargers[0].settings = { ...c.chargers[0].settings, capacityAh: 400, chargeCurrentA: CHARGE_A, tailCurrentA: 3, ...settings };
  return c;
}

function rig(settings: Partial<ChargerSettings> = {}): CrashableRig {
  const c = config(settings);
  return makeCrashableRig({ config: c, dbPath: c.database.path, pack: { socPct: 30, capacityAh: 400 } });
}

/** Every SET on the simulated CAN bus, whichever server process sent it. */
function spySets(r: CrashableRig): Array<{ ts: number; voltageV: number; currentA: number }> {
  const sets: Array<{ ts: number; voltageV: number; currentA: number }> = [];
  r.hw.parts.canBuses.get('can0')!.attach('spy', (f) => {
    const m = decodeFp2(f);
    if (m.kind === 'set') sets.push({ ts: r.clock.now(), voltageV: m.voltageV, currentA: m.currentA ?? Infinity });
  });
  return sets;
}

const fp2 = (r: CrashableRig) => r.hw.parts.flatpack2.get('can0')!;
const charger = (r: CrashableRig) => r.rig.engine.charger('charger1')!;
const isStandby = (s: { voltageV: number; currentA: number }) => s.voltageV === FLATPACK2_STANDBY.voltageV && s.currentA === FLATPACK2_STANDBY.currentA;

async function until(r: CrashableRig, cond: () => boolean, maxMs: number, stepMs = 1000): Promise<void> {
  for (let done = 0; done < maxMs && !cond(); done += stepMs) await r.clock.advance(stepMs);
}

async function chargeToCC(r: CrashableRig): Promise<void> {
  await r.clock.advance(4000);
  const res = await charger(r).startCharge('api');
  expect(res.ok).toBe(true);
  await until(r, () => charger(r).phase === 'CC', 3600_000, 5000);
  expect(charger(r).phase).toBe('CC');
  await r.clock.advance(30_000);
}

/**
 * SIGKILL, then a new server process on the same database; returns how many SETs the bus had
 * seen before the restart (bytes the dead process had written still reach the bus first).
 */
async function crashAndRestart(r: CrashableRig, sets: unknown[], config?: PowerplaneConfig): Promise<number> {
  r.crash();
  await new Promise((res) => setImmediate(res));
  const before = sets.length;
  r.restart(config);
  return before;
}

/** What the logged-in PSUs may deliver together: per-unit limit × every unit that obeys. */
function deliverableA(r: CrashableRig): number {
  return SIM_PSU_SERIALS.map((s) => fp2(r).psu(s)).filter((p) => p.present && p.loggedIn).reduce((a, p) => a + p.currentLimitA, 0);
}

describe('issue 8: charger and restore under faults', () => {
  it('defect 8.1: a resume after a crash shares the current over every PSU that obeys the broadcast, including one that returns late', async () => {
    t = rig();
    await chargeToCC(t);
    t.crash();
    fp2(t).setPresent(B, false); // B is away while the server restarts
    await t.clock.advance(1000);
    t.restart();
    await until(t, () => charger(t!).phase === 'CC', 3600_000, 2000);
    expect(charger(t).phase).toBe('CC');
    fp2(t).setPresent(B, true); // B comes back into the running, resumed session
    let worstA = 0;
    let worstDeliverable = 0;
    for (let i = 0; i < 120; i++) {
      await t.clock.advance(1000);
      worstA = Math.max(worstA, fp2(t).totalCurrentA);
      worstDeliverable = Math.max(worstDeliverable, deliverableA(t));
    }
    expect(fp2(t).psu(B).loggedIn).toBe(true);
    expect(worstDeliverable).toBeLessThanOrEqual(CHARGE_A + 1e-9);
    expect(worstA).toBeLessThanOrEqual(CHARGE_A + 0.5);
    expect(charger(t).view().psuIds).toHaveLength(2);
  }, 120_000);

  it('defect 8.2: a stop and a standby pressed while the adapter is unplugged are not undone on reconnect', async () => {
    t = rig();
    const sets = spySets(t);
    await chargeToCC(t);
    t.hw.parts.unplug('can0');
    await t.clock.advance(2000);
    const stop = await charger(t).stopCharge('api', 'User stop (API)');
    expect(stop.ok).toBe(true);
    const sb = await t.rig.engine.standby('api', `fp2-${A}`);
    expect(sb).toMatchObject({ ok: true, sent: false });
    expect(t.rig.engine.busSetpoint('can0')).toMatchObject({ standby: true });
    const replugAt = t.clock.now();
    t.hw.parts.replug('can0');
    await t.clock.advance(60_000);
    const after = sets.filter((s) => s.ts >= replugAt);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every(isStandby)).toBe(true);
    for (const s of SIM_PSU_SERIALS) expect(fp2(t).psu(s)).toMatchObject({ setVoltageV: 48, currentLimitA: 0.1 });
  }, 120_000);

  it('defect 8.3: autoStart off in the config — a crashed session is closed and restore does not re-arm the charging setpoint', async () => {
    t = rig();
    const sets = spySets(t);
    await chargeToCC(t);
    const before = await crashAndRestart(t, sets, config({ autoStart: false }, t.dbPath));
    await t.clock.advance(60_000);
    expect(charger(t).activeSessionId).toBeNull();
    expect(charger(t).phase).not.toMatch(/detect|ramp|CC|CV/);
    const after = sets.slice(before);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every(isStandby)).toBe(true);
    expect(fp2(t).totalCurrentA).toBeLessThan(1);
  }, 120_000);

  it('defect 8.3: autoStart off set through updateChargerSettings is honoured after a crash', async () => {
    t = rig();
    const sets = spySets(t);
    await chargeToCC(t);
    expect((await charger(t).updateSettings('api', { autoStart: false })).ok).toBe(true);
    const before = await crashAndRestart(t, sets);
    await t.clock.advance(60_000);
    expect(charger(t).activeSessionId).toBeNull();
    expect(sets.slice(before).length).toBeGreaterThan(0);
    expect(sets.slice(before).every(isStandby)).toBe(true);
  }, 120_000);

  it('defect 8.4: the first setpoint after a crash resume is the soft-start probe, never the old charging setpoint', async () => {
    t = rig();
    const sets = spySets(t);
    await chargeToCC(t);
    const before = await crashAndRestart(t, sets);
    await until(t, () => charger(t!).phase === 'ramp' || charger(t!).phase === 'CC', 600_000);
    const after = sets.slice(before);
    expect(after.length).toBeGreaterThan(0);
    const s = t.rig.engine.charger('charger1')!.view().settings;
    expect(after[0]).toMatchObject({ voltageV: s.detectVoltageV, currentA: s.detectCurrentA });
  }, 120_000);

  it('defect 8.1: a resume whose current needs a rectifier that did not come back ends the session in ERROR and leaves standby', async () => {
    t = rig();
    await t.clock.advance(5000);
    expect((await charger(t).startCharge('api', 48)).ok).toBe(true); // 2 × 24 A
    await until(t, () => charger(t!).phase === 'CC', 600_000, 5000);
    const session = charger(t).view().sessionId!;
    t.crash();
    fp2(t).setPresent(B, false);
    await t.clock.advance(20_000); // B gone for good; A's login lapsed: fallback
    t.restart();
    await t.clock.advance(10_000);
    expect(charger(t).phase).toBe('error');
    expect(charger(t).view().stopReason).toMatch(/could not resume after a restart: .*48\.0 A exceeds what 1 PSU/);
    expect(t.rig.engine.sessions.get(session)).toMatchObject({ outcome: 'error' });
    expect(fp2(t).psu(A)).toMatchObject({ loggedIn: true, setVoltageV: 48, currentLimitA: 0.1 });
  }, 120_000);

  it.each([
    ['safetyTimeLimitMin', 1e308],
    ['disconnectDetectTimeS', 1e308],
    ['detectTimeoutMin', 1e308],
    ['rampStepIntervalS', 1e308],
    ['tailCurrentA', 1e-9],
    ['minCurrentDetectA', 1e308],
  ] as const)('defect 8.5: updateChargerSettings and the config refuse %s = %s (it would switch a safety function off)', async (key, value) => {
    t = rig();
    const r = await charger(t).updateSettings('api', { [key]: value });
    expect(r).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    if (!r.ok) expect(r.message).toContain(key);
    expect(charger(t).view().settings[key]).not.toBe(value);
    const c = config();
    expect(() =>
      parseConfig({ ...c, chargers: [{ ...c.chargers[0], settings: { ...c.chargers[0].settings, [key]: value } }] } as unknown, 'test'),
    ).toThrow(new RegExp(`chargers\\.0\\.settings\\.${key}`));
  });

  it('defect 8.10: an offline PSU shows no live readings, and a standby while it is offline is applied when it returns', async () => {
    t = rig();
    await t.clock.advance(4000);
    const sp = await t.rig.engine.setPsuOutput('api', `fp2-${A}`, { voltageV: 54, currentA: 10 });
    expect(sp.ok).toBe(true);
    await t.clock.advance(5000);
    t.hw.parts.unplug('can0');
    await t.clock.advance(3000);
    const d = t.rig.engine.device<Flatpack2PsuView>(`fp2-${A}`)!;
    expect(d.online).toBe(false);
    expect(d).toMatchObject({ state: 'offline', outputVoltageV: null, outputCurrentA: null, outputPowerW: null });
    expect(d.lastReading?.outputVoltageV).toBeGreaterThan(40);
    const sb = await t.rig.engine.standby('api', `fp2-${A}`);
    expect(sb).toMatchObject({ ok: true, sent: false });
    t.hw.parts.replug('can0');
    await t.clock.advance(30_000);
    for (const s of SIM_PSU_SERIALS) expect(fp2(t).psu(s)).toMatchObject({ setVoltageV: 48, currentLimitA: 0.1 });
  }, 120_000);
});

describe('issue 8: the fallback voltage when nothing supervises the PSUs', () => {
  it('a charger bus keeps its PSUs at 43.5 V fallback: unplugged mid-charge, no current flows into the pack', async () => {
    t = rig();
    await chargeToCC(t);
    for (const s of SIM_PSU_SERIALS) expect(fp2(t).psu(s).defaultVoltageV).toBeCloseTo(43.5, 2);
    expect(charger(t).view().fallback).toEqual({ voltageV: 43.5, confirmed: true, pendingIds: [] });
    t.hw.parts.unplug('can0');
    await t.clock.advance(20_000); // logins lapse after ~12.8 s
    expect(SIM_PSU_SERIALS.every((s) => !fp2(t!).psu(s).loggedIn)).toBe(true);
    expect(fp2(t).totalCurrentA).toBeLessThan(0.5); // the original let 56.9 A flow here
  }, 120_000);

  it('writes the EEPROM only when the acknowledged value differs (a restart writes nothing)', async () => {
    t = rig();
    const writes: number[] = [];
    t.hw.parts.canBuses.get('can0')!.attach('spy-eeprom', (f) => {
      const m = decodeFp2(f);
      if (m.kind === 'default-voltage' && !m.ack) writes.push(m.voltageV);
    });
    await t.clock.advance(5000);
    expect(writes).toEqual([43.5, 43.5]);
    t.crash();
    t.restart();
    await t.clock.advance(10_000);
    expect(writes).toHaveLength(2);
    expect(charger(t).view().fallback.confirmed).toBe(true);
  });

  it('a start is refused until every PSU confirmed the fallback voltage', async () => {
    t = rig();
    await t.clock.advance(5000);
    // As if B's acknowledgement had been lost: its EEPROM value is not known to be safe.
    t.rig.engine.device<Flatpack2PsuView>(`fp2-${B}`)!.fallbackAckV = null;
    const early = await charger(t).startCharge('api');
    expect(early).toMatchObject({ ok: false, code: 'FALLBACK_PENDING' });
    if (!early.ok) expect(early.message).toMatch(/43\.50 V/);
    expect(charger(t).phase).toBe('idle');
    await t.clock.advance(6000); // the write is retried and acknowledged
    expect(charger(t).view().fallback.confirmed).toBe(true);
    expect((await charger(t).startCharge('api')).ok).toBe(true);
  });

  it('the config refuses a fallback above a LiFePO4 float and explains the full-current consequence; a DC-load float is accepted', () => {
    const c = config();
    const withFb = (v: number) => ({ ...c, links: [{ ...c.links[0], flatpack2: { ...c.links[0].flatpack2!, fallbackVoltageV: v } }] }) as unknown;
    expect(() => parseConfig(withFb(55), 'test')).toThrow(/links\.0\.flatpack2\.fallbackVoltageV: .*above a LiFePO4 float of 3\.40 V × 16 cells = 54\.40 V.*full current/);
    expect(parseConfig(withFb(53.6), 'test').links[0].flatpack2!.fallbackVoltageV).toBe(53.6);
  });
});
