/**
 * Builds the running system from a config: per bus an adapter link (real serial port or the
 * built-in simulator), the device driver on it, all registered with the engine.
 */
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import type { PowerplaneConfig, BusConfig } from './config/schema.js';
import { parseConfig } from './config/load.js';
import { Engine } from './engine/engine.js';
import type { Store } from './store/store.js';
import { CanAdapterLink } from './families/can/adapter.js';
import { serialTransportFactory } from './link/transports/serial.js';
import { createMemoryLink } from './link/transports/memory.js';
import { WaveshareAdapterSim } from './families/can/adapter-sim.js';
import { CanBusSim } from './families/can/bus-sim.js';
import { Flatpack2Driver } from './families/flatpack2/driver.js';
import { Flatpack2Sim } from './families/flatpack2/sim.js';
import { LiFePO4Pack } from './sim/lifepo4-pack.js';
import type { TransportFactory } from './link/transports/types.js';
import { BmsDriver } from './families/bms/driver.js';
import { BmsSim } from './families/bms/sim.js';

/**
 * The demo rig: a USB-CAN-A adapter with two Flatpack2 PSUs (can0), a second one with a Deye
 * BMS (can1, unless `bms: false`), a 16-cell LiFePO4 pack and a charger on can0 guided by the BMS.
 */
export const SIM_PSU_SERIALS = ['192750001639', '163850019608'] as const;

export function simulatedConfig(overrides: { port?: number; host?: string; dbPath?: string; bms?: boolean } = {}): PowerplaneConfig {
  const withBms = overrides.bms ?? true;
  return parseConfig(
    {
      server: { host: overrides.host ?? '127.0.0.1', port: overrides.port ?? 4000 },
      database: { path: overrides.dbPath ?? 'data/simulated-rig.db' },
      buses: [
        {
          id: 'can0',
          adapter: { path: 'simulated', autodetect: false, bitrate: 125000, framing: 'variable' },
          flatpack2: {
            psus: {
              [SIM_PSU_SERIALS[0]]: { name: 'Rectifier A' },
              [SIM_PSU_SERIALS[1]]: { name: 'Rectifier B' },
            },
          },
        },
        ...(withBms
          ? [
              {
                id: 'can1',
                adapter: { path: 'simulated', autodetect: false, bitrate: 500000, framing: 'fixed', frameType: 'standard' },
                bms: { id: 'bms0', name: 'House bank BMS', dialect: 'deye' },
              },
            ]
          : []),
      ],
      chargers: [
        {
          id: 'charger1',
          name: 'House bank charger',
          bus: 'can0',
          psus: 'all',
          ...(withBms ? { battery: 'bms0' } : {}),
          settings: { cellCount: 16, cellVoltageMaxV: 3.6, capacityAh: 100, chargeCurrentA: 30, tailCurrentA: 2, autoStart: true },
        },
      ],
    },
    'built-in simulated rig',
  );
}

/**
 * Where the simulated rig's clock starts: the wall clock, or just after the latest timestamp
 * the database already holds if that is later. A sped-up rig runs ahead of the wall clock
 * (an hour at 100× is 100 simulated hours), so restarting it at wall time sent simulated time
 * backwards: phases ended before they started, "latest" rows were older than earlier ones.
 * The store's own rows are the persisted clock, so nothing else has to be kept in step (each
 * max() below is answered from an index: samples per device, the rest by their ts index).
 */
export function simulatedClockStart(store: Store, wallNow = Date.now()): number {
  const row = store.db
    .prepare(
      `SELECT max(t) AS t FROM (
         SELECT max(ts) AS t FROM events UNION ALL SELECT max(ts) FROM frames
         UNION ALL SELECT (SELECT max(s.ts) FROM samples s WHERE s.device_id = d.id) FROM devices d
         UNION ALL SELECT max(last_seen) FROM devices
         UNION ALL SELECT max(started_at) FROM charge_sessions UNION ALL SELECT max(ended_at) FROM charge_sessions
         UNION ALL SELECT max(started_at) FROM charge_phases UNION ALL SELECT max(ended_at) FROM charge_phases)`,
    )
    .get() as { t: number | null } | undefined;
  const last = row?.t ?? null;
  return last !== null && last >= wallNow ? last + 1 : wallNow;
}

export interface SimulatedParts {
  pack: LiFePO4Pack;
  /** The host ends of the adapters' cables, per bus (what a server process opens). */
  hostEnds: Map<string, ReturnType<typeof createMemoryLink>>;
  flatpack2: Map<string, Flatpack2Sim>;
  bms: Map<string, BmsSim>;
  canBuses: Map<string, CanBusSim>;
  unplug(busId: string): void;
  replug(busId: string): void;
}

export interface Rig {
  engine: Engine;
  links: Map<string, CanAdapterLink>;
  sim: SimulatedParts | null;
  start(): void;
  stop(): Promise<void>;
}

export interface RigOptions {
  config: PowerplaneConfig;
  clock: Clock;
  store: Store;
  log: Logger;
  simulated: boolean;
  /** Simulated pack parameters (demo rig and tests). */
  pack?: { cells?: number; capacityAh?: number; socPct?: number; internalResistanceOhm?: number };
  /**
   * Simulated hardware that outlives this rig (tests of a crash and restart: the PSUs and the
   * pack keep running while the server is gone). Started and stopped by whoever made it.
   */
  hardware?: SimHardware;
}

export interface SimHardware {
  parts: SimulatedParts;
  start(): void;
  stop(): void;
}

