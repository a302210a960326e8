/**
 * Edge forwarding: the site's SQLite log (events, samples, charge-session changes) published to
 * NATS JetStream, `pp.<site>.events` / `.samples` / `.sessions`, each kind in log order.
 *
 * SQLite stays the source of truth. The outbox reads what is on disk above a durable cursor per
 * kind (table fleet_cursor), in batches of batchSize (memory bound), publishes them with the
 * row's id as the JetStream message id (a re-send is de-duplicated by the stream, and the
 * central service's writes are idempotent on the same id), and advances the cursor only over
 * the rows whose publish JetStream acknowledged, in order. Through an outage the rows simply
 * stay above the cursor (store-and-forward within the local retention); when NATS is back the
 * backlog drains at most maxPerSecond messages per second, one batch at a time with a yield
 * between batches, so the control loop keeps its turn.
 *
 * The network runs on wall time (setTimeout); the ages reported use the engine's clock, which
 * is what the rows carry.
 */
import type Database from 'better-sqlite3';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { ChargeSessionStore } from '../store/sessions.js';
import type { FleetConfig } from './config.js';
import { connectNatsOnce, redactUrl, SITE_PLACE } from './nats.js';
import {
  FLEET_KINDS,
  msgIdOf,
  subjectOf,
  type FleetEventMsg,
  type FleetKind,
  type FleetSampleMsg,
  type FleetSessionMsg,
  type FleetStatusMsg,
} from './subjects.js';

export interface FleetBacklog {
  enabled: true;
  siteId: string;
  connected: boolean;
  /** Rows not yet acknowledged by JetStream, per kind and in all. */
  events: number;
  samples: number;
  sessions: number;
  total: number;
  /** Clock ms of the oldest unacknowledged row, and its age (null when nothing waits). */
  oldestTs: number | null;
  ageMs: number | null;
  /** Messages acknowledged since start (duplicates included). */
  sent: number;
  /** Of those, how many the stream reported as duplicates (already stored). */
  duplicates: number;
  /** Wall ms of the last acknowledged publish. */
  lastAckAt: number | null;
  /** The last publish failure, for people (null after a success). */
  lastError: string | null;
  /** Clock ms of the first failure since the last ack (null while NATS acknowledges). */
  offlineSince: number | null;
}

export interface OutboxOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  fleet: FleetConfig;
  /** Wall ms between polls of SQLite when nothing is waiting. Default 250. */
  pollMs?: number;
  /** Wall ms a publish waits for its ack. Default 5000. */
  ackTimeoutMs?: number;
  /** Longest wall wait between retries during an outage. Default 15000. */
  maxRetryMs?: number;
  /** Wall ms one connection attempt may take. Default 10000. */
  connectTimeoutMs?: number;
}

interface Row {
  id: number;
  ts: number;
  msg: FleetEventMsg | FleetSampleMsg | FleetSessionMsg;
}

export class FleetOutbox {
  private readonly db: Database.Database;
  private readonly site: string;
  private readonly name: string;
  private readonly batchSize: number;
  private readonly maxPerSecond: number;
  private readonly pollMs: number;
  private readonly ackTimeoutMs: number;
  private readonly maxRetryMs: number;
  private readonly sessions: ChargeSessionStore;
  private readonly cursors = new Map<FleetKind, number>();
  private readonly readStmts: Record<Exclude<FleetKind, 'samples'>, Database.Statement<[number, number]>>;
  private readonly countStmts: Record<FleetKind, Database.Statement<[number], { n: number }>>;
  private readonly putCursor: Database.Statement<[string, number]>;
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private running = false;
  private loopDone: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private sent = 0;
  private duplicates = 0;
  private lastAckAt: number | null = null;
  private lastError: string | null = null;
  private offlineSince: number | null = null;
  private retryMs = 500;

