/**
 * Energy per device and day, from the store's samples: the power each sample reports,
 * integrated over time (trapezoids; a gap longer than MAX_GAP_MS counts nothing, the device was
 * away). One function for the dashboard's energy today / week / month: the rollups another
 * branch adds can replace its body without changing its callers.
 *
 * Which value is a device kind's power comes from its family's config entry (`energy`, in
 * src/families/<kind>/config.ts; registry.ts `energySources`).
 */
import type { Store } from './store.js';

export const MAX_GAP_MS = 60_000;

type Values = Record<string, unknown>;
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A kind's power in W from one sample: + in its main direction (delivered, charged, produced), − the other way. */
export interface EnergySource {
  what: string;
  reverse?: string;
  power(v: Values): number | null;
}

/** v[a] × v[b] when both are finite numbers (a power from a voltage and a current). */
export function mul(a: unknown, b: unknown): number | null {
  const x = num(a);
  const y = num(b);
  return x === null || y === null ? null : x * y;
}

export { num as finiteOrNull };

export interface EnergyDay {
  /** The local day, YYYY-MM-DD, in the caller's time zone offset. */
  day: string;
  deviceId: string;
  kind: string;
  /** Wh in the main direction (delivered, charged, produced). */
  wh: number;
  /** Wh the other way (discharged); 0 for one-way devices. */
  whReverse: number;
}

/** The local day of `ts` for a zone `tzOffsetMin` minutes east of UTC. */
export function dayOf(ts: number, tzOffsetMin: number): string {
  return new Date(ts + tzOffsetMin * 60_000).toISOString().slice(0, 10);
}

/** Energy per device and local day over [from, to), from plain sample queries. */
export function energyByDay(
  store: Pick<Store, 'telemetry'>,
  opts: { from: number; to: number; tzOffsetMin: number; devices: ReadonlyArray<{ id: string; kind: string }>; sources: Readonly<Record<string, EnergySource>> },
): EnergyDay[] {
  const out = new Map<string, EnergyDay>();
  for (const d of opts.devices) {
    const p = opts.sources[d.kind];
    if (!p) continue;
    const rows = store.telemetry(d.id, opts.from, opts.to, Number.MAX_SAFE_INTEGER);
    let prev: { ts: number; w: number } | null = null;
    for (const r of rows) {
      const w = p.power(r.values as Values);
      if (w === null) {
        prev = null;
        continue;
      }
      if (prev && r.ts > prev.ts && r.ts - prev.ts <= MAX_GAP_MS) {
        const wh = (((prev.w + w) / 2) * (r.ts - prev.ts)) / 3_600_000;
        const day = dayOf(prev.ts, opts.tzOffsetMin);
        const key = `${d.id}|${day}`;
        const acc = out.get(key) ?? { day, deviceId: d.id, kind: d.kind, wh: 0, whReverse: 0 };
        if (wh >= 0) acc.wh += wh;
        else acc.whReverse += -wh;
        out.set(key, acc);
      }
      prev = { ts: r.ts, w };
    }
  }
  return [...out.values()].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : a.deviceId < b.deviceId ? -1 : 1));
}
