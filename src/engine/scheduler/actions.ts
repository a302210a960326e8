/**
 * What a job's actions do: each maps to the command path a person's mutation takes (the same
 * engine method with origin "schedule"), so the gate, the interlocks and the events are the
 * same as for a person pressing the button. A refusal keeps the gate's code.
 *
 * Families extend it with named device commands (the `device-command` action):
 *
 *   registerDeviceCommand('openevse', 'set-current', {
 *     args: z.object({ currentA: z.number().int() }),   // checked at load and on create/update
 *     toCommand: (args) => ({ kind: 'setCurrent', amps: args.currentA }),
 *     check: evseCheck,                                  // the family's page of the gate
 *     describe: (args) => `set the charging current to ${args.currentA} A`,
 *   });
 *
 * A job then names it: `{ type: device-command, deviceId: evse0, command: set-current, args: { currentA: 10 } }`.
 * It runs through `engine.command(...)` (gate, command.* events, driver.execute), and a
 * device whose family has no such command is refused at load with the key.
 *
 * A command whose family builds it asynchronously (the PI18 profile apply reads PIRI to plan
 * first; src/families/pi18/jobs.ts) registers `run` instead of `toCommand`/`check`: it carries the command out through the
 * family's own path, which must end in `engine.command` (the gate, the command.* events), and
 * answers an ActionResult. `validate` checks what the args name (a saved profile exists) at
 * load and on every create/update; `role` is the least role that may put the command in a job
 * (or run such a job by hand), as the family's own mutation needs.
 */
import type { z } from 'zod';
import type { Code } from '../../codes.js';
import { roleAtLeast, type Role } from '../../auth.js';
import type { Engine } from '../engine.js';
import type { SetpointOrigin } from '../controllers/dc-output.js';
import type { DeviceViewBase } from '../../families/types.js';
import type { FamilyCheck } from '../../families/contract.js';
import type { JobAction, JobCondition, JobSpec } from './spec.js';

/**
 * An action's outcome. `failed`: the command was admitted and went out but did not succeed
 * (e.g. a profile apply aborted and rolled back), recorded as a failed run rather than a refusal.
 */
export type ActionResult = { ok: true; message: string } | { ok: false; code: Code; message: string; failed?: boolean };

interface DeviceCommandBase<Args> {
  args: z.ZodType<Args>;
  describe(args: Args): string;
  /** The least role that may put this command in a job or run such a job by hand (default: operator, the jobs mutations' own). */
  role?: Role;
  /** What the args name, checked at load and on every create/update: problems with their key under `args`. */
  validate?(args: Args, ctx: { engine: Engine; device: DeviceViewBase }): Array<{ path?: string; message: string }>;
}

/** A command built synchronously and run through `engine.command` by the scheduler. */
export interface SyncDeviceCommandDef<Args = unknown, Cmd = unknown> extends DeviceCommandBase<Args> {
  toCommand(args: Args, device: DeviceViewBase): Cmd;
  check: FamilyCheck<Cmd, { device: DeviceViewBase }>;
  run?: never;
}

/** What an async command's `run` is given: the engine and the origin its commands carry. */
export interface DeviceCommandRunContext {
  engine: Engine;
  origin: 'api' | 'schedule';
  /** The person's (or the fleet's) confirmation; a scheduled run is confirmed by the saved job. */
  confirm: boolean;
}

/** A command the family carries out itself, asynchronously, through its own path to `engine.command`. Never throws for a refusal. */
export interface AsyncDeviceCommandDef<Args = unknown> extends DeviceCommandBase<Args> {
  run(args: Args, device: DeviceViewBase, ctx: DeviceCommandRunContext): Promise<ActionResult>;
  toCommand?: never;
  check?: never;
}

/** A family's named command for the `device-command` action. */
export type DeviceCommandDef<Args = unknown, Cmd = unknown> = SyncDeviceCommandDef<Args, Cmd> | AsyncDeviceCommandDef<Args>;

const deviceCommands = new Map<string, Map<string, DeviceCommandDef>>();

