/**
 * The Flatpack2 rectifier family: its driver as a DeviceDriver (driver observations in the
 * contract's envelope), its PSU projection, and the capability it offers the controllers: a DC
 * output bus whose units share one broadcast setpoint.
 */
import type { Flatpack2Config } from '../../config/schema.js';
import type { DeviceFamily, FamilyLink } from '../types.js';
import type { DeviceDriver, ExecuteResult, Observation } from '../contract.js';
import type { DcOutputBus } from '../../engine/capabilities.js';
import { flatpack2Limits } from './limits.js';
import { adapterStats, canFrameRecord } from '../can/types.js';
import { Flatpack2Driver, type Fp2Observation } from './driver.js';
import { fp2Text } from './codec.js';
import { Flatpack2Sim } from './sim.js';
import { emptyPsu, projectPsu, psuDeviceId, psuReadingFromSample, psuSampleValues, serialOfPsuId, type Flatpack2PsuView, type Fp2Fact } from './view.js';

type Obs = Observation<Fp2Fact>;

/** Status state code of a PSU whose output is off (flatpack2.md). */
const ALARM_STATE = 0x0c;

/** A frame the driver saw or sent, as the engine records it. */
function frameObservation(o: Extract<Fp2Observation, { kind: 'frame' }>): Obs {
  const deviceId = o.serial ? psuDeviceId(o.serial) : null;
  const obs: Obs = { type: 'frame', at: o.ts, frame: canFrameRecord(o.frame, o.dir, o.msg.kind, deviceId, fp2Text(o.msg)) };
  if (o.msg.kind === 'invalid') obs.invalid = o.msg.reason;
  return obs;
}

/** A status frame's fact (with the alarm edge's event) and its reading, handed to `out` in that order. */
function statusObservations(o: Extract<Fp2Observation, { kind: 'status' }>, lastState: Map<string, number>, out: (obs: Obs) => void): void {
  const id = psuDeviceId(o.serial);
  // The alarm edge (state 0x0C: output off) is the family's event; the DC output controller reacts to the view's `alarm`.
  // Keyed by the serial itself (the session's string, hashed once), not a string built per frame.
  const code = o.status.stateCode;
  const prev = lastState.get(o.serial);
  if (prev !== code) lastState.set(o.serial, code);
  const fact: Obs = { type: 'fact', at: o.ts, deviceId: id, fact: { kind: 'status', addr: o.addr, status: o.status } };
  if (code === ALARM_STATE && prev !== ALARM_STATE) fact.event = { type: 'psu.alarm', data: { stateCode: ALARM_STATE }, durable: true };
  out(fact);
  // psuSampleValues returns a fresh object: the reading owns it (no copy).
  out({ type: 'reading', at: o.ts, deviceId: id, values: psuSampleValues(o.status) });
}

/** The envelope the engine reads, from the driver's own observations. */
function toObservations(o: Fp2Observation, lastBits: Map<string, number>, lastState: Map<string, number>): Obs[] {
  switch (o.kind) {
    case 'frame':
      return [frameObservation(o)];
    case 'discovered':
      return [
        { type: 'identity', at: o.ts, deviceId: psuDeviceId(o.serial), identity: { serial: o.serial, addr: o.addr }, event: { type: 'device.discovered', data: { serial: o.serial, addr: o.addr }, durable: true } },
        { type: 'fact', at: o.ts, deviceId: psuDeviceId(o.serial), fact: { kind: 'discovered', addr: o.addr } },
      ];
    case 'status': {
      const out: Obs[] = [];
      statusObservations(o, lastState, (x) => out.push(x));
      return out;
    }
    case 'alerts': {
      const key = `${o.serial}/${o.type}`;
      if ((lastBits.get(key) ?? 0) === o.bits) return [];
      lastBits.set(key, o.bits);
      return [
        {
          type: 'fact',
          at: o.ts,
          deviceId: psuDeviceId(o.serial),
          fact: { kind: 'alerts', type: o.type, bits: o.bits, names: o.names },
          event: { type: `psu.${o.type}`, data: { bits: o.bits, names: o.names }, durable: true },
        },
      ];
    }
    case 'default-voltage-ack':
      return [
        {
          type: 'fact',
          at: o.ts,
          deviceId: psuDeviceId(o.serial),
          fact: { kind: 'default-voltage-ack', voltageV: o.voltageV },
          event: { type: 'psu.default-voltage.ack', data: { voltageV: o.voltageV }, durable: true },
        },
      ];
    case 'identity':
      return [
        {
          type: 'fact',
          at: o.ts,
          deviceId: psuDeviceId(o.serial),
          fact: { kind: 'identity', identity: o.identity },
          event: { type: 'psu.identity', data: { model: o.identity.model, serial: o.identity.serial, buildYear: o.identity.buildYear }, durable: true },
        },
      ];
    case 'online':
      return [{ type: 'presence', at: o.ts, deviceId: psuDeviceId(o.serial), online: true }];
    case 'offline':
      return [{ type: 'presence', at: o.ts, deviceId: psuDeviceId(o.serial), online: false, reason: o.reason }];
    case 'obeying':
      return [{ type: 'fact', at: o.ts, deviceId: null, fact: { kind: 'obeying', serials: o.serials }, mentions: o.serials.map(psuDeviceId) }];
    case 'link':
      return [{ type: 'link', at: o.ts, state: o.state, detail: o.detail }];
  }
}

/** Flatpack2 commands: a broadcast setpoint or one PSU's power-on voltage (both gate-admitted upstream). */
export type Fp2Command =
  | { kind: 'set'; voltageV: number; currentA: number; ovpV: number; walkIn: 'short' | 'long' }
  | { kind: 'power-on-default'; serial: string; voltageV: number };

