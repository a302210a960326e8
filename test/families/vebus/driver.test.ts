/**
 * VebusDriver against the simulator on the memory transport and the FakeClock: session,
 * polling plan, observations, writes, rate limit, read-back, offline and reconnect.
 * (The simulation reference's seven acceptance checks run over a real pty in pty.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AdmittedCommand } from '../../../src/families/contract.js';
import { decodeWinmon, letterOf, WM, type Mk2Frame } from '../../../src/families/vebus/codec.js';
import type { VebusCommand } from '../../../src/families/vebus/driver.js';
import { vebusRig, type VebusRig } from '../../helpers/vebus-rig.js';

const rigs: VebusRig[] = [];
afterEach(async () => {
  while (rigs.length) await rigs.pop()!.close();
});
async function ready(opts: Parameters<typeof vebusRig>[0] = {}): Promise<VebusRig> {
  const r = await vebusRig(opts);
  rigs.push(r);
  await r.start();
  await r.until(() => r.readings().length > 0, 'a first reading');
  return r;
}
/** Test-only: the gate is the only maker of admitted commands; here we play the gate. */
const admit = (c: VebusCommand) => c as AdmittedCommand<VebusCommand>;
/** The background read of the settings table and RAM-var infos has finished. */
const swept = (r: VebusRig) => r.obs.some((o) => o.type === 'fact' && o.fact.kind === 'session' && o.fact.detail === 'settings table read');
const wmCmd = (f: Mk2Frame) => (['W', 'X', 'Y', 'Z'].includes(letterOf(f) ?? '') ? f.body[1] : undefined);

