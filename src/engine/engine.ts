/**
 * The engine: the only place with policy, and it names no device family. Drivers report
 * observations in one envelope (src/families/contract.ts); the engine turns them into events,
 * samples and frame records in the store, runs each family's pure projection to get the
 * device views the API shows, and hands what happened to the controllers, which ask for
 * capabilities (a DC output bus, battery limits) rather than kinds. Every command passes the
 * command gate (gate.ts), the only maker of an admitted command.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { FrameRow, Store, StoredEvent, StoreHealth } from '../store/store.js';
import type { ChargerConfig } from '../config/schema.js';
import type { LinkState } from '../link/types.js';
import type { InspectedFrame, Observation } from '../families/contract.js';
import type { DeviceFamily, DeviceViewBase, FamilyLink } from '../families/types.js';
import type { LoadedFamilies } from '../families/registry.js';
import type { BatteryLimitsSource, DcOutputLimits, DcUnitView } from './capabilities.js';
import { Topic } from './pubsub.js';
import { withActor } from './actor.js';
import { admitFamilyCommand } from './gate.js';
import type { BusSetpoint } from './restore.js';
import { ChargeSessionStore } from '../store/sessions.js';
import { ChargerRuntime, type ChargerView } from './charger/runtime.js';
import { DEFAULT_CHARGER_SETTINGS, type ChargerSettings } from './charger/machine.js';
import { DcOutputController, type SetpointOrigin, type SetpointOutcome } from './controllers/dc-output.js';
import { Scheduler } from './scheduler/scheduler.js';
import { EvSessionController } from './controllers/ev-sessions.js';
import { Sampler, type SamplingRule } from './sampler.js';

export type { SetpointOrigin, SetpointOutcome } from './controllers/dc-output.js';

export interface SampleEvent {
  deviceId: string;
  ts: number;
  values: Record<string, number | string | null>;
}

export interface BusView {
  id: string;
  kind: string;
  /** How people call the link ("CAN bus", "inverter link"): the family's linkNoun. */
  linkNoun: string;
  linkState: LinkState;
  linkDetail: string;
  setpoint: BusSetpoint | null;
  limits: DcOutputLimits | null;
  stats: () => Record<string, number | string | null>;
}

type ViewChange = { prev: DeviceViewBase | undefined; next: DeviceViewBase };
/** No view changed (shared, never written: project() starts a new array for the first change). */
const NO_CHANGES: ViewChange[] = Object.freeze([]) as unknown as ViewChange[];

interface LinkEntry {
  id: string;
  kind: string;
  family: DeviceFamily;
  fl: FamilyLink;
  state: LinkState;
  detail: string;
  lastCorruptTotal: number;
}

export interface EngineOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  simulated: boolean;
  /** The device families the config uses (their stored devices are rebuilt at start). */
  families: LoadedFamilies;
  /** Which readings become stored samples (sampler.ts): the global rule, and per link with its per-device rules. */
  sampling?: { global?: SamplingRule; links?: Record<string, (SamplingRule & { devices?: Record<string, SamplingRule> }) | undefined> };
}

