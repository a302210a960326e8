/** Shapes of what the dashboard reads from the GraphQL API (times are ISO-8601 strings). */

export interface Setpoint {
  voltageV: number;
  currentA: number;
  origin: string;
  standby: boolean;
  at: string;
}

export interface Device {
  __typename: string;
  id: string;
  kind: string;
  name: string;
  busId: string;
  online: boolean;
  lastSeen: string | null;
  // Flatpack2Psu
  serial?: string;
  address?: number | null;
  outputVoltageV?: number | null;
  outputCurrentA?: number | null;
  outputPowerW?: number | null;
  inputVoltageV?: number | null;
  intakeTempC?: number | null;
  outputTempC?: number | null;
  state?: string | null;
  warnings?: string[];
  alarms?: string[];
  ownedBy?: string | null;
  setpoint?: Setpoint | null;
  fallbackVoltageV?: number | null;
  /** The last readings while offline (the live fields are null then). */
  lastReading?: { at: string; outputVoltageV: number | null; outputCurrentA: number | null } | null;
}

export interface PsuLimits {
  minVoltageV: number;
  maxVoltageV: number;
  minCurrentA: number;
  maxCurrentA: number;
  powerRatingW: number;
  ovpV: number;
}

export interface Bus {
  id: string;
  kind: string;
  linkState: string;
  linkDetail: string;
  limits: PsuLimits;
  setpoint: Setpoint | null;
}

export interface SystemInfo {
  simulated: boolean;
  startedAt: string;
  version: string;
}

export type ChargerPhase = 'idle' | 'detect' | 'ramp' | 'CC' | 'CV' | 'paused' | 'done' | 'error';

export interface Charger {
  id: string;
  name: string;
  phase: ChargerPhase;
  targetVoltageV: number | null;
  chargeCurrentA: number | null;
  progress: number | null;
  deliveredAh: number | null;
  deliveredWh: number | null;
  socPct: number | null;
  stopReason: string | null;
  rampVoltageV: number | null;
  batteryId: string | null;
  fallback?: { voltageV: number | null; confirmed: boolean; pendingPsuIds: string[] };
  bmsCaps: { voltageLimitV: number | null; currentLimitA: number | null; reason: string | null } | null;
  session: { id: string; startedAt: string } | null;
  psus: Array<{ id: string }>;
}

export interface BatteryModule {
  index: number;
  voltageV: number | null;
  currentA: number | null;
  socPct: number | null;
  cellHighV: number | null;
  cellLowV: number | null;
  tempsC: number[] | null;
  cycles: number | null;
  chargedKWh: number | null;
  dischargedKWh: number | null;
}

export interface Battery {
  id: string;
  name: string;
  online: boolean;
  socPct: number | null;
  sohPct: number | null;
  voltageV: number | null;
  currentA: number | null;
  tempC: number | null;
  cellHighV: number | null;
  cellLowV: number | null;
  cellDeltaV: number | null;
  chargeVoltageLimitV: number | null;
  chargeCurrentLimitA: number | null;
  dischargeCurrentLimitA: number | null;
  dischargeVoltageV: number | null;
  requestFlags: string[] | null;
  alarms: string[] | null;
  protections: string[] | null;
  modules: BatteryModule[] | null;
}

export interface EventRecord {
  id: string;
  at: string;
  type: string;
  deviceId: string | null;
  busId: string | null;
  data: Record<string, unknown> | null;
}

export interface ChargeSessionSummary {
  id: string;
  chargerId: string;
  startedAt: string;
  endedAt: string | null;
  outcome: string | null;
  reason: string | null;
  deliveredAh: number | null;
  deliveredWh: number | null;
  peakCurrentA: number | null;
  targetVoltageV: number | null;
  ccToCvAt: string | null;
}

export interface ChargeSessionDetail {
  id: string;
  ccToCvAt: string | null;
  phases: Array<{ phase: string; startedAt: string; endedAt: string | null }>;
  samples: Array<{ at: string; voltageV: number | null; currentA: number | null; ah: number | null; wh: number | null; socPct: number | null }>;
}

export interface TelemetryPoint {
  deviceId: string;
  at: string;
  values: Record<string, number | string | null>;
}

/** A list the dashboard loads from the server. */
export type Loaded<T> = { status: 'loading' } | { status: 'error'; message: string } | { status: 'ok'; items: T[] };

/** A part of the API that may not exist on this server yet (battery). */
export type Feature<T> = Loaded<T> | { status: 'unsupported'; message: string };
