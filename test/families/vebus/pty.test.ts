/**
 * The seven driver acceptance checks of vebus-mk2-simulation.md §8, each one test: VebusDriver
 * on a REAL pseudo-terminal (serialport on both ends, scripts/pty-pair.py between them) against
 * VebusSim, on a FakeClock that advances only while the wire is quiet (test/helpers/vebus-link.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AdmittedCommand } from '../../../src/families/contract.js';
import { decodeWinmon, letterOf, RC, WM, type Mk2Frame } from '../../../src/families/vebus/codec.js';
import { VebusError, type VebusCommand } from '../../../src/families/vebus/driver.js';
import { vebusRig, type VebusRig } from '../../helpers/vebus-rig.js';

const rigs: VebusRig[] = [];
afterEach(async () => {
  while (rigs.length) await rigs.pop()!.close();
});
async function rig(opts: Parameters<typeof vebusRig>[0] = {}): Promise<VebusRig> {
  const r = await vebusRig({ pty: true, ...opts });
  rigs.push(r);
  await r.start();
  return r;
}
const admit = (c: VebusCommand) => c as AdmittedCommand<VebusCommand>;
const wmCmd = (f: Mk2Frame) => (['W', 'X', 'Y', 'Z'].includes(letterOf(f) ?? '') ? f.body[1] : undefined);
const isWinmonOrF = (f: Mk2Frame) => wmCmd(f) !== undefined || letterOf(f) === 'F';

describe('VE.Bus acceptance checks over a real pty (vebus-mk2-simulation.md §8)', () => {
  it('check 1: finds the MK from unsolicited V frames alone; reports "no device" after ~3 s of silence', async () => {
    const r = await rig();
    await r.until(() => r.presence().at(-1)?.online === true, 'online');
    // The driver never asked for a V: the MK announced itself.
    expect(r.tx.frames.filter((f) => letterOf(f) === 'V')).toHaveLength(0);
    expect(letterOf(r.tx.frames[0]!)).toBe('A');

    const quiet = await vebusRig({ pty: true, sim: {}, simStarted: false });
    rigs.push(quiet);
    await quiet.start();
    const t0 = quiet.obs.find((o) => o.type === 'link' && o.state === 'up')!.at;
    await quiet.until(() => quiet.presence().length > 0, 'the no-device report');
    const p = quiet.presence()[0]!;
    expect(p).toMatchObject({ online: false, deviceId: 'multi' });
    expect(p.reason).toMatch(/no device: no V frame .* for 3 s/);
    expect(quiet.clock.now() - t0).toBeGreaterThanOrEqual(3000);
    expect(quiet.clock.now() - t0).toBeLessThan(3600);
    expect(quiet.tx.frames).toHaveLength(0);
  });

  it('check 2: ignores V frames that arrive between a request and its reply', async () => {
    const r = await rig();
    // Every reply to a winmon or F request comes after an extra V frame.
    r.sim.script.always('version-before-reply', { when: isWinmonOrF });
    await r.until(() => r.readings().length >= 2, 'two readings');
    expect(r.readings().at(-1)!.values).toMatchObject({ batteryVoltageV: 52.8, batteryCurrentA: 10, acInL1VoltageV: 230.12, currentLimitA: 16, 'ram.CHARGE_STATE': 0.75 });
    expect(r.sim.script.applied.length).toBeGreaterThan(10);
    expect(r.driver.stats()).toMatchObject({ pollErrors: 0, queueTimeouts: 0 });
  });

  it('check 3: init sends A 01 00 and checks its echo; the extended S (combined mode) precedes any winmon command', async () => {
    const r = await vebusRig({ pty: true });
    rigs.push(r);
    // The first echo names another address: the driver must not go on to S.
    r.sim.script.next('wrong-address');
    await r.start();
    await r.until(() => r.presence().at(-1)?.online === true, 'online');
    const letters = r.tx.frames.map((f) => letterOf(f));
    expect(letters.slice(0, 3)).toEqual(['A', 'A', 'S']);
    expect(r.obs.some((o) => o.type === 'fact' && o.fact.kind === 'session' && /init failed: .*address 1, not address 0/.test(o.fact.detail))).toBe(true);
    const s = r.tx.frames[2]!;
    // S 03 00 80 01 90 00 00 00: extended form, ext0 bit 0 clear = combined frames.
    expect(Array.from(s.body)).toEqual([0x53, 3, 0x00, 0x80, 0x01, 0x90, 0x00, 0x00, 0x00]);
    const firstWinmon = r.tx.frames.findIndex(isWinmonOrF);
    expect(firstWinmon).toBeGreaterThan(2);
    expect(r.sim.compat).toBe(false);
    // A write uses WriteViaID (0x37), which the sim only accepts in combined mode.
    const res = await r.run(r.driver.execute(admit({ kind: 'write-setting', id: 15, value: 2, ramOnly: true })));
    expect(res).toMatchObject({ ok: true });
    expect(r.tx.frames.some((f) => wmCmd(f) === WM.WriteViaID)).toBe(true);
  });

  it('check 4: scaling is read once per id and cached; signed, unsigned, bit and fractional values decode to §5', async () => {
    const r = await rig();
    await r.until(() => r.readings().length >= 3, 'three readings');
    // An MK reset forces a new init: the scaling is not read again.
    r.sim.address = null;
    await r.until(() => r.driver.stats().mkResets === 1 && r.driver.sessionPhase === 'ready', 're-init');
    const n = r.readings().length;
    await r.until(() => r.readings().length > n, 'a reading after re-init');
    const infoReads = r.tx.frames.filter((f) => wmCmd(f) === WM.GetRAMVarInfo).map((f) => f.body[2]! | (f.body[3]! << 8));
    expect(infoReads.length).toBeGreaterThan(10);
    expect(new Set(infoReads).size).toBe(infoReads.length);
    const settingInfoReads = r.tx.frames.filter((f) => wmCmd(f) === WM.GetSettingInfo).map((f) => f.body[2]! | (f.body[3]! << 8));
    expect(new Set(settingInfoReads).size).toBe(settingInfoReads.length);
    const v = r.readings().at(-1)!.values;
    // unsigned ×0.01: UMains, UInverter, UBat; signed ×0.01: IMains; signed ×0.1: IBat;
    // signed ×1: the powers (AC-in −836 W); bit: ignore-AC (bit 4 = 0), relay (bit 5 = 1);
    // fractional 1/200: charge state; 1/976 and 1/1953 + 256: the periods (≈ 50 Hz).
    expect(v).toMatchObject({
      acInL1VoltageV: 230.12,
      acOutL1VoltageV: 230.05,
      batteryVoltageV: 52.8,
      acInL1CurrentA: 3.63,
      batteryCurrentA: 10,
      'ram.SIGNED_AC_LOAD_CURRENT': 1.2,
      'ram.INPUT_POWER_FILTERED': -836,
      'ram.INVERTER_POWER_FILTERED': 560,
      'ram.IGNORE_AC_INPUT_STATE': 0,
      'ram.MULTI_FUNCTIONAL_RELAY_STATE': 1,
      'ram.CHARGE_STATE': 0.75,
    });
    expect(v.mainsL1FrequencyHz as number).toBeCloseTo(50.05, 2);
    expect(v.inverterFrequencyHz as number).toBeCloseTo(49.95, 2);
    expect(r.driver.scaling().ramVars.get(10)).toEqual({ supported: false, scale: 0, offset: 0 });
  });

  it('check 5: a persistent write reads back through ReadSetting; a RAM-only write leaves ReadSetting unchanged but changes IBat', async () => {
    const r = await rig();
    await r.until(() => r.readings().length >= 1, 'a reading');
    const persistent = await r.run(r.driver.execute(admit({ kind: 'write-setting', id: 64, value: 180, ramOnly: false })));
    expect(persistent).toMatchObject({ ok: true, sent: true, readBack: { id: 64, raw: 180, value: 180, ramOnly: 'false' } });
    expect((await r.run(r.driver.readSetting(64))).raw).toBe(180);

    const ramOnly = await r.run(r.driver.execute(admit({ kind: 'set-flag', flag: 6, value: true, ramOnly: true })));
    expect(ramOnly).toMatchObject({ ok: true, sent: true, readBack: { ramOnly: 'true' } });
    // ReadSetting still shows the EEPROM copy (disable-charge clear) ...
    const flags0 = await r.run(r.driver.readSetting(0));
    expect(flags0.raw).toBe(0x81b4);
    expect(flags0.ramOnly).toBe(0x81f4);
    // ... but the charger stopped: IBat 0 in the next reading.
    const n = r.readings().length;
    await r.until(() => r.readings().length > n, 'a reading after the RAM-only write');
    expect(r.readings().at(-1)!.values).toMatchObject({ batteryCurrentA: 0, chargerDcCurrentA: 0, state: 'bypass' });
  });

  it('check 6: 9B, 80, 90, 91 are distinct driver errors; a timed-out request does not desynchronise later replies', async () => {
    const r = await rig();
    await r.until(() => r.readings().length >= 1, 'a reading');
    const access = await r.run(r.driver.execute(admit({ kind: 'write-setting', id: 81, value: 1, ramOnly: false })));
    expect(access).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect((access as { message: string }).message).toMatch(/access level 1 .*0x9B/);
    const notSupported = await r.run(r.driver.execute(admit({ kind: 'write-ram-var', id: 4, value: 50 })));
    expect(notSupported).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect((notSupported as { message: string }).message).toMatch(/0x80/);
    const ram = await r.run(r.driver.readRamVars([0, 10]).catch((e: unknown) => e));
    expect(ram).toBeInstanceOf(VebusError);
    expect(ram).toMatchObject({ kind: 'ram-var-unsupported', detail: 2, code: 'NOT_FOUND' });
    const setting = await r.run(r.driver.readSetting(99).catch((e: unknown) => e));
    expect(setting).toMatchObject({ kind: 'setting-unsupported', code: 'NOT_FOUND' });
    const kinds = new Set([access, notSupported].map((x) => (x as { code: string }).code).concat([(ram as VebusError).kind, (setting as VebusError).kind]));
    expect(kinds.size).toBe(4);

    // Timeout: the next RAM read's reply comes 2 s late; the sim (one request at a time) answers
    // the retry after it, also too late: the driver has given up on both.
    r.sim.script.next('delay-reply', { when: (f) => wmCmd(f) === WM.ReadRAMVar });
    const late = await r.run(r.driver.readRamVars([4, 5]).catch((e: unknown) => e));
    expect(late).toMatchObject({ kind: 'timeout', code: 'DEVICE_OFFLINE' });
    // Later requests get their own replies, not the late ones.
    const next = await r.run(r.driver.readRamVars([13, 0]));
    expect(next.map((x) => x.value)).toEqual([0.75, 230.12]);
    const n = r.readings().length;
    await r.until(() => r.readings().length >= n + 2, 'two more readings');
    expect(r.readings().at(-1)!.values).toMatchObject({ batteryVoltageV: 52.8, acInL1VoltageV: 230.12, 'ram.CHARGE_STATE': 0.75, currentLimitA: 16 });
    // The late replies were seen and discarded (the queue's late window or an unmatched letter).
    const lateReplies = r.driver.stats();
    expect((lateReplies.lateReplies as number) + (lateReplies.unsolicited as number)).toBeGreaterThan(0);
    void decodeWinmon;
    void RC;
  });

  it('check 7: works with wire-mode pacing (one byte per 4.17 ms) and with replies split across many reads', async () => {
    const r = await rig({ sim: { wire: true } });
    await r.until(() => r.readings().length >= 2, 'two readings at 2400 baud');
    expect(r.readings().at(-1)!.values).toMatchObject({ batteryVoltageV: 52.8, acInL1CurrentA: 3.63, 'ram.CHARGE_STATE': 0.75, currentLimitA: 16 });
    const w = await r.run(r.driver.execute(admit({ kind: 'write-setting', id: 6, value: 20, ramOnly: false })));
    expect(w).toMatchObject({ ok: true, readBack: { value: 20 } });
    expect(r.driver.stats()).toMatchObject({ pollErrors: 0, queueTimeouts: 0, corruptBytes: 0 });

    const s = await rig({ sim: {} });
    s.sim.script.always('split-reply');
    await s.until(() => s.readings().length >= 2, 'two readings with split replies');
    expect(s.readings().at(-1)!.values).toMatchObject({ batteryVoltageV: 52.8, acInL1CurrentA: 3.63, 'ram.CHARGE_STATE': 0.75 });
    expect(s.sim.script.applied.length).toBeGreaterThan(10);
    expect(s.driver.stats()).toMatchObject({ pollErrors: 0, corruptBytes: 0 });
  });
});
