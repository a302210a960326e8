/** The Flatpack2 rectifier in the dashboard: its fields in the device query and its overview tile. */
import { fmt, h, onlineBadge, setText, stat, type Row } from '../dom.js';
import type { Device } from '../types.js';
import type { DeviceUi, FlowContext, FlowPart } from './types.js';
import { offlineSentence } from '../flow/offline.js';
import { watts } from '../flow/words.js';

const SETPOINT = 'setpoint { voltageV currentA origin standby at }';

function tile(d: Device): Row<Device> {
  const badge = onlineBadge();
  const v = stat('Vout', 'vout');
  const a = stat('Iout', 'iout');
  const w = stat('Power', 'power');
  const st = stat('State');
  const temp = stat('Temp in/out');
  const vin = stat('Vin');
  const alerts = h('p', { class: 'alerts', hidden: true });
  const ident = h('p', { class: 'muted small', 'data-testid': 'identity' });
  const el = h('article', { class: 'card tile', 'data-testid': 'device-tile', 'data-device-id': d.id },
    h('header', { class: 'tile-head' }, h('h3', {}, d.name), badge.el),
    h('div', { class: 'stats stats-big' }, v.el, a.el, w.el),
    h('div', { class: 'stats' }, st.el, vin.el, temp.el),
    alerts,
    ident,
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
      setText(ident, identityText(d));
      setText(alerts, words.join(' · '));
    },
  };
}

/** What the unit reports about itself (identity read at discovery), in one line. */
export function identityText(d: Device): string {
  const i = d.identity;
  if (!i) return `serial ${d.serial ?? '—'} (identity not read yet)`;
  return [i.model ?? 'Flatpack2', i.serial ? `serial ${i.serial}` : null, i.buildYear ? `built ${i.buildYear}` : null].filter(Boolean).join(' · ');
}

/** A rectifier feeds the DC bus: its output power on the source path. */
function flow(d: Device, ctx: FlowContext): FlowPart {
  if (!d.online) return { role: 'source', watts: null, active: false, sentence: offlineSentence(d, ctx) };
  const w = d.outputPowerW ?? (d.outputVoltageV != null && d.outputCurrentA != null ? d.outputVoltageV * d.outputCurrentA : null);
  const active = w != null && w >= 5;
  const by = d.ownedBy ? ` for ${ctx.name(d.ownedBy)}` : '';
  const sentence = active
    ? `${d.name} delivers ${watts(w)} (${fmt(d.outputCurrentA, 1, 'A')} at ${fmt(d.outputVoltageV, 1, 'V')})${by}.`
    : `${d.name} is on but delivers nothing${d.setpoint?.standby ? ' (standby)' : ''}.`;
  return { role: 'source', watts: w, active, sentence };
}

export const flatpack2Ui: DeviceUi = {
  typename: 'Flatpack2Psu',
  fields: `serial address outputVoltageV outputCurrentA outputPowerW inputVoltageV intakeTempC outputTempC state warnings alarms ownedBy fallbackVoltageV lastReading { at outputVoltageV outputCurrentA } identity { model serial buildYear } ${SETPOINT}`,
  tile,
  flow,
};
