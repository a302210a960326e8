/**
 * The engine: the only place with policy. It turns driver observations into events in the
 * store and projections for the API, runs controllers (restore-on-reconnect, startup apply)
 * and sends every command through the command gate.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Store, StoredEvent, StoreHealth } from '../store/store.js';
import type { Flatpack2Config } from '../config/schema.js';
import type { Flatpack2Driver, Fp2Observation } from '../families/flatpack2/driver.js';
import type { LinkState } from '../families/can/adapter.js';
import { canFrameRecord } from '../families/can/types.js';
import { Topic } from './pubsub.js';
import { withActor } from './actor.js';
import { checkDefaultVoltage, checkDeviceAvailable, checkFallbackVoltage, checkPsuSetpoint, checkStorageWritable, flatpack2Limits, FLATPACK2_STANDBY, type Flatpack2Limits, type GateCode } from './gate.js';
import { decideRestore, type BusSetpoint } from './restore.js';
import { emptyPsu, markPsuStale, psuDeviceId, type DeviceView, type Flatpack2PsuView, type PsuReadingView } from './devices.js';
import { ChargeSessionStore } from '../store/sessions.js';
import { ChargerRuntime, type ChargerView } from './charger/runtime.js';
import { DEFAULT_CHARGER_SETTINGS, type ChargerCommand, type ChargerSettings } from './charger/machine.js';
import type { BmsConfig, ChargerConfig } from '../config/schema.js';
import type { BmsDriver, BmsObservation } from '../families/bms/driver.js';
import type { BatteryView } from './devices.js';
import { bmsLimitsFromSnapshot } from './bms-policy.js';

export type SetpointOrigin = 'api' | 'startup' | 'restore' | 'charger' | 'safety';

export interface SampleEvent {
  deviceId: string;
  ts: number;
  values: Record<string, number | string | null>;
}

export type SetpointOutcome =
  | {
      ok: true;
      voltageV: number;
      currentA: number;
      clamped: boolean;
      deviceIds: string[];
      message: string;
      sent: boolean;
    }
  | { ok: false; code: GateCode; message: string };

export interface BusView {
  id: string;
  kind: 'flatpack2' | 'bms';
  linkState: LinkState;
  linkDetail: string;
  setpoint: BusSetpoint | null;
  limits: Flatpack2Limits | null;
  stats: () => Record<string, number | string | null>;
}

interface BmsBus {
  id: string;
  driver: BmsDriver;
  cfg: BmsConfig;
  battery: BatteryView;
  linkState: LinkState;
  linkDetail: string;
  lastSampleAt: number;
  stats: () => Record<string, number | string | null>;
}

const BATTERY_SAMPLE_MS = 1000;

interface Fp2Bus {
  id: string;
  driver: Flatpack2Driver;
  cfg: Flatpack2Config;
  limits: Flatpack2Limits;
  linkState: LinkState;
  linkDetail: string;
  setpoint: BusSetpoint | null;
  lastRestoreAt: number | null;
  /** The PSUs that obeyed the last restore SET: a PSU that logged in after it still needs one. */
  lastRestoreReached: Set<string>;
  startupApplied: Set<string>;
  stats: () => Record<string, number | string | null>;
  lastCorruptTotal: number;
  /** The fallback (EEPROM) voltage every PSU on the bus must hold; null: not managed. */
  fallbackV: number | null;
  /** When a fallback write last went to a PSU (a lost ack is retried after FALLBACK_RETRY_MS). */
  fallbackWriteAt: Map<string, number>;
}

const FALLBACK_RETRY_MS = 5000;

export interface EngineOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  simulated: boolean;
}

export class Engine {
  readonly events = new Topic<StoredEvent>();
  readonly samples = new Topic<SampleEvent>();
  readonly deviceChanged = new Topic<DeviceView>();
  readonly chargerChanged = new Topic<ChargerView>();
  readonly sessions: ChargeSessionStore;
  readonly store: Store;
  readonly clock: Clock;
  readonly simulated: boolean;
  readonly runStartedAt: number;
  private readonly log: Logger;
  private readonly devices = new Map<string, DeviceView>();
  private readonly buses = new Map<string, Fp2Bus>();
  private readonly chargers = new Map<string, ChargerRuntime>();
  private readonly bmsBuses = new Map<string, BmsBus>();
  private corruptTimer: ReturnType<Clock['setInterval']> | undefined;
  /** True from a storage fault until the store writes again (the fail-safe ran for it). */
  private storageFault = false;
  private readonly unwatchStore: () => void;

  constructor(opts: EngineOptions) {
    this.store = opts.store;
    this.clock = opts.clock;
    this.log = opts.log;
    this.simulated = opts.simulated;
    this.runStartedAt = opts.clock.now();
    this.sessions = new ChargeSessionStore(opts.store.db, (where, run) => opts.store.write(where, run));
    // The store reports a failed write from inside whatever call wrote (a driver callback, a
    // timer); the reaction runs right after that call, never inside it.
    this.unwatchStore = opts.store.watchHealth(() => queueMicrotask(() => this.onStoreHealth()));
    this.rebuildDevices();
  }

  /** Whether the store can write, and why not. */
  get storageHealth(): StoreHealth {
    return this.store.health;
  }

