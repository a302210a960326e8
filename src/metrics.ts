/**
 * Prometheus metrics (prom-client) for `/metrics`, read from the engine's own topics and views:
 *
 * - `powerplane_device_<reading>{device,kind,name}`: every numeric value of every device's
 *   samples (output_voltage_v, output_current_a, soc_pct, intake_temp_c, … whatever the family
 *   reports), removed when the device goes offline so that a stale value is never scraped;
 *   `powerplane_device_online` and `powerplane_device_last_seen_seconds` for every device.
 * - `powerplane_link_<stat>_total{link,kind}`: the link counters (rx/tx frames, corrupt bytes,
 *   reconnects, …) and `powerplane_link_up{link,kind}`.
 * - `powerplane_setpoints_total{outcome,code}`, `powerplane_commands_total{outcome,code}`,
 *   `powerplane_charge_sessions_total{outcome}`, `powerplane_events_total{type}` from the event log.
 * - `powerplane_fleet_*{site}`: the forwarding to the fleet's NATS (rows waiting per kind, the
 *   oldest one's age, the last ack, connected), only while fleet: is configured (fleetMetrics).
 * - `powerplane_charger_*` per charger, `powerplane_store_bytes`, `powerplane_store_writable`,
 *   and Node's defaults (event-loop delay percentiles, heap, RSS, GC).
 * - Store writes (storeWriteMetrics): `powerplane_store_flush_seconds{sync}` a histogram of flush
 *   transaction durations (sync="full" for the fsynced ones that carry a durable event or
 *   setpoint, "normal" for batches), `powerplane_store_flushed_rows_total` and
 *   `powerplane_store_write_failures_total{where}` (failed writes, by what failed).
 * - Job runs (jobRunMetrics): `powerplane_job_runs_total{job,outcome}` (ok, refused, failed,
 *   skipped), `powerplane_job_last_run_timestamp_seconds{job}` (engine clock) and
 *   `powerplane_job_last_outcome{job,outcome}` (1 for the last run's outcome, 0 for the others).
 *
 * Subscribers never throw into the engine: a metric that fails is logged and skipped.
 */
import { statSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from './engine/engine.js';
import { outboxOf } from './fleet/attach.js';
import type { FleetBacklog } from './fleet/outbox.js';
import type { Logger } from './log.js';
import type { StoredEvent, StoreWrite } from './store/store.js';

export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  text(): Promise<string>;
  stop(): void;
}