function asDeviceDriver(d: Flatpack2Driver, stats: () => Record<string, number | string | null>): DeviceDriver<Fp2Command, Fp2Fact> {
  const lastBits = new Map<string, number>();
  const lastState = new Map<string, number>();
  return {
    start: () => d.start(),
    stop: () => d.stop(),
    onObservation: (l) =>
      d.onObservation((o) => {
        // Frames and status frames, nearly all of the traffic, without an array per frame.
        if (o.kind === 'frame') return l(frameObservation(o));
        if (o.kind === 'status') return statusObservations(o, lastState, l);
        const obs = toObservations(o, lastBits, lastState);
        for (let i = 0; i < obs.length; i++) l(obs[i]!);
      }),
    async execute(cmd): Promise<ExecuteResult> {
      const c = cmd as Fp2Command;
      const sent = c.kind === 'set' ? await d.sendSet(c) : await d.sendDefaultVoltage(c.serial, c.voltageV);
      return { ok: true, sent };
    },
    stats,
  };
}

export const family = {
  kind: 'flatpack2',
  linkNoun: 'CAN bus',
  eventPrefix: 'psu',
  carrier: 'can',
  defaultFrameType: 'extended',
  restoreView({ row, lastSample, latestEvent }) {
    const psu = emptyPsu(row.busId ?? 'unknown', row.serial ?? serialOfPsuId(row.id), row.name);
    psu.addr = typeof row.meta.addr === 'number' ? row.meta.addr : null;
    psu.lastSeen = row.lastSeen ?? null;
    const ack = latestEvent('psu.default-voltage.ack');
    if (ack && typeof ack.data.voltageV === 'number') psu.fallbackAckV = ack.data.voltageV;
    // Every PSU starts offline: its last sample is history (lastReading), not a live value.
    if (lastSample) psu.lastReading = psuReadingFromSample(lastSample.ts, lastSample.values);
    return psu;
  },
  attach({ linkId, link, clock, cfg, known, log }): FamilyLink<Flatpack2PsuView, Fp2Fact> {
    const knownAddresses = new Map<string, number>();
    for (const d of known) {
      const p = d as Flatpack2PsuView;
      if (p.kind === 'flatpack2' && p.addr) knownAddresses.set(p.serial, p.addr);
    }
    const driver = new Flatpack2Driver({ link, clock, keepAliveMs: cfg.keepAliveMs, statusTimeoutMs: cfg.statusTimeoutMs, linkWatchdogMs: cfg.linkWatchdogMs, knownAddresses });
    const stats = () => ({ state: link.state, ...adapterStats(link) });
    const dd = asDeviceDriver(driver, stats);
    const limits = flatpack2Limits(cfg);
    // The alert bits are polled every few seconds while a unit is in a warning state (current
    // limit is one, for hours of a charge): logged when they change, not at every poll.
    const loggedBits = new Map<string, number>();
    driver.onObservation((o) => {
      if (o.kind === 'discovered') log.info({ bus: linkId, device: psuDeviceId(o.serial), addr: o.addr }, `PSU ${o.serial} found on ${linkId}, logged in at address ${o.addr}`);
      if (o.kind === 'alerts') {
        const key = `${o.serial}/${o.type}`;
        if (o.names.length && loggedBits.get(key) !== o.bits) log.warn({ device: psuDeviceId(o.serial) }, `PSU ${o.serial} ${o.type}: ${o.names.join(', ')}`);
        loggedBits.set(key, o.bits);
      }
      if (o.kind === 'default-voltage-ack') log.info({ device: psuDeviceId(o.serial) }, `PSU ${o.serial} confirmed power-on voltage ${o.voltageV.toFixed(2)} V`);
    });
    const dcOutput: DcOutputBus = {
      linkId,
      limits,
      fallbackVoltageV: cfg.fallbackVoltageV ?? null,
      startupOf: (serial) => {
        const p = cfg.psus[serial];
        return p?.applyOnStart && p.startup ? p.startup : null;
      },
      obeying: () => driver.obeying().map(psuDeviceId),
      // Both take values the gate admitted (the controller's only way to a DcSetpoint).
      send: (sp) => driver.sendSet({ voltageV: sp.voltageV, currentA: sp.currentA, ovpV: sp.ovpV, walkIn: cfg.walkIn }),
      writePowerOnDefault: (serial, v) => driver.sendDefaultVoltage(serial, v.voltageV),
    };
    return {
      driver: dd as DeviceDriver<unknown, Fp2Fact>,
      // A PSU is shown once heard (or remembered); the config only names it.
      configuredViews: () => [],
      adopt: (v) => (cfg.psus[v.serial]?.name ? { ...v, name: cfg.psus[v.serial]!.name! } : v),
      newView: (deviceId) => (deviceId.startsWith('fp2-') ? emptyPsu(linkId, serialOfPsuId(deviceId), cfg.psus[serialOfPsuId(deviceId)]?.name) : null),
      project: projectPsu,
      capabilities: { dcOutput },
      stats,
      corruptTotal: () => {
        const s = adapterStats(link);
        return Number(s.droppedBytes ?? 0) + Number(s.badChecksum ?? 0) + Number(s.badTerminator ?? 0);
      },
    };
  },
  createSim({ clock, canBus, pack, cfg }) {
    if (!canBus) throw new Error('a CAN family simulator needs the simulated CAN bus');
    const serials = Object.keys(cfg.psus);
    let sim: Flatpack2Sim | null = null;
    const node = canBus.attach('flatpack2-sim', (f) => sim?.receive(f));
    sim = new Flatpack2Sim({ clock, send: (f) => node.send(f), pack, psus: serials.map((serial) => ({ serial })) });
    return sim;
  },
} as const satisfies DeviceFamily<Flatpack2Config, Flatpack2Sim, Flatpack2PsuView>;
