/** Scheduled jobs in the YAML: checked at load with the key of every problem, read-only, and run. */
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { simulatedConfig } from '../../src/rig.js';
import { FakeClock } from '../../src/clock.js';
import { makeSimRig, tempDbPath, type TestRig } from '../helpers/rig.js';

const LINKS = `
links:
  - id: can0
    transport: { path: simulated }
    flatpack2: {}
`;

function withJobs(jobsYaml: string) {
  const dbPath = tempDbPath('pp-cfgjobs-');
  const base = simulatedConfig({ dbPath, bms: true });
  const jobs = parseConfig({ ...parse(LINKS), jobs: parse(jobsYaml) }).jobs;
  return { dbPath, config: { ...base, jobs } };
}

describe('jobs: in the config', () => {
  let t: TestRig | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it('an invalid cron expression, an unknown timezone and a missing id are refused at parse with their keys', () => {
    const bad = () =>
      parseConfig({
        ...parse(LINKS),
        jobs: parse(`
- id: a
  name: broken cron
  cron: "0 25 * * *"
  actions: [{ type: prune-history, framesOlderThanDays: 7 }]
- id: b
  name: bad timezone
  cron: "0 1 * * *"
  timezone: Mars/Olympus
  actions: [{ type: prune-history, framesOlderThanDays: 7 }]
- id: c
  name: bad action
  cron: "0 1 * * *"
  actions: [{ type: warp-drive }]
`),
      });
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (e) {
      const msg = String((e as Error).message);
      expect(msg).toMatch(/jobs\.0\.cron: not a cron expression croner reads \("0 25 \* \* \*"\): Invalid value for hour: 25/);
      expect(msg).toMatch(/jobs\.2\.actions\.0\.type: /);
      expect(msg).toMatch(/jobs\.1\.timezone: unknown timezone "Mars\/Olympus"/);
    }
    const noId = () => parseConfig({ ...parse(LINKS), jobs: [{ name: 'x', cron: '0 1 * * *', actions: [{ type: 'prune-history', framesOlderThanDays: 7 }] }] });
    expect(noId).toThrow(/jobs\.0\.id: give job "x" an id/);
  });

  it('unknown chargers and devices, and actions a device does not support, are refused when the rig loads, with the key', () => {
    const { dbPath, config } = withJobs(`
- id: cheap-tariff
  name: charge on the cheap tariff
  cron: "0 1 * * *"
  actions: [{ type: charge-start, chargerId: charger9 }]
- id: profile
  name: summer profile
  at: "2027-04-01T00:00:00Z"
  actions: [{ type: device-command, deviceId: bms0, command: apply-profile }]
- id: psu
  name: bms as a PSU
  cron: "0 2 * * *"
  conditions: [{ type: device-online, deviceId: inverter7 }]
  actions: [{ type: dc-output-set, target: bms0, voltageV: 53, currentA: 10 }]
`);
    let msg = '';
    try {
      t = makeSimRig({ dbPath, config, clock: new FakeClock() });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      msg = String((e as Error).message);
    }
    expect(msg.split('\n').slice(1).map((l) => l.trim().split(':')[0])).toEqual(['jobs.0.actions.0.chargerId', 'jobs.1.actions.0.command', 'jobs.2.actions.0.target', 'jobs.2.conditions.0.deviceId']);
    expect(msg).toMatch(/jobs\.1\.actions\.0\.command: House bank BMS \(bms\) does not support "apply-profile"/);
  });

  it('a valid config job is scheduled, marked from the config, and runs', async () => {
    const { dbPath, config } = withJobs(`
- id: nightly-prune
  name: nightly prune
  cron: "0 3 * * *"
  timezone: UTC
  actions: [{ type: prune-history, framesOlderThanDays: 7 }]
`);
    const clock = new FakeClock(Date.parse('2026-01-01T02:59:00Z'));
    t = makeSimRig({ dbPath, config, clock });
    const s = t.rig.engine.scheduler;
    expect(s.get('nightly-prune')).toMatchObject({ source: 'config', createdBy: 'config' });
    expect(s.setEnabled('nightly-prune', false)).toMatchObject({ ok: false, code: 'READ_ONLY' });
    await clock.advance(2 * 60_000);
    expect(s.runsOf('nightly-prune', 10, null).items.map((r) => [r.outcome, new Date(r.scheduledAt!).toISOString()])).toEqual([['ok', '2026-01-01T03:00:00.000Z']]);
  });
});
