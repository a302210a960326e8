/**
 * What a device family gives the rig (issue 10, DESIGN.md "Device families"). A family is one
 * folder, `src/families/<kind>/`, whose `family.ts` exports `family: DeviceFamily`; the registry
 * (registry.ts) loads it lazily by kind.
 *
 * This is the first, mechanical step: both families today sit on the shared CAN carrier
 * (src/families/can/) and the engine still has one entry point per family (`addFlatpack2Bus`,
 * `addBmsBus`), which `attach` calls. The driver contract (one Observation envelope, execute of
 * an admitted command) replaces `attach` when the engine's family-specific code moves here.
 */
import type { Clock } from '../clock.js';
import type { BusConfig } from '../config/schema.js';
import type { Engine } from '../engine/engine.js';
import type { LiFePO4Pack } from '../sim/lifepo4-pack.js';
import type { CanBusSim } from './can/bus-sim.js';
import type { CanLink } from './can/types.js';

/** A running simulator: started and stopped with the simulated hardware. */
export interface FamilySim {
  start(): void;
  stop(): void;
}

export interface DeviceFamily<Cfg = unknown, Sim extends FamilySim = FamilySim> {
  /** The family's kind: its folder, its registry key and its section's key in a bus config. */
  readonly kind: string;
  /** The carrier the family speaks over (the only one so far: the Waveshare CAN adapter). */
  readonly carrier: 'can';
  /** The CAN frame type the adapter is set to when the bus config names none. */
  readonly defaultFrameType: 'standard' | 'extended';
  /** This family's section of a bus config, or undefined when the bus has none. */
  configOf(bus: BusConfig): Cfg | undefined;
  /** Builds the family's driver on `link` and hands it to the engine. */
  attach(ctx: { busId: string; link: CanLink; clock: Clock; cfg: Cfg; engine: Engine; stats: () => Record<string, number | string | null> }): void;
  /** Builds the family's simulator as a node on the simulated bus (not started). */
  createSim(ctx: { clock: Clock; canBus: CanBusSim; pack: LiFePO4Pack; cfg: Cfg }): Sim;
}
