/** Battery: SOC/SOH, voltage, current, cells, BMS limits, per-module table, alarms and protections. */
import { fmt, h, KeyedList, onlineBadge, replaceChildren, setText, stat, type Row } from '../dom.js';
import { listen, state } from '../store.js';
import type { Battery, BatteryModule } from '../types.js';
import type { Page } from '../page.js';

const mV = (v: number | null | undefined) => (v == null ? '—' : `${(v * 1000).toFixed(0)} mV`);

function moduleRow(m: BatteryModule): HTMLTableRowElement {
  return h('tr', {},
    h('th', { scope: 'row' }, String(m.index)),
    h('td', {}, fmt(m.voltageV, 2)),
    h('td', {}, fmt(m.currentA, 1)),
    h('td', {}, fmt(m.socPct, 0)),
    h('td', {}, fmt(m.cellHighV, 3)),
    h('td', {}, fmt(m.cellLowV, 3)),
    h('td', {}, m.tempsC?.length ? m.tempsC.map((t) => t.toFixed(0)).join(' / ') : '—'),
    h('td', {}, m.cycles == null ? '—' : String(m.cycles)),
    h('td', {}, `${fmt(m.chargedKWh, 1)} / ${fmt(m.dischargedKWh, 1)}`),
  );
}

function list(items: string[] | null | undefined, kind: string, none: string): HTMLElement[] {
  return items?.length ? items.map((x) => h('li', { class: `alert alert-${kind}` }, x)) : [h('li', { class: 'muted' }, none)];
}

function batteryCard(b: Battery): Row<Battery> {
  const badge = onlineBadge();
  const c = {
    soc: stat('SOC', 'battery-soc'),
    soh: stat('SOH'),
    v: stat('Voltage', 'battery-voltage'),
    a: stat('Current', 'battery-current'),
    t: stat('Temperature'),
    high: stat('Cell high'),
    low: stat('Cell low'),
    delta: stat('Cell Δ', 'cell-delta'),
    cvl: stat('Charge V limit'),
    ccl: stat('Charge I limit'),
    dcl: stat('Discharge I limit'),
    dvl: stat('Discharge V'),
  };
  const flags = h('p', { class: 'muted small' });
  const alarms = h('ul', { class: 'alert-list', 'data-testid': 'battery-alarms' });
  const prot = h('ul', { class: 'alert-list', 'data-testid': 'battery-protections' });
  const body = h('tbody');
  const table = h('div', { class: 'table-wrap' },
    h('table', { class: 'table', 'data-testid': 'module-table' },
      h('caption', {}, 'Modules'),
      h('thead', {}, h('tr', {}, ['#', 'V', 'A', 'SOC %', 'Cell high V', 'Cell low V', 'Temps °C', 'Cycles', 'kWh in / out'].map((x) => h('th', { scope: 'col' }, x)))),
      body,
    ),
  );
  const el = h('article', { class: 'card', 'data-testid': 'battery-card', 'data-device-id': b.id },
    h('header', { class: 'tile-head' }, h('h2', {}, b.name), badge.el),
    h('div', { class: 'stats stats-big' }, c.soc.el, c.v.el, c.a.el),
    h('div', { class: 'stats' }, c.soh.el, c.t.el, c.high.el, c.low.el, c.delta.el),
    h('h3', {}, 'BMS limits'),
    h('div', { class: 'stats' }, c.cvl.el, c.ccl.el, c.dcl.el, c.dvl.el),
    flags,
    h('div', { class: 'two-col' }, h('div', {}, h('h3', {}, 'Alarms'), alarms), h('div', {}, h('h3', {}, 'Protections'), prot)),
    table,
  );
  return {
    el,
    update(b) {
      badge.set(b.online);
      el.classList.toggle('stale', !b.online);
      setText(c.soc.value, fmt(b.socPct, 0, '%'));
      setText(c.soh.value, fmt(b.sohPct, 0, '%'));
      setText(c.v.value, fmt(b.voltageV, 2, 'V'));
      setText(c.a.value, fmt(b.currentA, 1, 'A'));
      setText(c.t.value, fmt(b.tempC, 0, '°C'));
      setText(c.high.value, fmt(b.cellHighV, 3, 'V'));
      setText(c.low.value, fmt(b.cellLowV, 3, 'V'));
      setText(c.delta.value, mV(b.cellDeltaV));
      setText(c.cvl.value, fmt(b.chargeVoltageLimitV, 2, 'V'));
      setText(c.ccl.value, fmt(b.chargeCurrentLimitA, 1, 'A'));
      setText(c.dcl.value, fmt(b.dischargeCurrentLimitA, 1, 'A'));
      setText(c.dvl.value, fmt(b.dischargeVoltageV, 2, 'V'));
      setText(flags, `BMS requests: ${b.requestFlags?.length ? b.requestFlags.join(', ') : 'none'}`);
      const sig = JSON.stringify([b.alarms, b.protections, b.modules]);
      if (el.dataset.sig !== sig) {
        el.dataset.sig = sig;
        replaceChildren(alarms, list(b.alarms, 'alarm', 'No active alarms'));
        replaceChildren(prot, list(b.protections, 'warning', 'No active protections'));
        replaceChildren(body, b.modules?.length ? b.modules.map(moduleRow) : h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'No module data')));
      }
    },
  };
}

export const batteryPage: Page = {
  path: 'battery',
  title: 'Battery',
  mount(root) {
    const msg = h('p', { class: 'muted', 'data-testid': 'battery-status' });
    const grid = h('div', { class: 'grid grid-wide' });
    root.append(h('h1', { class: 'page-title' }, 'Battery'), msg, grid);
    const cards = new KeyedList<Battery>(grid, (b) => b.id, batteryCard);
    const paint = () => {
      const f = state.batteries;
      cards.render(f.status === 'ok' ? f.items : []);
      const text =
        f.status === 'loading' ? 'Loading…'
        : f.status === 'unsupported' ? 'No battery configured (this server has no battery API).'
        : f.status === 'error' ? `Cannot load the battery: ${f.message}`
        : f.items.length ? ''
        : 'No battery configured.';
      setText(msg, text);
      msg.hidden = !text;
    };
    const stop = listen(['batteries'], paint);
    paint();
    return stop;
  },
};
