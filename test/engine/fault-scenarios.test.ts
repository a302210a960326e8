/**
 * Issue 8: the safety invariants under random fault sequences (restarts from the same
 * database, adapter loss, PSU join/drop, BMS silence, stop/standby/start at any moment,
 * settings changes), checked after every step. `npm run soak` runs the same property
 * ≥ 10,000 times and prints the counts as JSON.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { scenarioProperty } from '../helpers/fault-scenario.js';

const RUNS = Number(process.env.PP_SCENARIO_RUNS ?? 200);

describe('issue 8: random fault scenarios keep the charger and restore safe', () => {
  it(`holds every invariant over ${RUNS} random fault sequences`, async () => {
    await fc.assert(scenarioProperty(), { numRuns: RUNS, seed: Number(process.env.PP_SCENARIO_SEED ?? 20261204), endOnFailure: true });
  }, 600_000);
});
