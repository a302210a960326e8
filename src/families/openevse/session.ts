/**
 * EV charge sessions from the OpenEVSE driver's observations. Pure: `stepEvSessions(state,
 * observation)` returns the next state and what happened (started / updated / resumed / ended),
 * for the engine to persist like battery charge sessions (kind 'ev').
 *
 * Rules (issue 13 §4; counters: openevse-rapi.md §7.2, §7.3):
 * - A session starts when a vehicle is connected and charging begins (state C, 03).
 * - It ends on disconnect (state A / EV_CONNECTED falls: 'unplugged'), on a stop by the EVSE
 *   (sleep 'sleep', a time/energy limit 'limit_reached', disable 'disabled'). A vehicle that
 *   pauses or finishes (C→B) does not end it: the board's own session (elapsed, Ws) runs per
 *   plug-in, and the car may resume; the time it stopped is kept (`vehicleStoppedAt`).
 * - Energy: `GU` watt-seconds of the board's session; a drop of the counter while the session
 *   runs (a board reboot clears it) is carried over (`carriedWs`), so no energy is lost or
 *   counted twice. Duration = end − start; charging time = the board's elapsed seconds (GS).
 * - Current: max and time-weighted average of `GG` readings while the relay is closed.
 * - Faults seen: every fault state entered during the session (names, in order, no repeats in a row).
 * - Board reboot (`$AB`) mid-session: the session waits for the board's first state; vehicle
 *   still connected ⇒ resumed (reason 'board_reboot'), not connected ⇒ ended ('board_reboot').
 * - Server restart: `restoreEvSession(persisted)` puts an open session back as "awaiting the
 *   board"; the first `GS` decides: still connected and the board's elapsed time has not gone
 *   backwards ⇒ resumed ('server_restart'); not connected ⇒ ended ('unplugged_while_offline',
 *   at the last time the session was seen); connected but the counters went backwards (the board
 *   rebooted or the car was re-plugged while the server was down) ⇒ ended ('board_counters_reset')
 *   and, if it is charging, a new session starts.
 * - The board goes offline (link lost, no replies) mid-session: the same decision as after a
 *   server restart, when it is heard again (resumed 'reconnected', or ended as above). The
 *   board counts on by itself meanwhile, so no energy is lost.
 */
import type { Observation } from '../contract.js';
import { VFLAGS, stateInfo } from './codec.js';
import type { EvseFact } from './types.js';

export type EvStopReason =
  | 'unplugged'
  | 'sleep'
  | 'disabled'
  | 'limit_reached'
  | 'board_reboot'
  | 'unplugged_while_offline'
  | 'board_counters_reset';

/** Why a session waited for the board: its reboot, a server restart, or the board out of reach. */
export type ResumeReason = 'board_reboot' | 'server_restart' | 'reconnected';

export interface EvSession {
  /** `${deviceId}:${startedAt}`. */
  id: string;
  kind: 'ev';
  deviceId: string;
  startedAt: number;
  endedAt: number | null;
  /** Last time an observation touched it (the end time when the server was down at the end). */
  lastSeenAt: number;
  /**
   * Board session Ws last read (GU), the board's count when this session started (the board
   * counts per plug-in: a session started again after a sleep in the same plug-in starts from
   * there), and the Ws carried over board counter resets. energy = carried + board − base.
   */
  boardWs: number;
  baseWs: number;
  carriedWs: number;
  energyWh: number;
  /** Relay-closed seconds as the board counts them (GS), from its base, plus what was carried over reboots. */
  chargingS: number;
  carriedChargingS: number;
  boardElapsedS: number;
  baseElapsedS: number;
  maxCurrentA: number;
  avgCurrentA: number;
  /** Ampere-milliseconds and milliseconds integrated while charging (for the average). */
  ampMs: number;
  chargingMs: number;
  stopReason: EvStopReason | null;
  faults: string[];
  /** Resumptions with their reason and time. */
  resumes: { at: number; reason: ResumeReason }[];
  vehicleStoppedAt: number | null;
}

