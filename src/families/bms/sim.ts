/**
 * The device side of a Deye (or Pylontech-dialect) low-voltage battery stack on CAN, per
 * /work/shared/protocols/bms-can-simulation.md. The stack is N parallel 16S modules (default 2)
 * whose master transmits one burst of frames per second on the PCS port.
 *
 * It owns no battery model: every cycle it READS the shared `LiFePO4Pack` (the one the Flatpack2
 * simulator charges) — SOC, terminal voltage, the last current, temperature, the Ah counters —
 * and derives the per-module and per-cell detail from it. It never changes the pack: a real BMS
 * would open its MOSFETs on a protection; here that is only reported (0x110 byte 7, limits 0,
 * request flags), which is what an inverter or charger has to obey anyway.
 *
 * Derivations and choices where the references are silent (tests rely on them):
 * - Modules share the pack current 52 %/48 % (N = 2; ±4 % in general); module SOC = pack SOC
 *   ±0.2 % per module (clamped); module capacity = pack capacity / N.
 * - Cells: pack terminal voltage / cells, ±1 mV per module, plus a fixed per-cell spread of 3 mV
 *   between 20 and 90 % SOC, widening linearly to 15 mV at 0 % and 100 %.
 * - Temperatures: pack.tempC plus self-heating (≈1 °C per 10 min at 0.5 C, τ = 1 h, steady rise
 *   6 °C × (C-rate / 0.5)²), ±0.3 °C per module, ±0.5 °C between a module's hottest and coldest
 *   sensor; MOS = cell + 2 °C + 4 °C per C. No heater (0x250 heater = -40.0 °C).
 * - Rated current per module: module capacity × 1 C (option `moduleCurrentLimitA`).
 * - Charge limit per module: rated up to 90 % SOC, linear taper to 10 % of rated at 98 %, 10 %
 *   from 98 % up, 0 once "full" (reported SOC 100 % or any cell ≥ 3.60 V; released below 96 %
 *   SOC with every cell < 3.45 V). Discharge limit: rated above 10 % SOC, linear to 0 at 5 %,
 *   0 once "empty" (SOC ≤ 5 % or any cell ≤ 2.80 V; released at ≥ 7 % with every cell > 3.00 V).
 *   A protection that concerns a direction sets that direction's limit to 0. Stack limits
 *   (0x351, and the same pair in 0x371) = the sum over the modules the master hears.
 * - Thresholds (alarm / protection / protection release): cell 3.62 / 3.65 / < 3.45 V high,
 *   2.90 / 2.70 / > 3.00 V low; module = cells × the same per-cell values for high, 2.90 / 2.75 /
 *   3.00 for low; charge temp 50 / 55 / < 50 °C high, 5 / 0 / ≥ 3 °C low; discharge temp
 *   55 / 60 / < 55 °C high, -10 / -20 / ≥ -15 °C low; cell delta 0.30 / 0.50 / < 0.20 V; temp
 *   delta 10 / 15 / < 8 °C; MOS 80 / 90 / < 75 °C; over-current > 1.05 × rated is an alarm at
 *   once and a protection after 2 s, held ≥ 60 s. Alarms clear 3 s after the condition is gone.
 *   Conditions are evaluated once per cycle, so an injection shows in the next burst.
 * - A silenced module (index ≥ 2) is "lost" to the master after 3 s (3 missed bursts): 0x364 byte 3, byte 0
 *   drops, 'internal-comm-fail' in 0x359, and its values leave the stack aggregates (voltage,
 *   current, SOC, limits, extremes). Module 1 is the master: silencing it stops only its own
 *   per-module frames.
 * - 0x305: the reference does not say a Deye stops talking without it, so the stack keeps
 *   transmitting. Once a heartbeat has been heard (or from start with `expectHeartbeat`),
 *   `pcsTimeoutMs` (10 s) without one raises 'pcs-comm-fail' (0x359 byte 3 bit 6).
 * - 0x35C: force-charge I+II below 20 % SOC until above 23 %; "full charge" when SOC has not
 *   reached 97 % for `fullChargeIntervalMs` (30 days), cleared at ≥ 97 %.
 * - Lifetime energy counters follow the pack's Ah counters × terminal voltage, split by the
 *   module shares; the cycle counter counts one per module-nominal kWh discharged.
 * - Dialect: `dialect` (or `setDialect`) picks the wire format AND the 0x35E identity it sends
 *   ("DY001…" / "PYLON   "), independent of what the driver on the other side is configured
 *   for, so a test can put a Pylontech-speaking stack on a deye config. `setIdentity` replaces
 *   the 0x35E (another maker's text, or none at all) to test the dialect check.
 * - Not modelled: start-up join of module 2 (it is "parallel done" from the first burst), the
 *   fuse/system-error scenarios, the inverter-side 0x305 (that is the driver's), and the
 *   Waveshare serial fault injection (that belongs to the adapter simulator).
 */
