/**
 * Every change to the hardware goes through a modal confirmation that says what will be sent.
 * The server decides what is allowed: its refusal (extensions.code + message) is shown as is,
 * and the dialog stays open so the value can be corrected.
 */
import { ApiError, gql, setApiToken } from './api.js';
import { h, replaceChildren, toast } from './dom.js';
import * as Q from './queries.js';
import { busOf, deviceName, loadChargers, psus, state } from './store.js';
import type { Charger } from './types.js';

export class Dialog {
  readonly el: HTMLDialogElement;
  private readonly content: HTMLElement;
  private readonly error: HTMLElement;
  private readonly actions: HTMLElement;

  constructor(title: string, testId: string) {
    this.content = h('div', { class: 'dialog-content' });
    this.error = h('div', { class: 'dialog-error', role: 'alert', 'data-testid': 'dialog-error' });
    this.actions = h('div', { class: 'dialog-actions' });
    this.el = h('dialog', { class: 'dialog', 'data-testid': testId, 'aria-labelledby': `${testId}-title` },
      h('h2', { id: `${testId}-title` }, title),
      this.content,
      this.error,
      this.actions,
    );
    this.el.addEventListener('close', () => this.el.remove());
    document.body.append(this.el);
    this.el.showModal();
  }

  show(content: Array<Node | null>, actions: HTMLButtonElement[]): void {
    replaceChildren(this.content, content);
    replaceChildren(this.actions, actions);
    this.clearError();
    (this.content.querySelector('input') ?? actions[actions.length - 1])?.focus();
  }

  clearError(): void {
    replaceChildren(this.error);
    this.error.hidden = true;
  }

  showError(e: unknown): void {
    this.error.hidden = false;
    const err = e instanceof ApiError ? e : null;
    const msg = err ? err.message : e instanceof Error ? e.message : String(e);
    const code = err?.code;
    const parts: Node[] = [h('strong', {}, code && code !== 'NETWORK' ? `Refused (${code}): ` : 'Error: '), document.createTextNode(msg)];
    if (code === 'UNAUTHENTICATED') {
      const input = h('input', { type: 'password', 'aria-label': 'API token', placeholder: 'API token', autocomplete: 'off' });
      parts.push(
        h('div', { class: 'token-row' }, input,
          h('button', { type: 'button', class: 'btn', onclick: () => { setApiToken(input.value.trim() || null); toast('API token saved in this browser; send again'); } }, 'Save token'),
        ),
      );
    }
    replaceChildren(this.error, parts);
  }

  close(): void {
    this.el.close();
  }
}

export function button(label: string, onClick: () => void, kind: 'primary' | 'danger' | 'plain' = 'plain'): HTMLButtonElement {
  return h('button', { type: 'button', class: `btn btn-${kind}`, onclick: onClick }, label);
}

/** Runs `send` with the confirm button disabled; on success closes and toasts the server's message. */
export async function sendFrom(d: Dialog, btn: HTMLButtonElement, send: () => Promise<string>): Promise<void> {
  btn.disabled = true;
  d.clearError();
  try {
    const msg = await send();
    d.close();
    toast(msg);
  } catch (e) {
    d.showError(e);
    btn.disabled = false;
    btn.focus();
  }
}

function parseNumber(raw: string): number | null {
  const t = raw.trim().replace(',', '.');
  if (!t) return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : NaN;
}

function sharedBusNote(deviceId: string): string {
  const bus = busOf(deviceId);
  const others = psus().filter((p) => !bus || p.busId === bus.id).map((p) => p.name);
  return `Flatpack2 SET is a broadcast: it applies to every rectifier on ${bus?.id ?? 'the bus'}${others.length ? ` (${others.join(', ')})` : ''}.`;
}