/** `outputVoltageV` → `output_voltage_v`; anything outside [a-z0-9_] becomes `_`. */
export function metricKey(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/**
 * What happened before the metrics existed (serve creates them after it listens, so that
 * prom-client is not loaded before the first answer): counted as if seen live.
 */
export interface EarlyRecord {
  events: StoredEvent[];
  writes: StoreWrite[];
}

export function createMetrics(opts: { engine: Engine; log: Logger; dbPath?: string; defaults?: boolean; early?: EarlyRecord }): Metrics {
  const { engine, log } = opts;
  const registry = new Registry();
  if (opts.defaults !== false) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  const deviceLabels = ['device', 'kind', 'name'] as const;
  const readings = new Map<string, Gauge<(typeof deviceLabels)[number]>>();
  const seriesOf = new Map<string, Set<string>>(); // device id → reading metric names it has
  const guard = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      log.warn({ err: String(e) }, `metrics: ${what} skipped (${String(e)})`);
    }
  };

  const readingGauge = (key: string) => {
    const name = `powerplane_device_${metricKey(key)}`;
    let g = readings.get(name);
    if (!g) {
      g = new Gauge({ name, help: `the device reading "${key}" from its latest sample (removed while the device is offline)`, labelNames: deviceLabels, registers: [registry] });
      readings.set(name, g);
    }
    return g;
  };

  const unsubs: Array<() => void> = [];
  unsubs.push(
    engine.samples.subscribe((s) =>
      guard('a sample', () => {
        const d = engine.device(s.deviceId);
        const labels = { device: s.deviceId, kind: d?.kind ?? 'unknown', name: d?.name ?? s.deviceId };
        let mine = seriesOf.get(s.deviceId);
        if (!mine) seriesOf.set(s.deviceId, (mine = new Set()));
        for (const [k, v] of Object.entries(s.values)) {
          if (typeof v !== 'number' || !Number.isFinite(v)) {
            if (v === null) readings.get(`powerplane_device_${metricKey(k)}`)?.remove(labels);
            continue;
          }
          readingGauge(k).set(labels, v);
          mine.add(`powerplane_device_${metricKey(k)}`);
        }
      }),
    ),
  );
  unsubs.push(
    engine.deviceChanged.subscribe((d) =>
      guard('a device change', () => {
        if (d.online) return;
        for (const name of seriesOf.get(d.id) ?? []) readings.get(name)?.remove({ device: d.id, kind: d.kind, name: d.name });
        seriesOf.delete(d.id);
      }),
    ),
  );

  const setpoints = new Counter({ name: 'powerplane_setpoints_total', help: 'DC output setpoints by outcome (accepted, rejected) and refusal code', labelNames: ['outcome', 'code'], registers: [registry] });
  const commands = new Counter({ name: 'powerplane_commands_total', help: 'family commands by outcome (accepted, rejected, done, failed) and code', labelNames: ['outcome', 'code'], registers: [registry] });
  const sessions = new Counter({ name: 'powerplane_charge_sessions_total', help: 'charge sessions ended, by outcome', labelNames: ['outcome'], registers: [registry] });
  const events = new Counter({ name: 'powerplane_events_total', help: 'events recorded, by type', labelNames: ['type'], registers: [registry] });
  const countEvent = (e: StoredEvent) =>
    guard('an event', () => {
      events.inc({ type: e.type });
      const code = typeof e.data.code === 'string' ? e.data.code : '';
      if (e.type === 'setpoint.accepted') setpoints.inc({ outcome: 'accepted', code: '' });
      else if (e.type === 'setpoint.rejected') setpoints.inc({ outcome: 'rejected', code });
      else if (e.type.startsWith('command.') && e.type !== 'command.requested') commands.inc({ outcome: e.type.slice('command.'.length), code });
      else if (e.type === 'charger.session.ended') sessions.inc({ outcome: String(e.data.outcome ?? 'unknown') });
    });
  unsubs.push(engine.events.subscribe(countEvent));
  for (const e of opts.early?.events ?? []) countEvent(e);

  // Read at scrape time from the engine's views.
  new Gauge({
    name: 'powerplane_device_online',
    help: '1 while the device is heard from',
    labelNames: deviceLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const d of engine.listDevices()) this.set({ device: d.id, kind: d.kind, name: d.name }, d.online ? 1 : 0);
    },
  });
  new Gauge({
    name: 'powerplane_device_last_seen_seconds',
    help: 'when the device was last heard from (Unix seconds, engine clock)',
    labelNames: deviceLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const d of engine.listDevices()) {
        const at = (d as { lastSeen?: number | null }).lastSeen;
        if (typeof at === 'number') this.set({ device: d.id, kind: d.kind, name: d.name }, at / 1000);
      }
    },
  });
  new Gauge({
    name: 'powerplane_link_up',
    help: '1 while the link is up',
    labelNames: ['link', 'kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const b of engine.listBuses()) this.set({ link: b.id, kind: b.kind }, b.linkState === 'up' ? 1 : 0);
    },
  });
  const linkCounters = new Map<string, Counter<'link' | 'kind'>>();
  const linkStats = (): void => {
    for (const c of linkCounters.values()) c.reset();
    for (const b of engine.listBuses()) {
      let stats: Record<string, unknown>;
      try {
        stats = b.stats();
      } catch {
        continue;
      }
      for (const [k, v] of Object.entries(stats)) {
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        const name = `powerplane_link_${metricKey(k)}_total`;
        let c = linkCounters.get(name);
        if (!c) {
          c = new Counter({ name, help: `the link counter "${k}" since the server started`, labelNames: ['link', 'kind'], registers: [registry] });
          linkCounters.set(name, c);
        }
        c.inc({ link: b.id, kind: b.kind }, v);
      }
    }
  };
  linkStats(); // the counters exist (at their current values) before the first scrape
  new Gauge({
    name: 'powerplane_charger_charging',
    help: '1 while the charger is in an active phase, with the phase as a label',
    labelNames: ['charger', 'phase'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of engine.listChargers()) this.set({ charger: c.id, phase: c.phase }, ['idle', 'done', 'error'].includes(c.phase) ? 0 : 1);
    },
  });
  for (const [key, help] of [
    ['deliveredAh', 'charge delivered in the current or last session (Ah)'],
    ['deliveredWh', 'energy delivered in the current or last session (Wh)'],
    ['targetVoltageV', 'the charge target voltage (V)'],
    ['chargeCurrentA', 'the charge current in force (A)'],
  ] as const) {
    new Gauge({
      name: `powerplane_charger_${metricKey(key)}`,
      help,
      labelNames: ['charger'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of engine.listChargers()) {
          const v = (c as unknown as Record<string, unknown>)[key];
          if (typeof v === 'number') this.set({ charger: c.id }, v);
        }
      },
    });
  }
  if (opts.dbPath) {
    const path = opts.dbPath;
    new Gauge({
      name: 'powerplane_store_bytes',
      help: 'size of the SQLite database on disk, with its WAL',
      registers: [registry],
      collect() {
        let n = 0;
        for (const f of [path, `${path}-wal`, `${path}-shm`]) {
          try {
            n += statSync(f).size;
          } catch {
            /* not there */
          }
        }
        this.set(n);
      },
    });
  }
  new Gauge({
    name: 'powerplane_store_writable',
    help: '1 while the store can write (0: a storage fault, every charge stopped)',
    registers: [registry],
    collect() {
      this.set(engine.storageHealth.writable ? 1 : 0);
    },
  });
  new Gauge({
    name: 'powerplane_store_write_failures',
    help: 'failed write attempts since the store was opened',
    registers: [registry],
    collect() {
      this.set(engine.storageHealth.failures);
    },
  });
  fleetMetrics(registry, engine, log);

  unsubs.push(storeWriteMetrics(registry, engine, guard, opts.early?.writes), jobRunMetrics(registry, engine, guard));

  return {
    registry,
    contentType: registry.contentType,
    text: async () => {
      linkStats();
      return registry.metrics();
    },
    stop: () => {
      for (const u of unsubs) u();
      registry.clear();
    },
  };
}

