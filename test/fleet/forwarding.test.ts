// Edge forwarding and the central service against real servers: a nats-server with JetStream and
// a PostgreSQL cluster started by the test (test/helpers/nats-server.ts, postgres.ts). The edge's
// log is a real SQLite file; what PostgreSQL holds is compared with it id by id.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { Store } from '../../src/store/store.js';
import { ChargeSessionStore } from '../../src/store/sessions.js';
import { fleetSchema } from '../../src/fleet/config.js';
import { FleetOutbox } from '../../src/fleet/outbox.js';
import { CentralService } from '../../src/fleet/central.js';
import { parseCentralConfig } from '../../src/fleet/central-config.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';
import { tempDbPath } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

let pgs: PgServer;
let nats: NatsServer;
let dbUrl: string;
let dbN = 0;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  pgs = await startPostgres();
});
afterAll(async () => {
  await pgs?.stop();
});
beforeEach(async () => {
  nats = await startNatsServer();
  dbUrl = await pgs.createDatabase(`fleet_${++dbN}`);
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await nats?.stop();
});

function edge(site: string, opts: { dbPath?: string; clock?: FakeClock } = {}) {
  const clock = opts.clock ?? new FakeClock();
  const dbPath = opts.dbPath ?? tempDbPath('pp-fleet-');
  const store = Store.open({ path: dbPath, flushIntervalMs: 20 });
  const fleet = fleetSchema.parse({ siteId: site, name: `Site ${site}`, natsUrl: nats.url, batchSize: 200, maxPerSecond: 50_000, statusIntervalS: 0.2 });
  const outbox = new FleetOutbox({ store, clock, log: silentLogger(), fleet, pollMs: 20, maxRetryMs: 300, ackTimeoutMs: 2000 });
  const sessions = new ChargeSessionStore(store.db);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await outbox.stop();
    store.close();
  };
  cleanups.push(stop);
  return { clock, store, outbox, sessions, dbPath, stop };
}

function central(extra: Record<string, unknown> = {}) {
  const config = parseCentralConfig({ nats: { url: nats.url, ...((extra.nats as object) ?? {}) }, postgres: { url: dbUrl }, server: { port: 0 }, batchSize: 300, ...extra });
  const c = new CentralService({ config, log: silentLogger() });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await c.stop();
  };
  cleanups.push(stop);
  return { c, stop };
}

async function pgQuery<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

const edgeIds = (store: Store, table: 'events' | 'samples') =>
  (store.db.prepare(`SELECT id FROM ${table} ORDER BY id`).all() as Array<{ id: number }>).map((r) => r.id);
const centralIds = async (site: string, table: 'events' | 'samples') =>
  (await pgQuery<{ id: string }>(`SELECT id FROM ${table} WHERE site_id = $1 ORDER BY id`, [site])).map((r) => Number(r.id));

/** Appends n events and n samples to the edge's log (one device, clock advancing). */
function write(e: ReturnType<typeof edge>, n: number, from = 0): void {
  for (let i = from; i < from + n; i++) {
    e.clock.advance(1000);
    e.store.appendEvent({ ts: e.clock.now(), type: 'test.tick', deviceId: 'psu-1', data: { i } });
    e.store.appendSample({ ts: e.clock.now(), deviceId: 'psu-1', values: { voltageV: 53 + (i % 10) / 10, i } });
  }
  e.store.flush();
}

