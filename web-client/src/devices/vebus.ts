/**
 * A MultiPlus / Quattro (VE.Bus through an MK3) in the dashboard: AC in → Multi → AC out, the
 * battery, state and LEDs, the configured modes as buttons (each behind a confirmation that
 * lists its writes), and the settings table with RAM-only values marked.
 */
import { gql } from '../api.js';
import { fmt, h, KeyedList, onlineBadge, replaceChildren, setAttr, setText, stat, type Row } from '../dom.js';
import type { Device } from '../types.js';
import type { DeviceUi } from './types.js';
import { vebusFlow } from '../flow/parts.js';

type Mode = NonNullable<Device['modes']>[number];
type Setting = NonNullable<Device['settings']>[number];

const num = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : String(Math.round(x * 1000) / 1000));

async function modeDialog(d: Device, m: Mode): Promise<void> {
  // Loaded on click: queries.ts builds its device fields from the registry that lists this module.
  const [{ confirmDialog }, Q] = await Promise.all([import('../dialogs.js'), import('../queries.js')]);
  confirmDialog({
    title: `${m.label} — ${d.name}`,
    testId: 'vebus-mode-dialog',
    lines: [`This will apply mode “${m.label}” to ${d.name}:`, ...m.steps.map((s) => `• ${s}`), 'RAM-only writes stay in force until the device restarts; nothing is stored in its EEPROM.'],
    confirmLabel: `Apply ${m.label}`,
    run: async () => (await gql<{ applyVebusMode: { message: string } }>(Q.APPLY_VEBUS_MODE, { id: d.id, mode: m.name })).applyVebusMode.message,
  });
}

function settingRow(s: Setting): Row<Setting> {
  const cells = Array.from({ length: 6 }, () => h('td', {}));
  const el = h('tr', { 'data-testid': 'vebus-setting', 'data-setting-id': s.id }, cells);
  return {
    el,
    update(s) {
      setAttr(el, 'data-ram-only', String(s.ramOnly));
      el.classList.toggle('ram-only', s.ramOnly);
      setText(cells[0]!, s.name ?? `#${s.id}`);
      setText(cells[1]!, num(s.value));
      setText(cells[2]!, s.ramOnly ? `${num(s.ramOnlyValue)} (RAM only)` : '');
      setText(cells[3]!, num(s.defaultValue));
      setText(cells[4]!, s.min === null && s.max === null ? 'flags' : `${num(s.min)} … ${num(s.max)}`);
      setText(cells[5]!, s.scale === null ? '—' : `×${num(s.scale)}${s.offset ? ` ${s.offset > 0 ? '+' : '−'} ${Math.abs(s.offset)}` : ''}`);
    },
  };
}

function tile(d0: Device): Row<Device> {
  let d = d0;
  const badge = onlineBadge();
  const acIn = stat('AC in', 'vebus-ac-in');
  const multi = stat('Multi', 'vebus-state');
  const acOut = stat('AC out', 'vebus-ac-out');
  const bat = stat('Battery', 'vebus-battery');
  const soc = stat('SOC');
  const session = stat('Link');
  const leds = h('div', { class: 'chips', 'data-testid': 'vebus-leds' });
  const alarms = h('p', { class: 'alerts', hidden: true });
  const modes = h('div', { class: 'actions', 'data-testid': 'vebus-modes' });
  const tbody = h('tbody', {});
  const settings = h('details', { class: 'vebus-settings', 'data-testid': 'vebus-settings' },
    h('summary', {}, 'Settings'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Setting'), h('th', {}, 'Stored'), h('th', {}, 'In force'), h('th', {}, 'Default'), h('th', {}, 'Device range'), h('th', {}, 'Scale'))),
      tbody,
    )),
    h('p', { class: 'note' }, 'RAM-only values are in force until the device restarts; the stored (EEPROM) value is what it returns to.'),
  );
  const settingList = new KeyedList<Setting>(tbody, (s) => String(s.id), settingRow);
  const el = h('article', { class: 'card tile', 'data-testid': 'vebus-tile', 'data-device-id': d.id },
    h('header', { class: 'tile-head' }, h('h3', {}, d.name), badge.el),
    h('div', { class: 'vebus-flow', 'aria-label': 'AC in, Multi, AC out' }, acIn.el, h('span', { class: 'flow-arrow', 'aria-hidden': 'true' }, '→'), multi.el, h('span', { class: 'flow-arrow', 'aria-hidden': 'true' }, '→'), acOut.el),
    h('div', { class: 'stats' }, bat.el, soc.el, session.el),
    leds,
    alarms,
    modes,
    settings,
  );
  let modeKey = '';
  return {
    el,
    update(next) {
      d = next;
      badge.set(d.online);
      el.classList.toggle('stale', !d.online);
      const l1 = d.ac?.[0];
      setText(acIn.value, l1 ? `${fmt(l1.inVoltageV, 0, 'V')} · ${fmt(l1.inCurrentA, 1, 'A')}` : '—');
      setText(acOut.value, l1 ? `${fmt(l1.outVoltageV, 0, 'V')} · ${fmt(l1.outCurrentA, 1, 'A')}` : '—');
      setText(multi.value, [d.state, d.chargeSubState].filter(Boolean).join(' · ') || '—');
      setText(bat.value, d.battery ? `${fmt(d.battery.voltageV, 2, 'V')} · ${fmt(d.battery.currentA, 1, 'A')}` : '—');
      setText(soc.value, fmt(d.battery?.socPct, 0, '%'));
      setText(session.value, d.session ?? '—');
      const lit = (d.leds ?? []).filter((x) => x.state !== 'off');
      const ledKey = lit.map((x) => `${x.name}:${x.state}`).join(' ');
      if (leds.dataset.key !== ledKey) {
        leds.dataset.key = ledKey;
        replaceChildren(leds, lit.length ? lit.map((x) => h('span', { class: 'chip', 'data-led': x.name, 'data-state': x.state }, `${x.name.replace('_', ' ')}${x.state === 'on' ? '' : ` (${x.state})`}`)) : [h('span', { class: 'muted' }, 'LEDs off')]);
      }
      alarms.hidden = !(d.alarms ?? []).length;
      setText(alarms, (d.alarms ?? []).map((a) => `ALARM: ${a}`).join(' · '));
      const ms = d.modes ?? [];
      const key = ms.map((m) => `${m.name}:${m.label}:${String(m.active)}`).join('|') + `|${d.online}`;
      if (key !== modeKey) {
        modeKey = key;
        replaceChildren(modes, ms.map((m) =>
          h('button', { type: 'button', class: m.active ? 'btn btn-primary' : 'btn', 'data-testid': 'vebus-mode', 'data-mode': m.name, 'aria-pressed': String(m.active === true), disabled: !d.online, title: m.steps.join('\n'), onclick: () => void modeDialog(d, m) }, m.label),
        ));
      }
      settingList.render((d.settings ?? []).filter((s) => s.supported));
    },
  };
}

export const vebusUi: DeviceUi = {
  typename: 'InverterCharger',
  fields: `session state chargeSubState alarms battery { voltageV currentA socPct } ac { phase inVoltageV inCurrentA outVoltageV outCurrentA }
    leds { name state } modes { name label steps active }
    settings { id name supported value ramOnly ramOnlyValue effective defaultValue min max scale offset }`,
  tile,
  flow: vebusFlow,
};
