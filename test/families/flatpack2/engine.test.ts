/**
 * Driver + engine against the Flatpack2 simulator over the in-memory adapter link, on a fake
 * clock: discovery, keep-alive, attribution, watchdog, reconnect and restore, the gate.
 */
import type { CanAdapterLink } from '../../../src/families/can/adapter.js';
import type { Flatpack2PsuView } from '../../../src/families/flatpack2/view.js';
import { afterEach, describe, expect, it } from 'vitest';
import { simulatedConfig } from '../../../src/rig.js';
import { makeSimRig, type TestRig } from '../../helpers/rig.js';
import { SIM_PSU_SERIALS } from '../../../src/rig.js';
import { psuDeviceId } from '../../../src/families/flatpack2/view.js';
import { decodeFp2 } from '../../../src/families/flatpack2/codec.js';
import type { CanFrame } from '../../../src/families/can/types.js';

const [A, B] = SIM_PSU_SERIALS;
const idA = psuDeviceId(A);
const idB = psuDeviceId(B);

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

function txLog(t: TestRig): Array<{ ts: number; frame: CanFrame }> {
  const out: Array<{ ts: number; frame: CanFrame }> = [];
  (t.rig.links.get('can0') as CanAdapterLink).onTx((frame, ts) => out.push({ ts, frame }));
  return out;
}

async function discovered(t: TestRig): Promise<void> {
  await t.clock.advance(4000);
  const devs = t.rig.engine.listDevices();
  expect(devs.map((d) => d.id).sort()).toEqual([idA, idB].sort());
  expect(devs.every((d) => d.online)).toBe(true);
}

