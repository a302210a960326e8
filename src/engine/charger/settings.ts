/**
 * LiFePO4 charger settings: the `[charger]` keys of the original (flatpack2-charger-behaviour.md
 * §1) with their defaults, and the validation the original never did up front. The config
 * loader, `updateChargerSettings` and the machine's `start` check them with the command gate's
 * `validateChargerSettings` (src/engine/gate.ts), so an invalid configuration never reaches the PSUs.
 */

export interface ChargerSettings {
  cellCount: number;
  /** Per-cell CV voltage; target = round(cellCount × cellVoltageMaxV, 3), floored to 0.01 V. */
  cellVoltageMaxV: number;
  /** Only used by the SOC estimate. */
  capacityAh: number;
  /** CC current, TOTAL over the PSU group (A). */
  chargeCurrentA: number;
  /** End-of-charge current, total (A). */
  tailCurrentA: number;
  /** Counted from RAMP entry (time spent in RAMP/CC/CV). */
  safetyTimeLimitMin: number;
  detectVoltageV: number;
  /** Per PSU: the DETECT probe is one broadcast SET(detectVoltageV, detectCurrentA). */
  detectCurrentA: number;
  detectThresholdV: number;
  /** Total over the group. */
  minCurrentDetectA: number;
  disconnectDetectTimeS: number;
  rampStepVoltageV: number;
  rampStepIntervalS: number;
  voltageToleranceV: number;
  autoStart: boolean;
  /** New: DETECT without a battery gives up after this long (→ error with a reason). */
  detectTimeoutMin: number;
}

/**
 * §1 fallbacks, except cellVoltageMaxV: the original's 3.65 V gives a 58.4 V target that no
 * Flatpack2 can deliver, so every start failed without a config (§7 #10). We default to the
 * shipped flatpack2_charger.conf value 3.60 V (16 × 3.60 = 57.6 V, the PSU maximum).
 */
export const DEFAULT_CHARGER_SETTINGS: Readonly<ChargerSettings> = Object.freeze({
  cellCount: 16,
  cellVoltageMaxV: 3.6,
  capacityAh: 100,
  chargeCurrentA: 20,
  tailCurrentA: 2,
  safetyTimeLimitMin: 600,
  detectVoltageV: 48,
  detectCurrentA: 0.2,
  detectThresholdV: 1,
  minCurrentDetectA: 0.5,
  disconnectDetectTimeS: 5,
  rampStepVoltageV: 0.1,
  rampStepIntervalS: 5,
  voltageToleranceV: 0.1,
  autoStart: true,
  detectTimeoutMin: 30,
});

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** round(cellCount × cellVoltageMaxV, 3) as the original computes it (used for validation). */
export function nominalTargetV(s: Pick<ChargerSettings, 'cellCount' | 'cellVoltageMaxV'>): number {
  return round3(s.cellCount * s.cellVoltageMaxV);
}

/**
 * The CV target the machine sets: the nominal target floored to the wire's 0.01 V, so the
 * encoded value never exceeds it (the original rounded 55.296 V up to 55.30 V on the wire).
 */
export function chargeTargetV(s: Pick<ChargerSettings, 'cellCount' | 'cellVoltageMaxV'>): number {
  return Math.floor(nominalTargetV(s) * 100 + 1e-6) / 100;
}



/** The numeric settings (everything but autoStart); the API exposes exactly these. */
export const CHARGER_NUMERIC_KEYS = [
  'cellCount',
  'cellVoltageMaxV',
  'capacityAh',
  'chargeCurrentA',
  'tailCurrentA',
  'safetyTimeLimitMin',
  'detectVoltageV',
  'detectCurrentA',
  'detectThresholdV',
  'minCurrentDetectA',
  'disconnectDetectTimeS',
  'rampStepVoltageV',
  'rampStepIntervalS',
  'voltageToleranceV',
  'detectTimeoutMin',
] as const satisfies ReadonlyArray<keyof ChargerSettings>;
