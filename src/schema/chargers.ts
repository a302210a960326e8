/** Chargers, charge sessions and their controls. */
import { builder, apiError, OPERATOR } from './builder.js';
import { clampFirst, connectionOf } from './connection.js';
import { Device } from './devices.js';
import type { ChargerView, ChargerResult } from '../engine/charger/runtime.js';
import type { ChargeSessionRow, ChargePhaseRow } from '../store/sessions.js';
import type { ChargerSettings } from '../engine/charger/machine.js';
import { CHARGER_NUMERIC_KEYS } from '../engine/charger/settings.js';
import type { SampleRow } from '../store/store.js';

const SETTING_KEYS = CHARGER_NUMERIC_KEYS;

const ChargerSettingsRef = builder.objectRef<ChargerSettings>('ChargerSettings').implement({
  fields: (t) => ({
    ...Object.fromEntries(SETTING_KEYS.map((k) => [k, t.exposeFloat(k)])),
    autoStart: t.exposeBoolean('autoStart'),
  }),
});

const ChargerSettingsInput = builder.inputType('ChargerSettingsInput', {
  description: 'Any subset of the charger settings; each is validated by the command gate.',
  fields: (t) => ({
    ...Object.fromEntries(SETTING_KEYS.map((k) => [k, t.float()])),
    autoStart: t.boolean(),
  }),
});

const SessionRef = builder.objectRef<{ id: string; startedAt: number | null }>('ChargeSessionRef').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.startedAt }),
  }),
});

export const Charger = builder.objectRef<ChargerView>('Charger').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    busId: t.exposeString('busId'),
    phase: t.exposeString('phase', { description: 'idle, detect, ramp, CC, CV, paused, done or error' }),
    targetVoltageV: t.exposeFloat('targetVoltageV'),
    chargeCurrentA: t.exposeFloat('chargeCurrentA', { description: 'total over the PSU group' }),
    rampVoltageV: t.exposeFloat('rampVoltageV', { nullable: true }),
    deliveredAh: t.exposeFloat('deliveredAh'),
    deliveredWh: t.exposeFloat('deliveredWh'),
    socPct: t.exposeFloat('socPct', { nullable: true, description: 'estimated state of charge' }),
    progress: t.exposeFloat('progress', { nullable: true, description: '0–100' }),
    stopReason: t.exposeString('stopReason', { nullable: true, description: 'why the last session ended' }),
    peakCurrentA: t.exposeFloat('peakCurrentA'),
    ccToCvAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.ccToCvAt }),
    elapsedS: t.float({ nullable: true, resolve: (c) => (c.elapsedMs === null ? null : c.elapsedMs / 1000) }),
    settings: t.field({ type: ChargerSettingsRef, resolve: (c) => c.settings }),
    session: t.field({ type: SessionRef, nullable: true, resolve: (c) => (c.sessionId ? { id: c.sessionId, startedAt: c.sessionStartedAt } : null) }),
    batteryId: t.exposeID('batteryId', { nullable: true, description: 'the BMS that guides this charger' }),
    bmsCaps: t.field({
      type: builder.objectRef<NonNullable<ChargerView['bmsCaps']>>('BmsCaps').implement({
        fields: (f) => ({
          voltageLimitV: f.exposeFloat('voltageLimitV', { nullable: true }),
          currentLimitA: f.exposeFloat('currentLimitA', { nullable: true }),
          reason: f.exposeString('reason'),
        }),
      }),
      nullable: true,
      description: 'set while the BMS lowers the target or current below the configured values',
      resolve: (c) => c.bmsCaps,
    }),
    bmsHold: t.exposeString('bmsHold', { nullable: true, description: 'why the BMS holds the charge (paused), if it does' }),
    fallback: t.field({
      type: builder.objectRef<ChargerView['fallback']>('ChargerFallback').implement({
        description: "What the PSUs deliver, at full current, when nothing supervises them (their power-on voltage)",
        fields: (f) => ({
          voltageV: f.exposeFloat('voltageV', { nullable: true, description: 'the bus policy (buses[].flatpack2.fallbackVoltageV); null: not managed' }),
          confirmed: f.exposeBoolean('confirmed', { description: 'every PSU that may obey the charger acknowledged it' }),
          pendingPsuIds: f.exposeIDList('pendingIds', { description: 'PSUs that have not acknowledged it yet' }),
        }),
      }),
      resolve: (c) => c.fallback,
    }),
    psus: t.field({ type: [Device], resolve: (c, _a, ctx) => c.psuIds.map((id) => ctx.engine.device(id)).filter((d) => d !== undefined) }),
  }),
});

