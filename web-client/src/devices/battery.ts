/** The battery (a BMS) in the dashboard: its fields in the device query and its overview tile. */
import { fmt, h, onlineBadge, setText, stat, type Row } from '../dom.js';
import type { Device } from '../types.js';
import type { DeviceUi, FlowContext, FlowPart } from './types.js';
import { offlineSentence } from '../flow/offline.js';
import { duration, timeToFullOrEmptyMs, watts } from '../flow/words.js';

function tile(b: Device): Row<Device> {
  const badge = onlineBadge();
  const soc = stat('SOC');
  const v = stat('Voltage');
  const a = stat('Current');
  const delta = stat('Cell Δ');
  const el = h('article', { class: 'card tile', 'data-testid': 'battery-tile', 'data-device-id': b.id },
    h('header', { class: 'tile-head' }, h('h3', {}, b.name), badge.el),
    h('div', { class: 'stats stats-big' }, soc.el, v.el, a.el),
    h('div', { class: 'stats' }, delta.el),
  );
  return {
    el,
    update(b) {
      badge.set(b.online);
      setText(soc.value, fmt(b.socPct, 0, '%'));
      setText(v.value, fmt(b.voltageV, 2, 'V'));
      setText(a.value, fmt(b.currentA, 1, 'A'));
      setText(delta.value, b.cellDeltaV == null ? '—' : `${(b.cellDeltaV * 1000).toFixed(0)} mV`);
    },
  };
}

/** The capacity the battery's charger is configured with (the BMS reports none over CAN). */
function capacityAh(id: string, ctx: FlowContext): number | null {
  return ctx.chargers.find((c) => c.batteryId === id)?.settings.capacityAh ?? null;
}

/** The battery: W in (+) or out (−), SOC, time to full or empty at the present rate. */
function flow(b: Device, ctx: FlowContext): FlowPart {
  if (!b.online) return { role: 'battery', watts: null, active: false, socPct: b.socPct ?? null, etaMs: null, sentence: offlineSentence(b, ctx) };
  const w = b.powerW ?? (b.voltageV != null && b.currentA != null ? b.voltageV * b.currentA : null);
  const etaMs = timeToFullOrEmptyMs(b.socPct, capacityAh(b.id, ctx), b.currentA);
  const soc = b.socPct == null ? '' : ` at ${b.socPct.toFixed(0)} %`;
  const active = w != null && Math.abs(w) >= 10;
  const sentence = !active
    ? `${b.name} is resting${soc}.`
    : w! > 0
      ? `${b.name} takes ${watts(w)}${soc}${etaMs != null ? ` — full in about ${duration(etaMs)} at this rate` : ''}.`
      : `${b.name} gives ${watts(-w!)}${soc}${etaMs != null ? ` — empty in about ${duration(etaMs)} at this rate` : ''}.`;
  return { role: 'battery', watts: w, active, socPct: b.socPct ?? null, etaMs, sentence };
}

export const batteryUi: DeviceUi = {
  typename: 'Battery',
  fields: 'socPct voltageV currentA cellDeltaV powerW',
  flow,
  tile,
};
