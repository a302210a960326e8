/**
 * The DC output controller: everything that sets a DC output bus (a bus of units sharing one
 * broadcast setpoint, `DcOutputBus`; Flatpack2 today). Manual setpoints, standby, the charger's
 * commands, restore on reconnect and at startup, the units' fallback (power-on) voltage policy
 * and the standby on an alarm all pass here, and every value goes out only as the gate admitted
 * it: the accepted event and the durable per-bus record are on disk before the frame leaves.
 *
 * It reacts to what the units do through their projected views (online, obeying, alarm edges),
 * so it names no family.
 */
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { Store, StoredEvent } from '../../store/store.js';
import type { Observation } from '../../families/contract.js';
import type { DcOutputBus, DcUnitView } from '../capabilities.js';
import type { ChargerRuntime } from '../charger/runtime.js';
import type { ChargerCommand } from '../charger/machine.js';
import type { LinkState } from '../../link/types.js';
import { admitDcSetpoint, admitPowerOnDefault, checkDeviceAvailable, checkFallbackVoltage, checkStorageWritable, type DcOutputLimits, type GateCode } from '../gate.js';
import { decideRestore, type BusSetpoint } from '../restore.js';

export type SetpointOrigin = 'api' | 'schedule' | 'startup' | 'restore' | 'charger' | 'safety';

export type SetpointOutcome =
  | { ok: true; voltageV: number; currentA: number; clamped: boolean; deviceIds: string[]; message: string; sent: boolean }
  | { ok: false; code: GateCode; message: string };

/** What the controller needs of the engine. */
export interface DcHost {
  clock: Clock;
  log: Logger;
  store: Store;
  runStartedAt: number;
  record(e: { type: string; deviceId?: string | null; busId?: string | null; data?: Record<string, unknown> }, durable?: boolean): StoredEvent;
  link(linkId: string): { state: LinkState; detail: string; noun: string } | undefined;
  /** The units (device views) on a link that offer this capability. */
  units(linkId: string): DcUnitView[];
  unit(id: string): DcUnitView | undefined;
  changed(id: string): void;
  chargersOn(linkId: string): ChargerRuntime[];
  chargers(): ChargerRuntime[];
}

interface DcBusState {
  id: string;
  bus: DcOutputBus;
  limits: DcOutputLimits;
  setpoint: BusSetpoint | null;
  lastRestoreAt: number | null;
  /** The units that obeyed the last restore SET: a unit that logged in after it still needs one. */
  lastRestoreReached: Set<string>;
  startupApplied: Set<string>;
  /** The fallback (power-on) voltage every unit on the bus must hold; null: not managed. */
  fallbackV: number | null;
  /** When a fallback write last went to a unit (a lost ack is retried after FALLBACK_RETRY_MS). */
  fallbackWriteAt: Map<string, number>;
}

const FALLBACK_RETRY_MS = 5000;

export class DcOutputController {
  private readonly buses = new Map<string, DcBusState>();

  constructor(private readonly host: DcHost) {}

  addBus(bus: DcOutputBus): void {
    const r = this.host.store.busSetpoints().find((x) => x.busId === bus.linkId);
    this.buses.set(bus.linkId, {
      id: bus.linkId,
      bus,
      limits: bus.limits,
      // The bus's desired output from the durable per-bus record (written with its setpoint.accepted event).
      setpoint: r ? { voltageV: r.voltageV, currentA: r.currentA, origin: r.origin, at: r.at, standby: r.standby } : null,
      lastRestoreAt: null,
      lastRestoreReached: new Set(),
      startupApplied: new Set(),
      fallbackV: bus.fallbackVoltageV,
      fallbackWriteAt: new Map(),
    });
  }

  has(busId: string): boolean {
    return this.buses.has(busId);
  }

  busIds(): string[] {
    return [...this.buses.keys()];
  }

  limits(busId: string): DcOutputLimits | undefined {
    return this.buses.get(busId)?.limits;
  }

  setpoint(busId: string): BusSetpoint | null {
    return this.buses.get(busId)?.setpoint ?? null;
  }

  private linkUp(b: DcBusState): boolean {
    return this.host.link(b.id)?.state === 'up';
  }

  private noun(b: DcBusState): string {
    return this.host.link(b.id)?.noun ?? 'bus';
  }

