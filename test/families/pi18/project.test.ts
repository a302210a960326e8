/**
 * The inverter view: the projection of a driver's observations (from the simulator behind a fake
 * HID device), for a single unit and for a parallel pair.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { emptyInverterView, projectInverter, type InverterView } from '../../../src/families/pi18/project.js';
import { hidPair, hidUnit, type Pi18Unit } from '../../helpers/pi18-rig.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function viewOf(u: Pi18Unit): InverterView {
  return u.obs.reduce(projectInverter, emptyInverterView(u.link.id));
}

describe('projectInverter', () => {
  it('builds the view of a single unit: identity, readings, settings, role, faults in words', async () => {
    const u = await hidUnit();
    cleanups.push(() => u.stop());
    await u.clock.advance(100);
    let v = viewOf(u);
    expect(v).toMatchObject({
      kind: 'pi18',
      id: 'lvx-1',
      busId: 'lvx-1',
      lastSeen: expect.any(Number),
      online: true,
      serial: '96142109100037',
      firmware: { main: '05220' },
      batteryRatedVoltageV: 48,
      mode: 'hybrid',
      parallelIndex: 0,
      role: 'single',
      faultCode: 0,
      faultText: 'no fault',
      activeFlags: [],
      currentSteps: { charge: [10, 20, 30, 40, 50, 60, 70, 80] },
    });
    expect(v.readings).toMatchObject({ batteryVoltageV: 52.8, pvPowerW: 2460 });
    expect(v.settings).toMatchObject({ cutoffVoltageV: 44 });
    u.sim.setFault(86);
    u.sim.warnings.overload = true;
    await u.clock.advance(10_000);
    v = viewOf(u);
    expect(v.faultText).toBe('parallel output setting different');
    expect(v.mode).toBe('fault');
    expect(v.activeFlags).toEqual(
      expect.arrayContaining([
        { group: 'fault', name: 'fault_86', text: 'parallel output setting different' },
        { group: 'warning', name: 'overload', text: 'overload' },
      ]),
    );
  });

  it('frame records and other devices leave the view as it is (same object)', () => {
    const v = emptyInverterView('lvx-1');
    const frame = { protocol: 'pi18', dir: 'tx' as const, address: null, bytes: new Uint8Array(1), text: null, kind: 'GS', deviceId: 'lvx-1' };
    expect(projectInverter(v, { type: 'frame', at: 0, frame })).toBe(v);
    expect(projectInverter(v, { type: 'reading', at: 0, deviceId: 'lvx-2', values: {} })).toBe(v);
  });

  it('a parallel pair: master and slave roles from output mode and GS #28; offline with its reason', async () => {
    const [a, b] = await hidPair();
    cleanups.push(() => a.stop(), () => b.stop());
    await a.clock.advance(100);
    expect(viewOf(a)).toMatchObject({ role: 'master', parallelIndex: 0, online: true });
    expect(viewOf(b)).toMatchObject({ role: 'slave', parallelIndex: 1, online: true, serial: '96142408100255' });
    b.sim.script.always('drop-reply');
    await a.clock.advance(60_000);
    expect(viewOf(b)).toMatchObject({ online: false, offlineReason: expect.stringMatching(/no valid reply/) });
    expect(viewOf(a).online).toBe(true);
  });
});