  private onStoreHealth(): void {
    const h = this.store.health;
    if (!h.writable && !this.storageFault) {
      this.storageFault = true;
      this.record({ type: 'store.fault', data: { error: h.error, code: h.code } });
      this.log.error(
        { code: h.code },
        `STORAGE FAULT: ${h.error}. Stopping every charge and putting every bus in standby; free space on the database's disk (or fix its permissions). Power commands are refused until writes work again; writes are retried every few seconds`,
      );
      void this.failSafe(`storage unavailable: ${h.error}`);
    } else if (h.writable && this.storageFault) {
      this.storageFault = false;
      this.record({ type: 'store.recovered', data: { failures: h.failures } }, true);
      this.log.warn({}, 'storage writable again: the events kept in memory are written; chargers stay stopped until a person starts them');
    }
  }

  /**
   * Puts everything in a safe state: every running (or crash-pending) charge stopped through
   * its own stop path, then every bus set to standby (sent where the link is up, remembered and
   * restored on reconnect where it is not). Never throws; the events it records stay in memory
   * (and are published) when the store cannot write them.
   */
  async failSafe(reason: string): Promise<{ chargersStopped: string[]; busesInStandby: string[] }> {
    const chargersStopped: string[] = [];
    const busesInStandby: string[] = [];
    for (const c of this.chargers.values()) {
      try {
        const r = await c.stopCharge('safety', reason);
        if (r.ok) chargersStopped.push(c.id);
      } catch (err) {
        this.log.error({ charger: c.id, err: String(err) }, `charger ${c.id}: could not be stopped by the fail-safe (${String(err)}); switch its PSUs off by hand`);
      }
    }
    for (const b of this.buses.values()) {
      try {
        const r = await this.applySetpoint('safety', [b], FLATPACK2_STANDBY, true, null, reason);
        if (r.ok) busesInStandby.push(b.id);
      } catch (err) {
        this.log.error({ bus: b.id, err: String(err) }, `CAN bus ${b.id}: standby failed in the fail-safe (${String(err)}); switch its PSUs off by hand`);
      }
    }
    this.record({ type: 'engine.fail-safe', data: { reason, chargersStopped, busesInStandby } }, true);
    this.log.error({ chargersStopped, busesInStandby }, `fail-safe: ${chargersStopped.length} charge(s) stopped, ${busesInStandby.length} bus(es) in standby (${reason})`);
    return { chargersStopped, busesInStandby };
  }

  /** Projections from the store: every PSU ever seen, its last values, offline until heard. */
  private rebuildDevices(): void {
    for (const d of this.store.listDevices()) {
      if (d.kind !== 'flatpack2') continue;
      const psu = emptyPsu(d.busId ?? 'unknown', d.serial ?? d.id, d.name);
      const meta = (d.meta ?? {}) as { addr?: number };
      psu.addr = typeof meta.addr === 'number' ? meta.addr : null;
      psu.lastSeen = d.lastSeen ?? null;
      this.devices.set(psu.id, psu);
    }
    for (const e of this.store.latestEventPerDevice('psu.default-voltage.ack')) {
      const d = e.deviceId ? this.devices.get(e.deviceId) : undefined;
      if (d?.kind === 'flatpack2' && typeof e.data.voltageV === 'number') d.fallbackAckV = e.data.voltageV;
    }
    // Every PSU starts offline: its last sample is history (lastReading), not a live value.
    for (const s of this.store.latestSamplePerDevice()) {
      const d = this.devices.get(s.deviceId);
      if (d?.kind === 'flatpack2') d.lastReading = psuReadingFromSample(s.ts, s.values);
    }
  }

  /** Remembered serial → address of a bus, so a quick restart keeps status attribution. */
  knownAddresses(busId: string): Map<string, number> {
    const m = new Map<string, number>();
    for (const d of this.devices.values()) if (d.busId === busId && d.kind === 'flatpack2' && d.addr) m.set(d.serial, d.addr);
    return m;
  }

  addFlatpack2Bus(busId: string, driver: Flatpack2Driver, cfg: Flatpack2Config, stats: () => Record<string, number | string | null>): void {
    const bus: Fp2Bus = {
      id: busId,
      driver,
      cfg,
      limits: flatpack2Limits(cfg),
      linkState: 'connecting',
      linkDetail: 'starting',
      setpoint: this.lastBusSetpoint(busId),
      lastRestoreAt: null,
      lastRestoreReached: new Set(),
      startupApplied: new Set(),
      stats,
      lastCorruptTotal: 0,
      fallbackV: cfg.fallbackVoltageV ?? null,
      fallbackWriteAt: new Map(),
    };
    this.buses.set(busId, bus);
    for (const [serial, p] of Object.entries(cfg.psus)) {
      const id = psuDeviceId(serial);
      const existing = this.devices.get(id);
      if (existing?.kind === 'flatpack2' && p.name) existing.name = p.name;
    }
    driver.onObservation((o) => this.onFp2(bus, o));
  }

