/** Energy per device and day (src/store/energy.ts), for the dashboard's today / week / month. */
import { builder } from './builder.js';
import { energyByDay, type EnergyDay } from '../store/energy.js';
import { energySources } from '../families/registry.js';

const EnergyDayRef = builder.objectRef<EnergyDay>('EnergyDay').implement({
  description: "One device's energy on one local day",
  fields: (t) => ({
    day: t.exposeString('day', { description: 'YYYY-MM-DD in the asked time zone offset' }),
    deviceId: t.exposeString('deviceId'),
    kind: t.exposeString('kind'),
    what: t.string({ description: 'what the Wh are, in words ("delivered by the rectifiers")', resolve: (e) => energySources[e.kind]?.what ?? 'energy' }),
    wh: t.exposeFloat('wh', { description: 'Wh in the main direction: delivered, charged, produced' }),
    whReverse: t.exposeFloat('whReverse', { description: 'Wh the other way (taken from the battery); 0 for one-way devices' }),
    reverseWhat: t.string({ nullable: true, description: 'what whReverse is, in words ("taken from the battery"); null for one-way devices', resolve: (e) => energySources[e.kind]?.reverse ?? null }),
  }),
});

builder.queryField('energy', (t) =>
  t.field({
    type: [EnergyDayRef],
    description: 'Energy per device and local day over the last `days` days (today included), from the store’s rollups (minute rollups for today, hourly before; src/store/energy.ts)',
    args: {
      days: t.arg.int({ required: false, defaultValue: 31 }),
      tzOffsetMinutes: t.arg.int({ required: false, defaultValue: 0, description: 'minutes east of UTC (the browser’s −getTimezoneOffset())' }),
    },
    resolve: (_r, a, ctx) => {
      const days = Math.max(1, Math.min(400, a.days ?? 31));
      const tz = Math.max(-14 * 60, Math.min(14 * 60, a.tzOffsetMinutes ?? 0));
      const now = ctx.engine.clock.now();
      const localMidnight = Math.floor((now + tz * 60_000) / 86_400_000) * 86_400_000 - tz * 60_000;
      const from = localMidnight - (days - 1) * 86_400_000;
      const devices = ctx.engine.listDevices().map((d) => ({ id: d.id, kind: d.kind }));
      return energyByDay(ctx.engine.store, { from, to: now + 1, tzOffsetMin: tz, devices, sources: energySources });
    },
  }),
);