  /**
   * A charger on this bus: its fallback policy is checked against the pack (the gate checked it
   * when the config loaded) and becomes the bus's.
   */
  useFallbackFor(busId: string, configured: number | undefined, cellCount: number): { ok: true; notes: string[] } | { ok: false; message: string } {
    const b = this.buses.get(busId)!;
    const fb = checkFallbackVoltage(b.limits, configured, cellCount);
    if (!fb.ok) return { ok: false, message: fb.message };
    b.fallbackV = fb.value;
    return { ok: true, notes: fb.notes };
  }

  /** The reaction to an observation on a link, after the engine projected it. */
  observed(linkId: string, o: Observation<unknown>, changes: Array<{ prev: DcUnitView | undefined; next: DcUnitView }>): void {
    const b = this.buses.get(linkId);
    if (!b) return;
    if (o.type === 'link') {
      const up = o.state === 'up';
      const back = up ? this.host.units(b.id).find((p) => p.online) : undefined;
      if (back) this.restore(b, back.serial);
      if (up) {
        for (const p of this.host.units(b.id)) if (p.online) this.ensureFallback(b, p);
        for (const c of this.host.chargersOn(b.id)) c.onPresence();
      }
      return;
    }
    let presence = false;
    for (const { prev, next } of changes) {
      if (next.alarm && !prev?.alarm) this.onAlarmEdge(b, next);
      if (next.online && !prev?.online) {
        this.ensureFallback(b, next);
        this.restore(b, next.serial);
        presence = true;
      } else if (!next.online && prev?.online) {
        presence = true;
      }
      if (next.obeying !== (prev?.obeying ?? false)) {
        // A unit obeys from its login and runs at its power-on voltage until a SET arrives:
        // give it the bus's desired state now, not at its first status frame.
        if (next.obeying) this.restore(b, next.serial);
        presence = true;
      }
    }
    if (o.type === 'reading') {
      const d = this.host.unit(o.deviceId);
      if (d) {
        if (b.fallbackV !== null && d.fallbackAckV !== b.fallbackV) this.ensureFallback(b, d); // retries a lost ack
        for (const c of this.host.chargersOn(b.id)) c.onStatus(d.id);
      }
    }
    // A charger shares its current over exactly the units that obey its broadcast.
    if (presence) for (const c of this.host.chargersOn(b.id)) c.onPresence();
  }

  /**
   * A unit entered alarm (its output is off). Put the bus in standby so that when it recovers it
   * comes back at a safe idle output rather than the last setpoint. A charger that owns the bus
   * handles the alarm itself.
   */
  private onAlarmEdge(b: DcBusState, d: DcUnitView): void {
    // The family recorded the alarm itself (its event); the policy here is the standby.
    this.host.log.error({ device: d.id, bus: b.id }, `${d.name} ALARM: output off; putting ${b.id} in standby`);
    if (this.host.units(b.id).some((p) => p.ownedBy !== null)) return;
    if (b.setpoint?.standby) return;
    void this.apply('safety', [b], b.limits.standby, true, d.id);
  }

  /** Writes a unit's power-on voltage (EEPROM); it applies when the login lapses. */
  async setDefaultVoltage(origin: SetpointOrigin, deviceId: string, voltageV: number): Promise<{ ok: true; voltageV: number; sent: boolean } | { ok: false; code: GateCode; message: string }> {
    const d = this.host.unit(deviceId);
    const reject = (code: GateCode, message: string) => {
      this.host.record({ type: 'default-voltage.rejected', deviceId, data: { origin, voltageV, code, reason: message } }, true);
      return { ok: false as const, code, message };
    };
    // The fallback policy's own write makes the units safer, so it goes out even while the store is down.
    const storage = checkStorageWritable(this.host.store.health, { standby: origin === 'safety' });
    if (!storage.ok) return reject(storage.code, storage.message);
    const avail = checkDeviceAvailable(deviceId, d && this.gateView(d), { origin });
    if (!avail.ok) return reject(avail.code, avail.message);
    const b = this.buses.get(d!.busId);
    if (!b) return reject('NOT_FOUND', `${deviceId} is on bus "${d!.busId}", which is not in the current config`);
    const g = admitPowerOnDefault(b.limits, voltageV);
    if (!g.ok) return reject(g.code, g.message);
    const v = g.value.voltageV;
    if (b.fallbackV !== null && v !== b.fallbackV) {
      return reject(
        'OUT_OF_RANGE',
        `bus ${b.id} keeps its PSUs' power-on voltage at ${b.fallbackV.toFixed(2)} V (fallbackVoltageV, what they deliver at full current when unsupervised); change the fallbackVoltageV of link ${b.id} in the config instead`,
      );
    }
    this.host.record({ type: 'default-voltage.accepted', deviceId, busId: b.id, data: { origin, voltageV: v } }, true);
    const sent = await b.bus.writePowerOnDefault(d!.serial, g.value);
    this.host.record({ type: sent ? 'default-voltage.sent' : 'default-voltage.send-failed', deviceId, busId: b.id, data: { voltageV: v } }, !sent);
    return { ok: true, voltageV: v, sent };
  }