  /** A charger on a bus's PSUs; its settings changed through the API in earlier runs win. */
  addCharger(cfg: ChargerConfig): ChargerRuntime {
    const bus = this.buses.get(cfg.bus);
    if (!bus) throw new Error(`charger ${cfg.id}: bus ${cfg.bus} is not configured`);
    // Settings changed through the API in an earlier run win over the config, and they must be
    // in force before the runtime decides anything (autoStart decides whether a crash resumes).
    const saved = this.store.latestEvent({ types: ['charger.settings'], deviceId: cfg.id });
    const savedSettings = (saved?.data.settings ?? null) as Partial<ChargerSettings> | null;
    const settings: ChargerSettings = { ...DEFAULT_CHARGER_SETTINGS, ...cfg.settings, ...(savedSettings ?? {}) };
    if (saved && savedSettings) {
      this.log.info({ charger: cfg.id }, `charger ${cfg.id}: using the settings last changed through the API (${new Date(saved.ts).toISOString()})`);
    }
    // The bus's fallback policy (the gate checked it against the pack when the config loaded).
    const fb = checkFallbackVoltage(bus.limits, bus.cfg.fallbackVoltageV, settings.cellCount);
    if (!fb.ok) throw new Error(`charger ${cfg.id}: ${fb.message}`);
    bus.fallbackV = fb.value;
    for (const n of fb.notes) this.log.warn({ bus: bus.id }, `bus ${bus.id}: ${n}`);
    const runtime = new ChargerRuntime(cfg.id, cfg.name ?? cfg.id, cfg.bus, cfg.psus, settings, cfg.battery ?? null, {
      battery: (id) => this.battery(id),
      clock: this.clock,
      log: this.log,
      sessions: this.sessions,
      storage: () => this.store.health,
      record: (e, durable) => void this.record(e, durable),
      sample: (deviceId, ts, values) => this.recordSample(deviceId, ts, values),
      busPsus: (busId) => this.psusOf(busId),
      limits: (busId) => this.buses.get(busId)!.limits,
      linkUp: (busId) => this.buses.get(busId)?.linkState === 'up',
      fallback: (busId) => this.fallbackState(busId),
      send: (busId, cmd) => this.chargerCommand(busId, cmd),
      setOwner: (group, owned, owner) => {
        for (const id of group) {
          const d = this.psu(id);
          const want = owned.includes(id) ? owner : null;
          if (d && d.ownedBy !== want) {
            d.ownedBy = want;
            this.changed(d);
          }
        }
      },
      changed: () => this.chargerChanged.publish(runtime.view()),
    });
    this.chargers.set(cfg.id, runtime);
    return runtime;
  }

  listChargers(): ChargerView[] {
    return [...this.chargers.values()].map((c) => c.view());
  }

  charger(id: string): ChargerRuntime | undefined {
    return this.chargers.get(id);
  }

  private chargersOn(busId: string): ChargerRuntime[] {
    return [...this.chargers.values()].filter((c) => c.busId === busId);
  }

  /** A charger command goes through the same gate and event trail as any other setpoint. */
  private async chargerCommand(busId: string, cmd: ChargerCommand): Promise<{ ok: true } | { ok: false; code: GateCode; message: string }> {
    const bus = this.buses.get(busId);
    if (!bus) return { ok: false, code: 'NOT_FOUND', message: `bus ${busId} is not configured` };
    // A standby is the bus's desired state even when it cannot go out now: it is recorded and
    // re-sent on reconnect, so a stop pressed while the adapter is unplugged is never undone.
    if (bus.linkState !== 'up' && cmd.kind !== 'standby') return { ok: false, code: 'LINK_DOWN', message: `CAN bus ${busId} is ${bus.linkState}` };
    const req = cmd.kind === 'standby' ? FLATPACK2_STANDBY : { voltageV: cmd.voltageV, currentA: cmd.currentA };
    const r = await this.applySetpoint('charger', [bus], req, cmd.kind === 'standby', null, cmd.reason);
    return r.ok ? { ok: true } : { ok: false, code: r.code, message: r.message };
  }

  /** The bus's desired output from the durable per-bus record (written with its setpoint.accepted event). */
  private lastBusSetpoint(busId: string): BusSetpoint | null {
    const r = this.store.busSetpoints().find((x) => x.busId === busId);
    return r ? { voltageV: r.voltageV, currentA: r.currentA, origin: r.origin, at: r.at, standby: r.standby } : null;
  }

  start(): void {
    // Corrupt bytes are counted by the link codec; surface increases as events (at most
    // one per bus every 10 s) so a noisy cable shows up in the log without flooding it.
    this.corruptTimer = this.clock.setInterval(() => this.reportCorruption(), 10_000);
    for (const b of this.buses.values()) b.driver.start();
    for (const b of this.bmsBuses.values()) b.driver.start();
    for (const c of this.chargers.values()) c.start();
  }

  stop(): void {
    this.clock.clearInterval(this.corruptTimer);
    for (const c of this.chargers.values()) c.stop();
    for (const b of this.buses.values()) b.driver.stop();
    for (const b of this.bmsBuses.values()) b.driver.stop();
    this.unwatchStore();
    try {
      this.store.flush();
    } catch (err) {
      this.log.error({ err: String(err) }, `stopping: the last events could not be written (${String(err)})`);
    }
  }

  private reportCorruption(): void {
    for (const b of this.buses.values()) {
      const s = b.stats();
      const total = Number(s.droppedBytes ?? 0) + Number(s.badChecksum ?? 0) + Number(s.badTerminator ?? 0);
      if (total > b.lastCorruptTotal) {
        this.record({ type: 'link.corrupt', busId: b.id, data: { ...s, newSinceLast: total - b.lastCorruptTotal } });
        b.lastCorruptTotal = total;
      }
    }
  }

  /** Appends an event to the log and publishes it; durable events are on disk on return. */
  record(e: { type: string; deviceId?: string | null; busId?: string | null; data?: Record<string, unknown> }, durable = false): StoredEvent {
    const stored = this.store.appendEvent(withActor({ ts: this.clock.now(), ...e }), { durable });
    this.events.publish(stored);
    return stored;
  }