/** Registers a family's named command (idempotent per kind and name: the last one wins). */
export function registerDeviceCommand<Args, Cmd>(kind: string, name: string, def: DeviceCommandDef<Args, Cmd>): () => void {
  let m = deviceCommands.get(kind);
  if (!m) deviceCommands.set(kind, (m = new Map()));
  m.set(name, def as unknown as DeviceCommandDef);
  return () => void m.delete(name);
}

/** The named commands a family offers to jobs. */
export function deviceCommandsOf(kind: string): string[] {
  return [...(deviceCommands.get(kind)?.keys() ?? [])];
}

function deviceCommand(kind: string, name: string): DeviceCommandDef | undefined {
  return deviceCommands.get(kind)?.get(name);
}

/**
 * The least role a job's actions need from the person who writes it or runs it by hand, with
 * the action that needs it; null when the jobs mutations' operator role is enough.
 */
export function roleNeeded(actions: JobAction[], engine: Engine): { role: Role; action: string } | null {
  let top: { role: Role; action: string } | null = null;
  for (const a of actions) {
    if (a.type !== 'device-command') continue;
    const d = engine.device(a.deviceId);
    const need = d ? deviceCommand(d.kind, a.command)?.role : undefined;
    if (need && need !== 'operator' && (!top || roleAtLeast(need, top.role))) top = { role: need, action: describeAction(a) };
  }
  return top;
}

/** A refusal when `role` may not write or run these actions (null: allowed). */
export function roleRefusal(actions: JobAction[], engine: Engine, role: Role | null | undefined, actor: string): { code: Code; message: string } | null {
  if (role === undefined) return null;
  const need = roleNeeded(actions, engine);
  if (!need || roleAtLeast(role, need.role)) return null;
  return { code: 'FORBIDDEN', message: `"${actor}" has the ${role ?? 'no'} role; a job that does "${need.action}" needs ${need.role}, as the same command through the API does` };
}

export interface RefIssue {
  path: string;
  message: string;
}

function dcTargetOk(engine: Engine, target: string): boolean {
  return target === 'all' || engine.unit(target) !== undefined;
}

function batteryOk(engine: Engine, id: string): boolean {
  return engine.batterySource(id) !== undefined || engine.charger(id) !== undefined;
}

/**
 * The references of a job against the running engine: unknown chargers, devices and buses,
 * and actions a device does not support. `prefix` is the job's key ("jobs.2" in the config).
 */
export function validateJobRefs(spec: Pick<JobSpec, 'actions' | 'conditions'>, engine: Engine, prefix = ''): RefIssue[] {
  const issues: RefIssue[] = [];
  const at = (...p: Array<string | number>) => [prefix, ...p].filter((x) => x !== '').join('.');
  const chargers = () => engine.listChargers().map((c) => c.id).join(', ') || 'none configured';
  spec.actions.forEach((a, i) => {
    switch (a.type) {
      case 'charge-start':
      case 'charge-stop':
        if (!engine.charger(a.chargerId)) issues.push({ path: at('actions', i, 'chargerId'), message: `no charger "${a.chargerId}" (chargers: ${chargers()})` });
        break;
      case 'dc-output-set':
      case 'dc-output-standby':
        if (!dcTargetOk(engine, a.target)) {
          const d = engine.device(a.target);
          issues.push({
            path: at('actions', i, 'target'),
            message: d
              ? `${d.name} (${d.kind}) has no DC output: ${a.type} needs "all" or a unit of a DC output link (${engine.dc.busIds().join(', ') || 'none'})`
              : `no DC output unit "${a.target}": use "all" or a unit id (query devices { id })`,
          });
        }
        break;
      case 'prune-history':
        break;
      case 'device-command': {
        const d = engine.device(a.deviceId);
        if (!d) {
          issues.push({ path: at('actions', i, 'deviceId'), message: `no device "${a.deviceId}"; query devices { id } for the ids` });
          break;
        }
        const def = deviceCommand(d.kind, a.command);
        if (!def) {
          const offered = deviceCommandsOf(d.kind);
          issues.push({ path: at('actions', i, 'command'), message: `${d.name} (${d.kind}) does not support "${a.command}" as a job action (${offered.length ? `it offers: ${offered.join(', ')}` : 'its family offers no job commands yet'})` });
          break;
        }
        const r = def.args.safeParse(a.args ?? {});
        if (!r.success) for (const iss of r.error.issues) issues.push({ path: at('actions', i, 'args', ...iss.path.map(String)), message: iss.message });
        else for (const v of def.validate?.(r.data, { engine, device: d }) ?? []) issues.push({ path: at('actions', i, 'args', ...(v.path ? [v.path] : [])), message: v.message });
        break;
      }
    }
  });
  spec.conditions.forEach((c, i) => {
    switch (c.type) {
      case 'soc-below':
      case 'soc-above':
        if (!batteryOk(engine, c.batteryId)) issues.push({ path: at('conditions', i, 'batteryId'), message: `no battery or charger "${c.batteryId}" reports a state of charge` });
        break;
      case 'device-online':
        if (!engine.device(c.deviceId) && !engine.charger(c.deviceId)) issues.push({ path: at('conditions', i, 'deviceId'), message: `no device "${c.deviceId}"; query devices { id } for the ids` });
        break;
      case 'charger-idle':
        if (!engine.charger(c.chargerId)) issues.push({ path: at('conditions', i, 'chargerId'), message: `no charger "${c.chargerId}" (chargers: ${chargers()})` });
        break;
    }
  });
  return issues;
}

