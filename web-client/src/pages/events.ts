/** Event log: a live tail (newest first) of setpoints with their origin, phase changes, alarms and connection changes, filterable by device and type. */
import { gql } from '../api.js';
import { fmtTime, h, KeyedList, replaceChildren, setText, type Row } from '../dom.js';
import * as Q from '../queries.js';
import { deviceName, listen, state } from '../store.js';
import type { EventRecord } from '../types.js';
import type { Page } from '../page.js';

const SHOWN = 200;
const KNOWN_KINDS: Array<[string, string]> = [
  ['setpoint', 'Setpoints'],
  ['charger', 'Charger'],
  ['psu', 'PSU warnings/alarms'],
  ['device', 'Device online/offline'],
  ['link', 'Link'],
  ['battery', 'Battery'],
  ['default-voltage', 'Power-on voltage'],
  ['frame', 'Frames'],
];

let filterDevice = '';
let filterKind = '';

const n = (v: unknown, d: number) => (typeof v === 'number' ? v.toFixed(d) : '?');

/** One line in words for an event. */
export function describe(e: EventRecord): string {
  const d = (e.data ?? {}) as Record<string, unknown>;
  const origin = d.origin ? ` (origin ${String(d.origin)})` : '';
  const va = `${n(d.voltageV, 2)} V / ${n(d.currentA, 1)} A`;
  switch (e.type) {
    case 'setpoint.requested':
      return `requested ${d.standby ? 'standby' : va} for ${deviceName(String(d.target ?? e.deviceId ?? ''))}${origin}`;
    case 'setpoint.accepted':
      return `accepted ${d.standby ? 'standby ' : ''}${va} per rectifier${d.clamped ? ' (current clamped to the power rating)' : ''}${origin}`;
    case 'setpoint.rejected':
      return `refused ${va}: ${String(d.reason ?? d.code ?? '')}${origin}`;
    case 'setpoint.sent':
      return `sent ${va} on the bus${origin}`;
    case 'setpoint.send-failed':
      return `not sent (link down) ${va}${origin}`;
    case 'device.online':
      return 'online';
    case 'device.offline':
      return `offline${d.reason ? `: ${String(d.reason)}` : ''}`;
    case 'device.discovered':
      return `discovered (serial ${String(d.serial ?? '?')}, address ${String(d.addr ?? '?')})`;
    case 'link.changed':
      return `link ${String(d.state ?? '')}${d.detail ? ` (${String(d.detail)})` : ''}`;
    case 'psu.warnings':
    case 'psu.alarms': {
      const names = Array.isArray(d.names) ? (d.names as string[]) : [];
      return names.length ? `${e.type === 'psu.alarms' ? 'alarms' : 'warnings'}: ${names.join(', ')}` : `${e.type === 'psu.alarms' ? 'alarms' : 'warnings'} cleared`;
    }
    case 'psu.alarm':
      return 'ALARM: output off';
  }
  const ahWh = typeof d.ah === 'number' ? ` (${n(d.ah, 2)} Ah, ${n(d.wh, 0)} Wh)` : '';
  switch (e.type) {
    case 'charger.phase':
      return `${String(d.from ?? '?')} → ${String(d.to ?? '?')}${d.reason ? `: ${String(d.reason)}` : ''}`;
    case 'charger.session.started':
      return `session ${d.resumed ? 'resumed' : 'started'}: ${n(d.chargeCurrentA, 1)} A to ${n(d.targetVoltageV, 2)} V${origin}`;
    case 'charger.session.ended':
      return `session ended, ${String(d.outcome ?? '?')}${d.reason ? `: ${String(d.reason)}` : ''}${ahWh}${origin}`;
    case 'charger.cc-to-cv':
      return `CC → CV at ${va}`;
    case 'charger.battery-detected':
      return `battery detected (${String(d.by ?? '?')}) at ${n(d.voltageV, 2)} V`;
    case 'charger.current':
      return `charge current ${n(d.fromA, 1)} → ${n(d.toA, 1)} A${origin}`;
  }
  if (e.type.startsWith('battery.flag.') && typeof d.name === 'string') {
    return `${d.set ? `${String(d.set)} ` : ''}flag ${d.name} ${e.type.slice('battery.flag.'.length)}`;
  }
  if (e.type.startsWith('charger.') || e.type.startsWith('battery.') || e.type.startsWith('bms.')) {
    const parts = [d.message, d.reason].filter((x) => typeof x === 'string' && x) as string[];
    if (typeof d.index === 'number') parts.unshift(`module ${d.index}`);
    if (parts.length) return parts.join(': ') + origin;
  }
  const json = JSON.stringify(d);
  return json === '{}' ? '' : json.length > 160 ? `${json.slice(0, 157)}…` : json;
}