/** Set voltage/current: enter values → review what will be sent → send. */
export function setOutputDialog(deviceId: string): void {
  const bus = busOf(deviceId);
  const lim = bus?.limits;
  const current = deviceId === 'all' ? bus?.setpoint : (state.devices.get(deviceId)?.setpoint ?? bus?.setpoint);
  const d = new Dialog(`Set output — ${deviceName(deviceId)}`, 'set-output-dialog');
  const volts = h('input', { id: 'set-voltage', type: 'text', inputmode: 'decimal', autocomplete: 'off', value: current ? current.voltageV.toFixed(2) : '' });
  const amps = h('input', { id: 'set-current', type: 'text', inputmode: 'decimal', autocomplete: 'off', value: current ? current.currentA.toFixed(1) : '' });

  const form = () =>
    d.show(
      [
        h('label', { for: 'set-voltage' }, 'Voltage (V)'),
        volts,
        lim ? h('p', { class: 'hint' }, `${lim.minVoltageV}–${lim.maxVoltageV} V on ${bus!.id}`) : null,
        h('label', { for: 'set-current' }, 'Current per rectifier (A)'),
        amps,
        lim ? h('p', { class: 'hint' }, `${lim.minCurrentA}–${lim.maxCurrentA} A; V × I is kept within ${lim.powerRatingW} W`) : null,
        h('p', { class: 'note' }, sharedBusNote(deviceId)),
      ],
      [button('Cancel', () => d.close()), button('Review', review, 'primary')],
    );

  const review = () => {
    const v = parseNumber(volts.value);
    const a = parseNumber(amps.value);
    if (v === null || a === null || Number.isNaN(v) || Number.isNaN(a)) {
      d.showError(new Error('enter a voltage and a current as numbers, e.g. 53.5 and 10'));
      return;
    }
    const send = button('Send', () => void sendFrom(d, send, async () => {
      const r = await gql<{ setPsuOutput: { message: string } }>(Q.SET_OUTPUT, { input: { deviceId, voltageV: v, currentA: a } });
      return r.setPsuOutput.message;
    }), 'primary');
    d.show(
      [
        h('p', {}, 'This will send:'),
        h('dl', { class: 'summary', 'data-testid': 'set-summary' },
          h('dt', {}, 'Target'), h('dd', {}, deviceId === 'all' ? 'all rectifiers' : deviceName(deviceId)),
          h('dt', {}, 'Voltage'), h('dd', {}, `${v.toFixed(2)} V`),
          h('dt', {}, 'Current'), h('dd', {}, `${a.toFixed(1)} A per rectifier`),
          lim ? [h('dt', {}, 'OVP'), h('dd', {}, `${lim.ovpV.toFixed(2)} V`)] : [],
        ),
        h('p', { class: 'note' }, sharedBusNote(deviceId)),
      ],
      [button('Back', form), send],
    );
  };
  form();
}

/** A one-step confirmation for actions without values (standby, stop charge). */
export function confirmDialog(opts: { title: string; testId: string; lines: string[]; confirmLabel: string; run: () => Promise<string>; danger?: boolean }): void {
  const d = new Dialog(opts.title, opts.testId);
  const ok = button(opts.confirmLabel, () => void sendFrom(d, ok, opts.run), opts.danger ? 'danger' : 'primary');
  d.show(opts.lines.map((l) => h('p', {}, l)), [button('Cancel', () => d.close()), ok]);
}

export function standbyDialog(deviceId: string): void {
  confirmDialog({
    title: `Standby — ${deviceName(deviceId)}`,
    testId: 'standby-dialog',
    lines: ['This will send the safe idle output 48.00 V / 0.1 A, and keep it as the value restored after a reconnect.', sharedBusNote(deviceId)],
    confirmLabel: 'Standby',
    run: async () => (await gql<{ standby: { message: string } }>(Q.STANDBY, { id: deviceId })).standby.message,
  });
}