import type { Clock, TimerHandle } from '../../clock.js';
import type { CanFrame } from '../can/types.js';
import type { LiFePO4Pack } from '../../sim/lifepo4-pack.js';
import {
  BMS_ID,
  encodeAlarms,
  encodeCellExtremes,
  encodeChargeLimits,
  encodeDeyeIdentity,
  encodeMeasurements,
  encodeModuleCells,
  encodeModuleCounts,
  encodeModuleEnergy,
  encodeModuleFaults,
  encodeModuleSerial,
  encodeModuleState,
  encodeModuleStatus,
  encodeModuleTempsLimits,
  encodeModuleTripCounts1,
  encodeModuleTripCounts2,
  encodeModuleVersion,
  encodeOnGridLimits,
  encodePylonIdentity,
  encodeRequests,
  encodeSoc,
  encodeVersions,
  MAX_MODULES,
  type BmsDialect,
} from './codec.js';

export interface BmsSimOptions {
  clock: Clock;
  send: (frame: CanFrame) => void;
  /** The shared pack (read only). */
  pack: LiFePO4Pack;
  dialect: BmsDialect;
  /** Modules in the stack; default 2. */
  modules?: number;
  /** One burst per cycle; default 1000 ms (bms-can.md §1). */
  cyclePeriodMs?: number;
  /** Spacing of the frames inside a burst; default 1 ms, 0 = all at once. */
  frameGapMs?: number;
  /** Slow identity/counter frames (0x500…0x750) every this many cycles; default 1. */
  slowFramesEvery?: number;
  /** Shuffle the burst order (the driver must not depend on it). Default false. */
  shuffle?: boolean;
  /** Uniform [0, 1) source for shuffling; default Math.random. */
  random?: () => number;
  /** Rated current per module (A); default module capacity × 1 C. */
  moduleCurrentLimitA?: number;
  /** 0x351 charge voltage; default 3.60 V × cells (57.6 V for 16S). */
  chargeVoltageV?: number;
  /** 0x351 discharge cut-off; default 3.00 V × cells (48.0 V for 16S). */
  dischargeVoltageV?: number;
  /** 0x35E cell type code; default 3 (EVE 100 Ah). */
  cellTypeCode?: number;
  sohPct?: number;
  /** Time without 0x305 before 'pcs-comm-fail'; default 10 s. */
  pcsTimeoutMs?: number;
  /** Raise 'pcs-comm-fail' even if no 0x305 was ever heard. Default false. */
  expectHeartbeat?: boolean;
  /** Silence before the master counts a module as lost; default 3 s. */
  lostAfterMs?: number;
  /** SOC must reach 97 % at least this often or "full charge" is requested; default 30 days. */
  fullChargeIntervalMs?: number;
  /** 0x35E: 'auto' = the dialect's own identity (default), null = none, a string = that ASCII text (≤ 8 chars). */
  identity?: 'auto' | string | null;
}

/** Ground truth of one module at the last cycle (for tests and the demo UI). */
export interface BmsSimModuleView {
  index: number;
  silent: boolean;
  lost: boolean;
  /** + = charging. */
  currentA: number;
  voltageV: number;
  socPct: number;
  sohPct: number;
  cellsV: number[];
  cellHighV: number;
  cellLowV: number;
  tempHighC: number;
  tempLowC: number;
  mosTempC: number;
  chargeCurrentLimitA: number;
  dischargeCurrentLimitA: number;
  protections: string[];
  alarms: string[];
  cycles: number;
  chargedKWh: number;
  dischargedKWh: number;
  balancingBits: number;
  full: boolean;
  empty: boolean;
}

/** Ground truth of the stack at the last cycle: exactly what the burst encodes. */
export interface BmsSimView {
  at: number;
  dialect: BmsDialect;
  socPct: number;
  sohPct: number;
  voltageV: number;
  /** + = charging. */
  currentA: number;
  tempC: number;
  cellHighV: number;
  cellLowV: number;
  tempHighC: number;
  tempLowC: number;
  chargeVoltageLimitV: number;
  dischargeVoltageV: number;
  chargeCurrentLimitA: number;
  dischargeCurrentLimitA: number;
  protections: string[];
  alarms: string[];
  requestFlags: string[];
  counts: { normal: number; chargeBlocked: number; dischargeBlocked: number; lost: number; total: number };
  modules: BmsSimModuleView[];
}

export interface BmsSimStats {
  frames: number;
  bursts: number;
  /** 0x305 frames received. */
  heartbeats: number;
  /** Bursts skipped because the bus was still more than a period behind (see burst()). */
  skippedBursts: number;
  /** Frames of the skipped bursts. */
  skippedFrames: number;
}

interface Reading {
  currentA: number;
  ratedA: number;
  cells: number;
  voltageV: number;
  cellHighV: number;
  cellLowV: number;
  tempHighC: number;
  tempLowC: number;
  mosTempC: number;
}

type TripCounter =
  | 'overCharge'
  | 'overDischarge'
  | 'shortCircuit'
  | 'mosOverTemp'
  | 'chargeOverCurrent'
  | 'dischargeOverCurrent'
  | 'chargeOverTemp'
  | 'dischargeOverTemp';

interface CondDef {
  /** Deye protection name (table 1–4). */
  prot: string;
  /** Deye alarm name (table 5–6). */
  alarm: string;
  alarmOn(r: Reading): boolean;
  tripOn(r: Reading): boolean;
  release(r: Reading): boolean;
  tripAfterMs?: number;
  holdMs?: number;
  counter?: TripCounter;
  blocksCharge: boolean;
  blocksDischarge: boolean;
}

interface CondState {
  alarm: boolean;
  alarmLastTrueAt: number;
  trip: boolean;
  trippedAt: number;
  since: number | null;
}

