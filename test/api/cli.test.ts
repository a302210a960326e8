/** `powerplane serve` as a user runs it: a real process, its log, its exit codes. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'powerplane.mjs');

describe('powerplane serve', () => {
  it('runs the simulated rig without a config, says so, and serves GraphQL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-cli-'));
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--db', join(dir, 'sim.db'), '--sim-speed', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "serving" line in 20 s:\n${out}`)), 20_000);
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          const m = /serving GraphQL at (http:\/\/127\.0\.0\.1:\d+)\/graphql/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
      });
      expect(out).toMatch(/SIMULATED RIG/);
      const r = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ system { simulated } buses { id } }' }) });
      expect(await r.json()).toEqual({ data: { system: { simulated: true }, buses: [{ id: 'can0' }, { id: 'can1' }, { id: 'evse' }, { id: 'inv0' }, { id: 'inv1' }, { id: 'vebus0' }] } });
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('refuses a bad config, naming the key and what is allowed (exit code 2)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-cli-'));
    const cfg = join(dir, 'powerplane.yaml');
    writeFileSync(cfg, 'buses:\n  - id: can0\n    adapter: { path: /dev/ttyUSB0, bitrate: 123456 }\n');
    const r = spawnSync(process.execPath, [BIN, 'serve', '--config', cfg], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/buses\.0\.adapter\.bitrate: must be one of the adapter's CAN bit rates/);
  });
});
