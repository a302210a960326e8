// Per-site NATS credentials: a site may publish only its own subjects; the central service reads
// everything. Passwords never reach a log line.
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { Store } from '../../src/store/store.js';
import { fleetSchema } from '../../src/fleet/config.js';
import { FleetOutbox } from '../../src/fleet/outbox.js';
import { CentralService } from '../../src/fleet/central.js';
import { parseCentralConfig } from '../../src/fleet/central-config.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';
import { tempDbPath } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const AUTH = `
authorization {
  users = [
    { user: central, password: "central-secret-1", permissions: { publish: [">"], subscribe: [">"] } }
    { user: site-a, password: "site-a-secret-1", permissions: { publish: ["pp.site-a.>"], subscribe: ["_INBOX.>"] } }
    { user: site-b, password: "site-b-secret-1", permissions: { publish: ["pp.site-b.>"], subscribe: ["_INBOX.>"] } }
  ]
}`;

let nats: NatsServer | undefined;
let pgs: PgServer | undefined;
const stops: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
  await nats?.stop();
  await pgs?.stop();
  nats = pgs = undefined;
});

describe('fleet security', () => {
  it("a site's credentials cannot publish as another site; its own rows arrive; no password in the logs", async () => {
    [nats, pgs] = await Promise.all([startNatsServer({ extraConfig: AUTH }), startPostgres()]);
    const logs: string[] = [];
    const central = new CentralService({
      config: parseCentralConfig({ nats: { url: nats.url, credentials: { user: 'central', password: 'central-secret-1' } }, postgres: { url: pgs.url }, server: { port: 0 } }),
      log: silentLogger(logs),
    });
    await central.start();
    stops.push(() => central.stop());

    // site-b's credentials, publishing on site-a's subject: refused by the server.
    const asB = await connect({ servers: nats.url, user: 'site-b', pass: 'site-b-secret-1' });
    const forged = JSON.stringify({ id: 999, ts: 1, type: 'engine.fail-safe', deviceId: null, busId: null, data: { forged: true } });
    await expect(jetstream(asB, { timeout: 1500 }).publish('pp.site-a.events', forged, { msgID: 'forged' })).rejects.toThrow();
    // Its own subject works.
    const ack = await jetstream(asB).publish('pp.site-b.events', JSON.stringify({ id: 1, ts: 1, type: 'test.own', deviceId: null, busId: null, data: {} }), { msgID: 'site-b:e:1' });
    expect(ack.duplicate).toBe(false);
    await asB.close();

    // An edge of site-a forwards with its own credentials.
    const store = Store.open({ path: tempDbPath('pp-fleet-sec-') });
    const clock = new FakeClock();
    for (let i = 0; i < 20; i++) store.appendEvent({ ts: clock.now() + i, type: 'test.tick', data: { i } });
    store.flush();
    const fleet = fleetSchema.parse({ siteId: 'site-a', natsUrl: nats.url, credentials: { user: 'site-a', password: 'site-a-secret-1' }, statusIntervalS: 0.2 });
    const outbox = new FleetOutbox({ store, clock, log: silentLogger(logs), fleet, pollMs: 20 });
    outbox.start();
    stops.push(async () => {
      await outbox.stop();
      store.close();
    });

    const c = new pg.Client({ connectionString: pgs.url });
    await c.connect();
    stops.push(() => c.end());
    await waitFor(async () => (await c.query("SELECT count(*)::int AS n FROM events WHERE site_id = 'site-a'")).rows[0].n === 20, "site-a's events in PostgreSQL");
    await waitFor(async () => (await c.query("SELECT count(*)::int AS n FROM events WHERE site_id = 'site-b'")).rows[0].n === 1, "site-b's own event");
    const forgedRows = await c.query("SELECT count(*)::int AS n FROM events WHERE data->>'forged' = 'true'");
    expect(forgedRows.rows[0].n).toBe(0);
    const nc = await connect({ servers: nats.url, user: 'central', pass: 'central-secret-1' });
    const info = await (await jetstreamManager(nc)).streams.info('POWERPLANE', { subjects_filter: 'pp.site-a.events' });
    expect(info.state.subjects?.['pp.site-a.events']).toBe(20);
    await nc.close();
    expect(logs.join('\n')).not.toMatch(/secret/);
  });
});