export function startChargeDialog(c: Charger): void {
  const d = new Dialog(`Start charge — ${c.name}`, 'start-charge-dialog');
  const amps = h('input', { id: 'charge-current', type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: c.chargeCurrentA != null ? `${c.chargeCurrentA} (configured)` : 'configured current' });
  const form = () =>
    d.show(
      [
        h('label', { for: 'charge-current' }, 'Charge current, total (A) — optional'),
        amps,
        h('p', { class: 'hint' }, 'Leave empty to use the configured charge current.'),
      ],
      [button('Cancel', () => d.close()), button('Review', review, 'primary')],
    );
  const review = () => {
    const a = parseNumber(amps.value);
    if (Number.isNaN(a)) {
      d.showError(new Error('enter the current as a number, or leave it empty'));
      return;
    }
    const start = button('Start charge', () => void sendFrom(d, start, async () => {
      const r = await gql<{ startCharge: Charger }>(Q.START_CHARGE, { id: c.id, currentA: a });
      void loadChargers();
      // The reply says what really happened: a start that ended in an error at once is no "started".
      if (r.startCharge.phase === 'error') throw new Error(`${r.startCharge.name} could not start: ${r.startCharge.stopReason ?? 'error'}`);
      return `${r.startCharge.name}: charging started (${r.startCharge.phase})`;
    }), 'primary');
    d.show(
      [
        h('p', {}, 'This will start a charge:'),
        h('dl', { class: 'summary', 'data-testid': 'start-summary' },
          h('dt', {}, 'Charger'), h('dd', {}, c.name),
          h('dt', {}, 'Current'), h('dd', {}, a === null ? `configured${c.chargeCurrentA != null ? ` (${c.chargeCurrentA} A)` : ''}` : `${a.toFixed(1)} A total`),
          h('dt', {}, 'Target'), h('dd', {}, c.targetVoltageV != null ? `${c.targetVoltageV.toFixed(2)} V` : '—'),
          h('dt', {}, 'Rectifiers'), h('dd', {}, c.psus.map((p) => deviceName(p.id)).join(', ') || '—'),
        ),
        h('p', { class: 'note' }, 'The charger detects the battery at a low voltage first, then ramps up; manual setpoints are refused while it runs.'),
      ],
      [button('Back', form), start],
    );
  };
  form();
}

export function stopChargeDialog(c: Charger): void {
  confirmDialog({
    title: `Stop charge — ${c.name}`,
    testId: 'stop-charge-dialog',
    lines: ['This stops the charge and puts its rectifiers in standby (48.00 V / 0.1 A).'],
    confirmLabel: 'Stop charge',
    danger: true,
    run: async () => {
      const r = await gql<{ stopCharge: Charger }>(Q.STOP_CHARGE, { id: c.id });
      void loadChargers();
      return `${r.stopCharge.name}: ${r.stopCharge.stopReason ?? 'stopped'}`;
    },
  });
}

/**
 * Apply a profile plan: the exact frames, in order, with what each changes, then confirm. The
 * page that opened it shows the progress (`run` subscribes and sends); a refusal stays in the dialog.
 */
export function applyProfileDialog(plan: { id: string; serial: string | null; steps: { index: number; keys: string[]; from: unknown; to: unknown; frameText: string; frameHex: string }[] }, unitName: string, run: () => Promise<string>): void {
  const d = new Dialog(`Apply profile — ${unitName}`, 'apply-profile-dialog');
  const show = (v: unknown) => (Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' / ') : JSON.stringify(v));
  const rows = plan.steps.map((s) =>
    h('tr', {},
      h('th', { scope: 'row' }, String(s.index)),
      h('td', {}, s.keys.join(', ')),
      h('td', {}, `${show(s.from)} → ${show(s.to)}`),
      h('td', {}, h('code', { 'data-testid': 'apply-frame' }, s.frameText)),
      h('td', { class: 'muted small' }, h('code', {}, s.frameHex)),
    ),
  );
  const confirm = button(`Write ${plan.steps.length} frame${plan.steps.length === 1 ? '' : 's'}`, () => void sendFrom(d, confirm, run), 'danger');
  confirm.dataset.testid = 'apply-confirm';
  d.show(
    [
      h('p', {}, `These frames go to inverter ${plan.serial ?? unitName}, one at a time; each is read back (PIRI) before the next, and the first failure stops and rolls back what was changed. Polling of this unit pauses meanwhile.`),
      h('div', { class: 'table-wrap' },
        h('table', { class: 'table' },
          h('thead', {}, h('tr', {}, ['#', 'Keys', 'Change', 'Frame', 'Hex'].map((x) => h('th', { scope: 'col' }, x)))),
          h('tbody', {}, rows),
        ),
      ),
    ],
    [button('Cancel', () => d.close()), confirm],
  );
}
