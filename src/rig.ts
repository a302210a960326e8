/**
 * Builds the running system from a config: per bus an adapter link (real serial port or the
 * built-in simulator) and, for each device family the bus has a section for, that family's
 * driver on it (src/families/registry.ts), all registered with the engine.
 */
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import { familyOf, type PowerplaneConfig, type LinkConfig, type TransportConfig } from './config/schema.js';
import { ConfigError, parseConfig } from './config/load.js';
import { Engine } from './engine/engine.js';
import type { Store } from './store/store.js';
import { FRAME_ID_PER_MS } from './store/row-codec.js';
import { CanAdapterLink } from './families/can/adapter.js';
import { serialTransportFactory } from './link/transports/serial.js';
import { createMemoryLink } from './link/transports/memory.js';
import { WaveshareAdapterSim } from './families/can/adapter-sim.js';
import { CanBusSim } from './families/can/bus-sim.js';
import { LiFePO4Pack } from './sim/lifepo4-pack.js';
import type { Transport, TransportFactory } from './link/transports/types.js';
import { tcpTransportFactory } from './link/transports/tcp.js';
import { HidTransport } from './link/transports/hid.js';
import { SupervisedLink } from './link/supervisor.js';
import type { Framer } from './link/types.js';
import { familyKinds, type FamilyKind, type LoadedFamilies, type SimOf } from './families/registry.js';
import type { DeviceFamily } from './families/types.js';

/**
 * The demo rig: a USB-CAN-A adapter with two Flatpack2 PSUs (can0), a second one with a Deye
 * BMS (can1, unless `bms: false`), a 16-cell LiFePO4 pack and a charger on can0 guided by the BMS;
 * with `evse: true` (the CLI's demo) an OpenEVSE board on a serial line (evse) whose demo car plugs
 * in, charges, stays parked and drives away, again and again; with `inverters: true` (the demo too)
 * the paralleled LVX6048 pair (links inv0 and inv1, see SIM_INVERTERS); with `vebus: true` (the demo
 * too) a MultiPlus behind an MK3 on its own serial line (vebus0). Tests leave those out unless
 * they ask for them.
 */
export const SIM_PSU_SERIALS = ['192750001639', '163850019608'] as const;

export const SIM_MULTI_ID = 'multi0';

/**
 * The demo rig's paralleled LVX6048 pair: master (parallel index 0) and slave (1). Each unit is
 * its own USB-HID device in reality, so each is its own link (inv0, inv1) naming one serial.
 */
export const SIM_INVERTERS = [
  { link: 'inv0', id: 'inv-master', serial: '96142109100037', name: 'LVX6048 master', parallelIndex: 0 },
  { link: 'inv1', id: 'inv-slave', serial: '96142408100255', name: 'LVX6048 slave', parallelIndex: 1 },
] as const;

