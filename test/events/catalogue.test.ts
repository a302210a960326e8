/** The one event-text catalogue (src/events/catalogue.ts): the server's Event.text and the dashboard's event log. */
import { describe, expect, it } from 'vitest';
import { describeEvent } from '../../src/events/catalogue.js';

const names: Record<string, string> = { 'fp2-192750001639': 'Rectifier A', charger1: 'House bank charger' };
const name = (id: string) => names[id] ?? id;

describe('event catalogue', () => {
  it('names devices by their friendly names and origins in words', () => {
    expect(describeEvent({ type: 'setpoint.requested', deviceId: 'fp2-192750001639', data: { origin: 'api', target: 'fp2-192750001639', voltageV: 54, currentA: 10 } }, name))
      .toBe('asked for 54.00 V / 10.0 A on Rectifier A (from the dashboard or API)');
    expect(describeEvent({ type: 'device.offline', data: { reason: 'adapter unplugged' } }, name)).toBe('went offline: adapter unplugged');
  });

  it('a phase change carries the summary of the ramp steps before it', () => {
    expect(describeEvent({ type: 'charger.phase', data: { from: 'ramp', to: 'CC', reason: 'Current 57 A ≥ 95 %', steps: { count: 12, fromV: 52.1, toV: 53.3 } } }))
      .toBe('ramp → CC after 12 steps 52.1 → 53.3 V: Current 57 A ≥ 95 %');
  });

  it('every event type the engine records has its own sentence, not a JSON dump', () => {
    const types = ['setpoint.accepted', 'setpoint.rejected', 'setpoint.sent', 'setpoint.send-failed', 'device.online', 'device.discovered', 'link.changed', 'psu.warnings', 'psu.alarms', 'psu.alarm',
      'charger.session.started', 'charger.session.ended', 'charger.cc-to-cv', 'charger.battery-detected', 'charger.current', 'charger.settings', 'default-voltage.accepted'];
    for (const type of types) expect(describeEvent({ type, data: { voltageV: 1, currentA: 1, origin: 'api' } }), type).not.toMatch(/^\{/);
  });
});
