/**
 * The LiFePO4 charger machine, transition by transition, with explicit `now` values (ms).
 * Expected values come from flatpack2-charger-behaviour.md §4 (cited per test) or from the
 * deliberate differences Δ1–Δ12 documented at the top of src/engine/charger/machine.ts.
 */
import { describe, expect, it } from 'vitest';
import { checkPsuSetpoint, type DcOutputLimits } from '../../src/engine/gate.js';
import { flatpack2Limits } from '../../src/families/flatpack2/limits.js';
import {
  DEFAULT_CHARGER_SETTINGS,
  chargeTargetV,
  chargingElapsedMs,
  initialChargerState,
  perUnitCurrentA,
  resumeInfoFromState,
  socEstimate,
  step,
  validateChargerSettings,
  type ChargerInput,
  type ChargerSettings,
  type ChargerState,
  type PsuReading,
  type ResumeInfo,
  type StepResult,
} from '../../src/engine/charger/machine.js';

const L = flatpack2Limits({ powerRatingW: 2000, ovpV: 60 });
const S: ChargerSettings = { ...DEFAULT_CHARGER_SETTINGS };
const T0 = 1_700_000_000_000;
const at = (s: number) => T0 + Math.round(s * 1000);

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

const rd = (voltageV: number | null, currentA: number | null, id = 'p1', extra: Partial<PsuReading> = {}): PsuReading => ({
  id,
  online: true,
  voltageV,
  currentA,
  alarm: false,
  overTemp: false,
  ...extra,
});

/** Drives the machine; every input state is deep-frozen, so any mutation throws (ESM = strict). */
class Rig {
  state: ChargerState;
  last!: StepResult;
  constructor(
    public settings: ChargerSettings = S,
    public limits: DcOutputLimits = L,
  ) {
    this.state = initialChargerState(settings, limits);
  }
  do(input: ChargerInput): StepResult {
    const before = JSON.stringify(this.state);
    const frozen = deepFreeze(this.state);
    this.last = step(frozen, input, this.settings, this.limits);
    expect(JSON.stringify(frozen)).toBe(before);
    this.state = this.last.state;
    for (const c of this.last.commands) {
      if (c.kind === 'set') {
        const g = checkPsuSetpoint(this.limits, c);
        expect(g.ok && g.value.voltageV === c.voltageV && g.value.currentA === c.currentA && !g.value.clamped, JSON.stringify(c)).toBe(true);
      }
    }
    return this.last;
  }
  start(t: number, o: { currentA?: number; psuIds?: string[]; resume?: ResumeInfo } = {}) {
    return this.do({ type: 'start', now: at(t), psuIds: o.psuIds ?? ['p1'], currentA: o.currentA, resume: o.resume });
  }
  status(t: number, ...psus: PsuReading[]) {
    return this.do({ type: 'status', now: at(t), psus });
  }
  tick(t: number) {
    return this.do({ type: 'tick', now: at(t) });
  }
  /** A status round just before a tick: the usual 5 Hz rhythm around a step. */
  stepWith(t: number, v: number, i: number) {
    this.status(t - 0.2, rd(v, i));
    return this.tick(t);
  }
  get sets() {
    return this.last.commands.filter((c) => c.kind === 'set').map((c) => (c.kind === 'set' ? [c.voltageV, c.currentA] : []));
  }
  get phases() {
    return this.last.notes.filter((n) => n.type === 'phase').map((n) => (n.type === 'phase' ? `${n.from}>${n.to}` : ''));
  }
}

/** start at 0 s; battery at 52.00 V → RAMP at 5 s, setpoint 51.70 V (§4.2 example). */
function toRamp(r = new Rig()) {
  r.start(0);
  r.stepWith(5, 52.0, 0);
  expect(r.state.phase).toBe('ramp');
  return r;
}
/** … → CC at 10 s (current 19.5 A ≥ 0.95 × 20 A), first CC step to 51.80 V at once (§4.4). */
function toCC(r = toRamp()) {
  r.stepWith(10, 52.1, 19.5);
  expect(r.state.phase).toBe('CC');
  return r;
}
/** … → CV: battery at 57.5 V ≥ 57.6 − 0.1 with 20 A. */
function toCV(r = toCC()) {
  r.status(11, rd(57.5, 20));
  expect(r.state.phase).toBe('CV');
  return r;
}

