/**
 * Flatpack2 simulator against a fake controller, on a FakeClock. Behaviour per
 * flatpack2.md §2 (catalogue) and §2.8 (timing); modelling choices per src/families/flatpack2/sim.ts.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import type { CanFrame } from '../../../src/families/can/types.js';
import {
  FP2,
  decodeFp2,
  encodeAlertRequest,
  encodeDefaultVoltage,
  encodeLogin,
  encodeSet,
  type Fp2Message,
} from '../../../src/families/flatpack2/codec.js';
import { Flatpack2Sim, type SimPsuSpec } from '../../../src/families/flatpack2/sim.js';
import { LiFePO4Pack, type PackParams } from '../../../src/sim/lifepo4-pack.js';

const S1 = '192750001639';
const S2 = '163850019608';

interface Seen {
  t: number; // ms since the rig started
  frame: CanFrame;
  msg: Fp2Message;
}

type Status = Extract<Fp2Message, { kind: 'status' }>;

/**
 * A sim on a FakeClock plus a minimal controller: logs PSUs in on hello (addresses in
 * discovery order, or fixed ones), optionally keeps them alive every `keepAliveMs`.
 */
function rig(opts: {
  psus: SimPsuSpec[];
  pack?: Partial<PackParams>;
  autoLogin?: boolean;
  keepAliveMs?: number;
  addrs?: Record<string, number>;
  random?: () => number;
}) {
  const clock = new FakeClock();
  const t0 = clock.now();
  const pack = new LiFePO4Pack({ cells: 16, capacityAh: 100, socPct: 50, internalResistanceOhm: 0.02, ...opts.pack });
  const seen: Seen[] = [];
  const assigned = new Map<string, number>();
  let nextAddr = 1;
  const autoLogin = opts.autoLogin ?? true;
  const sim: Flatpack2Sim = new Flatpack2Sim({
    clock,
    pack,
    psus: opts.psus,
    random: opts.random,
    send: (frame) => {
      const msg = decodeFp2(frame);
      seen.push({ t: clock.now() - t0, frame, msg });
      if (autoLogin && msg.kind === 'hello') {
        let addr = assigned.get(msg.serial);
        if (addr === undefined) {
          addr = opts.addrs?.[msg.serial] ?? nextAddr++;
          assigned.set(msg.serial, addr);
        }
        sim.receive(encodeLogin(msg.serial, addr));
      }
    },
  });
  if (opts.keepAliveMs) {
    clock.setInterval(() => {
      for (const [serial, addr] of assigned) sim.receive(encodeLogin(serial, addr));
    }, opts.keepAliveMs);
  }
  sim.start();
  const statuses = (addr?: number, since = 0): Array<Seen & { msg: Status }> =>
    seen.filter((s): s is Seen & { msg: Status } => s.msg.kind === 'status' && s.t >= since && (addr === undefined || s.msg.addr === addr));
  const lastStatus = (addr: number): Status => {
    const all = statuses(addr);
    if (all.length === 0) throw new Error(`no status from PSU ${addr}`);
    return all[all.length - 1].msg;
  };
  return {
    clock,
    pack,
    sim,
    seen,
    assigned,
    statuses,
    lastStatus,
    now: () => clock.now() - t0,
    advance: (ms: number) => clock.advanceSync(ms),
    set: (p: { voltageV: number; currentA: number | null; ovpV?: number; walkIn?: 'short' | 'long' }) =>
      sim.receive(encodeSet({ ovpV: 59.5, ...p })),
    of: <K extends Fp2Message['kind']>(kind: K, since = 0) =>
      seen.filter((s): s is Seen & { msg: Extract<Fp2Message, { kind: K }> } => s.msg.kind === kind && s.t >= since),
  };
}

