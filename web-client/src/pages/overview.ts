/** Overview: every device with its online state and live values, at a glance. */
import { fmt, h, KeyedList, setAttr, setText, stat, type Row } from '../dom.js';
import { tileFor } from '../devices/registry.js';
import { listen, state } from '../store.js';
import type { Bus, Charger, Device } from '../types.js';
import type { Page } from '../page.js';
import { phaseLabel, progressBar } from './charger.js';

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
      setText(el, `${b.linkNoun} ${b.id}: ${b.linkState}`);
      setAttr(el, 'data-state', b.linkState);
      setAttr(el, 'title', b.linkDetail);
    },
  };
}

export const overviewPage: Page = {
  path: 'overview',
  title: 'Overview',
  mount(root) {
    const error = h('p', { class: 'banner banner-error', role: 'alert', hidden: true });
    const buses = h('div', { class: 'chips' });
    const devices = h('div', { class: 'grid', 'data-testid': 'device-grid' });
    const chargers = h('div', { class: 'grid' });
    const none = h('p', { class: 'muted', hidden: true });
    const waiting = h('p', { class: 'muted' }, 'Waiting for devices…');
    root.append(h('h1', { class: 'page-title' }, 'Overview'), error, buses, waiting, devices, chargers, none);

    const devList = new KeyedList<Device>(devices, (d) => d.id, tileFor);
    const busList = new KeyedList<Bus>(buses, (b) => b.id, busChip);
    const chList = new KeyedList<Charger>(chargers, (c) => c.id, chargerTile);

    const paint = () => {
      error.hidden = !state.loadError;
      setText(error, state.loadError ? `Cannot load the rig: ${state.loadError}` : '');
      busList.render(state.buses);
      devList.render([...state.devices.values()]);
      chList.render(state.chargers.status === 'ok' ? state.chargers.items : []);
      const missing = [
        state.chargers.status === 'ok' && state.chargers.items.length ? null : 'charger',
        state.batteries.status === 'ok' && state.batteries.items.length ? null : 'battery',
      ].filter(Boolean);
      none.hidden = !missing.length || state.chargers.status === 'loading';
      setText(none, missing.length ? `No ${missing.join(' or ')} configured.` : '');
      waiting.hidden = state.devices.size > 0 || !!state.loadError;
    };
    const stop = listen(['devices', 'buses', 'chargers', 'batteries', 'system'], paint);
    paint();
    return stop;
  },
};
