/**
 * The Flatpack2 PSU view and its pure projection: (view, observation) → view. The engine keeps
 * the views and publishes each new one; nothing here has side effects.
 */
import type { Observation } from '../contract.js';
import type { AlertType, Fp2Identity, Fp2Status } from './codec.js';

/** Flatpack2's own facts, beyond the generic observations. */
export type Fp2Fact =
  | { kind: 'discovered'; addr: number }
  | { kind: 'status'; addr: number; status: Fp2Status }
  | { kind: 'alerts'; type: AlertType; bits: number; names: string[] }
  | { kind: 'default-voltage-ack'; voltageV: number }
  | { kind: 'identity'; identity: Fp2Identity }
  /** Link-level: the serials that obey a broadcast SET now (every PSU of the link is projected). */
  | { kind: 'obeying'; serials: string[] };

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

/** The last readings of a PSU and when they were measured. */
export interface PsuReadingView extends PsuReadings {
  at: number;
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
  /** The output is off (status state code 0x0C). */
  alarm: boolean;
  /** A warning or alarm names a high temperature. */
  overTemp: boolean;
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
  /** What the unit says it is (model, serial, build year), read once at discovery; null until it answered. */
  identity?: Fp2Identity | null;
}

/**
 * A PSU's device id. One string per serial (not one per status frame): every map the id is a key
 * of (views, sampler, store keys) hashes it once, not once per frame. Bounded like the CAN
 * address cache, for a bus full of made-up serials.
 */
export const psuDeviceId = (serial: string): string => {
  let id = deviceIds.get(serial);
  if (id === undefined) {
    if (deviceIds.size >= DEVICE_ID_CACHE_MAX) deviceIds.clear();
    id = `fp2-${serial}`;
    deviceIds.set(serial, id);
  }
  return id;
};
const DEVICE_ID_CACHE_MAX = 4096;
const deviceIds = new Map<string, string>();
export const serialOfPsuId = (id: string) => id.replace(/^fp2-/, '');

const ALARM_STATE = 0x0c;

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
    alarm: false,
    overTemp: false,
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

/** A status frame's readings as a telemetry sample (a type alias, so it is a plain `Record` of values too). */
export type PsuSampleValues = { [K in keyof PsuReadings]: PsuReadings[K] } & { outputVoltageV: number; outputCurrentA: number; outputPowerW: number };

/** The PSU's readings as a telemetry sample. */
export function psuSampleValues(s: Fp2Status): PsuSampleValues {
  return {
    outputVoltageV: s.voltageV,
    outputCurrentA: s.currentA,
    outputPowerW: Math.round(s.voltageV * s.currentA * 10) / 10,
    inputVoltageV: s.inputVoltageV,
    intakeTempC: s.intakeTempC,
    outputTempC: s.outputTempC,
    state: s.state,
  };
}

export function psuReadingFromSample(at: number, v: Record<string, number | string | null>): PsuReadingView {
  const num = (k: string) => (typeof v[k] === 'number' ? (v[k] as number) : null);
  return {
    at,
    outputVoltageV: num('outputVoltageV'),
    outputCurrentA: num('outputCurrentA'),
    outputPowerW: num('outputPowerW'),
    inputVoltageV: num('inputVoltageV'),
    intakeTempC: num('intakeTempC'),
    outputTempC: num('outputTempC'),
    state: typeof v.state === 'string' ? v.state : null,
  };
}

/** Offline: the readings are history, not the present; live fields go null. */
function stale(d: Flatpack2PsuView): Flatpack2PsuView {
  return { ...d, outputVoltageV: null, outputCurrentA: null, outputPowerW: null, inputVoltageV: null, intakeTempC: null, outputTempC: null, state: 'offline', stateCode: null, alarm: false };
}

export function projectPsu(d: Flatpack2PsuView, o: Observation<Fp2Fact>): Flatpack2PsuView {
  switch (o.type) {
    case 'presence':
      return o.online ? { ...d, online: true, lastSeen: o.at } : stale({ ...d, online: false });
    case 'identity':
      return typeof o.identity.addr === 'number' ? { ...d, addr: o.identity.addr } : d;
    case 'fact': {
      const f = o.fact;
      switch (f.kind) {
        case 'discovered':
          return { ...d, addr: f.addr };
        case 'status':
          return withStatus(d, f.addr, o.at, f.status);
        case 'alerts': {
          const next = f.type === 'warnings' ? { ...d, warningBits: f.bits, warnings: f.names } : { ...d, alarmBits: f.bits, alarms: f.names };
          return { ...next, overTemp: [...next.warnings, ...next.alarms].some((n) => /high temp/i.test(n)) };
        }
        case 'default-voltage-ack':
          return { ...d, fallbackAckV: f.voltageV };
        case 'identity':
          return { ...d, identity: f.identity };
        case 'obeying': {
          const obeying = f.serials.includes(d.serial);
          return obeying === d.obeying ? d : { ...d, obeying };
        }
      }
      return d;
    }
    default:
      return d;
  }
}

/**
 * The view after a status frame: a new snapshot (lastSeen and the reading's time change with
 * every frame), built field by field. It is the one projection that runs for every status frame
 * (5 Hz a PSU): an object spread of the whole view, then of the readings, cost about a tenth of
 * the engine's ingest time (issue 15); `identity` is kept only when the view has one, as the
 * spread did.
 */
function withStatus(d: Flatpack2PsuView, addr: number, at: number, s: Fp2Status): Flatpack2PsuView {
  const powerW = Math.round(s.voltageV * s.currentA * 10) / 10;
  const next: Flatpack2PsuView = {
    kind: d.kind,
    id: d.id,
    busId: d.busId,
    serial: d.serial,
    addr,
    name: d.name,
    online: d.online,
    lastSeen: at,
    outputVoltageV: s.voltageV,
    outputCurrentA: s.currentA,
    outputPowerW: powerW,
    inputVoltageV: s.inputVoltageV,
    intakeTempC: s.intakeTempC,
    outputTempC: s.outputTempC,
    state: s.state,
    stateCode: s.stateCode,
    alarm: s.stateCode === ALARM_STATE,
    overTemp: d.overTemp,
    warnings: d.warnings,
    alarms: d.alarms,
    warningBits: d.warningBits,
    alarmBits: d.alarmBits,
    ownedBy: d.ownedBy,
    obeying: d.obeying,
    fallbackAckV: d.fallbackAckV,
    lastReading: {
      at,
      outputVoltageV: s.voltageV,
      outputCurrentA: s.currentA,
      outputPowerW: powerW,
      inputVoltageV: s.inputVoltageV,
      intakeTempC: s.intakeTempC,
      outputTempC: s.outputTempC,
      state: s.state,
    },
  };
  if (d.identity !== undefined) next.identity = d.identity;
  return next;
}
