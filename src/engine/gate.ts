/**
 * The command gate: the one place where safety limits live. Every command passes here
 * before a driver sees it; a rejection carries a machine-readable code and a message that
 * says what is allowed, and nothing goes on the wire.
 *
 * Pure functions only — property-based tests drive them with random input.
 */

export type GateCode =
  | 'OUT_OF_RANGE'
  | 'DEVICE_OFFLINE'
  | 'NOT_FOUND'
  | 'LINK_DOWN'
  | 'CHARGER_OWNS_PSU'
  | 'CONFLICT';

export type GateResult<T> = { ok: true; value: T; notes: string[] } | { ok: false; code: GateCode; message: string };

export interface Flatpack2Limits {
  minVoltageV: number;
  maxVoltageV: number;
  minCurrentA: number;
  maxCurrentA: number;
  powerRatingW: number;
  ovpV: number;
}

/** Flatpack2 48 V family limits (flatpack2.md §2.9): I_MAX = round(P / 48 V, 1). */
export function flatpack2Limits(p: { powerRatingW: number; ovpV: number }): Flatpack2Limits {
  return {
    minVoltageV: 43.5,
    maxVoltageV: 57.6,
    minCurrentA: 0.1,
    maxCurrentA: Math.round((p.powerRatingW / 48) * 10) / 10,
    powerRatingW: p.powerRatingW,
    ovpV: p.ovpV,
  };
}

/** Standby: a safe idle output that keeps the PSU logged in but pushes no real current. */
export const FLATPACK2_STANDBY = { voltageV: 48.0, currentA: 0.1 } as const;

export interface PsuSetpoint {
  /** Exactly the values that will be encoded: 0.01 V and 0.1 A resolution. */
  voltageV: number;
  currentA: number;
  ovpV: number;
  /** True when the current was reduced to keep V × I within the power rating. */
  clamped: boolean;
}

const fmt = (n: number, d = 1) => n.toFixed(d);

/**
 * Validates a Flatpack2 output request. Voltage is rounded to the wire's 0.01 V, current to
 * 0.1 A; if V × I would exceed the rating, the current is lowered (floored to 0.1 A, so the
 * encoded pair never exceeds it) rather than the request refused — what a user asking for
 * "max current" means.
 */
export function checkPsuSetpoint(limits: Flatpack2Limits, req: { voltageV: number; currentA: number }): GateResult<PsuSetpoint> {
  const { minVoltageV, maxVoltageV, minCurrentA, maxCurrentA, powerRatingW, ovpV } = limits;
  const vRange = `${fmt(minVoltageV)}–${fmt(maxVoltageV)} V`;
  const iRange = `${fmt(minCurrentA)}–${fmt(maxCurrentA)} A`;
  if (typeof req.voltageV !== 'number' || !Number.isFinite(req.voltageV)) {
    return { ok: false, code: 'OUT_OF_RANGE', message: `voltageV must be a number in ${vRange}` };
  }
  if (typeof req.currentA !== 'number' || !Number.isFinite(req.currentA)) {
    return { ok: false, code: 'OUT_OF_RANGE', message: `currentA must be a number in ${iRange}` };
  }
  const voltageV = Math.round(req.voltageV * 100) / 100;
  let currentA = Math.round(req.currentA * 10) / 10;
  if (voltageV < minVoltageV || voltageV > maxVoltageV) {
    return { ok: false, code: 'OUT_OF_RANGE', message: `voltage ${req.voltageV} V is outside ${vRange}` };
  }
  if (currentA < minCurrentA || currentA > maxCurrentA) {
    return { ok: false, code: 'OUT_OF_RANGE', message: `current ${req.currentA} A is outside ${iRange}` };
  }
  if (voltageV >= ovpV) {
    return {
      ok: false,
      code: 'OUT_OF_RANGE',
      message: `voltage ${fmt(voltageV, 2)} V must stay below the over-voltage protection of ${fmt(ovpV, 2)} V`,
    };
  }
  const notes: string[] = [];
  let clamped = false;
  if (voltageV * currentA > powerRatingW + 1e-9) {
    const limited = Math.floor((powerRatingW / voltageV) * 10 + 1e-9) / 10;
    notes.push(`current limited from ${fmt(currentA)} A to ${fmt(limited)} A to stay within ${powerRatingW} W at ${fmt(voltageV, 2)} V`);
    currentA = limited;
    clamped = true;
  }
  return { ok: true, value: { voltageV, currentA, ovpV, clamped }, notes };
}

export interface DeviceGateView {
  id: string;
  online: boolean;
  lastSeen: number | null;
  /** Charger id that currently owns this PSU, if any. */
  ownedBy: string | null;
}

/** Interlocks for a manual command on one device: it must exist, be online and not be owned. */
export function checkDeviceAvailable(
  deviceId: string,
  device: DeviceGateView | undefined,
  opts: { origin: string },
): GateResult<DeviceGateView> {
  if (!device) return { ok: false, code: 'NOT_FOUND', message: `no device "${deviceId}"; query devices { id } for the ids` };
  if (device.ownedBy && opts.origin !== 'charger' && opts.origin !== 'safety') {
    return {
      ok: false,
      code: 'CHARGER_OWNS_PSU',
      message: `${deviceId} is driven by charger "${device.ownedBy}"; stop the charge first (stopCharge)`,
    };
  }
  if (!device.online) {
    const since = device.lastSeen ? ` (last seen ${new Date(device.lastSeen).toISOString()})` : '';
    return { ok: false, code: 'DEVICE_OFFLINE', message: `${deviceId} is offline${since}; a setpoint would not reach it` };
  }
  return { ok: true, value: device, notes: [] };
}

/**
 * The power-on (EEPROM) voltage a PSU falls back to when its login lapses: the value that
 * matters most when the controller dies, so it gets the same voltage range and OVP check.
 */
export function checkDefaultVoltage(limits: Flatpack2Limits, voltageV: number): GateResult<number> {
  const r = checkPsuSetpoint(limits, { voltageV, currentA: limits.minCurrentA });
  return r.ok ? { ok: true, value: r.value.voltageV, notes: [] } : r;
}
