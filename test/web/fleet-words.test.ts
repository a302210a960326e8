/** The overview's fleet chip in words (web-client/src/flow/fleet-words.ts), in node. */
import { describe, expect, it } from 'vitest';
import { count, fleetWords, waitingWords, type FleetView } from '../../web-client/src/flow/fleet-words.js';

const base: FleetView = { siteId: 'cabin-3', connected: true, backlog: 0, events: 0, samples: 0, sessions: 0, ageMs: null, offlineSince: null, lastError: null };
const now = Date.parse('2026-06-01T12:30:00Z');

describe('fleet words', () => {
  it('connected with nothing waiting, and while catching up', () => {
    expect(fleetWords(base, now)).toEqual({ state: 'up', text: 'Fleet (site cabin-3): connected to the fleet — nothing waiting' });
    const catching = fleetWords({ ...base, backlog: 1234, events: 12, samples: 1222, ageMs: 5 * 60_000 }, now);
    expect(catching.state).toBe('up');
    expect(catching.text).toBe('Fleet (site cabin-3): connected to the fleet — sending, 1,234 rows waiting (12 events, 1,222 samples), the oldest from 5 min ago');
  });

  it('offline since when, what waits, and the reason with what to do', () => {
    const since = new Date(now - 12 * 60_000).toISOString();
    const w = fleetWords({ ...base, connected: false, backlog: 1234, events: 1234, ageMs: 12 * 60_000, offlineSince: since, lastError: 'nothing answers at nats://10.0.0.5:4222 (connection refused): start nats-server there, or correct fleet.natsUrl' }, now);
    expect(w.state).toBe('down');
    expect(w.text).toMatch(/^Fleet \(site cabin-3\): offline since \d\d:\d\d \(12 min ago\) — 1,234 rows waiting \(1,234 events\), the oldest from 12 min ago; they are kept here and sent when the fleet is back\. nothing answers at nats:\/\/10\.0\.0\.5:4222 \(connection refused\): start nats-server there, or correct fleet\.natsUrl\.$/);
  });

  it('not yet connected and no failure yet: connecting', () => {
    expect(fleetWords({ ...base, connected: false, backlog: 1, sessions: 1 }, now)).toEqual({ state: 'connecting', text: 'Fleet (site cabin-3): connecting to the fleet — 1 row waiting (1 charge-session change)' });
  });

  it('counts with thousands separators; nothing waiting says so', () => {
    expect(count(1234567)).toBe('1,234,567');
    expect(waitingWords(base)).toBe('nothing waiting');
  });
});