describe('Flatpack2 driver and engine against the simulator', () => {
  it('discovers both PSUs, gives each its own address, and attributes status by CAN id', async () => {
    t = makeSimRig();
    await discovered(t);
    const a = t.rig.engine.device<Flatpack2PsuView>(idA)!;
    const b = t.rig.engine.device<Flatpack2PsuView>(idB)!;
    expect(a.addr).not.toBe(b.addr);
    expect(t.rig.sim!.flatpack2.get('can0')!.psu(A).addr).toBe(a.addr);
    expect(t.rig.sim!.flatpack2.get('can0')!.psu(B).addr).toBe(b.addr);
    // Status frames with B's address land on B, not on PSU 1 as in the original.
    const rx = t.store.listFrames({ link: 'can0', dir: 'rx', kind: 'status', deviceId: idB }, 5);
    expect(rx.items.length).toBe(5);
    for (const f of rx.items) expect([f.protocol, (parseInt(f.address!, 16) >> 16) & 0xff]).toEqual(['can', b.addr]);
    expect(t.store.listEvents({ types: ['device.discovered'] }, 10).items.length).toBe(2);
  });

  it('keeps every PSU logged in with a keep-alive well inside the ~12.8 s budget', async () => {
    t = makeSimRig();
    const tx = txLog(t);
    await discovered(t);
    await t.clock.advance(60_000);
    const sim = t.rig.sim!.flatpack2.get('can0')!;
    expect(sim.psu(A).loggedIn).toBe(true);
    expect(sim.psu(B).loggedIn).toBe(true);
    for (const serial of [A, B]) {
      const logins = tx.filter((x) => {
        const m = decodeFp2(x.frame);
        return m.kind === 'login' && m.serial === serial && x.ts > t!.clock.now() - 60_000;
      });
      expect(logins.length).toBeGreaterThanOrEqual(50);
      expect(logins.length).toBeLessThanOrEqual(65);
      for (let i = 1; i < logins.length; i++) expect(logins[i].ts - logins[i - 1].ts).toBeLessThanOrEqual(1400);
    }
  });

  it('sets the output through the gate: SET frame on the wire, setpoint on every PSU of the bus, telemetry follows', async () => {
    t = makeSimRig({ pack: { socPct: 30 } });
    // A charger bus puts a PSU that logs in to standby first; count what this test sends.
    await discovered(t);
    const tx = txLog(t);
    const r = await t.rig.engine.setPsuOutput('api', idA, { voltageV: 54.0, currentA: 20.0 });
    expect(r).toMatchObject({ ok: true, voltageV: 54, currentA: 20, sent: true });
    if (r.ok) expect(r.deviceIds.sort()).toEqual([idA, idB].sort());
    const sets = tx.filter((x) => decodeFp2(x.frame).kind === 'set');
    expect(sets.length).toBe(1);
    // flatpack2.md §4 #11: SET all 20.0 A / 54.00 V / OVP — here OVP is the config's 59.5 V.
    expect(sets[0].frame.id).toBe(0x05ff4004);
    expect(Array.from(sets[0].frame.data)).toEqual([0xc8, 0x00, 0x18, 0x15, 0x18, 0x15, 0x3e, 0x17]);
    await t.clock.advance(8000); // past the short walk-in
    const a = t.rig.engine.device<Flatpack2PsuView>(idA)!;
    expect(a.outputCurrentA).toBeGreaterThan(15);
    expect(t.rig.engine.busSetpoint('can0')).toMatchObject({ voltageV: 54, currentA: 20, origin: 'api' });
    const ev = t.store.listEvents({ typePrefix: 'setpoint.' }, 10).items.map((e) => e.type);
    expect(ev.slice(0, 3)).toEqual(['setpoint.sent', 'setpoint.accepted', 'setpoint.requested']);
  });

  it('refuses out-of-range, NaN and offline requests: typed error, an event with the reason, no frame', async () => {
    t = makeSimRig();
    // A charger bus puts a PSU that logs in to standby first; count what this test sends.
    await discovered(t);
    const tx = txLog(t);
    for (const req of [
      { voltageV: 60, currentA: 10 },
      { voltageV: NaN, currentA: 10 },
      { voltageV: 50, currentA: 42 },
    ]) {
      const r = await t.rig.engine.setPsuOutput('api', 'all', req);
      expect(r).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    }
    const nf = await t.rig.engine.setPsuOutput('api', 'fp2-000000000000', { voltageV: 50, currentA: 1 });
    expect(nf).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(tx.filter((x) => decodeFp2(x.frame).kind === 'set')).toHaveLength(0);
    const rejected = t.store.listEvents({ types: ['setpoint.rejected'] }, 10).items;
    expect(rejected).toHaveLength(4);
    expect(rejected.map((e) => e.data.code)).toContain('OUT_OF_RANGE');
    expect(String(rejected[rejected.length - 1].data.reason)).toMatch(/outside 43\.5–57\.6 V/);
  });

  it('over-power requests are clamped, not refused, and the result says so', async () => {
    t = makeSimRig();
    await discovered(t);
    const r = await t.rig.engine.setPsuOutput('api', 'all', { voltageV: 57.0, currentA: 41 });
    expect(r).toMatchObject({ ok: true, currentA: 35, clamped: true });
    if (r.ok) expect(r.message).toMatch(/limited from 41\.0 A to 35\.0 A/);
  });

  it('marks a silent PSU offline (watchdog) and refuses setpoints aimed at it', async () => {
    t = makeSimRig();
    await discovered(t);
    t.rig.sim!.flatpack2.get('can0')!.setPresent(B, false);
    await t.clock.advance(6000);
    expect(t.rig.engine.device<Flatpack2PsuView>(idB)!.online).toBe(false);
    expect(t.rig.engine.device<Flatpack2PsuView>(idA)!.online).toBe(true);
    expect(t.store.latestEvent({ types: ['device.offline'], deviceId: idB })?.data.reason).toMatch(/no status frame/);
    const r = await t.rig.engine.setPsuOutput('api', idB, { voltageV: 50, currentA: 5 });
    expect(r).toMatchObject({ ok: false, code: 'DEVICE_OFFLINE' });
  });

  it('reopens a lost adapter with backoff while reporting PSUs offline, then restores the last setpoint once', async () => {
    t = makeSimRig();
    const tx = txLog(t);
    await discovered(t);
    const ok = await t.rig.engine.setPsuOutput('api', 'all', { voltageV: 52.0, currentA: 15 });
    expect(ok.ok).toBe(true);
    t.rig.sim!.unplug('can0');
    await t.clock.advance(500);
    expect((t.rig.links.get('can0') as CanAdapterLink).state).toBe('down');
    expect(t.rig.engine.listDevices().every((d) => !d.online)).toBe(true);
    const down = await t.rig.engine.setPsuOutput('api', 'all', { voltageV: 50, currentA: 5 });
    expect(down.ok).toBe(false);
    // 20 s unplugged: the PSUs' logins lapse and they fall back to their default voltage,
    // which the charger's bus keeps at its fallback policy (43.5 V, issue 8).
    await t.clock.advance(20_000);
    const sim = t.rig.sim!.flatpack2.get('can0')!;
    expect(sim.psu(A).loggedIn).toBe(false);
    expect(sim.psu(A).setVoltageV).toBeCloseTo(43.5, 2);
    const setsBefore = tx.filter((x) => decodeFp2(x.frame).kind === 'set').length;
    t.rig.sim!.replug('can0');
    await t.clock.advance(40_000); // backoff ≤ 30 s, then hello → login → status
    expect((t.rig.links.get('can0') as CanAdapterLink).state).toBe('up');
    expect(t.rig.engine.listDevices().every((d) => d.online)).toBe(true);
    const restores = tx.filter((x) => decodeFp2(x.frame).kind === 'set').slice(setsBefore);
    expect(restores).toHaveLength(1);
    expect(sim.psu(A).setVoltageV).toBeCloseTo(52.0, 2);
    expect(sim.psu(B).setVoltageV).toBeCloseTo(52.0, 2);
    const accepted = t.store.latestEvent({ types: ['setpoint.accepted'] })!;
    expect(accepted.data).toMatchObject({ origin: 'restore', voltageV: 52, currentA: 15 });
    const links = t.store.listEvents({ types: ['link.changed'] }, 20).items.map((e) => e.data.state);
    expect(links).toContain('down');
    expect(links[0]).toBe('up');
  });

  it('standby overwrites the restore values', async () => {
    t = makeSimRig();
    await discovered(t);
    await t.rig.engine.setPsuOutput('api', 'all', { voltageV: 54, currentA: 20 });
    const s = await t.rig.engine.standby('api', idA);
    expect(s).toMatchObject({ ok: true, voltageV: 48, currentA: 0.1 });
    expect(t.rig.engine.busSetpoint('can0')).toMatchObject({ voltageV: 48, currentA: 0.1, standby: true });
  });

  it('records unknown CAN ids instead of dropping them', async () => {
    t = makeSimRig();
    await discovered(t);
    const stranger = t.rig.sim!.canBuses.get('can0')!.attach('stranger', () => {});
    stranger.send({ id: 0x18ff50e5, extended: true, remote: false, data: new Uint8Array([1, 2, 3]) });
    stranger.send({ id: 0x123, extended: false, remote: false, data: new Uint8Array([9]) });
    await t.clock.advance(100);
    const unk = t.store.listFrames({ kind: 'unknown', dir: 'rx' }, 10).items;
    // Recorded as generic frame records: the CAN id as the address (3 hex digits when standard), flags in meta.
    expect(unk.map((f) => [f.protocol, f.address, f.meta]).sort()).toEqual([
      ['can', '123', { extended: false, remote: false }],
      ['can', '18FF50E5', { extended: true, remote: false }],
    ]);
  });

  it('applies per-PSU startup values once, and rebuilds devices and setpoints from the store on restart', async () => {
    const { simulatedConfig } = await import('../../../src/rig.js');
    const { tempDbPath } = await import('../../helpers/rig.js');
    const dbPath = tempDbPath();
    const config = simulatedConfig({ port: 0, dbPath, bms: false, vebus: false });
    config.links[0].flatpack2!.psus[A] = { name: 'Left', startup: { voltageV: 51.0, currentA: 5 }, applyOnStart: true };
    t = makeSimRig({ dbPath, config });
    await discovered(t);
    await t.clock.advance(5000);
    // A's startup values go out once; a PSU that logs in after them gets the same bus state (restore).
    const accepted = t.store.listEvents({ types: ['setpoint.accepted'] }, 20).items.map((e) => e.data);
    expect(accepted.filter((d) => d.origin === 'startup')).toEqual([expect.objectContaining({ voltageV: 51 })]);
    expect(accepted[0]).toMatchObject({ voltageV: 51 });
    expect(t.rig.engine.device<Flatpack2PsuView>(idA)!.name).toBe('Left');
    const sim = t.rig.sim!.flatpack2.get('can0')!;
    expect(sim.psu(B).setVoltageV).toBeCloseTo(51, 2);
    await t.stop();
    // Restart on the same file: devices are known (offline) before any frame arrives.
    const cfg2 = simulatedConfig({ port: 0, dbPath, bms: false, vebus: false });
    t = makeSimRig({ dbPath, config: cfg2 });
    const devs = t.rig.engine.listDevices();
    expect(devs.map((d) => d.id).sort()).toEqual([idA, idB].sort());
    expect(devs.every((d) => !d.online)).toBe(true);
    // The bus's desired state (A's startup values, re-sent to B by a restore) survives the restart.
    expect(t.rig.engine.busSetpoint('can0')).toMatchObject({ voltageV: 51, currentA: 5, standby: false });
    await discovered(t);
    await t.clock.advance(3000);
    // No applyOnStart now: the stored setpoint is restored.
    expect(t.store.latestEvent({ types: ['setpoint.accepted'] })!.data).toMatchObject({ origin: 'restore', voltageV: 51 });
  });
  it('defect 10: a bus whose last setpoint is older than 200 other setpoints still restores it after a restart', async () => {
    const { tempDbPath } = await import('../../helpers/rig.js');
    const dbPath = tempDbPath();
    // A second rectifier bus with its own PSU: its setpoints are the "other" ones.
    const C = '192750009999';
    const twoBuses = () => {
      const c = simulatedConfig({ port: 0, dbPath, bms: false, vebus: false });
      c.links.push({ ...c.links[0], id: 'can2', flatpack2: { ...c.links[0].flatpack2!, psus: { [C]: { name: 'Rectifier C', applyOnStart: false } } } });
      return c;
    };
    t = makeSimRig({ dbPath, config: twoBuses() });
    await t.clock.advance(4000);
    expect(t.rig.engine.device<Flatpack2PsuView>(psuDeviceId(C))?.online).toBe(true);
    expect(await t.rig.engine.setPsuOutput('api', idA, { voltageV: 52, currentA: 15 })).toMatchObject({ ok: true });
    for (let i = 0; i < 201; i++) {
      const r = await t.rig.engine.setPsuOutput('api', psuDeviceId(C), { voltageV: 50 + (i % 4) * 0.5, currentA: 10 });
      expect(r.ok).toBe(true);
    }
    expect(t.store.listEvents({ types: ['setpoint.accepted'] }, 300).items.filter((e) => e.busId === 'can2')).toHaveLength(201);
    await t.stop();

    t = makeSimRig({ dbPath, config: twoBuses() });
    // Known before any frame arrives, from the durable record (not from the last 200 events).
    expect(t.rig.engine.busSetpoint('can0')).toMatchObject({ voltageV: 52, currentA: 15, origin: 'api', standby: false });
    expect(t.rig.engine.busSetpoint('can2')).toMatchObject({ voltageV: 50 + (200 % 4) * 0.5, currentA: 10, origin: 'api' });
    await t.clock.advance(4000);
    await t.clock.advance(3000);
    const sim = t.rig.sim!.flatpack2.get('can0')!;
    expect(sim.psu(A).setVoltageV).toBeCloseTo(52, 2);
    const restored = t.store.listEvents({ types: ['setpoint.accepted'] }, 10).items.find((e) => e.busId === 'can0');
    expect(restored?.data).toMatchObject({ origin: 'restore', voltageV: 52, currentA: 15 });
  });
});

