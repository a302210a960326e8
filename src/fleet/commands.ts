/**
 * Commands down (off unless `fleet.commands.enabled`): the central side may request, on
 * `pp.<site>.commands` (NATS request/reply), the same typed commands a local operator can. The
 * edge runs each through its own engine, so its command gate and its limits decide, as for a
 * local caller, and answers with the outcome; the role the fleet acts with is the site's choice
 * (fleet.commands.role), checked here like a token's role. The site works fully without it.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { roleAtLeast, type Role } from '../auth.js';
import type { Code } from '../codes.js';
import type { Engine } from '../engine/engine.js';
import { runAsActor } from '../engine/actor.js';
import type { Logger } from '../log.js';
import type { FleetConfig } from './config.js';
import { connectNats } from './nats.js';

export type FleetCommand = { command: 'standby'; deviceId: string } | { command: 'stopCharge'; chargerId: string };

export type FleetCommandReply = { ok: true; message: string } | { ok: false; code: Code | string; message: string };

/** The role each command needs, as in the site's own API. */
const NEEDS: Record<FleetCommand['command'], Role> = { standby: 'operator', stopCharge: 'operator' };

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
          reply = { ok: false, code: 'BAD_USER_INPUT', message: `not a fleet command (${String(err)}): send {"command":"standby","deviceId":…} or {"command":"stopCharge","chargerId":…}` };
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
    const needed = NEEDS[c?.command as FleetCommand['command']];
    if (!needed) return { ok: false, code: 'BAD_USER_INPUT', message: `unknown fleet command ${JSON.stringify(c?.command)}: standby or stopCharge` };
    if (!roleAtLeast(this.o.role, needed)) {
      return { ok: false, code: 'FORBIDDEN', message: `site ${this.o.fleet.siteId} lets the fleet act as ${this.o.role}; ${c.command} needs ${needed} (fleet.commands.role in the site's config)` };
    }
    return runAsActor('fleet', async () => {
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