async function gql<T>(port: number, query: string): Promise<T> {
  const r = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  const body = (await r.json()) as { data: T; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

async function delivered(site: string, e: ReturnType<typeof edge>): Promise<boolean> {
  const [ev, sa] = await Promise.all([centralIds(site, 'events'), centralIds(site, 'samples')]);
  return ev.length === edgeIds(e.store, 'events').length && sa.length === edgeIds(e.store, 'samples').length;
}

describe('fleet forwarding (edge → NATS JetStream → central → PostgreSQL)', () => {
  it('forwards every event, sample and charge-session change; PostgreSQL holds exactly the edge log, and the fleet API shows the site', async () => {
    const { c } = central();
    await c.start();
    const e = edge('site-a');
    e.outbox.start();
    write(e, 150);
    e.store.appendEvent({ ts: e.clock.now(), type: 'psu.alarm', deviceId: 'psu-1', data: { stateCode: 12 } });
    e.sessions.create({ id: 'sess-1', chargerId: 'charger1', startedAt: e.clock.now(), targetVoltageV: 55.2, chargeCurrentA: 20, deliveredAh: 0, deliveredWh: 0, peakCurrentA: 0, ccToCvAt: null, chargingMs: 0, rampStartedAt: null, socStartPct: 40, settings: {}, psuIds: ['psu-1'] });
    e.sessions.phase('sess-1', 'CC', e.clock.now(), null);
    for (let k = 1; k <= 3; k++) e.sessions.progress('sess-1', { deliveredAh: k, deliveredWh: k * 53, peakCurrentA: 20, chargingMs: k * 1000, ccToCvAt: null, rampStartedAt: null, socStartPct: 40, chargeCurrentA: 20 });
    e.sessions.end('sess-1', { endedAt: e.clock.now() + 5000, outcome: 'done', reason: 'tail current reached' });
    e.store.flush();

    await waitFor(() => delivered('site-a', e), 'every row in PostgreSQL', 20_000);
    await waitFor(async () => (await pgQuery<{ outcome: string | null }>("SELECT outcome FROM charge_sessions WHERE site_id = 'site-a'"))[0]?.outcome === 'done', `the ended session (${JSON.stringify(c.stats)} cursor ${e.outbox.cursor('sessions')} ${JSON.stringify(e.outbox.backlog())})`, 10_000);
    expect(await centralIds('site-a', 'events')).toEqual(edgeIds(e.store, 'events'));
    expect(await centralIds('site-a', 'samples')).toEqual(edgeIds(e.store, 'samples'));
    const [sess] = await pgQuery<{ session: { deliveredAh: number; resumes: number }; phases: Array<{ phase: string }> }>("SELECT session, phases FROM charge_sessions WHERE site_id = 'site-a' AND id = 'sess-1'");
    expect(sess!.session.deliveredAh).toBe(3);
    expect(sess!.phases.map((p) => p.phase)).toEqual(['CC']);
    expect(e.outbox.backlog()).toMatchObject({ total: 0, ageMs: null, lastError: null });

    await waitFor(async () => (await gql<{ sites: Array<{ backlog: number | null }> }>(c.port, '{ sites { backlog } }')).sites[0]?.backlog === 0, 'a status report', 10_000);
    const data = await gql<{ sites: unknown[]; devices: Array<{ id: string; values: { i: number } }>; events: Array<{ type: string; alarm: boolean }>; chargeSessions: Array<{ outcome: string }> }>(
      c.port,
      `{ sites { id name online alarms backlog backlogAgeMs } devices(siteId: "site-a") { id values }
         events(siteIds: ["site-a"], alarmsOnly: true) { type alarm } chargeSessions(outcome: "done") { outcome } }`,
    );
    expect(data.sites).toEqual([{ id: 'site-a', name: 'Site site-a', online: true, alarms: 1, backlog: 0, backlogAgeMs: null }]);
    expect(data.devices).toEqual([{ id: 'psu-1', values: { voltageV: 53.9, i: 149 } }]);
    expect(data.events).toEqual([{ type: 'psu.alarm', alarm: true }]);
    expect(data.chargeSessions).toEqual([{ outcome: 'done' }]);
  });

  it('nats-server killed mid-stream and restarted: the backlog is kept in SQLite, reported with its age, and drains; nothing lost or duplicated in PostgreSQL', async () => {
    const { c } = central();
    await c.start();
    const e = edge('site-b');
    e.outbox.start();
    write(e, 300);
    await waitFor(() => e.outbox.cursor('events') > 0, 'the first acks');
    await nats.kill();
    write(e, 400, 300); // the site goes on recording while NATS is away
    await waitFor(() => e.outbox.backlog().lastError !== null, 'the outbox to notice the outage');
    const during = e.outbox.backlog();
    expect(during.total).toBeGreaterThan(0);
    expect(during.connected).toBe(false);
    expect(during.ageMs).toBeGreaterThan(0);
    expect(during.ageMs).toBe(e.clock.now() - during.oldestTs!);
    await nats.start();
    write(e, 100, 700);
    await waitFor(() => delivered('site-b', e), 'every row in PostgreSQL after the restart', 30_000);
    expect(await centralIds('site-b', 'events')).toEqual(edgeIds(e.store, 'events'));
    expect(await centralIds('site-b', 'samples')).toEqual(edgeIds(e.store, 'samples'));
    expect(edgeIds(e.store, 'events')).toHaveLength(800);
    await waitFor(() => e.outbox.backlog().total === 0, 'the backlog to drain');
  });

  it('the central service restarted mid-stream: its durable consumers continue where they acknowledged; nothing lost or duplicated', async () => {
    const first = central();
    await first.c.start();
    const e = edge('site-c');
    e.outbox.start();
    write(e, 200);
    await waitFor(async () => (await centralIds('site-c', 'events')).length > 0, 'the first rows in PostgreSQL');
    await first.stop();
    write(e, 300, 200);
    await waitFor(() => e.outbox.backlog().total === 0, 'the edge to hand everything to JetStream while the central is down');
    const second = central();
    await second.c.start();
    await waitFor(() => delivered('site-c', e), 'every row in PostgreSQL after the central restart', 30_000);
    expect(await centralIds('site-c', 'events')).toEqual(edgeIds(e.store, 'events'));
    expect(await centralIds('site-c', 'samples')).toEqual(edgeIds(e.store, 'samples'));
  });

  it('a replayed backlog is de-duplicated: by JetStream within its window, and by PostgreSQL keys beyond it (a redelivery changes nothing)', async () => {
    const { c } = central();
    await c.start();
    const e = edge('site-d');
    e.outbox.start();
    write(e, 100);
    await waitFor(() => delivered('site-d', e), 'every row in PostgreSQL');
    await waitFor(() => e.outbox.backlog().total === 0, 'the backlog to drain');
    const before = { events: await centralIds('site-d', 'events'), samples: await centralIds('site-d', 'samples'), device: await pgQuery('SELECT * FROM devices') };

    // The edge forgets its cursor (as after restoring an old backup) and sends everything again.
    const dbPath = e.dbPath;
    await e.stop();
    const raw = Store.open({ path: dbPath });
    raw.db.prepare('DELETE FROM fleet_cursor').run();
    raw.close();
    const again = edge('site-d', { dbPath, clock: e.clock });
    again.outbox.start();
    await waitFor(() => again.outbox.cursor('events') === before.events.at(-1) && again.outbox.cursor('samples') === before.samples.at(-1), 'the replay to be acknowledged');
    expect(again.outbox.backlog().duplicates).toBe(200); // every one known to the stream

    // Past the de-duplication window (the same rows published under other message ids): the
    // stream stores them, the central receives them, and PostgreSQL keeps one row per id.
    const acked = c.stats.acked.events;
    const nc = await connect({ servers: nats.url });
    const js = jetstream(nc);
    const rows = again.store.db.prepare('SELECT id, ts, type, device_id AS deviceId, bus_id AS busId, data FROM events ORDER BY id').all() as Array<{ data: string }>;
    for (const r of rows) await js.publish('pp.site-d.events', JSON.stringify({ ...r, data: JSON.parse(r.data) }), { msgID: `replay-${JSON.stringify(r)}` });
    await nc.close();
    await waitFor(() => c.stats.acked.events >= acked + rows.length, 'the central to receive the replay');
    expect(await centralIds('site-d', 'events')).toEqual(before.events);
    expect(await centralIds('site-d', 'samples')).toEqual(before.samples);
    expect(await pgQuery('SELECT * FROM devices')).toEqual(before.device);
  });
  it('alarms across the fleet arrive as a subscription, each once (a replayed alarm is not announced again)', async () => {
    const { c } = central();
    await c.start();
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${c.port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { alarms { siteId id type deviceId } }' }),
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    const pump = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          text += new TextDecoder().decode(value);
        }
      } catch {
        // aborted at the end of the test
      }
    })();
    await waitFor(() => c.alarmSubscribers === 1, 'the subscription to be registered');
    const a = edge('site-e');
    const b = edge('site-f');
    a.outbox.start();
    b.outbox.start();
    write(a, 5);
    a.store.appendEvent({ ts: a.clock.now(), type: 'psu.alarm', deviceId: 'psu-1', data: {} });
    b.store.appendEvent({ ts: b.clock.now(), type: 'store.fault', data: { code: 'SQLITE_FULL' } });
    a.store.flush();
    b.store.flush();
    await waitFor(() => (text.match(/"type":"(psu\.alarm|store\.fault)"/g) ?? []).length >= 2, 'both alarms on the subscription', 15_000);
    // The same alarm rows again under other message ids (past the stream's de-duplication
    // window): the central receives them, PostgreSQL keeps one row each, nothing is announced.
    const acked = c.stats.acked.events;
    const nc = await connect({ servers: nats.url });
    const rows = a.store.db.prepare("SELECT id, ts, type, device_id AS deviceId, bus_id AS busId, data FROM events WHERE type = 'psu.alarm'").all() as Array<{ data: string }>;
    for (const r of rows) await jetstream(nc).publish('pp.site-e.events', JSON.stringify({ ...r, data: JSON.parse(r.data) }), { msgID: 'again-' + JSON.stringify(r) });
    await nc.close();
    await waitFor(() => c.stats.acked.events >= acked + rows.length, 'the central to receive the alarm again');
    const alarms = (text.match(/"type":"(psu\.alarm|store\.fault)"/g) ?? []).sort();
    expect(alarms).toEqual(['"type":"psu.alarm"', '"type":"store.fault"']);
    expect(text).toContain('"siteId":"site-e"');
    expect(text).toContain('"siteId":"site-f"');
    ac.abort();
    await pump;
  });
  it('defect: the consumers of different kinds deadlocked in PostgreSQL on the same sites (rows locked in different orders), so with many sites batches were redelivered over and over', async () => {
    const { c } = central();
    await c.start();
    const nc = await connect({ servers: nats.url });
    const js = jetstream(nc);
    const sitesN = 30;
    const order = Array.from({ length: sitesN }, (_, i) => `s${String(i).padStart(2, '0')}`);
    const pubs: Promise<unknown>[] = [];
    for (let round = 0; round < 5; round++) {
      // Each kind meets the sites in another order, as the edges' messages interleave.
      for (const site of order) pubs.push(js.publish(`pp.${site}.events`, JSON.stringify({ id: round + 1, ts: round, type: 'test.tick', deviceId: 'd1', busId: null, data: {} }), { msgID: `${site}:e:${round}` }));
      for (const site of [...order].reverse()) pubs.push(js.publish(`pp.${site}.samples`, JSON.stringify({ id: round + 1, ts: round, deviceId: 'd1', values: { v: round } }), { msgID: `${site}:s:${round}` }));
      for (const site of [...order.slice(15), ...order.slice(0, 15)]) pubs.push(js.publish(`pp.${site}.status`, JSON.stringify({ name: site, backlog: round, oldestTs: null, ageMs: null, sentAt: round }), { msgID: `${site}:st:${round}` }));
    }
    await Promise.all(pubs);
    await nc.close();
    await waitFor(async () => {
      const [r] = await pgQuery<{ e: number; s: number }>('SELECT (SELECT count(*)::int FROM events) AS e, (SELECT count(*)::int FROM samples) AS s');
      return r!.e === sitesN * 5 && r!.s === sitesN * 5 && c.stats.acked.status === sitesN * 5;
    }, 'every row written', 20_000);
    expect(c.stats.failures).toBe(0);
    const devices = await pgQuery<{ n: number }>("SELECT count(*)::int AS n FROM devices WHERE \"values\"->>'v' = '4' AND last_event_ts = 4");
    expect(devices[0]!.n).toBe(sitesN);
  });
});

