/**
 * The central service: durable JetStream consumers (one per kind: events, samples, sessions,
 * status) that write what every site forwards into PostgreSQL, and the fleet's GraphQL API.
 *
 * Each batch of messages is written in one PostgreSQL transaction and acknowledged only after
 * it commits. Every write is idempotent: events and samples are keyed by (site, the edge's id)
 * and inserted with ON CONFLICT DO NOTHING; a charge session is replaced only by a newer change;
 * a device's latest state only by a newer sample; a site's backlog only by a newer status. So a
 * message redelivered (an ack lost, a central restart, an edge re-sending past the stream's
 * de-duplication window) changes nothing.
 */
import { fileURLToPath } from 'node:url';
import { createServer, type Server } from 'node:http';
import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { sql } from 'drizzle-orm';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../log.js';
import type { Code } from '../codes.js';
import * as cs from '../../drizzle/central-schema.js';
import { CENTRAL_PLACE, connectNats, redactUrl } from './nats.js';
import { parseSubject, type FleetEventMsg, type FleetSampleMsg, type FleetSessionMsg, type FleetStatusMsg } from './subjects.js';
import type { CentralConfig } from './central-config.js';
import { createFleetApi, type AlarmBus, type FleetEventRow } from './central-api.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations-central/', import.meta.url));

type Kind = 'events' | 'samples' | 'sessions' | 'status';
const KINDS: readonly Kind[] = ['events', 'samples', 'sessions', 'status'];

export interface CentralStats {
  /** Messages written (or found already written) and acknowledged, per kind. */
  acked: Record<Kind, number>;
  /** Rows that were new (the rest were redeliveries or replays). */
  inserted: Record<Kind, number>;
  batches: number;
  /** Wall ms spent writing batches to PostgreSQL (the central's own cost). */
  writeMs: number;
  /** Batches not written (NATS away, PostgreSQL refusing): left unacknowledged for redelivery. */
  failures: number;
  lastError: string | null;
}

export interface CentralOptions {
  config: CentralConfig;
  log: Logger;
  /** Wall ms, for tests; default Date.now. */
  now?: () => number;
}

/** Is this event an alarm? A type that names an alarm or a fault, or one of the fail-safe's. */
export function isAlarmType(type: string, extra: readonly string[] = []): boolean {
  return /(^|[.-])(alarm|alarms|fault)(s)?($|[.-])/.test(type) || type === 'engine.fail-safe' || extra.includes(type);
}

export class CentralService {
  readonly pool: pg.Pool;
  readonly db: NodePgDatabase<typeof cs>;
  readonly stats: CentralStats = {
    acked: { events: 0, samples: 0, sessions: 0, status: 0 },
    inserted: { events: 0, samples: 0, sessions: 0, status: 0 },
    batches: 0,
    writeMs: 0,
    failures: 0,
    lastError: null,
  };
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private running = false;
  /** Set by stop(): a start still waiting for NATS gives up. */
  private stopRequested = false;
  private loops: Promise<void>[] = [];
  private http: Server | null = null;
  private readonly alarmListeners = new Set<(e: FleetEventRow) => void>();
  private readonly now: () => number;
  private readonly stream: string;

  constructor(private readonly opts: CentralOptions) {
    this.pool = new pg.Pool({ connectionString: opts.config.postgres.url, max: 8 });
    this.pool.on('error', (err) => opts.log.warn({ err: String(err) }, `central: a PostgreSQL connection failed (${String(err)}); it is replaced`));
    this.db = drizzle(this.pool, { schema: cs });
    this.now = opts.now ?? Date.now;
    this.stream = opts.config.nats.stream;
  }

