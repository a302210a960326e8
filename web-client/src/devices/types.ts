/** What the dashboard knows of a device type: its fields in the device query, its tile and its part in the power flow. */
import type { Row } from '../dom.js';
import type { Bus, Charger, Device, EventRecord } from '../types.js';

/**
 * Where a device sits in the power flow on the overview: sources feed the DC bus (rectifiers,
 * a grid input), `pv` is solar production, `battery` charges (+W) or discharges (−W), `load`
 * takes power (an inverter's AC output, an EV), `grid` is power from (+) or to (−) the grid.
 */
export type FlowRole = 'source' | 'battery' | 'load' | 'pv' | 'grid';

/** One device's contribution to the power flow: its watts on its path and one plain sentence. */
export interface FlowPart {
  role: FlowRole;
  /** Watts on the device's path (battery: + into the pack, − out of it); null when unknown. */
  watts: number | null;
  /** One sentence in plain words of what it does now ("Rectifier A delivers 1.5 kW at 54.1 V."). */
  sentence: string;
  /** True when it is doing something (charging, delivering, discharging); idle ones sort after. */
  active: boolean;
  /** Battery only: state of charge (%). */
  socPct?: number | null;
  /** Battery only: time to full (+) or empty (−) at the present rate, in ms; null when unknown. */
  etaMs?: number | null;
  /** False: shown with its sentence but not added to the path totals (a controller such as the charger). */
  inTotals?: boolean;
  /**
   * The other paths the same device puts power on, each with its live watts (an inverter's PV
   * in, AC out and battery side): added to those paths' totals; the device keeps one sentence.
   */
  paths?: FlowPath[];
}

/** A further path of one device's flow part. */
export interface FlowPath {
  role: FlowRole;
  watts: number | null;
  /** False: shown in the device's sentence but not added to the path's total. */
  inTotals?: boolean;
}

/** What a flow contribution may read besides its own device: the rest of the live picture. */
export interface FlowContext {
  /** Server "now" in ms (the simulated clock may run faster than the browser's). */
  now: number;
  devices: ReadonlyMap<string, Device>;
  buses: readonly Bus[];
  chargers: readonly Charger[];
  /** Newest first. */
  events: readonly EventRecord[];
  /** A device's friendly name. */
  name(id: string): string;
}

export interface DeviceUi {
  /** The GraphQL object type (the device's `__typename`). */
  typename: string;
  /** Its fields, spread into every device query as `... on <typename> { … }`. */
  fields: string;
  /** Its tile on the overview. */
  tile(d: Device): Row<Device>;
  /** Its part in the overview's power flow; a type without one shows only its tile. */
  flow?(d: Device, ctx: FlowContext): FlowPart | null;
}
