/**
 * The fleet forwarding in plain words (the overview's fleet chip), pure so it is tested in node
 * (test/web/fleet-words.test.ts): connected or offline since when, and what waits to be sent.
 */
import { age, clock, duration } from './words.js';

export interface FleetView {
  siteId: string;
  connected: boolean;
  backlog: number;
  events: number;
  samples: number;
  sessions: number;
  ageMs?: number | null;
  offlineSince?: string | null;
  lastError?: string | null;
}

export type FleetState = 'up' | 'down' | 'connecting';

/** "1,234" */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** "1,234 rows waiting (12 events, 1,222 samples), the oldest from 5 min ago", or "nothing waiting". */
export function waitingWords(f: FleetView): string {
  if (f.backlog <= 0) return 'nothing waiting';
  const parts = [
    f.events > 0 ? `${count(f.events)} ${f.events === 1 ? 'event' : 'events'}` : null,
    f.samples > 0 ? `${count(f.samples)} ${f.samples === 1 ? 'sample' : 'samples'}` : null,
    f.sessions > 0 ? `${count(f.sessions)} charge-session ${f.sessions === 1 ? 'change' : 'changes'}` : null,
  ].filter(Boolean);
  const oldest = f.ageMs != null ? `, the oldest from ${duration(f.ageMs)} ago` : '';
  return `${count(f.backlog)} ${f.backlog === 1 ? 'row' : 'rows'} waiting${parts.length ? ` (${parts.join(', ')})` : ''}${oldest}`;
}

/** The chip's state and sentence; `now` is the server's time in ms (the page's serverNow()). */
export function fleetWords(f: FleetView, now: number): { state: FleetState; text: string } {
  const who = `Fleet (site ${f.siteId})`;
  if (f.connected) {
    return { state: 'up', text: `${who}: connected to the fleet — ${f.backlog > 0 ? `sending, ${waitingWords(f)}` : 'nothing waiting'}` };
  }
  if (!f.lastError) return { state: 'connecting', text: `${who}: connecting to the fleet — ${waitingWords(f)}` };
  const since = f.offlineSince ? Date.parse(f.offlineSince) : NaN;
  const when = Number.isFinite(since) ? ` since ${clock(since)} (${age(now - since)})` : '';
  const reason = f.lastError.replace(/[.\s]+$/, '');
  return { state: 'down', text: `${who}: offline${when} — ${waitingWords(f)}; they are kept here and sent when the fleet is back. ${reason}.` };
}
