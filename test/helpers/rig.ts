/** A simulated rig on a FakeClock with a real SQLite file, for engine and driver tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { buildRig, simulatedConfig, type Rig } from '../../src/rig.js';
import { families } from './families.js';
import { Store } from '../../src/store/store.js';
import type { PowerplaneConfig } from '../../src/config/schema.js';

export interface TestRig {
  rig: Rig;
  clock: FakeClock;
  store: Store;
  dbPath: string;
  logs: string[];
  config: PowerplaneConfig;
  stop(): Promise<void>;
}

export function tempDbPath(prefix = 'pp-'): string {
  return join(mkdtempSync(join(tmpdir(), prefix)), 'powerplane.db');
}

export function makeSimRig(opts: { dbPath?: string; clock?: FakeClock; config?: PowerplaneConfig; bms?: boolean; vebus?: boolean; pack?: { socPct?: number; capacityAh?: number } } = {}): TestRig {
  const clock = opts.clock ?? new FakeClock();
  const dbPath = opts.dbPath ?? tempDbPath();
  const store = Store.open({ path: dbPath });
  const logs: string[] = [];
  const config = opts.config ?? simulatedConfig({ port: 0, dbPath, bms: opts.bms ?? false, vebus: opts.vebus ?? false });
  const rig = buildRig({ config, clock, store, log: silentLogger(logs), simulated: true, families, pack: opts.pack });
  rig.start();
  return {
    rig,
    clock,
    store,
    dbPath,
    logs,
    config,
    async stop() {
      await rig.stop();
      store.close();
    },
  };
}