  constructor(private readonly opts: OutboxOptions) {
    this.db = opts.store.db;
    this.site = opts.fleet.siteId;
    this.name = opts.fleet.name ?? opts.fleet.siteId;
    this.batchSize = opts.fleet.batchSize;
    this.maxPerSecond = opts.fleet.maxPerSecond;
    this.pollMs = opts.pollMs ?? 250;
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 5000;
    this.maxRetryMs = opts.maxRetryMs ?? 15_000;
    this.sessions = new ChargeSessionStore(this.db);
    this.readStmts = {
      events: this.db.prepare('SELECT id, ts, type, device_id, bus_id, data FROM events WHERE id > ? ORDER BY id LIMIT ?'),
      sessions: this.db.prepare('SELECT id, session_id FROM fleet_session_changes WHERE id > ? ORDER BY id LIMIT ?'),
    };
    // Not count(*): a week's backlog is millions of rows, and counting them on every status or API
    // call would hold the event loop (and the control loop) for a good part of a second. Ids grow
    // with the log, so the highest id less the cursor is exact for samples and session changes
    // (AUTOINCREMENT) and an upper bound for events (a restart may skip ids), in one index seek.
    this.countStmts = {
      events: this.db.prepare('SELECT max(0, coalesce(max(id), 0) - ?) AS n FROM events'),
      samples: this.db.prepare('SELECT max(0, coalesce(max(id), 0) - ?) AS n FROM samples'),
      sessions: this.db.prepare('SELECT count(*) AS n FROM fleet_session_changes WHERE id > ?'),
    };
    this.putCursor = this.db.prepare(
      'INSERT INTO fleet_cursor (stream, last_id) VALUES (?, ?) ON CONFLICT(stream) DO UPDATE SET last_id = excluded.last_id',
    );
    const rows = this.db.prepare('SELECT stream, last_id FROM fleet_cursor').all() as Array<{ stream: string; last_id: number }>;
    for (const k of FLEET_KINDS) this.cursors.set(k, rows.find((r) => r.stream === k)?.last_id ?? 0);
  }

  /** Connects (waiting for NATS as long as it takes, in the background) and starts draining. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.opts.log.info({ site: this.site, nats: redactUrl(this.opts.fleet.natsUrl) }, `fleet: forwarding site ${this.site} to ${redactUrl(this.opts.fleet.natsUrl)}`);
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.statusTimer = null;
    this.wake?.();
    await this.loopDone;
    const nc = this.nc;
    this.nc = null;
    this.js = null;
    if (nc) await nc.close().catch(() => undefined);
  }

  /** The last acknowledged row id per kind (the durable cursor). */
  cursor(kind: FleetKind): number {
    return this.cursors.get(kind) ?? 0;
  }

  /** What waits to be forwarded, for the API (events: an upper bound, see countStmts). */
  backlog(): FleetBacklog {
    const counts = {} as Record<FleetKind, number>;
    for (const k of FLEET_KINDS) counts[k] = this.countStmts[k].get(this.cursor(k))?.n ?? 0;
    const oldest = this.oldestUnsentTs();
    return {
      enabled: true,
      siteId: this.site,
      connected: this.nc !== null && !this.nc.isClosed() && this.js !== null && this.lastError === null,
      events: counts.events,
      samples: counts.samples,
      sessions: counts.sessions,
      total: counts.events + counts.samples + counts.sessions,
      oldestTs: oldest,
      ageMs: oldest === null ? null : Math.max(0, this.opts.clock.now() - oldest),
      sent: this.sent,
      duplicates: this.duplicates,
      lastAckAt: this.lastAckAt,
      lastError: this.lastError,
      offlineSince: this.offlineSince,
    };
  }

  private oldestUnsentTs(): number | null {
    const e = this.db.prepare('SELECT ts FROM events WHERE id > ? ORDER BY id LIMIT 1').get(this.cursor('events')) as { ts: number } | undefined;
    const s = this.db.prepare('SELECT ts FROM samples WHERE id > ? ORDER BY id LIMIT 1').get(this.cursor('samples')) as { ts: number } | undefined;
    const ts = [e?.ts, s?.ts].filter((x): x is number => x !== undefined);
    return ts.length ? Math.min(...ts) : null;
  }

