/**
 * EV charge sessions end to end: the OpenEVSE family's session tracker, the engine's EV-session
 * controller, and the charge sessions table (kind 'ev') in a real SQLite file, on the FakeClock,
 * with the simulated board and car. Includes a server crash mid-session (the board keeps
 * charging and counting) and a board reboot mid-session.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { makeCrashableRig, type CrashableRig } from '../../helpers/crash-rig.js';
import { tempDbPath } from '../../helpers/rig.js';
import { simulatedConfig } from '../../../src/rig.js';
import { Store } from '../../../src/store/store.js';
import type { OpenEvseSim } from '../../../src/families/openevse/sim.js';
import type { EvseView } from '../../../src/families/openevse/types.js';

let t: CrashableRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

function setup(): { t: CrashableRig; sim: OpenEvseSim } {
  const dbPath = tempDbPath('pp-evsess-');
  const config = simulatedConfig({ port: 0, dbPath, bms: false, evse: { demoCar: false } });
  t = makeCrashableRig({ config, dbPath });
  return { t, sim: t.hw.parts.openevse.get('evse')! };
}

async function run(c: CrashableRig, ms: number, step = 1000): Promise<void> {
  for (let done = 0; done < ms; done += step) await c.clock.advance(step);
}

const evRows = (c: CrashableRig) => c.rig.engine.sessions.list({ kind: 'ev' }, 50).items;
const eventsOf = (c: CrashableRig, prefix: string) => c.store.listEvents({ typePrefix: prefix }, 200).items.reverse();

describe('EV charge sessions (OpenEVSE)', () => {
  it('a plug-in that charges is one session: energy, duration, max/avg current, stop reason unplugged; listed by kind', async () => {
    const { t: c, sim } = setup();
    await run(c, 5000);
    sim.act('plug-in');
    sim.act('request-charge');
    await run(c, 10 * 60_000, 2000);
    let rows = evRows(c);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.kind).toBe('ev');
    expect(rows[0]!.chargerId).toBe('evse0');
    expect(rows[0]!.endedAt).toBeNull();
    sim.act('stop-charge');
    await run(c, 5000);
    sim.act('unplug');
    await run(c, 15_000);
    rows = evRows(c);
    expect(rows).toHaveLength(1);
    const s = rows[0]!;
    expect(s.endedAt).not.toBeNull();
    expect(s.reason).toBe('unplugged');
    expect(s.outcome).toBe('done');
    // 32 A at 240 V for ~10 minutes ≈ 1.28 kWh; the board's GU counter is the source
    expect(s.deliveredWh).toBeGreaterThan(1100);
    expect(s.deliveredWh).toBeLessThan(1400);
    expect(s.peakCurrentA).toBeGreaterThanOrEqual(30);
    expect(s.peakCurrentA).toBeLessThanOrEqual(32);
    expect(s.avgCurrentA).toBeGreaterThan(28);
    expect(s.chargingMs / 1000).toBeGreaterThan(550);
    expect(s.faults).toEqual([]);
    // the battery filter does not list it; the events say what happened
    expect(c.rig.engine.sessions.list({ kind: 'battery' }, 50).items.every((r) => r.kind === 'battery')).toBe(true);
    expect(eventsOf(c, 'ev-session.').map((e) => e.type)).toEqual(['ev-session.started', 'ev-session.ended']);
  });

  it('a server crash mid-session: after the restart the session resumes from the board counters (server_restart), no energy lost or counted twice', async () => {
    const { t: c, sim } = setup();
    await run(c, 5000);
    sim.act('plug-in');
    sim.act('request-charge');
    await run(c, 5 * 60_000, 2000);
    const before = evRows(c)[0]!;
    expect(before.endedAt).toBeNull();
    c.crash();
    // the car keeps charging while the server is gone; the board falls back to its heartbeat current after 30 s
    await run(c, 5 * 60_000, 5000);
    c.restart();
    await run(c, 60_000, 1000);
    const rows = evRows(c);
    expect(rows).toHaveLength(1);
    const s = rows[0]!;
    expect(s.id).toBe(before.id);
    expect(s.endedAt).toBeNull();
    expect(s.resumes).toBe(1);
    expect(s.detail?.resumes?.[0]?.reason).toBe('server_restart');
    // what the board counted while the server was down is in the session
    const v = c.rig.engine.device<EvseView>('evse0')!;
    expect(v.sessionWh).not.toBeNull();
    expect(Math.abs(s.deliveredWh - v.sessionWh!)).toBeLessThan(60);
    expect(s.deliveredWh).toBeGreaterThan(before.deliveredWh + 100);
    const types = eventsOf(c, 'ev-session.').map((e) => e.type);
    expect(types).toEqual(['ev-session.started', 'ev-session.resumed']);
  });

  it('a server crash while the car leaves: the session ends at its last sighting (unplugged_while_offline)', async () => {
    const { t: c, sim } = setup();
    await run(c, 5000);
    sim.act('plug-in');
    sim.act('request-charge');
    await run(c, 3 * 60_000, 2000);
    c.crash();
    const crashedAt = c.clock.now();
    await run(c, 60_000, 5000);
    sim.act('unplug');
    await run(c, 60_000, 5000);
    c.restart();
    await run(c, 30_000, 1000);
    const s = evRows(c)[0]!;
    expect(s.reason).toBe('unplugged_while_offline');
    expect(s.endedAt).not.toBeNull();
    expect(s.endedAt!).toBeLessThanOrEqual(crashedAt);
    expect(s.deliveredWh).toBeGreaterThan(300);
  });

  it('a board reboot mid-session keeps the session: resumed with the reason board_reboot, energy carried over the counter reset', async () => {
    const { t: c, sim } = setup();
    await run(c, 5000);
    sim.act('plug-in');
    sim.act('request-charge');
    await run(c, 5 * 60_000, 2000);
    const before = evRows(c)[0]!;
    sim.act('power-cycle');
    await run(c, 3 * 60_000, 1000);
    const rows = evRows(c);
    expect(rows).toHaveLength(1);
    const s = rows[0]!;
    expect(s.id).toBe(before.id);
    expect(s.endedAt).toBeNull();
    expect(s.detail?.resumes?.map((r) => r.reason)).toEqual(['board_reboot']);
    // 3 minutes at 32 A × 240 V ≈ 384 Wh more, on top of what the board counted before it restarted
    expect(s.deliveredWh).toBeGreaterThan(before.deliveredWh + 300);
    expect(s.deliveredWh).toBeLessThan(before.deliveredWh + 450);
    expect(eventsOf(c, 'evse.boot').length).toBeGreaterThanOrEqual(1);
  });

  it('a GFCI trip during a session is a fault seen by the session, with flag events', async () => {
    const { t: c, sim } = setup();
    await run(c, 5000);
    sim.act('plug-in');
    sim.act('request-charge');
    await run(c, 60_000, 2000);
    sim.act('gfci-trip');
    await run(c, 10_000, 1000);
    const s = evRows(c)[0]!;
    expect(s.faults.length).toBeGreaterThanOrEqual(1);
    expect(s.faults[0]).toMatch(/gfci/i);
    expect(eventsOf(c, 'evse.flag.raised').length).toBeGreaterThanOrEqual(1);
  });

  it('the sessions survive in the file: a fresh store lists them with their EV fields', async () => {
    const { t: c, sim } = setup();
    await run(c, 5000);
    sim.act('plug-in');
    sim.act('request-charge');
    await run(c, 2 * 60_000, 2000);
    sim.act('unplug');
    await run(c, 15_000);
    await c.stop();
    const store = Store.open({ path: c.dbPath });
    try {
      const rows = store.db.prepare(`SELECT kind, charger_id AS chargerId, reason, delivered_wh AS wh, detail FROM charge_sessions`).all() as Array<{ kind: string; chargerId: string; reason: string; wh: number; detail: string }>;
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ kind: 'ev', chargerId: 'evse0', reason: 'unplugged' });
      expect(rows[0]!.wh).toBeGreaterThan(100);
      expect(JSON.parse(rows[0]!.detail).state.kind).toBe('ev');
    } finally {
      store.close();
    }
    t = null;
  });

  it('battery sessions written the old way are kind battery, and the kind filter keeps the two apart', async () => {
    const { t: c } = setup();
    const sessions = c.rig.engine.sessions;
    sessions.create({ id: 'charger1:1', chargerId: 'charger1', startedAt: 1, targetVoltageV: 57.6, chargeCurrentA: 30, deliveredAh: 0, deliveredWh: 0, peakCurrentA: 0, ccToCvAt: null, chargingMs: 0, rampStartedAt: null, socStartPct: null, settings: {}, psuIds: [] });
    sessions.saveEv({ id: 'evse0:2', deviceId: 'evse0', startedAt: 2, endedAt: null, energyWh: 1, chargingS: 1, maxCurrentA: 16, avgCurrentA: 16, stopReason: null, faults: [], resumes: [], state: {} });
    expect(sessions.list({ kind: 'battery' }, 10).items.map((r) => r.id)).toEqual(['charger1:1']);
    expect(sessions.list({ kind: 'ev' }, 10).items.map((r) => r.id)).toEqual(['evse0:2']);
    expect(sessions.list({}, 10).items.map((r) => r.kind)).toEqual(['ev', 'battery']);
    // a battery charger never takes an EV row for its crash-pending session
    expect(sessions.open('evse0')).toBeNull();
    expect(sessions.openEv('evse0')?.id).toBe('evse0:2');
  });
});
