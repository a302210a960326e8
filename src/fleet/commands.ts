/**
 * Commands down (off unless `fleet.commands.enabled`): the central side may request, on
 * `pp.<site>.commands` (NATS request/reply), the same typed commands a local operator can. The
 * edge runs each through its own engine, so its command gate and its limits decide, as for a
 * local caller, and answers with the outcome; the role the fleet acts with is the site's choice
 * (fleet.commands.role), checked here like a token's role. The site works fully without it.
 *
 * The commands, each needing the role its own API mutation needs:
 * - standby {deviceId: a PSU id or "all"} and stopCharge {chargerId}: operator;
 * - applyProfile {deviceId: an inverter id or serial, profile: a saved profile's name, confirm}:
 *   admin, as applyProfile. The site plans it from the unit's fresh settings and applies it, the
 *   two steps a person takes (planProfile, applyProfile), both in the inverter audit; confirm must
 *   be true, as in the site's API: without it the gate refuses the apply (BAD_USER_INPUT, recorded)
 *   and nothing is sent;
 * - enableJob / disableJob {jobId}: operator, as setJobEnabled; a job from the site's config is
 *   READ_ONLY.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { roleAtLeast, type Role } from '../auth.js';
import type { Code } from '../codes.js';
import type { Engine } from '../engine/engine.js';
import { runAsActor } from '../engine/actor.js';
import { runDeviceCommand } from '../engine/scheduler/actions.js';
import type { Logger } from '../log.js';
import type { FleetConfig } from './config.js';
import { connectNats } from './nats.js';

export type FleetCommand =
  | { command: 'standby'; deviceId: string }
  | { command: 'stopCharge'; chargerId: string }
  | { command: 'applyProfile'; deviceId: string; profile: string; confirm: boolean }
  | { command: 'enableJob'; jobId: string }
  | { command: 'disableJob'; jobId: string };

export type FleetCommandReply = { ok: true; message: string } | { ok: false; code: Code | string; message: string };

/** The role each command needs, as in the site's own API (applyProfile is admin only there). */
const NEEDS: Record<FleetCommand['command'], Role> = { standby: 'operator', stopCharge: 'operator', applyProfile: 'admin', enableJob: 'operator', disableJob: 'operator' };

/** The fields each command needs, each a non-empty string (applyProfile's confirm is checked by the gate). */
const FIELDS: Record<FleetCommand['command'], string[]> = { standby: ['deviceId'], stopCharge: ['chargerId'], applyProfile: ['deviceId', 'profile'], enableJob: ['jobId'], disableJob: ['jobId'] };

export const commandSubject = (site: string): string => `pp.${site}.commands`;

export class FleetCommands {
  private nc: NatsConnection | null = null;
  private sub: Subscription | null = null;
  private done: Promise<void> | null = null;

  constructor(private readonly o: { engine: Engine; fleet: FleetConfig; log: Logger; role: Role }) {}

  async start(): Promise<void> {
    const f = this.o.fleet;
    this.nc = await connectNats({ servers: f.natsUrl, credentials: f.credentials, tls: f.tls, name: `powerplane-${f.siteId}-commands` });
    const sub = this.nc.subscribe(commandSubject(f.siteId));
    this.sub = sub;
    // Resolve only once the server has the subscription (PING/PONG after the SUB): a command
    // sent the moment start() returns would otherwise find no responder on a slow link.
    await this.nc.flush();
    this.done = (async () => {
      for await (const m of sub) {
        let reply: FleetCommandReply;
        try {
          reply = await this.run(m.json<FleetCommand>());
        } catch (err) {
          reply = { ok: false, code: 'BAD_USER_INPUT', message: `not a fleet command (${String(err)}): send JSON such as {"command":"standby","deviceId":…}; commands: ${Object.keys(NEEDS).join(', ')}` };
        }
        m.respond(JSON.stringify(reply));
      }
    })();
  }

  async stop(): Promise<void> {
    this.sub?.unsubscribe();
    await this.done;
    await this.nc?.close();
    this.nc = null;
  }

  /** Runs one command as the fleet (actor "fleet"), through the engine and its gate. */
  async run(c: FleetCommand): Promise<FleetCommandReply> {
    const needed = Object.hasOwn(NEEDS, String(c?.command)) ? NEEDS[c.command] : undefined;
    if (!needed) return { ok: false, code: 'BAD_USER_INPUT', message: `unknown fleet command ${JSON.stringify(c?.command)}: ${Object.keys(NEEDS).join(', ')}` };
    if (!roleAtLeast(this.o.role, needed)) {
      return { ok: false, code: 'FORBIDDEN', message: `site ${this.o.fleet.siteId} lets the fleet act as ${this.o.role}; ${c.command} needs ${needed} (fleet.commands.role in the site's config)` };
    }
    const missing = FIELDS[c.command].filter((k) => typeof (c as Record<string, unknown>)[k] !== 'string' || (c as Record<string, unknown>)[k] === '');
    if (missing.length) return { ok: false, code: 'BAD_USER_INPUT', message: `${c.command} needs ${FIELDS[c.command].join(' and ')} (missing: ${missing.join(', ')})` };
    return runAsActor('fleet', async () => {
      if (c.command === 'applyProfile') {
        // The family's named device command (registered by its folder): the fleet names no family.
        const engine = this.o.engine;
        const device = engine.device(c.deviceId) ?? engine.listDevices().find((v) => (v as { serial?: unknown }).serial === c.deviceId);
        if (!device) return { ok: false, code: 'NOT_FOUND', message: `site ${this.o.fleet.siteId} has no device ${c.deviceId}` };
        const r = await runDeviceCommand(engine, 'api', device.id, 'apply-profile', { profile: c.profile }, { confirm: c.confirm === true });
        return r.ok ? { ok: true, message: r.message } : { ok: false, code: r.code, message: `site ${this.o.fleet.siteId}: ${r.message}` };
      }
      if (c.command === 'enableJob' || c.command === 'disableJob') {
        const enable = c.command === 'enableJob';
        const r = this.o.engine.scheduler.setEnabled(c.jobId, enable);
        return r.ok ? { ok: true, message: `job "${r.value.name}" (${r.value.id}) ${enable ? 'enabled' : 'disabled'}` } : { ok: false, code: r.code, message: `site ${this.o.fleet.siteId}: ${r.message}` };
      }
      if (c.command === 'standby') {
        const r = await this.o.engine.standby('api', String(c.deviceId));
        return r.ok ? { ok: true, message: r.message } : { ok: false, code: r.code, message: r.message };
      }
      const ch = this.o.engine.charger(String(c.chargerId));
      if (!ch) return { ok: false, code: 'NOT_FOUND', message: `site ${this.o.fleet.siteId} has no charger ${c.chargerId}` };
      const r = await ch.stopCharge('api', 'stopped from the fleet');
      return r.ok ? { ok: true, message: `charger ${c.chargerId} stopped` } : { ok: false, code: r.code, message: r.message };
    });
  }
}