  private async loop(): Promise<void> {
    while (this.running && !this.js) {
      try {
        // One attempt at a time: a failure is explained (a wrong CA file, a refused certificate,
        // nothing listening) and shown as lastError while the rows wait.
        this.nc = await connectNatsOnce({ servers: this.opts.fleet.natsUrl, credentials: this.opts.fleet.credentials, tls: this.opts.fleet.tls, name: `powerplane-${this.site}`, place: SITE_PLACE, timeoutMs: this.opts.connectTimeoutMs });
        this.js = jetstream(this.nc, { timeout: this.ackTimeoutMs });
      } catch (err) {
        this.failed(err);
        await this.sleep(this.nextRetry());
      }
    }
    if (!this.running) return;
    this.statusTimer = setInterval(() => void this.publishStatus(), this.opts.fleet.statusIntervalS * 1000);
    this.statusTimer.unref();
    void this.publishStatus();
    while (this.running) {
      let moved = 0;
      let failed = false;
      for (const kind of FLEET_KINDS) {
        if (!this.running) break;
        const r = await this.drainOnce(kind);
        moved += r.sent;
        if (r.failed) {
          failed = true;
          break;
        }
      }
      if (failed) await this.sleep(this.nextRetry());
      else if (moved === 0) await this.sleep(this.pollMs);
      else await new Promise((r) => setImmediate(r)); // the control loop's turn between batches
    }
  }

  /** Publishes one batch of `kind`; the cursor moves over the acknowledged prefix. */
  private async drainOnce(kind: FleetKind): Promise<{ sent: number; failed: boolean }> {
    const rows = this.read(kind);
    if (rows.length === 0) return { sent: 0, failed: false };
    const t0 = Date.now();
    const js = this.js!;
    const subject = subjectOf(this.site, kind);
    const results = await Promise.allSettled(
      rows.map((r) => js.publish(subject, JSON.stringify(r.msg), { msgID: msgIdOf(this.site, kind, r.id), timeout: this.ackTimeoutMs })),
    );
    let acked = 0;
    for (const res of results) {
      if (res.status !== 'fulfilled') break;
      acked++;
      if (res.value.duplicate) this.duplicates++;
    }
    if (acked > 0) {
      const last = rows[acked - 1]!.id;
      this.advance(kind, last);
      this.sent += acked;
      this.lastAckAt = Date.now();
    }
    if (acked < rows.length) {
      const err = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      this.failed(this.explainPublishFailure(err.reason, kind));
      return { sent: acked, failed: true };
    }
    this.recovered();
    this.retryMs = 500;
    // The rate bound: a batch of n messages takes at least n / maxPerSecond seconds.
    const minMs = (rows.length / this.maxPerSecond) * 1000;
    const spent = Date.now() - t0;
    if (minMs > spent) await this.sleep(minMs - spent);
    return { sent: acked, failed: false };
  }

  private advance(kind: FleetKind, id: number): void {
    this.cursors.set(kind, id);
    try {
      this.putCursor.run(kind, id);
      // A change already forwarded is not needed again: its session row is the truth.
      if (kind === 'sessions') this.db.prepare('DELETE FROM fleet_session_changes WHERE id <= ?').run(id);
    } catch (err) {
      // The disk refused (the store reports its own fault): the cursor stays in memory and is
      // written with the next ack; a restart before that re-sends, which the stream de-duplicates.
      this.opts.log.warn({ err: String(err) }, `fleet: the forwarding cursor could not be saved (${String(err)}); it is retried with the next batch`);
    }
  }

