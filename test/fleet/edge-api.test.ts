// The site's API reports its forwarding: the backlog and its age, on the simulated rig with a
// real nats-server (killed to make an outage).
import { afterEach, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { silentLogger } from '../../src/log.js';
import { fleetSchema } from '../../src/fleet/config.js';
import { FleetOutbox } from '../../src/fleet/outbox.js';
import { attachOutbox } from '../../src/fleet/attach.js';
import { startLiveServer, type LiveServer } from '../helpers/server.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/wait.js';

interface Fwd {
  fleet: { siteId: string; connected: boolean; backlog: number; events: number; samples: number; ageMs: number | null; lastError: string | null } | null;
}
const Q = '{ fleet { siteId connected backlog events samples ageMs lastError } }';

let live: LiveServer | undefined;
let nats: NatsServer | undefined;
let outbox: FleetOutbox | undefined;
afterEach(async () => {
  await outbox?.stop();
  await live?.stop();
  await nats?.stop();
  live = nats = outbox = undefined;
});

describe('fleet forwarding in the site API', () => {
  it('fleet is null when forwarding is not configured', async () => {
    live = await startLiveServer();
    const r = await live.gql<Fwd>(Q);
    expect(r.errors).toBeUndefined();
    expect(r.data!.fleet).toBeNull();
  });

  it("the simulated rig's log is forwarded; during an outage the API shows the backlog growing with its age", async () => {
    nats = await startNatsServer();
    const nc = await connect({ servers: nats.url });
    await (await jetstreamManager(nc)).streams.add({ name: 'POWERPLANE', subjects: ['pp.*.events', 'pp.*.samples', 'pp.*.sessions', 'pp.*.status'] });
    await nc.close();
    live = await startLiveServer({ speed: 10 });
    const fleet = fleetSchema.parse({ siteId: 'rig-1', natsUrl: nats.url, statusIntervalS: 1 });
    outbox = new FleetOutbox({ store: live.store, clock: live.rig.engine.clock, log: silentLogger(), fleet, pollMs: 50, maxRetryMs: 300, ackTimeoutMs: 1000 });
    attachOutbox(live.rig.engine, outbox);
    outbox.start();
    const up = await waitFor(async () => {
      const f = (await live!.gql<Fwd>(Q)).data!.fleet!;
      return f.connected && f.samples === 0 && outbox!.cursor('samples') > 0 ? f : null;
    }, 'the rig samples to be forwarded', 20_000);
    expect(up.siteId).toBe('rig-1');

    await nats.kill();
    const down = await waitFor(async () => {
      const f = (await live!.gql<Fwd>(Q)).data!.fleet!;
      return !f.connected && f.backlog > 0 && (f.ageMs ?? 0) > 0 ? f : null;
    }, 'the backlog to show in the API', 20_000);
    expect(down.lastError).not.toBeNull();
    expect(down.backlog).toBe(down.events + down.samples + outbox.backlog().sessions);

    await nats.start();
    await waitFor(async () => (await live!.gql<Fwd>(Q)).data!.fleet!.connected, 'forwarding to resume', 20_000);
  });
});
