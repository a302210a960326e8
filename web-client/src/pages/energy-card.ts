/** The overview's energy card: today / this week / this month per flow, and a bar per day. */
import { gql } from '../api.js';
import { h, replaceChildren } from '../dom.js';
import * as Q from '../queries.js';
import { deviceName, serverNow } from '../store.js';
import { energyPerDay, energyText, energyTotals, localDay, type EnergyRow } from '../flow/energy.js';

const COLORS = ['#5cc8ff', '#5fd38d', '#f5b83d', '#ff9e6b', '#c39bff'];

/** `order`: the device ids in the page's order (the per-device lines follow it). */
export function energyCard(order: () => readonly string[] = () => []): { el: HTMLElement; refresh(): Promise<void> } {
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const el = h('section', { class: 'card energy', 'data-testid': 'energy', 'aria-labelledby': 'energy-title' }, h('h2', { id: 'energy-title' }, 'Energy'), body);
  const refresh = async () => {
    let rows: EnergyRow[];
    try {
      rows = (await gql<{ energy: EnergyRow[] }>(Q.ENERGY, { days: 31, tz: -new Date().getTimezoneOffset() })).energy;
    } catch (e) {
      replaceChildren(body, h('p', { class: 'muted' }, `Energy not available: ${e instanceof Error ? e.message : String(e)}`));
      return;
    }
    // The server's today (a simulated clock may run ahead of the browser's).
    const today = localDay(new Date(serverNow()));
    const totals = energyTotals(rows, today);
    const pos = new Map(order().map((id, i) => [id, i]));
    for (const t of totals) t.devices.sort((a, b) => (pos.get(a.deviceId) ?? Infinity) - (pos.get(b.deviceId) ?? Infinity));
    const whats = totals.map((t) => t.what);
    const perDay = energyPerDay(rows, today);
    const max = Math.max(1, ...perDay.flatMap((d) => Object.values(d.byWhat)));
    replaceChildren(
      body,
      totals.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'table energy-table', 'data-testid': 'energy-table' },
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, ''), h('th', { scope: 'col' }, 'Today'), h('th', { scope: 'col' }, '7 days'), h('th', { scope: 'col' }, 'Month'))),
            h('tbody', {}, totals.flatMap((t) => [
              h('tr', { 'data-what': t.what },
                h('th', { scope: 'row' }, t.what[0].toUpperCase() + t.what.slice(1)),
                h('td', { class: 'num', 'data-testid': 'energy-today', 'data-wh': t.today.toFixed(1) }, energyText(t.today)),
                h('td', { class: 'num', 'data-wh': t.week.toFixed(1) }, energyText(t.week)),
                h('td', { class: 'num', 'data-wh': t.month.toFixed(1) }, energyText(t.month)),
              ),
              // Per device where more than one shares the flow (two rectifiers, a parallel pair of inverters).
              ...(t.devices.length > 1
                ? t.devices.map((d) =>
                    h('tr', { class: 'energy-device muted small', 'data-what': t.what, 'data-device-id': d.deviceId },
                      h('th', { scope: 'row' }, deviceName(d.deviceId)),
                      h('td', { class: 'num', 'data-wh': d.today.toFixed(1) }, energyText(d.today)),
                      h('td', { class: 'num', 'data-wh': d.week.toFixed(1) }, energyText(d.week)),
                      h('td', { class: 'num', 'data-wh': d.month.toFixed(1) }, energyText(d.month)),
                    ))
                : []),
            ]))))
        : h('p', { class: 'muted' }, 'No energy recorded yet.'),
      h('div', { class: 'bars', role: 'img', 'data-testid': 'energy-bars', 'aria-label': `Energy per day, last ${perDay.length} days` },
        perDay.map((d) =>
          h('div', { class: 'bar-day', title: d.day },
            h('div', { class: 'bar-stack' },
              whats.map((w, i) => {
                const v = d.byWhat[w] ?? 0;
                return v > 0 ? h('div', { class: 'bar', style: `height:${((v / max) * 100).toFixed(1)}%;background:${COLORS[i % COLORS.length]}`, 'data-wh': v.toFixed(0) }) : null;
              })),
            h('span', { class: 'bar-label' }, d.day.slice(8)),
          ))),
      h('p', { class: 'legend small' }, whats.map((w, i) => h('span', { class: 'legend-item' }, h('span', { class: 'swatch', style: `background:${COLORS[i % COLORS.length]}` }), w))),
    );
  };
  return { el, refresh };
}