const ALARM_CLEAR_MS = 3000;
const OVER_CURRENT_FACTOR = 1.05;
const FULL_CELL_V = 3.6;
const EMPTY_CELL_V = 2.8;

const CONDITIONS: readonly CondDef[] = [
  { prot: 'cell-over-voltage', alarm: 'cell-high-voltage', alarmOn: (r) => r.cellHighV >= 3.62, tripOn: (r) => r.cellHighV >= 3.65, release: (r) => r.cellHighV < 3.45, counter: 'overCharge', blocksCharge: true, blocksDischarge: false },
  { prot: 'cell-under-voltage', alarm: 'cell-low-voltage', alarmOn: (r) => r.cellLowV <= 2.9, tripOn: (r) => r.cellLowV <= 2.7, release: (r) => r.cellLowV > 3.0, counter: 'overDischarge', blocksCharge: false, blocksDischarge: true },
  { prot: 'module-over-voltage', alarm: 'module-high-voltage', alarmOn: (r) => r.voltageV >= 3.62 * r.cells, tripOn: (r) => r.voltageV >= 3.65 * r.cells, release: (r) => r.voltageV < 3.45 * r.cells, blocksCharge: true, blocksDischarge: false },
  { prot: 'module-under-voltage', alarm: 'module-low-voltage', alarmOn: (r) => r.voltageV <= 2.9 * r.cells, tripOn: (r) => r.voltageV <= 2.75 * r.cells, release: (r) => r.voltageV >= 3.0 * r.cells, blocksCharge: false, blocksDischarge: true },
  { prot: 'charge-over-current', alarm: 'charge-high-current', alarmOn: (r) => r.currentA > r.ratedA * OVER_CURRENT_FACTOR, tripOn: (r) => r.currentA > r.ratedA * OVER_CURRENT_FACTOR, release: (r) => r.currentA <= r.ratedA, tripAfterMs: 2000, holdMs: 60_000, counter: 'chargeOverCurrent', blocksCharge: true, blocksDischarge: false },
  { prot: 'discharge-over-current', alarm: 'discharge-high-current', alarmOn: (r) => -r.currentA > r.ratedA * OVER_CURRENT_FACTOR, tripOn: (r) => -r.currentA > r.ratedA * OVER_CURRENT_FACTOR, release: (r) => -r.currentA <= r.ratedA, tripAfterMs: 2000, holdMs: 60_000, counter: 'dischargeOverCurrent', blocksCharge: false, blocksDischarge: true },
  { prot: 'cell-over-temp-charge', alarm: 'cell-high-temp-charge', alarmOn: (r) => r.tempHighC >= 50, tripOn: (r) => r.tempHighC >= 55, release: (r) => r.tempHighC < 50, counter: 'chargeOverTemp', blocksCharge: true, blocksDischarge: false },
  { prot: 'cell-under-temp-charge', alarm: 'cell-low-temp-charge', alarmOn: (r) => r.tempLowC <= 5, tripOn: (r) => r.tempLowC <= 0, release: (r) => r.tempLowC >= 3, blocksCharge: true, blocksDischarge: false },
  { prot: 'cell-over-temp-discharge', alarm: 'cell-high-temp-discharge', alarmOn: (r) => r.tempHighC >= 55, tripOn: (r) => r.tempHighC >= 60, release: (r) => r.tempHighC < 55, counter: 'dischargeOverTemp', blocksCharge: false, blocksDischarge: true },
  { prot: 'cell-under-temp-discharge', alarm: 'cell-low-temp-discharge', alarmOn: (r) => r.tempLowC <= -10, tripOn: (r) => r.tempLowC <= -20, release: (r) => r.tempLowC >= -15, blocksCharge: false, blocksDischarge: true },
  { prot: 'cell-voltage-difference', alarm: 'cell-voltage-difference', alarmOn: (r) => r.cellHighV - r.cellLowV >= 0.3, tripOn: (r) => r.cellHighV - r.cellLowV >= 0.5, release: (r) => r.cellHighV - r.cellLowV < 0.2, blocksCharge: true, blocksDischarge: true },
  { prot: 'cell-temp-difference', alarm: 'cell-temp-difference', alarmOn: (r) => r.tempHighC - r.tempLowC >= 10, tripOn: (r) => r.tempHighC - r.tempLowC >= 15, release: (r) => r.tempHighC - r.tempLowC < 8, blocksCharge: true, blocksDischarge: true },
  { prot: 'mos-over-temp', alarm: 'mos-high-temp', alarmOn: (r) => r.mosTempC >= 80, tripOn: (r) => r.mosTempC >= 90, release: (r) => r.mosTempC < 75, counter: 'mosOverTemp', blocksCharge: true, blocksDischarge: true },
];

