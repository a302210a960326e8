/**
 * `npm run soak [runs] [seed]`: the issue-8 fault scenarios (test/helpers/fault-scenario.ts)
 * ≥ 10,000 times — restarts, adapter loss, PSU join/drop, BMS silence, operator actions —
 * with every invariant checked after every step. Prints the counts as JSON; exits 1 with the
 * shrunk counterexample when an invariant breaks.
 */
import fc from 'fast-check';
import { runScenario, scenarioArb, type ScenarioStats } from '../test/helpers/fault-scenario.js';

const runs = Number(process.argv[2] ?? 10_000);
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);
const totals: ScenarioStats & { scenarios: number } = { scenarios: 0, steps: 0, crashes: 0, unplugs: 0, starts: 0, resumes: 0, sets: 0 };
const t0 = Date.now();
const result = await fc.check(
  fc.asyncProperty(scenarioArb, async ({ ops, socPct, absentAtStart }) => {
    const s = await runScenario(ops, { socPct, absentAtStart });
    totals.scenarios++;
    for (const k of ['steps', 'crashes', 'unplugs', 'starts', 'resumes', 'sets'] as const) totals[k] += s[k];
    if (totals.scenarios % 500 === 0) process.stderr.write(`soak: ${totals.scenarios}/${runs} scenarios, ${Math.round((Date.now() - t0) / 1000)} s\n`);
  }),
  { numRuns: runs, seed, endOnFailure: true },
);
const out = {
  runs,
  seed,
  passed: !result.failed,
  ...totals,
  seconds: Math.round((Date.now() - t0) / 100) / 10,
  ...(result.failed ? { counterexample: result.counterexample, error: String(result.errorInstance ?? '').slice(0, 2000) } : {}),
};
console.log(JSON.stringify(out, null, 2));
process.exit(result.failed ? 1 : 0);
