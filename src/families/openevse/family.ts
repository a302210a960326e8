/**
 * The OpenEVSE family (RAPI over serial or TCP): one board per link. Its driver already speaks
 * the contract's envelope (driver.ts); this file gives the rig its framer, the engine its view
 * and projection, and the controllers the "EV sessions" capability (session.ts, persisted by
 * src/engine/controllers/ev-sessions.ts).
 */
import type { DeviceFamily, FamilyLink } from '../types.js';
import type { DeviceDriver, Observation } from '../contract.js';
import type { Link } from '../../link/types.js';
import type { EvSessionRecord, EvSessionsCapability, EvSessionChange as GenericChange } from '../../engine/capabilities.js';
import type { OpenEvseConfig } from './config.js';
import type { RapiFrame } from './codec.js';
import { RapiFramer } from './framer.js';
import { OpenEvseDriver } from './driver.js';
import { OpenEvseSim } from './sim.js';
import { emptyEvseView, projectEvse } from './project.js';
import { restoreEvSession, stepEvSessions, type EvSession, type EvSessionState } from './session.js';
import { EVSE_KIND, type EvseFact, type EvseView } from './types.js';

/** The generic record of a session (the whole EvSession is kept as the family's state). */
export function evSessionRecord(s: EvSession): EvSessionRecord {
  return {
    id: s.id,
    deviceId: s.deviceId,
    startedAt: s.startedAt,
    endedAt: s.endedAt,
    energyWh: s.energyWh,
    chargingS: s.chargingS,
    maxCurrentA: s.maxCurrentA,
    avgCurrentA: s.avgCurrentA,
    stopReason: s.stopReason,
    faults: s.faults,
    resumes: s.resumes,
    state: s as unknown as Record<string, unknown>,
  };
}

/** Whether a persisted family state is one of our sessions (a row written by this family). */
function asEvSession(r: EvSessionRecord | null): EvSession | null {
  const s = r?.state as Partial<EvSession> | undefined;
  if (!r || !s || s.kind !== 'ev' || typeof s.boardWs !== 'number' || typeof s.startedAt !== 'number') return null;
  return { ...(s as EvSession), id: r.id, deviceId: r.deviceId, endedAt: r.endedAt };
}

const evSessions: EvSessionsCapability = {
  tracker(deviceId, open) {
    let state: EvSessionState = restoreEvSession(deviceId, asEvSession(open));
    return {
      step(o: Observation<unknown>): GenericChange[] {
        const r = stepEvSessions(state, o as Observation<EvseFact>);
        state = r.state;
        return r.changes.map((c) => (c.kind === 'resumed' || c.kind === 'ended' ? { kind: c.kind, session: evSessionRecord(c.session), reason: c.reason } : { kind: c.kind, session: evSessionRecord(c.session) }));
      },
    };
  },
};

export const family = {
  kind: EVSE_KIND,
  linkNoun: 'RAPI link',
  eventPrefix: 'evse',
  carrier: 'stream',
  createFramer: () => new RapiFramer(),
  restoreView({ row }) {
    const v = emptyEvseView(row.id, { busId: row.busId ?? 'unknown', name: row.name ?? row.id });
    const meta = row.meta ?? {};
    return {
      ...v,
      lastSeen: row.lastSeen ?? null,
      firmware: typeof meta.firmware === 'string' ? meta.firmware : null,
      protocol: typeof meta.protocol === 'string' ? meta.protocol : null,
    };
  },
  attach({ linkId, link, clock, cfg, known, log, framer }): FamilyLink<EvseView, EvseFact> {
    const name = cfg.name ?? cfg.id;
    const rfr = framer as RapiFramer | undefined;
    const driver = new OpenEvseDriver({
      link: link as Link<RapiFrame>,
      clock,
      deviceId: cfg.id,
      name: `${name} (${linkId})`,
      heartbeat: cfg.heartbeat === false ? null : cfg.heartbeat,
      poll: cfg.poll,
      timeoutMs: cfg.timeoutMs,
      offlineAfter: cfg.offlineAfter,
      framer: rfr,
    });
    driver.onObservation((o) => {
      if (o.type === 'fact' && o.fact.kind === 'heartbeat' && o.fact.state === 'missed') log.warn({ device: cfg.id }, `EVSE ${name}: a heartbeat pulse was missed; the board fell back to ${o.fact.fallbackA ?? '?'} A until acknowledged`);
      // a board also boots when its serial port is opened (DTR resets many Arduino boards): not a warning by itself
      if (o.type === 'fact' && o.fact.kind === 'boot') log.info({ device: cfg.id }, `EVSE ${name} (re)started, firmware ${o.fact.firmware}; initialising it again (heartbeat supervision re-armed)`);
    });
    const remembered = known.find((d) => d.id === cfg.id) as EvseView | undefined;
    const linkStats = () => (link as { stats?: () => Record<string, unknown> }).stats?.() ?? {};
    const stats = () => {
      const d = driver.stats();
      const l = linkStats();
      return { state: (link as Link<RapiFrame>).state, ...d, rxFrames: Number(l.rxFrames ?? 0), txFrames: Number(l.txFrames ?? 0), reconnects: Number(l.reconnects ?? 0) };
    };
    return {
      driver: driver as DeviceDriver<unknown, EvseFact>,
      configuredViews: () => [{ ...(remembered ?? emptyEvseView(cfg.id, { busId: linkId, name })), name, busId: linkId, circuitLimitA: cfg.circuitLimitA }],
      // the engine keeps a remembered view over the configured one: give it the configured name and limit
      adopt: (v) => (v.id === cfg.id ? { ...v, name, circuitLimitA: cfg.circuitLimitA } : v),
      newView: () => null,
      project: projectEvse,
      capabilities: { evSessions },
      stats,
      corruptTotal: () => (rfr?.corruptBytes ?? 0) + Number(driver.stats().badChecksums ?? 0),
    };
  },
  createSim({ clock, device, cfg }) {
    const sim = new OpenEvseSim({ transport: device, clock, profile: cfg.sim.profile });
    if (cfg.sim.demoCar) sim.startDemoCar();
    return sim;
  },
} as const satisfies DeviceFamily<OpenEvseConfig, OpenEvseSim, EvseView>;
import './jobs.js';
import './mqtt.js';
