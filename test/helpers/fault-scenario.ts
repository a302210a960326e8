/**
 * Random fault scenarios over the simulated rig (issue 8): SIGKILL-equivalent restarts from the
 * same database, adapter unplug/replug, PSU join/drop, BMS silence, stop/standby/start at any
 * moment, settings changes, manual setpoints — with the safety invariants checked after every
 * step. Used by test/engine/fault-scenarios.test.ts (a few hundred runs) and bench/soak.ts
 * (`npm run soak`, ≥ 10,000 runs).
 */
import type { BatteryView } from '../../src/families/bms/view.js';
import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { makeCrashableRig, type CrashableRig } from './crash-rig.js';
import { tempDbPath } from './rig.js';
import { simulatedConfig, SIM_PSU_SERIALS } from '../../src/rig.js';
import { decodeFp2 } from '../../src/families/flatpack2/codec.js';
import { FLATPACK2_STANDBY } from '../../src/families/flatpack2/limits.js';

export type Op =
  | { k: 'advance'; ms: number }
  | { k: 'crash'; downMs: number }
  | { k: 'unplug'; downMs: number }
  | { k: 'psu'; which: 0 | 1; present: boolean }
  | { k: 'bmsSilence'; ms: number }
  | { k: 'start'; currentA: number | null }
  | { k: 'stop' }
  | { k: 'standby'; target: 'all' | 0 | 1 }
  | { k: 'manual'; voltageV: number; currentA: number }
  | { k: 'current'; chargeCurrentA: number }
  /** The BMS starts speaking the other dialect (a Pylontech stack on a deye config, or back). */
  | { k: 'dialect' }
  /** The event loop is blocked (a heavy query, GC, a loaded machine): time passes, no timer fires. */
  | { k: 'stall'; ms: number };

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 200, max: 60_000 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('crash' as const), downMs: fc.integer({ min: 0, max: 30_000 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('unplug' as const), downMs: fc.integer({ min: 100, max: 40_000 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('psu' as const), which: fc.constantFrom(0 as const, 1 as const), present: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('bmsSilence' as const), ms: fc.integer({ min: 1000, max: 30_000 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('start' as const), currentA: fc.option(fc.integer({ min: 5, max: 60 }), { nil: null }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('stop' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('standby' as const), target: fc.constantFrom('all' as const, 0 as const, 1 as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('manual' as const),
      voltageV: fc.integer({ min: 4800, max: 5700 }).map((x) => x / 100),
      currentA: fc.integer({ min: 1, max: 200 }).map((x) => x / 10),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('current' as const), chargeCurrentA: fc.integer({ min: 4, max: 60 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dialect' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('stall' as const), ms: fc.integer({ min: 100, max: 20_000 }) }) },
);

export interface ScenarioStats {
  steps: number;
  crashes: number;
  unplugs: number;
  starts: number;
  resumes: number;
  sets: number;
}

/** A violated invariant, with what led to it. */
export class InvariantError extends Error {}

const isStandby = (v: number, a: number) => v === FLATPACK2_STANDBY.voltageV && a === FLATPACK2_STANDBY.currentA;

/**
 * Runs one scenario and throws InvariantError at the first violated invariant. `faults`
 * switches individual fixes off in the checker's eyes (none: the checks as specified).
 */
export async function runScenario(ops: Op[], opts: { socPct?: number; absentAtStart?: 0 | 1 | null } = {}): Promise<ScenarioStats> {
  const dbPath = tempDbPath('pp-scn-');
  const config = simulatedConfig({ port: 0, dbPath, bms: true, vebus: false });
  config.chargers[0].settings = { ...config.chargers[0].settings, capacityAh: 200, chargeCurrentA: 30, tailCurrentA: 3 };
  const t = makeCrashableRig({ config, dbPath, pack: { socPct: opts.socPct ?? 40, capacityAh: 200 } });
  const stats: ScenarioStats = { steps: 0, crashes: 0, unplugs: 0, starts: 0, resumes: 0, sets: 0 };
  const fp2 = t.hw.parts.flatpack2.get('can0')!;
  const sets: Array<{ voltageV: number; currentA: number }> = [];
  t.hw.parts.canBuses.get('can0')!.attach('invariant-spy', (f) => {
    const m = decodeFp2(f);
    if (m.kind !== 'set') return;
    sets.push({ voltageV: m.voltageV, currentA: m.currentA ?? Infinity });
  });
  /** The explicit manual setpoint in force (null: none; standby/stop/charge replace it). */
  let manual: { voltageV: number; currentA: number } | null = null;
  let crashed = false;
  const trail: string[] = [];
  const fail = (msg: string): never => {
    throw new InvariantError(`${msg}\n  after: ${trail.slice(-12).join(' → ')}`);
  };
  const charger = () => t.rig.engine.charger('charger1')!;

  /** The adapter link of can0 has been up for a moment (restore had its chance). */
  const linkSettled = () => {
    const row = t.store.db.prepare(`SELECT ts, data FROM events WHERE type = 'link.changed' AND bus_id = 'can0' ORDER BY id DESC LIMIT 1`).get() as
      | { ts: number; data: string }
      | undefined;
    return !!row && (JSON.parse(row.data) as { state: string }).state === 'up' && t.clock.now() - row.ts >= 2000;
  };

  const check = () => {
    stats.steps++;
    if (crashed) return;
    const c = charger();
    const view = c.view();
    const owning = c.activeSessionId !== null;
    const loggedIn = SIM_PSU_SERIALS.map((s) => fp2.psu(s)).filter((p) => p.present && p.loggedIn);
    // A PSU at its fallback voltage (43.5 V, below any pack here) cannot push current into the
    // pack; it obeys the next SET, which the charger has already shared over it.
    const deliverable = loggedIn.filter((p) => p.setVoltageV > 43.5 + 1e-9).reduce((a, p) => a + p.currentLimitA, 0);
    const limits = t.rig.engine.listBuses().find((b) => b.id === 'can0')!.limits!;
    if (owning) {
      const battery = t.rig.engine.device<BatteryView>('bms0');
      const bmsCcl = battery?.online ? (battery.snapshot?.chargeCurrentLimitA ?? Infinity) : Infinity;
      const allowed = Math.min(view.chargeCurrentA, bmsCcl, loggedIn.length * limits.maxCurrentA);
      // DETECT probes and standby are per unit and tiny; anything above them must fit the limit.
      const probe = loggedIn.every((p) => p.currentLimitA <= Math.max(view.settings.detectCurrentA, FLATPACK2_STANDBY.currentA));
      if (!probe && deliverable > allowed + 1e-6) {
        fail(`charger owns the bus: ${loggedIn.length} PSU(s) × per-unit limits = ${deliverable.toFixed(1)} A > allowed ${allowed.toFixed(1)} A (charge ${view.chargeCurrentA} A, BMS ${bmsCcl} A)`);
      }
      // A rectifier this server never reached (plugged in while the adapter was away) runs at
      // its factory power-on voltage until its first login: outside any software's control, so
      // its output is not the charger's.
      const unreached = SIM_PSU_SERIALS.map((s) => fp2.psu(s)).filter((p) => p.present && !p.loggedIn && p.defaultVoltageV > 43.5 + 1e-9);
      const unreachedA = unreached.reduce((a, p) => a + p.outputA, 0);
      if (fp2.totalCurrentA - unreachedA > Math.max(allowed, loggedIn.length * view.settings.detectCurrentA) + 0.5) {
        fail(`pack current ${fp2.totalCurrentA.toFixed(2)} A (${unreachedA.toFixed(2)} A of it from rectifiers never reached) > allowed ${allowed.toFixed(1)} A`);
      }
    } else if (!c.resumePending && linkSettled()) {
      // (While the adapter is away a stop or standby is the bus's desired state; it must be on
      // the PSUs once the link is back, which is when this is checked.)
      for (const p of loggedIn) {
        const fallback = p.setVoltageV <= 43.5 + 1e-9; // logged in, not yet set: its fallback, below the pack
        const standby = isStandby(p.setVoltageV, p.currentLimitA);
        const asManual = manual !== null && Math.abs(p.setVoltageV - manual.voltageV) < 0.006 && p.currentLimitA <= manual.currentA + 1e-9;
        if (!fallback && !standby && !asManual) {
          fail(`no charger runs and no manual request asks for it, yet PSU ${p.serial} holds ${p.setVoltageV} V / ${p.currentLimitA} A (manual: ${JSON.stringify(manual)})`);
        }
      }
    }
  };

  /** The first charger setpoint after every resume in the log is the soft-start probe. */
  const checkResumes = () => {
    const rows = t.store.db
      .prepare(`SELECT type, data FROM events WHERE type IN ('charger.session.started', 'setpoint.accepted') ORDER BY id`)
      .all() as Array<{ type: string; data: string }>;
    let afterResume = false;
    const s = charger().view().settings;
    for (const r of rows) {
      const d = JSON.parse(r.data) as Record<string, unknown>;
      if (r.type === 'charger.session.started') {
        afterResume = d.resumed === true;
        if (afterResume) stats.resumes++;
      } else if (afterResume && d.origin === 'charger' && d.standby !== true) {
        if (!(d.voltageV === s.detectVoltageV && d.currentA === s.detectCurrentA)) {
          fail(`first charger SET after a resume was ${String(d.voltageV)} V / ${String(d.currentA)} A, not the DETECT probe`);
        }
        afterResume = false;
      }
    }
  };

  try {
    // A rectifier that is not there yet at start joins later through a 'psu' step.
    if (opts.absentAtStart != null) fp2.setPresent(SIM_PSU_SERIALS[opts.absentAtStart], false);
    await t.clock.advance(5000);
    check();
    for (const op of ops) {
      trail.push(JSON.stringify(op));
      switch (op.k) {
        case 'advance':
          // In slices, so the invariants are checked while things happen, not only after.
          for (let left = op.ms; left > 0; left -= 5000) {
            await t.clock.advance(Math.min(5000, left));
            check();
          }
          break;
        case 'crash': {
          t.crash();
          crashed = true;
          stats.crashes++;
          await new Promise((r) => setImmediate(r));
          if (op.downMs) await t.clock.advance(op.downMs);
          t.restart();
          crashed = false;
          break;
        }
        case 'unplug':
          stats.unplugs++;
          t.hw.parts.unplug('can0');
          for (let left = op.downMs; left > 0; left -= 5000) {
            await t.clock.advance(Math.min(5000, left));
            check();
          }
          t.hw.parts.replug('can0');
          break;
        case 'psu':
          fp2.setPresent(SIM_PSU_SERIALS[op.which], op.present);
          break;
        case 'bmsSilence':
          t.hw.parts.bms.get('can1')!.silenceAll(true);
          for (let left = op.ms; left > 0; left -= 5000) {
            await t.clock.advance(Math.min(5000, left));
            check();
          }
          t.hw.parts.bms.get('can1')!.silenceAll(false);
          break;
        case 'start': {
          const r = await charger().startCharge('api', op.currentA ?? undefined);
          if (r.ok) {
            stats.starts++;
            manual = null;
          }
          break;
        }
        case 'stop': {
          const r = await charger().stopCharge('api', 'User stop (API)');
          if (r.ok) manual = null;
          break;
        }
        case 'standby': {
          const target = op.target === 'all' ? 'all' : `fp2-${SIM_PSU_SERIALS[op.target]}`;
          const r = await t.rig.engine.standby('api', target);
          if (r.ok) manual = null;
          break;
        }
        case 'manual': {
          const r = await t.rig.engine.setPsuOutput('api', 'all', { voltageV: op.voltageV, currentA: op.currentA });
          if (r.ok) manual = { voltageV: r.voltageV, currentA: r.currentA };
          break;
        }
        case 'current':
          await charger().updateSettings('api', { chargeCurrentA: op.chargeCurrentA });
          break;
        case 'stall':
          t.clock.stall(op.ms);
          break;
        case 'dialect': {
          const bms = t.hw.parts.bms.get('can1')!;
          bms.setDialect(bms.dialect === 'deye' ? 'pylontech' : 'deye');
          break;
        }
      }
      await t.clock.advance(1000);
      check();
    }
    checkResumes();
    // Every SET that reached the bus passed the gate: an accepted setpoint with those values is on disk.
    const accepted = t.store.listEvents({ types: ['setpoint.accepted'] }, 100_000).items;
    const key = (v: number, a: number) => `${v.toFixed(2)}/${a.toFixed(1)}`;
    const passed = new Set(accepted.map((e) => key(Number(e.data.voltageV), Number(e.data.currentA))));
    for (const s of sets) if (!passed.has(key(s.voltageV, s.currentA))) fail(`SET ${key(s.voltageV, s.currentA)} on the wire has no setpoint.accepted event`);
    stats.sets = sets.length;
    return stats;
  } finally {
    await t.stop();
    rmSync(dirname(dbPath), { recursive: true, force: true });
  }
}

/** One scenario: the steps, the pack's state of charge, and a rectifier missing at start (or none). */
export const scenarioArb = fc.record({
  ops: fc.array(opArb, { minLength: 4, maxLength: 18 }),
  socPct: fc.integer({ min: 15, max: 85 }),
  absentAtStart: fc.constantFrom(null, null, 0 as const, 1 as const),
});

/** fast-check property: random op sequences, invariants after every step. */
export function scenarioProperty() {
  return fc.asyncProperty(scenarioArb, async ({ ops, socPct, absentAtStart }) => {
    await runScenario(ops, { socPct, absentAtStart });
  });
}