export interface EvSessionState {
  deviceId: string;
  active: EvSession | null;
  /** Why the active session waits for the board's first state: its reboot or a server restart. */
  awaiting: ResumeReason | null;
  /** The last state and whether the relay was closed, with the time of the last current reading. */
  lastState: number | null;
  charging: boolean;
  lastCurrent: { at: number; amps: number } | null;
  /**
   * The session that just ended while the board's counters still hold its values: the board
   * keeps its Ws after an unplug until the next plug-in, so the `GU` read that follows the end
   * completes its energy (an `updated` change of an ended session).
   */
  lastEnded: EvSession | null;
  /** Since when a vehicle has been seen connected without a break (null: not connected). */
  connectedSince: number | null;
  /** The board's last counters, with when they were read. */
  lastBoard: { ws: number; wsAt: number; elapsedS: number; elapsedAt: number } | null;
}

export type EvSessionChange =
  | { kind: 'started'; session: EvSession }
  | { kind: 'updated'; session: EvSession }
  | { kind: 'resumed'; session: EvSession; reason: ResumeReason }
  | { kind: 'ended'; session: EvSession; reason: EvStopReason };

export function initialEvSessionState(deviceId: string): EvSessionState {
  return { deviceId, active: null, awaiting: null, lastState: null, charging: false, lastCurrent: null, lastEnded: null, connectedSince: null, lastBoard: null };
}

/** An open session from the store, after a server restart: it waits for the board's state. */
export function restoreEvSession(deviceId: string, persisted: EvSession | null): EvSessionState {
  const s = initialEvSessionState(deviceId);
  if (!persisted || persisted.endedAt !== null) return s;
  return { ...s, active: { ...persisted }, awaiting: 'server_restart' };
}

const energyWh = (ws: number) => Math.round((ws / 3600) * 10) / 10;

function newSession(deviceId: string, at: number, baseWs: number, baseElapsedS: number, boardElapsedS: number): EvSession {
  return {
    id: `${deviceId}:${at}`,
    kind: 'ev',
    deviceId,
    startedAt: at,
    endedAt: null,
    lastSeenAt: at,
    boardWs: baseWs,
    baseWs,
    carriedWs: 0,
    energyWh: 0,
    chargingS: Math.max(0, boardElapsedS - baseElapsedS),
    carriedChargingS: 0,
    boardElapsedS,
    baseElapsedS,
    maxCurrentA: 0,
    avgCurrentA: 0,
    ampMs: 0,
    chargingMs: 0,
    stopReason: null,
    faults: [],
    resumes: [],
    vehicleStoppedAt: null,
  };
}

function end(state: EvSessionState, s: EvSession, at: number, reason: EvStopReason): { state: EvSessionState; changes: EvSessionChange[] } {
  const ended: EvSession = { ...s, endedAt: at, lastSeenAt: Math.max(s.lastSeenAt, at), stopReason: reason };
  // after a reboot or a server restart the board's counters belong to another time
  const keep = reason === 'unplugged' || reason === 'sleep' || reason === 'limit_reached' || reason === 'disabled';
  return { state: { ...state, active: null, awaiting: null, lastEnded: keep ? ended : null }, changes: [{ kind: 'ended', session: ended, reason }] };
}

