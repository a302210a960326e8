/** The OpenEVSE family wired into the rig and the engine: config section, simulated board with the demo car, the device view. */
import { afterEach, describe, expect, it } from 'vitest';
import { makeSimRig, tempDbPath, type TestRig } from '../../helpers/rig.js';
import { simulatedConfig } from '../../../src/rig.js';
import { parseConfig } from '../../../src/config/load.js';
import type { EvseView } from '../../../src/families/openevse/types.js';

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

const evseLink = (openevse: Record<string, unknown>) => ({
  links: [{ id: 'evse', transport: { type: 'serial', path: '/dev/ttyUSB9', baudRate: 115200 }, openevse }],
});

describe('OpenEVSE config section', () => {
  it('takes an EVSE on a serial line with defaults (heartbeat 30 s / 6 A, the us-8.2.3 sim profile)', () => {
    const c = parseConfig(evseLink({ id: 'evse0', circuitLimitA: 32 }));
    const l = c.links[0] as { openevse?: { heartbeat: unknown; timeoutMs: number } };
    expect(l.openevse?.heartbeat).toEqual({ intervalS: 30, fallbackA: 6 });
    expect(l.openevse?.timeoutMs).toBe(1000);
  });

  it('refuses a heartbeat fallback current above the circuit limit, naming the key and the range', () => {
    expect(() => parseConfig(evseLink({ id: 'evse0', circuitLimitA: 16, heartbeat: { intervalS: 30, fallbackA: 20 } }))).toThrow(/fallbackA[\s\S]*above the circuit limit \(16 A\)[\s\S]*6–16 A/);
  });

  it('refuses a circuit limit below the J1772 minimum, a CAN transport, and a missing circuit limit', () => {
    expect(() => parseConfig(evseLink({ id: 'evse0', circuitLimitA: 5 }))).toThrow(/J1772 minimum of 6 A/);
    expect(() => parseConfig(evseLink({ id: 'evse0' }))).toThrow(/circuitLimitA/);
    expect(() =>
      parseConfig({ links: [{ id: 'evse', transport: { path: 'simulated', autodetect: false }, openevse: { id: 'e', circuitLimitA: 16 } }] }),
    ).toThrow(/openevse is not a CAN device/);
  });

  it('takes polling overrides and refuses an unknown poll item', () => {
    const c = parseConfig(evseLink({ id: 'evse0', circuitLimitA: 32, poll: { GS: 1000, GU: 5000 } }));
    expect((c.links[0] as { openevse?: { poll: unknown } }).openevse?.poll).toEqual({ GS: 1000, GU: 5000 });
    expect(() => parseConfig(evseLink({ id: 'evse0', circuitLimitA: 32, poll: { GX: 1000 } }))).toThrow(/GX/);
  });
});

describe('OpenEVSE in the simulated rig', () => {
  it('the demo rig has an EVSE on a serial line: it comes online, heartbeat armed, and the demo car plugs in and charges', async () => {
    const dbPath = tempDbPath('pp-evse-');
    t = makeSimRig({ dbPath, config: simulatedConfig({ port: 0, dbPath, bms: false, evse: true }) });
    const { rig, clock } = t;
    expect(rig.sim!.openevse.has('evse')).toBe(true);
    await clock.advance(5000);
    let v = rig.engine.device<EvseView>('evse0')!;
    expect(v.online).toBe(true);
    expect(v.name).toBe('Garage EVSE');
    expect(v.circuitLimitA).toBe(32);
    expect(v.protocol).toBe('5.2.1');
    expect(v.heartbeat.state).toBe('armed');
    expect(v.heartbeat.fallbackA).toBe(6);
    expect(v.evConnected).toBe(false);
    // the demo car plugs in 10 s after the board starts and asks for charge 2 s later
    for (let i = 0; i < 40; i++) await clock.advance(500);
    v = rig.engine.device<EvseView>('evse0')!;
    expect(v.evConnected).toBe(true);
    expect(v.charging).toBe(true);
    expect(v.stateName).toBe('charging');
    for (let i = 0; i < 10; i++) await clock.advance(1000);
    v = rig.engine.device<EvseView>('evse0')!;
    expect(v.currentA).toBeGreaterThan(6);
    expect(v.powerW).toBeGreaterThan(1000);
    const types = new Set(t.store.listEvents({ deviceId: 'evse0' }, 500).items.map((e) => e.type));
    expect(types.has('evse.state')).toBe(true);
    expect(types.has('device.online')).toBe(true);
  });
});

describe('OpenEVSE circuit limit on a remembered device', () => {
  it('an EVSE the store remembers on a link since renamed keeps the configured circuit limit (the gate caps at it)', async () => {
    const dbPath = tempDbPath('pp-evse-moved-');
    const { Store } = await import('../../../src/store/store.js');
    const pre = Store.open({ path: dbPath });
    pre.upsertDevice({ id: 'evse0', kind: 'openevse', busId: 'old-evse-link', name: 'Old name', serial: null, seenAt: 1, meta: {} });
    pre.close();
    t = makeSimRig({ dbPath, config: simulatedConfig({ port: 0, dbPath, bms: false, evse: { demoCar: false } }) });
    const v = t.rig.engine.device<EvseView>('evse0')!;
    expect(v.busId).toBe('evse');
    expect(v.name).toBe('Garage EVSE');
    expect(v.circuitLimitA).toBe(32);
    await t.clock.advance(5000);
    const { evseCheck } = await import('../../../src/families/openevse/check.js');
    const r = await t.rig.engine.command('api', 'evse0', { kind: 'setCurrent', amps: 40 }, evseCheck({ circuitLimitA: t.rig.engine.device<EvseView>('evse0')!.circuitLimitA ?? null, role: 'operator' }), 'set current 40 A');
    expect(r).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    if (!r.ok) expect(r.message).toMatch(/6–32 A/);
  });
});
