// Commands down: a request on pp.<site>.commands runs through the site's own engine, gate and
// the role the site gives the fleet, and is answered with the outcome.
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { silentLogger } from '../../src/log.js';
import { fleetSchema } from '../../src/fleet/config.js';
import { commandSubject, FleetCommands, type FleetCommandReply } from '../../src/fleet/commands.js';
import { startLiveServer, type LiveServer } from '../helpers/server.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/wait.js';
import { pi18Service } from '../../src/families/pi18/service.js';
import type { Pi18SimNode } from '../../src/families/pi18/family.js';
import type { InverterView } from '../../src/families/pi18/project.js';
import type { Role } from '../../src/auth.js';

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
      // The new commands' arguments reach the site through the typed mutation.
      expect(live.rig.engine.scheduler.create({ id: 'j1', name: 'prune', cron: '0 3 * * *', timezone: 'UTC', enabled: false, actions: [{ type: 'prune-history', framesOlderThanDays: 7 }] }, 'me').ok).toBe(true);
      expect(await mutate('mutation { command(siteId: "rig-1", command: "enableJob", jobId: "j1") { ok code } }')).toMatchObject({ ok: true, code: null });
      expect(live.rig.engine.scheduler.get('j1')!.enabled).toBe(true);
      expect(await mutate('mutation { command(siteId: "rig-1", command: "disableJob", jobId: "nope") { ok code } }')).toMatchObject({ ok: false, code: 'NOT_FOUND' });
      expect(await mutate('mutation { command(siteId: "rig-1", command: "applyProfile", deviceId: "inv-master", profile: "night", confirm: true) { ok code message } }')).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    } finally {
      await cmds?.stop();
      cmds = undefined;
      await central.stop();
      await pgs.stop();
    }
  });
});

/** Starts the site's command listener with `role`; the first request waits until it answers (no timing assumed). */
async function listen(role: Role): Promise<void> {
  await cmds?.stop();
  cmds = new FleetCommands({ engine: live!.rig.engine, fleet: fleetSchema.parse({ siteId: 'rig-1', natsUrl: nats!.url }), log: silentLogger(), role });
  await cmds.start();
  await waitFor(async () => {
    const nc = await connect({ servers: nats!.url });
    try {
      await nc.request(commandSubject('rig-1'), JSON.stringify({ command: 'ping' }), { timeout: 10_000 });
      return true;
    } catch {
      return false; // no responders yet: the subscription is not registered at the server
    } finally {
      await nc.close();
    }
  }, 'the site listening on its command subject', 30_000);
}