describe('charger settings (§1, Δ1)', () => {
  it('exports every [charger] key with the §1 default; cellVoltageMaxV defaults to 3.60 (3.65 → 58.4 V was unusable, §7 #10)', () => {
    expect(DEFAULT_CHARGER_SETTINGS).toEqual({
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
    expect(validateChargerSettings(S, L, 1)).toEqual({ ok: true });
    expect(chargeTargetV(S)).toBe(57.6);
  });

  it('floors the target to the wire resolution (Δ12): 16 × 3.456 = 55.296 → 55.29 V', () => {
    expect(chargeTargetV({ cellCount: 16, cellVoltageMaxV: 3.456 })).toBe(55.29);
    expect(chargeTargetV({ cellCount: 15, cellVoltageMaxV: 3.6 })).toBe(54);
  });

  it.each<[Partial<ChargerSettings>, number, keyof ChargerSettings, RegExp]>([
    [{ cellVoltageMaxV: 3.65 }, 1, 'cellVoltageMaxV', /16 × 3\.65 = 58\.40 V exceeds the PSU maximum of 57\.60 V; set cellVoltageMaxV to at most 3\.600 V/],
    [{ chargeCurrentA: 0 }, 1, 'chargeCurrentA', /must be > 0 A/],
    [{ chargeCurrentA: -5 }, 1, 'chargeCurrentA', /must be > 0 A/],
    [{ chargeCurrentA: 41.8 }, 1, 'chargeCurrentA', /exceeds what 1 PSU\(s\) can deliver \(1 × 41\.7 A = 41\.7 A\)/],
    [{ chargeCurrentA: 83.5 }, 2, 'chargeCurrentA', /2 × 41\.7 A = 83\.4 A/],
    [{ chargeCurrentA: 0.2 }, 3, 'chargeCurrentA', /too small to share over 3 PSU/],
    [{ tailCurrentA: 20 }, 1, 'tailCurrentA', /must be below chargeCurrentA/],
    [{ detectVoltageV: 43 }, 1, 'detectVoltageV', /outside the PSU range 43\.50 V–57\.60 V/],
    [{ detectVoltageV: 48.005 }, 1, 'detectVoltageV', /multiple of 0\.01 V/],
    [{ detectCurrentA: 0.25 }, 1, 'detectCurrentA', /multiple of 0\.1 A/],
    [{ detectCurrentA: 0 }, 1, 'detectCurrentA', /outside the PSU range/],
    [{ cellCount: 12 }, 1, 'cellVoltageMaxV', /below the PSU minimum/],
    [{ cellCount: 13 }, 1, 'detectVoltageV', /must be below the target/],
    [{ cellCount: 15.5 }, 1, 'cellCount', /whole number/],
    [{ rampStepVoltageV: 0 }, 1, 'rampStepVoltageV', /0\.01–1\.00 V/],
    [{ safetyTimeLimitMin: Number.NaN }, 1, 'safetyTimeLimitMin', /finite number/],
    [{ detectTimeoutMin: 0 }, 1, 'detectTimeoutMin', /detectTimeoutMin must be 1–240 min/],
  ])('refuses %o with %i PSU(s), naming the key', (patch, n, key, msg) => {
    const r = validateChargerSettings({ ...S, ...patch }, L, n);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe('OUT_OF_RANGE');
      expect(r.key).toBe(key);
      expect(r.message).toMatch(msg);
    }
  });

  it('refuses a target at or above the OVP', () => {
    const r = validateChargerSettings(S, flatpack2Limits({ powerRatingW: 2000, ovpV: 57.6 }), 1);
    expect(r).toMatchObject({ ok: false, key: 'cellVoltageMaxV' });
    if (!r.ok) expect(r.message).toMatch(/below the PSU over-voltage protection of 57\.60 V/);
  });

  it('a group of 2 may charge with up to 83.4 A', () => {
    expect(validateChargerSettings({ ...S, chargeCurrentA: 83.4 }, L, 2)).toEqual({ ok: true });
  });
});

describe('per-unit current of a broadcast SET (Δ5)', () => {
  it('shares the total, floors to 0.1 A, caps at the unit maximum and the power rating', () => {
    expect(perUnitCurrentA(20, 3, 55, L)).toBe(6.6);
    expect(perUnitCurrentA(0.3, 3, 55, L)).toBe(0.1);
    expect(perUnitCurrentA(100, 2, 48, L)).toBe(41.6); // 41.7 A × 48 V > 2000 W → floor(2000/48, 0.1)
    expect(perUnitCurrentA(41.7, 1, 57.6, L)).toBe(34.7); // 2000 / 57.6 = 34.72
    expect(perUnitCurrentA(30, 1, 50, L)).toBe(30);
  });
});

describe('start and DETECT (§4.1, §4.2)', () => {
  it('start → DETECT with SET(48.0, 0.2) and a session-started note', () => {
    const r = new Rig();
    r.start(0);
    expect(r.state.phase).toBe('detect');
    expect(r.last.commands).toEqual([{ kind: 'set', voltageV: 48, currentA: 0.2, reason: 'DETECT probe: Charge started' }]);
    expect(r.phases).toEqual(['idle>detect']);
    expect(r.last.notes[0]).toEqual({ type: 'session-started', resumed: false, psuIds: ['p1'], chargeCurrentA: 20, targetVoltageV: 57.6 });
    expect(r.state).toMatchObject({ ah: 0, wh: 0, startedAt: at(0), targetVoltageV: 57.6, chargeCurrentA: 20, psuIds: ['p1'] });
    expect(r.state.phaseHistory).toEqual([{ phase: 'detect', startedAt: at(0), endedAt: null }]);
  });

  it('refuses a second start, an empty group, an invalid override and invalid settings (Δ1)', () => {
    const r = new Rig();
    r.start(0);
    expect(r.start(1).notes).toEqual([{ type: 'rejected', input: 'start', reason: 'Already charging (detect) - stop the charge first' }]);
    expect(r.last.commands).toEqual([]);
    const fresh = new Rig();
    expect(fresh.start(0, { psuIds: [] }).notes[0]).toMatchObject({ type: 'rejected', reason: /No PSUs/ });
    expect(fresh.start(0, { currentA: 0 }).notes[0]).toMatchObject({ type: 'rejected', reason: /must be > 0 A/ });
    expect(fresh.start(0, { currentA: 50 }).notes[0]).toMatchObject({ type: 'rejected', reason: /41\.7 A/ });
    expect(fresh.start(0, { currentA: 50, psuIds: ['p1', 'p2'] }).commands).toHaveLength(1);
    const bad = new Rig({ ...S, cellVoltageMaxV: 3.65 });
    expect(bad.start(0).notes[0]).toMatchObject({ type: 'rejected', reason: /58\.40 V exceeds/ });
    expect(bad.state.phase).toBe('idle');
  });

  it('detects by voltage (> 49.0 V) on the step cadence: 52.00 V → RAMP SET(51.70, 20.0)', () => {
    const r = new Rig();
    r.start(0);
    r.status(1, rd(52, 0));
    expect(r.tick(4).commands).toEqual([]); // the original sleeps one interval before looking
    r.status(4.8, rd(52, 0));
    r.tick(5);
    expect(r.state.phase).toBe('ramp');
    expect(r.sets).toEqual([[51.7, 20]]);
    expect(r.last.notes).toContainEqual({ type: 'battery-detected', by: 'voltage', voltageV: 52, currentA: 0, socPct: 30, rampStartV: 51.7 });
    expect(r.state).toMatchObject({ rampVoltageV: 51.7, rampStartedAt: at(5), chargingSince: at(5), socStartPct: 30 });
  });

  it('does not detect at exactly 49.0 V (strictly above detect V + threshold)', () => {
    const r = new Rig();
    r.start(0);
    r.stepWith(5, 49.0, 0.4);
    expect(r.state.phase).toBe('detect');
    r.stepWith(10, 49.01, 0);
    expect(r.state.phase).toBe('ramp');
  });

  it('detects by current (≥ 0.5 A) below the detect voltage; the ramp starts at the detect voltage', () => {
    const r = new Rig();
    r.start(0, { psuIds: ['p1', 'p2', 'p3'] });
    r.status(4.8, rd(47.5, 0.2, 'p1'), rd(47.5, 0.2, 'p2'), rd(47.5, 0.2, 'p3'));
    r.tick(5);
    expect(r.state.phase).toBe('ramp');
    expect(r.last.notes).toContainEqual(expect.objectContaining({ type: 'battery-detected', by: 'current' }));
    expect(r.sets).toEqual([[48, 6.6]]); // max(47.2, 48.0); 20 A over 3 PSUs floored to 6.6 A
  });

  it('holds the DETECT check while the latest reading is stale (Δ9)', () => {
    const r = new Rig();
    r.start(0);
    r.status(2.5, rd(52, 0));
    r.tick(5); // reading 2.5 s old
    expect(r.state.phase).toBe('detect');
    r.status(5.2, rd(52, 0));
    r.tick(6);
    expect(r.state.phase).toBe('ramp');
  });

  it('gives up after detectTimeoutMin with a reason → ERROR + standby (Δ4)', () => {
    const r = new Rig({ ...S, detectTimeoutMin: 30 });
    r.start(0);
    for (let t = 5; t < 1800; t += 5) r.stepWith(t, 48.0, 0);
    expect(r.state.phase).toBe('detect');
    r.status(1799.8, rd(48, 0));
    r.tick(1800);
    expect(r.state.phase).toBe('error');
    expect(r.last.commands).toEqual([{ kind: 'standby', reason: expect.stringMatching(/^No battery detected within 30 min \(last reading 48\.00 V \/ 0\.0 A\)/) }]);
    expect(r.state.outcome).toBe('error');
    expect(r.last.notes).toContainEqual(expect.objectContaining({ type: 'session-ended', outcome: 'error' }));
  });
});

describe('RAMP (§4.3)', () => {
  it('steps by 0.1 V once per interval, only after a fresh status round', () => {
    const r = toRamp();
    expect(r.tick(10).commands).toEqual([]); // no status round since the last step (Δ9)
    r.status(10.2, rd(51.9, 0));
    expect(r.tick(11).commands).toEqual([{ kind: 'set', voltageV: 51.8, currentA: 20, reason: 'RAMP step to 51.80 V', step: true }]);
    r.status(12, rd(51.9, 0));
    expect(r.tick(15).commands).toEqual([]); // 4 s since the last step
    r.stepWith(16, 52.0, 2);
    expect(r.sets).toEqual([[51.9, 20]]);
    expect(r.state.rampVoltageV).toBe(51.9);
  });

  it('→ CC when the total current reaches 0.95 × the charge current, with the first CC step at once (§4.4)', () => {
    const r = toRamp();
    r.stepWith(10, 52.1, 18.9); // 18.9 < 19.0: still ramping
    expect(r.state.phase).toBe('ramp');
    expect(r.sets).toEqual([[51.8, 20]]);
    r.stepWith(15, 52.2, 19.0);
    expect(r.phases).toEqual(['ramp>CC']);
    expect(r.sets).toEqual([[51.9, 20]]);
    expect(r.state).toMatchObject({ phase: 'CC', rampVoltageV: 51.9, lowCurrentSince: null });
  });

  it('→ CC against what a power-clamped group can deliver (Δ8)', () => {
    const r = new Rig({ ...S, chargeCurrentA: 41.7 });
    r.start(0);
    r.stepWith(5, 55.5, 0); // RAMP at 55.20 V: 2000 / 55.2 → 36.2 A per unit
    expect(r.sets).toEqual([[55.2, 36.2]]);
    r.stepWith(10, 55.6, 34.4); // 0.95 × 36.2 = 34.39 A
    expect(r.state.phase).toBe('CC');
  });

  it('disconnect (< 48.5 V) → DETECT with SET(48.0, 0.2); Ah/Wh kept', () => {
    const r = toRamp();
    r.status(5.4, rd(52, 10));
    r.status(5.6, rd(52, 10));
    const ah = r.state.ah;
    expect(ah).toBeCloseTo((10 * 0.8) / 3600, 12); // 4.8 → 5.4 → 5.6 s
    r.status(9.8, rd(48.4, 0));
    r.tick(10);
    expect(r.phases).toEqual(['ramp>detect']);
    expect(r.last.commands).toEqual([{ kind: 'set', voltageV: 48, currentA: 0.2, reason: expect.stringMatching(/^DETECT probe: Battery disconnected during RAMP \(48\.40 V < 48\.50 V\)/) }]);
    expect(r.state.ah).toBe(ah);
    expect(r.state.rampVoltageV).toBeNull();
    // re-detection ramps from the measured voltage again
    r.stepWith(15, 53.0, 0);
    expect(r.sets).toEqual([[52.7, 20]]);
  });

  it('a ramp that reaches the target goes to CV directly', () => {
    const r = new Rig();
    r.start(0);
    r.stepWith(5, 58.0, 0); // a battery above target: 57.70 V capped at 57.60 V (Δ12)
    expect(r.sets).toEqual([[57.6, 20]]);
    r.stepWith(10, 57.6, 0.4);
    expect(r.phases).toEqual(['ramp>CV']);
    expect(r.state.cvEntryCurrentA).toBe(0.4);
  });
});

describe('CC (§4.4, §4.5)', () => {
  it('ramps the setpoint one step per interval up to the target, never more than 0.1 V', () => {
    const r = toCC();
    expect(r.state.rampVoltageV).toBe(51.8);
    let prev = 51.8;
    for (let t = 15; r.state.rampVoltageV! < 57.6; t += 5) {
      r.stepWith(t, 52.5, 20);
      const [[v]] = r.sets;
      expect(v - prev).toBeCloseTo(0.1, 9);
      prev = v;
      expect(r.state.phase).toBe('CC');
    }
    expect(prev).toBe(57.6);
    r.stepWith(1000, 52.5, 20);
    expect(r.last.commands).toEqual([]);
  });

  it('→ CV at target − tolerance with SET(target) first, then CV checks on the same round', () => {
    const r = toCC();
    r.status(11, rd(57.49, 20));
    expect(r.state.phase).toBe('CC');
    r.status(11.2, rd(57.5, 20));
    expect(r.last.commands).toEqual([{ kind: 'set', voltageV: 57.6, currentA: 20, reason: 'CV at the target 57.60 V' }]);
    expect(r.phases).toEqual(['CC>CV']);
    expect(r.last.notes).toContainEqual({ type: 'cc-to-cv', voltageV: 57.5, currentA: 20 });
    expect(r.state).toMatchObject({ ccToCvAt: at(11.2), cvEntryCurrentA: 20, rampVoltageV: null });
  });

  it('defect 17.5: CC→CV is where the current starts to taper at the target setpoint (held one step interval), dated at the start of the taper, even while the reported voltage sits under target − tolerance', () => {
    const r = toCC();
    for (let t = 15; r.state.rampVoltageV! < 57.6; t += 5) r.stepWith(t, 52.5, 20);
    r.status(400, rd(57.2, 20)); // the full current: no taper
    expect(r.state.taperSince ?? null).toBeNull();
    r.status(401, rd(57.3, 18.5)); // < 95 % of 20 A at the target setpoint: the taper starts
    expect(r.state.taperSince).toBe(at(401));
    r.status(402, rd(57.3, 20)); // back to the full current: one noisy round, not a taper
    expect(r.state.taperSince).toBeNull();
    r.status(403, rd(57.3, 18));
    r.status(407.8, rd(57.32, 17.5));
    expect(r.state.phase).toBe('CC'); // not yet held for the 5 s step interval
    r.status(408, rd(57.33, 17));
    expect(r.phases).toEqual(['CC>CV']);
    expect(r.state.ccToCvAt).toBe(at(403));
    expect(r.last.notes).toContainEqual({ type: 'cc-to-cv', voltageV: 57.33, currentA: 17 });
  });

  it('a current under 95 % while the CC setpoint ramp is still below the target is not a taper (the ramp goes on)', () => {
    const r = toCC();
    r.status(11, rd(51.8, 15));
    r.status(30, rd(51.8, 15));
    expect(r.state.phase).toBe('CC');
    expect(r.state.taperSince ?? null).toBeNull();
  });

  it('low current for 5 s → DETECT; a higher current resets the timer', () => {
    const r = toCC();
    r.status(11, rd(53, 0.5));
    r.status(13, rd(53, 0.4));
    r.status(14, rd(53, 3)); // resets
    r.status(15, rd(53, 0.3));
    r.status(19.8, rd(53, 0.3));
    expect(r.state.phase).toBe('CC');
    r.status(20, rd(53, 0.3));
    expect(r.phases).toEqual(['CC>detect']);
    expect(r.last.commands).toEqual([{ kind: 'set', voltageV: 48, currentA: 0.2, reason: expect.stringContaining('Battery disconnected during CC') }]);
  });

  it('an open output at the setpoint (≈ 0 A) does not count as reaching CV (Δ10)', () => {
    const r = toCC();
    r.status(11, rd(57.55, 0.1));
    expect(r.state.phase).toBe('CC');
    r.status(16, rd(57.55, 0.1));
    expect(r.state.phase).toBe('detect');
  });
});

describe('CV (§4.5)', () => {
  it('tail current → DONE "Charge complete (tail current 2.0A)" + standby', () => {
    const r = toCV();
    r.status(12, rd(57.6, 10));
    r.status(13, rd(57.6, 2.1));
    expect(r.state.phase).toBe('CV');
    r.status(14, rd(57.6, 2.0));
    expect(r.phases).toEqual(['CV>done']);
    expect(r.last.commands).toEqual([{ kind: 'standby', reason: 'Charge complete (tail current 2.0A)' }]);
    expect(r.state).toMatchObject({ outcome: 'done', stopReason: 'Charge complete (tail current 2.0A)', lastSetpoint: { voltageV: 48, currentA: 0.1 } });
    expect(r.last.notes).toContainEqual(expect.objectContaining({ type: 'session-ended', outcome: 'done', durationMs: 14_000 }));
    expect(socEstimate(r.state, S, 0)).toBe(100);
    expect(r.state.phaseHistory.map((p) => p.phase)).toEqual(['detect', 'ramp', 'CC', 'CV', 'done']);
    expect(r.state.phaseHistory.slice(0, -1).every((p) => p.endedAt !== null)).toBe(true);
  });

  it('a sudden drop from > 1.5 × tail to ≤ 0.5 A is a disconnect → DETECT', () => {
    const r = toCV();
    r.status(12, rd(57.6, 3.5));
    r.status(12.2, rd(57.6, 0.3));
    expect(r.phases).toEqual(['CV>detect']);
    expect(r.last.commands).toEqual([{ kind: 'set', voltageV: 48, currentA: 0.2, reason: expect.stringContaining('Battery disconnected during CV (current fell from 3.5 A to 0.3 A') }]);
  });

  it('a drop from ≤ 1.5 × tail is the end of charge', () => {
    const r = toCV();
    r.status(12, rd(57.6, 3.0));
    r.status(12.2, rd(57.6, 0.3));
    expect(r.state.phase).toBe('done');
  });
});

describe('safety (§3.3, §4.5, Δ2, Δ3)', () => {
  it('safety time limit counted from RAMP entry → ERROR + standby, checked on ticks in any charging phase', () => {
    const r = toRamp(new Rig({ ...S, safetyTimeLimitMin: 10 }));
    r.tick(5 + 599.9);
    expect(r.state.phase).toBe('ramp');
    r.tick(5 + 600);
    expect(r.state.phase).toBe('error');
    expect(r.last.commands).toEqual([{ kind: 'standby', reason: 'Safety timeout (10 min)' }]);
  });

  it('the safety timer is not restarted by a disconnect and re-detection (Δ3)', () => {
    const r = toRamp(new Rig({ ...S, safetyTimeLimitMin: 10 }));
    r.stepWith(365, 48.0, 0); // 6 min in RAMP, then disconnect
    expect(r.state.phase).toBe('detect');
    r.stepWith(545, 52.0, 0); // 3 min in DETECT (not counted), then RAMP again
    expect(r.state.phase).toBe('ramp');
    expect(chargingElapsedMs(r.state, at(545))).toBe(360_000);
    r.tick(545 + 239.9);
    expect(r.state.phase).toBe('ramp');
    r.tick(545 + 240);
    expect(r.last.commands).toEqual([{ kind: 'standby', reason: 'Safety timeout (10 min)' }]);
  });

  it.each(['detect', 'ramp', 'CC', 'CV'] as const)('a PSU ALARM in %s → ERROR + standby', (phase) => {
    const r = { detect: () => { const x = new Rig(); x.start(0); return x; }, ramp: () => toRamp(), CC: () => toCC(), CV: () => toCV() }[phase]();
    r.status(30, rd(53, 5, 'p1'));
    expect(r.state.phase).toBe(phase);
    r.status(30.2, rd(53, 5, 'p1', { alarm: true }));
    expect(r.state.phase).toBe('error');
    expect(r.last.commands).toEqual([{ kind: 'standby', reason: 'PSU p1 ALARM - charging stopped' }]);
  });

  it.each(['detect', 'ramp'] as const)('over-temperature in %s (not only CC/CV) → ERROR + standby', (phase) => {
    const r = phase === 'detect' ? new Rig() : toRamp();
    if (phase === 'detect') r.start(0);
    r.status(30, rd(53, 5, 'p1', { overTemp: true }));
    expect(r.last.commands).toEqual([{ kind: 'standby', reason: 'PSU p1 High Temp - charging stopped' }]);
    expect(r.state.phase).toBe('error');
  });
});

describe('setCurrent (§4.8)', () => {
  it('in DETECT only remembers the value; it is used at RAMP entry', () => {
    const r = new Rig();
    r.start(0);
    r.do({ type: 'setCurrent', now: at(1), currentA: 30 });
    expect(r.last.commands).toEqual([]);
    expect(r.last.notes).toEqual([{ type: 'current-changed', fromA: 20, toA: 30 }]);
    r.stepWith(5, 52, 0);
    expect(r.sets).toEqual([[51.7, 30]]);
  });
  it('in RAMP → SET(ramp V, A)', () => {
    const r = toRamp();
    r.do({ type: 'setCurrent', now: at(6), currentA: 10 });
    expect(r.sets).toEqual([[51.7, 10]]);
  });
  it('in CC → SET(ramp V, A)', () => {
    const r = toCC();
    r.do({ type: 'setCurrent', now: at(11), currentA: 25.55 });
    expect(r.sets).toEqual([[51.8, 25.5]]);
    expect(r.state.chargeCurrentA).toBe(25.55);
  });
  it('in CV → SET(target, A)', () => {
    const r = toCV();
    r.do({ type: 'setCurrent', now: at(12), currentA: 15 });
    expect(r.sets).toEqual([[57.6, 15]]);
  });
  it('refuses when not charging and out of range', () => {
    const r = new Rig();
    expect(r.do({ type: 'setCurrent', now: at(0), currentA: 10 }).notes[0]).toMatchObject({ type: 'rejected', reason: /Not charging/ });
    r.start(0);
    for (const a of [0, -1, 41.8, Number.NaN]) {
      expect(r.do({ type: 'setCurrent', now: at(1), currentA: a }).notes[0]).toMatchObject({ type: 'rejected', input: 'setCurrent' });
    }
    expect(r.state.chargeCurrentA).toBe(20);
  });
});

describe('Ah/Wh integration (§4.5, Δ11)', () => {
  it('integrates total current × dt for 0 < dt < 2 s, skips a longer gap and re-anchors after it', () => {
    const r = toCC();
    const ah0 = r.state.ah;
    const wh0 = r.state.wh;
    r.status(11, rd(55, 20));
    r.status(11, rd(55, 20)); // dt = 0: nothing
    r.status(12, rd(55, 20)); // 1 s
    r.status(12.5, rd(55, 20)); // 0.5 s
    const ah1 = ah0 + (20 * (1.2 + 1 + 0.5)) / 3600; // anchored at the 9.8 s round of toCC
    expect(r.state.ah).toBeCloseTo(ah1, 12);
    expect(r.state.wh).toBeCloseTo(wh0 + (20 * 55 * 2.7) / 3600, 9);
    r.status(14.5, rd(55, 20)); // dt = 2 s: ignored
    expect(r.state.ah).toBeCloseTo(ah1, 12);
    r.status(15.5, rd(55, 20)); // anchored at 14.5
    expect(r.state.ah).toBeCloseTo(ah1 + 20 / 3600, 12);
    expect(r.state.peakCurrentA).toBe(20);
  });

  it('sums the current of every online PSU of the group', () => {
    const r = new Rig();
    r.start(0, { psuIds: ['a', 'b'] });
    r.status(1, rd(52, 5, 'a'), rd(52, 7, 'b'));
    r.status(2, rd(52, 5, 'a'), rd(52, 7, 'b'));
    expect(r.state.ah).toBeCloseTo((2 * 12) / 3600, 12); // anchored at start (0 s)
  });
});

describe('SOC estimate (§4.8)', () => {
  it('is null before detection, OCV-table at detection (52.64 V / 16 = 3.29 V → 60 %), then counts Ah', () => {
    const r = new Rig();
    r.start(0);
    expect(socEstimate(r.state, S, 0)).toBeNull();
    r.stepWith(5, 52.64, 0);
    expect(socEstimate(r.state, S, 0)).toBeCloseTo(60, 9);
    r.status(5.5, rd(53, 10));
    const s = r.state;
    expect(socEstimate({ ...s, ah: s.socAhBase + 10 }, S, 10)).toBeCloseTo(70, 9);
    expect(socEstimate({ ...s, ah: s.socAhBase + 50 }, S, 10)).toBe(99.9); // clamped while active
  });

  it('in CV lifts the estimate by the tapering current; a manual stop keeps the counted value (Δ7)', () => {
    const r = toCV();
    const s = r.state; // cvEntry 20 A, tail 2 A
    expect(socEstimate(s, S, 11)).toBeCloseTo(97.5, 9); // frac 0.5 → 100 − 2.5
    expect(socEstimate(s, S, 20)).toBeCloseTo(95, 9);
    expect(socEstimate(s, S, 1)).toBe(99.9);
    r.do({ type: 'stop', now: at(13), reason: 'User stop' });
    expect(socEstimate(r.state, S, 0)).toBeCloseTo(30 + ((r.state.ah - r.state.socAhBase) / 100) * 100, 9);
  });
});

describe('stop (§4.7, Δ7)', () => {
  it('manual stop → done with the reason, standby and outcome "stopped"', () => {
    const r = toCC();
    r.do({ type: 'stop', now: at(20), reason: 'User stop' });
    expect(r.phases).toEqual(['CC>done']);
    expect(r.last.commands).toEqual([{ kind: 'standby', reason: 'User stop' }]);
    expect(r.state).toMatchObject({ outcome: 'stopped', stopReason: 'User stop' });
    expect(r.last.notes).toContainEqual(expect.objectContaining({ type: 'session-ended', outcome: 'stopped', reason: 'User stop' }));
    expect(r.do({ type: 'stop', now: at(21), reason: 'again' }).notes).toEqual([{ type: 'rejected', input: 'stop', reason: 'Not charging' }]);
    // DONE is left only by a new start, which clears Ah/Wh
    r.start(30);
    expect(r.state).toMatchObject({ phase: 'detect', ah: 0, wh: 0, outcome: null });
  });

  it('inactive phases ignore status and tick', () => {
    const r = new Rig();
    expect(r.status(0, rd(53, 10, 'p1', { alarm: true })).commands).toEqual([]);
    expect(r.tick(1).commands).toEqual([]);
    expect(r.state.phase).toBe('idle');
  });
});

describe('pause and soft resume (Δ6)', () => {
  it('all PSUs lost (link) in CC → paused with standby (a silent PSU may still obey); their return → DETECT, then RAMP from the measured voltage', () => {
    const r = toCC();
    r.status(11, rd(53, 20));
    r.status(12, rd(53, 20));
    const { ah, wh } = r.state;
    r.do({ type: 'link', now: at(13), allPsusLost: true });
    expect(r.phases).toEqual(['CC>paused']);
    expect(r.last.commands).toEqual([{ kind: 'standby', reason: 'Link to all PSUs lost' }]);
    expect(r.state.pausedFrom).toBe('CC');
    expect(r.tick(20).commands).toEqual([]);
    r.do({ type: 'link', now: at(60), allPsusLost: false });
    expect(r.phases).toEqual(['paused>detect']);
    expect(r.last.commands).toEqual([{ kind: 'set', voltageV: 48, currentA: 0.2, reason: expect.stringContaining('Link to the PSUs restored') }]);
    expect(r.state).toMatchObject({ ah, wh });
    r.stepWith(65, 53.4, 0);
    expect(r.sets).toEqual([[53.1, 20]]); // not the old CC setpoint, not full current at the target
    expect(r.state.phase).toBe('ramp');
  });

  it('a status round with no online PSU pauses; a round with one back resumes through DETECT', () => {
    const r = toCV();
    r.status(12, rd(null, null, 'p1', { online: false }));
    expect(r.phases).toEqual(['CV>paused']);
    expect(r.last.commands).toEqual([{ kind: 'standby', reason: expect.stringContaining('No PSU of the group is online') }]);
    r.status(12.2, rd(null, null, 'p1', { online: false }));
    expect(r.last.notes).toEqual([]);
    r.status(40, rd(56, 0));
    expect(r.phases).toEqual(['paused>detect']);
    expect(r.sets).toEqual([[48, 0.2]]);
    expect(r.state.ccToCvAt).toBe(at(11)); // the session's CC→CV marker survives
  });

  it('stop while paused → done + standby', () => {
    const r = toRamp();
    r.do({ type: 'link', now: at(6), allPsusLost: true });
    r.do({ type: 'stop', now: at(7), reason: 'Web stop' });
    expect(r.state.phase).toBe('done');
    expect(r.last.commands).toEqual([{ kind: 'standby', reason: 'Web stop' }]);
  });
});

describe('PSU groups (Δ5)', () => {
  it('a PSU dropping out mid-charge: the rest carry min(total / remaining, max) with a new SET at once and a note', () => {
    const r = new Rig({ ...S, chargeCurrentA: 60 });
    r.start(0, { psuIds: ['a', 'b'] });
    r.status(4.8, rd(52, 0, 'a'), rd(52, 0, 'b'));
    r.tick(5);
    expect(r.sets).toEqual([[51.7, 30]]);
    r.status(9.8, rd(52.2, 28.6, 'a'), rd(52.2, 28.6, 'b'));
    r.tick(10);
    expect(r.state.phase).toBe('CC');
    r.status(10.2, rd(52.2, 40, 'a'), rd(null, null, 'b', { online: false }));
    expect(r.sets).toEqual([[51.8, 38.6]]); // 60 A on one unit → 41.7 A max → 2000 W / 51.8 V = 38.6 A
    const note = r.last.notes.find((n) => n.type === 'psu-group');
    expect(note).toEqual({
      type: 'psu-group',
      lost: ['b'],
      returned: [],
      online: ['a'],
      perUnitCurrentA: 38.6,
      message: 'PSU b dropped out; 1 PSU(s) carry 38.6 A each (38.6 A of 60.0 A)',
    });
    expect(r.state.phase).toBe('CC'); // the transitional round makes no CC/CV decision
    r.status(10.4, rd(52.2, 38.6, 'a'), rd(52.2, 0, 'b'));
    expect(r.sets).toEqual([[51.8, 30]]);
    expect(r.last.notes).toContainEqual(expect.objectContaining({ type: 'psu-group', returned: ['b'], online: ['a', 'b'] }));
  });

  it('in DETECT a returning PSU gets the probe again (per unit)', () => {
    const r = new Rig();
    r.start(0, { psuIds: ['a', 'b'] });
    r.status(1, rd(48, 0, 'a'), rd(null, null, 'b', { online: false }));
    expect(r.sets).toEqual([[48, 0.2]]);
    r.status(2, rd(48, 0, 'a'), rd(48, 0, 'b'));
    expect(r.sets).toEqual([[48, 0.2]]);
  });

  it('in CV the re-share keeps the target voltage', () => {
    const r = new Rig({ ...S, chargeCurrentA: 30 });
    r.start(0, { psuIds: ['a', 'b', 'c'] });
    r.status(4.8, rd(57.0, 0, 'a'), rd(57.0, 0, 'b'), rd(57.0, 0, 'c'));
    r.tick(5);
    r.status(9.8, rd(57.0, 10, 'a'), rd(57.0, 10, 'b'), rd(57.0, 10, 'c'));
    r.tick(10);
    r.status(10.2, rd(57.55, 10, 'a'), rd(57.55, 10, 'b'), rd(57.55, 10, 'c'));
    expect(r.state.phase).toBe('CV');
    r.status(10.4, rd(57.6, 4, 'a'), rd(null, null, 'c', { online: false }), rd(57.6, 4, 'b'));
    expect(r.sets).toEqual([[57.6, 15]]);
  });
});

describe('resume after a crash (Δ6)', () => {
  it('start with resume keeps Ah/Wh, phase history and safety time, and re-enters through DETECT', () => {
    const r = toCC(toRamp(new Rig({ ...S, safetyTimeLimitMin: 10 })));
    for (let t = 10.2; t < 60; t += 0.2) r.status(t, rd(54, 20));
    const crashed = r.state;
    expect(crashed.ah).toBeGreaterThan(0.27);
    const info = resumeInfoFromState(crashed, at(60));
    expect(info.chargingMs).toBe(55_000);

    const again = new Rig({ ...S, safetyTimeLimitMin: 10 });
    again.start(120, { resume: info });
    expect(again.last.commands).toEqual([{ kind: 'set', voltageV: 48, currentA: 0.2, reason: expect.stringContaining('Resuming the session') }]);
    expect(again.last.notes[0]).toMatchObject({ type: 'session-started', resumed: true });
    expect(again.state).toMatchObject({ phase: 'detect', ah: crashed.ah, wh: crashed.wh, startedAt: at(0), rampStartedAt: at(5), chargingMs: 55_000, resumed: true });
    expect(again.state.phaseHistory.map((p) => p.phase)).toEqual(['detect', 'ramp', 'CC', 'detect']);
    expect(again.state.phaseHistory.every((p, i, a) => (i < a.length - 1 ? p.endedAt !== null : p.endedAt === null))).toBe(true);
    again.stepWith(125, 54.3, 0);
    expect(again.sets).toEqual([[54, 20]]); // ramp from the battery, not back to CC at full current
    again.tick(125 + 544.9);
    expect(again.state.phase).toBe('ramp');
    again.tick(125 + 545); // 55 s + 545 s = 10 min of charging
    expect(again.state.phase).toBe('error');
  });
});
