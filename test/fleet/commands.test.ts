// Commands down: a request on pp.<site>.commands runs through the site's own engine, gate and
// the role the site gives the fleet, and is answered with the outcome.
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { silentLogger } from '../../src/log.js';
import { fleetSchema } from '../../src/fleet/config.js';
import { commandSubject, FleetCommands, type FleetCommandReply } from '../../src/fleet/commands.js';
import { startLiveServer, type LiveServer } from '../helpers/server.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';

let live: LiveServer | undefined;
let nats: NatsServer | undefined;
let cmds: FleetCommands | undefined;
afterEach(async () => {
  await cmds?.stop();
  await live?.stop();
  await nats?.stop();
  live = nats = cmds = undefined;
});

async function request(body: unknown): Promise<FleetCommandReply> {
  const nc = await connect({ servers: nats!.url });
  try {
    const m = await nc.request(commandSubject('rig-1'), JSON.stringify(body), { timeout: 10_000 });
    return m.json<FleetCommandReply>();
  } finally {
    await nc.close();
  }
}

describe('fleet commands down', () => {
  it('a standby from the fleet runs through the site gate and is answered; the event names the fleet as actor', async () => {
    nats = await startNatsServer();
    live = await startLiveServer({ speed: 10 });
    cmds = new FleetCommands({ engine: live.rig.engine, fleet: fleetSchema.parse({ siteId: 'rig-1', natsUrl: nats.url }), log: silentLogger(), role: 'operator' });
    await cmds.start();
    const r = await request({ command: 'standby', deviceId: 'all' });
    expect(r.ok).toBe(true);
    const byFleet = live.store.eventsAfter(0).filter((e) => e.data.actor === 'fleet');
    expect(byFleet.map((e) => e.type)).toContain('setpoint.accepted');
  });

  it('refused commands carry a code: a device the gate does not know, a role the site did not grant, an unknown command', async () => {
    nats = await startNatsServer();
    live = await startLiveServer({ speed: 10 });
    cmds = new FleetCommands({ engine: live.rig.engine, fleet: fleetSchema.parse({ siteId: 'rig-1', natsUrl: nats.url }), log: silentLogger(), role: 'operator' });
    await cmds.start();
    const unknownDevice = await request({ command: 'standby', deviceId: 'no-such-psu' });
    expect(unknownDevice.ok).toBe(false);
    expect(unknownDevice).toHaveProperty('code');
    expect(await request({ command: 'setVoltage', volts: 60 })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    await cmds.stop();

    cmds = new FleetCommands({ engine: live.rig.engine, fleet: fleetSchema.parse({ siteId: 'rig-1', natsUrl: nats.url }), log: silentLogger(), role: 'viewer' });
    await cmds.start();
    expect(await request({ command: 'standby', deviceId: 'all' })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(await request({ command: 'stopCharge', chargerId: 'charger1' })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
  });
});

describe('fleet commands on a slow link', () => {
  it('defect (commands subscribed late): a command sent the moment FleetCommands.start() resolved found no responder', async () => {
    // The site reaches NATS through 300 ms of latency. start() must resolve only once the
    // server has the subscription; before the fix it resolved with the SUB still on the wire and
    // the first command was answered "no responders" (SITE_UNREACHABLE at the central).
    const { startLatencyProxy } = await import('../helpers/latency-proxy.js');
    nats = await startNatsServer();
    const proxy = await startLatencyProxy({ host: '127.0.0.1', port: nats.port }, 300);
    const nc = await connect({ servers: nats.url });
    try {
      live = await startLiveServer({ speed: 10 });
      cmds = new FleetCommands({ engine: live.rig.engine, fleet: fleetSchema.parse({ siteId: 'rig-1', natsUrl: proxy.url }), log: silentLogger(), role: 'operator' });
      await cmds.start();
      const m = await nc.request(commandSubject('rig-1'), JSON.stringify({ command: 'standby', deviceId: 'all' }), { timeout: 10_000 });
      expect(m.json<FleetCommandReply>()).toMatchObject({ ok: true });
    } finally {
      await nc.close();
      await cmds?.stop();
      cmds = undefined;
      await proxy.stop();
    }
  });
});

describe('fleet commands from the central API', () => {
  it('the central mutation reaches the site and returns its answer; a site without commands is unreachable, said plainly', async () => {
    const { startPostgres } = await import('../helpers/postgres.js');
    const { CentralService } = await import('../../src/fleet/central.js');
    const { parseCentralConfig } = await import('../../src/fleet/central-config.js');
    nats = await startNatsServer();
    const pgs = await startPostgres();
    const central = new CentralService({ config: parseCentralConfig({ nats: { url: nats.url }, postgres: { url: pgs.url }, server: { port: 0 } }), log: silentLogger() });
    try {
      await central.start();
      live = await startLiveServer({ speed: 10 });
      const mutate = async (q: string) => {
        const r = await fetch(`http://127.0.0.1:${central.port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: q }) });
        return ((await r.json()) as { data: { command: { ok: boolean; code: string | null; message: string } } }).data.command;
      };
      expect(await mutate('mutation { command(siteId: "rig-1", command: "standby", deviceId: "all") { ok code message } }')).toMatchObject({ ok: false, code: 'SITE_UNREACHABLE' });
      cmds = new FleetCommands({ engine: live.rig.engine, fleet: fleetSchema.parse({ siteId: 'rig-1', natsUrl: nats.url }), log: silentLogger(), role: 'operator' });
      await cmds.start();
      expect(await mutate('mutation { command(siteId: "rig-1", command: "standby", deviceId: "all") { ok code message } }')).toMatchObject({ ok: true, code: null });
      expect(await mutate('mutation { command(siteId: "rig-1", command: "stopCharge", chargerId: "nope") { ok code } }')).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    } finally {
      await cmds?.stop();
      cmds = undefined;
      await central.stop();
      await pgs.stop();
    }
  });
});