  /**
   * Keeps a unit's fallback (EEPROM) voltage at the bus's policy. The EEPROM wears: a write goes
   * out only when the last acknowledged value differs, and a lost ack is retried after a while.
   */
  private ensureFallback(b: DcBusState, d: DcUnitView): void {
    const want = b.fallbackV;
    if (want === null || !this.linkUp(b) || d.fallbackAckV === want) return;
    const last = b.fallbackWriteAt.get(d.id);
    const now = this.host.clock.now();
    if (last !== undefined && now - last < FALLBACK_RETRY_MS) return;
    b.fallbackWriteAt.set(d.id, now);
    this.host.log.info({ device: d.id, bus: b.id }, `PSU ${d.serial}: setting its fallback voltage to ${want.toFixed(2)} V (was ${d.fallbackAckV?.toFixed(2) ?? 'unknown'})`);
    void this.setDefaultVoltage('safety', d.id, want);
  }

  /** The bus's fallback policy and which units that may obey a SET have not confirmed it yet. */
  fallbackState(busId: string): { voltageV: number | null; pendingIds: string[] } {
    const b = this.buses.get(busId);
    if (!b || b.fallbackV === null) return { voltageV: null, pendingIds: [] };
    // A read, also made by every charger view: writes and their retries happen on discovery and status frames.
    const pending = this.host.units(busId).filter((p) => (p.online || p.obeying) && p.fallbackAckV !== b.fallbackV);
    return { voltageV: b.fallbackV, pendingIds: pending.map((p) => p.id) };
  }

  private restore(b: DcBusState, serial: string): void {
    // Frames can arrive while the adapter is still being configured; a SET cannot go out
    // before the link is up, so the link's 'up' transition restores instead.
    if (!this.linkUp(b)) return;
    const chargers = this.host.chargersOn(b.id);
    const decision = decideRestore({
      now: this.host.clock.now(),
      runStartedAt: this.host.runStartedAt,
      setpoint: b.setpoint,
      startup: b.bus.startupOf(serial),
      startupAlreadyApplied: b.startupApplied.has(serial),
      lastRestoreAt: b.lastRestoreReached.has(serial) ? b.lastRestoreAt : null,
      ownedByCharger: this.host.units(b.id).some((p) => p.ownedBy !== null) || chargers.some((c) => c.resumePending),
      chargerBus: chargers.length > 0,
      standby: b.limits.standby,
    });
    if (decision.action === 'none') return;
    if (decision.markStartupApplied) b.startupApplied.add(serial);
    b.lastRestoreAt = this.host.clock.now();
    b.lastRestoreReached = new Set(b.bus.obeying().map((id) => this.host.unit(id)?.serial ?? id));
    const unitId = this.host.units(b.id).find((u) => u.serial === serial)?.id ?? null;
    void this.apply(decision.origin, [b], { voltageV: decision.voltageV, currentA: decision.currentA }, decision.standby, unitId);
  }

  /**
   * A unit as the gate's interlock sees it: a charger that will resume a session a crash left
   * open owns its bus already, so a manual setpoint cannot slip in before the soft start.
   */
  private gateView(d: DcUnitView): DcUnitView & { ownerName: string | null } {
    const owner = d.ownedBy ?? this.host.chargersOn(d.busId).find((c) => c.resumePending)?.id ?? null;
    const ownerName = owner ? (this.host.chargers().find((c) => c.id === owner)?.name ?? owner) : null;
    return { ...d, ownedBy: owner, ownerName };
  }

  /** A charger command goes through the same gate and event trail as any other setpoint. */
  async chargerCommand(busId: string, cmd: ChargerCommand): Promise<{ ok: true } | { ok: false; code: GateCode; message: string }> {
    const b = this.buses.get(busId);
    if (!b) return { ok: false, code: 'NOT_FOUND', message: `bus ${busId} is not configured` };
    // A standby is the bus's desired state even when it cannot go out now: it is recorded and
    // re-sent on reconnect, so a stop pressed while the adapter is unplugged is never undone.
    const link = this.host.link(busId);
    if (link?.state !== 'up' && cmd.kind !== 'standby') return { ok: false, code: 'LINK_DOWN', message: `${this.noun(b)} ${busId} is ${link?.state ?? 'down'}` };
    const req = cmd.kind === 'standby' ? b.limits.standby : { voltageV: cmd.voltageV, currentA: cmd.currentA };
    const r = await this.apply('charger', [b], req, cmd.kind === 'standby', null, cmd.reason, undefined, cmd.kind === 'set' && cmd.step === true);
    return r.ok ? { ok: true } : { ok: false, code: r.code, message: r.message };
  }

