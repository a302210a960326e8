/**
 * Signals on a real `powerplane serve` process: SIGHUP reloads the config's log level and says
 * what it reloaded (it used to kill the process, exit 129); SIGTERM stops the charge, leaves
 * every rectifier in standby and flushes the store before exiting 0.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gqlData, killServers, spawnServer, stopServer } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';
import { Store } from '../../src/store/store.js';

afterEach(() => killServers());

const config = (dir: string, level: string, port = 0) =>
  `server: { port: ${port} }\ndatabase: { path: ${join(dir, 'pp.db')} }\nlog: { level: ${level} }\nlinks:\n  - id: can0\n    transport: { path: ${join(dir, 'no-such-adapter')}, autodetect: false }\n    flatpack2: {}\n`;

describe('signals', () => {
  it('defect 16.1: SIGHUP reloads the log level from the config and says so, instead of killing the process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-sig-'));
    const file = join(dir, 'powerplane.yaml');
    writeFileSync(file, config(dir, 'info'));
    const s = await spawnServer(['--config', file]);
    writeFileSync(file, config(dir, 'debug', 4999));
    s.child.kill('SIGHUP');
    await waitFor(() => /SIGHUP: reloaded .*powerplane\.yaml: log level info → debug; changes to server apply after a restart/.test(s.log()), 'the reload line');
    expect(s.child.exitCode).toBe(null);
    // Debug lines now appear (the link's reconnect attempts log at debug).
    const line = JSON.parse(s.log().split('\n').find((l) => l.includes('SIGHUP: reloaded'))!);
    expect(line).toMatchObject({ level: 'info', reloaded: ['log.level'], needRestart: ['server'] });
    // A broken config on SIGHUP is reported and the running settings stay.
    writeFileSync(file, 'log: { level: loud }\n');
    s.child.kill('SIGHUP');
    await waitFor(() => /SIGHUP: .*was not reloaded, the running settings stay/.test(s.log()), 'the refusal line');
    expect(s.child.exitCode).toBe(null);
    const r = await gqlData<{ buses: Array<{ id: string }> }>(s.url, '{ buses { id } }');
    expect(r.buses).toEqual([{ id: 'can0' }]);
    await stopServer(s.child, 'SIGTERM');
    expect(s.child.exitCode).toBe(0);
  });

  it('defect 16.4: LOG_LEVEL (ignored before) and --log-level set the level (the flag wins); a bad one is exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-sig-'));
    const env = { ...process.env, LOG_LEVEL: 'warn' };
    const quiet = await spawnServer(['--port', '0', '--db', join(dir, 'a.db'), '--sim-speed', '5'], { env: { ...env, LOG_LEVEL: 'info' } });
    expect(quiet.log()).toMatch(/"level":"info".*log level info \(from LOG_LEVEL\)/);
    await stopServer(quiet.child, 'SIGTERM');
    const flag = await spawnServer(['--port', '0', '--db', join(dir, 'b.db'), '--sim-speed', '5', '--log-level', 'debug'], { env });
    expect(flag.log()).toMatch(/log level debug \(from --log-level\)/);
    await stopServer(flag.child, 'SIGTERM');
    await expect(spawnServer(['--port', '0', '--db', join(dir, 'c.db'), '--log-level', 'loud'])).rejects.toThrow(/exited \(2\)[\s\S]*--log-level must be one of/);
  });

  it('defect 16.2: SIGTERM stops the charge and leaves the rectifiers in standby, then exits 0 with the store flushed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-sig-'));
    const db = join(dir, 'sim.db');
    const s = await spawnServer(['--port', '0', '--db', db, '--sim-speed', '10']);
    // The demo has more than rectifiers now (EVSE, inverters, MultiPlus): wait for the charger's own.
    await waitFor(async () => (await gqlData<{ devices: Array<{ kind: string; online: boolean }> }>(s.url, '{ devices { kind online } }')).devices.filter((d) => d.online && (d.kind === 'flatpack2' || d.kind === 'bms')).length >= 3, 'the rectifiers and the BMS online', 20_000);
    const started = await gqlData<{ startCharge: { phase: string } }>(s.url, 'mutation { startCharge(chargerId: "charger1", currentA: 10) { phase } }');
    expect(started.startCharge.phase).not.toBe('idle');
    await stopServer(s.child, 'SIGTERM');
    expect(s.child.exitCode).toBe(0);
    expect(s.log()).toMatch(/SIGTERM: stopping/);
    expect(s.log()).toMatch(/standby sent on can0/);

    const store = Store.open({ path: db });
    try {
      const stopping = store.latestEvent({ types: ['service.stopping'] })!;
      expect(stopping.data).toEqual({ signal: 'SIGTERM' });
      const ended = store.latestEvent({ types: ['charger.session.ended'] })!;
      expect(ended.id).toBeGreaterThan(stopping.id);
      expect(ended.data).toMatchObject({ outcome: 'stopped', reason: 'service stopping (SIGTERM)' });
      // The last setpoint anyone accepted for can0 is standby, after the stop began.
      const last = store.listEvents({ types: ['setpoint.accepted'] }, 1).items[0]!;
      expect(last.id).toBeGreaterThan(stopping.id);
      expect(last.data).toMatchObject({ standby: true });
      expect(store.listEvents({ types: ['setpoint.sent'] }, 1).items[0]!.id).toBeGreaterThan(last.id);
    } finally {
      store.close();
    }
  });
});
