/**
 * A PI18 inverter (LVX6048) in the dashboard: its fields in the device query and its overview
 * tile — the power flow PV → battery / load / grid, the mode and parallel role, and active faults
 * and warnings in words. Its profile page is pages/inverters.ts.
 */
import { fmt, h, onlineBadge, replaceChildren, setText, stat, type Row } from '../dom.js';
import type { Device } from '../types.js';
import type { DeviceUi } from './types.js';
import { pi18Flow } from '../flow/parts.js';

const MODE: Record<string, string> = { power_on: 'Power on', standby: 'Standby', bypass: 'Line (bypass)', battery: 'Battery', fault: 'FAULT', hybrid: 'Hybrid' };

function tile(d: Device): Row<Device> {
  const badge = onlineBadge();
  const pv = stat('PV', 'inv-pv');
  const soc = stat('Battery', 'inv-soc');
  const load = stat('Load', 'inv-load');
  const batt = stat('Battery V/A', 'inv-battery');
  const grid = stat('Grid', 'inv-grid');
  const mode = stat('Mode', 'inv-mode');
  const role = stat('Role', 'inv-role');
  const flow = h('p', { class: 'flow muted small', 'data-testid': 'inv-flow', 'aria-label': 'power flow' });
  const faults = h('ul', { class: 'alert-list', 'data-testid': 'inv-faults' });
  const el = h('article', { class: 'card tile', 'data-testid': 'inverter-tile', 'data-device-id': d.id },
    h('header', { class: 'tile-head' }, h('h3', {}, d.name), badge.el),
    h('div', { class: 'stats stats-big' }, pv.el, soc.el, load.el),
    h('div', { class: 'stats' }, batt.el, grid.el, mode.el, role.el),
    flow,
    faults,
  );
  return {
    el,
    update(d) {
      badge.set(d.online);
      el.classList.toggle('stale', !d.online);
      setText(pv.value, fmt(d.pvPowerW, 0, 'W'));
      const ba = d.batteryCurrentA;
      setText(soc.value, fmt(d.batterySocPct, 0, '%'));
      setText(batt.value, d.batteryVoltageV == null ? '—' : `${fmt(d.batteryVoltageV, 1, 'V')}${ba == null ? '' : ` ${ba >= 0 ? '+' : ''}${ba.toFixed(0)} A`}`);
      setText(load.value, fmt(d.acOutputPowerW, 0, 'W'));
      setText(grid.value, fmt(d.acInputVoltageV, 0, 'V'));
      setText(mode.value, d.mode ? (MODE[d.mode] ?? d.mode) : '—');
      setText(role.value, d.role ? `${d.role}${d.parallelIndex != null && d.role !== 'single' ? ` (#${d.parallelIndex})` : ''}` : '—');
      const toBattery = ba == null ? '' : ba > 0 ? `battery charging ${ba.toFixed(0)} A` : ba < 0 ? `battery discharging ${(-ba).toFixed(0)} A` : 'battery idle';
      setText(flow, d.online ? `PV ${fmt(d.pvPowerW, 0, 'W')} → ${[toBattery, `load ${fmt(d.acOutputPowerW, 0, 'W')}${d.loadPct == null ? '' : ` (${d.loadPct.toFixed(0)}%)`}`, `grid ${fmt(d.acInputVoltageV, 0, 'V')}`].filter(Boolean).join(' · ')}` : 'offline');
      const list = d.invFaults ?? [];
      replaceChildren(faults, list.length ? list.map((f) => h('li', { class: `alert alert-${f.group === 'fault' ? 'alarm' : 'warning'}` }, f.text)) : []);
    },
  };
}

export const pi18Ui: DeviceUi = {
  typename: 'Inverter',
  // Aliased where another device type has a field of that name with another type (serial).
  fields: 'invSerial: serial role mode parallelIndex pvPowerW batteryVoltageV batteryCurrentA batterySocPct acOutputPowerW loadPct acInputVoltageV faultText invFaults: faults { group text }',
  tile,
  flow: pi18Flow,
};