/** Deye names → the coarser Pylontech 0x359 bits (§3.5); unmapped faults become 'system-error'. */
const PYLON_PROTECTION_OF: Readonly<Record<string, string | null>> = {
  'cell-over-voltage': 'over-voltage',
  'module-over-voltage': 'over-voltage',
  'cell-under-voltage': 'under-voltage',
  'module-under-voltage': 'under-voltage',
  'cell-over-temp-charge': 'over-temp',
  'cell-over-temp-discharge': 'over-temp',
  'mos-over-temp': 'over-temp',
  'cell-under-temp-charge': 'under-temp',
  'cell-under-temp-discharge': 'under-temp',
  'charge-over-current': 'charge-over-current',
  'discharge-over-current': 'discharge-over-current',
  // Pylontech has this as an alarm bit (byte 3 bit 3), and no PCS-comm bit at all.
  'internal-comm-fail': null,
  'pcs-comm-fail': null,
};
const PYLON_ALARM_OF: Readonly<Record<string, string>> = {
  'cell-high-voltage': 'high-voltage',
  'module-high-voltage': 'high-voltage',
  'cell-low-voltage': 'low-voltage',
  'module-low-voltage': 'low-voltage',
  'cell-high-temp-charge': 'high-temp',
  'cell-high-temp-discharge': 'high-temp',
  'mos-high-temp': 'high-temp',
  'cell-low-temp-charge': 'low-temp',
  'cell-low-temp-discharge': 'low-temp',
  'charge-high-current': 'charge-high-current',
  'discharge-high-current': 'discharge-high-current',
};

interface ModuleModel {
  index: number;
  share: number;
  socOffsetPct: number;
  cellOffsetV: number;
  tempOffsetC: number;
  serial: string;
  silent: boolean;
  /** Bursts this module has missed while silent (the master counts these). */
  missedCycles: number;
  conds: CondState[];
  full: boolean;
  empty: boolean;
  chargedKWh: number;
  dischargedKWh: number;
  dischargedSinceCycleKWh: number;
  cycles: number;
  trips: Record<TripCounter, number>;
  forcedCellV: number | null;
  forcedTempC: number | null;
  view: BmsSimModuleView | null;
}

export class BmsSim {
  readonly pack: LiFePO4Pack;
  readonly stats: BmsSimStats = { frames: 0, bursts: 0, heartbeats: 0, skippedBursts: 0, skippedFrames: 0 };

  private readonly clock: Clock;
  private readonly sendFn: (frame: CanFrame) => void;
  private readonly random: () => number;
  private readonly periodMs: number;
  private readonly gapMs: number;
  private readonly slowEvery: number;
  private readonly shuffle: boolean;
  private readonly cells: number;
  private readonly moduleCapacityAh: number;
  private readonly ratedA: number;
  private readonly chargeVoltageV: number;
  private readonly dischargeVoltageV: number;
  private readonly cellTypeCode: number;
  private readonly sohPct: number;
  private readonly pcsTimeoutMs: number;
  private readonly expectHeartbeat: boolean;
  private readonly lostAfterMs: number;
  private readonly fullChargeIntervalMs: number;
  private readonly models: ModuleModel[] = [];

  private dialectNow: BmsDialect;
  private identity: 'auto' | string | null;
  private running = false;
  private allSilent = false;
  private cycleTimer: TimerHandle | undefined;
  private firstTimer: TimerHandle | undefined;
  private burstTimer: TimerHandle | undefined;
  private readonly queue: Array<{ frame: CanFrame; due: number }> = [];
  private cycleNo = 0;
  private lastCycleAt = 0;
  private startedAt = 0;
  private heatRiseC = 0;
  private lastChargedAh = 0;
  private lastDischargedAh = 0;
  private lastHeartbeatAt: number | null = null;
  private forceCharge = false;
  private lastSoc97At = 0;
  private lastView: BmsSimView | null = null;

  constructor(opts: BmsSimOptions) {
    this.clock = opts.clock;
    this.sendFn = opts.send;
    this.pack = opts.pack;
    this.dialectNow = opts.dialect;
    this.identity = opts.identity ?? 'auto';
    this.random = opts.random ?? Math.random;
    this.periodMs = opts.cyclePeriodMs ?? 1000;
    this.gapMs = opts.frameGapMs ?? 1;
    this.slowEvery = Math.max(1, Math.round(opts.slowFramesEvery ?? 1));
    this.shuffle = opts.shuffle ?? false;
    const n = opts.modules ?? 2;
    if (!Number.isInteger(n) || n < 1 || n > MAX_MODULES) throw new RangeError(`BmsSim: modules must be an integer 1..${MAX_MODULES}, got ${n}`);
    if (!(this.periodMs > 0)) throw new RangeError(`BmsSim: cyclePeriodMs must be > 0, got ${opts.cyclePeriodMs}`);
    if (!(this.gapMs >= 0)) throw new RangeError(`BmsSim: frameGapMs must be ≥ 0, got ${opts.frameGapMs}`);
    this.cells = this.pack.cells;
    this.moduleCapacityAh = this.pack.capacityAh / n;
    this.ratedA = opts.moduleCurrentLimitA ?? Math.round(this.moduleCapacityAh);
    this.chargeVoltageV = opts.chargeVoltageV ?? round(3.6 * this.cells, 1);
    this.dischargeVoltageV = opts.dischargeVoltageV ?? round(3.0 * this.cells, 1);
    this.cellTypeCode = opts.cellTypeCode ?? 3;
    this.sohPct = opts.sohPct ?? 100;
    this.pcsTimeoutMs = opts.pcsTimeoutMs ?? 10_000;
    this.expectHeartbeat = opts.expectHeartbeat ?? false;
    this.lostAfterMs = opts.lostAfterMs ?? 3000;
    this.fullChargeIntervalMs = opts.fullChargeIntervalMs ?? 30 * 24 * 3600_000;
    const mid = (n + 1) / 2;
    const halfSpan = n > 1 ? (n - 1) / 2 : 1;
    for (let m = 1; m <= n; m++) {
      this.models.push({
        index: m,
        // N = 2: 52 % / 48 %.
        share: (1 + (0.04 * (mid - m)) / halfSpan) / n,
        socOffsetPct: n === 1 ? 0 : (0.4 * (m - mid)) / halfSpan / 2,
        cellOffsetV: n === 1 ? 0 : (0.002 * (mid - m)) / halfSpan / 2,
        tempOffsetC: n === 1 ? 0 : (0.6 * (m - mid)) / halfSpan / 2,
        serial: `DYSIM${String(m).padStart(11, '0')}`,
        silent: false,
        missedCycles: 0,
        conds: CONDITIONS.map(() => ({ alarm: false, alarmLastTrueAt: 0, trip: false, trippedAt: 0, since: null })),
        full: false,
        empty: false,
        // Start values echo the seed's module (bms-can.md §7 #11, #12).
        chargedKWh: 508.916 + 1.137 * (m - 1),
        dischargedKWh: 487.052 + 0.981 * (m - 1),
        dischargedSinceCycleKWh: 0,
        cycles: 11,
        trips: { overCharge: 0, overDischarge: 0, shortCircuit: 0, mosOverTemp: 0, chargeOverCurrent: 0, dischargeOverCurrent: 0, chargeOverTemp: 0, dischargeOverTemp: 0 },
        forcedCellV: null,
        forcedTempC: null,
        view: null,
      });
    }
  }

