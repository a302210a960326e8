/**
 * The session with one battery BMS on its own CAN bus (bms-can.md): decode every frame in the
 * configured dialect, merge the stack and per-module frames into one battery snapshot, report
 * flag changes, an offline watchdog for the stack and for each module, and (optionally) the
 * inverter's 0x305 heartbeat. It owns no policy: it never decides what to charge.
 *
 * Choices (documented so the engine and the tests can rely on them):
 * - Every frame, valid or not, is a `frame` observation; a frame the codec calls `invalid`
 *   additionally yields `invalid` and never reaches the snapshot.
 * - `state` is coalesced: at most one per `stateCoalesceMs` (100 ms), emitted that long after
 *   the first change, so one 1-s burst gives one snapshot instead of ~30.
 * - Currents are + = charging in both dialects (the codec normalises the wire sign).
 * - Per-module frames are accepted from the first one on, before any 0x364 (the seed drops
 *   them; bms-can-simulation.md §2 says not to copy that). 0x364 byte 4 only adds modules that
 *   have not been heard yet to the snapshot (all null, offline).
 * - `online` needs a valid stack frame (0x351–0x371); per-module frames alone keep only their
 *   module online. A link that goes down takes the stack and every module offline at once.
 * - Dialect check (bms-can.md §1, §3.7): the 0x35E identity names the maker ("DY…" = deye,
 *   "PYLON" = pylontech). Every time the stack comes online the check starts `pending`; the
 *   first 0x35E makes it `confirmed` (same dialect as configured), `mismatch` (the other one) or
 *   `unverified` (a maker that names neither); `identityWaitMs` (10 s: ten 1-s bursts, both
 *   dialects send 0x35E in every burst) of stack frames without any 0x35E also makes it
 *   `unverified`. Before any 0x35E, frames only the other dialect sends also make it
 *   `mismatch` (checkWireEvidence); once a 0x35E is heard it decides. Each change is a
 *   `dialect` observation and part of the snapshot. The driver keeps decoding in the configured
 *   dialect: what a mismatch means for charging is policy (src/families/bms/policy.ts).
 * - The heartbeat is sent only while the link is up and only while no other node's 0x305 has
 *   been heard in the last 3 periods: a passive reader must not talk over a real inverter
 *   (§3.10). Payload: the Deye time format (UTC fields) or eight zero bytes.
 */
import { SilenceWatchdog, type Clock, type TimerHandle } from '../../clock.js';
import type { CanFrame } from '../can/types.js';
import type { LinkState } from '../can/adapter.js';
import type { CanLink } from '../can/types.js';
import {
  BMS_ID,
  decodeBms,
  encodeHeartbeat,
  MODULE_BASE,
  moduleOfId,
  isModuleMessage,
  STACK_KINDS,
  type BmsDialect,
  type BmsMessage,
  type BmsMessageOf,
  type ModuleFaultLevel,
  type ModuleMode,
  type MosState,
} from './codec.js';

export interface BmsModuleSnapshot {
  /** 1-based module number (BmsAddr; 1 = master). */
  index: number;
  online: boolean;
  lastSeenAt: number | null;
  voltageV: number | null;
  /** + = charging. */
  currentA: number | null;
  socPct: number | null;
  sohPct: number | null;
  cellHighV: number | null;
  cellLowV: number | null;
  cellDeltaV: number | null;
  tempsC: { cellHigh: number | null; cellLow: number | null; mos: number | null; heater: number | null };
  chargeCurrentLimitA: number | null;
  dischargeCurrentLimitA: number | null;
  mode: ModuleMode | null;
  faultLevel: ModuleFaultLevel | null;
  cycles: number | null;
  balancingCells: number[] | null;
  chargedKWh: number | null;
  dischargedKWh: number | null;
  protections: string[] | null;
  alarms: string[] | null;
  mos: MosState | null;
  softwareVersion: string | null;
  bootVersion: string | null;
  /** Both 8-character halves once heard (either alone is shown with '?' for the other). */
  serial: string | null;
  tripCounts: {
    overCharge: number;
    overDischarge: number;
    shortCircuit: number;
    mosOverTemp: number;
    chargeOverCurrent: number | null;
    dischargeOverCurrent: number | null;
    chargeOverTemp: number | null;
    dischargeOverTemp: number | null;
  } | null;
}

export type DialectStatus = 'pending' | 'confirmed' | 'mismatch' | 'unverified';