  /** Standby on every bus (the fail-safe): sent where the link is up, recorded and restored on reconnect where not. */
  async standbyAll(reason: string): Promise<string[]> {
    const done: string[] = [];
    for (const b of this.buses.values()) {
      try {
        const r = await this.apply('safety', [b], b.limits.standby, true, null, reason);
        if (r.ok) done.push(b.id);
      } catch (err) {
        this.host.log.error({ bus: b.id, err: String(err) }, `${this.noun(b)} ${b.id}: standby failed in the fail-safe (${String(err)}); switch its PSUs off by hand`);
      }
    }
    return done;
  }

  /**
   * A manual or programmatic output request. `target` is a unit id or "all". A broadcast SET
   * applies to every unit on its bus; the outcome lists them all so nobody is surprised.
   */
  async setOutput(origin: SetpointOrigin, target: string, req: { voltageV: number; currentA: number }, standby = false): Promise<SetpointOutcome> {
    const requested = this.host.record({
      type: 'setpoint.requested',
      deviceId: target === 'all' ? null : target,
      data: { origin, target, voltageV: req.voltageV, currentA: req.currentA, standby },
    });
    const reject = (code: GateCode, message: string, busId?: string): SetpointOutcome => {
      this.host.record(
        {
          type: 'setpoint.rejected',
          deviceId: target === 'all' ? null : target,
          busId: busId ?? null,
          data: { origin, target, voltageV: req.voltageV, currentA: req.currentA, standby, code, reason: message, requestId: requested.id },
        },
        true,
      );
      this.host.log.warn({ target, origin, code }, `setpoint rejected: ${message}`);
      return { ok: false, code, message };
    };

    const storage = checkStorageWritable(this.host.store.health, { standby });
    if (!storage.ok) return reject(storage.code, storage.message);

    let buses: DcBusState[];
    if (target === 'all') {
      // A standby is every bus's desired state, reachable or not; a setpoint needs a unit online.
      buses = [...this.buses.values()].filter((b) => standby || this.host.units(b.id).some((p) => p.online));
      if (!buses.length) return reject('DEVICE_OFFLINE', 'no PSU is online; wait for the PSUs to be discovered (devices { online })');
      // The gate's interlock, for every unit the broadcast would reach (offline ones are skipped).
      for (const b of buses) {
        for (const p of this.host.units(b.id)) {
          const g = checkDeviceAvailable(p.id, this.gateView(p), { origin });
          if (!g.ok && g.code === 'CHARGER_OWNS_PSU') return reject(g.code, g.message, b.id);
        }
      }
    } else {
      const d = this.host.unit(target);
      const avail = checkDeviceAvailable(target, d && this.gateView(d), { origin, standby });
      if (!avail.ok) return reject(avail.code, avail.message, d?.busId);
      const b = this.buses.get(d!.busId);
      if (!b) return reject('NOT_FOUND', `${target} is on bus "${d!.busId}", which is not in the current config`);
      buses = [b];
    }
    // Every bus is checked before any frame leaves: a request over several buses is all or nothing.
    for (const b of buses) {
      const link = this.host.link(b.id);
      if (link?.state !== 'up' && !standby) return reject('LINK_DOWN', `${this.noun(b)} ${b.id} is ${link?.state ?? 'down'} (${link?.detail ?? 'not started'}); the adapter is being reconnected`, b.id);
    }
    return this.apply(origin, buses, req, standby, target === 'all' ? null : target, undefined, reject);
  }

  /**
   * Standby is the panic button: if a charger drives the unit(s), it is stopped first (with the
   * reason recorded) — a user reaching for standby must never be told "not now".
   */
  async standby(origin: SetpointOrigin, target: string): Promise<SetpointOutcome> {
    const busIds = target === 'all' ? [...this.buses.keys()] : [this.host.unit(target)?.busId].filter((b): b is string => !!b);
    // A session a crash left open counts too: its resume must not undo the standby.
    for (const c of this.host.chargers()) {
      if (busIds.includes(c.busId) && (c.activeSessionId || c.resumePending)) await c.stopCharge(origin, `standby requested (${origin})`);
    }
    const first = busIds.map((id) => this.buses.get(id)).find((b) => b !== undefined);
    return this.setOutput(origin, target, first?.limits.standby ?? { voltageV: 48, currentA: 0.1 }, true);
  }

