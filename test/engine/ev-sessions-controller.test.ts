/** The EV-session controller on its own: a family's tracker (faked here) → rows in a real SQLite file and durable events. */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { Store } from '../../src/store/store.js';
import { ChargeSessionStore } from '../../src/store/sessions.js';
import { EvSessionController, EV_PROGRESS_WRITE_MS } from '../../src/engine/controllers/ev-sessions.js';
import type { EvSessionChange, EvSessionRecord, EvSessionsCapability } from '../../src/engine/capabilities.js';
import type { Observation } from '../../src/families/contract.js';
import { tempDbPath } from '../helpers/rig.js';

let store: Store | null = null;
afterEach(() => {
  store?.close();
  store = null;
});

const rec = (over: Partial<EvSessionRecord> = {}): EvSessionRecord => ({
  id: 'ev1:1000',
  deviceId: 'ev1',
  startedAt: 1000,
  endedAt: null,
  energyWh: 0,
  chargingS: 0,
  maxCurrentA: 0,
  avgCurrentA: 0,
  stopReason: null,
  faults: [],
  resumes: [],
  state: { kind: 'test' },
  ...over,
});

function setup(script: (o: Observation<unknown>, open: EvSessionRecord | null) => EvSessionChange[]) {
  const clock = new FakeClock(1000);
  store = Store.open({ path: tempDbPath('pp-evctl-') });
  const s = store;
  const sessions = new ChargeSessionStore(s.db);
  const events: string[] = [];
  const opened: Array<EvSessionRecord | null> = [];
  const cap: EvSessionsCapability = {
    tracker: (_id, open) => {
      opened.push(open);
      return { step: (o) => script(o, open) };
    },
  };
  const ctl = new EvSessionController({
    clock,
    log: silentLogger(),
    sessions,
    record: (e, durable) => {
      events.push(`${e.type}${durable ? '!' : ''}`);
      return s.appendEvent({ ts: clock.now(), ...e }, { durable });
    },
    nameOf: (id) => id,
  });
  const fact = (): Observation<unknown> => ({ type: 'fact', at: clock.now(), deviceId: 'ev1', fact: {} });
  return { clock, sessions, events, opened, ctl, cap, fact };
}

describe('EV-session controller', () => {
  it('writes start and end at once, progress at most every EV_PROGRESS_WRITE_MS, and the completion after the end', async () => {
    let next: EvSessionChange[] = [];
    const t = setup(() => next);
    next = [{ kind: 'started', session: rec() }];
    t.ctl.observed('l', t.cap, t.fact());
    expect(t.sessions.openEv('ev1')?.id).toBe('ev1:1000');
    expect(t.events).toEqual(['ev-session.started!']);
    // progress every second: written at most every 5 s
    const written: number[] = [];
    for (let i = 1; i <= 12; i++) {
      await t.clock.advance(1000);
      next = [{ kind: 'updated', session: rec({ energyWh: i * 10 }) }];
      t.ctl.observed('l', t.cap, t.fact());
      written.push(t.sessions.openEv('ev1')!.energyWh);
    }
    expect(EV_PROGRESS_WRITE_MS).toBe(5000);
    expect(written).toEqual([0, 0, 0, 0, 50, 50, 50, 50, 50, 100, 100, 100]);
    next = [{ kind: 'ended', session: rec({ energyWh: 125, endedAt: 14_000, stopReason: 'unplugged' }), reason: 'unplugged' }];
    t.ctl.observed('l', t.cap, t.fact());
    expect(t.sessions.get('ev1:1000')).toMatchObject({ kind: 'ev', deliveredWh: 125, reason: 'unplugged', outcome: 'done', endedAt: 14_000 });
    // the read that follows the end completes the ended session: always written
    next = [{ kind: 'updated', session: rec({ energyWh: 127, endedAt: 14_000, stopReason: 'unplugged' }) }];
    t.ctl.observed('l', t.cap, t.fact());
    expect(t.sessions.get('ev1:1000')!.deliveredWh).toBe(127);
    expect(t.events).toEqual(['ev-session.started!', 'ev-session.ended!']);
  });

  it('hands the tracker the session the store holds open for the device (a restart), once per device', () => {
    const t = setup(() => []);
    t.sessions.saveEv(rec({ energyWh: 42, resumes: [{ at: 5, reason: 'board_reboot' }] }));
    t.ctl.observed('l', t.cap, t.fact());
    t.ctl.observed('l', t.cap, t.fact());
    expect(t.opened).toHaveLength(1);
    expect(t.opened[0]).toMatchObject({ id: 'ev1:1000', energyWh: 42, resumes: [{ at: 5, reason: 'board_reboot' }], state: { kind: 'test' } });
    // frames and link changes are not the trackers' business
    t.ctl.observed('l', t.cap, { type: 'link', at: 0, state: 'up', detail: '' });
    expect(t.opened).toHaveLength(1);
  });
});