  private read(kind: FleetKind): Row[] {
    const after = this.cursor(kind);
    if (kind === 'events') {
      const raw = this.readStmts.events.all(after, this.batchSize) as Array<{ id: number; ts: number; type: string; device_id: string | null; bus_id: string | null; data: string }>;
      return raw.map((r) => ({ id: r.id, ts: r.ts, msg: { id: r.id, ts: r.ts, type: r.type, deviceId: r.device_id, busId: r.bus_id, data: JSON.parse(r.data) as Record<string, unknown> } }));
    }
    if (kind === 'samples') {
      // Through the store: it decodes the compact values (migration 0021, src/store/row-codec.ts).
      const raw = this.opts.store.samplesAfterId(after, this.batchSize);
      return raw.map((r) => ({ id: r.id, ts: r.ts, msg: { id: r.id, ts: r.ts, deviceId: r.deviceId, values: r.values as FleetSampleMsg['values'] } }));
    }
    // Session changes: only the newest change of each session in the batch is sent (it carries
    // the whole row); the cursor still moves over all of them.
    const raw = this.readStmts.sessions.all(after, this.batchSize) as Array<{ id: number; session_id: string }>;
    const newest = new Map<string, number>();
    for (const r of raw) newest.set(r.session_id, r.id);
    const out: Row[] = [];
    for (const r of raw) {
      if (newest.get(r.session_id) !== r.id) continue;
      const s = this.sessions.get(r.session_id);
      if (!s) continue;
      out.push({ id: r.id, ts: s.endedAt ?? s.startedAt, msg: { changeId: r.id, session: { ...s }, phases: this.sessions.phases(r.session_id) } });
    }
    // The cursor must pass the skipped changes too: the last row carries the batch's last id.
    const lastId = raw[raw.length - 1]?.id;
    const tail = out[out.length - 1];
    if (lastId !== undefined && tail && tail.id !== lastId) out[out.length - 1] = { ...tail, id: lastId, msg: { ...(tail.msg as FleetSessionMsg), changeId: lastId } };
    if (lastId !== undefined && out.length === 0) this.advance('sessions', lastId);
    return out;
  }

  private async publishStatus(): Promise<void> {
    const js = this.js;
    if (!js || !this.running) return;
    const b = this.backlog();
    const msg: FleetStatusMsg = { name: this.name, backlog: b.total, oldestTs: b.oldestTs, ageMs: b.ageMs, sentAt: Date.now() };
    try {
      await js.publish(subjectOf(this.site, 'status'), JSON.stringify(msg), { timeout: this.ackTimeoutMs });
      // With no row waiting, this ack is what proves the way open again (else the site looked
      // offline until its next row); with rows waiting, their own acks say so.
      if (b.total === 0) this.recovered();
    } catch {
      // The status is refreshed on the next interval; the log rows are what must arrive.
    }
  }

  /** A publish that was not acknowledged, for people: why, and what to do. */
  private explainPublishFailure(err: unknown, kind: FleetKind): string {
    const at = redactUrl(this.opts.fleet.natsUrl);
    const subject = subjectOf(this.site, kind);
    const raw = err instanceof Error ? err.message : String(err);
    if (/no responders|503/i.test(raw)) {
      return `NATS at ${at} has no JetStream stream for ${subject} (${raw}): start the central service (it creates the stream) or add pp.*.${kind} to the stream's subjects`;
    }
    if (/permission/i.test(raw)) {
      return `NATS at ${at} does not let this site publish on ${subject} (${raw}): allow publish on "pp.${this.site}.>" for this site's NATS user`;
    }
    if (/timeout|disconnect|closed|connection/i.test(raw)) {
      return `NATS at ${at} did not acknowledge within ${this.ackTimeoutMs / 1000} s (${raw}): it is down or out of reach; the connection is retried by itself`;
    }
    return `NATS at ${at} did not acknowledge ${subject}: ${raw}`;
  }

  private recovered(): void {
    if (this.lastError === null) return;
    this.opts.log.info({ site: this.site }, `fleet: NATS acknowledges again; draining the backlog`);
    this.lastError = null;
    this.offlineSince = null;
  }

  private failed(err: unknown): void {
    const text = err instanceof Error ? err.message : String(err);
    if (this.lastError === null) {
      this.offlineSince = this.opts.clock.now();
      this.opts.log.warn({ site: this.site, err: text }, `fleet: cannot forward to NATS (${text}); rows wait in SQLite and are sent when it is back`);
    }
    this.lastError = text;
  }

  private nextRetry(): number {
    const ms = this.retryMs;
    this.retryMs = Math.min(this.maxRetryMs, this.retryMs * 2);
    return ms;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
    });
  }
}
