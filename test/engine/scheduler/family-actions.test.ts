/**
 * Issue 14: the families' own job actions (a VE.Bus mode, a RAM-only setting, the EVSE's current
 * and enable/disable/sleep) run through engine.command with the family's page of the gate, like
 * the API's mutations: a valid one is done, an out-of-range one is refused with its code.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Scheduler } from '../../../src/engine/scheduler/scheduler.js';
import type { JobRun } from '../../../src/engine/scheduler/spec.js';
import { deviceCommandsOf } from '../../../src/engine/scheduler/actions.js';
import { simulatedConfig } from '../../../src/rig.js';
import { makeSimRig, tempDbPath, type TestRig } from '../../helpers/rig.js';

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

const M = 60_000;
const runsOf = (s: Scheduler, jobId: string): JobRun[] => s.runsOf(jobId, 1000, null).items.reverse();
function created(s: Scheduler, input: Record<string, unknown>) {
  const r = s.create(input, 'test');
  if (!r.ok) throw new Error(`${r.message} ${JSON.stringify(r.issues ?? [])}`);
  return r.value;
}

describe('family job actions', () => {
  it('VE.Bus apply-mode and EVSE set-current run through the gate; an EVSE current above the circuit limit is refused OUT_OF_RANGE', async () => {
    const dbPath = tempDbPath('pp-jobs-fam-');
    t = makeSimRig({ dbPath, config: simulatedConfig({ port: 0, dbPath, bms: false, vebus: true, evse: { demoCar: false } }) });
    for (let i = 0; i < 60 && !(t.rig.engine.device('multi0')?.online && t.rig.engine.device('evse0')?.online); i++) await t.clock.advance(1000);
    expect(t.rig.engine.device('multi0')?.online).toBe(true);
    expect(t.rig.engine.device('evse0')?.online).toBe(true);
    expect(deviceCommandsOf('vebus')).toEqual(expect.arrayContaining(['apply-mode', 'write-setting-ram-only']));
    expect(deviceCommandsOf('openevse')).toEqual(expect.arrayContaining(['set-current', 'enable', 'disable', 'sleep']));

    const s = t.rig.engine.scheduler;
    const mode = created(s, { name: 'evening: prefer battery', cron: '0 */5 * * * *', timezone: 'UTC', actions: [{ type: 'device-command', deviceId: 'multi0', command: 'apply-mode', args: { mode: 'prefer-battery' } }] });
    const cap = created(s, { name: 'peak: EV at 10 A', cron: '0 */5 * * * *', timezone: 'UTC', actions: [{ type: 'device-command', deviceId: 'evse0', command: 'set-current', args: { currentA: 10 } }] });
    const over = created(s, { name: 'too much', cron: '0 */5 * * * *', timezone: 'UTC', actions: [{ type: 'device-command', deviceId: 'evse0', command: 'set-current', args: { currentA: 40 } }] });
    const unknownMode = created(s, { name: 'no such mode', cron: '0 */5 * * * *', timezone: 'UTC', actions: [{ type: 'device-command', deviceId: 'multi0', command: 'apply-mode', args: { mode: 'turbo' } }] });
    await t.clock.advance(5 * M + 30_000);

    expect(runsOf(s, mode.id)[0]).toMatchObject({ outcome: 'ok' });
    expect(runsOf(s, cap.id)[0]).toMatchObject({ outcome: 'ok' });
    expect(runsOf(s, over.id)[0]).toMatchObject({ outcome: 'refused', code: 'OUT_OF_RANGE' });
    expect(runsOf(s, unknownMode.id)[0]?.outcome).toBe('refused');
    // The EVSE got the scheduled current; the refused one never reached the board.
    const done = t.store.listEvents({ types: ['command.done'], deviceId: 'evse0' }, 10).items;
    expect(done.length).toBe(1);
    expect(t.store.listEvents({ types: ['command.rejected'], deviceId: 'evse0' }, 10).items.map((e) => e.data.code)).toEqual(['OUT_OF_RANGE']);
  }, 120_000);
});
