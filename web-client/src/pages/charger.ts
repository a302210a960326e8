/** Charger: phase, progress, delivered Ah/Wh, target, BMS caps, start/stop. */
import { clearToasts, fmt, fmtDateTime, h, KeyedList, setAttr, setText, stat, type Row } from '../dom.js';
import { deviceName, listen, state } from '../store.js';
import { startChargeDialog, stopChargeDialog } from '../dialogs.js';
import type { Charger, ChargerPhase } from '../types.js';
import type { Page } from '../page.js';
import { chargeEtaMs, chargerActual } from '../devices/charger.js';
import { duration, watts } from '../flow/words.js';

const LABELS: Record<ChargerPhase, string> = {
  idle: 'Idle',
  detect: 'Detecting battery',
  ramp: 'Ramping up',
  CC: 'CC (constant current)',
  CV: 'CV (constant voltage)',
  paused: 'Paused',
  done: 'Done',
  error: 'Error',
};

// Read as strings: the schema types a charger's phase as a String.
const STEPS: readonly string[] = ['detect', 'ramp', 'CC', 'CV', 'done'] satisfies ChargerPhase[];
const ACTIVE: ReadonlySet<string> = new Set<ChargerPhase>(['detect', 'ramp', 'CC', 'CV', 'paused']);

export function phaseLabel(p: ChargerPhase | string): string {
  return LABELS[p as ChargerPhase] ?? p;
}

/** Progress bar: the BMS state of charge when a battery is linked, else the charger's own progress. */
export function progressBar(): { el: HTMLElement; set(c: Charger): void } {
  const fill = h('div', { class: 'progress-fill' });
  const label = h('span', { class: 'progress-label' });
  const el = h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'data-testid': 'charge-progress' }, fill, label);
  return {
    el,
    set(c) {
      const bms = c.batteryId != null && c.socPct != null;
      const v = bms ? c.socPct : c.progress;
      const pct = v == null ? 0 : Math.max(0, Math.min(100, v));
      fill.style.width = `${pct}%`;
      setAttr(el, 'aria-valuenow', v == null ? null : pct.toFixed(0));
      const soc = c.socPct == null ? null : Math.round(c.socPct);
      const text =
        v == null ? 'no progress yet'
        : bms ? `SOC ${pct.toFixed(0)} % (BMS)`
        : soc === Math.round(pct) ? `SOC ≈ ${soc} % (estimated)`
        : `Progress ${pct.toFixed(0)} %${soc != null ? ` · SOC ≈ ${soc} %` : ''}`;
      setText(label, text);
      setAttr(el, 'aria-valuetext', text);
      setAttr(el, 'aria-label', bms ? 'Battery state of charge' : 'Charge progress');
    },
  };
}

/**
 * The BMS caps in one sentence, only while a charge runs (after DONE they say nothing about
 * what happens next), in the server's words (which compare the capped value with the
 * configured one), without the BMS's raw limits beside it to contradict them.
 */
export function capsSentence(c: Charger): string | null {
  const b = c.bmsCaps;
  if (!b || !ACTIVE.has(c.phase) || !b.reason) return null;
  return `The battery's BMS holds this charge below its settings: ${b.reason}.`;
}

