/** The battery view (a stack seen through its BMS) and its pure projection. */
import type { Observation } from '../contract.js';
import type { BatterySnapshot, DialectCheck } from './driver.js';

/** The BMS family's own facts. */
export type BmsFact = { kind: 'state'; battery: BatterySnapshot } | { kind: 'dialect'; check: DialectCheck } | { kind: 'module'; index: number; online: boolean } | { kind: 'invalid'; reason: string };

/** A battery stack seen through its BMS; values are the BMS's own (null until heard). */
export interface BatteryView {
  kind: 'bms';
  id: string;
  busId: string;
  name: string;
  online: boolean;
  lastSeen: number | null;
  snapshot: BatterySnapshot | null;
}

export function projectBattery(b: BatteryView, o: Observation<BmsFact>): BatteryView {
  switch (o.type) {
    case 'presence':
      return { ...b, online: o.online };
    case 'fact':
      if (o.fact.kind === 'state') return { ...b, snapshot: o.fact.battery, lastSeen: o.fact.battery.lastSeenAt ?? o.at };
      return b;
    default:
      return b;
  }
}