export class Engine {
  readonly events = new Topic<StoredEvent>();
  readonly samples = new Topic<SampleEvent>();
  readonly deviceChanged = new Topic<DeviceViewBase>();
  readonly chargerChanged = new Topic<ChargerView>();
  readonly sessions: ChargeSessionStore;
  readonly store: Store;
  readonly clock: Clock;
  readonly simulated: boolean;
  readonly runStartedAt: number;
  /** Everything that sets a DC output bus: setpoints, standby, restore, fallback policy. */
  readonly dc: DcOutputController;
  /** Scheduled jobs: their actions take the same command paths as a person's (scheduler/). */
  readonly scheduler: Scheduler;
  /** EV charge sessions of the devices whose family offers them (persisted with the charge sessions, kind 'ev'). */
  readonly ev: EvSessionController;
  private readonly log: Logger;
  private readonly devices = new Map<string, DeviceViewBase>();
  /** Decides which readings are stored as samples (live subscribers get every one). */
  private readonly sampler: Sampler;
  private readonly links = new Map<string, LinkEntry>();
  private readonly chargers = new Map<string, ChargerRuntime>();
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
    const sampling = opts.sampling ?? {};
    this.sampler = new Sampler((id) => {
      const busId = this.devices.get(id)?.busId;
      const link = busId !== undefined && busId !== null ? sampling.links?.[busId] : undefined;
      return [link?.devices?.[id], link, sampling.global];
    });
    this.sessions = new ChargeSessionStore(opts.store.db, (where, run) => opts.store.write(where, run));
    // The store reports a failed write from inside whatever call wrote (a driver callback, a
    // timer); the reaction runs right after that call, never inside it.
    this.unwatchStore = opts.store.watchHealth(() => queueMicrotask(() => this.onStoreHealth()));
    this.dc = new DcOutputController({
      clock: this.clock,
      log: this.log,
      store: this.store,
      runStartedAt: this.runStartedAt,
      record: (e, durable) => this.record(e, durable),
      link: (id) => {
        const l = this.links.get(id);
        return l ? { state: l.state, detail: l.detail, noun: l.family.linkNoun } : undefined;
      },
      units: (id) => this.unitsOn(id),
      unit: (id) => this.unit(id),
      changed: (id) => {
        const d = this.devices.get(id);
        if (d) this.deviceChanged.publish(d);
      },
      chargersOn: (id) => this.chargersOn(id),
      chargers: () => [...this.chargers.values()],
    });
    this.ev = new EvSessionController({
      clock: this.clock,
      log: this.log,
      sessions: this.sessions,
      record: (e, durable) => this.record(e, durable),
      nameOf: (id) => this.devices.get(id)?.name ?? id,
    });
    this.rebuildDevices(opts.families);
    this.scheduler = new Scheduler({ engine: this, store: this.store, clock: this.clock, log: this.log });
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
   * its own stop path, then every DC output bus set to standby (sent where the link is up,
   * remembered and restored on reconnect where it is not). Never throws; the events it records
   * stay in memory (and are published) when the store cannot write them.
   */
  async failSafe(reason: string): Promise<{ chargersStopped: string[]; busesInStandby: string[] }> {
    const chargersStopped: string[] = [];
    for (const c of this.chargers.values()) {
      try {
        const r = await c.stopCharge('safety', reason);
        if (r.ok) chargersStopped.push(c.id);
      } catch (err) {
        this.log.error({ charger: c.id, err: String(err) }, `charger ${c.id}: could not be stopped by the fail-safe (${String(err)}); switch its PSUs off by hand`);
      }
    }
    const busesInStandby = await this.dc.standbyAll(reason);
    this.record({ type: 'engine.fail-safe', data: { reason, chargersStopped, busesInStandby } }, true);
    this.log.error({ chargersStopped, busesInStandby }, `fail-safe: ${chargersStopped.length} charge(s) stopped, ${busesInStandby.length} bus(es) in standby (${reason})`);
    return { chargersStopped, busesInStandby };
  }

  /** Views from the store: every device ever seen of a loaded family, offline until heard. */
  private rebuildDevices(families: LoadedFamilies): void {
    const lastSamples = new Map(this.store.latestSamplePerDevice().map((s) => [s.deviceId, s]));
    for (const row of this.store.listDevices()) {
      const family = families.get(row.kind as never);
      if (!family) continue;
      const view = family.restoreView({
        row,
        lastSample: lastSamples.get(row.id) ?? null,
        latestEvent: (type) => this.store.latestEvent({ types: [type], deviceId: row.id }) ?? undefined,
      });
      this.devices.set(view.id, view);
    }
  }

  /** Views the engine rebuilt for a link (a family reads remembered addresses from them). */
  knownOn(linkId: string): DeviceViewBase[] {
    return [...this.devices.values()].filter((d) => d.busId === linkId);
  }

