/** deploy/: the systemd unit passes `systemd-analyze verify` and keeps serial/HID access; the udev rules name both adapters. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DEPLOY = join(import.meta.dirname, '..', '..', 'deploy');
const unit = readFileSync(join(DEPLOY, 'powerplane.service'), 'utf8');
const rules = readFileSync(join(DEPLOY, '99-powerplane.rules'), 'utf8');

/** Lines systemd-analyze prints about this unit (it exits 0 on "…, ignoring" problems, so the output is what counts). */
function verify(text: string): string[] {
  // Installed by `npm test` (scripts/ensure-systemd-analyze.sh); missing, the test fails saying so.
  const v = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (v.status !== 0) throw new Error('systemd-analyze is not installed: apt-get install -y systemd (npm test installs it as root)');
  const dir = mkdtempSync(join(tmpdir(), 'pp-unit-'));
  const file = join(dir, 'powerplane.service');
  writeFileSync(file, text);
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  return `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.includes('powerplane.service'));
}

describe('systemd unit', () => {
  it('passes systemd-analyze verify without a single complaint', () => {
    expect(verify(unit)).toEqual([]);
  });

  it('the check bites: a bad setting is reported', () => {
    expect(verify(unit.replace('Restart=on-failure', 'Restart=sometimes')).join('\n')).toMatch(/restart specifier/);
  });

  it('restarts on failure (not on a config error), runs as a dedicated user in dialout, and its hardening keeps serial and HID access', () => {
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^RestartPreventExitStatus=2$/m);
    expect(unit).toMatch(/^User=powerplane$/m);
    expect(unit).toMatch(/^SupplementaryGroups=.*\bdialout\b/m);
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/powerplane\/dist\/cli\.js serve --config /m);
    expect(unit).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    expect(unit).toMatch(/^NoNewPrivileges=yes$/m);
    expect(unit).toMatch(/^ProtectSystem=strict$/m);
    // PrivateDevices=yes would hide /dev/ttyUSB* and /dev/hidraw*.
    expect(unit).not.toMatch(/^PrivateDevices=yes/m);
    for (const dev of ['char-ttyUSB', 'char-ttyACM', 'char-hidraw']) expect(unit).toMatch(new RegExp(`^DeviceAllow=${dev} rw$`, 'm'));
  });

  it('caps glibc malloc at two arenas (set before node starts: the process cannot set it for itself)', () => {
    expect(unit).toMatch(/^Environment=MALLOC_ARENA_MAX=2$/m);
  });
});

describe('udev rules', () => {
  it('give the USB-CAN-A (1a86:7523) and the PI18 HID (0665:5161) stable names and group access', () => {
    expect(rules).toMatch(/SUBSYSTEM=="tty", ATTRS\{idVendor\}=="1a86", ATTRS\{idProduct\}=="7523", GROUP="dialout", MODE="0660", SYMLINK\+="powerplane-can%n"/);
    expect(rules).toMatch(/SUBSYSTEM=="hidraw", ATTRS\{idVendor\}=="0665", ATTRS\{idProduct\}=="5161", GROUP="plugdev", MODE="0660", SYMLINK\+="powerplane-pi18"/);
  });
});
