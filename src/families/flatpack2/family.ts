/** The Flatpack2 rectifier family: what the rig needs to build its driver and simulator. */
import type { Flatpack2Config } from '../../config/schema.js';
import type { DeviceFamily } from '../types.js';
import { Flatpack2Driver } from './driver.js';
import { Flatpack2Sim } from './sim.js';

export const family = {
  kind: 'flatpack2',
  carrier: 'can',
  defaultFrameType: 'extended',
  configOf: (bus) => bus.flatpack2,
  attach({ busId, link, clock, cfg, engine, stats }) {
    const driver = new Flatpack2Driver({
      link,
      clock,
      keepAliveMs: cfg.keepAliveMs,
      statusTimeoutMs: cfg.statusTimeoutMs,
      linkWatchdogMs: cfg.linkWatchdogMs,
      knownAddresses: engine.knownAddresses(busId),
    });
    engine.addFlatpack2Bus(busId, driver, cfg, stats);
  },
  createSim({ clock, canBus, pack, cfg }) {
    const serials = Object.keys(cfg.psus);
    let sim: Flatpack2Sim | null = null;
    const node = canBus.attach('flatpack2-sim', (f) => sim?.receive(f));
    sim = new Flatpack2Sim({ clock, send: (f) => node.send(f), pack, psus: serials.map((serial) => ({ serial })) });
    return sim;
  },
} as const satisfies DeviceFamily<Flatpack2Config, Flatpack2Sim>;