  /** A telemetry sample: into the store (batched) and out to live subscribers. */
  private recordSample(deviceId: string, ts: number, values: Record<string, number | string | null>): void {
    this.store.appendSample({ ts, deviceId, values });
    this.samples.publish({ deviceId, ts, values });
  }

  listDevices(): DeviceView[] {
    return [...this.devices.values()];
  }

  device(id: string): DeviceView | undefined {
    return this.devices.get(id);
  }

  listBuses(): BusView[] {
    const fp2: BusView[] = [...this.buses.values()].map((b) => ({
      id: b.id,
      kind: 'flatpack2',
      linkState: b.linkState,
      linkDetail: b.linkDetail,
      setpoint: b.setpoint,
      limits: b.limits,
      stats: b.stats,
    }));
    const bms: BusView[] = [...this.bmsBuses.values()].map((b) => ({ id: b.id, kind: 'bms', linkState: b.linkState, linkDetail: b.linkDetail, setpoint: null, limits: null, stats: b.stats }));
    return [...fp2, ...bms];
  }

  listBatteries(): BatteryView[] {
    return [...this.bmsBuses.values()].map((b) => b.battery);
  }

  battery(id: string): BatteryView | undefined {
    const d = this.devices.get(id);
    return d?.kind === 'bms' ? d : undefined;
  }

  /** Latest frame per CAN id on a BMS bus, decoded: the raw frame inspector. */
  canFrames(busId: string): ReturnType<BmsDriver['latestFrames']> | null {
    return this.bmsBuses.get(busId)?.driver.latestFrames() ?? null;
  }

  addBmsBus(busId: string, driver: BmsDriver, cfg: BmsConfig, stats: () => Record<string, number | string | null>): void {
    const existing = this.devices.get(cfg.id);
    const battery: BatteryView = {
      kind: 'bms',
      id: cfg.id,
      busId,
      name: cfg.name ?? existing?.name ?? `Battery ${cfg.id}`,
      online: false,
      lastSeen: existing?.lastSeen ?? null,
      snapshot: null,
    };
    this.devices.set(cfg.id, battery);
    const bus: BmsBus = { id: busId, driver, cfg, battery, linkState: 'connecting', linkDetail: 'starting', lastSampleAt: 0, stats };
    this.bmsBuses.set(busId, bus);
    driver.onObservation((o) => this.onBms(bus, o));
  }

  private chargersOfBattery(batteryId: string): ChargerRuntime[] {
    return [...this.chargers.values()].filter((c) => c.batteryId === batteryId);
  }

  private onBms(bus: BmsBus, o: BmsObservation): void {
    const b = bus.battery;
    switch (o.kind) {
      case 'frame':
        this.store.appendFrame({ ts: o.ts, link: bus.id, ...canFrameRecord(o.frame, o.dir, o.msg.kind, b.id) });
        return;
      case 'invalid':
        // Recorded and flagged, never turned into telemetry (the driver keeps it out of the snapshot).
        this.record({ type: 'frame.invalid', busId: bus.id, deviceId: b.id, data: { canId: o.frame.id, reason: o.reason } });
        return;
      case 'dialect':
        // Defect 8.6: what 0x35E says against the configured dialect; the policy holds guided charging on a mismatch.
        if (o.check.status === 'pending') return;
        this.record({ type: `battery.dialect-${o.check.status}`, deviceId: b.id, busId: bus.id, data: { ...o.check } }, true);
        if (o.check.status !== 'confirmed') this.log.warn({ battery: b.id }, `battery ${b.id}: ${o.check.reason}`);
        return;
      case 'state': {
        const s = o.battery;
        b.snapshot = s;
        b.lastSeen = s.lastSeenAt ?? o.ts;
        if (o.ts - bus.lastSampleAt >= BATTERY_SAMPLE_MS) {
          bus.lastSampleAt = o.ts;
          const values = {
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
          };
          this.recordSample(b.id, o.ts, values);
        }
        this.changed(b);
        if (b.online) for (const c of this.chargersOfBattery(b.id)) c.onBms(bmsLimitsFromSnapshot(s));
        return;
      }
      case 'flags':
        for (const ch of o.changes) {
          this.record({ type: ch.active ? 'battery.flag.raised' : 'battery.flag.cleared', deviceId: b.id, busId: bus.id, data: { set: ch.set, name: ch.name } }, true);
          if (ch.active && ch.set !== 'request') this.log.warn({ battery: b.id }, `battery ${b.id}: ${ch.set} ${ch.name} raised`);
        }
        return;
      case 'online':
        b.online = true;
        this.store.upsertDevice({ id: b.id, kind: 'bms', busId: bus.id, name: b.name, serial: null, seenAt: o.ts, meta: { dialect: bus.cfg.dialect } });
        this.record({ type: 'device.online', deviceId: b.id, busId: bus.id, data: { reason: o.reason } }, true);
        this.changed(b);
        return;
      case 'offline':
        b.online = false;
        this.record({ type: 'device.offline', deviceId: b.id, busId: bus.id, data: { reason: o.reason } }, true);
        this.log.warn({ battery: b.id }, `battery ${b.id} offline: ${o.reason}`);
        this.changed(b);
        for (const c of this.chargersOfBattery(b.id)) c.onBms(null);
        return;
      case 'module-online':
      case 'module-offline':
        this.record({ type: `battery.${o.kind}`, deviceId: b.id, busId: bus.id, data: { index: o.index, ...(o.kind === 'module-offline' ? { reason: o.reason } : {}) } }, true);
        return;
      case 'link':
        if (bus.linkState === o.state && bus.linkDetail === o.detail) return;
        bus.linkState = o.state;
        bus.linkDetail = o.detail;
        this.record({ type: 'link.changed', busId: bus.id, data: { state: o.state, detail: o.detail } }, true);
        return;
    }
  }