/**
 * The fleet outbox's backlog (src/fleet/outbox.ts), read at scrape time from the outbox attached
 * to the engine (src/fleet/attach.ts): no series at all while forwarding is not configured.
 * Rows per kind are what waits in SQLite above the acknowledged cursor (events: an upper bound
 * after a restart skipped ids, see FleetOutbox.backlog).
 */
function fleetMetrics(registry: Registry, engine: Engine, log: Logger): void {
  // One reading per scrape (prom-client collects every metric in the same tick), so the four
  // gauges agree with each other and the store is asked once.
  let snap: FleetBacklog | null | undefined;
  const read = (): FleetBacklog | null => {
    if (snap === undefined) {
      try {
        snap = outboxOf(engine)?.backlog() ?? null;
      } catch (e) {
        log.warn({ err: String(e) }, `metrics: the fleet backlog could not be read (${String(e)})`);
        snap = null;
      }
      queueMicrotask(() => (snap = undefined));
    }
    return snap;
  };
  new Gauge({
    name: 'powerplane_fleet_backlog_rows',
    help: 'rows of the log not yet acknowledged by the fleet NATS JetStream, by kind (events, samples, sessions)',
    labelNames: ['site', 'kind'],
    registers: [registry],
    collect() {
      this.reset();
      const b = read();
      if (!b) return;
      for (const kind of ['events', 'samples', 'sessions'] as const) this.set({ site: b.siteId, kind }, b[kind]);
    },
  });
  new Gauge({
    name: 'powerplane_fleet_oldest_unacked_age_seconds',
    help: 'age of the oldest row waiting to be forwarded (0 when nothing waits; engine clock)',
    labelNames: ['site'],
    registers: [registry],
    collect() {
      this.reset();
      const b = read();
      if (b) this.set({ site: b.siteId }, (b.ageMs ?? 0) / 1000);
    },
  });
  new Gauge({
    name: 'powerplane_fleet_last_ack_seconds',
    help: 'when NATS last acknowledged a forwarded row (Unix seconds); absent until the first ack',
    labelNames: ['site'],
    registers: [registry],
    collect() {
      this.reset();
      const b = read();
      if (b && b.lastAckAt !== null) this.set({ site: b.siteId }, b.lastAckAt / 1000);
    },
  });
  new Gauge({
    name: 'powerplane_fleet_connected',
    help: '1 while the fleet NATS acknowledges what is forwarded',
    labelNames: ['site'],
    registers: [registry],
    collect() {
      this.reset();
      const b = read();
      if (b) this.set({ site: b.siteId }, b.connected ? 1 : 0);
    },
  });
}

