/**
 * VE.Bus writes through the engine's command path (engine.command → admitFamilyCommand with the
 * family's check → driver) on a FakeClock rig with the simulated MK3 + MultiPlus: the gate's
 * context is what the device itself said (its setting and RAM-var info in the view), a refusal
 * never reaches the wire and is an event with its code, the configured modes are the only ones.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { WM } from '../../../src/families/vebus/codec.js';
import { vebusCheck, type VebusDeviceView } from '../../../src/families/vebus/family.js';
import type { VebusCommand } from '../../../src/families/vebus/driver.js';
import type { VebusSim } from '../../../src/families/vebus/sim.js';
import { makeSimRig, tempDbPath, type TestRig } from '../../helpers/rig.js';

const DEV = 'multi0';

function rigWith(modes?: Record<string, unknown>): TestRig {
  const dbPath = tempDbPath('pp-vebus-gate-');
  const config = parseConfig({
    database: { path: dbPath },
    links: [{ id: 'vebus0', transport: { type: 'serial', path: 'simulated', baudRate: 2400 }, vebus: { id: DEV, name: 'MultiPlus', ...(modes ? { modes } : {}) } }],
  });
  return makeSimRig({ dbPath, config });
}

async function until(t: TestRig, pred: () => boolean, what: string, maxMs = 60_000): Promise<void> {
  for (let ms = 0; ms <= maxMs; ms += 20) {
    if (pred()) return;
    await t.clock.advance(20);
  }
  throw new Error(`timed out (fake ${maxMs} ms) waiting for ${what}`);
}

/** Runs an engine command while advancing the FakeClock until it settles. */
async function command(t: TestRig, cmd: unknown, describe = 'test write') {
  let done = false;
  const p = t.rig.engine.command('api', DEV, cmd as VebusCommand, vebusCheck, describe).finally(() => (done = true));
  await until(t, () => done, 'the command to settle');
  return p;
}

const view = (t: TestRig) => t.rig.engine.device<VebusDeviceView>(DEV)!;
const sim = (t: TestRig) => t.rig.sim!.vebus.get('vebus0') as VebusSim;
/** Write requests the device received (WriteViaID and the two-step writes). */
const WRITES: number[] = [WM.WriteViaID, WM.WriteRAMVar, WM.WriteSetting, WM.WriteData];
const wireWrites = (t: TestRig) => sim(t).received.filter((f) => 'WXYZ'.includes(String.fromCharCode(f.body[0]!)) && WRITES.includes(f.body[1]!)).length;
const events = (t: TestRig, type: string) => t.store.listEvents({ types: [type], deviceId: DEV }, 1000).items;

async function ready(t: TestRig): Promise<void> {
  await until(t, () => {
    const v = view(t);
    return v.online && v.session === 'ready' && [0, 2, 15].every((id) => v.settings[id]?.info && v.settings[id]?.value !== null) && !!v.ramVars[11]?.info;
  }, 'the MultiPlus ready with its setting info read');
}

