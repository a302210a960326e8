/**
 * The BMS family (Deye/Pylontech CAN): its driver in the contract's envelope, the battery
 * projection, and the capability it offers the charger: battery limits.
 */
import type { BmsConfig } from '../../config/schema.js';
import type { DeviceFamily, FamilyLink } from '../types.js';
import type { DeviceDriver, ExecuteResult, Observation } from '../contract.js';
import type { BatteryLimitsSource } from '../../engine/capabilities.js';
import { adapterStats, canAddress, canFrameRecord } from '../can/types.js';
import { BmsDriver, type BmsObservation } from './driver.js';
import { BmsSim } from './sim.js';
import { bmsLimitsFromSnapshot, dialectRefusal } from './policy.js';
import { projectBattery, type BatteryView, type BmsFact } from './view.js';

type Obs = Observation<BmsFact>;

/** Telemetry keeps one battery sample a second; the live view gets every state. */
const BATTERY_SAMPLE_MS = 1000;

function toObservations(o: BmsObservation, id: string, dialect: string, throttle: { lastSampleAt: number }): Obs[] {
  switch (o.kind) {
    case 'frame':
      return [
        {
          type: 'frame',
          at: o.ts,
          frame: canFrameRecord(o.frame, o.dir, o.msg.kind, id),
        },
      ];
    case 'invalid':
      // Recorded and flagged, never turned into telemetry (the driver keeps it out of the snapshot).
      return [{ type: 'fact', at: o.ts, deviceId: id, fact: { kind: 'invalid', reason: o.reason }, event: { type: 'frame.invalid', data: { canId: o.frame.id, reason: o.reason } } }];
    case 'dialect':
      // Defect 8.6: what 0x35E says against the configured dialect; the policy holds guided charging on a mismatch.
      if (o.check.status === 'pending') return [];
      return [{ type: 'fact', at: o.ts, deviceId: id, fact: { kind: 'dialect', check: o.check }, event: { type: `battery.dialect-${o.check.status}`, data: { ...o.check }, durable: true } }];
    case 'state': {
      const s = o.battery;
      const out: Obs[] = [{ type: 'fact', at: o.ts, deviceId: id, fact: { kind: 'state', battery: s } }];
      if (o.ts - throttle.lastSampleAt >= BATTERY_SAMPLE_MS) {
        throttle.lastSampleAt = o.ts;
        out.push({
          type: 'reading',
          at: o.ts,
          deviceId: id,
          values: {
            socPct: s.socPct,
            sohPct: s.sohPct,
            voltageV: s.voltageV,
            currentA: s.currentA,
            tempC: s.tempC,
            cellHighV: s.cellHighV,
            cellLowV: s.cellLowV,
            cellDeltaV: s.cellDeltaV,
            chargeVoltageLimitV: s.chargeVoltageLimitV,
            chargeCurrentLimitA: s.chargeCurrentLimitA,
          },
        });
      }
      return out;
    }
    case 'flags':
      return o.changes.length ? [{ type: 'flags', at: o.ts, deviceId: id, changes: o.changes.map((c) => ({ group: c.set, name: c.name, active: c.active })) }] : [];
    case 'online':
      return [
        { type: 'identity', at: o.ts, deviceId: id, identity: { dialect } },
        { type: 'presence', at: o.ts, deviceId: id, online: true, reason: o.reason },
      ];
    case 'offline':
      return [{ type: 'presence', at: o.ts, deviceId: id, online: false, reason: o.reason }];
    case 'module-online':
    case 'module-offline':
      return [
        {
          type: 'fact',
          at: o.ts,
          deviceId: id,
          fact: { kind: 'module', index: o.index, online: o.kind === 'module-online' },
          event: { type: `battery.${o.kind}`, data: { index: o.index, ...(o.kind === 'module-offline' ? { reason: o.reason } : {}) }, durable: true },
        },
      ];
    case 'link':
      return [{ type: 'link', at: o.ts, state: o.state, detail: o.detail }];
  }
}

export const family = {
  kind: 'bms',
  linkNoun: 'CAN bus',
  eventPrefix: 'battery',
  carrier: 'can',
  defaultFrameType: 'standard',
  restoreView: ({ row }) => ({ kind: 'bms', id: row.id, busId: row.busId ?? 'unknown', name: row.name ?? `Battery ${row.id}`, online: false, lastSeen: row.lastSeen ?? null, snapshot: null }),
  attach({ linkId, link, clock, cfg, known, log }): FamilyLink<BatteryView, BmsFact> {
    const driver = new BmsDriver({ link, clock, dialect: cfg.dialect, offlineAfterMs: cfg.offlineAfterMs, heartbeatMs: cfg.heartbeatMs ?? null });
    const stats = () => ({ state: link.state, ...adapterStats(link) });
    const throttle = { lastSampleAt: 0 };
    driver.onObservation((o) => {
      if (o.kind === 'dialect' && o.check.status !== 'pending' && o.check.status !== 'confirmed') log.warn({ battery: cfg.id }, `battery ${cfg.id}: ${o.check.reason}`);
      if (o.kind === 'flags') for (const ch of o.changes) if (ch.active && ch.set !== 'request') log.warn({ battery: cfg.id }, `battery ${cfg.id}: ${ch.set} ${ch.name} raised`);
    });
    const dd: DeviceDriver<never, BmsFact> = {
      start: () => driver.start(),
      stop: () => driver.stop(),
      onObservation: (l) => driver.onObservation((o) => toObservations(o, cfg.id, cfg.dialect, throttle).forEach(l)),
      execute: async (): Promise<ExecuteResult> => ({ ok: false, code: 'NOT_FOUND', message: `battery ${cfg.id} takes no commands` }),
      stats,
    };
    const remembered = known.find((d) => d.id === cfg.id);
    const battery = (v: BatteryView): BatteryLimitsSource => ({
      id: v.id,
      name: v.name,
      online: () => v.online,
      socPct: () => v.snapshot?.socPct ?? null,
      limits: () => (v.snapshot ? bmsLimitsFromSnapshot(v.snapshot) : null),
      refusal: () => dialectRefusal(v.id, v.snapshot),
    });
    return {
      driver: dd as DeviceDriver<unknown, BmsFact>,
      configuredViews: () => [{ kind: 'bms', id: cfg.id, busId: linkId, name: cfg.name ?? remembered?.name ?? `Battery ${cfg.id}`, online: false, lastSeen: remembered?.lastSeen ?? null, snapshot: null }],
      newView: () => null,
      project: projectBattery,
      capabilities: { batteries: battery },
      stats,
      corruptTotal: () => {
        const s = adapterStats(link);
        return Number(s.droppedBytes ?? 0) + Number(s.badChecksum ?? 0) + Number(s.badTerminator ?? 0);
      },
      latestFrames: () =>
        driver.latestFrames().map((f) => ({ address: canAddress({ id: f.canId, extended: f.extended }), dir: f.dir, bytes: f.data, kind: f.decoded.kind, decoded: f.decoded as unknown as Record<string, unknown>, seenAt: f.seenAt, count: f.count })),
    };
  },
  createSim({ clock, canBus, pack, cfg }) {
    if (!canBus) throw new Error('a CAN family simulator needs the simulated CAN bus');
    let sim: BmsSim | null = null;
    const node = canBus.attach('bms-sim', (f) => sim?.receive(f));
    sim = new BmsSim({ clock, send: (f) => node.send(f), pack, dialect: cfg.dialect });
    return sim;
  },
} as const satisfies DeviceFamily<BmsConfig, BmsSim, BatteryView>;
