/** The Flatpack2 PSU in the API. */
import { builder } from '../../schema/builder.js';
import { Device, Setpoint, registerDeviceType } from '../../schema/devices.js';
import type { DeviceViewBase } from '../types.js';
import type { Flatpack2PsuView } from './view.js';

registerDeviceType('flatpack2', 'Flatpack2Psu');

export const Flatpack2Psu = builder.objectRef<Flatpack2PsuView>('Flatpack2Psu').implement({
  interfaces: [Device],
  isTypeOf: (d) => (d as DeviceViewBase).kind === 'flatpack2',
  fields: (t) => ({
    serial: t.exposeString('serial'),
    address: t.exposeInt('addr', { nullable: true, description: 'CAN login address (1–63)' }),
    outputVoltageV: t.exposeFloat('outputVoltageV', { nullable: true }),
    outputCurrentA: t.exposeFloat('outputCurrentA', { nullable: true }),
    outputPowerW: t.exposeFloat('outputPowerW', { nullable: true }),
    inputVoltageV: t.exposeFloat('inputVoltageV', { nullable: true }),
    intakeTempC: t.exposeFloat('intakeTempC', { nullable: true }),
    outputTempC: t.exposeFloat('outputTempC', { nullable: true }),
    state: t.exposeString('state', { nullable: true, description: 'normal, warning (mostly current limit), alarm, walk-in' }),
    warnings: t.exposeStringList('warnings'),
    alarms: t.exposeStringList('alarms'),
    warningBits: t.exposeInt('warningBits'),
    alarmBits: t.exposeInt('alarmBits'),
    ownedBy: t.exposeString('ownedBy', { nullable: true, description: 'charger id driving this PSU, if any' }),
    obeying: t.exposeBoolean('obeying', { description: 'logged in by this server: a broadcast SET reaches it' }),
    fallbackVoltageV: t.exposeFloat('fallbackAckV', { nullable: true, description: 'power-on voltage the PSU last acknowledged (its output at full current when unsupervised)' }),
    lastReading: t.field({
      type: builder.objectRef<NonNullable<Flatpack2PsuView['lastReading']>>('PsuLastReading').implement({
        description: 'The last readings and when they were measured; the live fields are null while the PSU is offline',
        fields: (f) => ({
          at: f.field({ type: 'DateTime', resolve: (r) => r.at }),
          outputVoltageV: f.exposeFloat('outputVoltageV', { nullable: true }),
          outputCurrentA: f.exposeFloat('outputCurrentA', { nullable: true }),
          outputPowerW: f.exposeFloat('outputPowerW', { nullable: true }),
          inputVoltageV: f.exposeFloat('inputVoltageV', { nullable: true }),
          intakeTempC: f.exposeFloat('intakeTempC', { nullable: true }),
          outputTempC: f.exposeFloat('outputTempC', { nullable: true }),
          state: f.exposeString('state', { nullable: true }),
        }),
      }),
      nullable: true,
      resolve: (d) => d.lastReading,
    }),
    identity: t.field({
      type: builder.objectRef<NonNullable<Flatpack2PsuView['identity']>>('Flatpack2Identity').implement({
        description: 'What the unit reports about itself through the identity read (flatpack2.md §2.7), read once at discovery',
        fields: (f) => ({
          model: f.exposeString('model', { nullable: true, description: 'model name, e.g. "FLATPACK2 48/2000 HE"' }),
          serial: f.exposeString('serial', { nullable: true }),
          buildYear: f.exposeInt('buildYear', { nullable: true }),
          raw: f.field({ type: 'JSON', description: 'every selector read, its bytes in hex', resolve: (i) => i.raw }),
        }),
      }),
      nullable: true,
      resolve: (d) => d.identity ?? null,
    }),
    setpoint: t.field({ type: Setpoint, nullable: true, resolve: (d, _a, ctx) => ctx.engine.busSetpoint(d.busId) }),
  }),
});

