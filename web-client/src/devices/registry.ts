/**
 * The device types the dashboard shows, one line each (a family's client side is its module
 * here plus this line). A device of a type not listed still gets a plain tile.
 */
import { fmt, h, onlineBadge, setText, stat, type Row } from '../dom.js';
import type { Device } from '../types.js';
import type { Charger } from '../types.js';
import type { DeviceUi, FlowContext, FlowPart } from './types.js';
import { chargerFlow } from './charger.js';
import { flatpack2Ui } from './flatpack2.js';
import { batteryUi } from './battery.js';
import { evseUi } from './openevse.js';
import { pi18Ui } from './pi18.js';
import { vebusUi } from './vebus.js';

export const deviceUis: readonly DeviceUi[] = [flatpack2Ui, batteryUi, evseUi, pi18Ui, vebusUi];

/** The device fields of every known type, for the device queries (queries.ts). */
export const deviceFragments = deviceUis.map((u) => `... on ${u.typename} { ${u.fields} }`).join('\n  ');

/** Every power-flow contribution now: one per device whose type has one, then one per charger. Offline devices included (they say why). */
export function flowParts(ctx: FlowContext, devices: readonly Parameters<DeviceUi['tile']>[0][]): Array<{ id: string; name: string; part: FlowPart }> {
  const out: Array<{ id: string; name: string; part: FlowPart }> = [];
  for (const d of devices) {
    const part = deviceUis.find((u) => u.typename === d.__typename)?.flow?.(d, ctx);
    if (part) out.push({ id: d.id, name: d.name, part });
  }
  for (const c of ctx.chargers as Charger[]) out.push({ id: c.id, name: c.name, part: chargerFlow(c, ctx) });
  return out;
}

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