/** One line naming an action, for run records and events. */
export function describeAction(a: JobAction): string {
  switch (a.type) {
    case 'charge-start':
      return `start charge on ${a.chargerId}${a.currentA !== undefined ? ` at ${a.currentA} A` : ''}`;
    case 'charge-stop':
      return `stop charge on ${a.chargerId}`;
    case 'dc-output-set':
      return `set DC output of ${a.target} to ${a.voltageV} V / ${a.currentA} A`;
    case 'dc-output-standby':
      return `standby ${a.target}`;
    case 'prune-history':
      return `prune history (${[a.framesOlderThanDays !== undefined ? `frames > ${a.framesOlderThanDays} d` : '', a.samplesOlderThanDays !== undefined ? `samples > ${a.samplesOlderThanDays} d` : ''].filter(Boolean).join(', ')})`;
    case 'device-command':
      return `${a.command} on ${a.deviceId}`;
  }
}

const DAY_MS = 86_400_000;

/** Carries out one action through the engine's command path, as origin "schedule". Never throws for a refusal. */
export async function runAction(engine: Engine, a: JobAction, jobName: string): Promise<ActionResult> {
  switch (a.type) {
    case 'charge-start': {
      const c = engine.charger(a.chargerId);
      if (!c) return { ok: false, code: 'NOT_FOUND', message: `no charger "${a.chargerId}"` };
      const r = await c.startCharge('schedule', a.currentA);
      return r.ok ? { ok: true, message: `${r.view.name}: charge started (${r.view.phase})` } : r;
    }
    case 'charge-stop': {
      const c = engine.charger(a.chargerId);
      if (!c) return { ok: false, code: 'NOT_FOUND', message: `no charger "${a.chargerId}"` };
      const r = await c.stopCharge('schedule', `Scheduled stop (job "${jobName}")`);
      return r.ok ? { ok: true, message: `${r.view.name}: charge stopped` } : r;
    }
    case 'dc-output-set': {
      const r = await engine.setPsuOutput('schedule', a.target, { voltageV: a.voltageV, currentA: a.currentA });
      return r.ok ? { ok: true, message: r.message } : r;
    }
    case 'dc-output-standby': {
      const r = await engine.standby('schedule', a.target);
      return r.ok ? { ok: true, message: r.message } : r;
    }
    case 'prune-history': {
      const now = engine.clock.now();
      // In batches of a few ms with the event loop free between them: a nightly prune of a
      // large store must not stall the charger's control loop (Store.prune is all at once).
      const r = await engine.store.pruneInBatches({
        framesOlderThan: a.framesOlderThanDays !== undefined ? now - a.framesOlderThanDays * DAY_MS : undefined,
        samplesOlderThan: a.samplesOlderThanDays !== undefined ? now - a.samplesOlderThanDays * DAY_MS : undefined,
      });
      if (!engine.store.health.writable) return { ok: false, code: 'STORAGE_UNAVAILABLE', message: `history not pruned: the database cannot be written (${engine.store.health.error})` };
      engine.record({ type: 'history.pruned', data: { frames: r.frames, samples: r.samples, framesOlderThanDays: a.framesOlderThanDays ?? null, samplesOlderThanDays: a.samplesOlderThanDays ?? null } });
      return { ok: true, message: `pruned ${r.frames} frames and ${r.samples} samples` };
    }
    case 'device-command':
      return runDeviceCommand(engine, 'schedule', a.deviceId, a.command, a.args);
  }
}