describe('Flatpack2Sim: discovery and login (§2.2, §2.8)', () => {
  it('while logged out sends hello every 2 s and a login request every 10 s on its remembered address, no status', () => {
    const r = rig({ psus: [{ serial: S2, addr: 2, helloPrefix: 0x1c }], autoLogin: false });
    r.advance(25_000);
    const hellos = r.of('hello');
    expect(hellos.map((h) => h.t)).toEqual([200, 2200, 4200, 6200, 8200, 10200, 12200, 14200, 16200, 18200, 20200, 22200, 24200]);
    expect(hellos[0].frame.id).toBe(0x05001608); // §4 #5
    expect(hellos[0].msg).toEqual({ kind: 'hello', serial: S2, prefix: 0x1c });
    const requests = r.of('login-request');
    expect(requests.map((q) => q.t)).toEqual([10_000, 20_000]);
    expect(requests[0].frame.id).toBe(0x05024400); // §4 #6
    expect(r.statuses()).toHaveLength(0);
    expect(r.sim.psu(S2).loggedIn).toBe(false);
  });

  it('after a login sends status every 200 ms on 0x05<addr>40SS and stops hello', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000, addrs: { [S1]: 3 } });
    r.advance(10_000);
    const st = r.statuses();
    expect(st.length).toBeGreaterThan(45);
    expect(st.every((s) => (s.frame.id & 0xffffff00) === 0x05034000)).toBe(true);
    const gaps = st.slice(1).map((s, i) => s.t - st[i].t);
    expect(new Set(gaps)).toEqual(new Set([200]));
    expect(r.of('hello')).toHaveLength(1); // the one that got it logged in
    expect(r.sim.psu(S1)).toMatchObject({ loggedIn: true, addr: 3 });
  });

  it('logs out after 64 status frames without keep-alive, falls back to default voltage and max current, hellos again', () => {
    const r = rig({ psus: [{ serial: S1, defaultVoltageV: 53.5 }], pack: { connected: false }, autoLogin: false });
    r.advance(300);
    r.sim.receive(encodeLogin(S1, 1));
    r.advance(5900);
    r.set({ voltageV: 55, currentA: 10 }); // SET also refreshes the budget
    const setAt = r.now();
    expect(r.sim.psu(S1).setVoltageV).toBe(55);
    r.advance(20_000);
    const after = r.statuses(undefined, setAt + 1); // the status at setAt itself went out before the SET
    expect(after).toHaveLength(FP2.STATUS_BUDGET_FRAMES);
    const lastStatusT = after[after.length - 1].t;
    expect(lastStatusT - setAt).toBeGreaterThan(63 * 200);
    expect(lastStatusT - setAt).toBeLessThanOrEqual(64 * 200);
    expect(after.at(-1)?.msg.voltageV).toBeCloseTo(55, 2);
    const view = r.sim.psu(S1);
    expect(view.loggedIn).toBe(false);
    expect(view.setVoltageV).toBe(53.5);
    expect(view.currentLimitA).toBeCloseTo(2000 / 48, 6);
    expect(view.outputV).toBeCloseTo(53.5, 6);
    const hellos = r.of('hello', lastStatusT);
    expect(hellos[0].t).toBe(lastStatusT + 200);
    expect(hellos[1].t).toBe(lastStatusT + 2200);
  });

  it('keeps the login alive with a 1 s keep-alive, or with SETs alone', () => {
    const a = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000 });
    a.advance(60_000);
    expect(a.sim.psu(S1).loggedIn).toBe(true);
    expect(a.of('hello')).toHaveLength(1);
    expect(a.statuses().length).toBeGreaterThanOrEqual(298);

    const b = rig({ psus: [{ serial: S1 }] });
    b.advance(300);
    b.clock.setInterval(() => b.set({ voltageV: 54, currentA: 10 }), 5000);
    b.advance(60_000);
    expect(b.sim.psu(S1).loggedIn).toBe(true);
    expect(b.of('hello')).toHaveLength(1);
  });

  it('remembers the address of its last login for its login requests', () => {
    const r = rig({ psus: [{ serial: S1, addr: 2 }], autoLogin: false });
    r.advance(500);
    r.sim.receive(encodeLogin(S1, 5));
    r.advance(15_000); // budget runs out at ~13 s
    r.advance(12_000);
    const reqs = r.of('login-request');
    expect(reqs.length).toBeGreaterThan(0);
    expect(reqs[reqs.length - 1].msg).toEqual({ kind: 'login-request', addr: 5, serial: S1 });
  });

  it('ignores a login for another serial', () => {
    const r = rig({ psus: [{ serial: S1 }], autoLogin: false });
    r.sim.receive(encodeLogin(S2, 1));
    r.advance(2000);
    expect(r.sim.psu(S1).loggedIn).toBe(false);
    expect(r.statuses()).toHaveLength(0);
  });
});

