/**
 * A full disk mid-charge: the database on a real 2 MB tmpfs (an injected write failure where a
 * tmpfs cannot be mounted), the simulated rig on a FakeClock, a real HTTP server. A failed write
 * must stop the charge, put every bus in standby (on the wire), show on /healthz, refuse power
 * commands with STORAGE_UNAVAILABLE and never throw into a driver callback or timer; when the
 * disk has room again the kept events are written and the chargers stay stopped.
 */
import type { CanAdapterLink } from '../../src/families/can/adapter.js';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { decodeFp2 } from '../../src/families/flatpack2/codec.js';
import type { CanFrame } from '../../src/families/can/types.js';
import { silentLogger } from '../../src/log.js';
import { buildRig, simulatedConfig, SIM_PSU_SERIALS, type Rig } from '../../src/rig.js';
import { families } from '../helpers/families.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { Store, type StoredEvent } from '../../src/store/store.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { waitFor } from '../helpers/wait.js';

let disk: Tmpfs;
beforeAll(() => {
  // Room for the WAL of a few minutes of charging; the test fills the rest when it wants the
  // disk full (on 2 MB the rig fills it by itself within a minute of simulated time).
  disk = mountTmpfs(16 * 1024 * 1024, 'pp-diskfull-');
});
afterAll(() => disk.unmount());

let running: { rig: Rig; store: Store; server: RunningServer } | null = null;
afterEach(async () => {
  if (!running) return;
  await running.server.close();
  await running.rig.stop();
  try {
    running.store.close();
  } catch {
    // a store that still cannot write its last rows
  }
  running = null;
  disk.unfill();
});

