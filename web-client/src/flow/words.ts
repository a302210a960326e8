/**
 * Plain-language helpers for the power flow, pure (no DOM) so they are tested in node
 * (test/web/flow-words.test.ts): power in W/kW, durations in words, time to full/empty.
 */

/** "850 W", "1.6 kW", "12 kW". */
export function watts(w: number | null | undefined): string {
  if (w == null || !Number.isFinite(w)) return '—';
  const a = Math.abs(w);
  if (a < 1000) return `${Math.round(w)} W`;
  return `${(w / 1000).toFixed(a < 10_000 ? 1 : 0)} kW`;
}

/** "45 s", "12 min", "2 h 10 min", "3 d 4 h". */
export function duration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return '—';
  const min = Math.round(ms / 60_000);
  if (ms < 60_000) return `${Math.max(0, Math.round(ms / 1000))} s`;
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h${min % 60 ? ` ${min % 60} min` : ''}`;
  return `${Math.floor(h / 24)} d${h % 24 ? ` ${h % 24} h` : ''}`;
}

/** "just now", "3 min ago", "2 h 5 min ago". */
export function age(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return 'never seen';
  if (ms < 5_000) return 'just now';
  return `${duration(ms)} ago`;
}

/**
 * Time to full (positive current, into the pack) or to empty (negative) at the present rate:
 * the charge left to move divided by the current. Null when any input is unknown or the current
 * is too small to say (|I| < 0.2 A, which would read as days of noise).
 */
export function timeToFullOrEmptyMs(socPct: number | null | undefined, capacityAh: number | null | undefined, currentA: number | null | undefined, minA = 0.2): number | null {
  if (socPct == null || capacityAh == null || currentA == null) return null;
  if (!Number.isFinite(socPct) || !Number.isFinite(capacityAh) || !Number.isFinite(currentA) || capacityAh <= 0) return null;
  if (Math.abs(currentA) < minA) return null;
  const soc = Math.max(0, Math.min(100, socPct));
  const ah = currentA > 0 ? ((100 - soc) / 100) * capacityAh : (soc / 100) * capacityAh;
  return (ah / Math.abs(currentA)) * 3_600_000;
}

/** "14:02" of a server time in ms. */
export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
}

/** A stable device order: the configured ids first in their order, then the rest by role rank then natural name order. */
export function orderDevices<T extends { id: string; name: string }>(items: readonly T[], configured: readonly string[], rank: (t: T) => number = () => 0): T[] {
  const pos = new Map(configured.map((id, i) => [id, i]));
  const coll = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  return [...items].sort((a, b) => {
    const pa = pos.get(a.id);
    const pb = pos.get(b.id);
    if (pa != null || pb != null) return pa == null ? 1 : pb == null ? -1 : pa - pb;
    return rank(a) - rank(b) || coll.compare(a.name, b.name) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  });
}
