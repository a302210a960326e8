/**
 * The MultiPlus (VE.Bus through an MK3) over GraphQL, through a real HTTP server on the demo
 * rig's simulated MK3 + MultiPlus: live readings and the settings table with the device's own
 * scaling; every write through the gate, refused before the wire when the device's min/max, the
 * id or the type say no; every write an event with its origin and read-back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import { SIM_MULTI_ID } from '../../src/rig.js';
import type { VebusSim } from '../../src/families/vebus/sim.js';

type Err = { message: string; extensions: { code: string; readBack?: Record<string, unknown> } };
const DEV = SIM_MULTI_ID;

describe('VE.Bus API (InverterCharger)', () => {
  let s: LiveServer;
  let sim: VebusSim;
  const writes = () => sim.received.filter((f) => 'WXYZ'.includes(String.fromCharCode(f.body[0]!))).filter((f) => f.body[1] === 0x37 || f.body[1] === 0x32 || f.body[1] === 0x33 || f.body[1] === 0x34).length;
  const settingsQ = `query($id: ID!) { device(id: $id) { ... on InverterCharger { session settings { id name value effective ramOnly ramOnlyValue min max scale offset supported } flags { flag name stored effective ramOnly } } } }`;
  type SettingRow = { id: number; name: string | null; value: number | null; effective: number | null; ramOnly: boolean; ramOnlyValue: number | null; min: number | null; max: number | null; scale: number | null; offset: number | null; supported: boolean | null };
  const device = async () =>
    (await s.gql<{ device: { session: string; settings: SettingRow[]; flags: Array<{ flag: number; name: string | null; stored: boolean | null; effective: boolean | null; ramOnly: boolean }> } }>(settingsQ, { id: DEV })).data!.device;
  const events = (type: string) => s.store.listEvents({ types: [type], deviceId: DEV }, 1000).items;

  beforeAll(async () => {
    s = await startLiveServer({ speed: 2, vebus: true });
    sim = s.rig.sim!.vebus.get('vebus0')!;
    // Ready, with the settings the modes and these tests use read (info + value).
    await waitFor(async () => {
      const d = await device();
      return d.session === 'ready' && [0, 2, 15, 64].every((id) => d.settings.find((x) => x.id === id)?.value !== null && d.settings.find((x) => x.id === id)?.value !== undefined);
    }, 'the MultiPlus ready with its settings read', 30_000);
  });
  afterAll(async () => s?.stop());

  it('shows live DC/AC readings, state, LEDs and the modes', async () => {
    const r = await waitFor(async () => {
      const q = await s.gql<{ inverterChargers: Array<{ id: string; online: boolean; battery: { voltageV: number | null }; ac: Array<{ phase: number; inVoltageV: number | null; outVoltageV: number | null }>; state: string | null; leds: Array<{ name: string; state: string }>; modes: Array<{ name: string; label: string; steps: string[] }>; listText: string }> }>(
        '{ inverterChargers { id online battery { voltageV } ac { phase inVoltageV outVoltageV } state leds { name state } modes { name label steps } listText } }',
      );
      const d = q.data?.inverterChargers[0];
      return d && d.battery.voltageV !== null && d.ac.length > 0 && d.leds.length > 0 ? d : null;
    }, 'a full reading');
    expect(r.id).toBe(DEV);
    expect(r.online).toBe(true);
    expect(r.battery.voltageV).toBeGreaterThan(40);
    expect(r.ac[0]!.outVoltageV).toBeGreaterThan(200);
    expect(r.state).toBeTruthy();
    expect(r.modes.map((m) => m.name)).toEqual(['prefer-battery', 'prefer-ac', 'charge']);
    expect(r.modes[0]!.steps.join('; ')).toMatch(/VS_USAGE = 3 \(RAM only\).*set flag DISABLE_CHARGE \(RAM only\)/);
    expect(r.listText).toMatch(/^RAM vars:/);
    expect(r.listText).toMatch(/U_BAT_ABSORPTION: value=57\.6 default=57\.6 min=48 max=64 scale=0\.01 offset=0/);
  });

  it('refuses before the wire a setting outside the device\'s min/max, naming what is allowed', async () => {
    const before = writes();
    const r = await s.gql('mutation { writeSetting(deviceId: "multi0", id: "U_BAT_ABSORPTION", value: 70) { message } }');
    const e = (r.errors as Err[])[0]!;
    expect(e.extensions.code).toBe('OUT_OF_RANGE');
    expect(e.message).toMatch(/MultiPlus.*U_BAT_ABSORPTION.*= 70 is outside what the device allows: 48…64/);
    expect(writes()).toBe(before);
    expect(events('command.rejected').some((ev) => ev.data.code === 'OUT_OF_RANGE' && ev.data.origin === 'api')).toBe(true);
  });

  it('refuses an unknown id and a value of the wrong type before the wire, saying what is allowed', async () => {
    const before = writes();
    const unknownName = (await s.gql('mutation { writeSetting(deviceId: "multi0", id: "NO_SUCH", value: 1) { message } }')).errors as Err[];
    expect(unknownName[0]!.extensions.code).toBe('NOT_FOUND');
    expect(unknownName[0]!.message).toMatch(/unknown setting "NO_SUCH".*VS_USAGE/);
    const unknownId = (await s.gql('mutation { writeSetting(deviceId: "multi0", id: "200", value: 1) { message } }')).errors as Err[];
    expect(unknownId[0]!.extensions.code).toBe('NOT_FOUND');
    expect(unknownId[0]!.message).toMatch(/known settings: /);
    // RAM variable 11 is a bit variable in the simulator's table: a number is the wrong type.
    await waitFor(async () => (await s.gql<{ device: { ramVars: Array<{ id: number; kind: string }> } }>('{ device(id: "multi0") { ... on InverterCharger { ramVars { id kind } } } }')).data?.device.ramVars.find((v) => v.id === 11)?.kind === 'bit', 'RAM var 11 info');
    const wrongType = (await s.gql('mutation { writeRamVar(deviceId: "multi0", id: "11", value: 3) { message } }')).errors as Err[];
    expect(wrongType[0]!.extensions.code).toBe('BAD_USER_INPUT');
    expect(wrongType[0]!.message).toMatch(/bit variable: write true or false/);
    const wrongFlag = (await s.gql('mutation { setFlag(deviceId: "multi0", flag: "7", value: true) { message } }')).errors as Err[];
    expect(wrongFlag[0]!.extensions.code).toBe('BAD_USER_INPUT');
    expect(writes()).toBe(before);
  });

  it('writes a setting RAM-only: shown apart from the stored value, and the event says it cannot be read back', async () => {
    const r = await s.gql<{ writeSetting: { sent: boolean; readBack: Record<string, unknown> } }>('mutation { writeSetting(deviceId: "multi0", id: "VS_USAGE", value: 2, ramOnly: true) { sent readBack } }');
    expect(r.errors).toBeUndefined();
    expect(r.data!.writeSetting.sent).toBe(true);
    expect(r.data!.writeSetting.readBack).toMatchObject({ ramOnly: 'true', value: 2 });
    expect(sim.setting(15)).toMatchObject({ ram: 2, eeprom: 1 });
    const vs = (await device()).settings.find((x) => x.id === 15)!;
    expect(vs).toMatchObject({ name: 'VS_USAGE', value: 1, ramOnly: true, ramOnlyValue: 2, effective: 2 });
    const done = events('command.done').find((ev) => String(ev.data.command).includes('VS_USAGE'));
    expect(done?.data).toMatchObject({ origin: 'api', actor: 'local', readBack: { ramOnly: 'true' } });
  });

  it('writes a stored setting with the device scaling and reads it back; the event carries the read-back', async () => {
    const r = await s.gql<{ writeSetting: { sent: boolean; readBack: Record<string, unknown>; notes: string[] } }>('mutation { writeSetting(deviceId: "multi0", id: "2", value: 57.004) { sent readBack notes } }');
    expect(r.errors).toBeUndefined();
    expect(r.data!.writeSetting.readBack).toMatchObject({ raw: 5700, value: 57 });
    expect(r.data!.writeSetting.notes.join()).toMatch(/rounded to the device's step: 57/);
    expect(sim.setting(2)!.eeprom).toBe(5700);
    const done = events('command.done').find((ev) => String(ev.data.command).includes('U_BAT_ABSORPTION'));
    expect(done?.data).toMatchObject({ origin: 'api', readBack: { raw: 5700 } });
  });

  it('a stored setting that reads back different is reported failed (with the read-back), not retried', async () => {
    sim.script.next('ack-without-write');
    const before = writes();
    const r = await s.gql('mutation { writeSetting(deviceId: "multi0", id: "BATTERY_CAPACITY", value: 150) { message } }');
    const e = (r.errors as Err[])[0]!;
    expect(e.extensions.code).toBe('CONFLICT');
    expect(e.message).toMatch(/BATTERY_CAPACITY.*reads back 200; not retried/);
    expect(writes()).toBe(before + 1);
    expect(events('command.failed').some((ev) => ev.data.code === 'CONFLICT')).toBe(true);
  });

  it('sets and clears a flag RAM-only, and applies a mode as one command and one event', async () => {
    const set = await s.gql<{ setFlag: { readBack: Record<string, unknown> } }>('mutation { setFlag(deviceId: "multi0", flag: "DISABLE_CHARGE", value: true, ramOnly: true) { readBack } }');
    expect(set.errors).toBeUndefined();
    expect((await device()).flags.find((f) => f.name === 'DISABLE_CHARGE')).toMatchObject({ stored: false, effective: true, ramOnly: true });
    const clear = await s.gql('mutation { setFlag(deviceId: "multi0", flag: "6", value: false, ramOnly: true) { message } }');
    expect(clear.errors).toBeUndefined();
    expect((await device()).flags.find((f) => f.flag === 6)).toMatchObject({ effective: false });

    const accepted = events('command.accepted').length;
    const m = await s.gql<{ applyVebusMode: { message: string; readBack: Record<string, unknown> } }>('mutation { applyVebusMode(deviceId: "multi0", mode: "prefer-battery") { message readBack } }');
    expect(m.errors).toBeUndefined();
    expect(m.data!.applyVebusMode.message).toMatch(/mode prefer-battery applied \(2 writes\)/);
    expect(events('command.accepted').length).toBe(accepted + 1);
    const d = await device();
    expect(d.settings.find((x) => x.id === 15)).toMatchObject({ effective: 3, ramOnly: true });
    expect(d.flags.find((f) => f.name === 'DISABLE_CHARGE')).toMatchObject({ effective: true });
    expect(sim.setting(15)!.eeprom).toBe(1);

    const nope = (await s.gql('mutation { applyVebusMode(deviceId: "multi0", mode: "turbo") { message } }')).errors as Err[];
    expect(nope[0]!.extensions.code).toBe('NOT_FOUND');
    expect(nope[0]!.message).toMatch(/configured modes: prefer-battery, prefer-ac, charge/);
  });
});
