/** The JetStream subjects and message ids of the fleet (edge and central agree on these). */
import type { StoredEvent } from '../store/types.js';

export type FleetKind = 'events' | 'samples' | 'sessions';
export const FLEET_KINDS: readonly FleetKind[] = ['events', 'samples', 'sessions'];

export const subjectOf = (site: string, kind: FleetKind | 'status'): string => `pp.${site}.${kind}`;

/** The site and kind of a subject `pp.<site>.<kind>`, or null. */
export function parseSubject(subject: string): { site: string; kind: string } | null {
  const m = /^pp\.([^.]+)\.([^.]+)$/.exec(subject);
  return m ? { site: m[1]!, kind: m[2]! } : null;
}

const ID_PREFIX: Record<FleetKind, string> = { events: 'e', samples: 's', sessions: 'c' };

/**
 * The JetStream message id of a row: a re-send of the same row is de-duplicated by the stream.
 * Unique across kinds (the stream's de-duplication window is shared by all of a site's subjects).
 */
export const msgIdOf = (site: string, kind: FleetKind, id: number): string => `${site}:${ID_PREFIX[kind]}:${id}`;

/** An event as the edge stored it, sent as it is. */
export type FleetEventMsg = StoredEvent;

export interface FleetSampleMsg {
  id: number;
  ts: number;
  deviceId: string;
  values: Record<string, number | string | null>;
}

export interface FleetSessionMsg {
  /** The change's id in the edge's fleet_session_changes log: a newer change wins. */
  changeId: number;
  session: Record<string, unknown> & { id: string; chargerId: string; startedAt: number; endedAt: number | null; outcome: string | null };
  phases: Array<{ phase: string; startedAt: number; endedAt: number | null; reason: string | null }>;
}

export interface FleetStatusMsg {
  name: string;
  /** Rows not yet acknowledged by JetStream. */
  backlog: number;
  /** Clock ms of the oldest row not yet acknowledged (null when none). */
  oldestTs: number | null;
  ageMs: number | null;
  sentAt: number;
}
