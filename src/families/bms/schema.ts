/** Batteries seen through their BMS, and the raw frame inspector of a BMS bus. */
import { builder } from '../../schema/builder.js';
import { Device, registerDeviceType } from '../../schema/devices.js';
import type { BatteryView } from './view.js';
import type { BmsModuleSnapshot } from './driver.js';

registerDeviceType('bms', 'Battery');

const Module = builder.objectRef<BmsModuleSnapshot>('BatteryModule').implement({
  fields: (t) => ({
    index: t.exposeInt('index', { description: '1 = master' }),
    online: t.exposeBoolean('online'),
    voltageV: t.exposeFloat('voltageV', { nullable: true }),
    currentA: t.exposeFloat('currentA', { nullable: true, description: '+ = charging' }),
    socPct: t.exposeFloat('socPct', { nullable: true }),
    sohPct: t.exposeFloat('sohPct', { nullable: true }),
    cellHighV: t.exposeFloat('cellHighV', { nullable: true }),
    cellLowV: t.exposeFloat('cellLowV', { nullable: true }),
    cellDeltaV: t.exposeFloat('cellDeltaV', { nullable: true }),
    tempsC: t.floatList({
      nullable: true,
      description: 'cell high, cell low, MOS, heater (°C), the ones reported',
      resolve: (m) => (m.tempsC ? [m.tempsC.cellHigh, m.tempsC.cellLow, m.tempsC.mos, m.tempsC.heater].filter((x): x is number => typeof x === 'number') : null),
    }),
    cycles: t.exposeInt('cycles', { nullable: true }),
    chargedKWh: t.exposeFloat('chargedKWh', { nullable: true }),
    dischargedKWh: t.exposeFloat('dischargedKWh', { nullable: true }),
    protections: t.exposeStringList('protections', { nullable: true }),
    alarms: t.exposeStringList('alarms', { nullable: true }),
  }),
});

const snap = <K extends keyof NonNullable<BatteryView['snapshot']>>(b: BatteryView, k: K) => (b.snapshot ? b.snapshot[k] : null);

export const Battery = builder.objectRef<BatteryView>('Battery').implement({
  interfaces: [Device],
  isTypeOf: (d) => (d as BatteryView).kind === 'bms',
  fields: (t) => ({
    dialect: t.string({ nullable: true, description: 'the configured dialect, the one frames are decoded with', resolve: (b) => snap(b, 'dialect') }),
    dialectStatus: t.string({ nullable: true, description: 'pending, confirmed, mismatch or unverified: what the 0x35E identity says about the configured dialect (guided charging is held on mismatch and pending)', resolve: (b) => snap(b, 'dialectCheck')?.status ?? null }),
    detectedDialect: t.string({ nullable: true, description: 'the dialect the 0x35E maker implies (DY… = deye, PYLON = pylontech)', resolve: (b) => snap(b, 'dialectCheck')?.detected ?? null }),
    dialectReason: t.string({ nullable: true, description: 'what was seen and what to do', resolve: (b) => snap(b, 'dialectCheck')?.reason ?? null }),
    socPct: t.float({ nullable: true, resolve: (b) => snap(b, 'socPct') }),
    sohPct: t.float({ nullable: true, resolve: (b) => snap(b, 'sohPct') }),
    voltageV: t.float({ nullable: true, resolve: (b) => snap(b, 'voltageV') }),
    currentA: t.float({ nullable: true, description: '+ = charging, in both dialects', resolve: (b) => snap(b, 'currentA') }),
    powerW: t.float({ nullable: true, resolve: (b) => snap(b, 'powerW') }),
    tempC: t.float({ nullable: true, resolve: (b) => snap(b, 'tempC') }),
    cellHighV: t.float({ nullable: true, resolve: (b) => snap(b, 'cellHighV') }),
    cellLowV: t.float({ nullable: true, resolve: (b) => snap(b, 'cellLowV') }),
    cellDeltaV: t.float({ nullable: true, resolve: (b) => snap(b, 'cellDeltaV') }),
    chargeVoltageLimitV: t.float({ nullable: true, resolve: (b) => snap(b, 'chargeVoltageLimitV') }),
    chargeCurrentLimitA: t.float({ nullable: true, resolve: (b) => snap(b, 'chargeCurrentLimitA') }),
    dischargeCurrentLimitA: t.float({ nullable: true, resolve: (b) => snap(b, 'dischargeCurrentLimitA') }),
    dischargeVoltageV: t.float({ nullable: true, resolve: (b) => snap(b, 'dischargeVoltageV') }),
    requestFlags: t.stringList({ resolve: (b) => snap(b, 'requestFlags') ?? [] }),
    alarms: t.stringList({ resolve: (b) => snap(b, 'alarms') ?? [] }),
    protections: t.stringList({ resolve: (b) => snap(b, 'protections') ?? [] }),
    modules: t.field({ type: [Module], resolve: (b) => snap(b, 'modules') ?? [] }),
  }),
});

builder.queryFields((t) => ({
  batteries: t.field({ type: [Battery], resolve: (_r, _a, ctx) => ctx.engine.devicesOfKind<BatteryView>('bms') }),
}));
