/**
 * The OpenEVSE family's command, fact and view types: what the gate checks (check.ts), what the
 * driver carries out (driver.ts) and reports (facts), and what the projection builds (project.ts).
 */
import type { DeviceViewBase } from '../types.js';
import type { BacklightColour, FeatureLetter } from './codec.js';

/** A command for one EVSE. The gate checks it (check.ts); the driver carries it out with read-back. */
export type EvseCommand =
  | { kind: 'enable' }
  | { kind: 'disable' }
  | { kind: 'sleep' }
  /** `SC amps` (saved) or `SC amps V` (volatile, never above the saved value). */
  | { kind: 'setCurrent'; amps: number; volatile?: boolean }
  | { kind: 'setServiceLevel'; level: 1 | 2 | 'auto' }
  /** Session limits; null clears one, undefined leaves it. Only on TIME_LIMIT/CHARGE_LIMIT builds, in state B/C. */
  | { kind: 'setLimits'; timeMinutes?: number | null; energyKWh?: number | null }
  | { kind: 'lcdText'; x: number; y: number; text: string }
  /** Sets the board's RTC to `at` (ms since the epoch, UTC; default: the server clock). */
  | { kind: 'syncClock'; at?: number }
  | { kind: 'backlight'; colour: BacklightColour }
  /** `FF letter 0|1`; `E` (echo) is refused (rapi §12.1). */
  | { kind: 'feature'; letter: FeatureLetter; on: boolean }
  /** Delay timer `HH:MM`–`HH:MM`, or null to cancel. */
  | { kind: 'delayTimer'; start: string; end: string }
  | { kind: 'cancelDelayTimer' }
  /** `SV`: the voltage the board uses for energy maths (volatile). */
  | { kind: 'setVoltage'; voltageV: number }
  /** Heartbeat supervision settings (normally the driver arms it from its config). */
  | { kind: 'heartbeat'; intervalS: number; fallbackA: number }
  // ---- dangerous for remote use (admin only, check.ts)
  | { kind: 'reset' }
  | { kind: 'calibrateAmmeter'; scale: number; offset: number }
  | { kind: 'setHardwareMax'; amps: number }
  | { kind: 'setLifetimeEnergy'; wh: number }
  | { kind: 'resetFaultCounters' }
  | { kind: 'relayRecovery' };

export type EvseCommandKind = EvseCommand['kind'];

/** The commands the reference marks dangerous for remote use: reset, calibration, one-time or counter writes. */
export const DANGEROUS_COMMANDS: ReadonlySet<EvseCommandKind> = new Set(['reset', 'calibrateAmmeter', 'setHardwareMax', 'setLifetimeEnergy', 'resetFaultCounters', 'relayRecovery']);

export type HeartbeatState = 'armed' | 'missed' | 'off' | 'unsupported' | 'unknown';

/** What the driver learned, for the projection and the session tracker. */
export type EvseFact =
  | { kind: 'identity'; firmware: string; protocol: string }
  /** Board state from `$AT` (capacity, no elapsed), `GS` (elapsed) or legacy `$ST`. */
  | { kind: 'status'; source: 'AT' | 'GS' | 'ST'; state: number; pilot: number | null; vflags: number | null; capacityA: number | null; elapsedS: number | null }
  /** `$AB`: the board (re)booted. `state` 0 = POST passed. */
  | { kind: 'boot'; state: number; firmware: string }
  | { kind: 'energy'; sessionWs: number; lifetimeWh: number }
  | { kind: 'meter'; currentMa: number | null; voltageMv: number }
  | { kind: 'settings'; capacityA: number; ecf: number; level: 1 | 2 }
  | { kind: 'range'; minA: number; maxA: number; pilotA: number; configuredA: number }
  | { kind: 'temperatures'; ds3231C: number | null; mcp9808C: number | null; tmp007C: number | null }
  | { kind: 'faultCounters'; gfiTrips: number; noGroundTrips: number; stuckRelayTrips: number }
  | { kind: 'heartbeat'; state: HeartbeatState; intervalS: number | null; fallbackA: number | null; trigger: 0 | 1 | 2 | null; acknowledged?: boolean }
  | { kind: 'button'; long: boolean }
  | { kind: 'wifiRequest'; mode: number };

/** The family's kind: its folder, registry key and config section key. */
export const EVSE_KIND = 'openevse';

/** The device as the API shows it (built by project.ts); `id` is the engine's device id. */
export interface EvseView extends DeviceViewBase {
  kind: typeof EVSE_KIND;
  firmware: string | null;
  protocol: string | null;
  /** EVSE state code (rapi §8.1) and its words. */
  state: number | null;
  stateName: string | null;
  stateText: string | null;
  fault: boolean;
  pilot: number | null;
  vflags: number | null;
  evConnected: boolean | null;
  charging: boolean | null;
  /** Capacity the pilot advertises now. */
  capacityA: number | null;
  minA: number | null;
  maxA: number | null;
  configuredA: number | null;
  serviceLevel: 1 | 2 | null;
  autoServiceLevel: boolean | null;
  ecf: number | null;
  currentA: number | null;
  voltageV: number | null;
  powerW: number | null;
  elapsedS: number | null;
  sessionWh: number | null;
  lifetimeKWh: number | null;
  temperaturesC: { ds3231: number | null; mcp9808: number | null; tmp007: number | null };
  faultCounters: { gfi: number; noGround: number; stuckRelay: number } | null;
  heartbeat: { state: HeartbeatState; intervalS: number | null; fallbackA: number | null; trigger: 0 | 1 | 2 | null; missedCount: number };
  /** Boots seen (`$AB`) since the view was made. */
  boots: number;
  lastBootAt: number | null;
  updatedAt: number | null;
  /** The configured circuit limit (config `circuitLimitA`), set when the link is attached; the gate caps currents at it. */
  circuitLimitA?: number | null;
}