  busSetpoint(busId: string): BusSetpoint | null {
    return this.buses.get(busId)?.setpoint ?? null;
  }

  private psuFor(bus: Fp2Bus, serial: string): Flatpack2PsuView {
    const id = psuDeviceId(serial);
    let d = this.psu(id);
    if (!d) {
      d = emptyPsu(bus.id, serial, bus.cfg.psus[serial]?.name);
      this.devices.set(id, d);
    }
    return d;
  }

  /** The PSU with this id (undefined for other kinds of device). */
  psu(id: string): Flatpack2PsuView | undefined {
    const d = this.devices.get(id);
    return d?.kind === 'flatpack2' ? d : undefined;
  }

  private changed(d: DeviceView): void {
    this.deviceChanged.publish(d);
  }

  private onFp2(bus: Fp2Bus, o: Fp2Observation): void {
    switch (o.kind) {
      case 'frame': {
        const f = o.frame;
        this.store.appendFrame({ ts: o.ts, link: bus.id, ...canFrameRecord(f, o.dir, o.msg.kind, o.serial ? psuDeviceId(o.serial) : null) });
        if (o.msg.kind === 'invalid') {
          this.record({ type: 'frame.invalid', busId: bus.id, data: { canId: f.id, reason: o.msg.reason } });
        }
        return;
      }
      case 'discovered': {
        const d = this.psuFor(bus, o.serial);
        d.addr = o.addr;
        this.store.upsertDevice({ id: d.id, kind: 'flatpack2', busId: bus.id, name: d.name, serial: o.serial, seenAt: o.ts, meta: { addr: o.addr } });
        this.record({ type: 'device.discovered', deviceId: d.id, busId: bus.id, data: { serial: o.serial, addr: o.addr } }, true);
        this.log.info({ bus: bus.id, device: d.id, addr: o.addr }, `PSU ${o.serial} found on ${bus.id}, logged in at address ${o.addr}`);
        this.changed(d);
        return;
      }
      case 'status': {
        const d = this.psuFor(bus, o.serial);
        const s = o.status;
        d.addr = o.addr;
        d.lastSeen = o.ts;
        d.outputVoltageV = s.voltageV;
        d.outputCurrentA = s.currentA;
        d.outputPowerW = Math.round(s.voltageV * s.currentA * 10) / 10;
        d.inputVoltageV = s.inputVoltageV;
        d.intakeTempC = s.intakeTempC;
        d.outputTempC = s.outputTempC;
        const alarmEdge = s.stateCode === 0x0c && d.stateCode !== 0x0c;
        d.state = s.state;
        d.stateCode = s.stateCode;
        if (alarmEdge) this.onAlarmEdge(bus, d);
        const values = {
          outputVoltageV: s.voltageV,
          outputCurrentA: s.currentA,
          outputPowerW: d.outputPowerW,
          inputVoltageV: s.inputVoltageV,
          intakeTempC: s.intakeTempC,
          outputTempC: s.outputTempC,
          state: s.state,
        };
        d.lastReading = { at: o.ts, ...values };
        if (bus.fallbackV !== null && d.fallbackAckV !== bus.fallbackV) this.ensureFallback(bus, d); // retries a lost ack
        this.recordSample(d.id, o.ts, values);
        this.changed(d);
        for (const c of this.chargersOn(bus.id)) c.onStatus(d.id);
        return;
      }
      case 'alerts': {
        const d = this.psuFor(bus, o.serial);
        const key = o.type === 'warnings' ? 'warnings' : 'alarms';
        const bitsKey = o.type === 'warnings' ? 'warningBits' : 'alarmBits';
        if (d[bitsKey] === o.bits) return;
        d[bitsKey] = o.bits;
        d[key] = o.names;
        this.record({ type: `psu.${o.type}`, deviceId: d.id, busId: bus.id, data: { bits: o.bits, names: o.names } }, true);
        if (o.names.length) this.log.warn({ device: d.id, [key]: o.names }, `PSU ${d.serial} ${o.type}: ${o.names.join(', ')}`);
        this.changed(d);
        return;
      }
      case 'default-voltage-ack': {
        const d = this.psuFor(bus, o.serial);
        d.fallbackAckV = o.voltageV;
        this.record({ type: 'psu.default-voltage.ack', deviceId: d.id, busId: bus.id, data: { voltageV: o.voltageV } }, true);
        this.changed(d);
        this.log.info({ device: d.id }, `PSU ${o.serial} confirmed power-on voltage ${o.voltageV.toFixed(2)} V`);
        return;
      }
      case 'online': {
        const d = this.psuFor(bus, o.serial);
        d.online = true;
        d.lastSeen = o.ts;
        this.store.upsertDevice({ id: d.id, kind: 'flatpack2', busId: bus.id, name: d.name, serial: o.serial, seenAt: o.ts, meta: { addr: d.addr } });
        this.record({ type: 'device.online', deviceId: d.id, busId: bus.id, data: {} }, true);
        this.changed(d);
        this.ensureFallback(bus, d);
        this.restore(bus, o.serial);
        for (const c of this.chargersOn(bus.id)) c.onPresence();
        return;
      }
      case 'offline': {
        const d = this.psuFor(bus, o.serial);
        d.online = false;
        markPsuStale(d);
        this.record({ type: 'device.offline', deviceId: d.id, busId: bus.id, data: { reason: o.reason } }, true);
        this.log.warn({ device: d.id, bus: bus.id }, `PSU ${o.serial} offline: ${o.reason}`);
        this.changed(d);
        for (const c of this.chargersOn(bus.id)) c.onPresence();
        return;
      }
      case 'obeying': {
        const ids = new Set(o.serials.map(psuDeviceId));
        for (const serial of o.serials) this.psuFor(bus, serial);
        const joined: Flatpack2PsuView[] = [];
        for (const d of this.psusOf(bus.id)) {
          const obeying = ids.has(d.id);
          if (d.obeying === obeying) continue;
          d.obeying = obeying;
          if (obeying) joined.push(d);
          this.changed(d);
        }
        // A PSU obeys from its login and runs at its power-on voltage until a SET arrives: give
        // it the bus's desired state now, not at its first status frame (restore stays out of a
        // charger's way; the charger re-shares below).
        for (const d of joined) this.restore(bus, d.serial);
        // A charger shares its current over exactly the PSUs that obey its broadcast.
        for (const c of this.chargersOn(bus.id)) c.onPresence();
        return;
      }
      case 'link': {
        if (bus.linkState === o.state && bus.linkDetail === o.detail) return;
        bus.linkState = o.state;
        bus.linkDetail = o.detail;
        this.record({ type: 'link.changed', busId: bus.id, data: { state: o.state, detail: o.detail } }, true);
        const msg = `CAN bus ${bus.id}: link ${o.state}${o.detail ? ` (${o.detail})` : ''}`;
        if (o.state === 'down') this.log.warn({ bus: bus.id }, `${msg}; retrying with backoff`);
        else this.log.info({ bus: bus.id }, msg);
        const back = o.state === 'up' ? this.psusOf(bus.id).find((p) => p.online) : undefined;
        if (back) this.restore(bus, back.serial);
        if (o.state === 'up') {
          for (const p of this.psusOf(bus.id)) if (p.online) this.ensureFallback(bus, p);
          for (const c of this.chargersOn(bus.id)) c.onPresence();
        }
        return;
      }
    }
  }

