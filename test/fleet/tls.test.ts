// NATS over TLS (fleet.tls / nats.tls): a throwaway CA, server and client certificates made with
// the openssl CLI; a real nats-server requiring mutual TLS (tls { cert_file key_file ca_file
// verify }) on loopback; a real PostgreSQL behind the central service.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { Store } from '../../src/store/store.js';
import { fleetSchema } from '../../src/fleet/config.js';
import { FleetOutbox } from '../../src/fleet/outbox.js';
import { attachOutbox } from '../../src/fleet/attach.js';
import { CentralService } from '../../src/fleet/central.js';
import { parseCentralConfig } from '../../src/fleet/central-config.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';
import { startLiveServer, type LiveServer } from '../helpers/server.js';
import { makeTestPki, natsTlsBlock, type TestPki } from '../helpers/tls-certs.js';
import { tempDbPath } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

interface Fwd {
  fleet: { connected: boolean; backlog: number; samples: number; ageMs: number | null; lastError: string | null } | null;
}
const Q = '{ fleet { connected backlog samples ageMs lastError } }';

let pki: TestPki;
let nats: NatsServer;
let tlsUrl: string;
beforeAll(async () => {
  pki = makeTestPki();
  nats = await startNatsServer({ extraConfig: natsTlsBlock(pki) });
  tlsUrl = `tls://127.0.0.1:${nats.port}`;
});
afterAll(async () => {
  await nats?.stop();
  pki?.cleanup();
});

const stops: Array<() => Promise<void> | void> = [];
let pgs: PgServer | undefined;
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
  await pgs?.stop();
  pgs = undefined;
});

