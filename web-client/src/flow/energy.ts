/**
 * Energy today / this week / this month, per kind of flow and per device, from the server's
 * energy query (pure helpers here: tested in node, test/web/energy-words.test.ts).
 */
export interface EnergyRow {
  day: string;
  deviceId: string;
  kind: string;
  what: string;
  wh: number;
  whReverse: number;
  /** The reverse flow in words, from the family's config entry (null: a one-way device). */
  reverseWhat?: string | null;
}

export interface EnergyLine {
  /** "delivered by the rectifiers", "charged into the battery", "taken from the battery". */
  what: string;
  today: number;
  week: number;
  month: number;
  /** The same per device, in the order the rows name them. */
  devices: Array<{ deviceId: string; today: number; week: number; month: number }>;
}

/** YYYY-MM-DD of a local date. */
export function localDay(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** The first day of the 7-day week ending today, and of the calendar month. */
export function periodStarts(today: string): { week: string; month: string } {
  const [y, m, d] = today.split('-').map(Number);
  const w = new Date(Date.UTC(y, m - 1, d - 6));
  return { week: w.toISOString().slice(0, 10), month: `${today.slice(0, 7)}-01` };
}

/** Totals per flow (what), summed over devices and per device, for today / the last 7 days / this month. */
export function energyTotals(rows: readonly EnergyRow[], today: string): EnergyLine[] {
  const { week, month } = periodStarts(today);
  const lines = new Map<string, EnergyLine>();
  const add = (what: string, deviceId: string, day: string, wh: number) => {
    if (!(wh > 0)) return;
    const l = lines.get(what) ?? { what, today: 0, week: 0, month: 0, devices: [] };
    let d = l.devices.find((x) => x.deviceId === deviceId);
    if (!d) l.devices.push((d = { deviceId, today: 0, week: 0, month: 0 }));
    for (const x of [l, d]) {
      if (day === today) x.today += wh;
      if (day >= week && day <= today) x.week += wh;
      if (day >= month && day <= today) x.month += wh;
    }
    lines.set(what, l);
  };
  for (const r of rows) {
    add(r.what, r.deviceId, r.day, r.wh);
    if (r.reverseWhat) add(r.reverseWhat, r.deviceId, r.day, r.whReverse);
  }
  return [...lines.values()];
}

/** Per day, per flow: the bar chart's data (days ascending, the last `n` days ending today). */
export function energyPerDay(rows: readonly EnergyRow[], today: string, n = 14): Array<{ day: string; byWhat: Record<string, number> }> {
  const [y, m, d] = today.split('-').map(Number);
  const days = Array.from({ length: n }, (_, i) => new Date(Date.UTC(y, m - 1, d - (n - 1 - i))).toISOString().slice(0, 10));
  return days.map((day) => {
    const byWhat: Record<string, number> = {};
    for (const r of rows) if (r.day === day && r.wh > 0) byWhat[r.what] = (byWhat[r.what] ?? 0) + r.wh;
    return { day, byWhat };
  });
}

/** "850 Wh", "12.4 kWh". */
export function energyText(wh: number): string {
  return wh < 1000 ? `${Math.round(wh)} Wh` : `${(wh / 1000).toFixed(wh < 100_000 ? 1 : 0)} kWh`;
}