  get dialect(): BmsDialect {
    return this.dialectNow;
  }

  /** The stack as the last burst reported it; null before the first cycle. */
  view(): BmsSimView | null {
    return this.lastView;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const now = this.clock.now();
    this.startedAt = now;
    this.lastCycleAt = now;
    this.lastSoc97At = now;
    this.lastChargedAh = this.pack.chargedAh;
    this.lastDischargedAh = this.pack.dischargedAh;
    // First burst on the next timer turn (listeners attach after start), then every period.
    this.firstTimer = this.clock.setTimeout(() => this.cycle(), 0);
    this.cycleTimer = this.clock.setInterval(() => this.cycle(), this.periodMs);
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.clock.clearTimeout(this.firstTimer);
    this.clock.clearInterval(this.cycleTimer);
    this.clock.clearTimeout(this.burstTimer);
    this.firstTimer = this.cycleTimer = this.burstTimer = undefined;
    this.queue.length = 0;
  }

  /** A frame from the bus: only the inverter's 0x305 heartbeat matters to the stack. */
  receive(frame: CanFrame): void {
    if (!this.running || frame.extended || frame.remote) return;
    if (frame.id === BMS_ID.HEARTBEAT) {
      this.stats.heartbeats++;
      this.lastHeartbeatAt = this.clock.now();
    }
  }

  /** Speak the other dialect from the next burst on (frames and 0x35E identity). */
  setDialect(dialect: BmsDialect): void {
    this.dialectNow = dialect;
  }

  /** 0x35E from the next burst on: 'auto' = the dialect's own, null = none, a string = that text. */
  setIdentity(identity: 'auto' | string | null): void {
    this.identity = identity;
  }

  private identityFrame(): CanFrame[] {
    if (this.identity === null) return [];
    if (this.identity !== 'auto') return [encodePylonIdentity(this.identity)];
    return [this.dialectNow === 'deye' ? encodeDeyeIdentity({ model: '001', cellTypeCode: this.cellTypeCode, capacityAh: this.pack.capacityAh }) : encodePylonIdentity()];
  }

  /** Forces one cell of a module (default module 1, cell 5) to `cellV` (default 3.66 V: alarm and protection). */
  injectCellOverVoltage(on: boolean, opts: { module?: number; cellV?: number } = {}): void {
    this.model(opts.module ?? 1).forcedCellV = on ? (opts.cellV ?? 3.66) : null;
  }

  /** Forces every temperature sensor of a module (default 1) to `tempC` (default 65 °C: charge and discharge over-temp). */
  injectOverTemp(on: boolean, opts: { module?: number; tempC?: number } = {}): void {
    this.model(opts.module ?? 1).forcedTempC = on ? (opts.tempC ?? 65) : null;
  }

  /** Stops (or resumes) every per-module frame of module `index` (1-based). */
  silenceModule(index: number, silent: boolean): void {
    const m = this.model(index);
    if (m.silent === silent) return;
    m.silent = silent;
    m.missedCycles = 0;
  }

  /** Stops (or resumes) every frame: the cable is pulled or the stack is switched off. */
  silenceAll(silent: boolean): void {
    this.allSilent = silent;
    if (silent) {
      this.queue.length = 0;
      this.clock.clearTimeout(this.burstTimer);
      this.burstTimer = undefined;
    }
  }

  private model(index: number): ModuleModel {
    const m = this.models[index - 1];
    if (!m) throw new RangeError(`BmsSim: no module ${index} (stack has ${this.models.length})`);
    return m;
  }

  // ---- one cycle -----------------------------------------------------------------------