export function simulatedConfig(overrides: { port?: number; host?: string; dbPath?: string; bms?: boolean; evse?: boolean | { demoCar?: boolean }; inverters?: boolean; vebus?: boolean } = {}): PowerplaneConfig {
  const withBms = overrides.bms ?? true;
  const evse = overrides.evse ?? false;
  const withInverters = overrides.inverters ?? false;
  const withVebus = overrides.vebus ?? false;
  return parseConfig(
    {
      server: { host: overrides.host ?? '127.0.0.1', port: overrides.port ?? 4000 },
      database: { path: overrides.dbPath ?? 'data/simulated-rig.db' },
      links: [
        {
          id: 'can0',
          transport: { path: 'simulated', autodetect: false, bitrate: 125000, framing: 'variable' },
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
                transport: { path: 'simulated', autodetect: false, bitrate: 500000, framing: 'fixed', frameType: 'standard' },
                bms: { id: 'bms0', name: 'House bank BMS', dialect: 'deye' },
              },
            ]
          : []),
        ...(evse
          ? [
              {
                id: 'evse',
                transport: { type: 'serial', path: 'simulated', baudRate: 115200 },
                openevse: {
                  id: 'evse0',
                  name: 'Garage EVSE',
                  circuitLimitA: 32,
                  heartbeat: { intervalS: 30, fallbackA: 6 },
                  sim: { profile: 'us-8.2.3', demoCar: typeof evse === 'object' ? evse.demoCar ?? true : true },
                },
              },
            ]
          : []),
        ...(withInverters
          ? SIM_INVERTERS.map((u, i) => ({
              id: u.link,
              transport: { type: 'hid', path: 'simulated' },
              pi18: { id: u.id, serial: u.serial, name: u.name, simulate: { parallelIndex: u.parallelIndex, ...(i > 0 ? { peer: SIM_INVERTERS[0].serial } : {}) } },
            }))
          : []),
        ...(withVebus ? [{ id: 'vebus0', transport: { type: 'serial', path: 'simulated', baudRate: 2400 }, vebus: { id: SIM_MULTI_ID, name: 'MultiPlus' } }] : []),
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
 * max() below is answered from an index: samples per device, frames by their id (the time,
 * src/store/row-codec.ts), the rest by their ts index).
 */
export function simulatedClockStart(store: Store, wallNow = Date.now()): number {
  const row = store.db
    .prepare(
      `SELECT max(t) AS t FROM (
         SELECT max(ts) AS t FROM events UNION ALL SELECT max(id) / ${FRAME_ID_PER_MS} FROM frames
         UNION ALL SELECT (SELECT max(s.ts) FROM samples s WHERE s.dev = k.id) FROM store_keys k WHERE k.kind = 'device'
         UNION ALL SELECT max(last_seen) FROM devices
         UNION ALL SELECT max(started_at) FROM charge_sessions UNION ALL SELECT max(ended_at) FROM charge_sessions
         UNION ALL SELECT max(started_at) FROM charge_phases UNION ALL SELECT max(ended_at) FROM charge_phases)`,
    )
    .get() as { t: number | null } | undefined;
  const last = row?.t ?? null;
  return last !== null && last >= wallNow ? last + 1 : wallNow;
}

/** Per family kind, its simulator on each bus that has one (e.g. `parts.flatpack2.get('can0')`). */
export type FamilySims = { [K in FamilyKind]: Map<string, SimOf<K>> };

export interface SimulatedParts extends FamilySims {
  pack: LiFePO4Pack;
  /** The host ends of the adapters' cables, per bus (what a server process opens). */
  hostEnds: Map<string, ReturnType<typeof createMemoryLink>>;
  canBuses: Map<string, CanBusSim>;
  unplug(busId: string): void;
  replug(busId: string): void;
}

/** A link as the rig runs it: the CAN adapter link, or a supervised link with a family's framing. */
export type RigLink = CanAdapterLink | SupervisedLink<unknown>;

export interface Rig {
  engine: Engine;
  /** Per link id. Tests narrow a CAN link with `as CanAdapterLink`. */
  links: Map<string, RigLink>;
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
  /** The device families the config names, loaded (`await loadFamilies(kindsIn(config))`). */
  families: LoadedFamilies;
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
export function buildSimHardware(config: PowerplaneConfig, clock: Clock, families: LoadedFamilies, packOpts: RigOptions['pack'] = {}): SimHardware {
  const pack = new LiFePO4Pack({
    cells: packOpts.cells ?? 16,
    capacityAh: packOpts.capacityAh ?? 100,
    socPct: packOpts.socPct ?? 40,
    internalResistanceOhm: packOpts.internalResistanceOhm ?? 0.02,
  });
  const memLinks = new Map<string, ReturnType<typeof createMemoryLink>>();
  const sims = Object.fromEntries(familyKinds.map((k) => [k, new Map()])) as unknown as FamilySims;
  const parts: SimulatedParts = {
    ...sims,
    pack,
    hostEnds: memLinks,
    canBuses: new Map(),
    unplug: (id) => memLinks.get(id)?.unplug(),
    replug: (id) => memLinks.get(id)?.replug(),
  };
  const starts: Array<() => void> = [];
  const stops: Array<() => void> = [];
  for (const link of config.links) {
    const mem = createMemoryLink(link.id);
    memLinks.set(link.id, mem);
    const { kind, family, cfg } = familyOn(link, families);
    let canBus: CanBusSim | undefined;
    if (link.transport.type === 'waveshare-usb-can-a') {
      // The CAN carrier: a simulated adapter on the cable, the family's devices as nodes on its bus.
      const bus = new CanBusSim({ bitrate: link.transport.bitrate });
      canBus = bus;
      parts.canBuses.set(link.id, bus);
      const adapterSim = new WaveshareAdapterSim({ transport: mem.device, bus, initialFraming: link.transport.framing });
      starts.push(() => adapterSim.start());
      stops.push(() => adapterSim.stop());
    }
    const sim = family.createSim({ clock, canBus, device: mem.device, pack, cfg });
    (parts[kind] as Map<string, typeof sim>).set(link.id, sim);
    starts.push(() => sim.start());
    stops.push(() => sim.stop());
  }
  return {
    parts,
    start: () => starts.forEach((f) => f()),
    stop: () => stops.forEach((f) => f()),
  };
}

export function buildRig(opts: RigOptions): Rig {
  const { config, clock, store, log } = opts;
  const engine = new Engine({
    store,
    clock,
    log,
    simulated: opts.simulated,
    families: opts.families,
    sampling: { global: config.database.sampling, links: Object.fromEntries(config.links.map((l) => [l.id, l.sampling])) },
  });
  const links = new Map<string, RigLink>();
  let sim: SimulatedParts | null = null;
  const simStarts: Array<() => void> = [];
  const simStops: Array<() => void> = [];

  if (opts.simulated) {
    // Hardware handed in outlives this rig; hardware made here starts and stops with it.
    const hw = opts.hardware ?? buildSimHardware(config, clock, opts.families, opts.pack);
    if (!opts.hardware) {
      simStarts.push(() => hw.start());
      simStops.push(() => hw.stop());
    }
    sim = hw.parts;
    for (const link of config.links) {
      const mem = hw.parts.hostEnds.get(link.id);
      if (!mem) throw new Error(`simulated hardware has no cable for link ${link.id}`);
      addLink(link, async () => mem.host);
    }
  } else {
    for (const link of config.links) {
      const { family, cfg } = familyOn(link, opts.families);
      addLink(link, family.transportFactory?.({ transport: link.transport, cfg, clock }) ?? transportFactory(link.transport, clock, family));
    }
  }

  function addLink(lc: LinkConfig, factory: TransportFactory): void {
    const { family, cfg } = familyOn(lc, opts.families);
    const t = lc.transport;
    let link: RigLink;
    let framer: Framer<unknown> | undefined;
    const linkLog = {
      info: (o: object, m: string) => log.info({ bus: lc.id, ...o }, m),
      warn: (o: object, m: string) => log.warn({ bus: lc.id, ...o }, m),
    };
    if (t.type === 'waveshare-usb-can-a') {
      link = new CanAdapterLink({
        busId: lc.id,
        factory,
        framing: t.framing,
        bitrate: t.bitrate,
        frameType: t.frameType ?? family.defaultFrameType ?? 'extended',
        clock,
        log: linkLog,
      });
    } else {
      if (!family.createFramer) throw new Error(`link ${lc.id}: the ${family.kind} family has no framing for a ${t.type} transport`);
      framer = family.createFramer();
      link = new SupervisedLink(factory, framer, { id: lc.id, clock, log: linkLog, name: `${family.kind} link`, ...(family.linkSilenceMs ? { watchdog: { silenceMs: family.linkSilenceMs } } : {}) });
    }
    links.set(lc.id, link);
    engine.addLink(lc.id, family, family.attach({ linkId: lc.id, link: link as never, clock, log, cfg, known: engine.knownOn(lc.id), framer }));
  }

  for (const ch of config.chargers) engine.addCharger(ch);
  // References (chargers, devices, what a device supports) are checked against the built rig.
  try {
    engine.scheduler.loadConfigJobs(config.jobs);
  } catch (err) {
    throw new ConfigError(String((err as Error).message));
  }

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

/** The transport a link's config describes (real hardware). */
function transportFactory(t: TransportConfig, clock: Clock, family: DeviceFamily): TransportFactory {
  switch (t.type) {
    case 'waveshare-usb-can-a': {
      const [vid, pid] = t.usbId.split(':');
      return serialTransportFactory({ path: t.path, autodetect: t.autodetect ? { vid, pid } : undefined, baudRate: t.serialBaud, stopBits: t.stopBits });
    }
    case 'serial':
      return serialTransportFactory({ path: t.path, baudRate: t.baudRate });
    case 'tcp':
      return tcpTransportFactory({ host: t.host, port: t.port, clock });
    case 'hid': {
      const [vid, pid] = t.usbId.split(':');
      // node-hid is loaded by the transport on first open, only for a link that has one.
      return async (): Promise<Transport> =>
        new HidTransport({ target: t.path ? { path: t.path } : { vendorId: parseInt(vid!, 16), productId: parseInt(pid!, 16) }, clock, ...family.hid });
    }
  }
}

/**
 * The family of a link, with its section. A family the config names but the caller did not
 * load is a programming error, said as such.
 */
function familyOn(link: LinkConfig, families: LoadedFamilies): { kind: FamilyKind; family: DeviceFamily; cfg: unknown } {
  const { kind, cfg } = familyOf(link);
  const family = families.get(kind);
  if (!family) throw new Error(`link ${link.id} has a ${kind} section but the ${kind} family was not loaded (load it with loadFamilies(kindsIn(config)) before building the rig)`);
  return { kind, family, cfg };
}
