/**
 * The OpenEVSE charger in the API: the `EvCharger` device, its controls through the command gate
 * (`engine.command` with the family's check: the board's `GC` range and the configured circuit
 * limit, dangerous commands for admins only), and its events.
 */
import { apiError, builder, OPERATOR } from '../../schema/builder.js';
import { Device, registerDeviceType } from '../../schema/devices.js';
import { Event } from '../../schema/history.js';
import type { Context } from '../../schema/builder.js';
import type { Role } from '../../auth.js';
import type { ExecuteResult } from '../contract.js';
import { allowedCurrentRange, evseCheck } from './check.js';
import { EVSE_KIND, type EvseCommand, type EvseView } from './types.js';

registerDeviceType(EVSE_KIND, 'EvCharger');

/** The state in words people use on a dashboard. */
export function evseStatusWord(v: EvseView): string {
  if (!v.online) return 'offline';
  if (v.fault) return 'fault';
  switch (v.state) {
    case null:
      return 'unknown';
    case 0:
      return 'starting';
    case 1:
      return 'ready';
    case 2:
      return 'plugged';
    case 3:
      return 'charging';
    case 0xfe:
      return 'sleeping';
    case 0xff:
      return 'disabled';
    default:
      return v.stateName ?? 'unknown';
  }
}

const Temperatures = builder.objectRef<EvseView['temperaturesC']>('EvseTemperatures').implement({
  description: 'Sensor temperatures in °C; null where the sensor is not fitted',
  fields: (t) => ({
    ds3231C: t.exposeFloat('ds3231', { nullable: true, description: 'RTC (DS3231) ambient' }),
    mcp9808C: t.exposeFloat('mcp9808', { nullable: true, description: 'MCP9808 ambient' }),
    tmp007C: t.exposeFloat('tmp007', { nullable: true, description: 'TMP007 infrared' }),
  }),
});

const FaultCounters = builder.objectRef<NonNullable<EvseView['faultCounters']>>('EvseFaultCounters').implement({
  description: 'Trips the board counted over its life (GF)',
  fields: (t) => ({
    gfi: t.exposeInt('gfi'),
    noGround: t.exposeInt('noGround'),
    stuckRelay: t.exposeInt('stuckRelay'),
  }),
});

const Heartbeat = builder.objectRef<EvseView['heartbeat']>('EvseHeartbeat').implement({
  description: 'Heartbeat supervision: while armed, the board falls back to fallbackA by itself if the server stops pulsing for intervalS',
  fields: (t) => ({
    state: t.exposeString('state', { description: 'armed, missed (a pulse came late; acknowledged by the driver), off, unsupported or unknown' }),
    armed: t.boolean({ resolve: (h) => h.state === 'armed' }),
    intervalS: t.exposeInt('intervalS', { nullable: true }),
    fallbackA: t.exposeInt('fallbackA', { nullable: true }),
    missedCount: t.exposeInt('missedCount', { description: 'misses seen since the server started' }),
  }),
});

const CurrentRange = builder.objectRef<{ minA: number; maxA: number; why: string }>('EvseCurrentRange').implement({
  description: 'The currents setEvseCurrent accepts now: the board range for its service level, capped at the circuit limit',
  fields: (t) => ({
    minA: t.exposeInt('minA'),
    maxA: t.exposeInt('maxA'),
    why: t.exposeString('why'),
  }),
});