describe('VebusDriver session and polling (memory transport)', () => {
  it('goes online with identity, then polls DC, AC L1, L, a RAM batch and F 5 as one reading', async () => {
    const r = await ready();
    expect(r.presence().at(-1)).toMatchObject({ online: true, deviceId: 'multi', identity: { mkVersion: 1170212, firmware: 2629492, address: 0 } });
    expect(r.obs.find((o) => o.type === 'identity')).toMatchObject({ deviceId: 'multi', identity: { mkVersion: 1170212, firmware: 2629492, address: 0 } });
    const v = r.readings()[0]!.values;
    expect(v).toMatchObject({
      batteryVoltageV: 52.8,
      batteryCurrentA: 10,
      chargerDcCurrentA: 10,
      acInL1VoltageV: 230.12,
      acInL1CurrentA: 3.63,
      acOutL1VoltageV: 230.05,
      acOutL1CurrentA: 1.2,
      state: 'charge',
      chargeSubState: 'bulk',
      currentLimitA: 16,
      ledOn: 0x05,
      'ram.CHARGE_STATE': 0.75,
      'ram.INVERTER_POWER_FILTERED': 560,
      'ram.INPUT_POWER_FILTERED': -836,
      'ram.OUTPUT_POWER_FILTERED': 276,
      'ram.IGNORE_AC_INPUT_STATE': 0,
      'ram.MULTI_FUNCTIONAL_RELAY_STATE': 1,
      socPct: 75,
    });
    expect(v.mainsL1FrequencyHz as number).toBeCloseTo(50.05, 2);
    // One poll's requests, in plan order (after init and the settings sweep); F 2..4 are not asked of a 1-phase device.
    await r.until(() => swept(r), 'the settings sweep');
    expect(r.driver.scaling().settings.get(58)).toMatchObject({ supported: true, scale: -100 });
    expect(r.driver.scaling().settings.get(10)).toMatchObject({ supported: false });
    const n0 = r.readings().length;
    await r.until(() => r.readings().length > n0, 'a reading after the sweep');
    r.tx.clear();
    const n1 = r.readings().length;
    await r.until(() => r.readings().length > n1, 'the next reading');
    const plan = r.tx.frames.map((f) => (letterOf(f) === 'F' ? `F${f.body[1]}` : wmCmd(f) === WM.ReadRAMVar ? 'RAM' : wmCmd(f) === WM.GetSetDeviceState ? 'STATE' : letterOf(f)));
    expect(plan).toEqual(['F0', 'F1', 'L', 'STATE', 'RAM', 'RAM', 'F5']);
  });
  it('frame observations: protocol mk2, both directions, readable text and kind', async () => {
    const r = await ready();
    const frames = r.obs.filter((o) => o.type === 'frame').map((o) => (o as Extract<typeof o, { type: 'frame' }>).frame);
    expect(frames.find((f) => f.dir === 'tx' && f.kind === 'address')).toMatchObject({ protocol: 'mk2', address: '0', deviceId: 'multi', text: 'A action 1 address 0' });
    expect(frames.find((f) => f.dir === 'rx' && f.kind === 'dc')!.text).toBe('DC 52.8 V inverter 0 A charger 10 A');
    expect(frames.find((f) => f.dir === 'rx' && f.kind === 'version')!.text).toMatch(/^V version 1170212/);
  });
  it('goes offline when the MK falls silent (Multi asleep) and re-initialises when it speaks again', async () => {
    const r = await ready();
    await r.until(() => swept(r), 'the settings sweep');
    const infoReads = r.driver.stats().infoReads;
    r.sim.sleep(true);
    const t0 = r.clock.now();
    await r.until(() => r.presence().at(-1)!.online === false, 'offline');
    expect(r.clock.now() - t0).toBeGreaterThanOrEqual(3000);
    expect(r.presence().at(-1)!.reason).toMatch(/silent.*asleep/);
    r.sim.sleep(false);
    r.tx.clear();
    await r.until(() => r.presence().at(-1)!.online === true, 'online again');
    // Address and S again; the scaling was cached, not read again.
    expect(r.tx.frames.slice(0, 2).map(letterOf)).toEqual(['A', 'S']);
    expect(r.driver.stats().infoReads).toBe(infoReads);
  });
  it('a link that goes down takes the device offline; reopened, the session starts again', async () => {
    const r = await ready();
    r.mem!.unplug();
    await r.advance(50);
    expect(r.presence().at(-1)).toMatchObject({ online: false });
    expect(r.presence().at(-1)!.reason).toMatch(/link down/);
    r.mem!.replug();
    // The supervisor retries after its backoff; the driver starts a new session on the next V.
    await r.until(() => r.presence().at(-1)!.online === true, 'online after replug');
  });
  it('a device that stops answering while the MK still talks goes offline after 3 dead polls, and comes back', async () => {
    const r = await ready();
    r.sim.script.always('drop-reply', { when: (f) => letterOf(f) !== 'A' && letterOf(f) !== 'S' });
    await r.until(() => r.presence().at(-1)!.online === false, 'offline');
    expect(r.presence().at(-1)!.reason).toMatch(/did not answer 3 polls in a row/);
    r.sim.script.clear();
    await r.until(() => r.presence().at(-1)!.online === true, 'online again');
    const n = r.readings().length;
    await r.until(() => r.readings().length > n, 'a reading again');
  });
  it('LED alarms become flag observations, one per change', async () => {
    const r = await ready();
    r.sim.alarms = 0x22; // low-battery pre-alarm + low battery
    await r.until(() => r.obs.some((o) => o.type === 'flags'), 'a flags observation');
    const on = r.obs.filter((o) => o.type === 'flags');
    expect(on).toHaveLength(1);
    expect((on[0] as Extract<(typeof on)[0], { type: 'flags' }>).changes).toEqual([
      { group: 'warning', name: 'low_battery_pre_alarm', active: true },
      { group: 'alarm', name: 'low_battery', active: true },
    ]);
    r.sim.alarms = 0x20;
    await r.until(() => r.obs.filter((o) => o.type === 'flags').length === 2, 'the pre-alarm clearing');
    const off = r.obs.filter((o) => o.type === 'flags')[1] as Extract<(typeof on)[0], { type: 'flags' }>;
    expect(off.changes).toEqual([{ group: 'warning', name: 'low_battery_pre_alarm', active: false }]);
  });
  it('an MK reset (V tail back to B) re-runs address select and S', async () => {
    const r = await ready();
    r.tx.clear();
    // A host-side R would be ours; here the MK resets on its own (power blip): V tail 'B'.
    r.sim.address = null;
    r.sim.compat = true;
    await r.until(() => r.driver.stats().mkResets === 1 && r.driver.sessionPhase === 'ready', 're-init');
    expect(r.tx.frames.map(letterOf)).toContain('A');
    expect(r.sim.compat).toBe(false);
  });
});