  private cycle(): void {
    if (!this.running) return;
    const now = this.clock.now();
    const dtS = Math.max(0, (now - this.lastCycleAt) / 1000);
    this.lastCycleAt = now;
    this.cycleNo++;
    const pack = this.pack;
    // What the PSUs deliver now (the pack's one current), not the last physics step's.
    const packA = pack.currentA;

    // Self-heating: first order towards a rise ∝ I².
    const cRate = Math.abs(packA) / pack.capacityAh;
    const riseSs = 6 * (cRate / 0.5) ** 2;
    this.heatRiseC += (riseSs - this.heatRiseC) * (1 - Math.exp(-dtS / 3600));

    // Energy from the pack's own Ah counters, so nothing is lost between samples.
    const termV = pack.terminalV(packA);
    const dChargedKWh = ((pack.chargedAh - this.lastChargedAh) * termV) / 1000;
    const dDischargedKWh = ((pack.dischargedAh - this.lastDischargedAh) * termV) / 1000;
    this.lastChargedAh = pack.chargedAh;
    this.lastDischargedAh = pack.dischargedAh;
    const nominalKWh = (this.moduleCapacityAh * this.cells * 3.2) / 1000;

    for (const m of this.models) {
      m.chargedKWh += Math.max(0, dChargedKWh) * m.share;
      m.dischargedKWh += Math.max(0, dDischargedKWh) * m.share;
      m.dischargedSinceCycleKWh += Math.max(0, dDischargedKWh) * m.share;
      while (m.dischargedSinceCycleKWh >= nominalKWh) {
        m.dischargedSinceCycleKWh -= nominalKWh;
        m.cycles++;
      }
      m.view = this.evaluate(m, packA, termV, now);
    }

    // The master hears the modules that talk (and always itself); lost = lostAfterMs of missed bursts.
    const lostAfterCycles = Math.max(1, Math.round(this.lostAfterMs / this.periodMs));
    for (const m of this.models) m.missedCycles = m.silent ? m.missedCycles + 1 : 0;
    const heard = this.models.filter((m) => m.index === 1 || m.missedCycles < lostAfterCycles);
    const lost = this.models.length - heard.length;
    for (const m of this.models) m.view!.lost = !heard.includes(m);
    const views = heard.map((m) => m.view!);

    const socPct = Math.round(avg(views.map((v) => v.socPct)));
    if (socPct < 20) this.forceCharge = true;
    else if (socPct > 23) this.forceCharge = false;
    if (socPct >= 97) this.lastSoc97At = now;

    const chargeCurrentLimitA = sum(views.map((v) => v.chargeCurrentLimitA));
    const dischargeCurrentLimitA = sum(views.map((v) => v.dischargeCurrentLimitA));
    const requestFlags: string[] = [];
    if (chargeCurrentLimitA > 0) requestFlags.push('charge-enable');
    if (dischargeCurrentLimitA > 0) requestFlags.push('discharge-enable');
    if (this.forceCharge) requestFlags.push('force-charge-1', 'force-charge-2');
    if (now - this.lastSoc97At > this.fullChargeIntervalMs) requestFlags.push('full-charge');

    const protections = union(views.map((v) => v.protections));
    const alarms = union(views.map((v) => v.alarms));
    if (lost > 0) protections.push('internal-comm-fail');
    const hbRef = this.lastHeartbeatAt ?? (this.expectHeartbeat ? this.startedAt : null);
    if (hbRef !== null && now - hbRef > this.pcsTimeoutMs) protections.push('pcs-comm-fail');

    const view: BmsSimView = {
      at: now,
      dialect: this.dialectNow,
      socPct,
      sohPct: this.sohPct,
      voltageV: round(avg(views.map((v) => v.voltageV)), 2),
      currentA: round(sum(views.map((v) => v.currentA)), 1),
      tempC: round(avg(views.map((v) => (v.tempHighC + v.tempLowC) / 2)), 1),
      cellHighV: Math.max(...views.map((v) => v.cellHighV)),
      cellLowV: Math.min(...views.map((v) => v.cellLowV)),
      tempHighC: Math.max(...views.map((v) => v.tempHighC)),
      tempLowC: Math.min(...views.map((v) => v.tempLowC)),
      chargeVoltageLimitV: this.chargeVoltageV,
      dischargeVoltageV: this.dischargeVoltageV,
      chargeCurrentLimitA,
      dischargeCurrentLimitA,
      protections,
      alarms,
      requestFlags,
      counts: {
        normal: views.filter((v) => v.protections.length === 0).length,
        chargeBlocked: views.filter((v) => v.chargeCurrentLimitA === 0).length,
        dischargeBlocked: views.filter((v) => v.dischargeCurrentLimitA === 0).length,
        lost,
        total: this.models.length,
      },
      modules: this.models.map((m) => m.view!),
    };
    this.lastView = view;
    if (this.allSilent) return;
    this.burst(this.dialectNow === 'deye' ? this.deyeFrames(view) : this.pylonFrames(view));
  }