describe('Flatpack2Sim: two PSUs on one bus (§3)', () => {
  it('each reports on its own address and they share the current', () => {
    const r = rig({ psus: [{ serial: S1 }, { serial: S2, helloPrefix: 0x1d }], keepAliveMs: 1000, pack: { socPct: 30 } });
    r.advance(1000);
    expect(r.sim.psu(S1).addr).toBe(1);
    expect(r.sim.psu(S2).addr).toBe(2);
    r.set({ voltageV: 57.6, currentA: 10 });
    r.advance(10_000);
    const ids = new Set(r.statuses(undefined, 5000).map((s) => s.frame.id));
    expect(ids).toEqual(new Set([0x05014008, 0x05024008])); // both current-limited
    expect(r.lastStatus(1).currentA).toBeCloseTo(10, 1);
    expect(r.lastStatus(2).currentA).toBeCloseTo(10, 1);
    expect(r.sim.totalCurrentA).toBeCloseTo(20, 6);
    expect(r.lastStatus(1).voltageV).toBeCloseTo(r.pack.terminalV(20), 2);
    expect(r.lastStatus(2).voltageV).toBeCloseTo(r.lastStatus(1).voltageV, 6);
  });

  it('share equally in CV at the same setpoint', () => {
    const r = rig({ psus: [{ serial: S1 }, { serial: S2 }], keepAliveMs: 1000, pack: { socPct: 99 } });
    r.advance(1000);
    r.set({ voltageV: 57.6, currentA: 40 });
    r.advance(5000);
    const a = r.sim.psu(S1).outputA;
    const b = r.sim.psu(S2).outputA;
    expect(a).toBeGreaterThan(1);
    expect(a).toBeLessThan(40);
    expect(a).toBeCloseTo(b, 9);
    expect(r.lastStatus(1).stateCode).toBe(FP2.STATE_NORMAL);
  });
});

describe('Flatpack2Sim: output and physics', () => {
  it('CC into a low pack: current at the limit, Vout = pack terminal voltage, state 0x08 with Current limit', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000, pack: { socPct: 20 } });
    r.advance(6000); // past the power-on walk-in
    r.set({ voltageV: 57.6, currentA: 20 });
    r.advance(2000);
    const st = r.lastStatus(1);
    expect(st.currentA).toBeCloseTo(20, 1);
    expect(st.stateCode).toBe(FP2.STATE_WARNING);
    expect(st.voltageV).toBeCloseTo(r.pack.terminalV(20), 2);
    expect(st.voltageV).toBeLessThan(57.6);
    expect(r.sim.psu(S1).warnings).toBe(1 << 7);
    r.sim.receive(encodeAlertRequest(1, 'warnings'));
    r.advance(10);
    expect(r.of('alerts').at(-1)?.msg).toMatchObject({ type: 'warnings', bits: 0x80, names: ['Current limit'] });
    // One hour at 20 A into 100 Ah is +20 % SOC.
    const soc0 = r.pack.socPct;
    r.advance(3600_000);
    expect(r.pack.socPct - soc0).toBeCloseTo(20, 1);
  });

  it('a SET without a current limit (FFFF) gives the most the 2000 W rating allows: V × I ≤ 2000 W', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000, pack: { socPct: 30 } });
    r.advance(6000);
    r.set({ voltageV: 57.6, currentA: null });
    r.advance(2000);
    const v = r.sim.psu(S1);
    expect(v.currentLimitA).toBeCloseTo(2000 / 48, 6);
    expect(v.outputA).toBeLessThan(2000 / 48);
    expect(v.outputA * v.outputV).toBeCloseTo(2000, -1);
    expect(v.outputA * v.outputV).toBeLessThanOrEqual(2001);
    expect(v.state).toBe('warning');
  });

  it('CV: at the setpoint the current tapers as the pack fills', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000, pack: { socPct: 98.8 } });
    r.advance(1000);
    r.set({ voltageV: 57.6, currentA: 20 });
    r.advance(2000);
    const samples: number[] = [];
    for (let i = 0; i < 6; i++) {
      samples.push(r.lastStatus(1).currentA);
      r.advance(120_000);
    }
    expect(samples[0]).toBeGreaterThan(5);
    for (let i = 1; i < samples.length; i++) expect(samples[i]).toBeLessThan(samples[i - 1]);
    expect(samples.at(-1)).toBeLessThan(samples[0] / 3);
    expect(r.lastStatus(1).voltageV).toBeCloseTo(57.6, 1);
    expect(r.lastStatus(1).stateCode).toBe(FP2.STATE_NORMAL);
  });

  it('set voltage below the pack: 0 A and the terminals show the pack voltage', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000, pack: { socPct: 50 } });
    r.advance(1000);
    r.set({ voltageV: 48, currentA: 0.1 });
    r.advance(1000);
    const st = r.lastStatus(1);
    expect(st.currentA).toBe(0);
    expect(st.voltageV).toBeCloseTo(r.pack.ocvV(), 2);
    expect(st.stateCode).toBe(FP2.STATE_NORMAL);
  });

  it('with the pack disconnected shows the set voltage at 0 A, and the ramped voltage during walk-in', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000, pack: { connected: false } });
    r.advance(2600);
    const mid = r.lastStatus(1); // power-on walk-in from 0 V to 53.5 V over 5 s
    expect(mid.stateCode).toBe(FP2.STATE_WALK_IN);
    expect(mid.voltageV).toBeGreaterThan(20);
    expect(mid.voltageV).toBeLessThan(35);
    expect(mid.currentA).toBe(0);
    r.advance(3000);
    expect(r.lastStatus(1)).toMatchObject({ stateCode: FP2.STATE_NORMAL, voltageV: 53.5, currentA: 0 });
    r.set({ voltageV: 50, currentA: 10 });
    r.advance(400);
    expect(r.lastStatus(1)).toMatchObject({ voltageV: 50, currentA: 0 });
  });

  it('a 10-hour 0.1 C charge to 57.6 V runs quickly on a FakeClock and ends at the tail', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000, pack: { socPct: 20 } });
    r.advance(1000);
    r.set({ voltageV: 57.6, currentA: 10 });
    const cpu0 = performance.now();
    r.advance(10 * 3600_000);
    const cpuMs = performance.now() - cpu0;
    expect(r.pack.socPct).toBeGreaterThan(99.5);
    expect(r.sim.psu(S1).outputA).toBeLessThan(1);
    expect(r.statuses().length).toBeGreaterThan(179_000);
    // Generous for a noisy 2-core box; typically a few hundred ms.
    expect(cpuMs).toBeLessThan(4000);
  });
});