  /**
   * Every path that sets an output (API, charger, restore, startup, safety) ends here: the gate
   * admits the values once, the accepted event and the per-bus record are on disk, then the
   * admitted values go out.
   */
  private async apply(
    origin: SetpointOrigin,
    buses: DcBusState[],
    req: { voltageV: number; currentA: number },
    standby: boolean,
    deviceId: string | null,
    reason?: string,
    reject?: (code: GateCode, message: string, busId?: string) => SetpointOutcome,
    /** A high-rate control step (a ramp step): its accepted event stays (the audit of what the bus was told); a send that worked is not recorded again, a failed one is. */
    step = false,
  ): Promise<SetpointOutcome> {
    let last: SetpointOutcome | null = null;
    const allIds: string[] = [];
    const storage = checkStorageWritable(this.host.store.health, { standby });
    if (!storage.ok) {
      this.host.record({ type: 'setpoint.rejected', busId: buses[0]?.id ?? null, deviceId, data: { origin, ...req, standby, code: storage.code, reason: storage.message } }, true);
      return { ok: false, code: storage.code, message: storage.message };
    }
    // Admitted before anything is recorded or sent: a request over several buses is all or nothing.
    const admitted = [];
    for (const b of buses) {
      const g = admitDcSetpoint(b.limits, req);
      if (!g.ok) {
        if (reject) return reject(g.code, g.message, b.id);
        this.host.record({ type: 'setpoint.rejected', busId: b.id, deviceId, data: { origin, ...req, standby, code: g.code, reason: g.message } }, true);
        return { ok: false, code: g.code, message: g.message };
      }
      admitted.push({ b, g });
    }
    for (const { b, g } of admitted) {
      const v = g.value;
      const ids = this.host.units(b.id).map((p) => p.id);
      allIds.push(...ids);
      const at = this.host.clock.now();
      // Committed in the same fsynced transaction as the accepted event just below.
      this.host.store.putBusSetpoint({ busId: b.id, voltageV: v.voltageV, currentA: v.currentA, origin, at, standby });
      this.host.record(
        {
          type: 'setpoint.accepted',
          busId: b.id,
          deviceId,
          data: { origin, voltageV: v.voltageV, currentA: v.currentA, ovpV: v.ovpV, clamped: v.clamped, notes: g.notes, standby, deviceIds: ids, ...(reason ? { reason } : {}) },
        },
        true,
      );
      // The accepted event must be on disk before a power setpoint leaves: if that very write
      // failed (the disk filled just now), the setpoint does not go out; a standby still does.
      if (!standby && !this.host.store.health.writable) {
        const h = checkStorageWritable(this.host.store.health, { standby });
        const message = h.ok ? 'the database cannot be written' : h.message;
        this.host.record({ type: 'setpoint.rejected', busId: b.id, deviceId, data: { origin, ...req, standby, code: 'STORAGE_UNAVAILABLE', reason: message } }, true);
        return { ok: false, code: 'STORAGE_UNAVAILABLE', message };
      }
      b.setpoint = { voltageV: v.voltageV, currentA: v.currentA, origin, at, standby };
      const sent = await b.bus.send(v);
      if (!(sent && step)) this.host.record({ type: sent ? 'setpoint.sent' : 'setpoint.send-failed', busId: b.id, deviceId, data: { origin, voltageV: v.voltageV, currentA: v.currentA } }, !sent);
      for (const id of ids) this.host.changed(id);
      const what = standby ? 'standby' : `${v.voltageV.toFixed(2)} V / ${v.currentA.toFixed(1)} A`;
      const message =
        `${sent ? 'set' : 'accepted but not sent (link down; restored on reconnect)'} ${what} on ${b.id} ` +
        `(broadcast: applies to ${ids.length} PSU${ids.length === 1 ? '' : 's'})${g.notes.length ? '; ' + g.notes.join('; ') : ''}`;
      this.host.log.info({ bus: b.id, origin }, message);
      last = { ok: true, voltageV: v.voltageV, currentA: v.currentA, clamped: v.clamped, deviceIds: allIds.slice(), message, sent };
    }
    return last!;
  }
}