export const EvCharger = builder.objectRef<EvseView>('EvCharger').implement({
  interfaces: [Device],
  isTypeOf: (d) => (d as EvseView).kind === EVSE_KIND,
  fields: (t) => ({
    status: t.string({ description: 'in words: offline, starting, ready, plugged, charging, sleeping, disabled or fault', resolve: evseStatusWord }),
    state: t.exposeString('stateName', { nullable: true, description: 'the EVSE state (rapi §8.1), e.g. not_connected, connected, charging, sleeping, gfci_fault' }),
    stateCode: t.exposeInt('state', { nullable: true }),
    stateText: t.exposeString('stateText', { nullable: true }),
    fault: t.exposeBoolean('fault'),
    pilot: t.exposeInt('pilot', { nullable: true, description: 'pilot state code (1 A … 4 D)' }),
    vehicleConnected: t.exposeBoolean('evConnected', { nullable: true }),
    charging: t.exposeBoolean('charging', { nullable: true, description: 'the relay is closed' }),
    capacityA: t.exposeInt('capacityA', { nullable: true, description: 'the current the pilot advertises now' }),
    configuredA: t.exposeInt('configuredA', { nullable: true, description: 'the saved capacity' }),
    minA: t.exposeInt('minA', { nullable: true, description: 'board minimum (GC)' }),
    maxA: t.exposeInt('maxA', { nullable: true, description: 'board maximum for the service level (GC)' }),
    circuitLimitA: t.int({ nullable: true, description: 'the configured circuit limit', resolve: (v) => v.circuitLimitA ?? null }),
    allowedRange: t.field({
      type: CurrentRange,
      nullable: true,
      description: 'what setEvseCurrent accepts now (null until the board range is read)',
      resolve: (v) => {
        const r = allowedCurrentRange(v, v.circuitLimitA ?? null);
        return 'error' in r ? null : r;
      },
    }),
    serviceLevel: t.exposeInt('serviceLevel', { nullable: true }),
    autoServiceLevel: t.exposeBoolean('autoServiceLevel', { nullable: true }),
    currentA: t.exposeFloat('currentA', { nullable: true }),
    voltageV: t.exposeFloat('voltageV', { nullable: true }),
    powerW: t.exposeFloat('powerW', { nullable: true }),
    elapsedS: t.exposeInt('elapsedS', { nullable: true, description: "the board's charging time of the current plug-in" }),
    sessionWh: t.exposeFloat('sessionWh', { nullable: true, description: "energy of the board's current plug-in (GU)" }),
    sessionKWh: t.float({ nullable: true, resolve: (v) => (v.sessionWh === null ? null : Math.round(v.sessionWh) / 1000) }),
    lifetimeKWh: t.exposeFloat('lifetimeKWh', { nullable: true }),
    temperatures: t.field({ type: Temperatures, resolve: (v) => v.temperaturesC }),
    faultCounters: t.field({ type: FaultCounters, nullable: true, resolve: (v) => v.faultCounters }),
    heartbeat: t.field({ type: Heartbeat, resolve: (v) => v.heartbeat }),
    firmware: t.exposeString('firmware', { nullable: true }),
    protocol: t.exposeString('protocol', { nullable: true, description: 'RAPI version' }),
    boots: t.exposeInt('boots', { description: 'board restarts seen since the server started' }),
    lastBootAt: t.field({ type: 'DateTime', nullable: true, resolve: (v) => v.lastBootAt }),
  }),
});

const EvseCommandResult = builder.objectRef<{ ok: true; sent: boolean; message: string | null; readBack: unknown; device: EvseView | null }>('EvseCommandResult').implement({
  fields: (t) => ({
    sent: t.exposeBoolean('sent'),
    message: t.exposeString('message', { nullable: true }),
    readBack: t.field({ type: 'JSON', nullable: true, description: 'what the board reports after the command', resolve: (r) => r.readBack ?? null }),
    device: t.field({ type: EvCharger, nullable: true, resolve: (r) => r.device }),
  }),
});

function evse(ctx: Context, id: string): EvseView {
  const d = ctx.engine.device<EvseView>(id);
  if (!d || d.kind !== EVSE_KIND) throw apiError('NOT_FOUND', `no EV charger "${id}"; query evChargers { id } for the ids`);
  return d;
}

async function run(ctx: Context, deviceId: string, cmd: EvseCommand, describe: string) {
  const v = evse(ctx, deviceId);
  const role: Role = ctx.role ?? 'viewer';
  const r: ExecuteResult = await ctx.engine.command('api', deviceId, cmd, evseCheck({ circuitLimitA: v.circuitLimitA ?? null, role }), describe);
  if (!r.ok) throw apiError(r.code, r.message);
  return { ok: true as const, sent: r.sent, message: r.message ?? null, readBack: r.readBack ?? null, device: ctx.engine.device<EvseView>(deviceId) ?? null };
}

builder.queryFields((t) => ({
  evChargers: t.field({ type: [EvCharger], resolve: (_r, _a, ctx) => ctx.engine.devicesOfKind<EvseView>(EVSE_KIND) }),
}));