const Phase = builder.objectRef<ChargePhaseRow>('ChargePhase').implement({
  fields: (t) => ({
    phase: t.exposeString('phase'),
    startedAt: t.field({ type: 'DateTime', resolve: (p) => p.startedAt }),
    endedAt: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.endedAt }),
    reason: t.exposeString('reason', { nullable: true }),
  }),
});

const SessionSample = builder.objectRef<SampleRow>('ChargeSample').implement({
  fields: (t) => {
    const n = (k: string) => t.float({ nullable: true, resolve: (s) => (typeof s.values[k] === 'number' ? (s.values[k] as number) : null) });
    return {
      at: t.field({ type: 'DateTime', resolve: (s) => s.ts }),
      voltageV: n('voltageV'),
      currentA: n('currentA'),
      powerW: n('powerW'),
      ah: n('ah'),
      wh: t.float({ nullable: true, description: "battery: delivered Wh; EV: the board's session Wh", resolve: (s) => (typeof s.values.wh === 'number' ? s.values.wh : typeof s.values.sessionWh === 'number' ? s.values.sessionWh : null) }),
      socPct: n('socPct'),
      phase: t.string({ nullable: true, resolve: (s) => (typeof s.values.phase === 'string' ? s.values.phase : null) }),
    };
  },
});

const SessionResume = builder.objectRef<{ at: number; reason: string }>('ChargeSessionResume').implement({
  fields: (t) => ({
    at: t.field({ type: 'DateTime', resolve: (r) => r.at }),
    reason: t.exposeString('reason', { description: 'board_reboot, server_restart or reconnected' }),
  }),
});

const ChargeSession = builder.objectRef<ChargeSessionRow>('ChargeSession').implement({
  description: "A battery charge (kind battery: a charger's pack) or an EV charge (kind ev: an EVSE's vehicle; chargerId is the EVSE's device id, deliveredWh the energy, peakCurrentA the max current, reason the stop reason; the battery-only fields are 0)",
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.exposeString('kind', { description: 'battery or ev' }),
    chargerId: t.exposeID('chargerId'),
    startedAt: t.field({ type: 'DateTime', resolve: (s) => s.startedAt }),
    endedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.endedAt }),
    outcome: t.exposeString('outcome', { nullable: true, description: 'done, error or stopped; null while running' }),
    reason: t.exposeString('reason', { nullable: true }),
    targetVoltageV: t.exposeFloat('targetVoltageV'),
    chargeCurrentA: t.exposeFloat('chargeCurrentA'),
    deliveredAh: t.exposeFloat('deliveredAh'),
    deliveredWh: t.exposeFloat('deliveredWh'),
    peakCurrentA: t.exposeFloat('peakCurrentA'),
    ccToCvAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.ccToCvAt }),
    resumes: t.exposeInt('resumes', { description: 'times the session was resumed after a restart' }),
    durationS: t.float({ description: 'from start to end (or now, while it runs)', resolve: (s, _a, ctx) => ((s.endedAt ?? ctx.engine.clock.now()) - s.startedAt) / 1000 }),
    chargingS: t.float({ description: 'time the current flowed (EV: relay closed, as the board counts it)', resolve: (s) => s.chargingMs / 1000 }),
    energyKWh: t.float({ resolve: (s) => Math.round(s.deliveredWh) / 1000 }),
    avgCurrentA: t.exposeFloat('avgCurrentA', { nullable: true, description: 'EV: time-weighted average current while charging' }),
    faults: t.exposeStringList('faults', { description: 'EV: fault states entered during the session, in order' }),
    resumedAt: t.field({ type: [SessionResume], description: 'EV: when and why the session was resumed (board reboot, server restart, link back)', resolve: (s) => s.detail?.resumes ?? [] }),
    settings: t.field({ type: 'JSON', resolve: (s) => s.settings }),
    psuIds: t.exposeIDList('psuIds'),
    phases: t.field({ type: [Phase], resolve: (s, _a, ctx) => ctx.engine.sessions.phases(s.id) }),
    samples: t.field({
      type: [SessionSample],
      args: { maxPoints: t.arg.int({ defaultValue: 500 }) },
      resolve: (s, a, ctx) => ctx.engine.store.telemetry(s.chargerId, s.startedAt, s.endedAt ?? ctx.engine.clock.now(), Math.max(2, Math.min(5000, a.maxPoints ?? 500))),
    }),
  }),
});

