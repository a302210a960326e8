/**
 * Restore-on-reconnect and startup apply, as a pure decision. A Flatpack2 SET is broadcast,
 * so a setpoint belongs to a bus: when any PSU on it comes (back) online, the bus's last
 * accepted setpoint goes out again — once per burst, not once per PSU (the original sent
 * the same SET twice after a reconnect).
 */

export interface BusSetpoint {
  voltageV: number;
  currentA: number;
  origin: string;
  at: number;
  standby: boolean;
}

export interface RestoreInput {
  now: number;
  /** When this server run started: a setpoint from before it is the previous run's. */
  runStartedAt: number;
  setpoint: BusSetpoint | null;
  /** Startup values of the PSU that just came online, if its config says applyOnStart. */
  startup: { voltageV: number; currentA: number } | null;
  startupAlreadyApplied: boolean;
  lastRestoreAt: number | null;
  /** A charger owns the bus, or will resume a session on it: it decides what to set. */
  ownedByCharger: boolean;
  /**
   * A charger uses this bus. A PSU that logs in runs at its power-on voltage at full current
   * until a SET arrives, so with nothing else to restore it gets standby.
   */
  chargerBus?: boolean;
  coalesceMs?: number;
  /** The bus's safe idle output. */
  standby: { voltageV: number; currentA: number };
}

export type RestoreDecision =
  | { action: 'none'; why: string }
  | { action: 'set'; origin: 'restore' | 'startup'; voltageV: number; currentA: number; standby: boolean; markStartupApplied: boolean };

/**
 * The last setpoint as it may be re-sent by restore. A charger's setpoint belongs to its
 * session (tail-current end, safety timer, BMS guidance): with no charger running it, the
 * only safe thing to restore is standby. Manual and startup setpoints are restored as set.
 */
function restorable(sp: BusSetpoint, standby: { voltageV: number; currentA: number }): { voltageV: number; currentA: number; standby: boolean } {
  if (sp.standby || sp.origin !== 'charger') return { voltageV: sp.voltageV, currentA: sp.currentA, standby: sp.standby };
  return { voltageV: standby.voltageV, currentA: standby.currentA, standby: true };
}

export function decideRestore(i: RestoreInput): RestoreDecision {
  if (i.ownedByCharger) return { action: 'none', why: 'a charger owns the PSUs on this bus' };
  // Something asked for this bus in this run (a person, a charger, startup values): that wins.
  // A restore's own SET (the safe standby given to a PSU that logs in) is not such a request.
  const explicitThisRun = i.setpoint !== null && i.setpoint.at >= i.runStartedAt && i.setpoint.origin !== 'restore';
  if (!explicitThisRun && i.startup && !i.startupAlreadyApplied) {
    return { action: 'set', origin: 'startup', voltageV: i.startup.voltageV, currentA: i.startup.currentA, standby: false, markStartupApplied: true };
  }
  if (i.lastRestoreAt !== null && i.now - i.lastRestoreAt < (i.coalesceMs ?? 2000)) {
    return { action: 'none', why: 'the same broadcast SET went out moments ago' };
  }
  if (i.setpoint) return { action: 'set', origin: 'restore', ...restorable(i.setpoint, i.standby), markStartupApplied: true };
  if (i.chargerBus) return { action: 'set', origin: 'restore', voltageV: i.standby.voltageV, currentA: i.standby.currentA, standby: true, markStartupApplied: true };
  return { action: 'none', why: 'no setpoint to restore and no startup values configured' };
}
