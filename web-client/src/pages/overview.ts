/** Overview: every device with its online state and live values, at a glance. */
import { fmt, h, KeyedList, onlineBadge, setAttr, setText, stat, type Row } from '../dom.js';
import { listen, state } from '../store.js';
import type { Battery, Bus, Charger, Device } from '../types.js';
import type { Page } from '../page.js';
import { phaseLabel, progressBar } from './charger.js';

function psuTile(d: Device): Row<Device> {
  const badge = onlineBadge();
  const v = stat('Vout', 'vout');
  const a = stat('Iout', 'iout');
  const w = stat('Power', 'power');
  const st = stat('State');
  const temp = stat('Temp in/out');
  const vin = stat('Vin');
  const alerts = h('p', { class: 'alerts', hidden: true });
  const el = h('article', { class: 'card tile', 'data-testid': 'device-tile', 'data-device-id': d.id },
    h('header', { class: 'tile-head' }, h('h3', {}, d.name), badge.el),
    h('div', { class: 'stats stats-big' }, v.el, a.el, w.el),
    h('div', { class: 'stats' }, st.el, vin.el, temp.el),
    alerts,
  );
  return {
    el,
    update(d) {
      badge.set(d.online);
      el.classList.toggle('stale', !d.online);
      setText(v.value, fmt(d.outputVoltageV, 2, 'V'));
      setText(a.value, fmt(d.outputCurrentA, 1, 'A'));
      setText(w.value, fmt(d.outputPowerW, 0, 'W'));
      setText(st.value, d.state ?? '—');
      setText(vin.value, fmt(d.inputVoltageV, 0, 'V'));
      setText(temp.value, `${fmt(d.intakeTempC, 0)} / ${fmt(d.outputTempC, 0)} °C`);
      const words = [...(d.alarms ?? []).map((x) => `ALARM: ${x}`), ...(d.warnings ?? [])];
      alerts.hidden = !words.length;
      setText(alerts, words.join(' · '));
    },
  };
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

function batteryTile(b: Battery): Row<Battery> {
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

function busChip(b: Bus): Row<Bus> {
  const el = h('span', { class: 'chip', 'data-testid': 'bus-chip' });
  return {
    el,
    update(b) {
      setText(el, `CAN ${b.id}: link ${b.linkState}`);
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
    const batteries = h('div', { class: 'grid' });
    const none = h('p', { class: 'muted', hidden: true });
    const waiting = h('p', { class: 'muted' }, 'Waiting for devices…');
    root.append(h('h1', { class: 'page-title' }, 'Overview'), error, buses, waiting, devices, chargers, batteries, none);

    const devList = new KeyedList<Device>(devices, (d) => d.id, (d) => (d.__typename === 'Flatpack2Psu' ? psuTile(d) : otherDeviceTile(d)));
    const busList = new KeyedList<Bus>(buses, (b) => b.id, busChip);
    const chList = new KeyedList<Charger>(chargers, (c) => c.id, chargerTile);
    const batList = new KeyedList<Battery>(batteries, (b) => b.id, batteryTile);

    const paint = () => {
      error.hidden = !state.loadError;
      setText(error, state.loadError ? `Cannot load the rig: ${state.loadError}` : '');
      busList.render(state.buses);
      // A battery is also a Device; it gets its own tile from the batteries query.
      const batteryIds = new Set(state.batteries.status === 'ok' ? state.batteries.items.map((b) => b.id) : []);
      devList.render([...state.devices.values()].filter((d) => !batteryIds.has(d.id)));
      chList.render(state.chargers.status === 'ok' ? state.chargers.items : []);
      batList.render(state.batteries.status === 'ok' ? state.batteries.items : []);
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