  /** A family's running part on one link: its driver's observations start flowing at `start`. */
  addLink(linkId: string, family: DeviceFamily, fl: FamilyLink): void {
    const entry: LinkEntry = { id: linkId, kind: family.kind, family, fl, state: 'connecting', detail: 'starting', lastCorruptTotal: 0 };
    this.links.set(linkId, entry);
    for (const v of this.knownOn(linkId)) if (fl.adopt) this.devices.set(v.id, fl.adopt(v));
    for (const v of fl.configuredViews()) {
      const existing = this.devices.get(v.id);
      // a device remembered on another link (its link was renamed) is adopted too: the config's values hold for it
      const moved = existing && existing.busId !== linkId && fl.adopt ? fl.adopt({ ...existing, busId: linkId }) : existing;
      this.devices.set(v.id, moved ? { ...moved, name: v.name, busId: linkId } : v);
    }
    if (fl.capabilities?.dcOutput) this.dc.addBus(fl.capabilities.dcOutput);
    fl.driver.onObservation((o) => this.observe(entry, o));
  }

  /** A charger on a DC output bus; its settings changed through the API in earlier runs win. */
  addCharger(cfg: ChargerConfig): ChargerRuntime {
    if (!this.dc.has(cfg.bus)) throw new Error(`charger ${cfg.id}: bus ${cfg.bus} is not configured`);
    // Settings changed through the API in an earlier run win over the config, and they must be
    // in force before the runtime decides anything (autoStart decides whether a crash resumes).
    const saved = this.store.latestEvent({ types: ['charger.settings'], deviceId: cfg.id });
    const savedSettings = (saved?.data.settings ?? null) as Partial<ChargerSettings> | null;
    const settings: ChargerSettings = { ...DEFAULT_CHARGER_SETTINGS, ...cfg.settings, ...(savedSettings ?? {}) };
    if (saved && savedSettings) {
      this.log.info({ charger: cfg.id }, `charger ${cfg.id}: using the settings last changed through the API (${new Date(saved.ts).toISOString()})`);
    }
    // The bus's fallback policy (the gate checked it against the pack when the config loaded).
    const fb = this.dc.useFallbackFor(cfg.bus, this.links.get(cfg.bus)?.fl.capabilities?.dcOutput?.fallbackVoltageV ?? undefined, settings.cellCount);
    if (!fb.ok) throw new Error(`charger ${cfg.id}: ${fb.message}`);
    for (const n of fb.notes) this.log.warn({ bus: cfg.bus }, `bus ${cfg.bus}: ${n}`);
    const runtime = new ChargerRuntime(cfg.id, cfg.name ?? cfg.id, cfg.bus, cfg.psus, settings, cfg.battery ?? null, {
      battery: (id) => this.batterySource(id),
      clock: this.clock,
      log: this.log,
      sessions: this.sessions,
      storage: () => this.store.health,
      record: (e, durable) => void this.record(e, durable),
      sample: (deviceId, ts, values) => this.recordSample(deviceId, ts, values),
      busPsus: (busId) => this.unitsOn(busId),
      limits: (busId) => this.dc.limits(busId)!,
      linkUp: (busId) => this.links.get(busId)?.state === 'up',
      fallback: (busId) => this.dc.fallbackState(busId),
      send: (busId, cmd) => this.dc.chargerCommand(busId, cmd),
      setOwner: (group, owned, owner) => {
        for (const id of group) {
          const d = this.unit(id);
          const want = owned.includes(id) ? owner : null;
          if (d && d.ownedBy !== want) {
            const next = { ...d, ownedBy: want };
            this.devices.set(id, next);
            this.deviceChanged.publish(next);
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
    // Asked for every reading of a DC output unit: no copy of the map when there is no charger.
    if (this.chargers.size === 0) return [];
    return [...this.chargers.values()].filter((c) => c.busId === busId);
  }

  start(): void {
    // Corrupt input is counted by the link's framer; surface increases as events (at most one
    // per link every 10 s) so a noisy cable shows up in the log without flooding it.
    this.corruptTimer = this.clock.setInterval(() => this.reportCorruption(), 10_000);
    for (const l of this.links.values()) l.fl.driver.start();
    for (const c of this.chargers.values()) c.start();
    this.scheduler.start();
  }

  stop(): void {
    this.scheduler.stop();
    this.clock.clearInterval(this.corruptTimer);
    for (const c of this.chargers.values()) c.stop();
    for (const l of this.links.values()) void l.fl.driver.stop();
    this.unwatchStore();
    try {
      this.store.flush();
    } catch (err) {
      this.log.error({ err: String(err) }, `stopping: the last events could not be written (${String(err)})`);
    }
  }

  private reportCorruption(): void {
    for (const l of this.links.values()) {
      const total = l.fl.corruptTotal();
      if (total > l.lastCorruptTotal) {
        this.record({ type: 'link.corrupt', busId: l.id, data: { ...l.fl.stats(), newSinceLast: total - l.lastCorruptTotal } });
        l.lastCorruptTotal = total;
      }
    }
  }

  /** Appends an event to the log and publishes it; durable events are on disk on return. */
  record(e: { type: string; deviceId?: string | null; busId?: string | null; data?: Record<string, unknown> }, durable = false): StoredEvent {
    const stored = this.store.appendEvent(withActor({ ts: this.clock.now(), ...e }), { durable });
    this.events.publish(stored);
    return stored;
  }

  /** A telemetry reading: out to live subscribers, and into the store (batched) when the sampler keeps it. */
  private recordSample(deviceId: string, ts: number, values: Record<string, number | string | null>): void {
    if (this.sampler.admit(deviceId, ts, values)) this.store.appendSample({ ts, deviceId, values });
    if (this.samples.size > 0) this.samples.publish({ deviceId, ts, values });
  }

  listDevices(): DeviceViewBase[] {
    return [...this.devices.values()];
  }

  /** A device's view; `V` names the family's view type where the caller knows the kind. */
  device<V extends DeviceViewBase = DeviceViewBase>(id: string): V | undefined {
    return this.devices.get(id) as V | undefined;
  }

  /** A unit of a DC output bus (undefined for devices that are not). */
  unit(id: string): DcUnitView | undefined {
    const d = this.devices.get(id);
    return d && this.links.get(d.busId)?.fl.capabilities?.dcOutput ? (d as DeviceViewBase as DcUnitView) : undefined;
  }

  private unitsOn(busId: string): DcUnitView[] {
    if (!this.links.get(busId)?.fl.capabilities?.dcOutput) return [];
    return [...this.devices.values()].filter((d) => d.busId === busId) as DeviceViewBase[] as DcUnitView[];
  }

  /** The battery-limits capability of a device, where its family offers one. */
  batterySource(id: string): BatteryLimitsSource | undefined {
    const d = this.devices.get(id);
    const make = d ? this.links.get(d.busId)?.fl.capabilities?.batteries : undefined;
    return (d && make?.(d)) || undefined;
  }

  listBuses(): BusView[] {
    return [...this.links.values()].map((l) => ({
      id: l.id,
      kind: l.kind,
      linkNoun: l.family.linkNoun,
      linkState: l.state,
      linkDetail: l.detail,
      setpoint: this.dc.setpoint(l.id),
      limits: this.dc.limits(l.id) ?? null,
      stats: () => l.fl.stats(),
    }));
  }

  /** Devices of one kind (e.g. the batteries query). */
  devicesOfKind<V extends DeviceViewBase>(kind: string): V[] {
    return [...this.devices.values()].filter((d) => d.kind === kind) as V[];
  }

  /** The driver of the link a device is on (a family's API reaches its own driver's reads through it); null when unknown. */
  driverOf(deviceId: string): unknown {
    const d = this.devices.get(deviceId);
    return d ? (this.links.get(d.busId)?.fl.driver ?? null) : null;
  }

  /** A device's current view, if any. */
  deviceView<V extends DeviceViewBase = DeviceViewBase>(deviceId: string): V | null {
    return (this.devices.get(deviceId) as V | undefined) ?? null;
  }

  /** Latest frame per address on a link, decoded: the raw frame inspector (null where the family keeps none). */
  latestFrames(linkId: string): InspectedFrame[] | null {
    return this.links.get(linkId)?.fl.latestFrames?.() ?? null;
  }

  busSetpoint(busId: string): BusSetpoint | null {
    return this.dc.setpoint(busId);
  }

  // ---- commands ----

  /** A manual or programmatic DC output request (see DcOutputController.setOutput). */
  setPsuOutput(origin: SetpointOrigin, target: string, req: { voltageV: number; currentA: number }, standby = false): Promise<SetpointOutcome> {
    return this.dc.setOutput(origin, target, req, standby);
  }

  /** Standby is the panic button (see DcOutputController.standby). */
  standby(origin: SetpointOrigin, target: string): Promise<SetpointOutcome> {
    return this.dc.standby(origin, target);
  }

  setDefaultVoltage(origin: SetpointOrigin, deviceId: string, voltageV: number) {
    return this.dc.setDefaultVoltage(origin, deviceId, voltageV);
  }

  fallbackState(busId: string): { voltageV: number | null; pendingIds: string[] } {
    return this.dc.fallbackState(busId);
  }

  /**
   * A family command to one device: the family's page of the gate admits it (the only way to
   * an admitted command), the request and the outcome are events, and the driver carries it out.
   */
  async command<C>(
    origin: SetpointOrigin,
    deviceId: string,
    cmd: C,
    check: (cmd: C, ctx: { device: DeviceViewBase }) => { ok: true; value: C; notes: string[] } | { ok: false; code: import('../codes.js').Code; message: string },
    describe: string,
  ) {
    const d = this.devices.get(deviceId);
    const link = d ? this.links.get(d.busId) : undefined;
    this.record({ type: 'command.requested', deviceId, busId: d?.busId ?? null, data: { origin, command: describe } });
    const refuse = (code: import('../codes.js').Code, message: string) => {
      this.record({ type: 'command.rejected', deviceId, busId: d?.busId ?? null, data: { origin, command: describe, code, reason: message } }, true);
      return { ok: false as const, code, message };
    };
    if (!d || !link) return refuse('NOT_FOUND', `no device "${deviceId}"; query devices { id } for the ids`);
    if (link.state !== 'up') return refuse('LINK_DOWN', `${d.name}: its link ${link.id} is ${link.state} (${link.detail}); it is being reconnected`);
    if (!d.online) return refuse('DEVICE_OFFLINE', `${d.name} has not been heard from recently; a command would not reach it`);
    const a = admitFamilyCommand(check, cmd, { device: d });
    if (!a.ok) return refuse(a.code, a.message);
    this.record({ type: 'command.accepted', deviceId, busId: d.busId, data: { origin, command: describe, notes: a.notes } }, true);
    const r = await link.fl.driver.execute(a.value);
    this.record({ type: r.ok ? 'command.done' : 'command.failed', deviceId, busId: d.busId, data: { origin, command: describe, ...(r.ok ? { sent: r.sent } : { code: r.code, reason: r.message }), readBack: r.readBack ?? null } }, true);
    return r;
  }

  // ---- observations ----

  /**
   * Runs the family's projection of `o` for device `id`; a changed view is stored and added to
   * `changes` (a new array in place of NO_CHANGES). Returns the changes.
   */
  private project(fl: FamilyLink, o: Observation<unknown>, id: string, changes: ViewChange[]): ViewChange[] {
    const prev = this.devices.get(id);
    const base = prev ?? fl.newView(id, o);
    if (!base) return changes;
    const next = fl.project(base, o);
    if (next === prev) return changes;
    this.devices.set(id, next);
    if (changes === NO_CHANGES) return [{ prev, next }];
    changes.push({ prev, next });
    return changes;
  }

  // The hot path (every frame, every reading): no closure, no spread per call.
  private observe(l: LinkEntry, o: Observation<unknown>): void {
    if (o.type === 'frame') {
      // Most observations are frames: the record goes to the store as it is (no row object).
      const f = o.frame;
      this.store.appendFrameRecord(o.at, l.id, f);
      if (o.invalid) this.record({ type: 'frame.invalid', busId: l.id, deviceId: f.deviceId, data: { address: f.address, reason: o.invalid } });
      return;
    }
    const fl = l.fl;
    // Most observations change no view (a reading): no array for them.
    let changes = NO_CHANGES;
    switch (o.type) {
      case 'link': {
        if (l.state === o.state && l.detail === o.detail) return;
        l.state = o.state;
        l.detail = o.detail;
        this.record({ type: 'link.changed', busId: l.id, data: { state: o.state, detail: o.detail } }, true);
        const msg = `${l.family.linkNoun} ${l.id}: link ${o.state}${o.detail ? ` (${o.detail})` : ''}`;
        if (o.state === 'down') this.log.warn({ bus: l.id }, `${msg}; retrying with backoff`);
        else this.log.info({ bus: l.id }, msg);
        break;
      }
      case 'identity': {
        changes = this.project(fl, o, o.deviceId, changes);
        const d = this.devices.get(o.deviceId);
        const { serial, ...meta } = o.identity;
        this.store.upsertDevice({ id: o.deviceId, kind: l.kind, busId: l.id, name: d?.name ?? null, serial: typeof serial === 'string' ? serial : null, seenAt: o.at, meta });
        if (o.event) this.record({ type: o.event.type, deviceId: o.deviceId, busId: l.id, data: o.event.data }, o.event.durable);
        break;
      }
      case 'presence': {
        changes = this.project(fl, o, o.deviceId, changes);
        const d = this.devices.get(o.deviceId);
        if (!d) return;
        if (o.online) this.store.upsertDevice({ id: d.id, kind: l.kind, busId: l.id, name: d.name, serial: (d as { serial?: string }).serial ?? null, seenAt: o.at });
        this.record({ type: o.online ? 'device.online' : 'device.offline', deviceId: d.id, busId: l.id, data: o.reason ? { reason: o.reason } : {} }, true);
        if (!o.online) this.log.warn({ device: d.id, bus: l.id }, `${d.name} offline: ${o.reason ?? 'not heard from'}`);
        break;
      }
      case 'reading':
        changes = this.project(fl, o, o.deviceId, changes);
        if (o.sample !== false && this.devices.has(o.deviceId)) this.recordSample(o.deviceId, o.at, o.values);
        break;
      case 'flags':
        changes = this.project(fl, o, o.deviceId, changes);
        for (const ch of o.changes) {
          this.record({ type: `${l.family.eventPrefix}.flag.${ch.active ? 'raised' : 'cleared'}`, deviceId: o.deviceId, busId: l.id, data: { group: ch.group, name: ch.name, ...(ch.text ? { text: ch.text } : {}) } }, true);
        }
        break;
      case 'reply':
        changes = this.project(fl, o, o.deviceId, changes);
        break;
      case 'fact':
        if (o.deviceId === null) {
          for (const id of o.mentions ?? []) if (!this.devices.has(id)) changes = this.project(fl, o, id, changes);
          for (const d of [...this.devices.values()]) if (d.busId === l.id && !changes.some((c) => c.next.id === d.id)) changes = this.project(fl, o, d.id, changes);
        } else {
          changes = this.project(fl, o, o.deviceId, changes);
        }
        if (o.event) this.record({ type: o.event.type, deviceId: o.deviceId, busId: l.id, data: o.event.data }, o.event.durable);
        break;
    }
    for (const c of changes) this.deviceChanged.publish(c.next);
    // Controllers, by capability.
    if (fl.capabilities?.dcOutput) this.dc.observed(l.id, o, changes as Array<{ prev: DcUnitView | undefined; next: DcUnitView }>);
    if (fl.capabilities?.evSessions) this.ev.observed(l.id, fl.capabilities.evSessions, o);
    if (fl.capabilities?.batteries && (o.type === 'fact' || o.type === 'presence')) {
      for (const { next } of changes) {
        const src = fl.capabilities.batteries(next);
        if (!src) continue;
        const limits = src.online() ? src.limits() : null;
        if (o.type === 'presence' && !o.online) for (const c of this.chargersOfBattery(next.id)) c.onBms(null);
        else if (o.type === 'fact' && limits) for (const c of this.chargersOfBattery(next.id)) c.onBms(limits);
      }
    }
  }

  private chargersOfBattery(batteryId: string): ChargerRuntime[] {
    return [...this.chargers.values()].filter((c) => c.batteryId === batteryId);
  }
}