  /** The HTTP port the fleet API listens on (after start). */
  get port(): number {
    const a = this.http?.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  /** Live alarm subscriptions (API clients). */
  get alarmSubscribers(): number {
    return this.alarmListeners.size;
  }

  readonly alarms: AlarmBus = {
    subscribe: (fn) => {
      this.alarmListeners.add(fn);
      return () => this.alarmListeners.delete(fn);
    },
  };

  async start(): Promise<void> {
    const c = this.opts.config;
    await migrate(this.db, { migrationsFolder: MIGRATIONS_DIR });
    let said = '';
    this.nc = await connectNats(
      { servers: c.nats.url, credentials: c.nats.credentials, tls: c.nats.tls, name: 'powerplane-central', place: CENTRAL_PLACE },
      {
        onError: (e) => {
          if (e.message === said) return; // once per reason, not once per retry
          said = e.message;
          this.opts.log.warn({ nats: redactUrl(c.nats.url) }, `central: cannot connect to NATS yet (${e.message}); retrying`);
        },
        stopped: () => this.stopRequested,
      },
    );
    const jsm = await jetstreamManager(this.nc);
    const subjects = ['pp.*.events', 'pp.*.samples', 'pp.*.sessions', 'pp.*.status'];
    const streamCfg = {
      name: this.stream,
      subjects,
      duplicate_window: nanos(c.nats.duplicateWindowS * 1000),
      max_age: c.nats.maxAgeS ? nanos(c.nats.maxAgeS * 1000) : 0,
    };
    try {
      await jsm.streams.info(this.stream);
      await jsm.streams.update(this.stream, { subjects, duplicate_window: streamCfg.duplicate_window, max_age: streamCfg.max_age });
    } catch {
      await jsm.streams.add(streamCfg);
    }
    for (const k of KINDS) {
      const durable = `${c.nats.durablePrefix}-${k}`;
      try {
        await jsm.consumers.info(this.stream, durable);
      } catch {
        await jsm.consumers.add(this.stream, {
          durable_name: durable,
          filter_subject: `pp.*.${k}`,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: nanos(30_000),
          max_ack_pending: 10_000,
        });
      }
    }
    this.js = jetstream(this.nc);
    this.running = true;
    this.loops = KINDS.map((k) => this.consume(k));
    const api = createFleetApi({ central: this, token: c.server.token ?? null, onlineWithinMs: c.onlineWithinS * 1000, now: this.now });
    this.http = createServer(api);
    await new Promise<void>((resolve) => this.http!.listen(c.server.port, c.server.host, resolve));
    this.opts.log.info(
      { nats: redactUrl(c.nats.url), port: this.port },
      `central: consuming ${this.stream} from ${redactUrl(c.nats.url)} into PostgreSQL; fleet API on http://${c.server.host}:${this.port}/graphql`,
    );
  }

  /** Asks a site to run a command (pp.<site>.commands) and returns its answer. */
  async command(siteId: string, cmd: Record<string, unknown>): Promise<{ ok: boolean; code?: string; message: string }> {
    if (!this.nc) return { ok: false, code: 'SITE_UNREACHABLE' satisfies Code, message: 'the central service is not connected to NATS' };
    try {
      // A profile apply writes and reads back each setter (and may roll back): give it longer.
      const m = await this.nc.request(`pp.${siteId}.commands`, JSON.stringify(cmd), { timeout: cmd.command === 'applyProfile' ? 120_000 : 10_000 });
      return m.json<{ ok: boolean; code?: string; message: string }>();
    } catch (err) {
      return { ok: false, code: 'SITE_UNREACHABLE' satisfies Code, message: `site ${siteId} did not answer (${err instanceof Error ? err.message : String(err)}): it is offline or has fleet.commands off` };
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopRequested = true;
    const nc = this.nc;
    this.nc = null;
    if (this.http) await new Promise<void>((r) => this.http!.close(() => r()));
    this.http?.closeAllConnections?.();
    this.http = null;
    if (nc) await nc.close().catch(() => undefined);
    await Promise.allSettled(this.loops);
    await this.pool.end();
  }

  /** One kind's consumer: fetch a batch, write it in one transaction, then acknowledge it. */
  private async consume(kind: Kind): Promise<void> {
    const durable = `${this.opts.config.nats.durablePrefix}-${kind}`;
    let backoff = 250;
    while (this.running) {
      try {
        const consumer = await this.js!.consumers.get(this.stream, durable);
        // A full batch returns at once; a quiet stream waits at most 1 s (the client's minimum expiry).
        const iter = await consumer.fetch({ max_messages: this.opts.config.batchSize, expires: 1000 });
        const batch: JsMsg[] = [];
        let fetchErr: unknown = null;
        try {
          for await (const m of iter) batch.push(m);
        } catch (err) {
          // The pull ended early (heartbeats missed on a busy process, NATS away): what arrived is
          // still written and acknowledged, rather than left to wait for its redelivery.
          fetchErr = err;
        }
        if (batch.length === 0) {
          if (fetchErr) throw fetchErr;
          continue;
        }
        const t0 = performance.now();
        try {
          await this.write(kind, batch);
        } catch (err) {
          // Not written: handed back now (after the backoff), not after the ack wait.
          for (const m of batch) m.nak(backoff);
          throw err;
        }
        this.stats.writeMs += performance.now() - t0;
        for (const m of batch) m.ack();
        this.stats.acked[kind] += batch.length;
        this.stats.batches++;
        this.stats.lastError = null;
        backoff = 250;
      } catch (err) {
        if (!this.running) return;
        this.stats.failures++;
        // NATS away or PostgreSQL refusing: nothing was acknowledged, so JetStream redelivers.
        const text = err instanceof Error ? err.message : String(err);
        if (this.stats.lastError !== text) this.opts.log.warn({ kind, err: text }, `central: ${kind} not written (${text}); retrying`);
        this.stats.lastError = text;
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(5000, backoff * 2);
      }
    }
  }

  private async write(kind: Kind, batch: JsMsg[]): Promise<void> {
    const now = this.now();
    const bySite = new Map<string, { msgs: unknown[] }>();
    for (const m of batch) {
      const p = parseSubject(m.subject);
      if (!p) continue;
      let body: unknown;
      try {
        body = m.json();
      } catch {
        continue; // not ours: acknowledged and dropped (it could never be written)
      }
      const entry = bySite.get(p.site) ?? { msgs: [] };
      entry.msgs.push(body);
      bySite.set(p.site, entry);
    }
    const newAlarms: FleetEventRow[] = [];
    // Every kind's consumer runs its own transactions at once: rows are locked in one order
    // (sites, then devices, sorted) and the sites' lastSeen is one statement of its own, so two
    // consumers never wait on each other in a cycle (a deadlock, then redelivery, again and again).
    const siteIds = [...bySite.keys()].sort();
    if (siteIds.length === 0) return;
    await this.db
      .insert(cs.sites)
      .values(siteIds.map((id) => ({ id, name: null, lastSeen: now })))
      .onConflictDoUpdate({ target: cs.sites.id, set: { lastSeen: sql`greatest(${cs.sites.lastSeen}, excluded.last_seen)` } });
    const devKey = (r: { siteId: string; deviceId: string | null }) => `${r.siteId}\u0000${r.deviceId}`;
    await this.db.transaction(async (tx) => {
      // Events and samples: one statement per table for the whole batch, whatever the sites.
      if (kind === 'events') {
        const rows = siteIds.flatMap((site) =>
          dedupe(bySite.get(site)!.msgs as FleetEventMsg[], (e) => String(e.id)).map((e) => ({
            siteId: site,
            id: e.id,
            ts: e.ts,
            type: e.type,
            deviceId: e.deviceId,
            busId: e.busId,
            data: e.data ?? {},
            alarm: isAlarmType(e.type, this.opts.config.alarmTypes),
            receivedAt: now,
          })),
        );
        if (rows.length === 0) return;
        const inserted = await tx.insert(cs.events).values(rows).onConflictDoNothing().returning();
        this.stats.inserted.events += inserted.length;
        for (const r of inserted) if (r.alarm) newAlarms.push(r);
        const perDevice = sortBy(latestBy(rows.filter((r) => r.deviceId !== null), devKey, (r) => r.ts), devKey);
        if (perDevice.length) {
          await tx
            .insert(cs.devices)
            .values(perDevice.map((r) => ({ siteId: r.siteId, deviceId: r.deviceId!, lastEventTs: r.ts, lastEventType: r.type })))
            .onConflictDoUpdate({
              target: [cs.devices.siteId, cs.devices.deviceId],
              set: { lastEventTs: sql`excluded.last_event_ts`, lastEventType: sql`excluded.last_event_type` },
              setWhere: sql`${cs.devices.lastEventTs} IS NULL OR excluded.last_event_ts >= ${cs.devices.lastEventTs}`,
            });
        }
        return;
      }
      if (kind === 'samples') {
        const rows = siteIds.flatMap((site) =>
          dedupe(bySite.get(site)!.msgs as FleetSampleMsg[], (x) => String(x.id)).map((x) => ({ siteId: site, id: x.id, ts: x.ts, deviceId: x.deviceId, values: x.values })),
        );
        if (rows.length === 0) return;
        const inserted = await tx.insert(cs.samples).values(rows).onConflictDoNothing().returning({ id: cs.samples.id });
        this.stats.inserted.samples += inserted.length;
        const perDevice = sortBy(latestBy(rows, devKey, (r) => r.ts), devKey);
        await tx
          .insert(cs.devices)
          .values(perDevice.map((r) => ({ siteId: r.siteId, deviceId: r.deviceId, lastTs: r.ts, values: r.values })))
          .onConflictDoUpdate({
            target: [cs.devices.siteId, cs.devices.deviceId],
            set: { lastTs: sql`excluded.last_ts`, values: sql`excluded."values"` },
            setWhere: sql`${cs.devices.lastTs} IS NULL OR excluded.last_ts >= ${cs.devices.lastTs}`,
          });
        return;
      }
      for (const site of siteIds) {
        const { msgs } = bySite.get(site)!;
        if (kind === 'sessions') {
          const rows = latestBy(msgs as FleetSessionMsg[], (m) => m.session.id, (m) => m.changeId).map((m) => ({
            siteId: site,
            id: m.session.id,
            changeId: m.changeId,
            chargerId: m.session.chargerId,
            startedAt: m.session.startedAt,
            endedAt: m.session.endedAt,
            outcome: m.session.outcome,
            session: m.session,
            phases: m.phases,
          }));
          if (rows.length === 0) continue;
          const written = await tx
            .insert(cs.chargeSessions)
            .values(rows)
            .onConflictDoUpdate({
              target: [cs.chargeSessions.siteId, cs.chargeSessions.id],
              set: {
                changeId: sql`excluded.change_id`,
                endedAt: sql`excluded.ended_at`,
                outcome: sql`excluded.outcome`,
                session: sql`excluded.session`,
                phases: sql`excluded.phases`,
              },
              setWhere: sql`excluded.change_id > ${cs.chargeSessions.changeId}`,
            })
            .returning({ id: cs.chargeSessions.id });
          this.stats.inserted.sessions += written.length;
        } else {
          const last = latestBy(msgs as FleetStatusMsg[], () => site, (m) => m.sentAt)[0];
          if (!last) continue;
          const r = await tx
            .update(cs.sites)
            .set({ name: last.name, backlog: last.backlog, backlogAgeMs: last.ageMs, statusAt: last.sentAt })
            .where(sql`${cs.sites.id} = ${site} AND (${cs.sites.statusAt} IS NULL OR ${cs.sites.statusAt} <= ${last.sentAt})`)
            .returning({ id: cs.sites.id });
          this.stats.inserted.status += r.length;
        }
      }
    });
    for (const a of newAlarms) for (const fn of this.alarmListeners) fn(a);
  }
}

function sortBy<T>(items: T[], key: (t: T) => string): T[] {
  return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function dedupe<T>(items: T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((t) => {
    const k = key(t);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The item with the highest `order` per key (PostgreSQL refuses to upsert one row twice in a statement). */
function latestBy<T>(items: T[], key: (t: T) => string, order: (t: T) => number): T[] {
  const best = new Map<string, T>();
  for (const t of items) {
    const k = key(t);
    const b = best.get(k);
    if (b === undefined || order(t) >= order(b)) best.set(k, t);
  }
  return [...best.values()];
}