  /**
   * A PSU entered alarm (its output is off). Put the bus in standby so that when it recovers
   * it comes back at a safe idle output rather than the last setpoint (as the original did).
   * A charger that owns the bus handles the alarm itself.
   */
  private onAlarmEdge(bus: Fp2Bus, d: Flatpack2PsuView): void {
    this.record({ type: 'psu.alarm', deviceId: d.id, busId: bus.id, data: { stateCode: 0x0c } }, true);
    this.log.error({ device: d.id, bus: bus.id }, `PSU ${d.serial} ALARM: output off; putting ${bus.id} in standby`);
    if (this.psusOf(bus.id).some((p) => p.ownedBy !== null)) return;
    if (bus.setpoint?.standby) return;
    void this.applySetpoint('safety', [bus], FLATPACK2_STANDBY, true, d.id);
  }

  /** Writes a PSU's power-on voltage (EEPROM); it applies when the login lapses. */
  async setDefaultVoltage(origin: SetpointOrigin, deviceId: string, voltageV: number): Promise<{ ok: true; voltageV: number; sent: boolean } | { ok: false; code: GateCode; message: string }> {
    const d = this.psu(deviceId);
    const reject = (code: GateCode, message: string) => {
      this.record({ type: 'default-voltage.rejected', deviceId, data: { origin, voltageV, code, reason: message } }, true);
      return { ok: false as const, code, message };
    };
    // The fallback policy's own write makes the PSUs safer, so it goes out even while the store is down.
    const storage = checkStorageWritable(this.store.health, { standby: origin === 'safety' });
    if (!storage.ok) return reject(storage.code, storage.message);
    const avail = checkDeviceAvailable(deviceId, d && this.gateView(d), { origin });
    if (!avail.ok) return reject(avail.code, avail.message);
    const bus = this.buses.get(d!.busId);
    if (!bus) return reject('NOT_FOUND', `${deviceId} is on bus "${d!.busId}", which is not in the current config`);
    const g = checkDefaultVoltage(bus.limits, voltageV);
    if (!g.ok) return reject(g.code, g.message);
    if (bus.fallbackV !== null && g.value !== bus.fallbackV) {
      return reject(
        'OUT_OF_RANGE',
        `bus ${bus.id} keeps its PSUs' power-on voltage at ${bus.fallbackV.toFixed(2)} V (fallbackVoltageV, what they deliver at full current when unsupervised); change buses.${bus.id}.flatpack2.fallbackVoltageV in the config instead`,
      );
    }
    this.record({ type: 'default-voltage.accepted', deviceId, busId: bus.id, data: { origin, voltageV: g.value } }, true);
    const sent = await bus.driver.sendDefaultVoltage(d!.serial, g.value);
    this.record({ type: sent ? 'default-voltage.sent' : 'default-voltage.send-failed', deviceId, busId: bus.id, data: { voltageV: g.value } }, !sent);
    return { ok: true, voltageV: g.value, sent };
  }

