/** Rectifiers: full status per PSU, warnings/alarms in words, set output and standby. */
import { fmt, fmtTime, h, KeyedList, onlineBadge, replaceChildren, setAttr, setText, stat, type Row } from '../dom.js';
import { deviceName, listen, psus, state } from '../store.js';
import { setOutputDialog, standbyDialog } from '../dialogs.js';
import type { Device, Setpoint } from '../types.js';
import type { Page } from '../page.js';
import { identityText } from '../devices/flatpack2.js';

export function setpointText(s: Setpoint | null | undefined): string {
  if (!s) return 'none yet';
  const what = s.standby ? `standby (${s.voltageV.toFixed(2)} V / ${s.currentA.toFixed(1)} A)` : `${s.voltageV.toFixed(2)} V / ${s.currentA.toFixed(1)} A`;
  return `${what} · ${s.origin} · ${fmtTime(s.at)}`;
}

function psuCard(d: Device): Row<Device> {
  const badge = onlineBadge();
  const sub = h('p', { class: 'muted small' });
  const cells = {
    vout: stat('Vout', 'vout'),
    iout: stat('Iout', 'iout'),
    power: stat('Power', 'power'),
    vin: stat('Vin', 'vin'),
    tin: stat('Intake temp'),
    tout: stat('Output temp'),
    state: stat('State', 'state'),
  };
  const setpoint = h('span', { 'data-testid': 'setpoint' });
  const alerts = h('ul', { class: 'alert-list', 'data-testid': 'alerts' });
  const owned = h('p', { class: 'note', hidden: true, id: `why-${d.id}`, 'data-testid': 'control-reason' });
  const stale = h('p', { class: 'note', 'data-testid': 'stale', hidden: true });
  const setBtn = h('button', { type: 'button', class: 'btn btn-primary', onclick: () => setOutputDialog(d.id) }, 'Set output…');
  const standbyBtn = h('button', { type: 'button', class: 'btn', onclick: () => standbyDialog(d.id) }, 'Standby');
  setAttr(setBtn, 'aria-label', `Set output of ${d.name}`);
  setAttr(standbyBtn, 'aria-label', `Standby ${d.name}`);
  const el = h('article', { class: 'card', 'data-testid': 'psu-card', 'data-device-id': d.id },
    h('header', { class: 'tile-head' }, h('h2', {}, d.name), badge.el),
    sub,
    h('div', { class: 'stats stats-big' }, cells.vout.el, cells.iout.el, cells.power.el),
    h('div', { class: 'stats' }, cells.vin.el, cells.tin.el, cells.tout.el, cells.state.el),
    h('p', { class: 'setpoint-line' }, h('span', { class: 'stat-label' }, 'Setpoint '), setpoint),
    alerts,
    stale,
    owned,
    h('div', { class: 'actions' }, setBtn, standbyBtn),
  );
  return {
    el,
    update(d) {
      badge.set(d.online);
      el.classList.toggle('stale', !d.online);
      setText(sub, `${identityText(d)} · address ${d.address ?? '—'} · bus ${d.busId}`);
      setText(cells.vout.value, fmt(d.outputVoltageV, 2, 'V'));
      setText(cells.iout.value, fmt(d.outputCurrentA, 1, 'A'));
      setText(cells.power.value, fmt(d.outputPowerW, 0, 'W'));
      setText(cells.vin.value, fmt(d.inputVoltageV, 0, 'V'));
      setText(cells.tin.value, fmt(d.intakeTempC, 0, '°C'));
      setText(cells.tout.value, fmt(d.outputTempC, 0, '°C'));
      setText(cells.state.value, d.state ?? '—');
      setAttr(cells.state.value, 'data-state', d.state ?? null);
      setText(setpoint, setpointText(d.setpoint));
      const last = !d.online ? d.lastReading : null;
      stale.hidden = !last;
      setText(stale, last ? `Offline — last reading ${fmt(last.outputVoltageV, 2, 'V')} / ${fmt(last.outputCurrentA, 1, 'A')} at ${fmtTime(last.at)} (not live)` : '');
      const items = [...(d.alarms ?? []).map((x) => ['alarm', x]), ...(d.warnings ?? []).map((x) => ['warning', x])];
      const sig = JSON.stringify(items);
      if (alerts.dataset.sig !== sig) {
        alerts.dataset.sig = sig;
        replaceChildren(alerts, items.length ? items.map(([k, x]) => h('li', { class: `alert alert-${k}` }, `${k === 'alarm' ? 'Alarm' : 'Warning'}: ${x}`)) : h('li', { class: 'muted' }, 'No warnings or alarms'));
      }
      // A control that cannot act now is disabled, with the reason written beside it (not refused after review).
      const why = d.ownedBy
        ? `${d.name} is being driven by ${deviceName(d.ownedBy)}: stop the charge on the Charger page before setting it by hand.`
        : !d.online
          ? `${d.name} is offline: a new output would not reach it (standby is kept and applied when it returns).`
          : null;
      owned.hidden = !why;
      setText(owned, why ?? '');
      setBtn.disabled = !!why;
      standbyBtn.disabled = !!d.ownedBy;
      setAttr(setBtn, 'aria-describedby', why ? owned.id : null);
      setAttr(standbyBtn, 'aria-describedby', d.ownedBy ? owned.id : null);
    },
  };
}

export const rectifiersPage: Page = {
  path: 'rectifiers',
  title: 'Rectifiers',
  mount(root) {
    const busLine = h('p', { class: 'muted', 'data-testid': 'bus-setpoint' });
    const allBar = h('section', { class: 'card toolbar', 'aria-label': 'All rectifiers' },
      h('div', {}, h('h2', {}, 'All rectifiers'), busLine),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn btn-primary', onclick: () => setOutputDialog('all') }, 'Set all…'),
        h('button', { type: 'button', class: 'btn', onclick: () => standbyDialog('all') }, 'Standby all'),
      ),
    );
    const list = h('div', { class: 'grid grid-wide' });
    const empty = h('p', { class: 'muted' }, 'No rectifier found yet.');
    root.append(h('h1', { class: 'page-title' }, 'Rectifiers'), allBar, empty, list);
    const cards = new KeyedList<Device>(list, (d) => d.id, psuCard);
    const paint = () => {
      const all = psus();
      empty.hidden = all.length > 0;
      cards.render(all);
      setText(busLine, state.buses.map((b) => `${b.id} (link ${b.linkState}): ${setpointText(b.setpoint)}`).join(' · ') || '—');
    };
    const stop = listen(['devices', 'buses'], paint);
    paint();
    return stop;
  },
};
