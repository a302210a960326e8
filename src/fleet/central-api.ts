/**
 * The fleet's GraphQL API (graphql-yoga over the central PostgreSQL): sites with their last
 * message, backlog, online state and recent alarms; each site's devices with their latest state;
 * events, telemetry and charge sessions across sites with filters; and alarms across the fleet as
 * a subscription (GraphQL over server-sent events, yoga's built-in transport).
 */
import { createSchema, createYoga } from 'graphql-yoga';
import { GraphQLError } from 'graphql';
import { and, asc, desc, eq, gte, inArray, lte, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import * as cs from '../../drizzle/central-schema.js';
import type { CentralService } from './central.js';

export type FleetEventRow = typeof cs.events.$inferSelect;

export interface AlarmBus {
  subscribe(fn: (e: FleetEventRow) => void): () => void;
}

/** Alarms counted on a site are those received in this window. */
const ALARM_WINDOW_MS = 24 * 3600_000;

const typeDefs = /* GraphQL */ `
  scalar JSON

  type Site {
    id: ID!
    name: String
    "Central wall-clock ms of the site's last message."
    lastSeen: Float!
    "Rows the site has not yet had acknowledged (its last status report)."
    backlog: Int
    "Age of the site's oldest unsent row, ms (its last status report)."
    backlogAgeMs: Float
    online: Boolean!
    "Alarm events received from the site in the last 24 h."
    alarms: Int!
    devices: [Device!]!
  }

  type Device {
    siteId: ID!
    id: ID!
    "Time (edge clock, ms) and values of the newest sample: the latest state."
    lastTs: Float
    values: JSON
    lastEventTs: Float
    lastEventType: String
  }

  type FleetEvent {
    siteId: ID!
    id: Float!
    ts: Float!
    type: String!
    deviceId: String
    busId: String
    data: JSON!
    alarm: Boolean!
  }

  type FleetSample {
    siteId: ID!
    id: Float!
    ts: Float!
    deviceId: String!
    values: JSON!
  }

  type FleetChargeSession {
    siteId: ID!
    id: ID!
    chargerId: String!
    startedAt: Float!
    endedAt: Float
    outcome: String
    session: JSON!
    phases: JSON!
  }

  type Query {
    sites: [Site!]!
    site(id: ID!): Site
    devices(siteId: ID!): [Device!]!
    "Newest first."
    events(siteIds: [ID!], types: [String!], typePrefix: String, deviceId: String, from: Float, to: Float, alarmsOnly: Boolean, first: Int = 100): [FleetEvent!]!
    "Oldest first, within [from, to]."
    telemetry(siteId: ID!, deviceId: String!, from: Float, to: Float, first: Int = 1000): [FleetSample!]!
    "Newest first."
    chargeSessions(siteIds: [ID!], outcome: String, from: Float, to: Float, first: Int = 100): [FleetChargeSession!]!
    "How many events and samples the central holds (per site when given)."
    counts(siteId: ID): Counts!
  }

  type Counts {
    events: Int!
    samples: Int!
    sessions: Int!
  }

  type CommandResult {
    ok: Boolean!
    code: String
    message: String!
  }

  type Mutation {
    "Asks a site to run a command through its own gate and roles (the site must enable fleet.commands): standby (deviceId: a PSU id or all), stopCharge (chargerId), applyProfile (deviceId: an inverter id or serial, profile: a saved profile's name, confirm: true; admin on the site, as its own applyProfile), enableJob or disableJob (jobId; a job from the site's config is READ_ONLY)."
    command(siteId: ID!, command: String!, deviceId: String, chargerId: String, profile: String, confirm: Boolean, jobId: String): CommandResult!
  }

  type Subscription {
    "Every new alarm event from any site (or the sites named), as it is written."
    alarms(siteIds: [ID!]): FleetEvent!
  }
`;

const cap = (n: number | null | undefined, max: number) => Math.max(0, Math.min(max, n ?? max));

export function createFleetApi(o: { central: CentralService; token: string | null; onlineWithinMs: number; now: () => number }) {
  const db = o.central.db;
  type SiteRow = typeof cs.sites.$inferSelect;

  const siteView = async (s: SiteRow) => {
    const since = o.now() - ALARM_WINDOW_MS;
    const r = await db
      .select({ n: sql<number>`count(*)::int` })
      .from(cs.events)
      .where(and(eq(cs.events.siteId, s.id), eq(cs.events.alarm, true), gte(cs.events.receivedAt, since)));
    return { ...s, online: o.now() - s.lastSeen <= o.onlineWithinMs, alarms: r[0]?.n ?? 0 };
  };
  const devicesOf = (siteId: string) =>
    db.select().from(cs.devices).where(eq(cs.devices.siteId, siteId)).orderBy(asc(cs.devices.deviceId)).then((rows) => rows.map((d) => ({ ...d, id: d.deviceId })));

  const schema = createSchema({
    typeDefs,
    resolvers: {
      Site: { devices: (s: SiteRow) => devicesOf(s.id) },
      Query: {
        sites: async () => Promise.all((await db.select().from(cs.sites).orderBy(asc(cs.sites.id))).map(siteView)),
        site: async (_: unknown, a: { id: string }) => {
          const [s] = await db.select().from(cs.sites).where(eq(cs.sites.id, a.id));
          return s ? siteView(s) : null;
        },
        devices: (_: unknown, a: { siteId: string }) => devicesOf(a.siteId),
        events: (_: unknown, a: { siteIds?: string[]; types?: string[]; typePrefix?: string; deviceId?: string; from?: number; to?: number; alarmsOnly?: boolean; first?: number }) => {
          const t = cs.events;
          const conds: (SQL | undefined)[] = [
            a.siteIds ? inArray(t.siteId, a.siteIds) : undefined,
            a.types ? inArray(t.type, a.types) : undefined,
            a.typePrefix ? sql`starts_with(${t.type}, ${a.typePrefix})` : undefined,
            a.deviceId ? eq(t.deviceId, a.deviceId) : undefined,
            a.from !== undefined && a.from !== null ? gte(t.ts, a.from) : undefined,
            a.to !== undefined && a.to !== null ? lte(t.ts, a.to) : undefined,
            a.alarmsOnly ? eq(t.alarm, true) : undefined,
          ];
          if (a.siteIds?.length === 0 || a.types?.length === 0) return [];
          return db.select().from(t).where(and(...conds)).orderBy(desc(t.ts), desc(t.id)).limit(cap(a.first, 1000));
        },
        telemetry: (_: unknown, a: { siteId: string; deviceId: string; from?: number; to?: number; first?: number }) => {
          const t = cs.samples;
          return db
            .select()
            .from(t)
            .where(and(eq(t.siteId, a.siteId), eq(t.deviceId, a.deviceId), a.from != null ? gte(t.ts, a.from) : undefined, a.to != null ? lte(t.ts, a.to) : undefined))
            .orderBy(asc(t.ts), asc(t.id))
            .limit(cap(a.first, 10_000));
        },
        chargeSessions: (_: unknown, a: { siteIds?: string[]; outcome?: string; from?: number; to?: number; first?: number }) => {
          const t = cs.chargeSessions;
          if (a.siteIds?.length === 0) return [];
          return db
            .select()
            .from(t)
            .where(and(a.siteIds ? inArray(t.siteId, a.siteIds) : undefined, a.outcome ? eq(t.outcome, a.outcome) : undefined, a.from != null ? gte(t.startedAt, a.from) : undefined, a.to != null ? lte(t.startedAt, a.to) : undefined))
            .orderBy(desc(t.startedAt))
            .limit(cap(a.first, 1000));
        },
        counts: async (_: unknown, a: { siteId?: string }) => {
          const w = (col: PgColumn) => (a.siteId ? eq(col, a.siteId) : undefined);
          const [e] = await db.select({ n: sql<number>`count(*)::int` }).from(cs.events).where(w(cs.events.siteId));
          const [s] = await db.select({ n: sql<number>`count(*)::int` }).from(cs.samples).where(w(cs.samples.siteId));
          const [c] = await db.select({ n: sql<number>`count(*)::int` }).from(cs.chargeSessions).where(w(cs.chargeSessions.siteId));
          return { events: e?.n ?? 0, samples: s?.n ?? 0, sessions: c?.n ?? 0 };
        },
      },
      Mutation: {
        command: (_: unknown, a: { siteId: string; command: string; deviceId?: string | null; chargerId?: string | null; profile?: string | null; confirm?: boolean | null; jobId?: string | null }) =>
          o.central.command(a.siteId, { command: a.command, deviceId: a.deviceId ?? undefined, chargerId: a.chargerId ?? undefined, profile: a.profile ?? undefined, confirm: a.confirm ?? undefined, jobId: a.jobId ?? undefined }),
      },
      Subscription: {
        alarms: {
          subscribe: (_: unknown, a: { siteIds?: string[] }) => alarmStream(o.central.alarms, a.siteIds ?? null),
          resolve: (e: FleetEventRow) => e,
        },
      },
    },
  });

  return createYoga({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    plugins: [
      {
        onRequest({ request, fetchAPI, endResponse }) {
          if (o.token === null) return;
          const auth = request.headers.get('authorization') ?? '';
          if (auth !== `Bearer ${o.token}`) {
            endResponse(new fetchAPI.Response(JSON.stringify({ errors: [{ message: 'the fleet API needs "Authorization: Bearer <server.token>"', extensions: { code: 'UNAUTHENTICATED' } }] }), { status: 401, headers: { 'content-type': 'application/json' } }));
          }
        },
      },
    ],
    maskedErrors: { maskError: (err) => (err instanceof GraphQLError ? err : new GraphQLError('internal error')) },
  });
}

/** An async iterator over the alarms written from now on (bounded: a slow reader loses the oldest). */
function alarmStream(bus: AlarmBus, siteIds: string[] | null): AsyncIterableIterator<FleetEventRow> {
  const queue: FleetEventRow[] = [];
  let waiting: ((r: IteratorResult<FleetEventRow>) => void) | null = null;
  let done = false;
  const unsubscribe = bus.subscribe((e) => {
    if (siteIds && !siteIds.includes(e.siteId)) return;
    if (waiting) {
      const w = waiting;
      waiting = null;
      w({ value: e, done: false });
    } else {
      queue.push(e);
      if (queue.length > 1000) queue.shift();
    }
  });
  const finish = (): Promise<IteratorResult<FleetEventRow>> => {
    done = true;
    unsubscribe();
    waiting?.({ value: undefined, done: true });
    waiting = null;
    return Promise.resolve({ value: undefined, done: true });
  };
  return {
    next: () => {
      if (done) return Promise.resolve({ value: undefined, done: true });
      const e = queue.shift();
      if (e) return Promise.resolve({ value: e, done: false });
      return new Promise((r) => (waiting = r));
    },
    return: finish,
    throw: (err: unknown) => {
      void finish();
      return Promise.reject(err);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