  /**
   * Keeps a PSU's fallback (EEPROM) voltage at the bus's policy. The EEPROM wears: a write goes
   * out only when the last acknowledged value differs, and a lost ack is retried after a while.
   */
  private ensureFallback(bus: Fp2Bus, d: Flatpack2PsuView): void {
    const want = bus.fallbackV;
    if (want === null || bus.linkState !== 'up' || d.fallbackAckV === want) return;
    const last = bus.fallbackWriteAt.get(d.id);
    const now = this.clock.now();
    if (last !== undefined && now - last < FALLBACK_RETRY_MS) return;
    bus.fallbackWriteAt.set(d.id, now);
    this.log.info({ device: d.id, bus: bus.id }, `PSU ${d.serial}: setting its fallback voltage to ${want.toFixed(2)} V (was ${d.fallbackAckV?.toFixed(2) ?? 'unknown'})`);
    void this.setDefaultVoltage('safety', d.id, want);
  }

  /** The bus's fallback policy and which PSUs that may obey a SET have not confirmed it yet. */
  fallbackState(busId: string): { voltageV: number | null; pendingIds: string[] } {
    const bus = this.buses.get(busId);
    if (!bus || bus.fallbackV === null) return { voltageV: null, pendingIds: [] };
    // A read, also made by every charger view: writes and their retries happen on discovery and status frames.
    const pending = this.psusOf(busId).filter((p) => (p.online || p.obeying) && p.fallbackAckV !== bus.fallbackV);
    return { voltageV: bus.fallbackV, pendingIds: pending.map((p) => p.id) };
  }

  private restore(bus: Fp2Bus, serial: string): void {
    // Frames can arrive while the adapter is still being configured; a SET cannot go out
    // before the link is up, so the link's 'up' transition restores instead.
    if (bus.linkState !== 'up') return;
    const psuCfg = bus.cfg.psus[serial];
    const decision = decideRestore({
      now: this.clock.now(),
      runStartedAt: this.runStartedAt,
      setpoint: bus.setpoint,
      startup: psuCfg?.applyOnStart && psuCfg.startup ? psuCfg.startup : null,
      startupAlreadyApplied: bus.startupApplied.has(serial),
      lastRestoreAt: bus.lastRestoreReached.has(serial) ? bus.lastRestoreAt : null,
      ownedByCharger: this.psusOf(bus.id).some((p) => p.ownedBy !== null) || this.chargersOn(bus.id).some((c) => c.resumePending),
      chargerBus: this.chargersOn(bus.id).length > 0,
    });
    if (decision.action === 'none') return;
    if (decision.markStartupApplied) bus.startupApplied.add(serial);
    bus.lastRestoreAt = this.clock.now();
    bus.lastRestoreReached = new Set(bus.driver.obeying());
    void this.applySetpoint(decision.origin, [bus], { voltageV: decision.voltageV, currentA: decision.currentA }, decision.standby, psuDeviceId(serial));
  }

  /**
   * A PSU as the gate's interlock sees it: a charger that will resume a session a crash left
   * open owns its bus already, so a manual setpoint cannot slip in before the soft start.
   */
  private gateView(d: Flatpack2PsuView): Flatpack2PsuView {
    if (d.ownedBy) return d;
    const pending = this.chargersOn(d.busId).find((c) => c.resumePending);
    return pending ? { ...d, ownedBy: pending.id } : d;
  }

  private psusOf(busId: string): Flatpack2PsuView[] {
    return [...this.devices.values()].filter((d): d is Flatpack2PsuView => d.kind === 'flatpack2' && d.busId === busId);
  }

  /**
   * A manual or programmatic output request. `target` is a PSU id or "all". A Flatpack2 SET
   * is broadcast, so a request for one PSU applies to every PSU on its bus; the outcome lists
   * them all so nobody is surprised.
   */
  async setPsuOutput(origin: SetpointOrigin, target: string, req: { voltageV: number; currentA: number }, standby = false): Promise<SetpointOutcome> {
    const requested = this.record({
      type: 'setpoint.requested',
      deviceId: target === 'all' ? null : target,
      data: { origin, target, voltageV: req.voltageV, currentA: req.currentA, standby },
    });
    const reject = (code: GateCode, message: string, busId?: string): SetpointOutcome => {
      this.record(
        {
          type: 'setpoint.rejected',
          deviceId: target === 'all' ? null : target,
          busId: busId ?? null,
          data: { origin, target, voltageV: req.voltageV, currentA: req.currentA, standby, code, reason: message, requestId: requested.id },
        },
        true,
      );
      this.log.warn({ target, origin, code }, `setpoint rejected: ${message}`);
      return { ok: false, code, message };
    };

    const storage = checkStorageWritable(this.store.health, { standby });
    if (!storage.ok) return reject(storage.code, storage.message);

    let buses: Fp2Bus[];
    if (target === 'all') {
      // A standby is every bus's desired state, reachable or not; a setpoint needs a PSU online.
      buses = [...this.buses.values()].filter((b) => standby || this.psusOf(b.id).some((p) => p.online));
      if (!buses.length) return reject('DEVICE_OFFLINE', 'no PSU is online; wait for the PSUs to be discovered (devices { online })');
      // The gate's interlock, for every PSU the broadcast would reach (offline ones are skipped).
      for (const b of buses) {
        for (const p of this.psusOf(b.id)) {
          const g = checkDeviceAvailable(p.id, this.gateView(p), { origin });
          if (!g.ok && g.code === 'CHARGER_OWNS_PSU') return reject(g.code, g.message, b.id);
        }
      }
    } else {
      const d = this.psu(target);
      const avail = checkDeviceAvailable(target, d && this.gateView(d), { origin, standby });
      if (!avail.ok) return reject(avail.code, avail.message, d?.busId);
      const b = this.buses.get(d!.busId);
      if (!b) return reject('NOT_FOUND', `${target} is on bus "${d!.busId}", which is not in the current config`);
      buses = [b];
    }
    // Every bus is checked before any frame leaves: a request over several buses is all or nothing.
    for (const b of buses) {
      if (b.linkState !== 'up' && !standby) return reject('LINK_DOWN', `CAN bus ${b.id} is ${b.linkState} (${b.linkDetail}); the adapter is being reconnected`, b.id);
      const g = checkPsuSetpoint(b.limits, req);
      if (!g.ok) return reject(g.code, g.message, b.id);
    }
    return this.applySetpoint(origin, buses, req, standby, target === 'all' ? null : target);
  }

