/**
 * What a device family gives the rig and the engine (DESIGN.md "Device families"). A family is
 * one folder, `src/families/<kind>/`, whose `family.ts` exports `family: DeviceFamily`; the
 * registry (registry.ts) loads it lazily by kind. The engine, rig, config loader and store name
 * no family: they go through this interface.
 *
 *   rig:    carrier link (family.carrier) → family.attach(ctx) → FamilyLink → engine.addLink
 *   engine: driver observations → generic events/samples/frames → family.project → device views
 *           controllers ← capabilities (DC output bus, battery limits)
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { LiFePO4Pack } from '../sim/lifepo4-pack.js';
import type { DeviceRow, SampleRow, StoredEvent } from '../store/types.js';
import type { BatteryLimitsSource, DcOutputBus, EvSessionsCapability } from '../engine/capabilities.js';
import type { DeviceDriver, InspectedFrame, Observation, Values } from './contract.js';
import type { CanBusSim } from './can/bus-sim.js';
import type { CanLink } from './can/types.js';
import type { Framer } from '../link/types.js';
import type { Transport, TransportFactory } from '../link/transports/types.js';

/** What every device view has; a family's view adds its own fields. */
export interface DeviceViewBase {
  kind: string;
  id: string;
  /** The link the device is on (a CAN bus, a USB-HID inverter link, a serial line). */
  busId: string;
  name: string;
  online: boolean;
  lastSeen: number | null;
}

/** A running simulator: started and stopped with the simulated hardware. */
export interface FamilySim {
  start(): void;
  stop(): void;
}

/** What the store remembers of a device, for rebuilding its view at start. */
export interface StoredDeviceContext {
  row: DeviceRow;
  lastSample: SampleRow | null;
  /** The latest event of `type` about this device. */
  latestEvent(type: string): StoredEvent | undefined;
}

/** A family's running part on one link, as the engine holds it. */
export interface FamilyLink<View extends DeviceViewBase = DeviceViewBase, Fact = unknown> {
  driver: DeviceDriver<unknown, Fact>;
  /** Devices the config names, shown (offline) before they are heard. */
  configuredViews(): View[];
  /** A remembered device's view under the current config (e.g. its configured name). */
  adopt?(view: View): View;
  /** The view of a device first heard on this link (null: not a device of ours). */
  newView(deviceId: string, o: Observation<Fact>): View | null;
  /** The family's pure projection: the device's view after an observation. */
  project(view: View, o: Observation<Fact>): View;
  /** Capabilities this link offers the controllers. */
  capabilities?: { dcOutput?: DcOutputBus; batteries?: (view: View) => BatteryLimitsSource | null; evSessions?: EvSessionsCapability };
  /** The stats the API shows for the link, with corrupt-byte counters. */
  stats(): Values;
  /** A counter that only grows with corrupt input (bytes or frames), reported as link.corrupt events. */
  corruptTotal(): number;
  /** The latest frame per address, decoded: the raw frame inspector (where the family keeps one). */
  latestFrames?(): InspectedFrame[];
}

export interface AttachContext<Cfg, L = CanLink> {
  linkId: string;
  /** The link the rig built for the family's carrier: a CanLink for CAN families, a Link<F> of the family's framer otherwise. */
  link: L;
  clock: Clock;
  log: Logger;
  cfg: Cfg;
  /** Device views the engine rebuilt from the store for this link (e.g. remembered addresses). */
  known: DeviceViewBase[];
  /** Stream families: the framer instance the rig gave the link (to drain, count, record rejects). */
  framer?: Framer<unknown>;
}

export interface DeviceFamily<Cfg = unknown, Sim extends FamilySim = FamilySim, View extends DeviceViewBase = DeviceViewBase> {
  /** The family's kind: its folder, its registry key and its section's key in a link config. */
  readonly kind: string;
  /** How people call the link ("CAN bus"), in log lines and messages. */
  readonly linkNoun: string;
  /** Prefix of the family's own event types ("psu", "battery"). */
  readonly eventPrefix: string;
  /** The carrier the family speaks over: CAN through the Waveshare adapter, or its own framing on a byte stream. */
  readonly carrier: 'can' | 'stream';
  /** CAN families: the frame type the adapter is set to when the link config names none. */
  readonly defaultFrameType?: 'standard' | 'extended';
  /** Stream families: bytes ⇄ frames for the link the rig builds. */
  createFramer?(): Framer<unknown>;
  /** Stream families whose device talks on its own (an MK2's V frames): reopen the link after this long without a byte. */
  readonly linkSilenceMs?: number;
  /** Stream families on USB-HID: how the reports are cut (e.g. PI18: drop after the CR, pause between reports). */
  readonly hid?: { dropAfterDelimiter?: number; reportGapMs?: number; reportSize?: number };
  /**
   * Stream families on real hardware: a transport factory of the family's own for a link (e.g.
   * PI18 finds its unit by serial among every 0665:5161 HID device); null or absent: the rig's
   * default for the transport type.
   */
  transportFactory?(ctx: { transport: { type: string; path?: string; usbId?: string }; cfg: Cfg; clock: Clock }): TransportFactory | null;
  /** The view of a device the store remembers (every device starts offline). */
  restoreView(stored: StoredDeviceContext): View;
  /** Builds the family's driver on `link`, with its projection and capabilities. */
  attach(ctx: AttachContext<Cfg, any>): FamilyLink<View, unknown>;
  /**
   * Builds the family's simulator (not started): a node on the simulated CAN bus (`canBus`, CAN
   * families) or the device end of the simulated cable (`device`, stream families).
   */
  createSim(ctx: { clock: Clock; canBus?: CanBusSim; device: Transport; pack: LiFePO4Pack; cfg: Cfg }): Sim;
}