/** Makes every write fail: the real disk filled up, or (without a tmpfs) an injected failure. */
function breakWrites(store: Store): () => void {
  if (disk.mounted) {
    disk.fill();
    return () => disk.unfill();
  }
  const tables = ['frames', 'samples', 'events', 'devices', 'charge_sessions', 'charge_phases', 'store_meta', 'bus_setpoints'];
  for (const t of tables) {
    for (const op of ['INSERT', 'UPDATE']) store.db.exec(`CREATE TEMP TRIGGER full_${op}_${t} BEFORE ${op} ON ${t} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
  }
  return () => {
    for (const t of tables) for (const op of ['INSERT', 'UPDATE']) store.db.exec(`DROP TRIGGER full_${op}_${t}`);
  };
}

const gql = async (url: string, query: string) => {
  const r = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  return (await r.json()) as { data?: Record<string, unknown>; errors?: Array<{ message: string; extensions?: { code?: string } }> };
};
const getJson = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> & { store: { writable: boolean; error: string | null }; reasons: string[] } };
};

describe('the store on a full disk', () => {
  it('defect 9.6: a failed write never throws; the store reports a fault once, keeps events and direct writes in order, and writes them when there is room', async () => {
    const dbPath = join(disk.dir, 'store.db');
    const store = Store.open({ path: dbPath, flushIntervalMs: 600_000, faultRetryMs: 600_000, minFreeBytes: 0 });
    const seen: Array<{ writable: boolean; code: string | null }> = [];
    store.watchHealth((h) => seen.push({ writable: h.writable, code: h.code }));
    store.appendEvent({ ts: 1, type: 'before' }, { durable: true });
    const repair = breakWrites(store);
    try {
      // A burst big enough to need new pages, then a durable event: no throw, a fault.
      const blob = 'x'.repeat(2000);
      for (let i = 0; i < 50; i++) store.appendEvent({ ts: 2 + i, type: 'filler', data: { blob } });
      const durable = store.appendEvent({ ts: 100, type: 'setpoint.accepted', data: { voltageV: 48 } }, { durable: true });
      expect(durable.id).toBeGreaterThan(1);
      expect(store.health).toMatchObject({ writable: false, code: disk.mounted ? expect.stringMatching(/SQLITE_FULL|SQLITE_IOERR/) : expect.any(String) });
      expect(seen).toHaveLength(1);
      // A direct write during the fault is kept, not thrown; reads still work.
      store.upsertDevice({ id: 'fp2-1', kind: 'flatpack2', busId: 'can0', name: 'A', serial: '1', seenAt: 5 });
      expect(store.listDevices()).toEqual([]);
      expect(store.listEvents({}, 10).items.map((e) => e.type)).toEqual(['before']);
      expect(() => store.prune({ framesOlderThan: 10 })).not.toThrow();
      expect(store.retry()).toBe(false);
      expect(seen).toHaveLength(1);
    } finally {
      repair();
    }
    expect(store.retry()).toBe(true);
    expect(seen).toEqual([
      { writable: false, code: expect.any(String) },
      { writable: true, code: null },
    ]);
    expect(store.listEvents({ types: ['setpoint.accepted', 'before'] }, 10).items.map((e) => e.type)).toEqual(['setpoint.accepted', 'before']);
    expect(store.listDevices().map((d) => d.id)).toEqual(['fp2-1']);
    store.close();
  });
});

describe('a full disk mid-charge', () => {
  it('defect 9.6: a failed write stops the charge, puts the bus in standby on the wire, shows on /healthz, refuses power with STORAGE_UNAVAILABLE, and the process stays up', async () => {
    const dbPath = join(disk.dir, 'powerplane.db');
    const clock = new FakeClock();
    const store = Store.open({ path: dbPath, flushIntervalMs: 10, faultRetryMs: 50, minFreeBytes: 0 });
    const logs: string[] = [];
    const rig = buildRig({ config: simulatedConfig({ port: 0, dbPath, bms: true, vebus: false }), clock, store, log: silentLogger(logs), simulated: true, families });
    rig.start();
    const server = await startServer({ engine: rig.engine, log: silentLogger(), host: '127.0.0.1', port: 0 });
    running = { rig, store, server };
    const engine = rig.engine;
    const events: StoredEvent[] = [];
    const sets: Array<{ at: number; v: number; a: number }> = [];
    // Where the wire log stood when the fault was published: order, not the fake clock's
    // millisecond, separates before from after (a SET logged just before the fault can reach
    // the wire in the same millisecond).
    let setsAtFault = -1;
    engine.events.subscribe((e) => {
      if (e.type === 'store.fault' && setsAtFault < 0) setsAtFault = sets.length;
      events.push(e);
    });
    (rig.links.get('can0') as CanAdapterLink).onTx((f: CanFrame) => {
      const m = decodeFp2(f);
      if (m.kind === 'set') sets.push({ at: clock.now(), v: m.voltageV, a: m.currentA ?? Infinity });
    });

    // Charging in CC, everything healthy.
    await clock.advance(10_000);
    const charger = engine.charger('charger1')!;
    expect(await charger.startCharge('api')).toMatchObject({ ok: true });
    for (let i = 0; i < 600 && charger.phase !== 'CC'; i++) await clock.advance(1000);
    expect(charger.phase).toBe('CC');
    expect(rig.sim!.flatpack2.get('can0')!.totalCurrentA).toBeGreaterThan(10);
    expect((await getJson(`${server.url}/healthz`)).status).toBe(200);

    // The disk fills up. The charge goes on writing frames, samples and events (and the BMS
    // driver's watchdog, the charger's tick…) until a write fails.
    const repair = breakWrites(store);
    await waitFor(async () => {
      await clock.advance(500);
      return (await fetch(`${server.url}/healthz`)).status !== 200;
    }, '/healthz to report the failed write', 20_000, 5);
    for (let i = 0; i < 10; i++) await clock.advance(1000);

    // The fault is reported: an event (in memory, published), the log, /healthz.
    expect(store.health.code).toMatch(disk.mounted ? /SQLITE_FULL|SQLITE_IOERR/ : /SQLITE_CONSTRAINT/);
    expect(events.find((e) => e.type === 'store.fault')?.data).toMatchObject({ error: expect.stringContaining(disk.mounted ? 'full' : 'database or disk is full') });
    const failSafe = events.find((e) => e.type === 'engine.fail-safe');
    expect(failSafe?.data).toMatchObject({ chargersStopped: ['charger1'], busesInStandby: ['can0'] });
    expect(logs.some((l) => /^error: STORAGE FAULT: .*free space/.test(l))).toBe(true);
    const health = await getJson(`${server.url}/healthz`);
    expect(health.status).toBe(503);
    expect(health.body.store.writable).toBe(false);
    expect(health.body.reasons.join('\n')).toMatch(/database cannot be written .*free space/);
    expect((await getJson(`${server.url}/readyz`)).status).toBe(503);
    expect((await getJson(`${server.url}/livez`)).status).toBe(200);

    // The charge is stopped and the bus is in standby: a standby SET went out on the wire and
    // reached the simulated PSUs; no power setpoint left after the fault.
    expect(charger.phase).toBe('done');
    expect(charger.view().stopReason).toMatch(/storage unavailable/);
    // After the fault: at most SETs already accepted (on disk) before it, still in flight,
    // then the standby, and nothing but standby from there on.
    expect(setsAtFault).toBeGreaterThanOrEqual(0);
    const after = sets.slice(setsAtFault);
    const isStandby = (s: { v: number; a: number }) => s.v === 48 && s.a === 0.1;
    const firstStandby = after.findIndex(isStandby);
    expect(firstStandby).toBeGreaterThanOrEqual(0);
    expect(after.slice(firstStandby).every(isStandby)).toBe(true);
    const faultIdx = events.findIndex((e) => e.type === 'store.fault');
    const acceptedBefore = events.slice(0, faultIdx).filter((e) => e.type === 'setpoint.accepted' && !e.data.standby);
    for (const inFlight of after.slice(0, firstStandby)) {
      expect(acceptedBefore.some((e) => e.data.voltageV === inFlight.v && e.data.currentA === inFlight.a)).toBe(true);
    }
    for (const serial of SIM_PSU_SERIALS) {
      const psu = rig.sim!.flatpack2.get('can0')!.psu(serial);
      expect({ v: psu.setVoltageV, a: psu.currentLimitA }).toEqual({ v: 48, a: 0.1 });
    }
    expect(rig.sim!.flatpack2.get('can0')!.totalCurrentA).toBeLessThan(1);
    expect(engine.busSetpoint('can0')).toMatchObject({ standby: true, origin: 'safety' });

    // Power commands answer a typed code; standby (the safe direction) still works.
    const set = await gql(server.url, 'mutation { setPsuOutput(input: { deviceId: "all", voltageV: 52, currentA: 5 }) { message } }');
    expect(set.errors?.[0]?.extensions?.code).toBe('STORAGE_UNAVAILABLE');
    expect(set.errors?.[0]?.message).toMatch(/free space/);
    const start = await gql(server.url, 'mutation { startCharge(chargerId: "charger1") { phase } }');
    expect(start.errors?.[0]?.extensions?.code).toBe('STORAGE_UNAVAILABLE');
    const settings = await gql(server.url, 'mutation { updateChargerSettings(chargerId: "charger1", settings: { chargeCurrentA: 10 }) { phase } }');
    expect(settings.errors?.[0]?.extensions?.code).toBe('STORAGE_UNAVAILABLE');
    const eeprom = await gql(server.url, `mutation { setPsuDefaultVoltage(deviceId: "fp2-${SIM_PSU_SERIALS[0]}", voltageV: 53) { sent } }`);
    expect(eeprom.errors?.[0]?.extensions?.code).toBe('STORAGE_UNAVAILABLE');
    const standby = await gql(server.url, 'mutation { standby(deviceId: "all") { message } }');
    expect(standby.errors).toBeUndefined();

    // Minutes more with the disk full: the drivers' timers and callbacks keep running, nothing throws.
    for (let i = 0; i < 120; i++) await clock.advance(1000);
    expect(store.health.writable).toBe(false);
    expect(charger.phase).toBe('done');

    // The disk has room again: the retry writes what was kept, reports it, and the charger
    // stays stopped until a person starts it.
    repair();
    await waitFor(async () => {
      await clock.advance(100);
      return store.health.writable;
    }, 'writes to work again', 10_000, 20);
    await clock.advance(1000);
    expect(events.some((e) => e.type === 'store.recovered')).toBe(true);
    expect((await getJson(`${server.url}/healthz`)).status).toBe(200);
    const onDisk = store.listEvents({ types: ['store.fault', 'engine.fail-safe', 'store.recovered'] }, 10).items.map((e) => e.type);
    expect(onDisk.sort()).toEqual(['engine.fail-safe', 'store.fault', 'store.recovered']);
    const session = engine.sessions.get(charger.view().sessionId!)!;
    expect(session).toMatchObject({ outcome: 'stopped', reason: expect.stringMatching(/storage unavailable/) });
    for (let i = 0; i < 60; i++) await clock.advance(1000);
    expect(charger.phase).toBe('done');
    expect(rig.sim!.flatpack2.get('can0')!.totalCurrentA).toBeLessThan(1);
    // …and a person can start it again.
    expect(await charger.startCharge('api')).toMatchObject({ ok: true });
  }, 120_000);
});
