/**
 * The whole Flatpack2 path over a REAL pseudo-terminal pair: the rig built from a hardware
 * config opens pty side a with `serialport` (as it would /dev/ttyUSB0); side b carries the
 * adapter simulator, a simulated CAN bus and two simulated PSUs feeding a pack.
 */
import type { CanAdapterLink } from '../../../src/families/can/adapter.js';
import type { Flatpack2PsuView } from '../../../src/families/flatpack2/view.js';
import { afterEach, describe, expect, it } from 'vitest';
import { RealClock } from '../../../src/clock.js';
import { silentLogger } from '../../../src/log.js';
import { buildRig, type Rig } from '../../../src/rig.js';
import { families } from '../../helpers/families.js';
import { parseConfig } from '../../../src/config/load.js';
import { Store } from '../../../src/store/store.js';
import { SerialTransport } from '../../../src/link/transports/serial.js';
import { WaveshareAdapterSim } from '../../../src/families/can/adapter-sim.js';
import { CanBusSim } from '../../../src/families/can/bus-sim.js';
import { Flatpack2Sim } from '../../../src/families/flatpack2/sim.js';
import { LiFePO4Pack } from '../../../src/sim/lifepo4-pack.js';
import { openPtyPair } from '../../helpers/pty-pair.js';
import { tempDbPath } from '../../helpers/rig.js';
import { startServer } from '../../../src/server.js';
import { waitFor } from '../../helpers/server.js';

const SERIALS = ['192750001639', '163850019608'];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await Promise.resolve(cleanups.pop()!()).catch(() => undefined);
});

function hardwareRig(path: string, framing: 'variable' | 'fixed'): { rig: Rig; store: Store } {
  const store = Store.open({ path: tempDbPath('pp-pty-') });
  const config = parseConfig({
    buses: [{ id: 'can0', adapter: { path, autodetect: false, framing, bitrate: 125000 }, flatpack2: { psus: { [SERIALS[0]]: { name: 'Left' } } } }],
  });
  const rig = buildRig({ config, clock: new RealClock(), store, log: silentLogger(), simulated: false, families });
  rig.start();
  cleanups.push(async () => {
    await rig.stop();
    store.close();
  });
  return { rig, store };
}

describe('Flatpack2 over a real pseudo-terminal with serialport', () => {
  for (const framing of ['variable', 'fixed'] as const) {
    it(`discovers both PSUs, keeps them logged in and sets their output (${framing} framing)`, async () => {
      const pair = await openPtyPair();
      cleanups.push(() => pair.close());
      const clock = new RealClock();
      const device = new SerialTransport({ path: pair.b, baudRate: 2_000_000 });
      await device.open();
      const bus = new CanBusSim({ bitrate: 125_000 });
      const adapter = new WaveshareAdapterSim({ transport: device, bus });
      adapter.start();
      const pack = new LiFePO4Pack({ cells: 16, capacityAh: 100, socPct: 30, internalResistanceOhm: 0.02 });
      let sim: Flatpack2Sim | null = null;
      const node = bus.attach('psus', (f) => sim?.receive(f));
      sim = new Flatpack2Sim({ clock, send: (f) => node.send(f), pack, psus: SERIALS.map((serial) => ({ serial })) });
      sim.start();
      cleanups.push(async () => {
        sim!.stop();
        adapter.stop();
        await device.close();
      });

      const { rig, store } = hardwareRig(pair.a, framing);
      await waitFor(() => rig.engine.listDevices().filter((d) => d.online).length === 2, 'both PSUs online over the pty', 15_000);
      // The adapter learnt the framing from the setting frame the link sent.
      expect(adapter.config).toMatchObject({ framing, bitrate: 125_000 });
      expect(rig.engine.device(`fp2-${SERIALS[0]}`)!.name).toBe('Left');

      const r = await rig.engine.setPsuOutput('api', 'all', { voltageV: 53.2, currentA: 6 });
      expect(r).toMatchObject({ ok: true, sent: true });
      await waitFor(() => Math.abs(sim!.psu(SERIALS[1]).setVoltageV - 53.2) < 0.005, 'the simulated PSU to take the SET', 5000);
      expect(sim.psu(SERIALS[0]).currentLimitA).toBeCloseTo(6, 1);
      await waitFor(() => (rig.engine.device<Flatpack2PsuView>(`fp2-${SERIALS[0]}`)!.outputCurrentA ?? 0) > 5, 'current to follow', 15_000);
      store.flush();
      expect(store.listFrames({ dir: 'tx', kind: 'login' }, 1).items.length).toBe(1);
      expect(store.listFrames({ dir: 'rx', kind: 'status' }, 1).items.length).toBe(1);
      expect((rig.links.get('can0') as CanAdapterLink).stats.badChecksum + (rig.links.get('can0') as CanAdapterLink).stats.badTerminator).toBe(0);
    });
  }

  it('keeps serving with a missing adapter, reports it down, and retries', async () => {
    const { rig } = hardwareRig('/dev/ttyUSB-powerplane-missing', 'variable');
    const server = await startServer({ engine: rig.engine, log: silentLogger(), host: '127.0.0.1', port: 0 });
    cleanups.push(() => server.close());
    await waitFor(() => (rig.links.get('can0') as CanAdapterLink).state === 'down', 'link down', 5000);
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ buses { id linkState linkDetail } }' }),
    });
    const body = (await res.json()) as { data: { buses: Array<{ linkState: string; linkDetail: string }> } };
    expect(body.data.buses[0].linkState).toBe('down');
    expect(body.data.buses[0].linkDetail).toMatch(/ttyUSB-powerplane-missing/);
    const set = await rig.engine.setPsuOutput('api', 'all', { voltageV: 50, currentA: 5 });
    expect(set.ok).toBe(false);
    await waitFor(() => (rig.links.get('can0') as CanAdapterLink).stats.reconnects >= 1, 'a retry', 5000);
  });
});
