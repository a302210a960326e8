/**
 * `powerplane vebus monitor|write` as a user runs it: a real server process (the demo rig's
 * simulated MK3 + MultiPlus) and the CLI as a second process over its API. The seed's examples:
 * --list, the three mode command lines (RAM-only writes), stored writes, refusals with codes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, gqlData, killServers, spawnServer, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'vebus', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POWERPLANE_URL: '', POWERPLANE_TOKEN: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('powerplane vebus (CLI over the API)', () => {
  let srv: ServerProcess;
  let url: string;
  const setting = async (id: number) =>
    (await gqlData<{ device: { settings: Array<{ id: number; value: number | null; effective: number | null; ramOnly: boolean }> } }>(url, '{ device(id: "multi0") { ... on InverterCharger { settings { id value effective ramOnly } } } }')).device.settings.find((s) => s.id === id);

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-vebus-cli-'));
    srv = await spawnServer(['--port', '0', '--db', join(dir, 'sim.db'), '--sim-speed', '2']);
    url = srv.url;
    await waitFor(async () => {
      const d = (await gqlData<{ device: { session: string; settings: Array<{ id: number; value: number | null }> } | null }>(url, '{ device(id: "multi0") { ... on InverterCharger { session settings { id value } } } }')).device;
      return d?.session === 'ready' && [0, 2, 15].every((id) => typeof d.settings.find((s) => s.id === id)?.value === 'number');
    }, 'the MultiPlus ready with its settings read', 60_000, 200);
  }, 90_000);
  afterAll(() => killServers());

  it('write --list prints RAM vars, settings with value/default/min/max/scale/offset, and flags', async () => {
    const r = await cli(['write', '--url', url, '--list']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^RAM vars:\n/);
    expect(r.stdout).toMatch(/settings \(note that RAM-only changes will not be reflected here\):/);
    expect(r.stdout).toMatch(/ {4}VS_USAGE: value=1 default=1 min=0 max=6 scale=1 offset=0/);
    expect(r.stdout).toMatch(/ {4}U_BAT_ABSORPTION: value=57\.6 default=57\.6 min=48 max=64 scale=0\.01 offset=0/);
    expect(r.stdout).toMatch(/flags:\n[\s\S]* {4}DISABLE_CHARGE: value=False/);
  }, 120_000);

  it("the seed's 'prefer battery' line: --write-setting-ram-only VS_USAGE 3 --set-flag-ram-only DISABLE_CHARGE, then --list marks them RAM-only", async () => {
    const r = await cli(['write', '--url', url, '--write-setting-ram-only', 'VS_USAGE', '3', '--set-flag-ram-only', 'DISABLE_CHARGE']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/VS_USAGE.* = 3 in RAM only \(until the device restarts\)/);
    expect(await setting(15)).toMatchObject({ value: 1, effective: 3, ramOnly: true });
    const list = await cli(['write', '--url', url, '--list']);
    expect(list.stdout).toMatch(/VS_USAGE: value=1 \(RAM only: 3\)/);
    expect(list.stdout).toMatch(/DISABLE_CHARGE: value=False \(RAM only: true\)/);
    // 'charge': back to AC, charger enabled, still RAM-only.
    const charge = await cli(['write', '--url', url, '--write-setting-ram-only', 'VS_USAGE', '0', '--clear-flag-ram-only', 'DISABLE_CHARGE']);
    expect(charge.code).toBe(0);
    expect(await setting(15)).toMatchObject({ value: 1, effective: 0, ramOnly: true });
  }, 120_000);

  it('stored writes: --write-setting (read back), --set-flag / --clear-flag, --write-ram-var; --mode applies a configured mode', async () => {
    const w = await cli(['write', '--url', url, '--write-setting', 'U_BAT_FLOAT', '54', '--set-flag', 'DISABLE_CHARGE', '--clear-flag', 'DISABLE_CHARGE', '--write-ram-var', 'CHARGE_STATE', '0.5']);
    expect(w.stderr).toBe('');
    expect(w.code).toBe(0);
    const lines = w.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatch(/RAM variable 13 \(CHARGE_STATE\) = 0\.5/);
    expect(await setting(3)).toMatchObject({ value: 54, ramOnly: false });
    const ram = await cli(['write', '--url', url, '--write-ram-var', '11', 'true']);
    // RAM var 11 is a measured bit variable in the simulator: the device refuses the write.
    expect(ram.code).toBe(1);
    expect(ram.stderr).toMatch(/^powerplane vebus: [A-Z_]+: /);
    const mode = await cli(['write', '--url', url, '--mode', 'prefer-ac', '--json']);
    expect(mode.code).toBe(0);
    expect(JSON.parse(mode.stdout.trim())).toMatchObject({ command: 'apply mode prefer-ac (Prefer AC)' });
  }, 120_000);

  it('a write outside the device min/max is refused with its code and what is allowed (exit 1); bad usage exits 2; no server exits 3', async () => {
    const r = await cli(['write', '--url', url, '--write-setting', 'U_BAT_ABSORPTION', '70']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/OUT_OF_RANGE: .*U_BAT_ABSORPTION.*= 70 is outside what the device allows: 48…64/);
    const missing = await cli(['write', '--url', url, '--write-setting', 'VS_USAGE']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--write-setting takes a name and a value/);
    const nan = await cli(['write', '--url', url, '--write-setting', 'VS_USAGE', 'three']);
    expect(nan.code).toBe(2);
    const down = await cli(['write', '--url', 'http://127.0.0.1:1', '--list']);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/cannot reach the powerplane server/);
  }, 120_000);

  it('monitor prints a live table: battery, AC in → out per phase, LEDs, state', async () => {
    const r = await cli(['monitor', '--url', url, '--count', '2', '--interval', '200']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const frames = r.stdout.trim().split('\n\n');
    expect(frames).toHaveLength(2);
    expect(frames[0]).toMatch(/^MultiPlus \(multi0\) {2}online {2}session ready {2}state \S+/);
    expect(frames[0]).toMatch(/battery \d+\.\d\d V/);
    expect(frames[0]).toMatch(/phase +AC in V +AC in A +mains Hz +→ +AC out V +AC out A\nL1 +2\d\d\.\d/);
    expect(frames[0]).toMatch(/LEDs .*(mains|inverter)/);
  }, 120_000);
});
