/** The family registry: lazy loading by kind, and the rig building each bus's families from it. */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { familyKinds, kindsIn, loadFamilies } from '../../src/families/registry.js';
import { buildRig, simulatedConfig } from '../../src/rig.js';
import { parseConfig } from '../../src/config/load.js';
import { settingFrame } from '../../src/families/can/waveshare.js';
import { hex } from '../../src/families/can/types.js';
import { Store } from '../../src/store/store.js';
import { tempDbPath } from '../helpers/rig.js';

describe('family registry', () => {
  it('lists flatpack2, bms, openevse, pi18 and vebus, each module declaring its own kind', async () => {
    expect(familyKinds).toEqual(['flatpack2', 'bms', 'openevse', 'pi18', 'vebus']);
    const all = await loadFamilies();
    expect([...all.keys()]).toEqual(['flatpack2', 'bms', 'openevse', 'pi18', 'vebus']);
    for (const [kind, family] of all) expect(family.kind).toBe(kind);
  });

  it('loads only the kinds asked for, and a config asks only for the families its buses name', async () => {
    expect(kindsIn(simulatedConfig({ bms: false }))).toEqual(['flatpack2']);
    expect(kindsIn(simulatedConfig({ bms: true }))).toEqual(['flatpack2', 'bms']);
    expect(kindsIn(simulatedConfig({ bms: true, inverters: true }))).toEqual(['flatpack2', 'bms', 'pi18']);
    const some = await loadFamilies(kindsIn(simulatedConfig({ bms: false })));
    expect(kindsIn(simulatedConfig({ bms: true, vebus: true }))).toEqual(['flatpack2', 'bms', 'vebus']);
    expect([...some.keys()]).toEqual(['flatpack2']);
  });

  it('the rig refuses, naming bus and family, to build a bus whose family was not loaded', async () => {
    const store = Store.open({ path: tempDbPath('pp-reg-') });
    try {
      const families = await loadFamilies(['flatpack2']);
      expect(() => buildRig({ config: simulatedConfig({ bms: true }), clock: new FakeClock(), store, log: silentLogger(), simulated: true, families })).toThrow(
        /link can1 has a bms section but the bms family was not loaded/,
      );
    } finally {
      store.close();
    }
  });

  it('the rig builds one simulator per family section, on its bus', async () => {
    const store = Store.open({ path: tempDbPath('pp-reg-') });
    try {
      const rig = buildRig({ config: simulatedConfig({ bms: true, evse: true, inverters: true, vebus: true }), clock: new FakeClock(), store, log: silentLogger(), simulated: true, families: await loadFamilies() });
      expect([...rig.sim!.flatpack2.keys()]).toEqual(['can0']);
      expect([...rig.sim!.bms.keys()]).toEqual(['can1']);
      expect([...rig.sim!.openevse.keys()]).toEqual(['evse']);
      expect([...rig.sim!.pi18.keys()]).toEqual(['inv0', 'inv1']);
      expect([...rig.sim!.vebus.keys()]).toEqual(['vebus0']);
      expect([...rig.links.keys()]).toEqual(['can0', 'can1', 'evse', 'inv0', 'inv1', 'vebus0']);
    } finally {
      store.close();
    }
  });

  it('an adapter whose config names no frame type gets the one its family speaks (bms: standard, flatpack2: extended)', async () => {
    const store = Store.open({ path: tempDbPath('pp-reg-') });
    const clock = new FakeClock();
    const config = parseConfig({
      buses: [
        { id: 'can0', adapter: { path: 'simulated', autodetect: false, bitrate: 125000, framing: 'fixed' }, flatpack2: { psus: {} } },
        { id: 'can1', adapter: { path: 'simulated', autodetect: false, bitrate: 500000, framing: 'fixed' }, bms: { id: 'bms0', name: 'BMS', dialect: 'deye' } },
      ],
    });
    const rig = buildRig({ config, clock, store, log: silentLogger(), simulated: true, families: await loadFamilies() });
    const written = new Map<string, string[]>();
    for (const id of ['can0', 'can1']) {
      written.set(id, []);
      rig.sim!.hostEnds.get(id)!.device.onData((chunk) => written.get(id)!.push(hex(chunk)));
    }
    try {
      rig.start();
      for (let i = 0; i < 20 && (written.get('can0')!.length === 0 || written.get('can1')!.length === 0); i++) await clock.advance(50);
      expect(written.get('can0')!.join(' ')).toContain(hex(settingFrame({ framing: 'fixed', bitrate: 125000, frameType: 'extended' })));
      expect(written.get('can1')!.join(' ')).toContain(hex(settingFrame({ framing: 'fixed', bitrate: 500000, frameType: 'standard' })));
    } finally {
      await rig.stop();
      store.close();
    }
  });
});
