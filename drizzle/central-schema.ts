// The central service's PostgreSQL schema (drizzle's PostgreSQL dialect). drizzle-kit generates
// migrations-central/ from this file (`npx drizzle-kit generate --config drizzle.central.config.ts
// --name <what>`); the central service applies them at start. Every row a site sends is keyed by
// (site_id, the edge's own id), so a redelivered message changes nothing.
// Timestamps are integer ms: `ts` is the edge's clock, `*_at` and last_seen the central's wall clock.
import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';

const ms = (name: string) => bigint(name, { mode: 'number' });

export const sites = pgTable('sites', {
  id: text('id').primaryKey(),
  name: text('name'),
  /** Central wall ms of the last message from the site (any kind). */
  lastSeen: ms('last_seen').notNull(),
  /** The site's own report: rows not yet acknowledged, and the age of the oldest (edge clock). */
  backlog: integer('backlog'),
  backlogAgeMs: ms('backlog_age_ms'),
  /** Edge wall ms of the status that set backlog (a late older status does not win). */
  statusAt: ms('status_at'),
});

export const devices = pgTable(
  'devices',
  {
    siteId: text('site_id').notNull(),
    deviceId: text('device_id').notNull(),
    /** The newest sample's time and values: the device's latest state. */
    lastTs: ms('last_ts'),
    values: jsonb('values').$type<Record<string, number | string | null>>(),
    lastEventTs: ms('last_event_ts'),
    lastEventType: text('last_event_type'),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.deviceId] })],
);

export const events = pgTable(
  'events',
  {
    siteId: text('site_id').notNull(),
    id: ms('id').notNull(),
    ts: ms('ts').notNull(),
    type: text('type').notNull(),
    deviceId: text('device_id'),
    busId: text('bus_id'),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    alarm: boolean('alarm').notNull(),
    receivedAt: ms('received_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.siteId, t.id] }),
    index('events_ts_idx').on(t.ts),
    index('events_type_ts_idx').on(t.type, t.ts),
    index('events_alarm_received_idx').on(t.alarm, t.receivedAt),
  ],
);

export const samples = pgTable(
  'samples',
  {
    siteId: text('site_id').notNull(),
    id: ms('id').notNull(),
    ts: ms('ts').notNull(),
    deviceId: text('device_id').notNull(),
    values: jsonb('values').$type<Record<string, number | string | null>>().notNull(),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.id] }), index('samples_site_device_ts_idx').on(t.siteId, t.deviceId, t.ts)],
);

export const chargeSessions = pgTable(
  'charge_sessions',
  {
    siteId: text('site_id').notNull(),
    id: text('id').notNull(),
    /** The edge's change id of this version: only a newer change replaces it. */
    changeId: ms('change_id').notNull(),
    chargerId: text('charger_id').notNull(),
    startedAt: ms('started_at').notNull(),
    endedAt: ms('ended_at'),
    outcome: text('outcome'),
    session: jsonb('session').$type<Record<string, unknown>>().notNull(),
    phases: jsonb('phases').$type<unknown[]>().notNull(),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.id] }), index('charge_sessions_started_idx').on(t.startedAt)],
);
