/**
 * EV charge sessions (session.ts): pure steps on hand-made observations, and the whole path
 * simulator → driver → sessions on the FakeClock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import type { Observation } from '../../../src/families/contract.js';
import { OpenEvseDriver } from '../../../src/families/openevse/driver.js';
import {
  initialEvSessionState,
  restoreEvSession,
  stepEvSessions,
  type EvSession,
  type EvSessionChange,
  type EvSessionState,
} from '../../../src/families/openevse/session.js';
import type { EvseFact } from '../../../src/families/openevse/types.js';
import { evseBench } from '../../helpers/openevse-link.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await Promise.resolve(cleanups.pop()!()).catch(() => undefined);
});

const T0 = Date.UTC(2026, 0, 1);
const fact = (s: number, f: EvseFact): Observation<EvseFact> => ({ type: 'fact', at: T0 + s * 1000, deviceId: 'evse1', fact: f });
const at = (s: number, state: number, vflags: number | null, extra: { elapsedS?: number; capacityA?: number } = {}): Observation<EvseFact> =>
  fact(s, { kind: 'status', source: extra.elapsedS !== undefined ? 'GS' : 'AT', state, pilot: state <= 3 ? state : 0, vflags, capacityA: extra.capacityA ?? null, elapsedS: extra.elapsedS ?? null });
const gu = (s: number, ws: number) => fact(s, { kind: 'energy', sessionWs: ws, lifetimeWh: 0 });
const gg = (s: number, amps: number) => fact(s, { kind: 'meter', currentMa: amps * 1000, voltageMv: 240000 });

function run(state: EvSessionState, obs: Observation<EvseFact>[]): { state: EvSessionState; changes: EvSessionChange[] } {
  const changes: EvSessionChange[] = [];
  for (const o of obs) {
    const r = stepEvSessions(state, o);
    state = r.state;
    changes.push(...r.changes);
  }
  return { state, changes };
}
const kinds = (cs: EvSessionChange[]) => cs.filter((c) => c.kind !== 'updated').map((c) => (c.kind === 'ended' ? `ended:${c.reason}` : c.kind === 'resumed' ? `resumed:${c.reason}` : c.kind));
const ended = (cs: EvSessionChange[]) => cs.filter((c): c is Extract<EvSessionChange, { kind: 'ended' }> => c.kind === 'ended').map((c) => c.session);

describe('EV sessions (pure)', () => {
  it('starts when a connected vehicle starts charging, ends on unplug with energy, duration, max/avg current', () => {
    const r = run(initialEvSessionState('evse1'), [
      at(0, 1, 0x0200),
      at(10, 2, 0x0700),
      at(20, 3, 0x0540),
      gg(22, 32),
      gg(24, 16),
      gg(26, 16),
      at(3620, 3, 0x0540, { elapsedS: 3600 }),
      gu(3620, 3600 * 7680),
      at(3700, 2, 0x0500),
      at(4000, 1, 0x0200),
    ]);
    expect(kinds(r.changes)).toEqual(['started', 'ended:unplugged']);
    const s = ended(r.changes)[0]!;
    expect(s).toMatchObject({ startedAt: T0 + 20_000, endedAt: T0 + 4_000_000, energyWh: 7680, chargingS: 3600, maxCurrentA: 32, stopReason: 'unplugged', vehicleStoppedAt: T0 + 3_700_000 });
    expect(s.avgCurrentA).toBe(24); // 2 s at 32 A, 2 s at 16 A
    expect(r.state.active).toBeNull();
  });

  it('no session without charging: plug in and out', () => {
    const r = run(initialEvSessionState('evse1'), [at(0, 1, 0x0200), at(10, 2, 0x0700), at(20, 1, 0x0200)]);
    expect(r.changes).toEqual([]);
  });

  it('a stop by sleep, disable or a limit ends it with that reason', () => {
    for (const [state, vflags, reason] of [[0xfe, 0x0500, 'sleep'], [0xfe, 0x0504, 'limit_reached'], [0xff, 0x0500, 'disabled']] as const) {
      const r = run(initialEvSessionState('evse1'), [at(0, 2, 0x0700), at(10, 3, 0x0540), at(20, state, vflags)]);
      expect(kinds(r.changes)).toEqual(['started', `ended:${reason}`]);
    }
  });

  it('a second session in the same plug-in (sleep, then enable) counts only its own energy and time', () => {
    const r = run(initialEvSessionState('evse1'), [
      at(0, 2, 0x0700),
      at(10, 3, 0x0540),
      gu(100, 100_000),
      at(100, 3, 0x0540, { elapsedS: 90 }),
      at(110, 0xfe, 0x0500),
      gu(120, 100_000),
      at(120, 0xfe, 0x0500, { elapsedS: 90 }),
      at(200, 3, 0x0540),
      gu(300, 172_000),
      at(300, 3, 0x0540, { elapsedS: 190 }),
      at(310, 1, 0x0200),
    ]);
    expect(kinds(r.changes)).toEqual(['started', 'ended:sleep', 'started', 'ended:unplugged']);
    const [a, b] = ended(r.changes);
    expect(a!.energyWh).toBeCloseTo(100_000 / 3600, 1);
    expect(b!.energyWh).toBeCloseTo(72_000 / 3600, 1);
    expect(b!.chargingS).toBe(100);
  });

  it('faults seen are kept (GFCI trip and retry), the session goes on', () => {
    const r = run(initialEvSessionState('evse1'), [at(0, 2, 0x0700), at(10, 3, 0x0540), at(20, 6, 0x0580), at(320, 3, 0x05c0), at(400, 1, 0x0280)]);
    expect(kinds(r.changes)).toEqual(['started', 'ended:unplugged']);
    expect(ended(r.changes)[0]!.faults).toEqual(['gfci_fault']);
  });

  it('a board reboot mid-session with the car still connected resumes it, energy and time carried over', () => {
    const r = run(initialEvSessionState('evse1'), [
      at(0, 2, 0x0700),
      at(10, 3, 0x0540),
      gu(600, 500_000),
      at(600, 3, 0x0540, { elapsedS: 590 }),
      fact(601, { kind: 'boot', state: 0, firmware: '8.2.3' }),
      at(604, 3, 0x0540, { elapsedS: 0 }),
      gu(604, 0),
      gu(700, 200_000),
      at(700, 3, 0x0540, { elapsedS: 96 }),
      at(800, 1, 0x0200),
    ]);
    expect(kinds(r.changes)).toEqual(['started', 'resumed:board_reboot', 'ended:unplugged']);
    const s = ended(r.changes)[0]!;
    expect(s.energyWh).toBeCloseTo(700_000 / 3600, 1);
    expect(s.chargingS).toBe(590 + 96);
    expect(s.resumes).toEqual([{ at: T0 + 604_000, reason: 'board_reboot' }]);
  });

  it('a board reboot mid-session with the car gone ends it with the reason board_reboot', () => {
    const r = run(initialEvSessionState('evse1'), [at(0, 2, 0x0700), at(10, 3, 0x0540), fact(601, { kind: 'boot', state: 0, firmware: '8.2.3' }), at(604, 1, 0x0200)]);
    expect(kinds(r.changes)).toEqual(['started', 'ended:board_reboot']);
  });

  it('a counter drop without a boot seen (missed $AB) keeps the energy counted so far', () => {
    const r = run(initialEvSessionState('evse1'), [at(0, 2, 0x0700), at(10, 3, 0x0540), gu(100, 360_000), gu(200, 36_000), at(300, 1, 0x0200)]);
    expect(ended(r.changes)[0]!.energyWh).toBeCloseTo(110, 1);
  });

  it('the board out of reach mid-session: resumed when heard again with the car still there', () => {
    const off: Observation<EvseFact> = { type: 'presence', at: T0 + 300_000, deviceId: 'evse1', online: false, reason: 'link down' };
    const r = run(initialEvSessionState('evse1'), [at(0, 2, 0x0700), at(10, 3, 0x0540), gu(290, 100_000), at(290, 3, 0x0540, { elapsedS: 280 }), off, gu(900, 300_000), at(900, 3, 0x0540, { elapsedS: 890 }), gu(901, 300_000), at(1000, 1, 0x0200)]);
    expect(kinds(r.changes)).toEqual(['started', 'resumed:reconnected', 'ended:unplugged']);
    expect(ended(r.changes)[0]!.energyWh).toBeCloseTo(300_000 / 3600, 1);
  });

  it('the board out of reach mid-session: ended at its last-seen time when the car left meanwhile', () => {
    const off: Observation<EvseFact> = { type: 'presence', at: T0 + 300_000, deviceId: 'evse1', online: false, reason: 'link down' };
    const r = run(initialEvSessionState('evse1'), [at(0, 2, 0x0700), at(10, 3, 0x0540), at(290, 3, 0x0540, { elapsedS: 280 }), off, at(900, 1, 0x0200, { elapsedS: 600 })]);
    expect(kinds(r.changes)).toEqual(['started', 'ended:unplugged_while_offline']);
    expect(ended(r.changes)[0]!.endedAt).toBe(T0 + 290_000);
  });

  describe('server restart', () => {
    const open = (): EvSession => {
      const r = run(initialEvSessionState('evse1'), [at(0, 2, 0x0700), at(10, 3, 0x0540), gu(600, 720_000), at(600, 3, 0x0540, { elapsedS: 590 })]);
      return r.state.active!;
    };

    it('resumes from the board counters when the car is still connected and the counters moved on', () => {
      const st = restoreEvSession('evse1', open());
      const r = run(st, [at(900, 3, 0x0540, { capacityA: 32 }), at(901, 3, 0x0540, { elapsedS: 890 }), gu(902, 1_800_000), at(1000, 1, 0x0200)]);
      expect(kinds(r.changes)).toEqual(['resumed:server_restart', 'ended:unplugged']);
      const s = ended(r.changes)[0]!;
      expect(s.energyWh).toBe(500);
      expect(s.chargingS).toBe(890);
      expect(s.startedAt).toBe(T0 + 10_000);
    });

    it('ends it at its last-seen time when the car left while the server was down', () => {
      const r = run(restoreEvSession('evse1', open()), [at(900, 1, 0x0200, { elapsedS: 590 })]);
      expect(kinds(r.changes)).toEqual(['ended:unplugged_while_offline']);
      expect(ended(r.changes)[0]!.endedAt).toBe(T0 + 600_000);
    });

    it('ends it when the board counters went backwards, and starts a new one if charging', () => {
      const r = run(restoreEvSession('evse1', open()), [at(900, 3, 0x0540, { elapsedS: 100 })]);
      expect(kinds(r.changes)).toEqual(['ended:board_counters_reset', 'started']);
    });

    it('an ended session is not restored', () => {
      expect(restoreEvSession('evse1', { ...open(), endedAt: T0 }).active).toBeNull();
    });
  });
});

describe('EV sessions from the simulator through the driver', () => {
  it('plug in, charge 30 min at 32 A, power-cycle the board mid-session, unplug: one session, energy carried over', async () => {
    const clock = new FakeClock();
    const bench = await evseBench(clock);
    cleanups.push(() => bench.sim.stop());
    await clock.advance(2000);
    const driver = new OpenEvseDriver({ link: bench.link, clock, deviceId: 'evse1' });
    let state = initialEvSessionState('evse1');
    const changes: EvSessionChange[] = [];
    driver.onObservation((o) => {
      const r = stepEvSessions(state, o);
      state = r.state;
      changes.push(...r.changes);
    });
    driver.start();
    cleanups.push(() => driver.stop());
    await clock.advance(2000);
    bench.sim.at(0, 'plug-in').at(1000, 'request-charge').at(15 * 60_000, 'power-cycle').at(31 * 60_000, 'unplug');
    await clock.advance(32 * 60_000);
    expect(kinds(changes)).toEqual(['started', 'resumed:board_reboot', 'ended:unplugged']);
    // the GU read right after the unplug completes the ended session
    const last = changes.at(-1)!;
    expect(last).toMatchObject({ kind: 'updated', session: { stopReason: 'unplugged' } });
    const s = last.session;
    // 7.68 kW × (31 min − 1 s before the car asked − ≈1.5 s of reboot) = 3962 Wh at most; what the
    // board counted after the last GU poll before its reboot (≤ one 10 s poll, ≤ 21 Wh) is lost with it
    expect(s.energyWh).toBeLessThanOrEqual(3963);
    expect(s.energyWh).toBeGreaterThan(3962 - 22);
    expect(s.maxCurrentA).toBe(32);
    expect(s.avgCurrentA).toBeGreaterThan(31);
    expect(s.chargingS).toBeGreaterThan(29 * 60);
  });
});