/** What the 0x35E identity says about the dialect we decode with. */
export interface DialectCheck {
  configured: BmsDialect;
  /** The dialect the 0x35E maker implies; null while not heard or when it names neither. */
  detected: BmsDialect | null;
  /** The 0x35E text ("DY001", "PYLON"), null while not heard since the stack came online. */
  maker: string | null;
  status: DialectStatus;
  /** Clock time the status began. */
  since: number | null;
  /** For people: what was seen and what to do. */
  reason: string;
}

/** The merged stack state; null = not heard yet. */
export interface BatterySnapshot {
  /** The configured dialect, the one every frame is decoded with. */
  dialect: BmsDialect;
  dialectCheck: DialectCheck;
  online: boolean;
  /** Clock time of the last valid stack frame. */
  lastSeenAt: number | null;
  socPct: number | null;
  sohPct: number | null;
  voltageV: number | null;
  /** + = charging. */
  currentA: number | null;
  powerW: number | null;
  tempC: number | null;
  cellHighV: number | null;
  cellLowV: number | null;
  cellDeltaV: number | null;
  cellTempHighC: number | null;
  cellTempLowC: number | null;
  chargeVoltageLimitV: number | null;
  chargeCurrentLimitA: number | null;
  dischargeCurrentLimitA: number | null;
  dischargeVoltageV: number | null;
  /** 0x371 (Deye). */
  onGridChargeCurrentLimitA: number | null;
  onGridDischargeCurrentLimitA: number | null;
  requestFlags: string[] | null;
  alarms: string[] | null;
  protections: string[] | null;
  /** 0x364 (Deye). */
  moduleCounts: { normal: number; chargeBlocked: number; dischargeBlocked: number; lost: number; total: number } | null;
  /** 0x35E; `dialect` is what the identity implies (compare with the configured one). */
  identity: { text: string; manufacturer: string; dialect: BmsDialect | null; cellType: string | null; capacityAh: number | null } | null;
  /** 0x363 (doc V3.3 reading). */
  versions: { software: string; hardware: string } | null;
  modules: BmsModuleSnapshot[];
}

export interface FlagChange {
  set: 'alarm' | 'protection' | 'request';
  name: string;
  active: boolean;
}

export type BmsObservation =
  | { kind: 'frame'; dir: 'rx' | 'tx'; frame: CanFrame; ts: number; msg: BmsMessage }
  | { kind: 'state'; ts: number; battery: BatterySnapshot }
  /** Active flags now ([] for a frame not heard yet) and what changed since the last one. */
  | { kind: 'flags'; ts: number; alarms: string[]; protections: string[]; requestFlags: string[]; changes: FlagChange[] }
  | { kind: 'invalid'; ts: number; frame: CanFrame; reason: string }
  /** The dialect check changed (see DialectCheck). */
  | { kind: 'dialect'; ts: number; check: DialectCheck }
  | { kind: 'online'; ts: number; reason: string }
  | { kind: 'offline'; ts: number; reason: string }
  | { kind: 'module-online'; ts: number; index: number }
  | { kind: 'module-offline'; ts: number; index: number; reason: string }
  | { kind: 'link'; ts: number; state: LinkState; detail: string };

export interface BmsDriverOptions {
  link: CanLink;
  clock: Clock;
  dialect: BmsDialect;
  /** No valid stack frame for this long = offline. Default 10 s. */
  offlineAfterMs?: number;
  /** No frame of a module for this long = that module offline. Default 5 s (5 missed bursts). */
  moduleOfflineAfterMs?: number;
  /** Send the inverter heartbeat 0x305 at this period while the link is up; null/absent = never. */
  heartbeatMs?: number | null;
  heartbeatPayload?: 'time' | 'zeros';
  /** Default 100 ms. */
  stateCoalesceMs?: number;
  /** Reopen the adapter when no frame at all arrives for this long after traffic was seen; default off. */
  linkWatchdogMs?: number | null;
  /** Stack frames for this long without any 0x35E identity: dialect `unverified`. Default 10 s. */
  identityWaitMs?: number;
}

export interface LatestFrame {
  canId: number;
  extended: boolean;
  dir: 'rx' | 'tx';
  data: Uint8Array;
  decoded: BmsMessage;
  seenAt: number;
  /** Frames seen with this id and direction since start. */
  count: number;
}

