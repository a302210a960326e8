/**
 * The inverter's command for scheduled jobs (`device-command` actions, src/engine/scheduler/
 * actions.ts): apply a saved profile ("apply the summer profile on 1 April"). It plans
 * asynchronously (the unit's PIRI is read first), so it is an async job command: the run takes
 * the path a person's apply takes — plan (recorded), then the apply as a family command through
 * the gate (engine.command, origin "schedule"), which holds the unit's exchange slot, writes each
 * setter with read-back and rolls back on the first failure; both are in the inverter audit
 * under the job's actor. The saved profile must exist when the job is loaded, created or updated;
 * writing such a job needs the admin role, as applyProfile does.
 */
import { z } from 'zod';
import type { Code } from '../../codes.js';
import { registerDeviceCommand, type ActionResult } from '../../engine/scheduler/actions.js';
import { currentActor } from '../../engine/actor.js';
import type { Engine } from '../../engine/engine.js';
import type { AuditRow } from './store.js';
import { Pi18Error, pi18Service } from './service.js';

/** The job's (or fleet's) outcome of an apply, from its audit row. */
export function applyOutcome(who: string, profile: string, row: AuditRow): ActionResult {
  const audit = row.id > 0 ? ` (inverter audit #${row.id})` : '';
  switch (row.result) {
    case 'applied':
      return { ok: true, message: `${who}: saved profile "${profile}" applied, every setter read back${audit}` };
    case 'nothing-to-do':
      return { ok: true, message: `${who} already matches saved profile "${profile}"; nothing was sent${audit}` };
    case 'aborted':
      return {
        ok: false,
        failed: true,
        code: (row.code ?? 'CONFLICT') as Code,
        message: `${row.message}; rollback ${row.rollbackHeld === null ? 'not needed' : row.rollbackHeld ? 'held (read back)' : 'did NOT hold: check the unit\'s settings (profile dump)'}${audit}`,
      };
    default:
      return { ok: false, code: (row.code ?? 'CONFLICT') as Code, message: `${row.message}${audit}` };
  }
}

/** Plans and applies a saved profile on one unit as `operator`; refusals become a result with their code. */
export async function applySavedProfile(engine: Engine, deviceId: string, profile: string, o: { confirm: boolean; operator: string; origin: 'api' | 'schedule' }): Promise<ActionResult & { auditId?: number; planId?: number }> {
  const svc = pi18Service(engine);
  const who = `inverter ${engine.device(deviceId)?.name ?? deviceId}`;
  try {
    const { plan, audit } = await svc.applySaved(deviceId, profile, o);
    return { ...applyOutcome(who, profile, audit), auditId: audit.id, planId: plan.id };
  } catch (e) {
    if (e instanceof Pi18Error) return { ok: false, code: e.code, message: e.message };
    throw e;
  }
}

registerDeviceCommand('pi18', 'apply-profile', {
  args: z.object({ profile: z.string().min(1, 'name a saved profile (inverterProfiles { name })').max(64) }).strict(),
  role: 'admin',
  validate: (a, { engine }) => {
    const records = pi18Service(engine).records;
    if (records.profile(a.profile)) return [];
    const saved = records.profiles().map((p) => p.name);
    return [{ path: 'profile', message: `no saved profile "${a.profile}" (saved: ${saved.length ? saved.join(', ') : 'none'}); save it first (saveProfile) or name another` }];
  },
  describe: (a) => `apply saved profile "${a.profile}"`,
  run: (a, device, { engine, origin, confirm }) => applySavedProfile(engine, device.id, a.profile, { confirm, operator: currentActor() ?? origin, origin }),
});
