/**
 * A LiFePO4 pack for simulators: open-circuit voltage from SOC, one series resistance,
 * coulomb counting. Shared by the Flatpack2 simulator (which charges it) and the BMS
 * simulator (which reads it), so both see the same battery. Its curve starts from the
 * charger's OCV table (the simulator imports the charger's, never the other way round).
 */

import { interpolateTable, OCV_TABLE } from '../engine/charger/ocv.js';

/**
 * The curve the simulated pack follows. 0–90 % is the §4.8 table unchanged (so the charger's
 * estimate agrees with the sim there); above 90 % it has a charge knee instead of ending at
 * 3.40 V:
 *
 *   90 % 3.350 → 95 % 3.400 → 97 % 3.450 → 98 % 3.575 → 99.8 % 3.600 → 100 % 3.650 V/cell
 *
 * - The steep 97–98 % rise is the real knee: a 0.1 C CC charge reaches 3.60 V/cell at the
 *   terminals (OCV + I·R) around 98–99 %.
 * - The shallow 98–99.8 % stretch (≈ 0.014 V per %) stands in for the diffusion/polarisation
 *   a pure OCV + I·R model lacks: without it, CV at 3.60 V would taper to the tail in seconds.
 *   With R·capacity/cells ≈ 0.125 V/cell at 1 C (16 cells, 100 Ah, 20 mΩ) the CV phase at
 *   3.60 V/cell goes from 0.1 C to 0.01 C in about 12 simulated minutes (τ ≈ 5.4 min) and ends
 *   near 99.7 % SOC.
 * - The final wall to 3.65 V at 100 % means a CV target of 3.65 V/cell still tapers to zero
 *   instead of pushing current into a full pack forever.
 */
export const SIM_OCV_CURVE: ReadonlyArray<readonly [cellV: number, socPct: number]> = Object.freeze([
  ...OCV_TABLE.filter(([, soc]) => soc <= 90),
  [3.4, 95],
  [3.45, 97],
  [3.575, 98],
  [3.6, 99.8],
  [3.65, 100],
] as const);

/** Simulated cell OCV (V) at a SOC (%), from SIM_OCV_CURVE; clamped at the ends. */
export function cellOcvFromSoc(socPct: number): number {
  return interpolateTable(SIM_OCV_CURVE, 1, 0, socPct);
}

export interface PackParams {
  cells: number;
  capacityAh: number;
  socPct: number;
  /** Whole-pack series resistance (cells + busbars + wiring). */
  internalResistanceOhm: number;
  /** False = the pack's contactor/BMS switch is open: no current flows. Default true. */
  connected?: boolean;
  tempC?: number;
}

export class LiFePO4Pack {
  readonly cells: number;
  readonly capacityAh: number;
  socPct: number;
  connected: boolean;
  internalResistanceOhm: number;
  tempC: number;
  /** Totals since construction, as a shunt would count them. */
  chargedAh = 0;
  dischargedAh = 0;
  private lastA = 0;
  private readonly sources = new Set<{ currentA: () => number }>();

  constructor(p: PackParams) {
    if (!(Number.isInteger(p.cells) && p.cells >= 1)) throw new RangeError(`pack cells must be an integer ≥ 1, got ${p.cells}`);
    if (!(p.capacityAh > 0)) throw new RangeError(`pack capacityAh must be > 0, got ${p.capacityAh}`);
    if (!(p.internalResistanceOhm >= 0)) {
      throw new RangeError(`pack internalResistanceOhm must be ≥ 0, got ${p.internalResistanceOhm}`);
    }
    this.cells = p.cells;
    this.capacityAh = p.capacityAh;
    this.socPct = clampSoc(p.socPct);
    this.internalResistanceOhm = p.internalResistanceOhm;
    this.connected = p.connected ?? true;
    this.tempC = p.tempC ?? 25;
  }

  /** The current of the last `step` (A, > 0 = charging); 0 while disconnected. */
  get lastCurrentA(): number {
    return this.lastA;
  }

  /**
   * Attaches something that drives current into the pack (a Flatpack2 shelf simulator reports
   * the sum of its PSUs' outputs). Returns the detach function.
   */
  attachSource(currentA: () => number): () => void {
    const source = { currentA };
    this.sources.add(source);
    return () => this.sources.delete(source);
  }

  /**
   * The current flowing now (A, > 0 = charging): the sum of what the attached sources deliver
   * at this moment, the one source of truth for every reader (a BMS simulator, tests); 0 while
   * disconnected. With no source attached (a test driving the pack only by `step`), the
   * current of the last step.
   */
  get currentA(): number {
    if (!this.connected) return 0;
    if (this.sources.size === 0) return this.lastA;
    let sum = 0;
    for (const s of this.sources) sum += s.currentA();
    return sum;
  }

  cellOcvV(): number {
    return cellOcvFromSoc(this.socPct);
  }

  /** Pack open-circuit voltage at the present SOC. */
  ocvV(): number {
    return this.cells * cellOcvFromSoc(this.socPct);
  }

  /** Terminal voltage with `currentA` flowing (> 0 = charging): OCV + I·R. */
  terminalV(currentA: number): number {
    return this.ocvV() + currentA * this.internalResistanceOhm;
  }

  /** Coulomb counting over `dtS` seconds. A disconnected pack carries no current. */
  step(currentA: number, dtS: number): void {
    const i = this.connected && Number.isFinite(currentA) ? currentA : 0;
    this.lastA = i;
    if (!(dtS > 0) || i === 0) return;
    const ah = (i * dtS) / 3600;
    if (ah > 0) this.chargedAh += ah;
    else this.dischargedAh -= ah;
    this.socPct = clampSoc(this.socPct + (ah / this.capacityAh) * 100);
  }
}

function clampSoc(soc: number): number {
  if (!(soc > 0)) return 0;
  return soc > 100 ? 100 : soc;
}