  /** One module's reading, conditions, latches and limits at `now`. */
  private evaluate(m: ModuleModel, packA: number, termV: number, now: number): BmsSimModuleView {
    const pack = this.pack;
    const currentA = packA * m.share;
    const socPct = clamp(pack.socPct + m.socOffsetPct, 0, 100);
    // Spread 3 mV in the flat middle, widening to 15 mV at the ends.
    const edge = socPct < 20 ? (20 - socPct) / 20 : socPct > 90 ? (socPct - 90) / 10 : 0;
    const spreadV = 0.003 + 0.012 * edge;
    const baseV = termV / this.cells + m.cellOffsetV;
    const cellsV: number[] = [];
    for (let c = 0; c < this.cells; c++) {
      const f = this.cells > 1 ? ((c * 7 + m.index * 5) % this.cells) / (this.cells - 1) - 0.5 : 0;
      cellsV.push(round(baseV + spreadV * f, 3));
    }
    if (m.forcedCellV !== null) cellsV[Math.min(4, this.cells - 1)] = m.forcedCellV;
    const voltageV = round(sum(cellsV), 2);
    const cellHighV = Math.max(...cellsV);
    const cellLowV = Math.min(...cellsV);
    const cellC = pack.tempC + this.heatRiseC + m.tempOffsetC;
    const tempHighC = round(m.forcedTempC ?? cellC + 0.5, 1);
    const tempLowC = round(m.forcedTempC ?? cellC - 0.5, 1);
    const mosTempC = round((tempHighC + tempLowC) / 2 + 2 + (4 * Math.abs(currentA)) / this.moduleCapacityAh, 1);
    const r: Reading = { currentA, ratedA: this.ratedA, cells: this.cells, voltageV, cellHighV, cellLowV, tempHighC, tempLowC, mosTempC };

    const protections: string[] = [];
    const alarms: string[] = [];
    let chargeBlocked = false;
    let dischargeBlocked = false;
    CONDITIONS.forEach((def, i) => {
      const s = m.conds[i]!;
      if (def.alarmOn(r)) {
        s.alarm = true;
        s.alarmLastTrueAt = now;
      } else if (s.alarm && now - s.alarmLastTrueAt >= ALARM_CLEAR_MS) {
        s.alarm = false;
      }
      if (!s.trip) {
        if (def.tripOn(r)) {
          s.since ??= now;
          if (now - s.since >= (def.tripAfterMs ?? 0)) {
            s.trip = true;
            s.trippedAt = now;
            if (def.counter) m.trips[def.counter]++;
          }
        } else {
          s.since = null;
        }
      } else if (def.release(r) && now - s.trippedAt >= (def.holdMs ?? 0)) {
        s.trip = false;
        s.since = null;
      }
      if (s.alarm) alarms.push(def.alarm);
      if (s.trip) {
        protections.push(def.prot);
        chargeBlocked ||= def.blocksCharge;
        dischargeBlocked ||= def.blocksDischarge;
      }
    });

    if (Math.round(socPct) >= 100 || cellHighV >= FULL_CELL_V) m.full = true;
    else if (socPct < 96 && cellHighV < 3.45) m.full = false;
    if (socPct <= 5 || cellLowV <= EMPTY_CELL_V) m.empty = true;
    else if (socPct >= 7 && cellLowV > 3.0) m.empty = false;

    const chargeTaper = socPct <= 90 ? 1 : socPct >= 98 ? 0.1 : 1 - (0.9 * (socPct - 90)) / 8;
    const dischargeTaper = socPct >= 10 ? 1 : socPct <= 5 ? 0 : (socPct - 5) / 5;
    const chargeCurrentLimitA = m.full || chargeBlocked ? 0 : Math.round(this.ratedA * chargeTaper);
    const dischargeCurrentLimitA = m.empty || dischargeBlocked ? 0 : Math.round(this.ratedA * dischargeTaper);

    let balancingBits = 0;
    if (currentA > 0.5) {
      cellsV.forEach((v, c) => {
        if (c < 16 && v > 3.4 && v - cellLowV > 0.01) balancingBits |= 1 << c;
      });
    }

    return {
      index: m.index,
      silent: m.silent,
      lost: false,
      currentA: round(currentA, 1),
      voltageV,
      socPct: round(socPct, 1),
      sohPct: this.sohPct,
      cellsV,
      cellHighV,
      cellLowV,
      tempHighC,
      tempLowC,
      mosTempC,
      chargeCurrentLimitA,
      dischargeCurrentLimitA,
      protections,
      alarms,
      cycles: m.cycles,
      chargedKWh: round(m.chargedKWh, 3),
      dischargedKWh: round(m.dischargedKWh, 3),
      balancingBits,
      full: m.full,
      empty: m.empty,
    };
  }

  // ---- frames --------------------------------------------------------------------------

