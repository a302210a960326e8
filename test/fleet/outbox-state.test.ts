// The outbox's connected / offline state (what the API, /metrics and the dashboard show), against
// a real nats-server, on a store with a fake clock.
import { afterEach, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { Store } from '../../src/store/store.js';
import { fleetSchema } from '../../src/fleet/config.js';
import { FleetOutbox } from '../../src/fleet/outbox.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { tempDbPath } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

let nats: NatsServer | undefined;
const stops: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
  await nats?.stop();
  nats = undefined;
});

describe('fleet outbox state', () => {
  it('defect: a site with nothing to send still showed the fleet offline after NATS came back (only a row ack cleared the error)', async () => {
    nats = await startNatsServer();
    const nc = await connect({ servers: nats.url });
    await (await jetstreamManager(nc)).streams.add({ name: 'POWERPLANE', subjects: ['pp.*.events', 'pp.*.samples', 'pp.*.sessions', 'pp.*.status'] });
    await nc.close();
    const path = tempDbPath('pp-fleet-state-');
    const clock = new FakeClock();
    const store = Store.open({ path });
    stops.push(() => store.close());
    for (let i = 0; i < 5; i++) store.appendEvent({ ts: clock.now() + i, type: 'test.tick', data: { i } });
    store.flush();
    const fleet = fleetSchema.parse({ siteId: 'quiet', natsUrl: nats.url, statusIntervalS: 0.2 });
    const opts = { store, clock, log: silentLogger(), fleet, pollMs: 20, maxRetryMs: 200, connectTimeoutMs: 3000 };

    // Everything forwarded, then the site restarts while NATS is away.
    const first = new FleetOutbox(opts);
    first.start();
    await waitFor(() => first.backlog().total === 0 && first.cursor('events') === 5, 'the rows forwarded');
    await first.stop();
    await nats.kill();
    await clock.advance(60_000);

    const outbox = new FleetOutbox(opts);
    outbox.start();
    stops.push(() => outbox.stop());
    const down = await waitFor(() => (outbox.backlog().lastError ? outbox.backlog() : null), 'the outage seen');
    expect(down).toMatchObject({ connected: false, total: 0, offlineSince: clock.now() });
    expect(down.lastError).toMatch(/connection refused/);

    // NATS back; no row to send: the status ack proves the way open.
    await nats.start();
    const up = await waitFor(() => (outbox.backlog().connected ? outbox.backlog() : null), 'connected again with nothing to send', 20_000);
    expect(up).toMatchObject({ total: 0, lastError: null, offlineSince: null });
  });
});
