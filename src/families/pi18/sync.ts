/**
 * Sync-check of a parallel pair and compare of two units (pure; pi18-profile-workflow.md §6, §7).
 * Every finding is reported, not only the first.
 */
import { enumText, faultText, WARNING_FLAGS, type Enum, type FaultStatus, type Firmware, type GeneralStatus, type Piri, type WorkMode } from './codec.js';
import { compareProfiles, dumpProfile, type ProfileKey } from './profile.js';

/** One unit's state as a sync-check reads it (GS, FWS, MOD, VFW at about the same moment). */
export interface SyncSnapshot {
  /** Who, for messages: "inverter lvx-1 (96142109100037)". */
  label: string;
  status: GeneralStatus;
  faults: FaultStatus;
  mode: Enum<WorkMode>;
  firmware: Firmware;
}

export interface Finding {
  rule: 'firmware_mismatch' | 'same_parallel_index' | 'no_master' | 'fault' | 'warning_flags' | 'mode_differs' | 'frequency_diverges' | 'voltage_diverges' | 'both_idle';
  severity: 'error' | 'warning';
  message: string;
}

export interface SyncResult {
  findings: Finding[];
  /** No error findings. */
  ok: boolean;
  /** Both units idle: frequency/voltage sync could not be judged. */
  inconclusive: boolean;
}

function idle(s: SyncSnapshot): boolean {
  const m = s.mode;
  return m === 'standby' || m === 'power_on' || (s.status.acOutputVoltageV === 0 && s.status.acOutputFrequencyHz === 0);
}

export function syncCheck(a: SyncSnapshot, b: SyncSnapshot): SyncResult {
  const f: Finding[] = [];
  for (const cpu of ['main', 'slave1', 'slave2'] as const) {
    if (a.firmware[cpu] !== b.firmware[cpu]) {
      f.push({ rule: 'firmware_mismatch', severity: 'error', message: `firmware (${cpu} CPU) differs: ${a.label} ${a.firmware[cpu]} vs ${b.label} ${b.firmware[cpu]} — a parallel pair needs the same firmware on both units` });
    }
  }
  const ia = a.status.parallelId;
  const ib = b.status.parallelId;
  if (ia === ib) f.push({ rule: 'same_parallel_index', severity: 'error', message: `both units report parallel index ${ia}; they should differ — the parallel handshake is incomplete (check the parallel cable and output mode)` });
  if (ia !== 0 && ib !== 0) f.push({ rule: 'no_master', severity: 'error', message: `neither unit reports parallel index 0 (got ${ia}, ${ib}): the system has no master` });
  for (const s of [a, b]) {
    if (s.faults.faultCode !== 0) {
      const parallel = s.faults.faultCode >= 80 && s.faults.faultCode <= 86 ? ' (a parallel fault)' : '';
      f.push({ rule: 'fault', severity: 'error', message: `${s.label}: active fault ${String(s.faults.faultCode).padStart(2, '0')} ${faultText(s.faults.faultCode)}${parallel}` });
    }
    const active = WARNING_FLAGS.filter(([name]) => s.faults.warnings[name]).map(([, text]) => text);
    if (active.length) f.push({ rule: 'warning_flags', severity: 'warning', message: `${s.label}: active warnings: ${active.join(', ')}` });
  }
  const ma = enumText(a.mode);
  const mb = enumText(b.mode);
  if (ma !== mb) f.push({ rule: 'mode_differs', severity: 'warning', message: `mode differs: ${a.label} ${ma} vs ${b.label} ${mb}` });
  const bothIdle = idle(a) && idle(b);
  if (bothIdle) {
    f.push({ rule: 'both_idle', severity: 'warning', message: 'both units produce no AC output (idle); frequency and voltage sync cannot be judged until at least one is inverting — inconclusive' });
  } else {
    const dHz = Math.abs(a.status.acOutputFrequencyHz - b.status.acOutputFrequencyHz);
    if (dHz > 0.1 + 1e-9) {
      f.push({ rule: 'frequency_diverges', severity: 'error', message: `AC output frequency diverges: ${a.status.acOutputFrequencyHz} Hz vs ${b.status.acOutputFrequencyHz} Hz (more than 0.1 Hz: not phase-locked)` });
    }
    const dV = Math.abs(a.status.acOutputVoltageV - b.status.acOutputVoltageV);
    if (dV > 2 + 1e-9) {
      f.push({ rule: 'voltage_diverges', severity: 'error', message: `AC output voltage diverges: ${a.status.acOutputVoltageV} V vs ${b.status.acOutputVoltageV} V (more than 2 V apart)` });
    }
  }
  return { findings: f, ok: !f.some((x) => x.severity === 'error'), inconclusive: bothIdle };
}

/** One unit as compare reads it (WF §6). */
export interface CompareSide {
  label: string;
  piri: Piri;
  firmware: Firmware;
  currentSteps?: { charge: number[]; utility: number[] } | null;
}

export interface CompareResult {
  equal: ProfileKey[];
  differ: { key: ProfileKey; a: unknown; b: unknown }[];
  onlyA: ProfileKey[];
  onlyB: ProfileKey[];
  /** Firmware, ratings, parallel max num and output mode that differ. */
  metadata: { what: string; a: unknown; b: unknown }[];
}

export function compareUnits(a: CompareSide, b: CompareSide): CompareResult {
  const pa = dumpProfile(a.piri, { device: a.label, currentSteps: a.currentSteps }).profile;
  const pb = dumpProfile(b.piri, { device: b.label, currentSteps: b.currentSteps }).profile;
  const metadata: CompareResult['metadata'] = [];
  const m = (what: string, x: unknown, y: unknown) => {
    if (JSON.stringify(x) !== JSON.stringify(y)) metadata.push({ what, a: x, b: y });
  };
  m('firmware main CPU', a.firmware.main, b.firmware.main);
  m('firmware slave 1 CPU', a.firmware.slave1, b.firmware.slave1);
  m('firmware slave 2 CPU', a.firmware.slave2, b.firmware.slave2);
  m('battery rated voltage', a.piri.batteryRatedVoltageV, b.piri.batteryRatedVoltageV);
  m('rated active power', a.piri.acOutputRatedActivePowerW, b.piri.acOutputRatedActivePowerW);
  m('parallel max num', a.piri.parallelMaxNum, b.piri.parallelMaxNum);
  m('output mode', a.piri.outputMode, b.piri.outputMode);
  return { ...compareProfiles(pa, pb), metadata };
}