describe('Flatpack2Sim: walk-in (§2.3, §2.4)', () => {
  it('reports 0x10 while ramping: a long-walk-in SET from 43.5 V to 57.6 V ramps for ~15 s, a short one for ~1.2 s', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000, pack: { connected: false } });
    r.advance(6000);
    r.set({ voltageV: 43.5, currentA: 10, walkIn: 'long' });
    r.advance(1000);
    expect(r.lastStatus(1).voltageV).toBeCloseTo(43.5, 2);
    r.set({ voltageV: 57.6, currentA: 10, walkIn: 'long' });
    const t = r.now();
    const until = r.sim.psu(S1).walkInUntil;
    expect(until).not.toBeNull();
    expect((until ?? 0) - r.clock.now()).toBeCloseTo(((57.6 - 43.5) / (57.6 / 60)) * 1000, -1);
    r.advance(7000);
    const mid = r.lastStatus(1);
    expect(mid.state).toBe('walk-in');
    expect(mid.voltageV).toBeGreaterThan(43.5);
    expect(mid.voltageV).toBeLessThan(57.6);
    r.advance(9000);
    expect(r.lastStatus(1)).toMatchObject({ state: 'normal', voltageV: 57.6 });
    const walkIn = r.statuses(1, t).filter((s) => s.msg.stateCode === FP2.STATE_WALK_IN);
    expect(walkIn.length).toBeGreaterThanOrEqual(72);
    expect(walkIn.length).toBeLessThanOrEqual(75);

    r.set({ voltageV: 43.5, currentA: 10 });
    r.advance(1000);
    r.set({ voltageV: 57.6, currentA: 10, walkIn: 'short' });
    const t2 = r.now();
    r.advance(3000);
    const shortWalk = r.statuses(1, t2).filter((s) => s.msg.stateCode === FP2.STATE_WALK_IN);
    expect(shortWalk.length).toBeGreaterThanOrEqual(5);
    expect(shortWalk.length).toBeLessThanOrEqual(7);
  });

  it('small setpoint steps (a charger ramp of 0.1 V) never report walk-in', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000, pack: { socPct: 50 } });
    r.advance(6000);
    r.set({ voltageV: 52.5, currentA: 20 });
    const t = r.now();
    for (let i = 0; i < 10; i++) {
      r.advance(5000);
      r.set({ voltageV: 52.5 + 0.1 * (i + 1), currentA: 20, walkIn: 'long' });
    }
    r.advance(1000);
    expect(r.statuses(1, t).some((s) => s.msg.stateCode === FP2.STATE_WALK_IN)).toBe(false);
  });
});

