/**
 * `powerplane profile …` against a real server process running the demo rig (with the LVX6048
 * pair): the CLI speaks to the server's API and answers with the seed's exit codes
 * (0 ok, 1 findings, 2 invalid, 3 aborted).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, gqlData, killServers, spawnServer, type ServerProcess } from '../../helpers/server-process.js';
import { waitFor } from '../../helpers/wait.js';
import { SIM_INVERTERS } from '../../../src/rig.js';

const dir = mkdtempSync(join(tmpdir(), 'pp-profile-cli-'));
let srv: ServerProcess;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'profile', ...args, '--url', srv.url], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const MASTER = SIM_INVERTERS[0].serial;
const SLAVE = SIM_INVERTERS[1].serial;

beforeAll(async () => {
  srv = await spawnServer(['--port', '0', '--db', join(dir, 'sim.db'), '--sim-speed', '10']);
  await waitFor(
    async () => (await gqlData<{ inverters: { online: boolean; settings: unknown }[] }>(srv.url, '{ inverters { online settings { batteryType } } }')).inverters.filter((i) => i.online && i.settings).length === 2,
    'both inverters online',
    30_000,
  );
}, 120_000);
afterAll(() => killServers());

describe('powerplane profile (CLI over the running server)', () => {
  it('dump writes a YAML profile that diffs clean against the unit (exit 0); a changed one diffs with exit 1', async () => {
    const file = join(dir, 'master.yaml');
    const d = await cli(['dump', '--serial', MASTER, '--out', file]);
    expect(d.code).toBe(0);
    const yaml = readFileSync(file, 'utf8');
    expect(yaml).toMatch(/serial: "?96142109100037/);
    expect((await cli(['diff', '--serial', MASTER, '--profile', file])).code).toBe(0);
    writeFileSync(join(dir, 'changed.yaml'), yaml.replace(/max_charging_current: \d+/, 'max_charging_current: 30').replace(/max_utility_charging_current: \d+/, 'max_utility_charging_current: 20'));
    const diff = await cli(['diff', '--serial', MASTER, '--profile', join(dir, 'changed.yaml')]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toMatch(/max_charging_current: \d+ → 30/);
  }, 120_000);

  it('plan lists the frames and sends nothing; apply without --confirm is refused (exit 2); with --confirm applies (exit 0) and re-applying sends nothing', async () => {
    const file = join(dir, 'changed.yaml');
    const plan = await cli(['plan', '--serial', MASTER, '--profile', file]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/\^S\d{3}MCHGC0,030/);
    const noConfirm = await cli(['apply', '--serial', MASTER, '--profile', file]);
    expect(noConfirm.code).toBe(2);
    expect(noConfirm.stderr).toMatch(/--confirm/);
    const apply = await cli(['apply', '--serial', MASTER, '--profile', file, '--confirm']);
    expect(apply.stderr).toBe('');
    expect(apply.code).toBe(0);
    expect(apply.stdout).toMatch(/applied: .*each read back/);
    const again = await cli(['apply', '--serial', MASTER, '--profile', file, '--confirm']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/nothing-to-do/);
    const audits = await gqlData<{ inverterAudits: { action: string; result: string; operator: string }[] }>(srv.url, `{ inverterAudits(deviceId: "${MASTER}") { action result operator } }`);
    expect(audits.inverterAudits.map((a) => a.result)).toEqual(expect.arrayContaining(['applied', 'nothing-to-do', 'planned']));
  }, 120_000);

  it('an invalid profile: exit 2 with every violation listed, nothing sent', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'cutoff_voltage: 52.0\nmax_charging_current: 45\nbulk_voltage: 56.4\n');
    const r = await cli(['plan', '--serial', MASTER, '--profile', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('  - ')).length).toBeGreaterThanOrEqual(3);
  }, 120_000);

  it('compare the pair (exit 1 after the master changed) and sync-check (exit 0: in sync); a bad serial is exit 2', async () => {
    const c = await cli(['compare', '--serial', MASTER, '--serial', SLAVE]);
    expect(c.code).toBe(1);
    expect(c.stdout).toMatch(/max_charging_current.*DIFFERS/);
    const s = await cli(['sync-check', '--serial', MASTER, '--serial', SLAVE]);
    expect(s.stdout).toMatch(/in sync/);
    expect(s.code).toBe(0);
    const nope = await cli(['dump', '--serial', '12345678']);
    expect(nope.code).toBe(2);
    expect(nope.stderr).toMatch(/NOT_FOUND: no inverter "12345678"/);
  }, 120_000);
});

describe('powerplane profile apply: aborted is exit 3 (runProfileCli against a real in-process server whose simulator NAKs a step)', () => {
  it('a NAK mid-apply: exit 3, the frames with their outcomes and the rollback on the output', async () => {
    const { startLiveServer } = await import('../../helpers/server.js');
    const { runProfileCli } = await import('../../../src/cli/profile.js');
    const live = await startLiveServer({ inverters: true, speed: 20 });
    try {
      await waitFor(async () => {
        const r = await live.gql<{ inverters: { online: boolean; settings: unknown }[] }>('{ inverters { online settings { batteryType } } }');
        return r.data?.inverters.length === 2 && r.data.inverters.every((i) => i.online && i.settings);
      }, 'both inverters online', 30_000);
      const sim = (live.rig.sim!.pi18.get('inv0') as import('../../../src/families/pi18/family.js').Pi18SimNode).sim;
      const before = { ...sim.piri };
      const file = join(dir, 'nak.yaml');
      writeFileSync(file, `max_charging_current: ${before.maxChargingCurrentA === 70 ? 60 : 70}\nsolar_power_priority: ${before.solarPowerPriority === 'battery_load_utility' ? 'load_battery_utility' : 'battery_load_utility'}\n`);
      sim.script.next('nak', { when: (c) => c.startsWith('PSP') });
      const out: string[] = [];
      const err: string[] = [];
      const code = await runProfileCli(['apply', '--serial', 'inv-master', '--profile', file, '--confirm', '--url', live.url], { out: (s) => out.push(s), err: (s) => err.push(s), env: {} });
      expect(code).toBe(3);
      expect(err.join('\n')).toMatch(/^aborted \(CONFLICT\): .*step 2 of 2/);
      expect(out.join('\n')).toMatch(/1\. MCHGC0,0\d0: ack/);
      expect(out.join('\n')).toMatch(/2\. PSP\d: nak/);
      expect(out.join('\n')).toMatch(/rollback 1\. MCHGC0,0\d0: ack/);
      expect(sim.piri.maxChargingCurrentA).toBe(before.maxChargingCurrentA);
      // Unreachable server: exit 2 with what to do.
      const e2: string[] = [];
      expect(await runProfileCli(['dump', '--serial', 'x', '--url', 'http://127.0.0.1:9'], { out: () => {}, err: (s) => e2.push(s), env: {} })).toBe(2);
      expect(e2.join('')).toMatch(/cannot reach the powerplane server at http:\/\/127\.0\.0\.1:9/);
    } finally {
      await live.stop();
    }
  }, 120_000);
});