function eventRow(e: EventRecord): Row<EventRecord> {
  const kind = e.type.split('.')[0];
  const bad = /rejected|failed|alarm|offline|error|down/.test(e.type + ' ' + JSON.stringify(e.data ?? {}).slice(0, 200)) && !/cleared/.test(describe(e));
  const el = h('li', { class: `event kind-${kind}${bad ? ' event-bad' : ''}`, 'data-testid': 'event', 'data-type': e.type, 'data-device-id': e.deviceId ?? '' },
    h('time', { datetime: e.at }, fmtTime(e.at)),
    h('span', { class: 'event-type' }, e.type),
    h('span', { class: 'event-device' }, e.deviceId ? deviceName(e.deviceId) : (e.busId ?? '')),
    h('span', { class: 'event-text' }, describe(e)),
  );
  return { el, update: () => {} };
}

export const eventsPage: Page = {
  path: 'events',
  title: 'Events',
  mount(root) {
    const deviceSelect = h('select', { id: 'event-device', 'aria-label': 'Filter by device' });
    const kindSelect = h('select', { id: 'event-type', 'aria-label': 'Filter by type' });
    const count = h('p', { class: 'muted small', 'aria-live': 'polite' });
    const list = h('ol', { class: 'events', 'data-testid': 'event-list', 'aria-label': 'Events, newest first' });
    root.append(
      h('h1', { class: 'page-title' }, 'Events'),
      h('div', { class: 'toolbar-row' },
        h('label', { class: 'inline-label', for: 'event-device' }, 'Device', deviceSelect),
        h('label', { class: 'inline-label', for: 'event-type' }, 'Type', kindSelect),
      ),
      count,
      list,
    );
    const rows = new KeyedList<EventRecord>(list, (e) => e.id, eventRow);
    let fetched: EventRecord[] = [];

    const fillSelects = () => {
      const devices = new Map<string, string>();
      for (const d of state.devices.values()) devices.set(d.id, d.name);
      if (state.chargers.status === 'ok') for (const c of state.chargers.items) devices.set(c.id, c.name);
      if (state.batteries.status === 'ok') for (const b of state.batteries.items) devices.set(b.id, b.name);
      const dOpts: Array<[string, string]> = [['', 'All devices'], ...devices];
      const seen = new Set(state.events.map((e) => e.type.split('.')[0]));
      const kinds: Array<[string, string]> = [['', 'All types'], ...KNOWN_KINDS, ...[...seen].filter((k) => !KNOWN_KINDS.some(([x]) => x === k)).map((k): [string, string] => [k, k])];
      for (const [sel, opts, value] of [[deviceSelect, dOpts, filterDevice], [kindSelect, kinds, filterKind]] as const) {
        const sig = JSON.stringify(opts);
        if (sel.dataset.sig !== sig) {
          sel.dataset.sig = sig;
          replaceChildren(sel, opts.map(([v, label]) => h('option', { value: v }, label)));
          sel.value = value;
        }
      }
    };

    const matches = (e: EventRecord) =>
      (!filterDevice || e.deviceId === filterDevice) && (!filterKind || e.type === filterKind || e.type.startsWith(`${filterKind}.`));

    const paint = () => {
      fillSelects();
      const byId = new Map<string, EventRecord>();
      for (const e of fetched) if (matches(e)) byId.set(e.id, e);
      for (const e of state.events) if (matches(e)) byId.set(e.id, e);
      const shown = [...byId.values()].sort((a, b) => Number(b.id) - Number(a.id)).slice(0, SHOWN);
      rows.render(shown);
      setText(count, shown.length ? `${shown.length} event${shown.length === 1 ? '' : 's'}${shown.length === SHOWN ? ' (newest)' : ''}, live` : 'No events match.');
    };

    /** Older events of the chosen filter, beyond what the live buffer holds. */
    const backfill = async () => {
      const filter: Record<string, unknown> = {};
      if (filterDevice) filter.deviceId = filterDevice;
      if (filterKind) filter.typePrefix = `${filterKind}.`;
      try {
        const r = await gql<{ events: { edges: Array<{ node: EventRecord }> } }>(Q.EVENTS, { filter, first: SHOWN });
        fetched = r.events.edges.map((e) => e.node);
      } catch {
        fetched = [];
      }
      paint();
    };

    deviceSelect.addEventListener('change', () => {
      filterDevice = deviceSelect.value;
      paint();
      void backfill();
    });
    kindSelect.addEventListener('change', () => {
      filterKind = kindSelect.value;
      paint();
      void backfill();
    });
    const stopEvents = listen(['events', 'chargers', 'batteries'], paint);
    // Device values change many times a second; only the device list matters here.
    const stopDevices = listen(['devices'], fillSelects);
    paint();
    if (filterDevice || filterKind) void backfill();
    return () => {
      stopEvents();
      stopDevices();
    };
  },
};