describe('Flatpack2Sim: warnings, alarms and OVP (§2.6)', () => {
  it('over-temperature warning: state 0x08, warning bit 5, answered on the id that was asked', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000 });
    r.advance(6000);
    r.set({ voltageV: 48, currentA: 10 }); // below the pack: no current limit
    r.sim.injectOverTemp(S1, 'warning');
    r.advance(400);
    expect(r.lastStatus(1).stateCode).toBe(FP2.STATE_WARNING);
    expect(r.lastStatus(1).outputTempC).toBeGreaterThanOrEqual(80);
    const asked = r.now();
    r.sim.receive(encodeAlertRequest(1, 'warnings'));
    expect(r.of('alerts', asked)).toHaveLength(0); // replies are not synchronous
    r.advance(10);
    const reply = r.of('alerts', asked)[0];
    expect(reply.frame.id).toBe(0x0501bffc);
    expect(Array.from(reply.frame.data)).toEqual([0x0e, 0x04, 0x00, 0x20, 0x00, 0x00, 0x00]);
    expect(reply.msg).toMatchObject({ names: ['High temperature'] });
    // UQF's alternative id 0x05UUBC00 gets its reply there.
    r.sim.receive({ id: 0x0501bc00, extended: true, remote: false, data: Uint8Array.of(0x08, 0x08, 0x00) });
    r.advance(10);
    expect(r.seen.at(-1)?.frame.id).toBe(0x0501bc00);
    expect(r.seen.at(-1)?.msg).toMatchObject({ kind: 'alerts', type: 'alarms', bits: 0 });
  });

  it('over-temperature alarm: state 0x0C, output off, alarm bit 5; clearing it walks in again', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000, pack: { socPct: 30 } });
    r.advance(6000);
    r.set({ voltageV: 57.6, currentA: 20 });
    r.advance(1000);
    expect(r.lastStatus(1).currentA).toBeCloseTo(20, 1);
    r.sim.injectOverTemp(S1, 'alarm');
    r.advance(400);
    expect(r.lastStatus(1)).toMatchObject({ stateCode: FP2.STATE_ALARM, currentA: 0 });
    expect(r.lastStatus(1).voltageV).toBeCloseTo(r.pack.ocvV(), 2);
    r.sim.receive(encodeAlertRequest(1, 'alarms'));
    r.advance(10);
    expect(r.of('alerts').at(-1)?.msg).toMatchObject({ type: 'alarms', bits: 1 << 5, names: ['High temperature'] });
    r.sim.injectOverTemp(S1, null);
    r.advance(400);
    expect(r.lastStatus(1).stateCode).toBe(FP2.STATE_WALK_IN);
    r.advance(6000);
    expect(r.lastStatus(1)).toMatchObject({ stateCode: FP2.STATE_WARNING });
    expect(r.lastStatus(1).currentA).toBeCloseTo(20, 1);
  });

  it('a setpoint above OVP latches OVS lock-out (alarm bit 0) until power-cycled', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000, pack: { connected: false } });
    r.advance(6000);
    r.set({ voltageV: 57, currentA: 10, ovpV: 56 });
    r.advance(400);
    expect(r.lastStatus(1).stateCode).toBe(FP2.STATE_ALARM);
    expect(r.sim.psu(S1).alarms).toBe(1);
    expect(r.sim.psu(S1).outputV).toBe(0);
    r.set({ voltageV: 54, currentA: 10, ovpV: 59.5 });
    r.advance(400);
    expect(r.lastStatus(1).stateCode).toBe(FP2.STATE_ALARM); // latched
    r.sim.setPresent(S1, false);
    r.sim.setPresent(S1, true);
    r.advance(6000);
    expect(r.sim.psu(S1).alarms).toBe(0);
    expect(r.sim.psu(S1).outputV).toBeCloseTo(53.5, 6);
  });

  it('mains loss is an alarm with the output off', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000, pack: { socPct: 30 } });
    r.advance(6000);
    r.sim.setMains(S1, 0);
    r.advance(400);
    expect(r.lastStatus(1)).toMatchObject({ stateCode: FP2.STATE_ALARM, currentA: 0, inputVoltageV: 0 });
    expect(r.sim.psu(S1).alarms).toBe(1 << 4);
  });
});

