/**
 * The charger's resting-voltage SOC estimate (flatpack2-charger-behaviour.md §4.8): a pure
 * table and its lookup. Charger policy uses it; the simulated pack builds its curve on it.
 */

/**
 * Per-cell OCV → SOC table of the mti-sk charger (flatpack2-charger-behaviour.md §4.8).
 * The charger's SOC estimate interpolates it; it ends at 3.40 V = 100 %.
 */
export const OCV_TABLE: ReadonlyArray<readonly [cellV: number, socPct: number]> = Object.freeze([
  [2.8, 0],
  [3.0, 5],
  [3.12, 10],
  [3.22, 20],
  [3.25, 30],
  [3.27, 40],
  [3.28, 50],
  [3.29, 60],
  [3.3, 70],
  [3.32, 80],
  [3.35, 90],
  [3.4, 100],
] as const);

/** SOC (%) from a resting cell voltage by the §4.8 table; linear, clamped to 0..100. */
export function socFromCellVoltage(cellV: number): number {
  return interpolateTable(OCV_TABLE, 0, 1, cellV);
}

/** Piecewise-linear lookup of column `out` by column `by` (ascending), clamped; NaN → first row. */
export function interpolateTable(table: ReadonlyArray<readonly [number, number]>, by: 0 | 1, out: 0 | 1, x: number): number {
  const first = table[0];
  const last = table[table.length - 1];
  if (!(x > first[by])) return first[out];
  if (x >= last[by]) return last[out];
  for (let i = 1; i < table.length; i++) {
    const hi = table[i];
    if (x <= hi[by]) {
      const lo = table[i - 1];
      return lo[out] + ((x - lo[by]) / (hi[by] - lo[by])) * (hi[out] - lo[out]);
    }
  }
  return last[out];
}
