/**
 * Issue 8: the safety invariants under random fault sequences (restarts from the same
 * database, adapter loss, PSU join/drop, BMS silence and dialect swaps, stop/standby/start at
 * any moment, settings changes), checked after every step. `npm run soak` runs the same
 * property ≥ 10,000 times and prints the counts as JSON.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { runScenario, scenarioProperty, type Op } from '../helpers/fault-scenario.js';

const RUNS = Number(process.env.PP_SCENARIO_RUNS ?? 200);

/** Counterexamples the property found, each the scenario of a defect fixed since: kept as regressions. */
const FOUND: Array<[string, Op[], { socPct: number; absentAtStart?: 0 | 1 | null }]> = [
  [
    'a PSU that logs in on a charger bus with nothing to restore gets standby (it ran at its power-on 53.5 V, full current)',
    [{ k: 'crash', downMs: 20893 }, { k: 'advance', ms: 48210 }],
    { socPct: 16 },
  ],
  [
    'a manual setpoint cannot slip in before a crashed session resumes (the pending resume owns the bus)',
    [{ k: 'psu', which: 1, present: true }, { k: 'advance', ms: 26488 }, { k: 'advance', ms: 46185 }, { k: 'start', currentA: 45 }, { k: 'stop' }, { k: 'start', currentA: 50 }, { k: 'crash', downMs: 15543 }, { k: 'psu', which: 1, present: false }, { k: 'manual', voltageV: 53.06, currentA: 19.6 }, { k: 'psu', which: 0, present: false }, { k: 'unplug', downMs: 3924 }, { k: 'current', chargeCurrentA: 27 }, { k: 'crash', downMs: 15701 }],
    { socPct: 41 },
  ],
  [
    'a stop of a crashed session that has not resumed leaves the bus in standby',
    [{ k: 'psu', which: 1, present: true }, { k: 'advance', ms: 29826 }, { k: 'advance', ms: 26870 }, { k: 'start', currentA: 58 }, { k: 'psu', which: 0, present: false }, { k: 'unplug', downMs: 29830 }, { k: 'current', chargeCurrentA: 40 }, { k: 'psu', which: 1, present: true }, { k: 'manual', voltageV: 55.34, currentA: 15.3 }, { k: 'crash', downMs: 594 }, { k: 'stop' }, { k: 'advance', ms: 20739 }],
    { socPct: 50 },
  ],
  [
    'a rectifier that logs in just after a restore SET gets its own (the burst coalescing skipped it)',
    [{ k: 'start', currentA: 42 }, { k: 'advance', ms: 48379 }, { k: 'current', chargeCurrentA: 31 }, { k: 'advance', ms: 24061 }, { k: 'unplug', downMs: 3505 }, { k: 'standby', target: 0 }, { k: 'psu', which: 1, present: true }, { k: 'bmsSilence', ms: 11982 }],
    { socPct: 24, absentAtStart: 1 },
  ],
  [
    'a rectifier that joins during a BMS hold is put in standby with the others',
    [{ k: 'advance', ms: 13274 }, { k: 'manual', voltageV: 51.44, currentA: 0.3 }, { k: 'bmsSilence', ms: 1013 }, { k: 'stop' }, { k: 'standby', target: 'all' }, { k: 'start', currentA: 5 }, { k: 'dialect' }, { k: 'advance', ms: 6173 }, { k: 'psu', which: 1, present: true }, { k: 'manual', voltageV: 52.18, currentA: 12.8 }, { k: 'advance', ms: 57846 }],
    { socPct: 15, absentAtStart: 1 },
  ],
  [
    'a charge-current change while the adapter is away is refused (the rectifiers keep the current they were given); a pause puts them in standby',
    [{ k: 'start', currentA: 37 }, { k: 'unplug', downMs: 23235 }, { k: 'advance', ms: 8362 }, { k: 'psu', which: 0, present: true }, { k: 'advance', ms: 7544 }, { k: 'start', currentA: 15 }, { k: 'advance', ms: 44966 }, { k: 'unplug', downMs: 4233 }, { k: 'current', chargeCurrentA: 25 }, { k: 'start', currentA: null }, { k: 'advance', ms: 32861 }],
    { socPct: 65, absentAtStart: 1 },
  ],
  [
    'a resume the gate refuses (its current needs a rectifier that did not come back) ends the session and leaves standby',
    [{ k: 'current', chargeCurrentA: 59 }, { k: 'bmsSilence', ms: 15193 }, { k: 'start', currentA: 48 }, { k: 'psu', which: 1, present: false }, { k: 'crash', downMs: 5438 }, { k: 'bmsSilence', ms: 15863 }],
    { socPct: 19, absentAtStart: null },
  ],
  [
    'a rectifier first reached after a restart gets the bus\'s desired state right after its login (its SET went out before the login and was ignored, leaving it at its factory 53.5 V)',
    [{ k: 'start', currentA: 56 }, { k: 'crash', downMs: 21162 }, { k: 'unplug', downMs: 15366 }, { k: 'psu', which: 0, present: true }, { k: 'crash', downMs: 3144 }, { k: 'advance', ms: 212 }],
    { socPct: 58, absentAtStart: 0 },
  ],
  [
    'a start while the adapter is still connecting is refused (its probe could not reach the rectifiers, which kept a manual 19.5 A each)',
    [{ k: 'manual', voltageV: 55.39, currentA: 19.5 }, { k: 'unplug', downMs: 6196 }, { k: 'start', currentA: 27 }, { k: 'advance', ms: 41986 }, { k: 'stall', ms: 3897 }, { k: 'advance', ms: 38728 }],
    { socPct: 32, absentAtStart: null },
  ],
];

describe('issue 8: random fault scenarios keep the charger and restore safe', () => {
  it.each(FOUND)('found by the property: %s', async (_name, ops, opts) => {
    await runScenario(ops, opts);
  });

  it(`holds every invariant over ${RUNS} random fault sequences`, async () => {
    await fc.assert(scenarioProperty(), { numRuns: RUNS, seed: Number(process.env.PP_SCENARIO_SEED ?? 20261204), endOnFailure: true });
  }, 600_000);
});
