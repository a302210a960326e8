/**
 * The PI18 family's wiring (src/families/pi18/family.ts, config.ts): the config section, the
 * family's own transport for a HID link without a path (find the unit by serial), and the
 * gate's page for a profile apply (every step checked together on the merged state).
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import { parseConfig } from '../../../src/config/load.js';
import { checkPi18FamilyCommand, family } from '../../../src/families/pi18/family.js';
import { pi18Schema } from '../../../src/families/pi18/config.js';
import { emptyInverterView } from '../../../src/families/pi18/project.js';
import { defaultPiri } from '../../../src/families/pi18/sim.js';
import { planProfile } from '../../../src/families/pi18/profile.js';

const cfg = pi18Schema.parse({ serial: '96142109100037' });

describe('PI18 family wiring', () => {
  it('a link config: one unit by serial on a hid or serial transport; a CAN transport is refused', () => {
    const c = parseConfig({
      links: [
        { id: 'inv0', transport: { type: 'hid' }, pi18: { serial: '96142109100037', name: 'Master' } },
        { id: 'inv1', transport: { type: 'serial', path: '/dev/ttyUSB3', baudRate: 2400 }, pi18: { serial: '96142408100255', statusMs: 3000 } },
      ],
    });
    expect(c.links.map((l) => (l as { pi18?: { serial: string } }).pi18?.serial)).toEqual(['96142109100037', '96142408100255']);
    expect(() => parseConfig({ links: [{ id: 'inv0', transport: { path: '/dev/ttyUSB0' }, pi18: { serial: '96142109100037' } }] })).toThrow(/pi18 is not a CAN device: give it a serial, hid or tcp transport/);
    expect(() => parseConfig({ links: [{ id: 'inv0', transport: { type: 'hid' }, pi18: { serial: 'abc' } }] })).toThrow(/inverter serials are the digits ID reports/);
  });

  it('a HID link without a path gets the probe-by-serial transport; with a path or on serial, the default', async () => {
    const clock = new FakeClock();
    expect(family.transportFactory({ transport: { type: 'hid', path: '/dev/hidraw3' }, cfg, clock })).toBeNull();
    expect(family.transportFactory({ transport: { type: 'serial', path: '/dev/ttyUSB0' }, cfg, clock })).toBeNull();
    const f = family.transportFactory({ transport: { type: 'hid', usbId: '0665:5161' }, cfg, clock });
    expect(f).not.toBeNull();
    // No inverter on this machine: the attempt fails naming the serial it looked for (or why node-hid could not list).
    await expect(f!()).rejects.toThrow(/96142109100037/);
  });

  it('the gate refuses an apply without confirm, for another serial, on an active fault, and lists every violation on the merged state', () => {
    const piri = defaultPiri();
    const view = { ...emptyInverterView('inv-master', 'inv0', 'Master'), online: true, serial: '96142109100037', settings: piri, batteryRatedVoltageV: 48, faultCode: 0 };
    const p = planProfile({ max_charging_current: 30, max_utility_charging_current: 20 }, piri, { serial: '96142109100037' });
    if (!p.ok) throw new Error('plan');
    const cmd = (over: object = {}) => ({ op: 'apply' as const, plan: p.plan, confirm: true, out: { report: null }, ...over });
    expect(checkPi18FamilyCommand(cmd(), { device: view }).ok).toBe(true);
    expect(checkPi18FamilyCommand(cmd({ confirm: false }), { device: view })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(checkPi18FamilyCommand(cmd(), { device: { ...view, serial: '96142408100255' } })).toMatchObject({ ok: false, code: 'CONFLICT', message: expect.stringMatching(/plan was made for 96142109100037/) });
    expect(checkPi18FamilyCommand(cmd(), { device: { ...view, faultCode: 86, faultText: 'Parallel output setting different' } })).toMatchObject({ ok: false, code: 'CONFLICT' });
    // The unit's settings changed since the plan so that the plan's steps break the rules on the merged state.
    const moved = { ...view, settings: { ...piri, maxChargingCurrentA: 10 }, currentSteps: { charge: [10, 20], utility: [2, 10] } };
    const r = checkPi18FamilyCommand(cmd(), { device: moved });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message.split('; ').length).toBeGreaterThanOrEqual(2);
  });
});
