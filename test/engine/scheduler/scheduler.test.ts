/**
 * The scheduler on the FakeClock: croner names the instants, the clock's timers fire them.
 * A bare engine (no links) with a real SQLite file for the timing tests; the simulated rig for
 * actions that go through the gate.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, type Clock, type TimerHandle } from '../../../src/clock.js';
import { Engine } from '../../../src/engine/engine.js';
import { silentLogger } from '../../../src/log.js';
import { Store } from '../../../src/store/store.js';
import type { JobAction, JobRun } from '../../../src/engine/scheduler/spec.js';
import { registerDeviceCommand } from '../../../src/engine/scheduler/actions.js';
import { z } from 'zod';
import { Scheduler, START_SETTLE_MS } from '../../../src/engine/scheduler/scheduler.js';
import { makeSimRig, tempDbPath, type TestRig } from '../../helpers/rig.js';

const H = 3600_000;
const M = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** A clock whose reading can jump (a wall-clock change) while its timers keep their delays. */
class JumpClock implements Clock {
  offset = 0;
  constructor(readonly inner: FakeClock) {}
  now() {
    return this.inner.now() + this.offset;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.inner.setTimeout(fn, ms);
  }
  clearTimeout(h: TimerHandle | undefined) {
    this.inner.clearTimeout(h);
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.inner.setInterval(fn, ms);
  }
  clearInterval(h: TimerHandle | undefined) {
    this.inner.clearInterval(h);
  }
}

interface Bare {
  engine: Engine;
  store: Store;
  dbPath: string;
  stop(): void;
}

const open: Array<{ stop(): void | Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.stop();
});

/** An engine with no links on a real database: only the scheduler's (and the corrupt report's) timers run. */
function bare(clock: Clock, dbPath = tempDbPath('pp-sched-')): Bare {
  const store = Store.open({ path: dbPath });
  const engine = new Engine({ store, clock, log: silentLogger(), simulated: true, families: new Map() });
  engine.start();
  let stopped = false;
  const b = {
    engine,
    store,
    dbPath,
    stop() {
      if (stopped) return;
      stopped = true;
      engine.stop();
      store.close();
    },
  };
  open.push(b);
  return b;
}

const PRUNE: JobAction = { type: 'prune-history', framesOlderThanDays: 30 };

function runsOf(s: Scheduler, jobId: string): JobRun[] {
  return s.runsOf(jobId, 1000, null).items.reverse();
}