describe('fleet commands down: applying a saved profile', () => {
  it('applyProfile plans and applies a saved PI18 profile through the site gate (actor fleet, in the audit); confirm false, a viewer/operator role, an unknown unit or profile are refused with a code and nothing is sent', async () => {
    nats = await startNatsServer();
    live = await startLiveServer({ inverters: true, speed: 20 });
    const engine = live.rig.engine;
    await waitFor(() => {
      const v = engine.deviceView<InverterView>('inv-master');
      return v?.online && v.settings;
    }, 'inv-master online with its settings', 30_000);
    const sim = (live.rig.sim!.pi18.get('inv0') as Pi18SimNode).sim;
    const before = sim.piri.maxChargingCurrentA;
    const wanted = before === 40 ? 50 : 40;
    pi18Service(engine).saveProfile('night', `max_charging_current: ${wanted}`, 'test');
    const apply = { command: 'applyProfile', deviceId: 'inv-master', profile: 'night', confirm: true };

    // The site grants the fleet the operator role (the default): applyProfile is admin only there.
    await listen('operator');
    const sent0 = sim.applied.length;
    const denied = await request(apply);
    expect(denied).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(denied.message).toMatch(/applyProfile needs admin/);
    expect(sim.applied.length).toBe(sent0);

    await listen('admin');
    // Without confirm, as in the site's API: the gate refuses the apply, recorded; nothing is sent.
    const unconfirmed = await request({ ...apply, confirm: false });
    expect(unconfirmed).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(unconfirmed.message).toMatch(/confirm/);
    expect(sim.applied.length).toBe(sent0);
    // Unknown ids.
    const noProfile = await request({ ...apply, profile: 'no-such-profile' });
    expect(noProfile).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(noProfile.message).toMatch(/no saved profile "no-such-profile".*night/);
    expect(await request({ ...apply, deviceId: 'no-such-inverter' })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await request({ command: 'applyProfile', deviceId: 'inv-master' })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(sim.applied.length).toBe(sent0);

    // Confirmed: planned from fresh settings, applied with read-back; the unit has the profile's value.
    const ok = await request(apply);
    expect(ok).toMatchObject({ ok: true });
    expect(ok.message).toMatch(/saved profile "night" applied/);
    expect(sim.piri.maxChargingCurrentA).toBe(wanted);
    const audits = pi18Service(engine).records.audits({ deviceId: 'inv-master', limit: 2 });
    expect(audits.map((a) => `${a.action}:${a.result}:${a.operator}`)).toEqual(['apply:applied:fleet', 'plan:planned:fleet']);
    const done = live.store.eventsAfter(0).filter((e) => e.type === 'command.done' && e.deviceId === 'inv-master');
    expect(done.length).toBe(1);
    expect(done[0]!.data).toMatchObject({ actor: 'fleet', origin: 'api' });
    // The refused unconfirmed apply is in the audit too.
    expect(pi18Service(engine).records.audits({ deviceId: 'inv-master', action: 'apply', limit: 5 }).map((a) => a.result)).toEqual(['applied', 'refused']);
  }, 90_000);
});

describe('fleet commands down: enabling and disabling a job', () => {
  it('enableJob/disableJob go through the site scheduler as the fleet (events name it); a viewer is refused, an unknown job is NOT_FOUND, a config job READ_ONLY', async () => {
    nats = await startNatsServer();
    live = await startLiveServer({ speed: 10 });
    const s = live.rig.engine.scheduler;
    const made = s.create({ id: 'nightly-prune', name: 'nightly prune', cron: '0 3 * * *', timezone: 'UTC', enabled: false, actions: [{ type: 'prune-history', framesOlderThanDays: 7 }] }, 'me');
    expect(made.ok).toBe(true);
    s.loadConfigJobs([{ id: 'from-config', name: 'config prune', cron: '0 4 * * *', timezone: 'UTC', actions: [{ type: 'prune-history', samplesOlderThanDays: 90 }] }]);

    await listen('viewer');
    expect(await request({ command: 'enableJob', jobId: 'nightly-prune' })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(await request({ command: 'disableJob', jobId: 'nightly-prune' })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(s.get('nightly-prune')!.enabled).toBe(false);

    await listen('operator');
    const on = await request({ command: 'enableJob', jobId: 'nightly-prune' });
    expect(on).toMatchObject({ ok: true });
    expect(on.message).toMatch(/nightly prune.*enabled/);
    expect(s.get('nightly-prune')!.enabled).toBe(true);
    expect(s.nextRuns('nightly-prune', 1).length).toBe(1);
    expect(await request({ command: 'disableJob', jobId: 'nightly-prune' })).toMatchObject({ ok: true });
    expect(s.get('nightly-prune')!.enabled).toBe(false);
    const events = live.store.eventsAfter(0).filter((e) => e.type === 'job.enabled' || e.type === 'job.disabled');
    expect(events.map((e) => [e.type, e.data.actor])).toEqual([['job.enabled', 'fleet'], ['job.disabled', 'fleet']]);

    const unknown = await request({ command: 'enableJob', jobId: 'no-such-job' });
    expect(unknown).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await request({ command: 'disableJob', jobId: 'no-such-job' })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    const ro = await request({ command: 'disableJob', jobId: 'from-config' });
    expect(ro).toMatchObject({ ok: false, code: 'READ_ONLY' });
    expect(ro.message).toMatch(/config/);
    expect(s.get('from-config')!.enabled).toBe(true);
    expect(await request({ command: 'enableJob' })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
  }, 120_000);
});