describe('fleet over TLS', () => {
  it('the outbox and the central service connect over mutual TLS and deliver; clients without the CA or without a client certificate are refused', async () => {
    pgs = await startPostgres();
    const logs: string[] = [];
    const tls = { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey };
    const central = new CentralService({ config: parseCentralConfig({ nats: { url: tlsUrl, tls }, postgres: { url: pgs.url }, server: { port: 0 } }), log: silentLogger(logs) });
    await central.start();
    stops.push(() => central.stop());

    const store = Store.open({ path: tempDbPath('pp-fleet-tls-') });
    const clock = new FakeClock();
    for (let i = 0; i < 25; i++) store.appendEvent({ ts: clock.now() + i, type: 'test.tick', data: { i } });
    store.flush();
    const fleet = fleetSchema.parse({ siteId: 'tls-site', natsUrl: tlsUrl, tls, statusIntervalS: 0.2 });
    const outbox = new FleetOutbox({ store, clock, log: silentLogger(logs), fleet, pollMs: 20 });
    outbox.start();
    stops.push(async () => {
      await outbox.stop();
      store.close();
    });

    const c = new pg.Client({ connectionString: pgs.url });
    await c.connect();
    stops.push(() => c.end());
    await waitFor(async () => (await c.query("SELECT count(*)::int AS n FROM events WHERE site_id = 'tls-site'")).rows[0].n === 25, 'the edge events in PostgreSQL over TLS', 30_000);
    const ids = (await c.query("SELECT id FROM events WHERE site_id = 'tls-site' ORDER BY id")).rows.map((r: { id: string | number }) => Number(r.id));
    expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(outbox.backlog()).toMatchObject({ connected: true, total: 0, lastError: null });

    // The server requires TLS with a client certificate: a client trusting only the system CAs, and one without a certificate, are refused.
    await expect(connect({ servers: nats.url, maxReconnectAttempts: 0, timeout: 10_000 })).rejects.toThrow();
    await expect(connect({ servers: tlsUrl, tls: { caFile: pki.caFile }, maxReconnectAttempts: 0, timeout: 3000 })).rejects.toThrow();
    expect(logs.join('\n')).not.toMatch(/BEGIN (EC )?PRIVATE KEY/);
  });

  it('defect (TLS, wrong CA file): the site says NATS is not trusted and which setting to fix, keeps serving, and its backlog grows', async () => {
    const logs: string[] = [];
    const live = await startLiveServer({ speed: 10 });
    stops.push(() => live.stop());
    const fleet = fleetSchema.parse({ siteId: 'wrong-ca', natsUrl: tlsUrl, tls: { caFile: pki.otherCaFile, certFile: pki.clientCert, keyFile: pki.clientKey } });
    const outbox = new FleetOutbox({ store: live.store, clock: live.rig.engine.clock, log: silentLogger(logs), fleet, pollMs: 50, maxRetryMs: 300 });
    attachOutbox(live.rig.engine, outbox);
    outbox.start();
    stops.push(() => outbox.stop());

    const first = await waitFor(async () => {
      const f = (await live.gql<Fwd>(Q)).data!.fleet!;
      return f.lastError && f.samples > 0 ? f : null;
    }, 'the refusal in the API', 30_000);
    expect(first.connected).toBe(false);
    // Names the server, says the certificate is not trusted, and which setting to change.
    expect(first.lastError).toContain(tlsUrl);
    expect(first.lastError).toMatch(/not trust/);
    expect(first.lastError).toContain('fleet.tls.caFile');
    expect(first.lastError).toContain(pki.otherCaFile);
    expect(logs.join('\n')).toContain('fleet.tls.caFile');
    // The site keeps serving, and the rows wait (more of them as the rig samples on).
    const devices = await live.gql<{ devices: Array<{ id: string }> }>('{ devices { id } }');
    expect(devices.errors).toBeUndefined();
    expect(devices.data!.devices.length).toBeGreaterThan(0);
    await waitFor(async () => {
      const f = (await live.gql<Fwd>(Q)).data!.fleet!;
      return f.backlog > first.backlog && (f.ageMs ?? 0) > (first.ageMs ?? 0) ? f : null;
    }, 'the backlog to grow', 30_000);
    expect(outbox.cursor('samples')).toBe(0);
  });

  it('defect (TLS, client certificate of another CA): the site says the server refused its certificate and which settings to fix', async () => {
    const logs: string[] = [];
    const store = Store.open({ path: tempDbPath('pp-fleet-tls-') });
    const clock = new FakeClock();
    store.appendEvent({ ts: clock.now(), type: 'test.tick', data: {} });
    store.flush();
    const fleet = fleetSchema.parse({ siteId: 'stranger', natsUrl: tlsUrl, tls: { caFile: pki.caFile, certFile: pki.strangerCert, keyFile: pki.strangerKey } });
    const outbox = new FleetOutbox({ store, clock, log: silentLogger(logs), fleet, pollMs: 50, maxRetryMs: 300, connectTimeoutMs: 5000 });
    outbox.start();
    stops.push(async () => {
      await outbox.stop();
      store.close();
    });
    // (On a loaded machine an attempt may first end in a plain timeout; the diagnosis follows.)
    const b = await waitFor(() => (/certificate/.test(outbox.backlog().lastError ?? '') ? outbox.backlog() : null), 'the refusal', 30_000);
    expect(b).toMatchObject({ connected: false, events: 1 });
    expect(b.lastError).toContain(tlsUrl);
    expect(b.lastError).toMatch(/refused this site's certificate/);
    expect(b.lastError).toContain('fleet.tls.certFile');
  });

  it('defect (TLS, wrong CA file, central service): the central logs why NATS is refused and which setting to fix, and a stop ends its wait', async () => {
    pgs = await startPostgres();
    const logs: string[] = [];
    const central = new CentralService({
      config: parseCentralConfig({ nats: { url: tlsUrl, tls: { caFile: pki.otherCaFile, certFile: pki.clientCert, keyFile: pki.clientKey } }, postgres: { url: pgs.url }, server: { port: 0 } }),
      log: silentLogger(logs),
    });
    const started = central.start();
    started.catch(() => undefined);
    const line = await waitFor(() => logs.find((l) => l.includes('nats.tls.caFile')), 'the reason in the central log', 30_000);
    expect(line).toContain(tlsUrl);
    expect(line).toMatch(/not trusted by this central service/);
    expect(line).toContain(pki.otherCaFile);
    await central.stop();
    await expect(started).rejects.toThrow(/nats\.tls\.caFile/);
  });
});
