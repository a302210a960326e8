/**
 * The OpenEVSE page of the command gate (contract.ts `FamilyCheck`). Pure: it decides from the
 * command, the device's view and the configuration; it never clamps a value — a value outside
 * what is allowed is refused with the allowed range (OUT_OF_RANGE), because the board itself
 * would clamp silently (openevse-rapi.md §7.1, `$NK <clamped>`).
 *
 * Rules:
 * - Commands the reference marks dangerous for remote use (reset, calibration, the one-time
 *   hardware-max write, counter writes, the D9 relay recovery) need the admin role (FORBIDDEN).
 *   So does switching a safety check off (`FF` D/F/G/R/T/V 0) and switching heartbeat
 *   supervision off (interval 0): both remove a protection the board applies on its own.
 * - `FF E` is refused (CONFLICT): in 8.2.3 both values switch echo on until reboot (§12.1).
 * - Capacity: integer amps in [board min, min(board max for the level (`GC`), circuit limit)];
 *   volatile sets also ≤ the saved capacity (the board would clamp to it, §7.1). The range
 *   must be known (`GC` read), else DEVICE_OFFLINE.
 * - Enabling a board whose advertised capacity is above the circuit limit is refused
 *   (CONFLICT): lower the current first.
 * - The heartbeat fallback must itself be within the allowed capacity range.
 * - LCD text must fit the board's 31-character frame (with a sequence id and checksum) and its
 *   10 tokens, in printable ASCII; 6.x-only commands need a board that reported RAPI ≥ 6.0.0.
 */
import type { Role } from '../../auth.js';
import type { Code } from '../../codes.js';
import type { FamilyCheck } from '../contract.js';
import type { DeviceViewBase } from '../types.js';
import { RAPI_D9, RAPI_MAX_COMMAND_CHARS, RAPI_MAX_TOKENS, Rapi, buildCommand, compareVersion, parseVersion } from './codec.js';
import { DANGEROUS_COMMANDS, type EvseCommand, type EvseView } from './types.js';

export interface EvseCheckContext {
  /** The device's view (project.ts), or null when it has never been seen. */
  view: EvseView | null;
  /** The configured circuit limit in amps (breaker / cable), or null when none is configured. */
  circuitLimitA: number | null;
  /** The role of who asks. Viewers never get here (the API refuses them first). */
  role: Role;
  /** For messages: e.g. "EVSE garage". Default from the view's device id. */
  name?: string;
}

export type EvseCheckResult = ReturnType<FamilyCheck<EvseCommand, EvseCheckContext>>;

const SAFETY_LETTERS = new Set(['D', 'F', 'G', 'R', 'T', 'V', 'O']);

const refuse = (code: Code, message: string): EvseCheckResult => ({ ok: false, code, message });

/** The capacity range the gate allows now, or a reason it cannot say. */
export function allowedCurrentRange(view: EvseView | null, circuitLimitA: number | null, volatile = false): { minA: number; maxA: number; why: string } | { error: string } {
  if (!view || view.minA === null || view.maxA === null) return { error: 'its capacity range (GC) has not been read yet' };
  let maxA = view.maxA;
  const why: string[] = [`board ${view.minA}–${view.maxA} A${view.serviceLevel ? ` at L${view.serviceLevel}` : ''}`];
  if (circuitLimitA !== null && circuitLimitA < maxA) {
    maxA = circuitLimitA;
    why.push(`circuit limit ${circuitLimitA} A`);
  }
  if (volatile && view.configuredA !== null && view.configuredA < maxA) {
    maxA = view.configuredA;
    why.push(`a volatile set cannot exceed the saved ${view.configuredA} A`);
  }
  if (maxA < view.minA) return { error: `the circuit limit (${circuitLimitA} A) is below the J1772 minimum of ${view.minA} A — fix the configuration` };
  return { minA: view.minA, maxA, why: why.join(', ') };
}