describe('VebusDriver writes (memory transport)', () => {
  it('writes a setting persistently (read back) and skips an unchanged one', async () => {
    const r = await ready();
    const res = await r.run(r.driver.execute(admit({ kind: 'write-setting', id: 6, value: 12.5, ramOnly: false })));
    expect(res).toMatchObject({ ok: true, sent: true, readBack: { id: 6, raw: 125, value: 12.5 } });
    expect(r.sim.setting(6)).toMatchObject({ eeprom: 125, ram: 125 });
    const again = await r.run(r.driver.execute(admit({ kind: 'write-setting', id: 6, value: 12.5, ramOnly: false })));
    expect(again).toMatchObject({ ok: true, sent: false });
    expect(r.sim.counters.eepromWrites).toBe(1);
  });
  it('rate-limits persistent writes (EEPROM wear) but not RAM-only ones', async () => {
    const r = await ready({ driver: { persistentWritesPerHour: 2, pollIntervalMs: 600_000 } });
    for (const v of [10, 11]) expect((await r.run(r.driver.execute(admit({ kind: 'write-setting', id: 6, value: v, ramOnly: false })))).ok).toBe(true);
    const third = await r.run(r.driver.execute(admit({ kind: 'write-setting', id: 6, value: 12, ramOnly: false })));
    expect(third).toMatchObject({ ok: false, code: 'RATE_LIMITED' });
    expect((third as { message: string }).message).toMatch(/EEPROM wear/);
    expect(await r.run(r.driver.execute(admit({ kind: 'write-setting', id: 6, value: 12, ramOnly: true })))).toMatchObject({ ok: true });
    for (let i = 0; i < 61; i++) await r.clock.advance(60_000);
    expect((await r.run(r.driver.execute(admit({ kind: 'write-setting', id: 6, value: 13, ramOnly: false })))).ok).toBe(true);
  }, 120_000);
  it('a setting write that reads back different is reported failed and not retried', async () => {
    const r = await ready();
    r.sim.script.next('ack-without-write');
    r.tx.clear();
    const res = await r.run(r.driver.execute(admit({ kind: 'write-setting', id: 64, value: 150, ramOnly: false })));
    expect(res).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect((res as { message: string }).message).toMatch(/reads back 200; not retried/);
    expect(r.tx.frames.filter((f) => wmCmd(f) === WM.WriteViaID)).toHaveLength(1);
  });
  it('a persistent write whose reply is lost is confirmed by its read-back, not re-sent', async () => {
    const r = await ready();
    r.sim.script.next('drop-reply', { when: (f) => wmCmd(f) === WM.WriteViaID });
    r.tx.clear();
    const res = await r.run(r.driver.execute(admit({ kind: 'write-setting', id: 64, value: 150, ramOnly: false })));
    expect(res).toMatchObject({ ok: true, readBack: { raw: 150 } });
    expect((res as { message: string }).message).toMatch(/reply was lost, the read-back confirms it/);
    expect(r.tx.frames.filter((f) => wmCmd(f) === WM.WriteViaID)).toHaveLength(1);
  });
  it('a mode whose second step fails says the first one stays applied', async () => {
    const r = await ready();
    r.sim.script.next('error-reply', { when: (f) => wmCmd(f) === WM.WriteViaID && f.body[3] === 0 });
    const res = await r.run(
      r.driver.execute(
        admit({
          kind: 'apply-mode',
          mode: 'prefer-battery',
          steps: [
            { kind: 'write-setting', id: 15, value: 3, ramOnly: true },
            { kind: 'set-flag', flag: 6, value: true, ramOnly: true },
          ],
        }),
      ),
    );
    expect(res).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect((res as { message: string }).message).toMatch(/^mode prefer-battery: step 2 failed: .*0x80.*; step 1 of 2 was applied and stays in effect$/);
    expect(r.sim.setting(15)!.ram).toBe(3);
  });
  it('set-flag RAM-only: read-modify-write of Flags0 from the EEPROM copy, later ones from the RAM value written', async () => {
    const r = await ready();
    expect(await r.run(r.driver.execute(admit({ kind: 'set-flag', flag: 6, value: true, ramOnly: true })))).toMatchObject({ ok: true, readBack: { raw: 0x81f4, ramOnly: 'true' } });
    expect(r.sim.setting(0)).toMatchObject({ eeprom: 0x81b4, ram: 0x81f4 });
    expect(await r.run(r.driver.execute(admit({ kind: 'set-flag', flag: 11, value: true, ramOnly: true })))).toMatchObject({ ok: true, readBack: { raw: 0x89f4 } });
  });
  it('Flags0 bit 7 follows bit 3 only where the device keeps them paired', async () => {
    const r = await ready();
    // 0x81B4: bit 3 clear, bit 7 set — paired: setting flag 3 clears bit 7.
    expect(await r.run(r.driver.execute(admit({ kind: 'set-flag', flag: 3, value: true, ramOnly: true })))).toMatchObject({ ok: true, readBack: { raw: 0x813c } });
  });
  it('a RAM variable write is read back; a bit variable cannot take a number', async () => {
    const r = await ready();
    expect(await r.run(r.driver.execute(admit({ kind: 'write-ram-var', id: 13, value: 0.5 })))).toMatchObject({ ok: true, readBack: { id: 13, raw: 100, value: 0.5 } });
    expect(await r.run(r.driver.execute(admit({ kind: 'write-ram-var', id: 11, value: 3 })))).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
  });
  it('apply-mode runs its writes in order and the effect shows in the next reading (prefer battery)', async () => {
    const r = await ready();
    const res = await r.run(r.driver.execute(
      admit({
        kind: 'apply-mode',
        mode: 'prefer-battery',
        steps: [
          { kind: 'write-setting', id: 15, value: 3, ramOnly: true },
          { kind: 'set-flag', flag: 6, value: true, ramOnly: true },
        ],
      }),
    ));
    expect(res).toMatchObject({ ok: true, sent: true });
    const n = r.readings().length;
    await r.until(() => r.readings().length > n, 'a reading after the mode');
    const v = r.readings().at(-1)!.values;
    expect(v.state).toBe('invert_full');
    expect(v.batteryCurrentA as number).toBeLessThan(0);
    expect(v['ram.IGNORE_AC_INPUT_STATE']).toBe(1);
    expect(r.sim.counters.eepromWrites).toBe(0);
  });
  it('refuses writes while not connected, with DEVICE_OFFLINE', async () => {
    const r = await vebusRig({ simStarted: false });
    rigs.push(r);
    await r.start();
    expect(await r.run(r.driver.execute(admit({ kind: 'write-setting', id: 6, value: 10, ramOnly: false })))).toMatchObject({ ok: false, code: 'DEVICE_OFFLINE' });
  });
  it('compat mode: two-step writes are never interleaved with the polling', async () => {
    const r = await ready({ driver: { compat: true, pollIntervalMs: 100 }, sim: {} });
    const writes = Promise.all([
      r.driver.execute(admit({ kind: 'write-setting', id: 64, value: 150, ramOnly: false })),
      r.driver.execute(admit({ kind: 'write-setting', id: 65, value: 90, ramOnly: false })),
    ]);
    let done = false;
    void writes.then(() => (done = true));
    await r.until(() => done, 'both writes');
    expect((await writes).map((x) => x.ok)).toEqual([true, true]);
    expect(r.sim.setting(64)!.eeprom).toBe(150);
    expect(r.sim.setting(65)!.eeprom).toBe(180);
    const seq = r.sim.received.map((f) => (['X', 'Y', 'Z'].includes(letterOf(f) ?? '') ? f.body[1] : -1));
    const firstHalves = seq.flatMap((c, i) => (c === WM.WriteSetting ? [i] : []));
    expect(firstHalves).toHaveLength(2);
    for (const i of firstHalves) expect(seq[i + 1]).toBe(WM.WriteData);
    // Compat mode: the split setting info was decoded.
    expect(r.driver.scaling().settings.get(65)).toMatchObject({ scale: -2, min: 60, max: 200, access: null });
    void decodeWinmon;
  });
  it('compat mode, older device: a RAM-var info split over two frames (8E sc, then 8F off) keeps its offset', async () => {
    const r = await ready({ driver: { compat: true }, sim: { splitRamVarInfo: true } });
    expect(r.driver.scaling().ramVars.get(7)).toEqual({ supported: true, scale: 0x785f, offset: 256 });
    expect(r.readings()[0]!.values.inverterFrequencyHz as number).toBeCloseTo(49.95, 2);
    expect(r.driver.scaling().ramVars.get(10)).toMatchObject({ supported: false });
  });
});