function chargerCard(c0: Charger): Row<Charger> {
  let current = c0;
  const phase = h('span', { class: 'badge badge-phase', 'data-testid': 'charger-phase' });
  const steps = h('ol', { class: 'steps', 'aria-label': 'Charge phases', 'data-testid': 'charge-steps' }, STEPS.map((s) => h('li', { 'data-step': s }, s === 'done' ? 'done' : s)));
  const errorStep = h('li', { 'data-step': 'error', 'data-state': 'error', hidden: true }, 'error');
  steps.append(errorStep);
  const bar = progressBar();
  const cells = {
    v: stat('Voltage now', 'actual-v'),
    a: stat('Current now', 'actual-a'),
    w: stat('Power now', 'actual-w'),
    eta: stat('Full in', 'charge-eta'),
    ah: stat('Delivered', 'delivered-ah'),
    wh: stat('Energy', 'delivered-wh'),
    target: stat('Target'),
    amps: stat('Charge current'),
    ramp: stat('Ramp setpoint'),
    session: stat('Session started'),
  };
  const reason = h('p', { class: 'reason', 'data-testid': 'stop-reason', hidden: true });
  const caps = h('p', { class: 'note', 'data-testid': 'bms-caps', hidden: true });
  const group = h('p', { class: 'muted small' });
  const fallback = h('p', { class: 'muted small', 'data-testid': 'fallback' });
  const startBtn = h('button', { type: 'button', class: 'btn btn-primary', onclick: () => startChargeDialog(current) }, 'Start charge…');
  const stopBtn = h('button', { type: 'button', class: 'btn btn-danger', onclick: () => stopChargeDialog(current) }, 'Stop charge…');
  const el = h('article', { class: 'card', 'data-testid': 'charger-card', 'data-device-id': c0.id },
    h('header', { class: 'tile-head' }, h('h2', {}, c0.name), phase),
    steps,
    bar.el,
    h('div', { class: 'stats stats-big' }, cells.v.el, cells.a.el, cells.w.el),
    h('div', { class: 'stats' }, cells.eta.el, cells.ah.el, cells.wh.el),
    h('div', { class: 'stats' }, cells.target.el, cells.amps.el, cells.ramp.el, cells.session.el),
    caps,
    reason,
    group,
    fallback,
    h('div', { class: 'actions' }, startBtn, stopBtn),
  );
  return {
    el,
    update(c) {
      const prev = current;
      current = c;
      setText(phase, phaseLabel(c.phase));
      setAttr(phase, 'data-phase', c.phase);
      // An error is shown as an error: its own red step, never a lit "done".
      const failed = c.phase === 'error';
      if (failed && prev.phase !== 'error') clearToasts('ok');
      errorStep.hidden = !failed;
      setAttr(errorStep, 'aria-current', failed ? 'step' : null);
      const at = failed ? -1 : STEPS.indexOf(c.phase);
      for (const li of steps.children) {
        if (li === errorStep) continue;
        const i = STEPS.indexOf((li as HTMLElement).dataset.step ?? '');
        setAttr(li, 'data-state', at < 0 ? null : i < at ? 'past' : i === at ? 'now' : null);
        setAttr(li, 'aria-current', i === at ? 'step' : null);
      }
      bar.set(c);
      const active = ACTIVE.has(c.phase);
      const now = chargerActual(c, state.devices);
      setText(cells.v.value, active ? fmt(now.voltageV, 2, 'V') : '—');
      setText(cells.a.value, active ? fmt(now.currentA, 1, 'A') : '—');
      setText(cells.w.value, active ? watts(now.powerW) : '—');
      const eta = chargeEtaMs(c, { devices: state.devices });
      setText(cells.eta.value, c.phase === 'done' ? 'full' : eta != null ? `about ${duration(eta)}` : '—');
      setText(cells.ah.value, fmt(c.deliveredAh, 2, 'Ah'));
      setText(cells.wh.value, fmt(c.deliveredWh, 0, 'Wh'));
      setText(cells.target.value, fmt(c.targetVoltageV, 2, 'V'));
      setText(cells.amps.value, fmt(c.chargeCurrentA, 1, 'A'));
      setText(cells.ramp.value, fmt(c.rampVoltageV, 2, 'V'));
      setText(cells.session.value, c.session ? fmtDateTime(c.session.startedAt) : '—');
      reason.hidden = !c.stopReason;
      reason.classList.toggle('reason-error', c.phase === 'error');
      setText(reason, c.stopReason ? `${c.phase === 'error' ? 'Error' : 'Last stop'}: ${c.stopReason}` : '');
      caps.hidden = !capsSentence(c);
      setText(caps, capsSentence(c) ?? '');
      setText(group, `Rectifiers: ${c.psus.map((p) => deviceName(p.id)).join(', ') || '—'}${c.batteryId ? ` · battery: ${deviceName(c.batteryId)}` : ''}`);
      const fb = c.fallback;
      setText(
        fallback,
        !fb || fb.voltageV == null
          ? 'Unsupervised fallback: not managed (the PSUs keep their own power-on voltage)'
          : `Unsupervised fallback: ${fmt(fb.voltageV, 2, 'V')} — ${fb.confirmed ? 'confirmed by every rectifier' : `waiting for ${fb.pendingPsuIds.map(deviceName).join(', ')}`}`,
      );
      startBtn.disabled = active;
      stopBtn.disabled = !active;
    },
  };
}

export const chargerPage: Page = {
  path: 'charger',
  title: 'Charger',
  mount(root) {
    const msg = h('p', { class: 'muted', 'data-testid': 'charger-status' });
    const list = h('div', { class: 'grid grid-wide' });
    root.append(h('h1', { class: 'page-title' }, 'Charger'), msg, list);
    const cards = new KeyedList<Charger>(list, (c) => c.id, chargerCard);
    const paint = () => {
      const f = state.chargers;
      cards.render(f.status === 'ok' ? f.items : []);
      const text =
        f.status === 'loading' ? 'Loading…'
        : f.status === 'error' ? `Cannot load the charger: ${f.message}`
        : f.items.length ? ''
        : 'No charger configured.';
      setText(msg, text);
      msg.hidden = !text;
    };
    const stop = listen(['chargers', 'devices'], paint);
    paint();
    return stop;
  },
};