/** The simulated side of the demo rig: adapters, PSUs, BMS and one pack, on `clock`. */
export function buildSimHardware(config: PowerplaneConfig, clock: Clock, packOpts: RigOptions['pack'] = {}): SimHardware {
  const pack = new LiFePO4Pack({
    cells: packOpts.cells ?? 16,
    capacityAh: packOpts.capacityAh ?? 100,
    socPct: packOpts.socPct ?? 40,
    internalResistanceOhm: packOpts.internalResistanceOhm ?? 0.02,
  });
  const memLinks = new Map<string, ReturnType<typeof createMemoryLink>>();
  const parts: SimulatedParts = {
    pack,
    hostEnds: memLinks,
    flatpack2: new Map(),
    bms: new Map(),
    canBuses: new Map(),
    unplug: (id) => memLinks.get(id)?.unplug(),
    replug: (id) => memLinks.get(id)?.replug(),
  };
  const starts: Array<() => void> = [];
  const stops: Array<() => void> = [];
  for (const bus of config.buses) {
    const mem = createMemoryLink(bus.id);
    memLinks.set(bus.id, mem);
    const canBus = new CanBusSim({ bitrate: bus.adapter.bitrate });
    parts.canBuses.set(bus.id, canBus);
    const adapterSim = new WaveshareAdapterSim({ transport: mem.device, bus: canBus, initialFraming: bus.adapter.framing });
    starts.push(() => adapterSim.start());
    stops.push(() => adapterSim.stop());
    if (bus.flatpack2) {
      const serials = Object.keys(bus.flatpack2.psus);
      let fp2: Flatpack2Sim | null = null;
      const node = canBus.attach('flatpack2-sim', (f) => fp2?.receive(f));
      fp2 = new Flatpack2Sim({ clock, send: (f) => node.send(f), pack, psus: serials.map((serial) => ({ serial })) });
      parts.flatpack2.set(bus.id, fp2);
      starts.push(() => fp2!.start());
      stops.push(() => fp2!.stop());
    }
    if (bus.bms) {
      let bms: BmsSim | null = null;
      const node = canBus.attach('bms-sim', (f) => bms?.receive(f));
      bms = new BmsSim({ clock, send: (f) => node.send(f), pack, dialect: bus.bms.dialect });
      parts.bms.set(bus.id, bms);
      starts.push(() => bms!.start());
      stops.push(() => bms!.stop());
    }
  }
  return {
    parts,
    start: () => starts.forEach((f) => f()),
    stop: () => stops.forEach((f) => f()),
  };
}

export function buildRig(opts: RigOptions): Rig {
  const { config, clock, store, log } = opts;
  const engine = new Engine({ store, clock, log, simulated: opts.simulated });
  const links = new Map<string, CanAdapterLink>();
  let sim: SimulatedParts | null = null;
  const simStarts: Array<() => void> = [];
  const simStops: Array<() => void> = [];

  if (opts.simulated) {
    // Hardware handed in outlives this rig; hardware made here starts and stops with it.
    const hw = opts.hardware ?? buildSimHardware(config, clock, opts.pack);
    if (!opts.hardware) {
      simStarts.push(() => hw.start());
      simStops.push(() => hw.stop());
    }
    sim = hw.parts;
    for (const bus of config.buses) {
      const mem = hw.parts.hostEnds.get(bus.id);
      if (!mem) throw new Error(`simulated hardware has no adapter for bus ${bus.id}`);
      addBus(bus, async () => mem.host);
    }
  } else {
    for (const bus of config.buses) {
      const [vid, pid] = bus.adapter.usbId.split(':');
      addBus(
        bus,
        serialTransportFactory({
          path: bus.adapter.path,
          autodetect: bus.adapter.autodetect ? { vid, pid } : undefined,
          baudRate: bus.adapter.serialBaud,
          stopBits: bus.adapter.stopBits,
        }),
      );
    }
  }

  function addBus(bus: BusConfig, factory: TransportFactory): void {
    const link = new CanAdapterLink({
      busId: bus.id,
      factory,
      framing: bus.adapter.framing,
      bitrate: bus.adapter.bitrate,
      frameType: bus.adapter.frameType ?? (bus.bms ? 'standard' : 'extended'),
      clock,
      log: {
        info: (o, m) => log.info({ bus: bus.id, ...o }, m),
        warn: (o, m) => log.warn({ bus: bus.id, ...o }, m),
      },
    });
    links.set(bus.id, link);
    if (bus.flatpack2) {
      const cfg = bus.flatpack2;
      const driver = new Flatpack2Driver({
        link,
        clock,
        keepAliveMs: cfg.keepAliveMs,
        statusTimeoutMs: cfg.statusTimeoutMs,
        linkWatchdogMs: cfg.linkWatchdogMs,
        knownAddresses: engine.knownAddresses(bus.id),
      });
      engine.addFlatpack2Bus(bus.id, driver, cfg, () => ({ state: link.state, ...link.stats }));
    }
    if (bus.bms) {
      const driver = new BmsDriver({ link, clock, dialect: bus.bms.dialect, offlineAfterMs: bus.bms.offlineAfterMs, heartbeatMs: bus.bms.heartbeatMs ?? null });
      engine.addBmsBus(bus.id, driver, bus.bms, () => ({ state: link.state, ...link.stats }));
    }
  }

  for (const ch of config.chargers) engine.addCharger(ch);

  return {
    engine,
    links,
    sim,
    start() {
      for (const s of simStarts) s();
      engine.start();
      for (const l of links.values()) l.start();
    },
    async stop() {
      for (const l of links.values()) await l.stop();
      engine.stop();
      for (const s of simStops) s();
    },
  };
}