export const checkEvseCommand: FamilyCheck<EvseCommand, EvseCheckContext> = (cmd, ctx) => {
  const name = ctx.name ?? `EVSE ${ctx.view?.name ?? '?'}`;
  const ok = (notes: string[] = []): EvseCheckResult => ({ ok: true, value: cmd, notes });

  if (DANGEROUS_COMMANDS.has(cmd.kind) && ctx.role !== 'admin') {
    return refuse('FORBIDDEN', `${name}: "${cmd.kind}" is marked dangerous for remote use (reset, calibration, counter or one-time writes); only an admin may send it`);
  }
  const protocol = ctx.view?.protocol ? parseVersion(ctx.view.protocol) : null;
  const needsD9 = cmd.kind === 'resetFaultCounters' || cmd.kind === 'relayRecovery' || (cmd.kind === 'feature' && ['L', 'O', 'P', 'Z'].includes(cmd.letter));
  if (needsD9 && (!protocol || compareVersion(protocol, RAPI_D9) < 0)) {
    return refuse('CONFLICT', `${name}: "${cmd.kind}" needs RAPI 6.0.0 (D9 firmware); this board reports ${ctx.view?.protocol ?? 'no version yet'}`);
  }

  switch (cmd.kind) {
    case 'setCurrent': {
      const r = allowedCurrentRange(ctx.view, ctx.circuitLimitA, cmd.volatile === true);
      if ('error' in r) return refuse(ctx.view?.minA == null ? 'DEVICE_OFFLINE' : 'OUT_OF_RANGE', `${name}: cannot set the current: ${r.error}`);
      if (!Number.isInteger(cmd.amps) || cmd.amps < r.minA || cmd.amps > r.maxA) {
        return refuse('OUT_OF_RANGE', `${name}: ${cmd.amps} A is outside the allowed ${r.minA}–${r.maxA} A (${r.why}); choose a whole number of amps in that range`);
      }
      return ok();
    }
    case 'setHardwareMax':
      if (!Number.isInteger(cmd.amps) || cmd.amps < 6 || cmd.amps > 80) return refuse('OUT_OF_RANGE', `${name}: the hardware maximum must be 6–80 A, got ${cmd.amps}`);
      return ok(['the hardware maximum can be written only once (rapi §5.2); later writes are refused by the board']);
    case 'enable': {
      const cap = ctx.view?.capacityA;
      if (ctx.circuitLimitA !== null && cap != null && cap > ctx.circuitLimitA) {
        return refuse('CONFLICT', `${name} advertises ${cap} A, above the circuit limit of ${ctx.circuitLimitA} A; set the current to ${ctx.circuitLimitA} A or less before enabling`);
      }
      return ok();
    }
    case 'setServiceLevel': {
      const notes: string[] = [];
      if (cmd.level !== 1 && cmd.level !== 2 && cmd.level !== 'auto') return refuse('OUT_OF_RANGE', `${name}: service level must be 1, 2 or auto`);
      if (ctx.circuitLimitA !== null) notes.push('the board re-applies the saved capacity of the new level; check it against the circuit limit');
      return ok(notes);
    }
    case 'setLimits': {
      if (cmd.timeMinutes != null && (!(cmd.timeMinutes > 0) || cmd.timeMinutes > 255 * 15)) {
        return refuse('OUT_OF_RANGE', `${name}: a time limit must be 1–${255 * 15} minutes (15-minute steps), or null to clear`);
      }
      if (cmd.energyKWh != null && (!(cmd.energyKWh > 0) || cmd.energyKWh > 255)) return refuse('OUT_OF_RANGE', `${name}: an energy limit must be 1–255 kWh, or null to clear`);
      if (cmd.timeMinutes === undefined && cmd.energyKWh === undefined) return refuse('BAD_USER_INPUT', `${name}: give a time limit, an energy limit, or both`);
      const notes: string[] = [];
      if (cmd.timeMinutes != null && cmd.timeMinutes % 15) notes.push(`the board counts in 15-minute steps: ${Math.ceil(cmd.timeMinutes / 15) * 15} minutes`);
      if (cmd.energyKWh != null && !Number.isInteger(cmd.energyKWh)) notes.push(`the board counts whole kWh: ${Math.ceil(cmd.energyKWh)} kWh`);
      return ok(notes);
    }
    case 'lcdText': {
      if (!Number.isInteger(cmd.x) || cmd.x < 0 || cmd.x > 15 || !Number.isInteger(cmd.y) || cmd.y < 0 || cmd.y > 1) {
        return refuse('OUT_OF_RANGE', `${name}: LCD position must be column 0–15, row 0–1`);
      }
      if (!/^[\x20-\x7e]+$/.test(cmd.text) || /[$^*]/.test(cmd.text) || !cmd.text.trim()) {
        return refuse('BAD_USER_INPUT', `${name}: LCD text must be printable ASCII without $, ^ or *`);
      }
      let line: string;
      try {
        // worst case on the wire: with a sequence id and an XOR checksum
        line = buildCommand('FP', Rapi.lcdText(cmd.x, cmd.y, cmd.text).args, { seq: 0xff }).line;
      } catch {
        return refuse('OUT_OF_RANGE', `${name}: LCD text has too many words (the board takes at most ${RAPI_MAX_TOKENS - 4})`);
      }
      if (line.length > RAPI_MAX_COMMAND_CHARS) {
        const room = cmd.text.length - (line.length - RAPI_MAX_COMMAND_CHARS);
        return refuse('OUT_OF_RANGE', `${name}: LCD text is ${cmd.text.length} characters; at column ${cmd.x} at most ${Math.max(0, room)} fit in the board's 31-character command`);
      }
      return ok();
    }
    case 'feature':
      if (cmd.letter === 'E') return refuse('CONFLICT', `${name}: echo cannot be switched: in firmware 8.2.3 "FF E" turns echo ON whatever the value, until the board restarts`);
      if (!cmd.on && SAFETY_LETTERS.has(cmd.letter) && ctx.role !== 'admin') {
        return refuse('FORBIDDEN', `${name}: switching off a safety check (FF ${cmd.letter}) needs the admin role`);
      }
      return ok();
    case 'heartbeat': {
      if (!Number.isInteger(cmd.intervalS) || cmd.intervalS < 0 || cmd.intervalS > 3600) return refuse('OUT_OF_RANGE', `${name}: heartbeat interval must be 0–3600 s`);
      if (cmd.intervalS === 0 && ctx.role !== 'admin') return refuse('FORBIDDEN', `${name}: switching heartbeat supervision off needs the admin role`);
      const r = allowedCurrentRange(ctx.view, ctx.circuitLimitA);
      const hi = 'error' in r ? ctx.circuitLimitA ?? 80 : r.maxA;
      if (!Number.isInteger(cmd.fallbackA) || cmd.fallbackA < 6 || cmd.fallbackA > hi) return refuse('OUT_OF_RANGE', `${name}: the heartbeat fallback current must be 6–${hi} A, got ${cmd.fallbackA}`);
      return ok();
    }
    case 'delayTimer': {
      const hhmm = /^([01]?\d|2[0-3]):([0-5]\d)$/;
      if (!hhmm.test(cmd.start) || !hhmm.test(cmd.end)) return refuse('BAD_USER_INPUT', `${name}: delay timer times must be HH:MM (00:00–23:59)`);
      if (cmd.start === cmd.end) return refuse('BAD_USER_INPUT', `${name}: the delay timer start and end are the same`);
      return ok();
    }
    case 'setVoltage':
      if (!(cmd.voltageV >= 90 && cmd.voltageV <= 270)) return refuse('OUT_OF_RANGE', `${name}: the energy-maths voltage must be 90–270 V, got ${cmd.voltageV}`);
      return ok(['volatile: the board forgets it at reboot']);
    case 'calibrateAmmeter':
      if (!Number.isInteger(cmd.scale) || !Number.isInteger(cmd.offset)) return refuse('BAD_USER_INPUT', `${name}: ammeter scale and offset are integers`);
      return ok();
    case 'setLifetimeEnergy':
      if (!Number.isInteger(cmd.wh) || cmd.wh < 0) return refuse('OUT_OF_RANGE', `${name}: the lifetime energy is a whole number of Wh ≥ 0`);
      return ok();
    case 'syncClock':
    case 'backlight':
    case 'disable':
    case 'sleep':
    case 'cancelDelayTimer':
    case 'reset':
    case 'resetFaultCounters':
    case 'relayRecovery':
      return ok();
  }
};

/**
 * The check in the shape `engine.command(origin, deviceId, cmd, check, text)` takes: the engine
 * hands it the device's view; the caller (the GraphQL mutation) knows the role and the config.
 */
export function evseCheck(opts: { circuitLimitA: number | null; role: Role }): (cmd: EvseCommand, ctx: { device: DeviceViewBase }) => EvseCheckResult {
  return (cmd, { device }) =>
    checkEvseCommand(cmd, {
      view: device.kind === 'openevse' ? (device as EvseView) : null,
      circuitLimitA: opts.circuitLimitA,
      role: opts.role,
      name: `EVSE ${device.name}`,
    });
}