  private deyeFrames(v: BmsSimView): CanFrame[] {
    const limits = { chargeCurrentLimitA: v.chargeCurrentLimitA, dischargeCurrentLimitA: v.dischargeCurrentLimitA };
    const frames: CanFrame[] = [
      encodeChargeLimits({ chargeVoltageLimitV: v.chargeVoltageLimitV, ...limits, dischargeVoltageV: v.dischargeVoltageV }),
      encodeSoc({ socPct: v.socPct, sohPct: v.sohPct }),
      encodeMeasurements({ voltageV: v.voltageV, currentA: v.currentA, tempC: v.tempC }, 'deye'),
      encodeAlarms({ protections: v.protections, alarms: v.alarms }, 'deye'),
      encodeRequests(v.requestFlags),
      ...this.identityFrame(),
      encodeCellExtremes(v),
      encodeVersions({ software: '0201', hardware: '0556' }),
      encodeModuleCounts(v.counts),
      encodeOnGridLimits(limits),
    ];
    const slow = (this.cycleNo - 1) % this.slowEvery === 0;
    for (const m of this.models) {
      if (m.silent) continue;
      const mv = m.view!;
      const n = m.index;
      const modeCode = mv.currentA > 0.5 ? 1 : mv.currentA < -0.5 ? 2 : 0;
      frames.push(
        encodeModuleFaults(n, {
          protections: mv.protections,
          alarms: mv.alarms,
          mos: { parallelDone: true, chargeMos: mv.chargeCurrentLimitA > 0, dischargeMos: mv.dischargeCurrentLimitA > 0, prechargeMos: false, heaterMos: false },
        }),
        encodeModuleStatus(n, mv),
        encodeModuleCells(n, mv),
        encodeModuleTempsLimits(n, { mosTempC: mv.mosTempC, heaterTempC: null, chargeCurrentLimitA: mv.chargeCurrentLimitA, dischargeCurrentLimitA: mv.dischargeCurrentLimitA }),
        encodeModuleState(n, {
          modeCode,
          faultLevelCode: mv.protections.length ? 2 : mv.alarms.length ? 1 : 0,
          cycles: mv.cycles,
          balancingBits: mv.balancingBits,
          subState: modeCode === 1 ? 0x0f : 0x09,
        }),
        encodeModuleEnergy(n, mv),
      );
      if (slow) {
        frames.push(
          encodeModuleVersion(n, { software: '3006', boot: 'V7.06' }),
          encodeModuleSerial(n, 1, m.serial.slice(0, 8)),
          encodeModuleSerial(n, 2, m.serial.slice(8, 16)),
          encodeModuleTripCounts1(n, m.trips),
          encodeModuleTripCounts2(n, m.trips),
        );
      }
    }
    return frames;
  }

  /** Pylontech v1.2: only the six summary frames, in their shorter DLCs (simulation doc §4). */
  private pylonFrames(v: BmsSimView): CanFrame[] {
    const protections = new Set<string>();
    const alarms = new Set<string>();
    for (const p of v.protections) {
      const mapped = p in PYLON_PROTECTION_OF ? PYLON_PROTECTION_OF[p] : 'system-error';
      if (mapped) protections.add(mapped);
    }
    for (const a of v.alarms) {
      const mapped = PYLON_ALARM_OF[a];
      if (mapped) alarms.add(mapped);
    }
    if (v.protections.includes('internal-comm-fail')) alarms.add('internal-comm-fail');
    return [
      encodeChargeLimits({ chargeVoltageLimitV: v.chargeVoltageLimitV, chargeCurrentLimitA: v.chargeCurrentLimitA, dischargeCurrentLimitA: v.dischargeCurrentLimitA, dischargeVoltageV: v.dischargeVoltageV }),
      encodeSoc({ socPct: v.socPct, sohPct: v.sohPct }, 4),
      encodeMeasurements({ voltageV: v.voltageV, currentA: v.currentA, tempC: v.tempC }, 'pylontech', 6),
      encodeAlarms({ protections: [...protections], alarms: [...alarms], moduleCount: v.counts.total - v.counts.lost }, 'pylontech'),
      encodeRequests(v.requestFlags),
      ...this.identityFrame(),
    ];
  }

  private burst(frames: CanFrame[]): void {
    if (this.shuffle) {
      for (let i = frames.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [frames[i], frames[j]] = [frames[j]!, frames[i]!];
      }
    }
    // Each frame has its own due time on the bus, gapMs apart. A burst longer than the period
    // (many modules, big gap) queues behind the previous one; when the bus is still more than a
    // period behind, this burst is skipped (counted), as a BMS that cannot get its frames out
    // skips a cycle: the queue (and the age of what it sends) stays bounded instead of growing.
    const now = this.clock.now();
    const last = this.queue.at(-1);
    if (last && last.due - now > this.periodMs) {
      this.stats.skippedBursts++;
      this.stats.skippedFrames += frames.length;
      return;
    }
    this.stats.bursts++;
    let due = last ? Math.max(now, last.due + this.gapMs) : now;
    for (const frame of frames) {
      this.queue.push({ frame, due });
      due += this.gapMs;
    }
    if (this.burstTimer === undefined) this.drain();
  }

  /**
   * Sends every queued frame that is due by now, then waits for the next one. By due time, not
   * one frame per timer: a sped-up RealClock cannot wait 1 ms of simulated time (Node's timers
   * have 1 ms real resolution), and one frame per timer turn made the queue grow without end
   * at --sim-speed 100, so the host read values from ever further in the past.
   */
  private drain(): void {
    this.burstTimer = undefined;
    if (!this.running || this.allSilent) {
      this.queue.length = 0;
      return;
    }
    const now = this.clock.now();
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.due <= now) n++;
    for (const q of this.queue.splice(0, n)) this.emit(q.frame);
    const next = this.queue[0];
    if (next) this.burstTimer = this.clock.setTimeout(() => this.drain(), next.due - now);
  }

  /** Frames waiting for their time on the bus. */
  get queued(): number {
    return this.queue.length;
  }

  private emit(frame: CanFrame): void {
    this.stats.frames++;
    this.sendFn(frame);
  }
}

function round(v: number, decimals: number): number {
  return Number(v.toFixed(decimals));
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function sum(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

function avg(xs: number[]): number {
  return xs.length ? sum(xs) / xs.length : 0;
}

/** Names of all lists, first-seen order, no duplicates. */
function union(lists: string[][]): string[] {
  const out: string[] = [];
  for (const l of lists) for (const x of l) if (!out.includes(x)) out.push(x);
  return out;
}
