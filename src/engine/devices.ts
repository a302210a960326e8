/** The device projections the API shows, rebuilt from the store at start. */
import type { BatterySnapshot } from '../families/bms/driver.js';

export interface SetpointView {
  voltageV: number;
  currentA: number;
  origin: string;
  at: number;
  standby: boolean;
}

/** What a Flatpack2 status frame reports, in engineering units. */
export interface PsuReadings {
  outputVoltageV: number | null;
  outputCurrentA: number | null;
  outputPowerW: number | null;
  inputVoltageV: number | null;
  intakeTempC: number | null;
  outputTempC: number | null;
  state: string | null;
}

export interface Flatpack2PsuView extends PsuReadings {
  kind: 'flatpack2';
  id: string;
  busId: string;
  serial: string;
  addr: number | null;
  name: string;
  online: boolean;
  lastSeen: number | null;
  stateCode: number | null;
  warnings: string[];
  alarms: string[];
  warningBits: number;
  alarmBits: number;
  ownedBy: string | null;
  /** May obey a broadcast SET now (logged in by us within its login budget). */
  obeying: boolean;
  /** The power-on (fallback) voltage this PSU last acknowledged writing to its EEPROM. */
  fallbackAckV: number | null;
  /** The last readings and when they were measured; the live fields above are null while offline. */
  lastReading: PsuReadingView | null;
}

/** The last readings of a PSU and when they were measured. */
export interface PsuReadingView extends PsuReadings {
  at: number;
}

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

export type DeviceView = Flatpack2PsuView | BatteryView;

export const psuDeviceId = (serial: string) => `fp2-${serial}`;

export function emptyPsu(busId: string, serial: string, name?: string | null): Flatpack2PsuView {
  return {
    kind: 'flatpack2',
    id: psuDeviceId(serial),
    busId,
    serial,
    addr: null,
    name: name ?? `Flatpack2 ${serial}`,
    online: false,
    lastSeen: null,
    outputVoltageV: null,
    outputCurrentA: null,
    outputPowerW: null,
    inputVoltageV: null,
    intakeTempC: null,
    outputTempC: null,
    state: null,
    stateCode: null,
    warnings: [],
    alarms: [],
    warningBits: 0,
    alarmBits: 0,
    ownedBy: null,
    obeying: false,
    fallbackAckV: null,
    lastReading: null,
  };
}

/** Offline: the readings are history, not the present. They move to lastReading; live fields go null. */
export function markPsuStale(d: Flatpack2PsuView): void {
  d.outputVoltageV = d.outputCurrentA = d.outputPowerW = d.inputVoltageV = d.intakeTempC = d.outputTempC = null;
  d.state = 'offline';
  d.stateCode = null;
}
