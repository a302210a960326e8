// The SQLite schema. drizzle-kit generates migrations/ from this file
// (`npx drizzle-kit generate --name <what>`); never hand-edit the SQL.
// Timestamps are integer milliseconds (Clock.now()), not Date: the engine runs on
// simulated time and the hot insert path binds plain numbers.
import { blob, index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/**
 * Every frame received or sent on any link, for every protocol (the family contract's
 * FrameRecord): CAN, PI18 and RAPI ASCII lines, VE.Bus MK2 frames. Pruned by age.
 * Compact (migration 0021, src/store/row-codec.ts): the id is the time (ms × 1024 + the frame's
 * rank in its ms), everything but the bytes is the frame's channel (frame_channels), `text` is k
 * when it is the first k bytes as ASCII, `ts` is only stored when the id does not say it. No ts index:
 * time bounds and pruning are rowid ranges.
 */
export const frames = sqliteTable(
  'frames',
  {
    id: integer('id').primaryKey(),
    /** The link's store_keys id (kind 'link'). */
    lk: integer('lk').notNull(),
    /** frame_channels.id */
    ch: integer('ch').notNull(),
    /** CAN: the data field; PI18/RAPI: the whole line with its checksum; MK2: the frame. */
    bytes: blob('bytes', { mode: 'buffer' }).notNull(),
    /** null: none; an integer k: the first k bytes as ASCII; else the human-readable decoding. */
    text: blob('text', { mode: 'json' }).$type<string | number | null>(),
    /** The frame's ts when the id does not say it (rare: see row-codec.ts). */
    ts: integer('ts'),
  },
  // By link; SQLite appends the rowid (the time) to every index entry, so a link's frames are in
  // time order, and a write touches one index page per link (not per channel: RAPI alone has hundreds).
  (t) => [index('frames_link_idx').on(t.lk)],
);

/** What frames share: one row per distinct (link, protocol, dir, kind, device, address, meta). */
export const frameChannels = sqliteTable(
  'frame_channels',
  {
    id: integer('id').primaryKey(),
    /** The link (bus) the frames went over. */
    link: text('link').notNull(),
    /** 'can' | 'pi18' | 'mk2' | 'rapi' …: how `bytes` are to be read. */
    protocol: text('protocol').notNull(),
    dir: text('dir', { enum: ['rx', 'tx'] }).notNull(),
    /** Decoded kind: 'status', 'hello', 'set', 'PIRI', 'nak', 'unknown', 'invalid', 'corrupt', … */
    kind: text('kind').notNull(),
    deviceId: text('device_id'),
    /** In the protocol's terms: CAN id in hex ('05014004'), MK2 address, RAPI sequence id; null on a one-device link. */
    address: text('address'),
    /** Protocol extras as JSON (CAN: { extended, remote }). */
    meta: text('meta'),
  },
  (t) => [index('frame_channels_link_idx').on(t.link, t.protocol, t.dir, t.kind)],
);

/** Interned strings by kind: 'device' ids (samples.dev), 'shape' (a sample's reading names, JSON), 'text' readings. */
export const storeKeys = sqliteTable(
  'store_keys',
  {
    id: integer('id').primaryKey(),
    kind: text('kind').notNull(),
    value: text('value').notNull(),
  },
  (t) => [uniqueIndex('store_keys_kind_value_idx').on(t.kind, t.value)],
);

/**
 * Telemetry samples, keyed by (device, ts): `dev` is the device's store_keys id, `v` the values
 * in the compact encoding of src/store/row-codec.ts (JSON text in rows a migration copied, until
 * the store rewrites them). `id` (AUTOINCREMENT) is the fleet outbox's cursor. Pruned by age.
 */
export const samples = sqliteTable(
  'samples',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    dev: integer('dev').notNull(),
    ts: integer('ts').notNull(),
    v: blob('v', { mode: 'buffer' }).notNull(),
  },
  (t) => [index('samples_dev_ts_idx').on(t.dev, t.ts)],
);

/**
 * The event log: what happened and why, for people and the API (history, subscriptions).
 * The engine's state is not rebuilt from it: at start it reads the devices, samples,
 * bus_setpoints and charge_sessions tables, and only the latest event of a few types per
 * device (e.g. `psu.default-voltage.ack`, `charger.settings`). `id` is assigned by the
 * Store in memory when the event is appended (so subscribers see it before the batch
 * is flushed), hence no AUTOINCREMENT.
 */
