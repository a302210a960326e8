/** The battery (a BMS) in the dashboard: its fields in the device query and its overview tile. */
import { fmt, h, onlineBadge, setText, stat, type Row } from '../dom.js';
import type { Device } from '../types.js';
import type { DeviceUi } from './types.js';

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

export const batteryUi: DeviceUi = {
  typename: 'Battery',
  fields: 'socPct voltageV currentA cellDeltaV',
  tile,
};