type StackKind = Exclude<BmsMessage['kind'], 'unknown' | 'invalid'>;

interface ModuleState {
  index: number;
  online: boolean;
  lastSeenAt: number | null;
  msgs: Map<string, BmsMessage>;
}

const DEFAULT_OFFLINE_MS = 10_000;
const DEFAULT_MODULE_OFFLINE_MS = 5000;
const DEFAULT_COALESCE_MS = 100;
const DEFAULT_IDENTITY_WAIT_MS = 10_000;
/** Stack ids only the Deye dialect defines (bms-can.md §1, §2), and module bases it always sends. */
const DEYE_ONLY_STACK_IDS: ReadonlySet<number> = new Set([BMS_ID.CELL_EXTREMES, BMS_ID.VERSIONS, BMS_ID.MODULE_COUNTS, BMS_ID.ON_GRID_LIMITS]);
const DEYE_MODULE_EVIDENCE: ReadonlySet<number> = new Set([MODULE_BASE.FAULTS, MODULE_BASE.STATUS, MODULE_BASE.CELLS, MODULE_BASE.TEMPS_LIMITS, MODULE_BASE.STATE]);
const WATCHDOG_TICK_MS = 250;
const FOREIGN_HEARTBEAT_PERIODS = 3;

export class BmsDriver {
  private readonly link: CanLink;
  private readonly clock: Clock;
  private dialectNow: BmsDialect;
  private readonly offlineAfterMs: number;
  private readonly moduleOfflineAfterMs: number;
  private readonly coalesceMs: number;
  private readonly listeners = new Set<(o: BmsObservation) => void>();
  private readonly unsubscribe: Array<() => void> = [];
  private readonly stack = new Map<StackKind, BmsMessage>();
  private readonly modules = new Map<number, ModuleState>();
  private readonly latest = new Map<string, LatestFrame>();
  private expectedModules = 0;
  private online = false;
  private lastStackAt: number | null = null;
  private lastForeignHeartbeatAt: number | null = null;
  private flags = { alarms: [] as string[], protections: [] as string[], requestFlags: [] as string[] };
  private dialectCheck: DialectCheck;
  private onlineSince: number | null = null;
  private stateTimer: TimerHandle | undefined;
  /** Stack ('stack'), modules ('module:N') and any frame ('rx'), silence counted only while the loop can read. */
  private readonly silence: SilenceWatchdog;
  private heartbeatTimer: TimerHandle | undefined;
  private started = false;

  constructor(private readonly opts: BmsDriverOptions) {
    this.link = opts.link;
    this.clock = opts.clock;
    this.dialectNow = opts.dialect;
    this.offlineAfterMs = opts.offlineAfterMs ?? DEFAULT_OFFLINE_MS;
    this.moduleOfflineAfterMs = opts.moduleOfflineAfterMs ?? DEFAULT_MODULE_OFFLINE_MS;
    this.coalesceMs = opts.stateCoalesceMs ?? DEFAULT_COALESCE_MS;
    this.dialectCheck = pendingCheck(opts.dialect, null, 'the BMS has not been heard yet');
    const hb = opts.heartbeatMs;
    if (hb !== undefined && hb !== null && !(hb > 0)) throw new RangeError(`BmsDriver: heartbeatMs must be > 0 or null, got ${hb}`);
    this.silence = new SilenceWatchdog({ clock: this.clock, tickMs: WATCHDOG_TICK_MS, check: () => this.watchdog() });
  }

  get busId(): string {
    return this.link.busId;
  }

  get dialect(): BmsDialect {
    return this.dialectNow;
  }

  /** Decode from now on in another dialect; the dialect check starts over (pending until the next 0x35E). */
  setDialect(dialect: BmsDialect): void {
    this.dialectNow = dialect;
    this.setDialectCheck(pendingCheck(dialect, this.clock.now(), `decoding as ${dialect} now; waiting for the 0x35E identity`), this.clock.now());
  }

  onObservation(cb: (o: BmsObservation) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribe.push(
      this.link.onFrame((f, ts) => this.handleRx(f, ts)),
      this.link.onTx((f, ts) => {
        const msg = decodeBms(f, this.dialectNow);
        this.remember(f, 'tx', msg, ts);
        this.emit({ kind: 'frame', dir: 'tx', frame: f, ts, msg });
      }),
      this.link.onState((state, detail) => this.handleLinkState(state, detail)),
    );
    this.silence.start();
    const hb = this.opts.heartbeatMs;
    if (hb) this.heartbeatTimer = this.clock.setInterval(() => this.heartbeat(), hb);
  }

