/** Event log: a live tail (newest first) of setpoints with their origin, phase changes, alarms and connection changes, filterable by device and type. */
import { gql } from '../api.js';
import { fmtTime, h, KeyedList, replaceChildren, setText, type Row } from '../dom.js';
import * as Q from '../queries.js';
import { deviceName, listen, state } from '../store.js';
import type { EventRecord } from '../types.js';
import type { Page } from '../page.js';
import { describeEvent } from '../../../src/events/catalogue.js';

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

/** One line in words for an event: the catalogue the server uses too (src/events/catalogue.ts). */
export function describe(e: EventRecord): string {
  return describeEvent(e, deviceName);
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
