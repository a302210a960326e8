/**
 * The command line as a user runs it: real `powerplane` processes (bin/powerplane.mjs, the
 * built dist/) against a real HTTP/WebSocket server on the simulated rig.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import { sha256Hex } from '../../src/auth.js';
import { detect, detectText } from '../../src/cli/detect.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'powerplane.mjs');
const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, POWERPLANE_URL: undefined, POWERPLANE_TOKEN: undefined, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const noStack = (r: Run) => expect(r.stderr + r.stdout).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe('powerplane CLI: usage', () => {
  it('--version prints the package version', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('defect 16.3: an unknown flag prints usage, exit 2, no stack trace', async () => {
    for (const args of [['--bogus'], ['get', '--bogus'], ['charge', 'status', '--frobnicate']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/unknown option/);
      expect(r.stderr).toMatch(/Usage: powerplane/);
      noStack(r);
    }
  }, 120_000);

  it('an unknown command prints usage, exit 2', async () => {
    const r = await cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
    expect(r.stderr).toMatch(/Usage: powerplane \[options\] \[command\]/);
    noStack(r);
  });

  it('bad arguments are usage errors (exit 2), naming the argument', async () => {
    const missing = await cli(['set', 'all', '54']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument 'A'/);
    const nan = await cli(['set', 'all', 'x', '3']);
    expect(nan.code).toBe(2);
    expect(nan.stderr).toMatch(/V must be a number, got "x"/);
    const badUrl = await cli(['get', '--url', 'not a url']);
    expect(badUrl.code).toBe(2);
  });

  it('a server that does not answer is exit 3, with the URL and what to do', async () => {
    const r = await cli(['get'], { POWERPLANE_URL: 'http://127.0.0.1:1' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot reach the powerplane server at http:\/\/127\.0\.0\.1:1/);
    noStack(r);
  });
});

describe('powerplane check-config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pp-cli-cfg-'));
  it('prints the resolved config (defaults filled in, plain tokens masked)', async () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(file, 'server:\n  tokens:\n    - { name: me, role: admin, token: "a-secret-token-of-16+" }\nlinks:\n  - id: can0\n    transport: { path: /dev/ttyUSB0 }\n    flatpack2: {}\n');
    const r = await cli(['check-config', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/good\.yaml is valid/);
    expect(r.stdout).toMatch(/bitrate: 125000/); // a default, filled in
    expect(r.stdout).not.toMatch(/a-secret-token/);
    const j = await cli(['check-config', file, '--json']);
    expect(JSON.parse(j.stdout).links[0].transport.serialBaud).toBe(2000000);
  });

  it('a bad config is exit 2, naming the key and what is allowed', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'links:\n  - id: can0\n    transport: { path: /dev/ttyUSB0, bitrate: 123456 }\n    flatpack2: {}\n');
    const r = await cli(['check-config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/links\.0\.transport\.bitrate: must be one of the adapter's CAN bit rates/);
    noStack(r);
    const mqtt = join(dir, 'mqtt.yaml');
    writeFileSync(mqtt, 'mqtt: { url: "http://broker", rootTopic: "a/#" }\nlinks:\n  - id: can0\n    transport: { path: /dev/ttyUSB0 }\n    flatpack2: {}\n');
    const badMqtt = await cli(['check-config', mqtt]);
    expect(badMqtt.code).toBe(2);
    expect(badMqtt.stderr).toMatch(/mqtt\.url: a broker URL such as mqtt:\/\//);
    expect(badMqtt.stderr).toMatch(/mqtt\.rootTopic: a topic prefix without MQTT wildcards/);
    const missing = await cli(['check-config', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read config file/);
  }, 120_000);
});

describe('powerplane detect', () => {
  it('names what a VID:PID probably is (serial and HID)', async () => {
    const r = await detect({
      serialList: async () => [{ path: '/dev/ttyUSB0', vendorId: '1a86', productId: '7523', manufacturer: 'QinHeng' }, { path: '/dev/ttyUSB1', vendorId: '0403', productId: '6015' }, { path: '/dev/ttyS0' }],
      hidList: async () => [{ path: '/dev/hidraw0', vendorId: 0x0665, productId: 0x5161, product: 'MyPower' }],
    });
    expect(r.serial.map((s) => [s.usbId, s.probably.split(' (')[0]!.split(' →')[0]])).toEqual([
      ['1a86:7523', 'Waveshare USB-CAN-A'],
      ['0403:6015', 'Victron MK3-USB'],
      [null, 'not a USB device'],
    ]);
    expect(r.hid[0]).toMatchObject({ usbId: '0665:5161', path: '/dev/hidraw0' });
    expect(r.hid[0]!.probably).toMatch(/PI18/);
    expect(detectText(r)).toMatch(/\/dev\/ttyUSB0\s+1a86:7523/);
  });

  it('without udevadm lists serial ports from /sys and says why', async () => {
    const r = await detect({ serialList: async () => Promise.reject(new Error('spawn udevadm ENOENT')), hidList: async () => [], sysfsRoot: join(tmpdir(), 'no-such-sysfs') });
    expect(r.notes.join('\n')).toMatch(/udevadm is not installed/);
  });

  it('runs on this machine: exit 0, JSON with serial, hid and notes', async () => {
    const r = await cli(['detect', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Array.isArray(j.serial) && Array.isArray(j.hid) && Array.isArray(j.notes)).toBe(true);
  });
});

describe('powerplane commands over the API', () => {
  let s: LiveServer;
  let env: Record<string, string>;
  beforeAll(async () => {
    s = await startLiveServer({ speed: 20, bms: true });
    env = { POWERPLANE_URL: s.url };
    await waitFor(async () => {
      const r = await s.gql<{ devices: Array<{ online: boolean }> }>('{ devices { online } }');
      return (r.data?.devices.filter((d) => d.online).length ?? 0) >= 3;
    }, 'three devices online', 20_000);
  });
  afterAll(() => s?.stop());

  it('get: a table of every device; --json; get <id>; an unknown id is exit 1 NOT_FOUND', async () => {
    const t = await cli(['get'], env);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^ID\s+KIND\s+NAME/);
    expect(t.stdout).toMatch(/fp2-192750001639\s+flatpack2\s+Rectifier A\s+yes/);
    expect(t.stdout).toMatch(/bms0\s+bms/);
    const j = await cli(['get', '--json'], env);
    const devices = JSON.parse(j.stdout) as Array<{ id: string; kind: string }>;
    expect(devices.map((d) => d.id).sort()).toEqual(['bms0', 'fp2-163850019608', 'fp2-192750001639']);
    const one = await cli(['get', 'fp2-192750001639', '--url', s.url]);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/serial\s+192750001639/);
    const none = await cli(['get', 'nope'], env);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/NOT_FOUND/);
  }, 120_000);

  it('map: serial → id', async () => {
    const r = await cli(['map', '--json'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ serial: '192750001639', id: 'fp2-192750001639', bus: 'can0' }), expect.objectContaining({ serial: '163850019608', id: 'fp2-163850019608' })]),
    );
  });

  it('set goes through the gate: accepted (exit 0) and refused with its code (exit 1)', async () => {
    const ok = await cli(['set', 'all', '54', '5', '--json'], env);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ sent: true, voltageV: 54, currentA: 5 });
    expect(s.rig.engine.busSetpoint('can0')).toMatchObject({ voltageV: 54, currentA: 5, standby: false });
    const refused = await cli(['set', 'all', '60', '10'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/OUT_OF_RANGE: voltage 60 V is outside/);
    expect(s.rig.engine.busSetpoint('can0')).toMatchObject({ voltageV: 54 });
  });

  it('standby (every PSU without an id)', async () => {
    const r = await cli(['standby'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sent:/);
    expect(s.rig.engine.busSetpoint('can0')).toMatchObject({ standby: true });
  });

  it('charge start / status / monitor / config / battery / stop', async () => {
    const start = await cli(['charge', 'start', '10'], env);
    expect(start.stderr).toBe('');
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(/charger charger1: started, phase \w+, 10 A/);
    const again = await cli(['charge', 'start'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/ALREADY_CHARGING/);
    const status = await cli(['charge', 'status', '--json'], env);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: 'charger1', chargeCurrentA: 10 });
    const monitor = await cli(['charge', 'monitor', '--count', '2'], env);
    expect(monitor.code).toBe(0);
    expect(monitor.stdout.trim().split('\n')).toHaveLength(2);
    expect(monitor.stdout).toMatch(/target 57\.60 V/);
    const config = await cli(['charge', 'config'], env);
    expect(config.stdout).toMatch(/settings\.cellCount\s+16/);
    const battery = await cli(['charge', 'battery', '--json'], env);
    expect(JSON.parse(battery.stdout)).toMatchObject({ charger: 'charger1', pack: { cells: 16, packVoltageMaxV: 57.6 }, bms: { id: 'bms0', kind: 'bms' } });
    const stop = await cli(['charge', 'stop'], env);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(/charger charger1: stopped/);
    const notCharging = await cli(['charge', 'stop'], env);
    expect(notCharging.code).toBe(1);
    expect(notCharging.stderr).toMatch(/NOT_CHARGING/);
  }, 180_000); // ten processes, each a Node start: slow on a loaded 2-core machine
});

describe('powerplane commands with tokens', () => {
  let s: LiveServer;
  beforeAll(async () => {
    s = await startLiveServer({ server: { tokens: [{ name: 'wall', role: 'viewer', sha256: sha256Hex('viewer-token-0123456789') }, { name: 'phone', role: 'operator', sha256: sha256Hex('operator-token-0123456789') }] } });
  });
  afterAll(() => s?.stop());

  it('no token is exit 1 UNAUTHENTICATED (and says how to pass one); a viewer may read but not set (FORBIDDEN); an operator may', async () => {
    const none = await cli(['get'], { POWERPLANE_URL: s.url });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/UNAUTHENTICATED.*--token or set POWERPLANE_TOKEN/);
    const viewer = await cli(['get', '--json'], { POWERPLANE_URL: s.url, POWERPLANE_TOKEN: 'viewer-token-0123456789' });
    expect(viewer.code).toBe(0);
    const forbidden = await cli(['standby', '--token', 'viewer-token-0123456789'], { POWERPLANE_URL: s.url });
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/FORBIDDEN/);
    const operator = await cli(['standby', '--token', 'operator-token-0123456789', '--url', s.url]);
    expect(operator.code).toBe(0);
  }, 120_000);
});