/**
 * A family's named command (registerDeviceCommand) to one device, through `engine.command`
 * (the family's page of the gate, command.* events, the driver). Used by the scheduler's
 * `device-command` action and by the MQTT bridge's family controls. Never throws for a refusal.
 */
export async function runDeviceCommand(engine: Engine, origin: SetpointOrigin, deviceId: string, command: string, rawArgs: unknown, opts: { confirm?: boolean } = {}): Promise<ActionResult> {
  const d = engine.device(deviceId);
  if (!d) return { ok: false, code: 'NOT_FOUND', message: `no device "${deviceId}"; query devices { id } for the ids` };
  const def = deviceCommand(d.kind, command);
  if (!def) return { ok: false, code: 'CONFLICT', message: `${d.name} (${d.kind}) does not support "${command}"` };
  const args = def.args.safeParse(rawArgs ?? {});
  if (!args.success) return { ok: false, code: 'BAD_USER_INPUT', message: `${command} on ${d.name}: ${args.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };

  if (def.run) {
    // Async commands (a PI18 profile apply plans first) carry themselves out through the family's
    // own path to engine.command; a scheduled one was confirmed when the job was saved.
    if (origin !== 'schedule' && origin !== 'api') return { ok: false, code: 'CONFLICT', message: `${command} on ${d.name} runs from a job, the API or the fleet` };
    return def.run(args.data, d, { engine, origin, confirm: origin === 'schedule' || opts.confirm === true });
  }
  const r = await engine.command(origin, d.id, def.toCommand(args.data, d), def.check, def.describe(args.data));
  return r.ok ? { ok: true, message: `${d.name}: ${def.describe(args.data)} done` } : { ok: false, code: r.code, message: r.message };
}

/** A condition at fire time, from the live projections: held, or why not. */
export function evaluateCondition(engine: Engine, c: JobCondition): { ok: true } | { ok: false; reason: string } {
  switch (c.type) {
    case 'soc-below':
    case 'soc-above': {
      const src = engine.batterySource(c.batteryId);
      const soc = src ? (src.online() ? src.socPct() : null) : (engine.charger(c.batteryId)?.view().socPct ?? null);
      if (soc === null) return { ok: false, reason: `the state of charge of ${c.batteryId} is not known (offline or not reported)` };
      const below = c.type === 'soc-below';
      if (below ? soc < c.pct : soc > c.pct) return { ok: true };
      return { ok: false, reason: `SOC of ${c.batteryId} is ${soc.toFixed(1)} %, not ${below ? 'below' : 'above'} ${c.pct} %` };
    }
    case 'device-online': {
      const d = engine.device(c.deviceId);
      if (d?.online) return { ok: true };
      return { ok: false, reason: d ? `${d.name} is offline` : `no device "${c.deviceId}"` };
    }
    case 'charger-idle': {
      const ch = engine.charger(c.chargerId);
      if (!ch) return { ok: false, reason: `no charger "${c.chargerId}"` };
      if (ch.activeSessionId || ch.resumePending) return { ok: false, reason: `charger ${c.chargerId} is not idle (${ch.view().phase})` };
      return { ok: true };
    }
  }
}
