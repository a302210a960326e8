/**
 * What controllers ask of devices, by capability rather than by kind (DESIGN.md "Device
 * families"): the charger asks for "a DC output it can set" and "battery limits", restore for
 * "a device whose desired state can be re-applied". A family offers a capability from its
 * folder (`family.capabilities`); a MultiPlus in charger mode or a PI18 charger can later serve
 * the same controllers without the controllers naming them.
 */
import type { BmsLimits } from './charger/machine.js';
import type { Code } from '../codes.js';
import type { AdmittedCommand, Observation } from '../families/contract.js';

/** The limits of a settable DC output (per unit; a bus shares one setpoint over its units). */
export interface DcOutputLimits {
  minVoltageV: number;
  maxVoltageV: number;
  minCurrentA: number;
  maxCurrentA: number;
  powerRatingW: number;
  ovpV: number;
  /** The safe idle output: keeps the units supervised, pushes no real current. */
  standby: { readonly voltageV: number; readonly currentA: number };
}

/** One unit of a DC output bus, as the controllers see it (the family's view satisfies this). */
export interface DcUnitView {
  id: string;
  kind: string;
  /** The link (bus) the unit is on. */
  busId: string;
  /** The unit's own identity on the bus (serial number). */
  serial: string;
  name: string;
  online: boolean;
  lastSeen: number | null;
  /** May obey a broadcast setpoint now: it is shared over exactly these. */
  obeying: boolean;
  outputVoltageV: number | null;
  outputCurrentA: number | null;
  /** The output is off because of an alarm. */
  alarm: boolean;
  /** The unit reports a high temperature (a charger derates or stops). */
  overTemp: boolean;
  /** The power-on (fallback) voltage the unit last confirmed, where it has one. */
  fallbackAckV: number | null;
  /** The charger driving this unit, if any (set by the engine). */
  ownedBy: string | null;
}

/** A setpoint the gate admitted for a DC output bus: exactly the values to encode. */
export interface DcSetpoint {
  voltageV: number;
  currentA: number;
  ovpV: number;
  clamped: boolean;
}

/** A bus of DC output units sharing one broadcast setpoint (Flatpack2 today). */
export interface DcOutputBus {
  readonly linkId: string;
  readonly limits: DcOutputLimits;
  /** Fallback (power-on) voltage policy from the config; null: not managed. */
  readonly fallbackVoltageV: number | null;
  /** Startup output of a unit whose config says to apply one at start. */
  startupOf(serial: string): { voltageV: number; currentA: number } | null;
  /** Unit ids that obey a broadcast now (what a restore's SET reached). */
  obeying(): string[];
  /** Sends a setpoint the gate admitted; false when it did not reach the wire. */
  send(sp: AdmittedCommand<DcSetpoint>): Promise<boolean>;
  /** Writes a unit's power-on (fallback) voltage the gate admitted; false when it did not reach the wire. */
  writePowerOnDefault(serial: string, v: AdmittedCommand<{ voltageV: number }>): Promise<boolean>;
}

/** A battery whose BMS guides a charge. */
export interface BatteryLimitsSource {
  readonly id: string;
  /** The battery's friendly name, for messages. */
  readonly name?: string;
  online(): boolean;
  socPct(): number | null;
  /** The charge limits the BMS asks for now; null while unknown. */
  limits(): BmsLimits | null;
  /** Why a guided charge must not start now (e.g. the BMS's dialect is unconfirmed); null: it may. */
  refusal(): { code: Extract<Code, 'BMS_DIALECT_MISMATCH' | 'BMS_DIALECT_PENDING'>; message: string } | null;
}

/**
 * One EV charge session as a family's tracker reports it (OpenEVSE today); the EV-session
 * controller persists it in the charge sessions table (kind 'ev') like a battery charge.
 */
export interface EvSessionRecord {
  id: string;
  deviceId: string;
  startedAt: number;
  endedAt: number | null;
  /** Energy delivered to the vehicle (the board's counters, across its reboots). */
  energyWh: number;
  /** Relay-closed time as the board counts it. */
  chargingS: number;
  maxCurrentA: number;
  /** Time-weighted average while charging. */
  avgCurrentA: number;
  /** Why it ended (e.g. unplugged, sleep, disabled, limit_reached, board_reboot); null while it runs. */
  stopReason: string | null;
  /** Fault states entered during the session, in order. */
  faults: string[];
  /** Times the session was resumed (after a board reboot, a server restart, a lost link), with why. */
  resumes: Array<{ at: number; reason: string }>;
  /** The family's own state of the session, persisted as is and handed back at restore (e.g. the board's counters). */
  state: Record<string, unknown>;
}

export type EvSessionChange =
  | { kind: 'started' | 'updated'; session: EvSessionRecord }
  | { kind: 'resumed'; session: EvSessionRecord; reason: string }
  | { kind: 'ended'; session: EvSessionRecord; reason: string };

/** Steps one device's EV sessions with every observation of its link. */
export interface EvSessionTracker {
  step(o: Observation<unknown>): EvSessionChange[];
}

/** A link whose devices have EV charge sessions (offered by the family, used by controllers/ev-sessions.ts). */
export interface EvSessionsCapability {
  /**
   * The tracker of one device, given the session the store holds open for it (a server restart
   * mid-session); null when the device has no EV sessions.
   */
  tracker(deviceId: string, open: EvSessionRecord | null): EvSessionTracker | null;
}