describe('Flatpack2Sim: default voltage (§2.5)', () => {
  it('stores and acks the EEPROM voltage; it takes effect only after the login lapses', () => {
    const r = rig({ psus: [{ serial: S1 }], pack: { connected: false } });
    r.advance(6000); // logged in at 200 ms, walk-in done
    r.set({ voltageV: 50, currentA: 10 });
    const asked = r.now();
    r.sim.receive(encodeDefaultVoltage(1, 54)); // §4 #8
    r.advance(10);
    const ack = r.of('default-voltage', asked);
    expect(ack).toHaveLength(1);
    expect(ack[0].frame.id).toBe(0x05019c00);
    expect(Array.from(ack[0].frame.data)).toEqual([0x2b, 0x15, 0x00, 0x18, 0x15]);
    expect(r.sim.psu(S1)).toMatchObject({ defaultVoltageV: 54, setVoltageV: 50 });
    r.advance(15_000); // no keep-alive: the login lapses
    r.sim.receive(encodeDefaultVoltage(9, 48)); // another address: ignored
    expect(r.sim.psu(S1).setVoltageV).toBe(54);
    r.advance(2000);
    expect(r.sim.psu(S1).outputV).toBeCloseTo(54, 6);
  });
});

describe('Flatpack2Sim: presence and frame loss', () => {
  it('a PSU set not present goes silent and delivers nothing; back, it walks in and says hello', () => {
    const r = rig({ psus: [{ serial: S1 }, { serial: S2 }], keepAliveMs: 1000, pack: { socPct: 30 } });
    r.advance(6000);
    r.set({ voltageV: 57.6, currentA: 10 });
    r.advance(1000);
    r.sim.setPresent(S2, false);
    const gone = r.now();
    r.advance(30_000);
    const fromS2 = r.seen.filter((s) => s.t > gone && ((s.msg.kind === 'status' && s.msg.addr === 2) || (s.msg.kind === 'hello' && s.msg.serial === S2)));
    expect(fromS2).toHaveLength(0);
    expect(r.sim.psu(S2)).toMatchObject({ present: false, loggedIn: false, outputA: 0 });
    expect(r.sim.totalCurrentA).toBeCloseTo(10, 6);
    expect(r.statuses(1, gone).length).toBeGreaterThan(140);
    r.sim.setPresent(S2, true);
    const back = r.now();
    r.advance(1000);
    expect(r.of('hello', back).map((h) => h.msg)).toEqual([{ kind: 'hello', serial: S2, prefix: 0x1b }]);
    expect(r.statuses(2, back)[0].msg.state).toBe('walk-in');
  });

  it('drops frames with the injected probability', () => {
    const seq = [0.1, 0.9];
    let i = 0;
    const r = rig({ psus: [{ serial: S1 }], autoLogin: false, random: () => seq[i++ % 2] });
    r.sim.dropRate = 0.5;
    r.advance(20_000);
    // Sends in order: 10 hellos (200, 2200 … 18200 ms) and login requests at 10 000 and 20 000 ms;
    // the random source alternates lose/keep, so hellos 1,3,5 / 7,9,11 of the 12 frames are lost.
    expect(r.of('hello')).toHaveLength(4);
    expect(r.of('login-request')).toHaveLength(2);
    expect(r.sim.droppedFrames).toBe(6);
    expect(r.sim.sentFrames).toBe(6);
    r.sim.dropRate = 1;
    const t = r.now();
    r.advance(20_000);
    expect(r.seen.filter((s) => s.t > t)).toHaveLength(0);
  });
});

describe('Flatpack2Sim: temperature and lifecycle', () => {
  it('exhaust temperature rises with output power and falls back when idle', () => {
    const r = rig({ psus: [{ serial: S1 }], keepAliveMs: 1000, pack: { socPct: 20, capacityAh: 1000 } });
    r.advance(6000);
    const idle = r.lastStatus(1).outputTempC;
    r.set({ voltageV: 57.6, currentA: 35 });
    r.advance(20 * 60_000);
    const hot = r.lastStatus(1).outputTempC;
    expect(hot).toBeGreaterThan(idle + 10);
    r.set({ voltageV: 48, currentA: 1 });
    r.advance(20 * 60_000);
    expect(r.lastStatus(1).outputTempC).toBeLessThan(hot - 10);
  });

  it('stop() cancels every timer and silences the bus', () => {
    const r = rig({ psus: [{ serial: S1 }], autoLogin: false });
    r.advance(1000);
    r.sim.receive(encodeAlertRequest(0, 'warnings'));
    r.sim.stop();
    expect(r.clock.pendingTimers()).toBe(0);
    const n = r.seen.length;
    r.advance(30_000);
    expect(r.seen.length).toBe(n);
  });
});