/** One observation: the next state and what happened to sessions. */
export function stepEvSessions(state: EvSessionState, o: Observation<EvseFact>): { state: EvSessionState; changes: EvSessionChange[] } {
  if (o.type === 'presence' && o.deviceId === state.deviceId && !o.online && state.active && !state.awaiting) {
    return { state: { ...state, awaiting: 'reconnected', charging: false, lastCurrent: null }, changes: [] };
  }
  if (o.type !== 'fact' || o.deviceId !== state.deviceId) return { state, changes: [] };
  const f = o.fact;
  const at = o.at;
  switch (f.kind) {
    case 'boot': {
      const reset = { ...state, lastState: 0, charging: false, lastCurrent: null, lastBoard: null, connectedSince: null, lastEnded: null };
      if (!state.active) return { state: reset, changes: [] };
      // the board's session counters restart from zero: carry what it had counted
      const s = carry(state.active);
      return { state: { ...reset, active: s, awaiting: 'board_reboot' }, changes: [{ kind: 'updated', session: s }] };
    }
    case 'status':
      return onStatus(state, f, at);
    case 'energy': {
      const lb = state.lastBoard;
      const withBoard: EvSessionState = { ...state, lastBoard: { ws: f.sessionWs, wsAt: at, elapsedS: lb?.elapsedS ?? 0, elapsedAt: lb?.elapsedAt ?? -Infinity } };
      const s = state.active;
      const done = state.lastEnded;
      if (!s && done && f.sessionWs >= done.boardWs) {
        // the read that follows the end: the last seconds of the session
        const total = done.carriedWs + f.sessionWs - done.baseWs;
        if (energyWh(total) === done.energyWh) return { state: withBoard, changes: [] };
        const fin = { ...done, boardWs: f.sessionWs, energyWh: energyWh(total) };
        return { state: { ...withBoard, lastEnded: fin }, changes: [{ kind: 'updated', session: fin }] };
      }
      if (!s || state.awaiting) return { state: withBoard, changes: [] };
      let { carriedWs, baseWs } = s;
      if (f.sessionWs < s.boardWs) {
        // the counter restarted under us (a reboot we did not see): keep what it had counted
        carriedWs += s.boardWs - baseWs;
        baseWs = 0;
      }
      const next = { ...s, boardWs: f.sessionWs, baseWs, carriedWs, energyWh: energyWh(carriedWs + f.sessionWs - baseWs), lastSeenAt: at };
      return { state: { ...withBoard, active: next }, changes: [{ kind: 'updated', session: next }] };
    }
    case 'meter': {
      const amps = f.currentMa === null ? null : f.currentMa / 1000;
      if (amps === null) return { state, changes: [] };
      const s = state.active;
      const prev = state.lastCurrent;
      const nextState = { ...state, lastCurrent: state.charging ? { at, amps } : null };
      if (!s || !state.charging) return { state: nextState, changes: [] };
      const dt = prev ? Math.max(0, at - prev.at) : 0;
      const ampMs = s.ampMs + (prev ? prev.amps * dt : 0);
      const chargingMs = s.chargingMs + dt;
      const next: EvSession = {
        ...s,
        maxCurrentA: Math.max(s.maxCurrentA, amps),
        ampMs,
        chargingMs,
        avgCurrentA: chargingMs > 0 ? Math.round((ampMs / chargingMs) * 100) / 100 : amps,
        lastSeenAt: at,
      };
      return { state: { ...nextState, active: next }, changes: [{ kind: 'updated', session: next }] };
    }
    default:
      return { state, changes: [] };
  }
}

/** Folds the board's counters into the carried totals (its counters are about to restart). */
function carry(s: EvSession): EvSession {
  return {
    ...s,
    carriedWs: s.carriedWs + s.boardWs - s.baseWs,
    boardWs: 0,
    baseWs: 0,
    carriedChargingS: s.carriedChargingS + s.boardElapsedS - s.baseElapsedS,
    boardElapsedS: 0,
    baseElapsedS: 0,
  };
}