  stop(): void {
    this.started = false;
    this.silence.stop();
    this.clock.clearInterval(this.heartbeatTimer);
    this.clock.clearTimeout(this.stateTimer);
    this.heartbeatTimer = this.stateTimer = undefined;
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** The latest frame per CAN id and direction, by id (for a raw frame inspector). */
  latestFrames(): LatestFrame[] {
    return [...this.latest.values()]
      .sort((a, b) => a.canId - b.canId || Number(a.extended) - Number(b.extended) || a.dir.localeCompare(b.dir))
      .map((f) => ({ ...f, data: new Uint8Array(f.data) }));
  }

  snapshot(): BatterySnapshot {
    const get = <K extends StackKind>(k: K) => this.stack.get(k) as BmsMessageOf<K> | undefined;
    const limits = get('charge-limits');
    const soc = get('soc');
    const meas = get('measurements');
    const alarms = get('alarms');
    const req = get('requests');
    const id = get('identity');
    const cells = get('cell-extremes');
    const versions = get('versions');
    const counts = get('module-counts');
    const onGrid = get('on-grid-limits');
    const indexes = new Set(this.modules.keys());
    for (let i = 1; i <= this.expectedModules; i++) indexes.add(i);
    return {
      dialect: this.dialectNow,
      dialectCheck: { ...this.dialectCheck },
      online: this.online,
      lastSeenAt: this.lastStackAt,
      socPct: soc?.socPct ?? null,
      sohPct: soc?.sohPct ?? null,
      voltageV: meas?.voltageV ?? null,
      currentA: meas?.currentA ?? null,
      powerW: meas ? Number((meas.voltageV * meas.currentA).toFixed(1)) : null,
      tempC: meas?.tempC ?? null,
      cellHighV: cells?.cellHighV ?? null,
      cellLowV: cells?.cellLowV ?? null,
      cellDeltaV: cells?.cellDeltaV ?? null,
      cellTempHighC: cells?.tempHighC ?? null,
      cellTempLowC: cells?.tempLowC ?? null,
      chargeVoltageLimitV: limits?.chargeVoltageLimitV ?? null,
      chargeCurrentLimitA: limits?.chargeCurrentLimitA ?? null,
      dischargeCurrentLimitA: limits?.dischargeCurrentLimitA ?? null,
      dischargeVoltageV: limits?.dischargeVoltageV ?? null,
      onGridChargeCurrentLimitA: onGrid?.chargeCurrentLimitA ?? null,
      onGridDischargeCurrentLimitA: onGrid?.dischargeCurrentLimitA ?? null,
      requestFlags: req ? [...req.flags] : null,
      alarms: alarms ? [...alarms.alarms] : null,
      protections: alarms ? [...alarms.protections] : null,
      moduleCounts: counts ? { normal: counts.normal, chargeBlocked: counts.chargeBlocked, dischargeBlocked: counts.dischargeBlocked, lost: counts.lost, total: counts.total } : null,
      identity: id ? { text: id.text, manufacturer: id.manufacturer, dialect: id.dialect, cellType: id.cellType, capacityAh: id.capacityAh } : null,
      versions: versions ? { software: versions.software, hardware: versions.hardware } : null,
      modules: [...indexes].sort((a, b) => a - b).map((i) => this.moduleSnapshot(i)),
    };
  }

  // ---- receive ---------------------------------------------------------------------------

  private handleRx(frame: CanFrame, ts: number): void {
    this.silence.heard('rx');
    const msg = decodeBms(frame, this.dialectNow);
    this.remember(frame, 'rx', msg, ts);
    this.emit({ kind: 'frame', dir: 'rx', frame, ts, msg });
    this.checkWireEvidence(frame, msg, ts);
    switch (msg.kind) {
      case 'invalid':
        this.emit({ kind: 'invalid', ts, frame, reason: msg.reason });
        return;
      case 'unknown':
      case 'usb-control':
        return;
      case 'heartbeat':
        // Another node (a real inverter) keeps the BMS alive: ours must stay quiet.
        this.lastForeignHeartbeatAt = ts;
        return;
      default:
        break;
    }
    if (isModuleMessage(msg)) {
      this.handleModule(msg, ts);
    } else if (STACK_KINDS.has(msg.kind)) {
      this.handleStack(msg as Exclude<BmsMessage, { kind: 'unknown' | 'invalid' }>, frame, ts);
    }
    this.scheduleState();
  }

  private handleStack(msg: Exclude<BmsMessage, { kind: 'unknown' | 'invalid' }>, frame: CanFrame, ts: number): void {
    this.lastStackAt = ts;
    this.silence.heard('stack');
    this.stack.set(msg.kind, msg);
    if (!this.online) {
      this.online = true;
      this.onlineSince = ts;
      this.emit({ kind: 'online', ts, reason: `BMS frame 0x${frame.id.toString(16).toUpperCase()} heard` });
    }
    if (msg.kind === 'identity') this.checkIdentity(msg, ts);
    if (msg.kind === 'module-counts') this.expectedModules = msg.total;
    if (msg.kind === 'alarms') this.updateFlags({ alarms: msg.alarms, protections: msg.protections }, ts);
    if (msg.kind === 'requests') this.updateFlags({ requestFlags: msg.flags }, ts);
  }

  private handleModule(msg: Extract<BmsMessage, { module: number }>, ts: number): void {
    let m = this.modules.get(msg.module);
    if (!m) {
      m = { index: msg.module, online: false, lastSeenAt: null, msgs: new Map() };
      this.modules.set(msg.module, m);
    }
    m.lastSeenAt = ts;
    this.silence.heard(`module:${m.index}`);
    // The two serial halves share a kind; keep both.
    m.msgs.set(msg.kind === 'module-serial' ? `module-serial:${msg.part}` : msg.kind, msg);
    if (!m.online) {
      m.online = true;
      this.emit({ kind: 'module-online', ts, index: m.index });
    }
  }

  private checkIdentity(id: BmsMessageOf<'identity'>, ts: number): void {
    const configured = this.dialectNow;
    const cur = this.dialectCheck;
    if (cur.maker === id.text && cur.detected === id.dialect && cur.status !== 'pending') return;
    const next: DialectCheck =
      id.dialect === configured
        ? { configured, detected: id.dialect, maker: id.text, status: 'confirmed', since: ts, reason: `0x35E "${id.text}" confirms the ${configured} dialect` }
        : id.dialect !== null
          ? {
              configured,
              detected: id.dialect,
              maker: id.text,
              status: 'mismatch',
              since: ts,
              reason: `the BMS identifies as "${id.text}" (0x35E), which speaks the ${id.dialect} dialect, but it is configured as ${configured}: its current sign and alarm bits are being misread - set "dialect: ${id.dialect}" for this BMS and restart`,
            }
          : {
              configured,
              detected: null,
              maker: id.text,
              status: 'unverified',
              since: ts,
              reason: `0x35E names "${id.text || '(no printable text)'}", neither DY (deye) nor PYLON (pylontech): the configured ${configured} dialect cannot be verified`,
            };
    this.setDialectCheck(next, ts);
  }

  /**
   * Before any 0x35E: frames only the other dialect sends are a mismatch too (a Deye stack's
   * 0x361/0x364/0x371 and per-module frames on a pylontech config; a 7-byte 0x359 with the
   * Pylontech "PN" marker on a deye config). Once a 0x35E has been heard, it decides.
   */
  private checkWireEvidence(frame: CanFrame, msg: BmsMessage, ts: number): void {
    const c = this.dialectCheck;
    if (!this.online || c.maker !== null || c.status === 'mismatch' || frame.extended || frame.remote) return;
    const configured = this.dialectNow;
    let other: { dialect: BmsDialect; what: string } | null = null;
    if (configured === 'pylontech' && msg.kind === 'unknown') {
      const mod = moduleOfId(frame.id);
      if (DEYE_ONLY_STACK_IDS.has(frame.id) || (mod && DEYE_MODULE_EVIDENCE.has(mod.base))) other = { dialect: 'deye', what: `frame 0x${frame.id.toString(16).toUpperCase()}` };
    } else if (configured === 'deye' && msg.kind === 'alarms' && frame.data.length === 7 && frame.data[5] === 0x50 && frame.data[6] === 0x4e) {
      other = { dialect: 'pylontech', what: 'a 7-byte 0x359 with the "PN" marker' };
    }
    if (!other) return;
    this.setDialectCheck(
      {
        configured,
        detected: other.dialect,
        maker: null,
        status: 'mismatch',
        since: ts,
        reason: `no 0x35E identity yet, but the BMS sends ${other.what}, which only the ${other.dialect} dialect has, while it is configured as ${configured}: its current sign and alarm bits are being misread - set "dialect: ${other.dialect}" for this BMS and restart`,
      },
      ts,
    );
  }

  private setDialectCheck(next: DialectCheck, ts: number): void {
    const cur = this.dialectCheck;
    this.dialectCheck = next;
    if (cur.status === next.status && cur.detected === next.detected && cur.maker === next.maker) return;
    this.emit({ kind: 'dialect', ts, check: { ...next } });
    this.scheduleState();
  }

  private updateFlags(next: Partial<BmsDriver['flags']>, ts: number): void {
    const prev = this.flags;
    const now = { ...prev, ...next };
    const changes: FlagChange[] = [
      ...diff('alarm', prev.alarms, now.alarms),
      ...diff('protection', prev.protections, now.protections),
      ...diff('request', prev.requestFlags, now.requestFlags),
    ];
    if (changes.length === 0) return;
    this.flags = { alarms: [...now.alarms], protections: [...now.protections], requestFlags: [...now.requestFlags] };
    this.emit({ kind: 'flags', ts, ...this.flags, changes });
  }

  private remember(frame: CanFrame, dir: 'rx' | 'tx', msg: BmsMessage, ts: number): void {
    const key = `${dir}:${frame.extended ? 'x' : 's'}:${frame.id}`;
    const prev = this.latest.get(key);
    this.latest.set(key, {
      canId: frame.id,
      extended: frame.extended,
      dir,
      data: new Uint8Array(frame.data),
      decoded: msg,
      seenAt: ts,
      count: (prev?.count ?? 0) + 1,
    });
  }

  // ---- timers ----------------------------------------------------------------------------

  private scheduleState(): void {
    if (this.stateTimer !== undefined || !this.started) return;
    this.stateTimer = this.clock.setTimeout(() => {
      this.stateTimer = undefined;
      this.emit({ kind: 'state', ts: this.clock.now(), battery: this.snapshot() });
    }, this.coalesceMs);
  }

  /** Runs after pending input was read; silences exclude time the event loop was stalled. */
  private watchdog(): void {
    const now = this.clock.now();
    const waitMs = this.opts.identityWaitMs ?? DEFAULT_IDENTITY_WAIT_MS;
    if (this.online && this.dialectCheck.status === 'pending' && this.onlineSince !== null && now - this.onlineSince >= waitMs) {
      const d = this.dialectNow;
      this.setDialectCheck(
        { configured: d, detected: null, maker: null, status: 'unverified', since: now, reason: `no 0x35E identity in ${secs(waitMs)} s of BMS frames: the configured ${d} dialect cannot be verified` },
        now,
      );
    }
    const stackSilent = this.silence.silentMs('stack');
    if (this.online && stackSilent !== null && stackSilent > this.offlineAfterMs) {
      this.goOffline(now, `no valid BMS frame for ${secs(stackSilent)} s`);
    }
    for (const m of this.modules.values()) {
      const silent = this.silence.silentMs(`module:${m.index}`);
      if (m.online && silent !== null && silent > this.moduleOfflineAfterMs) {
        m.online = false;
        this.emit({ kind: 'module-offline', ts: now, index: m.index, reason: `no frame from module ${m.index} for ${secs(silent)} s` });
        this.scheduleState();
      }
    }
    const wd = this.opts.linkWatchdogMs;
    const rxSilent = this.silence.silentMs('rx');
    if (wd && this.link.state === 'up' && rxSilent !== null && rxSilent > wd) {
      this.silence.heard('rx'); // one reconnect per silent period
      this.link.reconnect(`no CAN frame from the BMS for ${secs(wd)} s`);
    }
  }

  private goOffline(ts: number, reason: string): void {
    if (this.online) {
      this.online = false;
      this.onlineSince = null;
      this.emit({ kind: 'offline', ts, reason });
      // Whatever comes back may be another stack: the identity has to be heard again.
      this.setDialectCheck(pendingCheck(this.dialectNow, ts, `the BMS went offline (${reason}); waiting for its 0x35E identity again`), ts);
    }
    for (const m of this.modules.values()) {
      if (!m.online) continue;
      m.online = false;
      this.emit({ kind: 'module-offline', ts, index: m.index, reason });
    }
    this.scheduleState();
  }

  private heartbeat(): void {
    if (this.link.state !== 'up') return;
    const now = this.clock.now();
    const period = this.opts.heartbeatMs ?? 0;
    if (this.lastForeignHeartbeatAt !== null && now - this.lastForeignHeartbeatAt < FOREIGN_HEARTBEAT_PERIODS * period) return;
    void this.link.send(encodeHeartbeat(this.opts.heartbeatPayload === 'zeros' ? null : now));
  }

  private handleLinkState(state: LinkState, detail: string): void {
    const ts = this.clock.now();
    if (state === 'up') this.silence.heard('rx');
    else this.goOffline(ts, `CAN link ${state}: ${detail}`);
    this.emit({ kind: 'link', ts, state, detail });
  }

  private emit(o: BmsObservation): void {
    for (const l of this.listeners) l(o);
  }

  // ---- module view -----------------------------------------------------------------------

  private moduleSnapshot(index: number): BmsModuleSnapshot {
    const m = this.modules.get(index);
    const get = <K extends BmsMessage['kind']>(k: K) => m?.msgs.get(k) as BmsMessageOf<K> | undefined;
    const status = get('module-status');
    const cells = get('module-cells');
    const tl = get('module-temps-limits');
    const st = get('module-state');
    const faults = get('module-faults');
    const ver = get('module-version');
    const energy = get('module-energy');
    const s1 = m?.msgs.get('module-serial:1') as BmsMessageOf<'module-serial'> | undefined;
    const s2 = m?.msgs.get('module-serial:2') as BmsMessageOf<'module-serial'> | undefined;
    const t1 = get('module-trip-counts-1');
    const t2 = get('module-trip-counts-2');
    return {
      index,
      online: m?.online ?? false,
      lastSeenAt: m?.lastSeenAt ?? null,
      voltageV: status?.voltageV ?? null,
      currentA: status?.currentA ?? null,
      socPct: status?.socPct ?? null,
      sohPct: status?.sohPct ?? null,
      cellHighV: cells?.cellHighV ?? null,
      cellLowV: cells?.cellLowV ?? null,
      cellDeltaV: cells?.cellDeltaV ?? null,
      tempsC: { cellHigh: cells?.tempHighC ?? null, cellLow: cells?.tempLowC ?? null, mos: tl?.mosTempC ?? null, heater: tl?.heaterTempC ?? null },
      chargeCurrentLimitA: tl?.chargeCurrentLimitA ?? null,
      dischargeCurrentLimitA: tl?.dischargeCurrentLimitA ?? null,
      mode: st?.mode ?? null,
      faultLevel: st?.faultLevel ?? null,
      cycles: st?.cycles ?? null,
      balancingCells: st ? [...st.balancingCells] : null,
      chargedKWh: energy?.chargedKWh ?? null,
      dischargedKWh: energy?.dischargedKWh ?? null,
      protections: faults ? [...faults.protections] : null,
      alarms: faults ? [...faults.alarms] : null,
      mos: faults ? { ...faults.mos } : null,
      softwareVersion: ver?.software ?? null,
      bootVersion: ver?.boot ?? null,
      serial: s1 || s2 ? `${s1?.text ?? '????????'}${s2?.text ?? '????????'}` : null,
      tripCounts: t1
        ? {
            overCharge: t1.overCharge,
            overDischarge: t1.overDischarge,
            shortCircuit: t1.shortCircuit,
            mosOverTemp: t1.mosOverTemp,
            chargeOverCurrent: t2?.chargeOverCurrent ?? null,
            dischargeOverCurrent: t2?.dischargeOverCurrent ?? null,
            chargeOverTemp: t2?.chargeOverTemp ?? null,
            dischargeOverTemp: t2?.dischargeOverTemp ?? null,
          }
        : null,
    };
  }
}

function pendingCheck(configured: BmsDialect, ts: number | null, reason: string): DialectCheck {
  return { configured, detected: null, maker: null, status: 'pending', since: ts, reason };
}

function diff(set: FlagChange['set'], before: readonly string[], after: readonly string[]): FlagChange[] {
  const out: FlagChange[] = [];
  for (const name of after) if (!before.includes(name)) out.push({ set, name, active: true });
  for (const name of before) if (!after.includes(name)) out.push({ set, name, active: false });
  return out;
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(ms < 10_000 ? 1 : 0);
}