builder.mutationFields((t) => ({
  setEvseCurrent: t.field({
    ...OPERATOR,
    type: EvseCommandResult,
    description: "Sets the EVSE's saved current capacity (whole amps). A value outside the board's range or above the circuit limit is refused with the allowed range (the board would clamp it silently).",
    args: { deviceId: t.arg.id({ required: true }), currentA: t.arg.int({ required: true }), volatile: t.arg.boolean({ description: 'not saved: the board forgets it at reboot (and it cannot exceed the saved value)' }) },
    resolve: (_r, a, ctx) => run(ctx, String(a.deviceId), { kind: 'setCurrent', amps: a.currentA, volatile: a.volatile ?? false }, `set current ${a.currentA} A${a.volatile ? ' (volatile)' : ''}`),
  }),
  enableEvse: t.field({
    ...OPERATOR,
    type: EvseCommandResult,
    description: 'Enables the EVSE (FE): a connected vehicle may charge.',
    args: { deviceId: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => run(ctx, String(a.deviceId), { kind: 'enable' }, 'enable'),
  }),
  disableEvse: t.field({
    ...OPERATOR,
    type: EvseCommandResult,
    description: 'Disables the EVSE (FD): charging stops and it stays off until enabled.',
    args: { deviceId: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => run(ctx, String(a.deviceId), { kind: 'disable' }, 'disable'),
  }),
  sleepEvse: t.field({
    ...OPERATOR,
    type: EvseCommandResult,
    description: 'Puts the EVSE to sleep (FS): charging stops; an unplug or enableEvse wakes it.',
    args: { deviceId: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => run(ctx, String(a.deviceId), { kind: 'sleep' }, 'sleep'),
  }),
  setEvseLimits: t.field({
    ...OPERATOR,
    type: EvseCommandResult,
    description: 'Session limits (boards built with TIME_LIMIT/CHARGE_LIMIT, while a vehicle is connected): minutes (15-minute steps) and/or kWh; 0 clears one, leave one out to keep it.',
    args: { deviceId: t.arg.id({ required: true }), timeMinutes: t.arg.int(), energyKWh: t.arg.float() },
    resolve: (_r, a, ctx) =>
      run(
        ctx,
        String(a.deviceId),
        {
          kind: 'setLimits',
          ...(a.timeMinutes === null || a.timeMinutes === undefined ? {} : { timeMinutes: a.timeMinutes === 0 ? null : a.timeMinutes }),
          ...(a.energyKWh === null || a.energyKWh === undefined ? {} : { energyKWh: a.energyKWh === 0 ? null : a.energyKWh }),
        },
        `set limits${a.timeMinutes != null ? ` time ${a.timeMinutes} min` : ''}${a.energyKWh != null ? ` energy ${a.energyKWh} kWh` : ''}`,
      ),
  }),
  restartEvse: t.field({
    type: EvseCommandResult,
    description: 'Restarts the EVSE board (FR). Dangerous for remote use: admin only; a running charge is interrupted.',
    args: { deviceId: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => run(ctx, String(a.deviceId), { kind: 'reset' }, 'restart board'),
  }),
}));

builder.subscriptionFields((t) => ({
  evChargerChanged: t.field({
    type: EvCharger,
    args: { deviceId: t.arg.id({ required: false }) },
    subscribe: (_r, a, ctx) => ctx.engine.deviceChanged.iterate((d) => d.kind === EVSE_KIND && (!a.deviceId || d.id === String(a.deviceId)), 200),
    resolve: (d) => d as EvseView,
  }),
  evChargerEvents: t.field({
    type: Event,
    description: 'EV charger events: state changes (evse.state), faults and warnings (evse.flag.raised / evse.flag.cleared), board restarts (evse.boot), heartbeat misses, commands and EV sessions (ev-session.*)',
    args: { deviceId: t.arg.id({ required: false }) },
    subscribe: (_r, a, ctx) =>
      ctx.engine.events.iterate((e) => {
        if (a.deviceId && e.deviceId !== String(a.deviceId)) return false;
        if (e.type.startsWith('evse.') || e.type.startsWith('ev-session.')) return true;
        return e.type.startsWith('command.') && e.deviceId !== null && ctx.engine.device(e.deviceId)?.kind === EVSE_KIND;
      }, 1000),
    resolve: (e) => e,
  }),
}));
