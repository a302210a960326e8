/**
 * The EV charger (OpenEVSE) in the dashboard: its fields in the device query and its tile —
 * plugged / charging / sleeping / fault in words, power, the session's kWh, and a current slider
 * bounded by the range the server allows now (board range and circuit limit), sent only after a
 * confirmation that says what will be sent. The server's gate decides: a refusal is shown as is.
 */
import { fmt, h, onlineBadge, setText, stat, type Row } from '../dom.js';
import { gql } from '../api.js';
import { Dialog, button, sendFrom } from '../dialogs.js';
import * as Q from '../queries.js';
import type { Device } from '../types.js';
import type { DeviceUi } from './types.js';
import { evseFlow } from '../flow/parts.js';

/** What the tile shows for the server's status word. */
const WORDS: Record<string, string> = {
  offline: 'Offline',
  unknown: 'Unknown',
  starting: 'Starting',
  ready: 'Ready — no vehicle',
  plugged: 'Plugged in',
  charging: 'Charging',
  sleeping: 'Sleeping',
  disabled: 'Disabled',
  fault: 'Fault',
};

export function evseStatusText(d: Device): string {
  const w = d.status ? (WORDS[d.status] ?? d.status) : '—';
  return d.status === 'fault' && d.stateText ? `${w}: ${d.stateText}` : w;
}

/** Set the charging current: a slider within the allowed range → review → send. */
export function evseCurrentDialog(d: Device): void {
  const range = d.allowedRange;
  const dlg = new Dialog(`Charging current — ${d.name}`, 'evse-current-dialog');
  if (!range) {
    dlg.show([h('p', {}, `${d.name} has not reported its current range yet; try again in a few seconds.`)], [button('Close', () => dlg.close())]);
    return;
  }
  const start = Math.min(range.maxA, Math.max(range.minA, d.configuredA ?? d.capacityA ?? range.minA));
  const out = h('output', { for: 'evse-current', 'data-testid': 'evse-current-value' }, `${start} A`);
  const slider = h('input', { id: 'evse-current', type: 'range', min: range.minA, max: range.maxA, step: 1, value: start, 'aria-label': 'Charging current (A)', 'data-testid': 'evse-current-slider' });
  slider.addEventListener('input', () => setText(out, `${slider.value} A`));
  const form = () =>
    dlg.show(
      [
        h('label', { for: 'evse-current' }, 'Charging current (A)'),
        h('div', { class: 'slider-row' }, slider, out),
        h('p', { class: 'hint', 'data-testid': 'evse-range-hint' }, `${range.minA}–${range.maxA} A allowed (${range.why})`),
      ],
      [button('Cancel', () => dlg.close()), button('Review', review, 'primary')],
    );
  const review = () => {
    const a = Number(slider.value);
    const send = button('Send', () => void sendFrom(dlg, send, async () => {
      const r = await gql<{ setEvseCurrent: { message: string | null } }>(Q.SET_EVSE_CURRENT, { id: d.id, currentA: a });
      return r.setEvseCurrent.message ?? `${d.name}: current set to ${a} A`;
    }), 'primary');
    dlg.show(
      [
        h('p', {}, 'This will send:'),
        h('dl', { class: 'summary', 'data-testid': 'evse-current-summary' },
          h('dt', {}, 'EV charger'), h('dd', {}, d.name),
          h('dt', {}, 'Current'), h('dd', {}, `${a} A (saved on the board)`),
          h('dt', {}, 'Now'), h('dd', {}, d.configuredA != null ? `${d.configuredA} A` : '—'),
        ),
        h('p', { class: 'note' }, 'The vehicle may draw less than this; the board keeps it after a restart.'),
      ],
      [button('Back', form), send],
    );
  };
  form();
}

function tile(d0: Device): Row<Device> {
  let d = d0;
  const badge = onlineBadge();
  const st = stat('State', 'evse-state');
  const w = stat('Power', 'evse-power');
  const kwh = stat('Session', 'evse-session');
  const a = stat('Current');
  const cap = stat('Limit');
  const hb = stat('Heartbeat', 'evse-heartbeat');
  const set = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'evse-set-current', onclick: () => evseCurrentDialog(d) }, 'Set current…');
  const el = h('article', { class: 'card tile', 'data-testid': 'evse-tile', 'data-device-id': d.id },
    h('header', { class: 'tile-head' }, h('h3', {}, d.name), badge.el),
    h('div', { class: 'stats stats-big' }, st.el, w.el, kwh.el),
    h('div', { class: 'stats' }, a.el, cap.el, hb.el),
    h('div', { class: 'tile-actions' }, set),
  );
  return {
    el,
    update(next) {
      d = next;
      badge.set(d.online);
      el.classList.toggle('stale', !d.online);
      el.dataset.status = d.status ?? '';
      setText(st.value, evseStatusText(d));
      setText(w.value, d.powerW == null ? '—' : d.powerW >= 1000 ? `${(d.powerW / 1000).toFixed(2)} kW` : `${d.powerW.toFixed(0)} W`);
      setText(kwh.value, fmt(d.sessionKWh, 2, 'kWh'));
      setText(a.value, fmt(d.currentA, 1, 'A'));
      setText(cap.value, d.configuredA != null ? `${d.configuredA} A${d.allowedRange ? ` (max ${d.allowedRange.maxA})` : ''}` : '—');
      setText(hb.value, d.heartbeat ? (d.heartbeat.armed ? `armed, ${d.heartbeat.fallbackA ?? '?'} A fallback` : d.heartbeat.state) : '—');
      set.disabled = !d.online || !d.allowedRange;
    },
  };
}

export const evseUi: DeviceUi = {
  typename: 'EvCharger',
  fields: 'status stateText fault capacityA configuredA allowedRange { minA maxA why } currentA voltageV powerW sessionKWh charging vehicleConnected heartbeat { state armed fallbackA } firmware protocol',
  tile,
  flow: evseFlow,
};
