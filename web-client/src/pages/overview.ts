/**
 * Overview: the power flow first (sources → battery → loads, live watts on each path, one
 * plain sentence per active thing, offline ones with their age and reason in the page text),
 * then every device's tile in a stable, configurable order.
 */
import { fmt, h, KeyedList, setAttr, setText, stat, type Row } from '../dom.js';
import { flowParts, tileFor } from '../devices/registry.js';
import type { FlowContext, FlowPart, FlowRole } from '../devices/types.js';
import { deviceName, listen, serverNow, state } from '../store.js';
import type { Bus, Charger, Device } from '../types.js';
import type { Page } from '../page.js';
import { phaseLabel, progressBar } from './charger.js';
import { offlineReason, sentenceEnd } from '../flow/offline.js';
import { age, duration, orderDevices, watts } from '../flow/words.js';
import { energyCard } from './energy-card.js';
import { fleetChip } from '../fleet.js';

const ORDER_KEY = 'powerplane.deviceOrder';

/** The configured device order (ids), kept in this browser. */
export function configuredOrder(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(ORDER_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function saveOrder(ids: string[]): void {
  try {
    localStorage.setItem(ORDER_KEY, JSON.stringify(ids));
  } catch {
    /* private mode: the order lasts for this page */
  }
}

const ROLE_RANK: Record<string, number> = { Flatpack2Psu: 0, Battery: 1 };

export function orderedDevices(): Device[] {
  return orderDevices([...state.devices.values()], configuredOrder(), (d) => ROLE_RANK[d.__typename] ?? 2);
}

export function flowContext(): FlowContext {
  return {
    now: serverNow(),
    devices: state.devices,
    buses: state.buses,
    chargers: state.chargers.status === 'ok' ? state.chargers.items : [],
    events: state.events,
    name: deviceName,
  };
}

function chargerTile(c: Charger): Row<Charger> {
  const phase = h('span', { class: 'badge badge-phase' });
  const bar = progressBar();
  const ah = stat('Delivered');
  const target = stat('Target');
  const el = h('article', { class: 'card tile', 'data-testid': 'charger-tile', 'data-device-id': c.id },
    h('header', { class: 'tile-head' }, h('h3', {}, c.name), phase),
    bar.el,
    h('div', { class: 'stats' }, ah.el, target.el),
  );
  return {
    el,
    update(c) {
      setText(phase, phaseLabel(c.phase));
      setAttr(phase, 'data-phase', c.phase);
      bar.set(c);
      setText(ah.value, `${fmt(c.deliveredAh, 2, 'Ah')} · ${fmt(c.deliveredWh, 0, 'Wh')}`);
      setText(target.value, `${fmt(c.targetVoltageV, 2, 'V')} · ${fmt(c.chargeCurrentA, 1, 'A')}`);
    },
  };
}

/** How a link is named on its chip: CAN for the CAN families, the protocol for a serial/TCP family. */

function busChip(b: Bus): Row<Bus> {
  const el = h('span', { class: 'chip', 'data-testid': 'bus-chip' });
  return {
    el,
    update(b) {
      // The reason is in the text, not a tooltip a phone cannot show.
      setText(el, `${b.linkNoun} ${b.id}: link ${b.linkState}${b.linkState !== 'up' && b.linkDetail ? ` — ${b.linkDetail}` : ''}`);
      setAttr(el, 'data-state', b.linkState);
    },
  };
}

/** A device tile with, when it is offline, its age and reason written under it. */
function deviceTile(d: Device): Row<Device> {
  const inner = tileFor(d);
  const note = h('p', { class: 'stale-note', 'data-testid': 'stale-note', hidden: true });
  inner.el.append(note);
  return {
    el: inner.el,
    update(d) {
      inner.update(d);
      inner.el.classList.toggle('stale', !d.online);
      note.hidden = d.online;
      if (!d.online) {
        const seen = d.lastSeen ? Date.parse(d.lastSeen) : NaN;
        setText(note, `Offline — values from ${Number.isFinite(seen) ? age(serverNow() - seen) : 'never'}: ${sentenceEnd(offlineReason(d, flowContext()) ?? '')}`);
      }
    },
  };
}

type Sentence = { id: string; name: string; part: FlowPart };

function sentenceRow(s: Sentence): Row<Sentence> {
  const el = h('li', { 'data-testid': 'flow-sentence', 'data-device-id': s.id });
  return {
    el,
    update(s) {
      setText(el, s.part.sentence);
      setAttr(el, 'data-role', s.part.role);
      el.classList.toggle('stale', s.part.watts == null && !s.part.active);
    },
  };
}

function flowBox(role: string, title: string): { el: HTMLElement; w: HTMLElement; sub: HTMLElement } {
  const w = h('span', { class: 'flow-w', 'data-testid': `flow-${role}-w` }, '—');
  const sub = h('span', { class: 'flow-sub', 'data-testid': `flow-${role}-sub` });
  const el = h('div', { class: `flow-box flow-${role}`, 'data-testid': `flow-${role}` }, h('span', { class: 'flow-title' }, title), w, sub);
  return { el, w, sub };
}

/** Sums a role's watts over the parts that count in the totals; null when none of them has a value. */
function total(parts: FlowPart[], role: FlowRole): number | null {
  const ws = parts.flatMap((p) => [p, ...(p.paths ?? [])]).filter((p) => p.role === role && p.inTotals !== false && p.watts != null).map((p) => p.watts!);
  return ws.length ? ws.reduce((a, b) => a + b, 0) : null;
}

function orderEditor(onChange: () => void): { el: HTMLDetailsElement; paint(): void } {
  const list = h('ol', { class: 'order-list' });
  const el = h('details', { class: 'card order', 'data-testid': 'order-editor' },
    h('summary', {}, 'Device order'),
    h('p', { class: 'muted small' }, 'The order of the tiles and sentences on this page, kept in this browser.'),
    list,
  );
  const paint = () => {
    const ids = orderedDevices().map((d) => d.id);
    list.replaceChildren(
      ...ids.map((id, i) => {
        const move = (by: number) => {
          const next = ids.slice();
          const [x] = next.splice(i, 1);
          next.splice(i + by, 0, x);
          saveOrder(next);
          onChange();
        };
        return h('li', {},
          h('span', {}, deviceName(id)),
          h('button', { type: 'button', class: 'btn btn-small', disabled: i === 0, 'aria-label': `Move ${deviceName(id)} up`, onclick: () => move(-1) }, '↑'),
          h('button', { type: 'button', class: 'btn btn-small', disabled: i === ids.length - 1, 'aria-label': `Move ${deviceName(id)} down`, onclick: () => move(1) }, '↓'),
        );
      }),
    );
  };
  return { el, paint };
}

export const overviewPage: Page = {
  path: 'overview',
  title: 'Overview',
  mount(root) {
    const error = h('p', { class: 'banner banner-error', role: 'alert', hidden: true });
    const buses = h('div', { class: 'chips' });
    const src = flowBox('sources', 'Sources');
    const pv = flowBox('pv', 'Solar');
    const grid = flowBox('grid', 'Grid');
    const bat = flowBox('battery', 'Battery');
    const loads = flowBox('loads', 'Loads');
    const flow = h('section', { class: 'card flow', 'data-testid': 'power-flow', 'aria-label': 'Power flow' },
      h('div', { class: 'flow-row' }, h('div', { class: 'flow-col' }, src.el, pv.el, grid.el), h('span', { class: 'flow-arrow', 'aria-hidden': 'true' }, '→'), bat.el, h('span', { class: 'flow-arrow', 'aria-hidden': 'true' }, '→'), loads.el),
    );
    const sentences = h('ul', { class: 'sentences', 'data-testid': 'flow-sentences', 'aria-label': 'What each thing is doing' });
    const devices = h('div', { class: 'grid', 'data-testid': 'device-grid' });
    const chargers = h('div', { class: 'grid' });
    const none = h('p', { class: 'muted', hidden: true });
    const waiting = h('p', { class: 'muted' }, 'Waiting for devices…');
    const order = orderEditor(() => paint());
    const energy = energyCard(() => orderedDevices().map((d) => d.id));
    const fleet = fleetChip(); // the fleet forwarding next to the link states (hidden without fleet:)
    root.append(h('h1', { class: 'page-title' }, 'Overview'), error, flow, sentences, buses, fleet.el, waiting, devices, chargers, none, energy.el, order.el);
    void energy.refresh();
    const energyTimer = setInterval(() => void energy.refresh(), 60_000);

    const devList = new KeyedList<Device>(devices, (d) => d.id, deviceTile);
    const busList = new KeyedList<Bus>(buses, (b) => b.id, busChip);
    const chList = new KeyedList<Charger>(chargers, (c) => c.id, chargerTile);
    const sentList = new KeyedList<Sentence>(sentences, (s) => s.id, sentenceRow);

    const paint = () => {
      error.hidden = !state.loadError;
      setText(error, state.loadError ? `Cannot load the rig: ${state.loadError}` : '');
      busList.render(state.buses);
      const ordered = orderedDevices();
      devList.render(ordered);
      chList.render(state.chargers.status === 'ok' ? state.chargers.items : []);

      const ctx = flowContext();
      const all = flowParts(ctx, ordered);
      const parts = all.map((x) => x.part);
      const sW = total(parts, 'source');
      const pvW = total(parts, 'pv');
      const gW = total(parts, 'grid');
      const bW = total(parts, 'battery');
      const lW = total(parts, 'load');
      const setBox = (b: { el: HTMLElement; w: HTMLElement }, w: number | null, show = true) => {
        b.el.hidden = !show;
        setText(b.w, watts(w));
        setAttr(b.w, 'data-watts', w == null ? null : w.toFixed(1));
      };
      setBox(src, sW);
      const hasPath = (role: FlowRole) => parts.some((p) => p.role === role || p.paths?.some((x) => x.role === role));
      setBox(pv, pvW, hasPath('pv'));
      setBox(grid, gW, hasPath('grid'));
      const batPart = all.find((x) => x.part.role === 'battery' && x.part.inTotals !== false)?.part;
      setBox(bat, bW);
      setText(bat.sub, batPart
        ? `${bW == null ? '' : bW > 0 ? 'charging · ' : bW < 0 ? 'discharging · ' : ''}SOC ${fmt(batPart.socPct, 0, '%')}${batPart.etaMs != null ? ` · ${bW != null && bW < 0 ? 'empty' : 'full'} in ${duration(batPart.etaMs)}` : ''}`
        : 'no battery');
      // With no load device the loads are what the sources give that the battery does not take.
      const inferred = lW == null && sW != null ? Math.max(0, sW + (pvW ?? 0) + (gW ?? 0) - (bW ?? 0)) : null;
      setBox(loads, lW ?? inferred);
      setText(loads.sub, lW == null ? (inferred == null ? '' : 'DC loads and losses (by difference)') : '');
      setText(src.sub, `${all.filter((x) => x.part.role === 'source' && x.part.watts != null && x.part.active).length} delivering`);
      // One sentence per active thing, and one per offline device saying why.
      sentList.render(all.filter((x) => x.part.active || x.part.watts == null));

      const missing = [
        state.chargers.status === 'ok' && state.chargers.items.length ? null : 'charger',
        state.batteries.status === 'ok' && state.batteries.items.length ? null : 'battery',
      ].filter(Boolean);
      none.hidden = !missing.length || state.chargers.status === 'loading';
      setText(none, missing.length ? `No ${missing.join(' or ')} configured.` : '');
      waiting.hidden = state.devices.size > 0 || !!state.loadError;
      if (!order.el.open) order.paint();
    };
    order.el.addEventListener('toggle', () => order.paint());
    const stop = listen(['devices', 'buses', 'chargers', 'batteries', 'system', 'events'], paint);
    // Ages move on their own while nothing else changes.
    const timer = setInterval(paint, 5000);
    paint();
    return () => {
      stop();
      clearInterval(timer);
      clearInterval(energyTimer);
      fleet.stop();
    };
  },
};
