/** Tiny DOM helpers: build elements once, then update text in place (so focus survives live updates). */

type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Array<Child | Child[]>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, '').toLowerCase(), v);
    else if (k === 'class') el.className = String(v);
    else if (k === 'text') el.textContent = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el: Element, children: Array<Child | Child[]>): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
}

/** Sets text only when it changed (cheap at 50 updates a second, and keeps selections). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function setAttr(el: Element, name: string, value: string | null): void {
  if (value === null) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

export function replaceChildren(el: Element, ...children: Array<Child | Child[]>): void {
  el.replaceChildren();
  append(el, children);
}

export function fmt(v: number | null | undefined, digits: number, unit = ''): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return `${v.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

export function fmtDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleDateString([], { month: 'short', day: 'numeric' });
}

export function fmtDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  return `${fmtDate(iso)} ${fmtTime(iso)}`;
}

export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.floor(ms / 1000);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  return `${hh}:${String(mm).padStart(2, '0')}:${String(ss).padStart(2, '0')}`;
}

/** A labelled value cell, returning the element whose text is the value. */
export function stat(label: string, testId?: string): { el: HTMLElement; value: HTMLElement } {
  const value = h('span', { class: 'stat-value', 'data-testid': testId }, '—');
  const el = h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, label), value);
  return { el, value };
}

export function toast(text: string, kind: 'ok' | 'error' = 'ok'): void {
  let box = document.getElementById('toasts');
  if (!box) {
    box = h('div', { id: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(box);
  }
  const t = h('div', { class: `toast toast-${kind}` }, text);
  box.append(t);
  setTimeout(() => t.remove(), 5000);
}

/** Removes the toasts of one kind (a "started" that an error has since made untrue). */
export function clearToasts(kind: 'ok' | 'error'): void {
  for (const t of document.querySelectorAll(`#toasts .toast-${kind}`)) t.remove();
}

export interface Row<T> {
  el: HTMLElement;
  update(item: T): void;
}

/** Keeps one element per key in `container`, in item order, updating existing ones in place. */
export class KeyedList<T> {
  private readonly rows = new Map<string, Row<T>>();
  constructor(
    private readonly container: HTMLElement,
    private readonly key: (item: T) => string,
    private readonly create: (item: T) => Row<T>,
  ) {}

  render(items: T[]): void {
    const seen = new Set<string>();
    let prev: Element | null = null;
    for (const item of items) {
      const k = this.key(item);
      seen.add(k);
      let row = this.rows.get(k);
      if (!row) {
        row = this.create(item);
        this.rows.set(k, row);
      }
      row.update(item);
      const want: Element | null = prev ? prev.nextElementSibling : this.container.firstElementChild;
      if (want !== row.el) this.container.insertBefore(row.el, want);
      prev = row.el;
    }
    for (const [k, row] of this.rows) {
      if (!seen.has(k)) {
        row.el.remove();
        this.rows.delete(k);
      }
    }
  }
}

/** The online/offline badge every device card and tile carries. */
export function onlineBadge(): { el: HTMLElement; set(online: boolean, text?: string): void } {
  const el = h('span', { class: 'badge' });
  return {
    el,
    set(online, text) {
      setText(el, text ?? (online ? 'online' : 'offline'));
      setAttr(el, 'data-online', String(online));
    },
  };
}
