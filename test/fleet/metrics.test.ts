// The fleet forwarding's backlog in /metrics: a real HTTP server on the simulated rig, its outbox
// forwarding to a real nats-server that is killed (the backlog rises) and started again (it drains).
import { afterEach, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { silentLogger } from '../../src/log.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { fleetSchema } from '../../src/fleet/config.js';
import { FleetOutbox } from '../../src/fleet/outbox.js';
import { attachOutbox } from '../../src/fleet/attach.js';
import { startLiveServer, type LiveServer } from '../helpers/server.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/wait.js';

/** Every series of `name` in Prometheus text format, as label maps with their value. */
function series(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    out.push({ labels: Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!])), value: Number(m[4]) });
  }
  return out;
}
function one(text: string, name: string, labels: Record<string, string>): number | undefined {
  return series(text, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}
interface Scrape {
  text: string;
  rows: { events: number; samples: number; sessions: number; total: number };
  age: number | undefined;
  lastAck: number | undefined;
  connected: number | undefined;
}

let live: LiveServer | undefined;
let nats: NatsServer | undefined;
let outbox: FleetOutbox | undefined;
let metrics: Metrics | undefined;
afterEach(async () => {
  await outbox?.stop();
  metrics?.stop();
  await live?.stop();
  await nats?.stop();
  live = nats = outbox = metrics = undefined;
});

async function serve(): Promise<LiveServer> {
  // The server is built before the metrics (they read its engine): a lazy handle in between.
  const lazy = { contentType: 'text/plain; version=0.0.4; charset=utf-8', text: () => metrics!.text() };
  const s = await startLiveServer({ speed: 10, server: { metrics: lazy } });
  metrics = createMetrics({ engine: s.rig.engine, log: silentLogger(), defaults: false });
  return s;
}

describe('fleet backlog in /metrics', () => {
  it('no fleet series while forwarding is not configured', async () => {
    live = await serve();
    const text = await (await fetch(`${live.url}/metrics`)).text();
    expect(text).toMatch(/^# TYPE powerplane_fleet_backlog_rows gauge$/m);
    expect(series(text, 'powerplane_fleet_backlog_rows')).toEqual([]);
    expect(series(text, 'powerplane_fleet_connected')).toEqual([]);
  });

  it('nats-server killed: the backlog rises in /metrics with its age; started again: it drains to 0', async () => {
    nats = await startNatsServer();
    const nc = await connect({ servers: nats.url });
    await (await jetstreamManager(nc)).streams.add({ name: 'POWERPLANE', subjects: ['pp.*.events', 'pp.*.samples', 'pp.*.sessions', 'pp.*.status'] });
    await nc.close();
    live = await serve();
    const fleet = fleetSchema.parse({ siteId: 'rig-m', natsUrl: nats.url, statusIntervalS: 1 });
    outbox = new FleetOutbox({ store: live.store, clock: live.rig.engine.clock, log: silentLogger(), fleet, pollMs: 50, maxRetryMs: 300, ackTimeoutMs: 1000 });
    attachOutbox(live.rig.engine, outbox);
    outbox.start();

    const scrape = async (): Promise<Scrape> => {
      const r = await fetch(`${live!.url}/metrics`);
      expect(r.status).toBe(200);
      const text = await r.text();
      const site = { site: 'rig-m' };
      const rows = { events: one(text, 'powerplane_fleet_backlog_rows', { ...site, kind: 'events' }) ?? NaN, samples: one(text, 'powerplane_fleet_backlog_rows', { ...site, kind: 'samples' }) ?? NaN, sessions: one(text, 'powerplane_fleet_backlog_rows', { ...site, kind: 'sessions' }) ?? NaN, total: 0 };
      rows.total = rows.events + rows.samples + rows.sessions;
      return { text, rows, age: one(text, 'powerplane_fleet_oldest_unacked_age_seconds', site), lastAck: one(text, 'powerplane_fleet_last_ack_seconds', site), connected: one(text, 'powerplane_fleet_connected', site) };
    };

    const up = await waitFor(async () => {
      const s = await scrape();
      return s.connected === 1 && s.rows.total === 0 && outbox!.cursor('samples') > 0 ? s : null;
    }, 'the rig forwarded, nothing waiting', 30_000);
    expect(up.age).toBe(0);
    expect(up.lastAck).toBeGreaterThan(0);
    expect(up.text).toMatch(/^# TYPE powerplane_fleet_oldest_unacked_age_seconds gauge$/m);

    await nats.kill();
    const down = await waitFor(async () => {
      const s = await scrape();
      return s.connected === 0 && s.rows.samples > 0 && (s.age ?? 0) > 0 ? s : null;
    }, 'the backlog in /metrics', 30_000);
    // It keeps rising while NATS is away (the rig keeps sampling), and so does its age.
    const later = await waitFor(async () => {
      const s = await scrape();
      return s.rows.total > down.rows.total && (s.age ?? 0) > (down.age ?? 0) ? s : null;
    }, 'the backlog to rise', 30_000);
    expect(later.connected).toBe(0);
    expect(later.lastAck).toBe(down.lastAck); // nothing acknowledged during the outage

    await nats.start();
    const drained = await waitFor(async () => {
      const s = await scrape();
      return s.connected === 1 && s.rows.total === 0 ? s : null;
    }, 'the backlog to drain to 0', 30_000);
    expect(drained.age).toBe(0);
    expect(drained.lastAck).toBeGreaterThan(later.lastAck ?? 0);
    expect(outbox.cursor('samples')).toBeGreaterThan(0);
  });
});
