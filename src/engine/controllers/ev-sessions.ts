/**
 * The EV-session controller: persists the EV charge sessions of every device whose family offers
 * the "EV sessions" capability (`EvSessionsCapability`, OpenEVSE today), in the charge sessions
 * table (kind 'ev') next to the battery charges. It names no family: the family's tracker turns
 * observations into session changes (started / updated / resumed / ended); this writes them and
 * records the events.
 *
 * - A device's tracker is made at its first observation with the session the store holds open
 *   for it (a server restart mid-session), so the family can decide from the board's counters
 *   whether the session resumes or ended while the server was away.
 * - Start, resume and end are written at once (durable events `ev-session.started`,
 *   `ev-session.resumed`, `ev-session.ended`); progress at most every `progressMs` per session,
 *   and always once a session has ended (the read after the end that completes its energy).
 */
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { Observation } from '../../families/contract.js';
import type { StoredEvent } from '../../store/store.js';
import type { ChargeSessionStore } from '../../store/sessions.js';
import type { EvSessionChange, EvSessionRecord, EvSessionsCapability, EvSessionTracker } from '../capabilities.js';

export interface EvSessionHost {
  clock: Clock;
  log: Logger;
  sessions: ChargeSessionStore;
  record(e: { type: string; deviceId?: string | null; busId?: string | null; data?: Record<string, unknown> }, durable?: boolean): StoredEvent;
  /** For messages: the device's name. */
  nameOf(deviceId: string): string;
}

/** Progress writes per running session are at most this often (start, resume and end are always written). */
export const EV_PROGRESS_WRITE_MS = 5000;

export class EvSessionController {
  private readonly trackers = new Map<string, EvSessionTracker | null>();
  private readonly lastWrite = new Map<string, number>();

  constructor(private readonly host: EvSessionHost) {}

  /** An observation on a link whose family offers EV sessions, after the engine projected it. */
  observed(linkId: string, cap: EvSessionsCapability, o: Observation<unknown>): void {
    if (o.type === 'frame' || o.type === 'link') return;
    const deviceId = o.deviceId;
    if (deviceId === null) return;
    let tracker = this.trackers.get(deviceId);
    if (tracker === undefined) {
      tracker = cap.tracker(deviceId, this.host.sessions.openEv(deviceId));
      this.trackers.set(deviceId, tracker);
    }
    if (!tracker) return;
    for (const c of tracker.step(o)) this.apply(linkId, c);
  }

  private apply(busId: string, c: EvSessionChange): void {
    const s = c.session;
    const now = this.host.clock.now();
    const name = this.host.nameOf(s.deviceId);
    const summary = { sessionId: s.id, energyWh: s.energyWh, chargingS: s.chargingS, maxCurrentA: s.maxCurrentA, avgCurrentA: s.avgCurrentA, faults: s.faults };
    switch (c.kind) {
      case 'started':
        this.write(s, now);
        this.host.record({ type: 'ev-session.started', deviceId: s.deviceId, busId, data: { sessionId: s.id } }, true);
        this.host.log.info({ device: s.deviceId, session: s.id }, `${name}: EV charge session started`);
        break;
      case 'resumed':
        this.write(s, now);
        this.host.record({ type: 'ev-session.resumed', deviceId: s.deviceId, busId, data: { ...summary, reason: c.reason } }, true);
        this.host.log.info({ device: s.deviceId, session: s.id }, `${name}: EV charge session resumed (${c.reason.replace(/_/g, ' ')})`);
        break;
      case 'ended':
        this.write(s, now);
        this.lastWrite.delete(s.id);
        this.host.record({ type: 'ev-session.ended', deviceId: s.deviceId, busId, data: { ...summary, reason: c.reason } }, true);
        this.host.log.info({ device: s.deviceId, session: s.id }, `${name}: EV charge session ended (${c.reason.replace(/_/g, ' ')}), ${(s.energyWh / 1000).toFixed(2)} kWh`);
        break;
      case 'updated': {
        const last = this.lastWrite.get(s.id);
        if (s.endedAt === null && last !== undefined && now - last < EV_PROGRESS_WRITE_MS) return;
        this.write(s, now);
        break;
      }
    }
  }

  private write(s: EvSessionRecord, now: number): void {
    this.host.sessions.saveEv(s);
    if (s.endedAt === null) this.lastWrite.set(s.id, now);
  }
}
