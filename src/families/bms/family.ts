/** The BMS family (Deye/Pylontech CAN): what the rig needs to build its driver and simulator. */
import type { BmsConfig } from '../../config/schema.js';
import type { DeviceFamily } from '../types.js';
import { BmsDriver } from './driver.js';
import { BmsSim } from './sim.js';

export const family = {
  kind: 'bms',
  carrier: 'can',
  defaultFrameType: 'standard',
  configOf: (bus) => bus.bms,
  attach({ busId, link, clock, cfg, engine, stats }) {
    const driver = new BmsDriver({ link, clock, dialect: cfg.dialect, offlineAfterMs: cfg.offlineAfterMs, heartbeatMs: cfg.heartbeatMs ?? null });
    engine.addBmsBus(busId, driver, cfg, stats);
  },
  createSim({ clock, canBus, pack, cfg }) {
    let sim: BmsSim | null = null;
    const node = canBus.attach('bms-sim', (f) => sim?.receive(f));
    sim = new BmsSim({ clock, send: (f) => node.send(f), pack, dialect: cfg.dialect });
    return sim;
  },
} as const satisfies DeviceFamily<BmsConfig, BmsSim>;
