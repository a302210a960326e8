import { builder, apiError, OPERATOR } from './builder.js';
import type { DeviceViewBase } from '../families/types.js';
import type { SetpointOutcome } from '../engine/engine.js';
import type { BusSetpoint } from '../engine/restore.js';

export const Setpoint = builder.objectRef<BusSetpoint>('Setpoint').implement({
  description: 'The last accepted output setpoint. Flatpack2 SETs are broadcast, so it is shared by every PSU on the bus.',
  fields: (t) => ({
    voltageV: t.exposeFloat('voltageV'),
    currentA: t.exposeFloat('currentA'),
    origin: t.exposeString('origin', { description: 'api, startup, restore, charger or safety' }),
    standby: t.exposeBoolean('standby'),
    at: t.field({ type: 'DateTime', resolve: (s) => s.at }),
  }),
});

/** GraphQL object type per device kind: each family's schema module registers its own. */
const deviceTypeNames = new Map<string, string>();
export function registerDeviceType(kind: string, typeName: string): void {
  deviceTypeNames.set(kind, typeName);
}

export const Device = builder.interfaceRef<DeviceViewBase>('Device').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.exposeString('kind'),
    name: t.exposeString('name'),
    busId: t.exposeString('busId'),
    online: t.exposeBoolean('online'),
    lastSeen: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.lastSeen }),
  }),
  resolveType: (d) => {
    const name = deviceTypeNames.get(d.kind);
    if (!name) throw new Error(`device ${d.id}: no GraphQL type registered for kind "${d.kind}"`);
    return name;
  },
});

const Limits = builder.objectRef<{ minVoltageV: number; maxVoltageV: number; minCurrentA: number; maxCurrentA: number; powerRatingW: number; ovpV: number }>('PsuLimits').implement({
  fields: (t) => ({
    minVoltageV: t.exposeFloat('minVoltageV'),
    maxVoltageV: t.exposeFloat('maxVoltageV'),
    minCurrentA: t.exposeFloat('minCurrentA'),
    maxCurrentA: t.exposeFloat('maxCurrentA'),
    powerRatingW: t.exposeFloat('powerRatingW'),
    ovpV: t.exposeFloat('ovpV'),
  }),
});

type BusRow = ReturnType<import('../engine/engine.js').Engine['listBuses']>[number];
const Bus = builder.objectRef<BusRow>('Bus').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.exposeString('kind'),
    linkNoun: t.exposeString('linkNoun', { description: 'how people call the link: "CAN bus", "inverter link"' }),
    linkState: t.exposeString('linkState', { description: 'connecting, up or down' }),
    linkDetail: t.exposeString('linkDetail'),
    limits: t.field({ type: Limits, nullable: true, resolve: (b) => b.limits }),
    setpoint: t.field({ type: Setpoint, nullable: true, resolve: (b) => b.setpoint }),
    stats: t.field({ type: 'JSON', description: 'link counters: frames, corrupt bytes, bad checksums, reconnects…', resolve: (b) => b.stats() }),
  }),
});

builder.queryFields((t) => ({
  devices: t.field({ type: [Device], resolve: (_r, _a, ctx) => ctx.engine.listDevices() }),
  device: t.field({ type: Device, nullable: true, args: { id: t.arg.id({ required: true }) }, resolve: (_r, a, ctx) => ctx.engine.device(String(a.id)) ?? null }),
  buses: t.field({ type: [Bus], resolve: (_r, _a, ctx) => ctx.engine.listBuses() }),
  system: t.field({
    type: builder.objectRef<{ simulated: boolean; startedAt: number; version: string }>('SystemInfo').implement({
      fields: (f) => ({
        simulated: f.exposeBoolean('simulated', { description: 'true when the rig is the built-in simulator, not hardware' }),
        startedAt: f.field({ type: 'DateTime', resolve: (s) => s.startedAt }),
        version: f.exposeString('version'),
      }),
    }),
    resolve: (_r, _a, ctx) => ({ simulated: ctx.engine.simulated, startedAt: ctx.engine.runStartedAt, version: '0.1.0' }),
  }),
}));

const SetpointResult = builder.objectRef<Extract<SetpointOutcome, { ok: true }>>('SetpointResult').implement({
  fields: (t) => ({
    voltageV: t.exposeFloat('voltageV'),
    currentA: t.exposeFloat('currentA', { description: 'per rectifier, after any power clamp' }),
    clamped: t.exposeBoolean('clamped', { description: 'the current was lowered to keep V × I within the power rating' }),
    deviceIds: t.exposeIDList('deviceIds', { description: 'every PSU the broadcast SET applies to' }),
    sent: t.exposeBoolean('sent'),
    message: t.exposeString('message'),
  }),
});

const SetPsuOutputInput = builder.inputType('SetPsuOutputInput', {
  fields: (t) => ({
    deviceId: t.id({ required: true, description: 'a PSU id, or "all"' }),
    voltageV: t.float({ required: true }),
    currentA: t.float({ required: true, description: 'per rectifier' }),
  }),
});

function unwrap(o: SetpointOutcome): Extract<SetpointOutcome, { ok: true }> {
  if (!o.ok) throw apiError(o.code, o.message);
  return o;
}

builder.mutationFields((t) => ({
  setPsuOutput: t.field({
    ...OPERATOR,
    type: SetpointResult,
    args: { input: t.arg({ type: SetPsuOutputInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      return unwrap(await ctx.engine.setPsuOutput('api', String(input.deviceId), { voltageV: input.voltageV, currentA: input.currentA }));
    },
  }),
  setPsuDefaultVoltage: t.field({
    type: builder.objectRef<{ voltageV: number; sent: boolean }>('DefaultVoltageResult').implement({
      fields: (f) => ({ voltageV: f.exposeFloat('voltageV'), sent: f.exposeBoolean('sent') }),
    }),
    description: 'Writes the PSU power-on voltage (EEPROM). It applies after the login lapses or a power cycle; the PSU acknowledges with an event psu.default-voltage.ack.',
    args: { deviceId: t.arg.id({ required: true }), voltageV: t.arg.float({ required: true }) },
    resolve: async (_r, a, ctx) => {
      const r = await ctx.engine.setDefaultVoltage('api', String(a.deviceId), a.voltageV);
      if (!r.ok) throw apiError(r.code, r.message);
      return r;
    },
  }),
  standby: t.field({
    ...OPERATOR,
    type: SetpointResult,
    description: 'Safe idle output (48.0 V / 0.1 A). It also becomes the value restored after a reconnect.',
    args: { deviceId: t.arg.id({ required: true, description: 'a PSU id, or "all"' }) },
    resolve: async (_r, { deviceId }, ctx) => {
      return unwrap(await ctx.engine.standby('api', String(deviceId)));
    },
  }),
}));

builder.subscriptionFields((t) => ({
  deviceChanged: t.field({
    type: Device,
    args: { deviceId: t.arg.id({ required: false }) },
    subscribe: (_r, a, ctx) => ctx.engine.deviceChanged.iterate((d) => !a.deviceId || d.id === String(a.deviceId), 200),
    resolve: (d) => d,
  }),
}));