export const events = sqliteTable(
  'events',
  {
    id: integer('id').primaryKey(),
    ts: integer('ts').notNull(),
    /** 'setpoint.requested', 'setpoint.accepted', 'setpoint.rejected', 'link.changed', 'device.online', 'charger.settings', … */
    type: text('type').notNull(),
    deviceId: text('device_id'),
    busId: text('bus_id'),
    data: text('data', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  },
  (t) => [
    // "latest event of type X per device" (read at start, e.g. psu.default-voltage.ack).
    index('events_type_device_id_id_idx').on(t.type, t.deviceId, t.id),
    // "latest event of type X" regardless of device, without scanning every row of that type.
    index('events_type_id_idx').on(t.type, t.id),
    index('events_device_id_id_idx').on(t.deviceId, t.id),
    index('events_ts_idx').on(t.ts),
  ],
);

/** Registry of devices seen on any bus; upserted on discovery and on every sighting. */
export const devices = sqliteTable('devices', {
  id: text('id').primaryKey(),
  kind: text('kind').notNull(),
  busId: text('bus_id'),
  name: text('name'),
  serial: text('serial'),
  firstSeen: integer('first_seen').notNull(),
  lastSeen: integer('last_seen').notNull(),
  meta: text('meta', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
});

/**
 * Charge sessions: a projection of the charger.* events, kept as rows so the API can list and
 * page them without replaying the log. Ah/Wh are updated on every progress event.
 * `kind` 'ev' rows are EV charge sessions (an EVSE's vehicle, src/engine/controllers/ev-sessions.ts):
 * charger_id is the EVSE's device id, delivered_wh the energy, peak_current_a the max current,
 * charging_ms the relay-closed time, reason the stop reason; the battery-only columns are 0.
 */
export const chargeSessions = sqliteTable(
  'charge_sessions',
  {
    id: text('id').primaryKey(),
    /** 'battery' (a charger's LiFePO4 charge) or 'ev' (an EVSE's vehicle). */
    kind: text('kind').notNull().default('battery'),
    chargerId: text('charger_id').notNull(),
    startedAt: integer('started_at').notNull(),
    endedAt: integer('ended_at'),
    /** done | error | stopped; null while running. */
    outcome: text('outcome'),
    reason: text('reason'),
    targetVoltageV: real('target_voltage_v').notNull(),
    chargeCurrentA: real('charge_current_a').notNull(),
    deliveredAh: real('delivered_ah').notNull(),
    deliveredWh: real('delivered_wh').notNull(),
    peakCurrentA: real('peak_current_a').notNull(),
    ccToCvAt: integer('cc_to_cv_at'),
    /** Safety-timer time spent in RAMP/CC/CV, for a resume after a crash. */
    chargingMs: integer('charging_ms').notNull(),
    rampStartedAt: integer('ramp_started_at'),
    socStartPct: real('soc_start_pct'),
    resumes: integer('resumes').notNull(),
    settings: text('settings', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    psuIds: text('psu_ids', { mode: 'json' }).$type<string[]>().notNull(),
    /** EV sessions: time-weighted average current while charging. */
    avgCurrentA: real('avg_current_a'),
    /** EV sessions: fault states entered, in order. */
    faults: text('faults', { mode: 'json' }).$type<string[]>(),
    /** EV sessions: resumes with their reasons and the family's own state (the board's counters) for a restart. */
    detail: text('detail', { mode: 'json' }).$type<Record<string, unknown>>(),
  },
  (t) => [index('charge_sessions_charger_started_idx').on(t.chargerId, t.startedAt), index('charge_sessions_kind_started_idx').on(t.kind, t.startedAt)],
);

/** The phase timeline of each session (DETECT → RAMP → CC → CV → DONE, pauses, resumes). */
export const chargePhases = sqliteTable(
  'charge_phases',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    sessionId: text('session_id').notNull(),
    phase: text('phase').notNull(),
    startedAt: integer('started_at').notNull(),
    endedAt: integer('ended_at'),
    reason: text('reason'),
  },
  (t) => [index('charge_phases_session_idx').on(t.sessionId, t.id)],
);

/**
 * The desired output of each rectifier bus: its last accepted setpoint, one row per bus.
 * Written in the same transaction as that bus's `setpoint.accepted` event and read at start,
 * so restore finds a bus's setpoint however many setpoints other buses had since.
 * Migration 0004 filled it from the events of databases that predate it.
 */
export const busSetpoints = sqliteTable('bus_setpoints', {
  busId: text('bus_id').primaryKey(),
  voltageV: real('voltage_v').notNull(),
  currentA: real('current_a').notNull(),
  /** api | charger | restore | startup | … (the setpoint's SetpointOrigin). */
  origin: text('origin').notNull(),
  /** Clock ms when it was accepted. */
  at: integer('at').notNull(),
  standby: integer('standby', { mode: 'boolean' }).notNull(),
});

/**
 * Scheduled jobs (src/engine/scheduler): one row per job, from the API or the config
 * (`source`). `last_scheduled_at` is the latest scheduled instant that was handled (run,
 * skipped or caught up), written before the run starts, so a restart never runs it again.
 */
export const jobs = sqliteTable('jobs', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** A croner expression (seconds optional), or null for a one-off job. */
  cron: text('cron'),
  /** A one-off job's instant (clock ms), or null. */
  at: integer('at'),
  timezone: text('timezone').notNull(),
  enabled: integer('enabled', { mode: 'boolean' }).notNull(),
  /** skip | once */
  catchUp: text('catch_up').notNull(),
  maxLatenessS: integer('max_lateness_s').notNull(),
  conditions: text('conditions', { mode: 'json' }).$type<unknown[]>().notNull(),
  actions: text('actions', { mode: 'json' }).$type<unknown[]>().notNull(),
  /** api | config */
  source: text('source').notNull(),
  createdBy: text('created_by').notNull(),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
  lastScheduledAt: integer('last_scheduled_at'),
});

/** Every run of a job: when it was due, when it ran, what came of it and the events it caused. */
export const jobRuns = sqliteTable(
  'job_runs',
  {
    id: integer('id').primaryKey(),
    jobId: text('job_id').notNull(),
    /** The scheduled instant (null for a manual run). */
    scheduledAt: integer('scheduled_at'),
    startedAt: integer('started_at').notNull(),
    finishedAt: integer('finished_at'),
    /** schedule | catch-up | manual */
    trigger: text('trigger').notNull(),
    /** running | ok | refused | failed | skipped */
    outcome: text('outcome').notNull(),
    code: text('code'),
    reason: text('reason'),
    steps: text('steps', { mode: 'json' }).$type<unknown[]>().notNull(),
    eventIds: text('event_ids', { mode: 'json' }).$type<number[]>().notNull(),
  },
  (t) => [index('job_runs_job_idx').on(t.jobId, t.id)],
);

/**
 * Telemetry rollups: one row per device and time bucket (per minute in `rollups_1m`, per hour
 * in `rollups_1h`), written with every flush of samples (src/store/rollups.ts). `keys` names
 * the numeric readings of the bucket, comma-separated; `stats` holds, per key in that order,
 * six float64 (little-endian): count, min, max, sum, last value and the ts of that last value.
 * `n` counts the samples in the bucket. Pruned by age (minute rollups) or kept (hourly).
 */
const rollupColumns = {
  deviceId: text('device_id').notNull(),
  /** Bucket start, ms (a multiple of the bucket width). */
  bucket: integer('bucket').notNull(),
  n: integer('n').notNull(),
  keys: text('keys').notNull(),
  stats: blob('stats', { mode: 'buffer' }).notNull(),
};
export const rollups1m = sqliteTable('rollups_1m', rollupColumns, (t) => [primaryKey({ columns: [t.deviceId, t.bucket] })]);
export const rollups1h = sqliteTable('rollups_1h', rollupColumns, (t) => [primaryKey({ columns: [t.deviceId, t.bucket] })]);

// Later issues add their tables here.

/**
 * Small durable counters of the store itself, one row per key. `event_id_reserved`: event ids
 * up to this value may have been handed out (published live) by some run; a new run starts
 * above it, so an id is never given to two events, even after a SIGKILL.
 */
export const storeMeta = sqliteTable('store_meta', {
  key: text('key').primaryKey(),
  value: integer('value').notNull(),
});

/**
 * PI18 inverter settings profiles (issue 11): a name, the YAML as saved, and who saved it (the
 * API actor). Saving under an existing name replaces it and keeps its creation time.
 */
export const inverterProfiles = sqliteTable('inverter_profiles', {
  name: text('name').primaryKey(),
  yaml: text('yaml').notNull(),
  savedBy: text('saved_by').notNull(),
  savedAt: integer('saved_at').notNull(),
  createdAt: integer('created_at').notNull(),
});

/**
 * The append-only audit of profile work on inverters (issue 11, workflow §8 "Audit log"): every
 * dry run (plan), apply, refused or aborted apply — operator, unit serial and firmware, the frames
 * sent and raw replies, decoded before/after, result. A dry run's row holds its plan, which an
 * apply then names by id.
 */
export const inverterAudits = sqliteTable(
  'inverter_audits',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    ts: integer('ts').notNull(),
    /** 'plan' (dry run) | 'apply'. */
    action: text('action').notNull(),
    /** plan: 'planned' | 'refused'; apply: 'applied' | 'nothing-to-do' | 'refused' | 'aborted'. */
    result: text('result').notNull(),
    operator: text('operator').notNull(),
    deviceId: text('device_id').notNull(),
    serial: text('serial'),
    firmware: text('firmware', { mode: 'json' }).$type<Record<string, unknown>>(),
    profileName: text('profile_name'),
    /** The dry run this apply executed. */
    planId: integer('plan_id'),
    plan: text('plan', { mode: 'json' }).$type<Record<string, unknown>>(),
    /** Per setter: command, frame hex, reply hex, outcome (rollback steps too, marked). */
    frames: text('frames', { mode: 'json' }).$type<Record<string, unknown>[]>().notNull(),
    before: text('before', { mode: 'json' }).$type<Record<string, unknown>>(),
    after: text('after', { mode: 'json' }).$type<Record<string, unknown>>(),
    code: text('code'),
    message: text('message').notNull(),
    abortedAtStep: integer('aborted_at_step'),
    rollbackHeld: integer('rollback_held', { mode: 'boolean' }),
  },
  (t) => [index('inverter_audits_device_id_idx').on(t.deviceId, t.id)],
);
