/**
 * The device types the dashboard shows, one line each (a family's client side is its module
 * here plus this line). A device of a type not listed still gets a plain tile.
 */
import { fmt, h, onlineBadge, setText, stat, type Row } from '../dom.js';
import type { Device } from '../types.js';
import type { DeviceUi } from './types.js';
import { flatpack2Ui } from './flatpack2.js';
import { batteryUi } from './battery.js';
import { evseUi } from './openevse.js';
import { pi18Ui } from './pi18.js';
import { vebusUi } from './vebus.js';

export const deviceUis: readonly DeviceUi[] = [flatpack2Ui, batteryUi, evseUi, pi18Ui, vebusUi];

/** The device fields of every known type, for the device queries (queries.ts). */
export const deviceFragments = deviceUis.map((u) => `... on ${u.typename} { ${u.fields} }`).join('\n  ');

export function tileFor(d: Device): Row<Device> {
  return (deviceUis.find((u) => u.typename === d.__typename)?.tile ?? otherDeviceTile)(d);
}

function otherDeviceTile(d: Device): Row<Device> {
  const badge = onlineBadge();
  const seen = stat('Last seen');
  const el = h('article', { class: 'card tile', 'data-testid': 'device-tile', 'data-device-id': d.id },
    h('header', { class: 'tile-head' }, h('h3', {}, d.name), badge.el),
    h('div', { class: 'stats' }, stat('Kind').el, seen.el),
  );
  setText(el.querySelector('.stat-value')!, d.kind);
  return {
    el,
    update(d) {
      badge.set(d.online);
      setText(seen.value, d.lastSeen ? new Date(d.lastSeen).toLocaleTimeString([], { hour12: false }) : '—');
    },
  };
}