describe('Flatpack2 alerts, default voltage and link watchdog', () => {
  it('decodes an over-temperature warning to words, and an alarm puts the bus in standby', async () => {
    t = makeSimRig();
    await discovered(t);
    await t.rig.engine.setPsuOutput('api', 'all', { voltageV: 54, currentA: 20 });
    const sim = t.rig.sim!.flatpack2.get('can0')!;
    sim.injectOverTemp(B, 'warning');
    await t.clock.advance(2000);
    expect(t.rig.engine.device<Flatpack2PsuView>(idB)!.warnings).toContain('High temperature');
    expect(t.store.latestEvent({ types: ['psu.warnings'], deviceId: idB })!.data.names).toContain('High temperature');
    sim.injectOverTemp(B, 'alarm');
    await t.clock.advance(2000);
    expect(t.rig.engine.device<Flatpack2PsuView>(idB)!.state).toBe('alarm');
    expect(t.store.latestEvent({ types: ['psu.alarm'], deviceId: idB })).not.toBeNull();
    expect(t.rig.engine.busSetpoint('can0')).toMatchObject({ standby: true, origin: 'safety' });
    expect(sim.psu(A).setVoltageV).toBeCloseTo(48.0, 2);
    // Clearing the fault clears the decoded lists.
    sim.injectOverTemp(B, null);
    await t.clock.advance(3000);
    expect(t.rig.engine.device<Flatpack2PsuView>(idB)!.alarms).toEqual([]);
  });

  it('defect 15.7: unchanged warning bits are logged once, not at every alert poll (a charge at the current limit for hours)', async () => {
    t = makeSimRig();
    await discovered(t);
    await t.rig.engine.setPsuOutput('api', 'all', { voltageV: 54, currentA: 20 });
    const sim = t.rig.sim!.flatpack2.get('can0')!;
    sim.injectOverTemp(B, 'warning');
    // The driver polls the bits every 5 s while the unit stays in its warning state.
    await t.clock.advance(60_000);
    const warned = () => t!.logs.filter((l) => l.startsWith('warn:') && l.includes(`PSU ${B} warnings`));
    expect(warned()).toHaveLength(1);
    expect(t.store.listEvents({ types: ['psu.warnings'], deviceId: idB }, 100).items).toHaveLength(1);
    // Cleared, then raised again: each change logged once, as each is one event.
    sim.injectOverTemp(B, null);
    await t.clock.advance(30_000);
    sim.injectOverTemp(B, 'warning');
    await t.clock.advance(30_000);
    const changes = t.store.listEvents({ types: ['psu.warnings'], deviceId: idB }, 100).items.filter((e) => (e.data.names as string[]).length > 0);
    expect(warned().length).toBeGreaterThan(1);
    expect(warned()).toHaveLength(changes.length);
  });

  it('writes the power-on voltage through the gate and records the PSU acknowledgement', async () => {
    // No charger on the bus: its fallback voltage is the user's to set (a charger's bus keeps its policy).
    const config = simulatedConfig({ port: 0, bms: false, vebus: false });
    config.chargers = [];
    t = makeSimRig({ config });
    await discovered(t);
    const bad = await t.rig.engine.setDefaultVoltage('api', idA, 58.5);
    expect(bad).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    const ok = await t.rig.engine.setDefaultVoltage('api', idA, 52.25);
    expect(ok).toMatchObject({ ok: true, voltageV: 52.25, sent: true });
    await t.clock.advance(500);
    expect(t.rig.sim!.flatpack2.get('can0')!.psu(A).defaultVoltageV).toBeCloseTo(52.25, 2);
    expect(t.store.latestEvent({ types: ['psu.default-voltage.ack'], deviceId: idA })!.data.voltageV).toBeCloseTo(52.25, 2);
  });

  it('reopens the adapter when the bus goes silent for linkWatchdogMs', async () => {
    t = makeSimRig();
    await discovered(t);
    const sim = t.rig.sim!.flatpack2.get('can0')!;
    sim.setPresent(A, false);
    sim.setPresent(B, false);
    await t.clock.advance(31_000);
    const changes = t.store.listEvents({ types: ['link.changed'] }, 20).items.map((e) => String(e.data.detail));
    expect(changes.some((d) => /no CAN frame for 30 s/.test(d))).toBe(true);
    expect((t.rig.links.get('can0') as CanAdapterLink).stats.reconnects).toBeGreaterThanOrEqual(1);
    sim.setPresent(A, true);
    sim.setPresent(B, true);
    await t.clock.advance(5000);
    expect(t.rig.engine.listDevices().every((d) => d.online)).toBe(true);
  });
});
