/**
 * The inverter/charger view (src/families/vebus/project.ts): the pure projection folded over
 * what the driver really observes against the simulator (memory transport, FakeClock).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AdmittedCommand } from '../../../src/families/contract.js';
import { checkVebusCommand, expandMode } from '../../../src/families/vebus/check.js';
import type { VebusCommand } from '../../../src/families/vebus/driver.js';
import { checkContextOf, flagsOf, listText, newInverterChargerView, projectInverterCharger, type InverterChargerView } from '../../../src/families/vebus/project.js';
import { vebusRig, type VebusRig } from '../../helpers/vebus-rig.js';

const rigs: VebusRig[] = [];
afterEach(async () => {
  while (rigs.length) await rigs.pop()!.close();
});
const fold = (r: VebusRig): InverterChargerView => r.obs.reduce(projectInverterCharger, newInverterChargerView('multi', 'vebus0', 'MultiPlus multi'));

describe('projectInverterCharger', () => {
  it('builds the view from the driver\'s observations: AC in → Multi → AC out, battery, state, LEDs, limit, settings', async () => {
    const r = await vebusRig();
    rigs.push(r);
    await r.start();
    await r.until(() => r.readings().length > 0, 'a reading');
    const v = fold(r);
    expect(v).toMatchObject({
      online: true,
      session: 'ready',
      mkVersion: 1170212,
      firmware: 2629492,
      battery: { voltageV: 52.8, currentA: 10, chargerCurrentA: 10, inverterCurrentA: 0, socPct: 75 },
      ac: [{ phase: 1, inVoltageV: 230.12, inCurrentA: 3.63, outVoltageV: 230.05, outCurrentA: 1.2 }],
      state: 'charge',
      chargeSubState: 'bulk',
      leds: { mains: 'on', bulk: 'on', inverter: 'off' },
      alarms: [],
      vebusError: 0,
      currentLimit: { actualA: 16, minA: 3, maxA: 50, settable: true },
    });
    expect(v.settings[6]).toMatchObject({ name: 'I_MAINS_LIMIT', raw: 160, value: 16, effective: 16, defaultValue: 16, min: 3, max: 50, ramOnly: null });
    expect(v.settings[0]).toMatchObject({ raw: 0x81b4, min: null, max: null });
    expect(v.ramVars[13]).toMatchObject({ name: 'CHARGE_STATE', value: 0.75, info: { scale: 0x7f38 } });
    expect(v.ramVars[11]!.value).toBe(false);
    expect(flagsOf(v).find((f) => f.name === 'DISABLE_CHARGE')).toEqual({ flag: 6, name: 'DISABLE_CHARGE', stored: false, effective: false, supported: true });
  });

  it('a mode switch through the gate shows as RAM-only values in force, the stored ones unchanged', async () => {
    const r = await vebusRig();
    rigs.push(r);
    await r.start();
    await r.until(() => r.readings().length > 0, 'a reading');
    const ctx = checkContextOf(fold(r));
    const expanded = expandMode('prefer-battery');
    if (!expanded.ok) throw new Error(expanded.message);
    const admitted = checkVebusCommand(expanded.command, ctx);
    if (!admitted.ok) throw new Error(admitted.message);
    const res = await r.run(r.driver.execute(admitted.value as AdmittedCommand<VebusCommand>));
    expect(res.ok).toBe(true);
    const n = r.readings().length;
    await r.until(() => r.readings().length > n, 'a reading after the mode');
    const v = fold(r);
    expect(v.settings[15]).toMatchObject({ value: 1, ramOnly: { value: 3 }, effective: 3 });
    expect(flagsOf(v).find((f) => f.flag === 6)).toMatchObject({ stored: false, effective: true });
    // The seed's --list text: stored values, RAM-only ones marked.
    const list = listText(v);
    expect(list).toContain('    CHARGE_STATE: unsigned value=0.75 scale=0.005 offset=0');
    expect(list).toContain('    IBAT: signed value=');
    expect(list).toContain('    IGNORE_AC_INPUT_STATE: bit value=true bit=4');
    expect(list).toContain('    VS_USAGE: value=1 (RAM only: 3) default=1 min=0 max=6 scale=1 offset=0');
    expect(list).toContain('    DISABLE_CHARGE: value=False (RAM only: true)');
    expect(list.split('\n')[0]).toBe('RAM vars:');
    expect(v.state).toBe('invert_full');
    expect(v.leds).toMatchObject({ mains: 'off', inverter: 'on' });
    expect(v.battery.currentA!).toBeLessThan(0);
    // After silence the Multi may have restarted: the view no longer claims the RAM values.
    const off = projectInverterCharger(v, { type: 'fact', at: 0, deviceId: 'multi', fact: { kind: 'session', state: 'offline', detail: 'silent' } });
    expect(off.settings[15]).toMatchObject({ ramOnly: null, effective: 1 });
  });

  it('presence and readings move online and lastSeen; other observations leave the view as it is', () => {
    const v0 = newInverterChargerView('multi', 'vebus0', 'MultiPlus multi');
    const v1 = projectInverterCharger(v0, { type: 'presence', at: 5, deviceId: 'multi', online: true, identity: { mkVersion: 1, firmware: 2 } });
    expect(v1).toMatchObject({ online: true, lastSeen: 5, mkVersion: 1, firmware: 2 });
    const v2 = projectInverterCharger(v1, { type: 'presence', at: 9, deviceId: 'multi', online: false, reason: 'gone' });
    expect(v2).toMatchObject({ online: false, lastSeen: 5 });
    expect(projectInverterCharger(v2, { type: 'link', at: 10, state: 'down', detail: 'x' })).toBe(v2);
  });
});