function onStatus(state: EvSessionState, f: Extract<EvseFact, { kind: 'status' }>, at: number): { state: EvSessionState; changes: EvSessionChange[] } {
  const code = f.state;
  if (code === 0) return { state: { ...state, lastState: 0 }, changes: [] };
  const connected = f.vflags !== null ? (f.vflags & VFLAGS.EV_CONNECTED) !== 0 : code === 2 || code === 3 || (code !== 1 && state.active !== null);
  const charging = f.vflags !== null ? (f.vflags & VFLAGS.CHARGING_ON) !== 0 || code === 3 : code === 3;
  const lb = state.lastBoard;
  const base: EvSessionState = {
    ...state,
    lastState: code,
    charging,
    lastCurrent: charging ? state.lastCurrent : null,
    connectedSince: connected ? state.connectedSince ?? at : null,
    // a new plug-in resets the board's counters: the ended session can no longer be completed
    lastEnded: connected && state.connectedSince === null ? null : state.lastEnded,
    lastBoard: f.elapsedS !== null ? { ws: lb?.ws ?? 0, wsAt: lb?.wsAt ?? -Infinity, elapsedS: f.elapsedS, elapsedAt: at } : lb,
  };
  const changes: EvSessionChange[] = [];
  let st = base;
  let s = state.active;

  // ---- an open session waiting for the board to say where it is
  if (s && state.awaiting) {
    const why = state.awaiting;
    const fromStore = why !== 'board_reboot';
    if (fromStore && f.elapsedS === null && connected) {
      // `$AT` has no elapsed time: wait for the GS poll to compare the counters
      return { state: base, changes: [] };
    }
    if (!connected) {
      const r = end(st, s, fromStore ? s.lastSeenAt : at, fromStore ? 'unplugged_while_offline' : 'board_reboot');
      st = r.state;
      changes.push(...r.changes);
      s = null;
    } else if (fromStore && f.elapsedS !== null && f.elapsedS < s.boardElapsedS) {
      const r = end(st, s, s.lastSeenAt, 'board_counters_reset');
      st = r.state;
      changes.push(...r.changes);
      s = null;
    } else {
      s = { ...s, resumes: [...s.resumes, { at, reason: why }], lastSeenAt: at };
      st = { ...st, active: s, awaiting: null };
      changes.push({ kind: 'resumed', session: s, reason: why });
    }
  }

  // ---- a running session
  if (s) {
    const info = stateInfo(code);
    let next = s;
    if (info.fault && next.faults[next.faults.length - 1] !== info.name) next = { ...next, faults: [...next.faults, info.name] };
    if (f.elapsedS !== null) {
      let { carriedChargingS, baseElapsedS } = next;
      if (f.elapsedS < next.boardElapsedS) {
        carriedChargingS += next.boardElapsedS - baseElapsedS;
        baseElapsedS = 0;
      }
      next = { ...next, boardElapsedS: f.elapsedS, baseElapsedS, carriedChargingS, chargingS: carriedChargingS + f.elapsedS - baseElapsedS };
    }
    if (code === 2 && state.lastState === 3 && next.vehicleStoppedAt === null) next = { ...next, vehicleStoppedAt: at };
    if (code === 3) next = { ...next, vehicleStoppedAt: null };
    next = { ...next, lastSeenAt: at };
    let reason: EvStopReason | null = null;
    if (code === 1 || (f.vflags !== null && !connected && code !== 0xff)) reason = 'unplugged';
    else if (code === 0xfe) reason = f.vflags !== null && f.vflags & VFLAGS.LIMIT_SLEEP ? 'limit_reached' : 'sleep';
    else if (code === 0xff) reason = 'disabled';
    if (reason) {
      const r = end({ ...st, active: next }, next, at, reason);
      return { state: r.state, changes: [...changes, ...r.changes] };
    }
    if (next !== s) changes.push({ kind: 'updated', session: next });
    return { state: { ...st, active: next }, changes };
  }

  // ---- no session: one starts when a connected vehicle starts charging
  if (code === 3 && connected) {
    // Same plug-in as counters read earlier (a restart after a sleep): start from them.
    const since = state.connectedSince;
    const sameWs = since !== null && lb !== null && lb.wsAt >= since;
    const sameEl = since !== null && lb !== null && lb.elapsedAt >= since;
    const baseElapsed = sameEl ? lb!.elapsedS : 0;
    const n = newSession(state.deviceId, at, sameWs ? lb!.ws : 0, baseElapsed, f.elapsedS ?? baseElapsed);
    changes.push({ kind: 'started', session: n });
    return { state: { ...st, active: n, awaiting: null, lastEnded: null }, changes };
  }
  return { state: st, changes };
}