function created(s: Scheduler, input: Record<string, unknown>) {
  const r = s.create(input, 'test');
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

describe('scheduler timing (FakeClock, croner for the instants)', () => {
  it('fires at the right instants across the spring-forward change (Europe/Berlin, 29 March 2026)', async () => {
    const clock = new FakeClock(Date.parse('2026-03-27T12:00:00Z'));
    const { engine } = bare(clock);
    const daily = created(engine.scheduler, { name: 'nightly 02:30', cron: '30 2 * * *', timezone: 'Europe/Berlin', actions: [PRUNE] });
    const hourly = created(engine.scheduler, { name: 'hourly', cron: '0 0 * * * *', timezone: 'Europe/Berlin', actions: [PRUNE] });
    await clock.advance(4 * 24 * H);
    const d = runsOf(engine.scheduler, daily.id);
    // 02:30 CET; 02:30 does not exist on the 29th: once, at 03:00 CEST (01:00Z); then 02:30 CEST.
    expect(d.map((r) => iso(r.scheduledAt!))).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z', '2026-03-31T00:30:00.000Z']);
    expect(d.every((r) => r.startedAt === r.scheduledAt && r.outcome === 'ok' && r.trigger === 'schedule')).toBe(true);
    // The local day of the change has 23 hours: 23 hourly runs between its midnights.
    const h = runsOf(engine.scheduler, hourly.id).filter((r) => r.scheduledAt! >= Date.parse('2026-03-28T23:00:00Z') && r.scheduledAt! < Date.parse('2026-03-29T22:00:00Z'));
    expect(h).toHaveLength(23);
    expect(new Set(h.map((r) => r.scheduledAt)).size).toBe(23);
  });

  it('fires at the right instants across the fall-back change (Europe/Berlin, 25 October 2026)', async () => {
    const clock = new FakeClock(Date.parse('2026-10-23T12:00:00Z'));
    const { engine } = bare(clock);
    const daily = created(engine.scheduler, { name: 'nightly 02:30', cron: '0 30 2 * * *', timezone: 'Europe/Berlin', actions: [PRUNE] });
    const hourly = created(engine.scheduler, { name: 'hourly', cron: '0 * * * *', timezone: 'Europe/Berlin', actions: [PRUNE] });
    await clock.advance(3 * 24 * H);
    // 02:30 happens twice on the 25th (CEST then CET): the job runs once, at the first.
    expect(runsOf(engine.scheduler, daily.id).map((r) => iso(r.scheduledAt!))).toEqual(['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    // Every real hour runs: both 02:00s (00:00Z CEST and 01:00Z CET), 25 runs that local day.
    const h = runsOf(engine.scheduler, hourly.id).filter((r) => r.scheduledAt! >= Date.parse('2026-10-24T22:00:00Z') && r.scheduledAt! < Date.parse('2026-10-25T23:00:00Z'));
    expect(h.map((r) => iso(r.scheduledAt!))).toContain('2026-10-25T00:00:00.000Z');
    expect(h.map((r) => iso(r.scheduledAt!))).toContain('2026-10-25T01:00:00.000Z');
    expect(h).toHaveLength(25);
  });

  it('nextRuns answers the same instants the timers fire', async () => {
    const clock = new FakeClock(Date.parse('2026-03-28T12:00:00Z'));
    const { engine } = bare(clock);
    const j = created(engine.scheduler, { name: 'x', cron: '30 2 * * *', timezone: 'Europe/Berlin', actions: [PRUNE] });
    const predicted = engine.scheduler.nextRuns(j.id, 3);
    await clock.advance(3 * 24 * H);
    expect(runsOf(engine.scheduler, j.id).map((r) => r.scheduledAt)).toEqual(predicted);
  });

  it('a one-off job runs once at its time and then has no next run', async () => {
    const clock = new FakeClock(Date.parse('2026-04-01T00:00:00Z'));
    const { engine } = bare(clock);
    const j = created(engine.scheduler, { name: 'once', at: Date.parse('2026-04-01T06:00:00Z'), actions: [PRUNE] });
    expect(engine.scheduler.nextRuns(j.id, 5)).toEqual([Date.parse('2026-04-01T06:00:00Z')]);
    await clock.advance(24 * H);
    expect(runsOf(engine.scheduler, j.id).map((r) => iso(r.startedAt))).toEqual(['2026-04-01T06:00:00.000Z']);
    expect(engine.scheduler.nextRuns(j.id, 5)).toEqual([]);
    const past = engine.scheduler.create({ name: 'too late', at: Date.parse('2026-04-01T06:00:00Z'), actions: [PRUNE] }, 'test');
    expect(past.ok ? null : past.issues).toEqual([{ path: 'at', message: expect.stringMatching(/is in the past/) }]);
  });
});

describe('catch-up after a downtime, and restarts', () => {
  async function downtime(catchUp: 'once' | 'skip', downFor: number, opts: { cron?: string; maxLatenessS?: number } = {}) {
    const clock = new FakeClock(Date.parse('2026-01-10T00:00:00Z'));
    const a = bare(clock);
    const j = created(a.engine.scheduler, { name: 'cheap tariff', cron: opts.cron ?? '0 1 * * *', timezone: 'UTC', catchUp, maxLatenessS: opts.maxLatenessS ?? 3 * 3600, actions: [PRUNE] });
    await clock.advance(30 * M);
    a.stop();
    clock.stall(downFor); // the server is down: nothing runs
    const b = bare(clock, a.dbPath);
    await clock.advance(START_SETTLE_MS);
    return { clock, b, j };
  }

  it('catchUp once: the slot missed while the server was down runs once at start, and the decision is an event', async () => {
    const { clock, b, j } = await downtime('once', 90 * M); // down 00:30 → 02:00, missed 01:00
    const runs = runsOf(b.engine.scheduler, j.id);
    expect(runs).toHaveLength(1);
    // Decided at start (02:00), run once the devices had START_SETTLE_MS to be heard.
    expect(runs[0]).toMatchObject({ trigger: 'catch-up', outcome: 'ok', scheduledAt: Date.parse('2026-01-10T01:00:00Z'), startedAt: Date.parse('2026-01-10T02:00:00Z') + START_SETTLE_MS });
    const ev = b.store.listEvents({ types: ['job.catch-up'] }, 10).items;
    expect(ev).toHaveLength(1);
    expect(ev[0].data).toMatchObject({ jobId: j.id, decision: 'run', policy: 'once', latenessMs: H });
    await clock.advance(20 * H); // not again before the next day's 01:00
    expect(runsOf(b.engine.scheduler, j.id).map((r) => r.trigger)).toEqual(['catch-up']);
    await clock.advance(4 * H);
    expect(runsOf(b.engine.scheduler, j.id).map((r) => r.trigger)).toEqual(['catch-up', 'schedule']);
  });

  it('catchUp once runs once however many slots were missed', async () => {
    const { b, j } = await downtime('once', 5 * H, { cron: '0 * * * *' }); // hourly, 5 slots missed
    const runs = runsOf(b.engine.scheduler, j.id);
    expect(runs.map((r) => [r.trigger, iso(r.scheduledAt!)])).toEqual([['catch-up', '2026-01-10T05:00:00.000Z']]);
  });

  it('catchUp once: a slot later than maxLatenessS is skipped, with the reason', async () => {
    const { b, j } = await downtime('once', 5 * H, { maxLatenessS: 3600 }); // 01:00 missed by 4.5 h
    const runs = runsOf(b.engine.scheduler, j.id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ trigger: 'catch-up', outcome: 'skipped' });
    expect(runs[0].reason).toMatch(/more than maxLatenessS 3600/);
    expect(b.store.listEvents({ types: ['job.catch-up'] }, 10).items[0].data).toMatchObject({ decision: 'skip' });
    expect(b.store.listEvents({ types: ['history.pruned'] }, 10).items).toHaveLength(0);
  });

  it('catchUp skip (the default): the missed slot is recorded skipped and an event says so; the action does not run', async () => {
    const { clock, b, j } = await downtime('skip', 90 * M);
    const runs = runsOf(b.engine.scheduler, j.id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ trigger: 'catch-up', outcome: 'skipped', scheduledAt: Date.parse('2026-01-10T01:00:00Z') });
    expect(runs[0].reason).toMatch(/catchUp skip/);
    expect(b.store.listEvents({ types: ['job.catch-up'] }, 10).items[0].data).toMatchObject({ decision: 'skip', policy: 'skip' });
    expect(b.store.listEvents({ types: ['history.pruned'] }, 10).items).toHaveLength(0);
    await clock.advance(24 * H);
    expect(runsOf(b.engine.scheduler, j.id).map((r) => [r.trigger, r.outcome])).toEqual([['catch-up', 'skipped'], ['schedule', 'ok']]);
  });

  it('defect 15.5: a scheduled prune-history job prunes in batches with the event loop free between them, not all at once', async () => {
    const clock = new FakeClock(Date.parse('2026-01-10T00:59:00Z'));
    const a = bare(clock);
    const old = clock.now() - 60 * 24 * H;
    for (let i = 0; i < 30_000; i++) {
      a.store.appendFrame({ ts: old + i, link: 'can0', protocol: 'can', dir: 'rx', address: '05014004', bytes: Uint8Array.of(1, 2), text: null, kind: 'status', deviceId: null });
    }
    a.store.flush();
    // Other work between the batches sees the prune part-way (all at once, it never could).
    const count = a.store.db.prepare('SELECT count(*) AS n FROM frames');
    let partWay = 0;
    let ticking = true;
    const tick = () => {
      if (!ticking) return;
      const n = (count.get() as { n: number }).n;
      if (n > 0 && n < 30_000) partWay++;
      setImmediate(tick);
    };
    const j = created(a.engine.scheduler, { name: 'nightly prune', cron: '0 1 * * *', timezone: 'UTC', actions: [PRUNE] });
    setImmediate(tick);
    await clock.advance(90_000); // runs at 01:00
    for (let i = 0; i < 10_000 && runsOf(a.engine.scheduler, j.id)[0]?.outcome !== 'ok'; i++) await new Promise((r) => setImmediate(r));
    ticking = false;
    expect(runsOf(a.engine.scheduler, j.id).map((r) => r.outcome)).toEqual(['ok']);
    expect(a.store.listFrames({}, 10).items).toHaveLength(0);
    expect(a.store.listEvents({ types: ['history.pruned'] }, 10).items.map((e) => e.data.frames)).toEqual([30_000]);
    expect(partWay).toBeGreaterThan(0);
  });

  it('no double run after a restart just after the job ran', async () => {
    const clock = new FakeClock(Date.parse('2026-01-10T00:59:00Z'));
    const a = bare(clock);
    const j = created(a.engine.scheduler, { name: 'j', cron: '0 1 * * *', timezone: 'UTC', catchUp: 'once', actions: [PRUNE] });
    await clock.advance(90_000); // ran at 01:00
    expect(runsOf(a.engine.scheduler, j.id)).toHaveLength(1);
    a.stop();
    clock.stall(30_000);
    const b = bare(clock, a.dbPath);
    await clock.advance(H);
    expect(runsOf(b.engine.scheduler, j.id).map((r) => [r.trigger, iso(r.scheduledAt!)])).toEqual([['schedule', '2026-01-10T01:00:00.000Z']]);
    expect(b.store.listEvents({ types: ['job.catch-up'] }, 10).items).toHaveLength(0);
  });

  it('a run cut off by a stop is recorded failed at the next start and not run again', async () => {
    const clock = new FakeClock(Date.parse('2026-01-10T00:59:00Z'));
    const dbPath = tempDbPath('pp-sched-');
    const store = Store.open({ path: dbPath });
    const engine = new Engine({ store, clock, log: silentLogger(), simulated: true, families: new Map() });
    // A slow action so that the server stops in the middle of it.
    const slow = new Scheduler({ engine, store, clock, log: silentLogger(), runAction: () => new Promise(() => {}) });
    slow.start();
    const r = slow.create({ name: 'slow', cron: '0 1 * * *', timezone: 'UTC', catchUp: 'once', actions: [PRUNE] }, 'test');
    if (!r.ok) throw new Error(r.message);
    await clock.advance(2 * M);
    expect(runsOf(slow, r.value.id).map((x) => x.outcome)).toEqual(['running']);
    slow.stop();
    engine.stop();
    store.close();
    clock.stall(M);
    const b = bare(clock, dbPath);
    await clock.advance(H);
    const runs = runsOf(b.engine.scheduler, r.value.id);
    expect(runs.map((x) => x.outcome)).toEqual(['failed']);
    expect(runs[0].reason).toMatch(/server stopped while this run was in progress/);
  });

  it('no double run when the clock is set back, and a jump forward is decided by the catch-up policy', async () => {
    const fake = new FakeClock(Date.parse('2026-01-10T00:59:00Z'));
    const clock = new JumpClock(fake);
    const { engine, store } = bare(clock);
    const j = created(engine.scheduler, { name: 'j', cron: '0 1 * * *', timezone: 'UTC', catchUp: 'skip', actions: [PRUNE] });
    await fake.advance(2 * M); // ran at 01:00
    clock.offset = -H; // the wall clock is set back an hour: 00:01 again
    await fake.advance(2 * H); // through 01:00 once more
    expect(runsOf(engine.scheduler, j.id).map((r) => iso(r.scheduledAt!))).toEqual(['2026-01-10T01:00:00.000Z']);
    // Now (02:01 local) jump forward a day and a half: the 01:00 of the 11th is missed.
    clock.offset += 36 * H;
    await fake.advance(2 * M);
    const runs = runsOf(engine.scheduler, j.id);
    expect(runs.map((r) => [r.trigger, r.outcome, iso(r.scheduledAt!)])).toEqual([
      ['schedule', 'ok', '2026-01-10T01:00:00.000Z'],
      ['catch-up', 'skipped', '2026-01-11T01:00:00.000Z'],
    ]);
    expect(runs[1].reason).toMatch(/clock moved forward/);
    expect(store.listEvents({ types: ['job.catch-up'] }, 10).items).toHaveLength(1);
  });

  it('a long-running action is not overlapped: a fire while it runs is recorded skipped', async () => {
    const clock = new FakeClock(Date.parse('2026-01-10T00:00:30Z'));
    const dbPath = tempDbPath('pp-sched-');
    const store = Store.open({ path: dbPath });
    const engine = new Engine({ store, clock, log: silentLogger(), simulated: true, families: new Map() });
    let active = 0;
    let maxActive = 0;
    const s = new Scheduler({
      engine,
      store,
      clock,
      log: silentLogger(),
      runAction: async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise<void>((r) => clock.setTimeout(r, 90_000)); // 90 s: longer than the 60 s period
        active--;
        return { ok: true, message: 'slow done' };
      },
    });
    open.push({ stop: () => (s.stop(), engine.stop(), store.close()) });
    s.start();
    const r = s.create({ name: 'every minute', cron: '0 * * * * *', timezone: 'UTC', actions: [PRUNE] }, 'test');
    if (!r.ok) throw new Error(r.message);
    await clock.advance(4 * M);
    const runs = runsOf(s, r.value.id);
    expect(maxActive).toBe(1);
    expect(runs.map((x) => [new Date(x.scheduledAt!).toISOString().slice(11, 19), x.outcome])).toEqual([
      ['00:01:00', 'ok'],
      ['00:02:00', 'skipped'],
      ['00:03:00', 'ok'],
      ['00:04:00', 'skipped'],
    ]);
    expect(runs[1].reason).toMatch(/previous run .* still in progress/);
    expect(runs[0].finishedAt! - runs[0].startedAt).toBe(90_000);
  });
});

