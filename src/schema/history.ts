/** The recorded history: frames, events and telemetry as cursor connections, plus live feeds. */
import { builder, apiError } from './builder.js';
import type { InspectedFrame } from '../families/contract.js';
import { clampFirst, connectionOf, type ConnectionShape } from './connection.js';
import type { StoredEvent, StoredFrame, SampleRow } from '../store/store.js';
import { hex } from '../families/can/types.js';
import { decodeCursor, encodeCursor } from '../store/cursor.js';
import { describeEvent } from '../events/catalogue.js';

const Frame = builder.objectRef<StoredFrame>('FrameRecord').implement({
  description: 'One frame heard or sent on a link, whatever its protocol (CAN, PI18, VE.Bus MK2, OpenEVSE RAPI…).',
  fields: (t) => ({
    id: t.exposeID('id'),
    at: t.field({ type: 'DateTime', resolve: (f) => f.ts }),
    protocol: t.exposeString('protocol', { description: 'how the bytes are read: can, pi18, mk2, rapi…' }),
    link: t.exposeString('link', { description: 'the link (bus) it went over' }),
    dir: t.exposeString('dir', { description: 'rx (heard) or tx (sent)' }),
    address: t.exposeString('address', {
      nullable: true,
      description: "in the protocol's terms: a CAN id in hex ('05014004', '351'), an MK2 address, a RAPI sequence id; null on a one-device link",
    }),
    bytesHex: t.string({ description: "the frame's bytes in hex (CAN: the data field; PI18/RAPI: the whole line with its checksum)", resolve: (f) => hex(f.bytes) }),
    text: t.exposeString('text', { nullable: true, description: 'human-readable decoding, when there is something better than the bytes' }),
    kind: t.exposeString('kind', { description: 'decoded kind: status, hello, login, set, alerts, PIRI, nak, unknown, invalid…' }),
    deviceId: t.exposeString('deviceId', { nullable: true }),
    meta: t.field({ type: 'JSON', nullable: true, description: 'protocol extras (CAN: { extended, remote })', resolve: (f) => f.meta }),
  }),
});

export const Event = builder.objectRef<StoredEvent>('Event').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    at: t.field({ type: 'DateTime', resolve: (e) => e.ts }),
    type: t.exposeString('type'),
    deviceId: t.exposeString('deviceId', { nullable: true }),
    busId: t.exposeString('busId', { nullable: true }),
    data: t.field({ type: 'JSON', resolve: (e) => e.data }),
    text: t.string({
      description: 'the event in one plain sentence, with device names (the catalogue the dashboard uses too: src/events/catalogue.ts)',
      resolve: (e, _a, ctx) => describeEvent(e, (id) => ctx.engine.device(id)?.name ?? ctx.engine.charger(id)?.name ?? id),
    }),
  }),
});

const TelemetryPoint = builder.objectRef<SampleRow>('TelemetryPoint').implement({
  fields: (t) => ({
    deviceId: t.exposeString('deviceId'),
    at: t.field({ type: 'DateTime', resolve: (s) => s.ts }),
    values: t.field({ type: 'JSON', resolve: (s) => s.values }),
    outputVoltageV: t.float({ nullable: true, resolve: (s) => num(s.values.outputVoltageV) }),
    outputCurrentA: t.float({ nullable: true, resolve: (s) => num(s.values.outputCurrentA) }),
    outputPowerW: t.float({ nullable: true, resolve: (s) => num(s.values.outputPowerW) }),
    resolution: t.string({ nullable: true, description: "how the point was read: raw, raw-averaged, 1m, 1h or 1d rollups (null on live points)", resolve: (s) => s.resolution ?? null }),
    stats: t.field({
      type: 'JSON',
      nullable: true,
      description: 'rolled-up points: per numeric reading { count, min, max, avg, last } over the bucket that starts at `at`',
      resolve: (s) => s.stats ?? null,
    }),
  }),
});

const num = (v: unknown) => (typeof v === 'number' ? v : null);

const FrameConnection = connectionOf<StoredFrame>('Frame', Frame);
const EventConnection = connectionOf<StoredEvent>('Event', Event);
const TelemetryConnection = connectionOf<SampleRow>('Telemetry', TelemetryPoint);

const FrameFilter = builder.inputType('FrameFilter', {
  fields: (t) => ({
    link: t.string(),
    protocol: t.string({ description: 'can, pi18, mk2, rapi…' }),
    address: t.string({ description: "exactly as the frames show it, e.g. '05FF4004' for a CAN id" }),
    dir: t.string({ description: 'rx or tx' }),
    kind: t.string(),
    deviceId: t.id(),
    from: t.field({ type: 'DateTime' }),
    to: t.field({ type: 'DateTime' }),
  }),
});

const EventFilter = builder.inputType('EventFilter', {
  fields: (t) => ({
    types: t.stringList({ description: 'exact event types, e.g. ["setpoint.accepted", "setpoint.rejected"]' }),
    typePrefix: t.string({ description: 'e.g. "setpoint." or "device."' }),
    deviceId: t.id(),
    from: t.field({ type: 'DateTime' }),
    to: t.field({ type: 'DateTime' }),
  }),
});

function toConnection<T>(page: { items: T[]; endCursor: string | null; hasNextPage: boolean }, cursorOf: (x: T) => string): ConnectionShape<T> {
  return { edges: page.items.map((node) => ({ cursor: cursorOf(node), node })), pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
}

const opt = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);
const idCursor = (x: { id: number }) => encodeCursor(x.id);
const tsCursor = (x: { ts: number }) => encodeCursor(x.ts);