describe('VE.Bus writes through the command gate (engine.command)', () => {
  let t: TestRig;
  afterEach(async () => t?.stop());

  it('refuses before the wire, with a code and what is allowed: outside the device min/max, unknown id, wrong type, protected flag', async () => {
    t = rigWith();
    await ready(t);
    const before = wireWrites(t);
    const cases: Array<[unknown, string, RegExp]> = [
      [{ kind: 'write-setting', id: 2, value: 70, ramOnly: false }, 'OUT_OF_RANGE', /MultiPlus: setting 2 \(U_BAT_ABSORPTION\) = 70 is outside what the device allows: 48…64 in steps of 0\.01/],
      [{ kind: 'write-setting', id: 15, value: 7, ramOnly: true }, 'OUT_OF_RANGE', /VS_USAGE\) = 7 is outside what the device allows: 0…6/],
      [{ kind: 'write-setting', id: 200, value: 1, ramOnly: false }, 'NOT_FOUND', /MultiPlus has no setting 200.*known settings: 0, 1, 2/],
      [{ kind: 'write-ram-var', id: 11, value: 1 }, 'BAD_USER_INPUT', /RAM variable 11 .* is a bit variable: write true or false, got 1/],
      [{ kind: 'write-setting', id: 15, value: '3', ramOnly: true }, 'BAD_USER_INPUT', /takes a number, got "3"/],
      [{ kind: 'set-flag', flag: 6, value: 1, ramOnly: true }, 'BAD_USER_INPUT', /set \(true\) or cleared \(false\)/],
      [{ kind: 'set-flag', flag: 7, value: true, ramOnly: true }, 'BAD_USER_INPUT', /must not be changed by hand/],
    ];
    for (const [cmd, code, msg] of cases) {
      const r = await command(t, cmd);
      expect(r, JSON.stringify(cmd)).toMatchObject({ ok: false, code });
      expect((r as { message: string }).message).toMatch(msg);
    }
    expect(wireWrites(t)).toBe(before);
    const rejected = events(t, 'command.rejected');
    expect(rejected.map((e) => e.data.code).reverse()).toEqual(cases.map(([, code]) => code));
    expect(rejected.every((e) => e.data.origin === 'api')).toBe(true);
    expect(events(t, 'command.accepted')).toHaveLength(0);
  });

  it('an admitted write is requested, accepted and done, with the read-back in the event', async () => {
    t = rigWith();
    await ready(t);
    const before = wireWrites(t);
    const r = await command(t, { kind: 'write-setting', id: 3, value: 54, ramOnly: false }, 'write setting U_BAT_FLOAT = 54');
    expect(wireWrites(t)).toBe(before + 1);
    expect(r).toMatchObject({ ok: true, sent: true, readBack: { raw: 5400, value: 54 } });
    expect(sim(t).setting(3)!.eeprom).toBe(5400);
    const types = t.store.listEvents({ typePrefix: 'command.', deviceId: DEV }, 100).items.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['command.requested', 'command.accepted', 'command.done']));
    expect(events(t, 'command.done')[0]!.data).toMatchObject({ origin: 'api', command: 'write setting U_BAT_FLOAT = 54', readBack: { raw: 5400 } });
  });

  it('a device that is not heard is refused DEVICE_OFFLINE before the check and the wire', async () => {
    t = rigWith();
    await ready(t);
    sim(t).sleep(true);
    await until(t, () => !view(t).online, 'the MultiPlus offline');
    const before = sim(t).received.length;
    const r = await command(t, { kind: 'write-setting', id: 15, value: 3, ramOnly: true });
    expect(r).toMatchObject({ ok: false, code: 'DEVICE_OFFLINE' });
    expect((r as { message: string }).message).toMatch(/MultiPlus has not been heard from recently/);
    expect(sim(t).received.length).toBe(before);
  });

  it('modes are the configured ones: a configured mode applies as one command; other writes under its name are refused', async () => {
    t = rigWith({ night: { label: 'Night', steps: [{ setting: 'VS_USAGE', value: 2, ramOnly: true }, { flag: 'DISABLE_CHARGE', value: true, ramOnly: true }] } });
    await ready(t);
    expect(Object.keys(view(t).modes)).toEqual(['night']);
    // The seed's modes are not configured on this device.
    const notHere = await command(t, { kind: 'apply-mode', mode: 'prefer-battery', steps: [] });
    expect(notHere).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect((notHere as { message: string }).message).toMatch(/configured modes: night/);
    // Other writes smuggled in under the configured mode's name.
    const smuggled = await command(t, { kind: 'apply-mode', mode: 'night', steps: [{ kind: 'write-setting', id: 2, value: 64, ramOnly: false }] });
    expect(smuggled).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(sim(t).setting(2)!.eeprom).toBe(5760);
    const before = events(t, 'command.accepted').length;
    const ok = await command(t, { kind: 'apply-mode', mode: 'night', steps: [{ kind: 'write-setting', id: 15, value: 2, ramOnly: true }, { kind: 'set-flag', flag: 6, value: true, ramOnly: true }] }, 'apply mode night');
    expect(ok).toMatchObject({ ok: true, sent: true });
    expect(events(t, 'command.accepted').length).toBe(before + 1);
    expect(sim(t).setting(15)).toMatchObject({ ram: 2, eeprom: 1 });
    expect(view(t).settings[15]).toMatchObject({ ramOnly: { value: 2 }, effective: 2 });
  });
});