describe('actions and conditions on the simulated rig', () => {
  let t: TestRig;
  afterEach(async () => {
    await t?.stop();
  });

  it('a refused action is recorded with the gate\'s code, the sequence stops there, and the events it caused are listed', async () => {
    t = makeSimRig({ bms: false });
    await t.clock.advance(5000); // PSUs discovered
    const s = t.rig.engine.scheduler;
    const j = created(s, {
      name: 'standby then stop',
      cron: '0 */5 * * * *',
      timezone: 'UTC',
      actions: [{ type: 'dc-output-standby', target: 'all' }, { type: 'charge-stop', chargerId: 'charger1' }, PRUNE],
    });
    await t.clock.advance(5 * M);
    const [run] = runsOf(s, j.id);
    expect(run).toMatchObject({ outcome: 'refused', code: 'NOT_CHARGING' });
    expect(run.steps.map((x) => x.outcome)).toEqual(['ok', 'refused', 'not-run']);
    expect(run.reason).toMatch(/stop charge on charger1: House bank charger is not charging/);
    const caused = run.eventIds.map((id) => t.store.listEvents({}, 1000).items.find((e) => e.id === id)!);
    expect(caused.map((e) => e.type)).toContain('setpoint.accepted');
    expect(caused.every((e) => String(e.data.actor).startsWith(`job:${j.id}#`))).toBe(true);
    expect(caused.find((e) => e.type === 'setpoint.accepted')!.data.origin).toBe('schedule');
    // The gate refuses a scheduled setpoint like a person's: the PSUs are the charger's only while it charges.
    const out = created(s, { name: 'out of range', cron: '0 */5 * * * *', timezone: 'UTC', actions: [{ type: 'dc-output-set', target: 'all', voltageV: 80, currentA: 5 }] });
    await t.clock.advance(5 * M);
    const [r2] = runsOf(s, out.id);
    expect(r2).toMatchObject({ outcome: 'refused', code: 'OUT_OF_RANGE' });
  });

  it('condition false → skipped with the reason; true → the actions run', async () => {
    t = makeSimRig({ bms: true, pack: { socPct: 80 } });
    await t.clock.advance(5000); // the BMS reports
    const s = t.rig.engine.scheduler;
    const low = created(s, { name: 'charge if low', cron: '0 */5 * * * *', timezone: 'UTC', conditions: [{ type: 'soc-below', batteryId: 'bms0', pct: 60 }], actions: [PRUNE] });
    const high = created(s, { name: 'prune if high', cron: '0 */5 * * * *', timezone: 'UTC', conditions: [{ type: 'soc-above', batteryId: 'bms0', pct: 60 }, { type: 'charger-idle', chargerId: 'charger1' }], actions: [PRUNE] });
    await t.clock.advance(5 * M);
    const [r1] = runsOf(s, low.id);
    expect(r1.outcome).toBe('skipped');
    expect(r1.reason).toMatch(/^condition not met: SOC of bms0 is 8\d\.\d %, not below 60 %$/);
    expect(r1.steps).toEqual([]);
    const [r2] = runsOf(s, high.id);
    expect(r2.outcome).toBe('ok');
  });

  it('a catch-up run after a restart of the rig waits for the devices, so it is not refused for PSUs not yet heard', async () => {
    const clock = new FakeClock(Date.parse('2026-01-10T00:00:00Z'));
    const dbPath = tempDbPath('pp-sched-');
    t = makeSimRig({ bms: false, clock, dbPath });
    const j = created(t.rig.engine.scheduler, { name: 'output at 01:00', cron: '0 1 * * *', timezone: 'UTC', catchUp: 'once', actions: [{ type: 'dc-output-set', target: 'all', voltageV: 53, currentA: 5 }] });
    await clock.advance(10_000);
    await t.stop();
    clock.stall(70 * M); // down over 01:00 (back at 01:10)
    t = makeSimRig({ bms: false, clock, dbPath });
    await clock.advance(START_SETTLE_MS + 1000);
    const runs = runsOf(t.rig.engine.scheduler, j.id);
    expect(runs.map((r) => [r.trigger, r.outcome, r.code, r.reason])).toEqual([['catch-up', 'ok', null, null]]);
  });

  it('device-command: a family\'s named command runs through engine.command (its gate page, command.* events)', async () => {
    const off = registerDeviceCommand<{ voltageV: number }, { kind: 'power-on-default'; serial: string; voltageV: number }>('flatpack2', 'test-power-on-default', {
      args: z.object({ voltageV: z.number() }).strict(),
      toCommand: (a, d) => ({ kind: 'power-on-default', serial: (d as { serial?: string }).serial ?? '', voltageV: a.voltageV }),
      check: (cmd) => (cmd.voltageV > 57.6 ? { ok: false, code: 'OUT_OF_RANGE', message: `${cmd.voltageV} V is above 57.6 V` } : { ok: true, value: cmd, notes: [] }),
      describe: (a) => `power-on voltage ${a.voltageV} V`,
    });
    try {
      t = makeSimRig({ bms: false });
      await t.clock.advance(5000);
      const psu = t.rig.engine.devicesOfKind('flatpack2')[0];
      expect(psu.online).toBe(true);
      const s = t.rig.engine.scheduler;
      const bad = s.create({ name: 'x', cron: '0 */5 * * * *', timezone: 'UTC', actions: [{ type: 'device-command', deviceId: psu.id, command: 'test-power-on-default', args: { volts: 1 } }] }, 'test');
      expect(bad.ok ? [] : bad.issues!.map((i) => i.path)).toEqual(['actions.0.args.voltageV', 'actions.0.args']);
      const hi = created(s, { name: 'too high', cron: '0 */5 * * * *', timezone: 'UTC', actions: [{ type: 'device-command', deviceId: psu.id, command: 'test-power-on-default', args: { voltageV: 60 } }] });
      const ok = created(s, { name: 'fine', cron: '0 */5 * * * *', timezone: 'UTC', actions: [{ type: 'device-command', deviceId: psu.id, command: 'test-power-on-default', args: { voltageV: 53 } }] });
      await t.clock.advance(5 * M);
      const all = t.store.listEvents({}, 5000).items;
      const types = (r: JobRun) => r.eventIds.map((id) => all.find((e) => e.id === id)!.type);
      const [r1] = runsOf(s, hi.id);
      expect(r1).toMatchObject({ outcome: 'refused', code: 'OUT_OF_RANGE' });
      expect(types(r1)).toEqual(['command.requested', 'command.rejected']);
      const [r2] = runsOf(s, ok.id);
      expect(r2.outcome).toBe('ok');
      expect(types(r2)).toEqual(['command.requested', 'command.accepted', 'command.done']);
    } finally {
      off();
    }
  });

  it('references are checked: unknown chargers and devices, and actions a device does not support, are refused with the key', async () => {
    t = makeSimRig({ bms: true });
    const s = t.rig.engine.scheduler;
    const r = s.create(
      {
        name: 'bad',
        cron: '0 1 * * *',
        actions: [{ type: 'charge-start', chargerId: 'nope' }, { type: 'dc-output-set', target: 'bms0', voltageV: 53, currentA: 5 }, { type: 'device-command', deviceId: 'bms0', command: 'apply-profile' }],
        conditions: [{ type: 'device-online', deviceId: 'ghost' }],
      },
      'test',
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.code).toBe('BAD_USER_INPUT');
    expect(r.issues!.map((i) => i.path)).toEqual(['actions.0.chargerId', 'actions.1.target', 'actions.2.command', 'conditions.0.deviceId']);
    expect(r.issues![1].message).toMatch(/has no DC output/);
    expect(r.issues![2].message).toMatch(/does not support "apply-profile"/);
    const bad = s.create({ name: 'bad cron', cron: '61 * * * *', timezone: 'Mars/Olympus', actions: [PRUNE] }, 'test');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues!.map((i) => i.path)).toEqual(['cron', 'timezone']);
  });
});
