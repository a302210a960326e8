/**
 * Defect 8.9: the README's own demo, as a user runs it — a real server process on the
 * built-in simulated rig at --sim-speed 100 — charges to DONE (it ended in ERROR "BMS frames
 * lost" 4 of 4 times), and simulated time never goes backwards across a restart (a sped-up
 * clock restarted at wall time, so phases of a resumed session ended before they started).
 */
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { simulatedClockStart } from '../../src/rig.js';
import { Store } from '../../src/store/store.js';
import { tempDbPath } from '../helpers/rig.js';
import { waitFor } from '../helpers/server.js';
import { gqlData, killServers, spawnServer, stopServer } from '../helpers/server-process.js';

afterEach(killServers);

const serve = (dbPath: string, extra: string[] = []) => spawnServer(['--port', '0', '--db', dbPath, '--sim-speed', '100', ...extra]);
const gql = gqlData;
const kill = stopServer;

type Devices = { devices: Array<{ kind: string; online: boolean }> };
type Charger = { charger: { phase: string; stopReason: string | null; session: { id: string } | null } };

describe('where the simulated clock starts', () => {
  it('defect 8.9: at wall time on a fresh database, just after the latest stored timestamp when that is later', () => {
    const store = Store.open({ path: tempDbPath('pp-clock-') });
    try {
      const wall = Date.UTC(2026, 5, 1);
      expect(simulatedClockStart(store, wall)).toBe(wall);
      store.appendEvent({ ts: wall - 3600_000, type: 'test.past' }, { durable: true });
      expect(simulatedClockStart(store, wall)).toBe(wall);
      const ahead = wall + 100 * 3600_000; // an hour at 100×
      store.appendEvent({ ts: ahead, type: 'test.ahead' }, { durable: true });
      store.appendSample({ ts: ahead + 5, deviceId: 'nobody', values: { x: 1 } });
      store.upsertDevice({ id: 'bms0', kind: 'bms', busId: 'can1', name: 'BMS', serial: null, seenAt: ahead + 7, meta: {} });
      store.flush();
      expect(simulatedClockStart(store, wall)).toBe(ahead + 8);
    } finally {
      store.close();
    }
  });
});

describe('the README demo at --sim-speed 100 (real server process)', () => {
  it('defect 8.9: startCharge reaches DONE, not ERROR "BMS frames lost"', async () => {
    const dbPath = tempDbPath('pp-demo-');
    // The demo rig and config; the pack starts fuller so the charge takes ~30 s of real time.
    const s = await serve(dbPath, ['--sim-soc', '75']);
    await waitFor(async () => (await gql<Devices>(s.url, '{ devices { kind online } }')).devices.filter((d) => d.online && d.kind !== 'pi18').length === 3, 'both PSUs and the BMS online', 30_000);
    await gql(s.url, 'mutation { startCharge(chargerId: "charger1") { phase } }');
    const end = await waitFor(
      async () => {
        const c = (await gql<Charger>(s.url, '{ charger(id: "charger1") { phase stopReason session { id } } }')).charger;
        return c.phase === 'done' || c.phase === 'error' ? c : null;
      },
      'the charge to end',
      150_000,
      250,
    );
    expect(end.stopReason).toMatch(/Charge complete/);
    expect(end.phase).toBe('done');
    const { chargeSession } = await gql<{ chargeSession: { outcome: string; phases: Array<{ phase: string; startedAt: string; endedAt: string | null }> } }>(
      s.url,
      'query($id: ID!) { chargeSession(id: $id) { outcome phases { phase startedAt endedAt } } }',
      { id: end.session!.id },
    );
    expect(chargeSession.phases.map((p) => p.phase)).toContain('CC');
    for (const p of chargeSession.phases) if (p.endedAt) expect(Date.parse(p.endedAt)).toBeGreaterThanOrEqual(Date.parse(p.startedAt));
    expect(s.log()).not.toMatch(/BMS frames lost|battery bms0 offline/);
    await kill(s.child, 'SIGTERM');
  }, 200_000);

  it('defect 8.9: simulated time never goes backwards across a restart (SIGKILL, then SIGTERM)', async () => {
    const dbPath = tempDbPath('pp-simtime-');
    const maxTs = (db: Database.Database, minId = 0) => (db.prepare('SELECT max(ts) AS t, max(id) AS id FROM events WHERE id > ?').get(minId) as { t: number; id: number });
    const minTs = (db: Database.Database, minId: number) => (db.prepare('SELECT min(ts) AS t FROM events WHERE id > ?').get(minId) as { t: number | null }).t;

    const first = await serve(dbPath);
    await waitFor(async () => (await gql<Devices>(first.url, '{ devices { kind online } }')).devices.filter((d) => d.online && d.kind !== 'pi18').length === 3, 'the rig online', 30_000);
    await gql(first.url, 'mutation { startCharge(chargerId: "charger1") { phase } }');
    // Let simulated time run well ahead of the wall clock (2 s real = 200 s simulated).
    await waitFor(async () => (await gql<Charger>(first.url, '{ charger(id: "charger1") { phase stopReason session { id } } }')).charger.phase === 'CC', 'CC', 30_000);
    await new Promise((r) => setTimeout(r, 2000));
    await kill(first.child, 'SIGKILL');
    let db = new Database(dbPath, { readonly: true });
    const before = maxTs(db);
    db.close();
    expect(before.t).toBeGreaterThan(Date.now() + 60_000);

    const second = await serve(dbPath);
    await waitFor(async () => (await gql<Charger>(second.url, '{ charger(id: "charger1") { phase stopReason session { id } } }')).charger.phase !== 'idle', 'the session to resume', 30_000);
    await new Promise((r) => setTimeout(r, 1000));
    await kill(second.child, 'SIGTERM');
    db = new Database(dbPath, { readonly: true });
    const firstAfter = minTs(db, before.id);
    const phases = db.prepare('SELECT phase, started_at AS s, ended_at AS e FROM charge_phases ORDER BY id').all() as Array<{ phase: string; s: number; e: number | null }>;
    db.close();
    expect(firstAfter).not.toBeNull();
    // Every event of the second run is at or after the last one of the first run.
    expect(firstAfter!).toBeGreaterThanOrEqual(before.t);
    // No phase ends before it starts, and each starts no earlier than the one before it.
    for (let i = 0; i < phases.length; i++) {
      if (phases[i].e !== null) expect(phases[i].e!).toBeGreaterThanOrEqual(phases[i].s);
      if (i > 0) expect(phases[i].s).toBeGreaterThanOrEqual(phases[i - 1].s);
    }
  }, 120_000);
});