const SessionConnection = connectionOf<ChargeSessionRow>('ChargeSession', ChargeSession);

const SessionKind = builder.enumType('ChargeSessionKind', { values: { battery: { description: "a charger's pack charge" }, ev: { description: "an EVSE's vehicle charge" } } as const });

const SessionFilter = builder.inputType('ChargeSessionFilter', {
  fields: (t) => ({
    kind: t.field({ type: SessionKind }),
    chargerId: t.id({ description: 'a charger id, or an EVSE device id for EV sessions' }),
    outcome: t.string(),
    from: t.field({ type: 'DateTime' }),
    to: t.field({ type: 'DateTime' }),
  }),
});

builder.queryFields((t) => ({
  chargers: t.field({ type: [Charger], resolve: (_r, _a, ctx) => ctx.engine.listChargers() }),
  charger: t.field({ type: Charger, nullable: true, args: { id: t.arg.id({ required: true }) }, resolve: (_r, a, ctx) => ctx.engine.charger(String(a.id))?.view() ?? null }),
  chargeSessions: t.field({
    type: SessionConnection,
    args: { filter: t.arg({ type: SessionFilter }), first: t.arg.int(), after: t.arg.string() },
    resolve: (_r, a, ctx) => {
      const f = a.filter ?? {};
      const page = ctx.engine.sessions.list(
        { chargerId: f.chargerId ? String(f.chargerId) : undefined, outcome: f.outcome ?? undefined, from: f.from ?? undefined, to: f.to ?? undefined, kind: f.kind ?? undefined },
        clampFirst(a.first, 200, 20),
        a.after,
      );
      return { edges: page.items.map((node, i) => ({ cursor: page.cursors[i], node })), pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
    },
  }),
  chargeSession: t.field({ type: ChargeSession, nullable: true, args: { id: t.arg.id({ required: true }) }, resolve: (_r, a, ctx) => ctx.engine.sessions.get(String(a.id)) }),
}));

function unwrap(r: ChargerResult): ChargerView {
  if (!r.ok) throw apiError(r.code, r.message);
  return r.view;
}

function runtime(ctx: { engine: import('../engine/engine.js').Engine }, id: string) {
  const c = ctx.engine.charger(id);
  if (!c) throw apiError('NOT_FOUND', `no charger "${id}"; query chargers { id } for the ids`);
  return c;
}

builder.mutationFields((t) => ({
  startCharge: t.field({
    ...OPERATOR,
    type: Charger,
    description: 'Starts a charge from DETECT. currentA (total over the PSU group) overrides the configured charge current.',
    args: { chargerId: t.arg.id({ required: true }), currentA: t.arg.float() },
    resolve: async (_r, a, ctx) => {
      return unwrap(await runtime(ctx, String(a.chargerId)).startCharge('api', a.currentA ?? undefined));
    },
  }),
  stopCharge: t.field({
    ...OPERATOR,
    type: Charger,
    description: 'Stops the charge and puts the PSUs in standby. A manual stop is remembered across restarts.',
    args: { chargerId: t.arg.id({ required: true }) },
    resolve: async (_r, a, ctx) => {
      return unwrap(await runtime(ctx, String(a.chargerId)).stopCharge('api', 'User stop (API)'));
    },
  }),
  updateChargerSettings: t.field({
    type: Charger,
    args: { chargerId: t.arg.id({ required: true }), settings: t.arg({ type: ChargerSettingsInput, required: true }) },
    resolve: async (_r, a, ctx) => {
      const patch = Object.fromEntries(Object.entries(a.settings).filter(([, v]) => v !== null && v !== undefined)) as Partial<ChargerSettings>;
      return unwrap(await runtime(ctx, String(a.chargerId)).updateSettings('api', patch));
    },
  }),
}));

builder.subscriptionFields((t) => ({
  chargeProgress: t.field({
    type: Charger,
    args: { chargerId: t.arg.id({ required: false }) },
    subscribe: (_r, a, ctx) => ctx.engine.chargerChanged.iterate((c) => !a.chargerId || c.id === String(a.chargerId), 100),
    resolve: (c) => c,
  }),
}));
