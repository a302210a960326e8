/**
 * `npx tsx bench/fleet-load.ts [sites] [seconds] [eventsPerSitePerS] [samplesPerSitePerS]`:
 * N in-process edges, each with its own SQLite log and fleet outbox, forwarding through one local
 * nats-server (JetStream) to one central service writing to one local PostgreSQL — both servers
 * started here like the tests do (test/helpers). The edges write synthetic events and samples at
 * the given rates (on the wall clock, so a row's ts is when it was written); then writing stops
 * and the run waits until PostgreSQL holds every row. Prints JSON: rows/s end to end, lag
 * (PostgreSQL received_at − the row's ts) p50/p99/max, and the central's cost per site (write
 * time per second, PostgreSQL bytes).
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { RealClock } from '../src/clock.js';
import { createLogger, silentLogger } from '../src/log.js';
import { Store } from '../src/store/store.js';
import { fleetSchema } from '../src/fleet/config.js';
import { FleetOutbox } from '../src/fleet/outbox.js';
import { CentralService } from '../src/fleet/central.js';
import { parseCentralConfig } from '../src/fleet/central-config.js';
import { startNatsServer } from '../test/helpers/nats-server.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { tempDbPath } from '../test/helpers/rig.js';

const sites = Number(process.argv[2] ?? 20);
const seconds = Number(process.argv[3] ?? 20);
const evRate = Number(process.argv[4] ?? 2);
const saRate = Number(process.argv[5] ?? 10);

const [nats, pgs] = await Promise.all([startNatsServer(), startPostgres()]);
const central = new CentralService({ config: parseCentralConfig({ nats: { url: nats.url }, postgres: { url: pgs.url }, server: { port: 0 } }), log: createLogger('warn') });
await central.start();

const clock = new RealClock(1);
const edges = Array.from({ length: sites }, (_, i) => {
  const store = Store.open({ path: tempDbPath('pp-load-') });
  const fleet = fleetSchema.parse({ siteId: `site-${i}`, natsUrl: nats.url, statusIntervalS: 5 });
  const outbox = new FleetOutbox({ store, clock, log: silentLogger(), fleet, pollMs: 250 });
  return { store, outbox, written: 0 };
});
for (const e of edges) e.outbox.start();

const tickMs = 100;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let carryEv = 0;
let carrySa = 0;
const timer = setInterval(() => {
  carryEv += (evRate * tickMs) / 1000;
  carrySa += (saRate * tickMs) / 1000;
  const nEv = Math.floor(carryEv);
  const nSa = Math.floor(carrySa);
  carryEv -= nEv;
  carrySa -= nSa;
  for (const e of edges) {
    for (let k = 0; k < nEv; k++) e.store.appendEvent({ ts: clock.now(), type: k % 97 === 0 ? 'psu.alarm' : 'load.tick', deviceId: 'psu-1', data: { n: e.written } });
    for (let k = 0; k < nSa; k++) e.store.appendSample({ ts: clock.now(), deviceId: `dev-${k % 5}`, values: { voltageV: 53.1, currentA: 12.5, tempC: 31 } });
    e.written += nEv + nSa;
  }
}, tickMs);
await new Promise((r) => setTimeout(r, seconds * 1000));
clearInterval(timer);
const writtenTotal = edges.reduce((a, e) => a + e.written, 0);
for (const e of edges) e.store.flush();

const c = new pg.Client({ connectionString: pgs.url });
await c.connect();
const count = async () => Number((await c.query('SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM samples) AS n')).rows[0].n);
const deadline = Date.now() + 300_000;
let inPg = 0;
while ((inPg = await count()) < writtenTotal && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
const elapsedS = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const lag = (
  await c.query(`SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) AS p99, max(lag) AS max
     FROM (SELECT received_at - ts AS lag FROM events) l`)
).rows[0] as { p50: number; p99: number; max: string };
const bytes = Number((await c.query("SELECT pg_database_size(current_database()) AS b")).rows[0].b);
const rowBytes = Number((await c.query("SELECT pg_total_relation_size('events') + pg_total_relation_size('samples') AS b")).rows[0].b);
await c.end();

const out = {
  sites,
  seconds,
  perSite: { eventsPerS: evRate, samplesPerS: saRate },
  written: writtenTotal,
  inPostgres: inPg,
  complete: inPg === writtenTotal,
  elapsedS: Math.round(elapsedS * 10) / 10,
  rowsPerSEndToEnd: Math.round(inPg / elapsedS),
  eventLagMs: { p50: Math.round(lag.p50), p99: Math.round(lag.p99), max: Number(lag.max) },
  central: {
    writeMsTotal: Math.round(central.stats.writeMs),
    writeMsPerSitePerS: Math.round((central.stats.writeMs / sites / elapsedS) * 100) / 100,
    batches: central.stats.batches,
    pgBytesEventsSamples: rowBytes,
    pgBytesPerRow: Math.round(rowBytes / Math.max(1, inPg)),
    pgDatabaseBytes: bytes,
  },
  processCpuS: Math.round(((cpu.user + cpu.system) / 1e6) * 10) / 10,
  note: 'edges, central and both servers share this machine (2 cores): the figures are the whole pipeline on one box',
};
console.log(JSON.stringify(out, null, 2));

for (const e of edges) await e.outbox.stop();
for (const e of edges) e.store.close();
await central.stop();
await Promise.all([nats.stop(), pgs.stop()]);
process.exit(0);