builder.queryFields((t) => ({
  frames: t.field({
    type: FrameConnection,
    description: 'Every frame heard and sent on every link (CAN, PI18, MK2, RAPI…), newest first.',
    args: { filter: t.arg({ type: FrameFilter }), first: t.arg.int(), after: t.arg.string() },
    resolve: (_r, a, ctx) => {
      const f = a.filter ?? {};
      if (f.dir && f.dir !== 'rx' && f.dir !== 'tx') throw apiError('BAD_USER_INPUT', 'filter.dir must be "rx" or "tx"');
      const page = ctx.engine.store.listFrames(
        { link: opt(f.link), protocol: opt(f.protocol), address: opt(f.address), dir: opt(f.dir) as 'rx' | 'tx' | undefined, kind: opt(f.kind), deviceId: f.deviceId ? String(f.deviceId) : undefined, from: opt(f.from), to: opt(f.to) },
        clampFirst(a.first),
        a.after,
      );
      return toConnection(page, idCursor);
    },
  }),
  events: t.field({
    type: EventConnection,
    description: 'The event log (setpoints with origin and outcome, connection changes, alarms…), newest first.',
    args: { filter: t.arg({ type: EventFilter }), first: t.arg.int(), after: t.arg.string() },
    resolve: (_r, a, ctx) => {
      const f = a.filter ?? {};
      const page = ctx.engine.store.listEvents(
        { types: opt(f.types), typePrefix: opt(f.typePrefix), deviceId: f.deviceId ? String(f.deviceId) : undefined, from: opt(f.from), to: opt(f.to) },
        clampFirst(a.first),
        a.after,
      );
      return toConnection(page, idCursor);
    },
  }),
  telemetry: t.field({
    type: TelemetryConnection,
    description:
      'Telemetry of one device, oldest first, at most maxPoints points: raw samples for short windows, else per-minute, per-hour or per-day rollups (see TelemetryPoint.resolution and stats).',
    args: {
      deviceId: t.arg.id({ required: true }),
      from: t.arg({ type: 'DateTime' }),
      to: t.arg({ type: 'DateTime' }),
      maxPoints: t.arg.int({ defaultValue: 500 }),
      first: t.arg.int(),
      after: t.arg.string({ description: 'cursor of the last point of the previous page' }),
    },
    resolve: (_r, a, ctx) => {
      const to = a.to ?? ctx.engine.clock.now();
      let from = a.from ?? to - 3600_000;
      const after = a.after ? Number(decodeCursor(a.after)) : null;
      if (after !== null) from = after + 1;
      if (!(to > from)) throw apiError('BAD_USER_INPUT', '"to" must be after "from"');
      const maxPoints = Math.max(2, Math.min(10_000, a.maxPoints ?? 500));
      // A rolled-up point carries its bucket's start, which may lie before `from`: a next page never repeats it.
      const rows = ctx.engine.store.telemetry(String(a.deviceId), from, to, maxPoints).filter((r) => after === null || r.ts > after);
      const first = clampFirst(a.first, 10_000, maxPoints);
      const items = rows.slice(0, first);
      const last = items[items.length - 1];
      return toConnection({ items, endCursor: last ? tsCursor(last) : null, hasNextPage: rows.length > first }, tsCursor);
    },
  }),
}));

builder.subscriptionFields((t) => ({
  telemetry: t.field({
    type: TelemetryPoint,
    args: { deviceId: t.arg.id({ required: false, description: 'omit for every device' }) },
    subscribe: (_r, a, ctx) => ctx.engine.samples.iterate((s) => !a.deviceId || s.deviceId === String(a.deviceId), 500, ctx.reportGap),
    resolve: (s) => s,
  }),
  events: t.field({
    type: Event,
    args: { types: t.arg.stringList({ required: false }), typePrefix: t.arg.string({ required: false }), deviceId: t.arg.id({ required: false }) },
    subscribe: (_r, a, ctx) =>
      ctx.engine.events.iterate(
        (e) =>
          (!a.types || a.types.includes(e.type)) &&
          (!a.typePrefix || e.type.startsWith(a.typePrefix)) &&
          (!a.deviceId || e.deviceId === String(a.deviceId)),
        1000,
        ctx.reportGap,
      ),
    resolve: (e) => e,
  }),
}));

const InspectedFrameRef = builder.objectRef<InspectedFrame>('InspectedFrame').implement({
  description: 'The latest frame at one address on a link, decoded by its family',
  fields: (t) => ({
    address: t.exposeString('address', { nullable: true, description: 'CAN id in hex, MK2 address, RAPI sequence id…' }),
    dir: t.exposeString('dir'),
    bytesHex: t.string({ resolve: (f) => Buffer.from(f.bytes).toString('hex').toUpperCase() }),
    kind: t.exposeString('kind'),
    decoded: t.field({ type: 'JSON', resolve: (f) => f.decoded }),
    seenAt: t.field({ type: 'DateTime', resolve: (f) => f.seenAt }),
    count: t.exposeInt('count'),
  }),
});

builder.queryFields((t) => ({
  latestFrames: t.field({
    type: [InspectedFrameRef],
    description: 'The frame inspector: the latest frame per address on a link, with its decoded fields and when it was seen (links whose family keeps one).',
    args: { linkId: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => {
      const frames = ctx.engine.latestFrames(String(a.linkId));
      if (frames === null) throw apiError('NOT_FOUND', `link "${a.linkId}" keeps no frame inspector; query buses { id kind } for the links`);
      return frames;
    },
  }),
}));