type Guard = (what: string, fn: () => void) => void;

/** Flush durations, rows and failed writes, from the store's write watchers. Returns an unsubscribe. */
export function storeWriteMetrics(registry: Registry, engine: Engine, guard: Guard, early: StoreWrite[] = []): () => void {
  const flushSeconds = new Histogram({
    name: 'powerplane_store_flush_seconds',
    help: 'duration of each store flush transaction; sync="full" is fsynced (a durable event or setpoint in it), "normal" a batch of rows',
    labelNames: ['sync'],
    // 0.25 ms … 2.5 s: a WAL batch commit is well under a millisecond, an fsync on an SD card can take a second.
    buckets: [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const rows = new Counter({ name: 'powerplane_store_flushed_rows_total', help: 'rows written by store flushes (frames, samples, events, setpoints, replayed writes)', registers: [registry] });
  const failures = new Counter({ name: 'powerplane_store_write_failures_total', help: 'failed store writes, by what failed (the store then holds the rows and retries)', labelNames: ['where'], registers: [registry] });
  // Both series exist from the start, so that rate() and increase() see the first ones.
  flushSeconds.zero({ sync: 'full' });
  flushSeconds.zero({ sync: 'normal' });
  const count = (w: StoreWrite) =>
    guard('a store write', () => {
      if (w.ok) {
        flushSeconds.observe({ sync: w.durable ? 'full' : 'normal' }, w.durationMs / 1000);
        rows.inc(w.rows);
      } else failures.inc({ where: w.where });
    });
  const unsub = engine.store.watchWrites(count);
  for (const w of early) count(w);
  return unsub;
}

const JOB_OUTCOMES = ['ok', 'refused', 'failed', 'skipped'] as const;

/** Job runs by job and outcome, and each job's last run, from the scheduler's runs topic. Returns an unsubscribe. */
export function jobRunMetrics(registry: Registry, engine: Engine, guard: Guard): () => void {
  const runs = new Counter({ name: 'powerplane_job_runs_total', help: 'finished job runs, by job id and outcome (ok, refused, failed, skipped)', labelNames: ['job', 'outcome'], registers: [registry] });
  const lastAt = new Gauge({ name: 'powerplane_job_last_run_timestamp_seconds', help: 'when the job\'s last run finished (Unix seconds, engine clock)', labelNames: ['job'], registers: [registry] });
  const lastOutcome = new Gauge({ name: 'powerplane_job_last_outcome', help: '1 for the outcome of the job\'s last run, 0 for the other outcomes', labelNames: ['job', 'outcome'], registers: [registry] });
  return engine.scheduler.runs.subscribe((r) =>
    guard('a job run', () => {
      if (r.outcome === 'running') return;
      runs.inc({ job: r.jobId, outcome: r.outcome });
      lastAt.set({ job: r.jobId }, (r.finishedAt ?? r.startedAt) / 1000);
      for (const o of JOB_OUTCOMES) lastOutcome.set({ job: r.jobId, outcome: o }, o === r.outcome ? 1 : 0);
    }),
  );
}