  /**
   * Standby is the panic button: if a charger drives the PSU(s), it is stopped first (with
   * the reason recorded) — a user reaching for standby must never be told "not now".
   */
  async standby(origin: SetpointOrigin, target: string): Promise<SetpointOutcome> {
    const busIds = target === 'all' ? [...this.buses.keys()] : [this.devices.get(target)?.busId].filter((b): b is string => !!b);
    // A session a crash left open counts too: its resume must not undo the standby.
    for (const c of this.chargers.values()) {
      if (busIds.includes(c.busId) && (c.activeSessionId || c.resumePending)) await c.stopCharge(origin, `standby requested (${origin})`);
    }
    return this.setPsuOutput(origin, target, FLATPACK2_STANDBY, true);
  }

  /** Gate-checked values go out here: the accepted event is on disk before the frame leaves. */
  private async applySetpoint(
    origin: SetpointOrigin,
    buses: Fp2Bus[],
    req: { voltageV: number; currentA: number },
    standby: boolean,
    deviceId: string | null,
    reason?: string,
  ): Promise<SetpointOutcome> {
    let last: SetpointOutcome | null = null;
    const allIds: string[] = [];
    // Every path that sets an output (API, charger, restore, startup) passes here.
    const storage = checkStorageWritable(this.store.health, { standby });
    if (!storage.ok) {
      this.record({ type: 'setpoint.rejected', busId: buses[0]?.id ?? null, deviceId, data: { origin, ...req, standby, code: storage.code, reason: storage.message } }, true);
      return { ok: false, code: storage.code, message: storage.message };
    }
    for (const b of buses) {
      const g = checkPsuSetpoint(b.limits, req);
      if (!g.ok) {
        this.record({ type: 'setpoint.rejected', busId: b.id, deviceId, data: { origin, ...req, standby, code: g.code, reason: g.message } }, true);
        return { ok: false, code: g.code, message: g.message };
      }
      const v = g.value;
      const ids = this.psusOf(b.id).map((p) => p.id);
      allIds.push(...ids);
      const at = this.clock.now();
      // Committed in the same fsynced transaction as the accepted event just below.
      this.store.putBusSetpoint({ busId: b.id, voltageV: v.voltageV, currentA: v.currentA, origin, at, standby });
      this.record(
        {
          type: 'setpoint.accepted',
          busId: b.id,
          deviceId,
          data: { origin, voltageV: v.voltageV, currentA: v.currentA, ovpV: v.ovpV, clamped: v.clamped, notes: g.notes, standby, deviceIds: ids, ...(reason ? { reason } : {}) },
        },
        true,
      );
      b.setpoint = { voltageV: v.voltageV, currentA: v.currentA, origin, at, standby };
      const sent = await b.driver.sendSet({ voltageV: v.voltageV, currentA: v.currentA, ovpV: v.ovpV, walkIn: b.cfg.walkIn });
      this.record(
        { type: sent ? 'setpoint.sent' : 'setpoint.send-failed', busId: b.id, deviceId, data: { origin, voltageV: v.voltageV, currentA: v.currentA } },
        !sent,
      );
      for (const id of ids) this.changed(this.devices.get(id)!);
      const what = standby ? 'standby' : `${v.voltageV.toFixed(2)} V / ${v.currentA.toFixed(1)} A`;
      const message =
        `${sent ? 'set' : 'accepted but not sent (link down; restored on reconnect)'} ${what} on ${b.id} ` +
        `(broadcast: applies to ${ids.length} PSU${ids.length === 1 ? '' : 's'})${g.notes.length ? '; ' + g.notes.join('; ') : ''}`;
      this.log.info({ bus: b.id, origin }, message);
      last = { ok: true, voltageV: v.voltageV, currentA: v.currentA, clamped: v.clamped, deviceIds: allIds.slice(), message, sent };
    }
    return last!;
  }
}

function psuReadingFromSample(at: number, v: Record<string, number | string | null>): PsuReadingView {
  const num = (k: string) => (typeof v[k] === 'number' ? (v[k] as number) : null);
  return {
    at,
    outputVoltageV: num('outputVoltageV'),
    outputCurrentA: num('outputCurrentA'),
    outputPowerW: num('outputPowerW'),
    inputVoltageV: num('inputVoltageV'),
    intakeTempC: num('intakeTempC'),
    outputTempC: num('outputTempC'),
    state: typeof v.state === 'string' ? v.state : null,
  };
}
