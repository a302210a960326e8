/** The charger's event trail: high-rate control steps summarised, not two events per step (issue 17, item 4). */
import { afterEach, describe, expect, it } from 'vitest';
import { makeSimRig, tempDbPath, type TestRig } from '../helpers/rig.js';
import { simulatedConfig } from '../../src/rig.js';

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

describe('charger events', () => {
  it('defect 17.4: each 0.1 V ramp step logs one event (its setpoint.accepted), and the phase change that ends the ramp summarises the steps', async () => {
    const dbPath = tempDbPath('pp-ramp-ev-');
    const config = simulatedConfig({ port: 0, dbPath, bms: false });
    config.chargers[0].settings = { ...config.chargers[0].settings, capacityAh: 400, chargeCurrentA: 80, tailCurrentA: 4 };
    t = makeSimRig({ dbPath, config, pack: { socPct: 10, capacityAh: 400 } });
    await t.clock.advance(4000);
    const charger = t.rig.engine.charger('charger1')!;
    expect((await charger.startCharge('api')).ok).toBe(true);
    for (let i = 0; i < 60 && charger.phase !== 'CC' && charger.phase !== 'CV'; i++) await t.clock.advance(10_000);
    expect(['CC', 'CV']).toContain(charger.phase);
    await t.clock.advance(2000);
    const events = t.store.listEvents({}, 100_000).items.slice().sort((a, b) => Number(a.id) - Number(b.id));
    const isStep = (e: (typeof events)[number]) => e.type === 'setpoint.accepted' && /RAMP step to/.test(String((e.data as Record<string, unknown>).reason ?? ''));
    const steps = events.filter(isStep);
    expect(steps.length).toBeGreaterThan(2);
    // No setpoint.sent after any ramp step's accepted event (a send that failed would still be recorded).
    for (const s of steps) {
      const next = events[events.indexOf(s) + 1];
      expect(next?.type, `event after ${String((s.data as Record<string, unknown>).reason)}`).not.toBe('setpoint.sent');
    }
    const end = events.find((e) => e.type === 'charger.phase' && (e.data as Record<string, unknown>).from === 'ramp');
    expect(end).toBeDefined();
    const sum = (end!.data as { steps?: { count: number; fromV: number; toV: number } }).steps;
    expect(sum?.count).toBe(steps.length);
    expect(sum?.toV).toBe((steps.at(-1)!.data as { voltageV: number }).voltageV);
  });
});
