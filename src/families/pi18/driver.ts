/**
 * The PI18 driver of one inverter (pi18.md; pi18-profile-workflow.md §8 "Exclusive access",
 * "Retries"), over a Link<Pi18Frame> and a RequestQueue:
 *
 * - One exchange in flight (the queue). Before each write the framer's partial bytes are drained
 *   (pi18.md §3.2 mitigation 1); whole stale frames are the queue's late/unsolicited frames and
 *   are recorded as such. A reply must have the shape of the answer to the request in flight
 *   (PIRI ≥ 25 fields, GS ≥ 28, MOD one code …), so a stale reply of another kind is never taken.
 * - Queries are idempotent and retried; a setter is never re-sent after a timeout: PIRI is read
 *   to see whether it took effect.
 * - Polling plan: identity (ID, VFW, PIRI, MCHGCR, MUCHGCR) once per connection, GS + MOD every
 *   `statusMs`, FWS every `faultsMs`, PIRI (and ET, while the unit answers it) every `settingsMs`. Polling pauses during a `session`
 *   (a profile apply holds the unit's exchange slot for its whole run).
 * - Observations: `link` (state), `frame` for every frame both ways (protocol 'pi18', the whole
 *   line, readable text, kind = the command name), `presence` with identity, `reading` (GS + MOD),
 *   `flags` (fault code and FWS warnings, changes only), `reply` (decoded PIRI), and the family's
 *   own `fact`s for its projection. Offline after `offlineAfterMisses` polls in a row fail.
 */
import type { Clock, TimerHandle } from '../../clock.js';
import type { Code } from '../../codes.js';
import type { AdmittedCommand, DeviceDriver, ExecuteResult, FlagChange, FrameRecord, Observation, Values } from '../contract.js';
import type { Link } from '../../link/types.js';
import { RequestQueue, type RequestResult } from '../../link/request-queue.js';
import {
  buildFrame,
  commandName,
  decodeCurrentList,
  decodeEnergy,
  decodeFws,
  decodeGs,
  decodeId,
  decodeMod,
  decodePiri,
  decodeVfw,
  encodeSetting,
  enumText,
  frameText,
  printable,
  settingMatchesPiri,
  WARNING_FLAGS,
  type CrcVariant,
  type Decoded,
  type Enum,
  type FaultStatus,
  type Firmware,
  type GeneralStatus,
  type Pi18Frame,
  type Pi18Setting,
  type Piri,
  type WorkMode,
} from './codec.js';
import type { Pi18Framer, Pi18Reject } from './framer.js';
import type { SyncSnapshot } from './sync.js';

/** A command the gate admits for a PI18 unit: one profile setter, optionally with its parallel unit index. */
export type Pi18Command = Pi18Setting & {
  /** MCHGC/MUCHGC/PCP unit index; default: the unit's own parallel index (GS #28). */
  unit?: number;
};

export interface Pi18Identity {
  serial: string;
  rawId: string;
  firmware: Firmware;
  batteryRatedVoltageV: number;
  ratedPowerW: number;
}

/** The family's own facts, for its projection and for the profile controller. */
export type Pi18Fact =
  | { kind: 'identity'; identity: Pi18Identity }
  | { kind: 'settings'; piri: Piri }
  | { kind: 'status'; status: GeneralStatus; mode: Enum<WorkMode> }
  | { kind: 'faults'; faults: FaultStatus }
  | { kind: 'current-steps'; charge: number[]; utility: number[] }
  /** A setter went out (the profile runner and the audit read these). */
  | { kind: 'setter'; command: string; outcome: SetterOutcome['outcome']; readBack: Piri | null };

export interface Pi18DriverOptions {
  deviceId: string;
  link: Link<Pi18Frame>;
  clock: Clock;
  /**
   * The framer the link uses (the same instance): drained before each exchange (pi18.md §3.2),
   * its rejects recorded as invalid frames, its corruptBytes in `stats()`. Without it the
   * framer's resync alone handles stale bytes.
   */
  framer?: Pi18Framer;
  /** The serial this unit must report (config); a different unit is reported offline and not polled. */
  expectedSerial?: string;
  /** Who the unit is, for messages ("inverter lvx-1 (hid:0665:5161)"). Default "inverter <deviceId>". */
  label?: string;
  statusMs?: number;
  faultsMs?: number;
  settingsMs?: number;
  /** Per-attempt reply deadline (pi18.md §3.1: ≥ 2 s at 2400 Bd). Default 2000. */
  timeoutMs?: number;
  /** Re-sends of a query after a timeout. Default 2. */
  retries?: number;
  /** Failed polls in a row before the unit is reported offline. Default 3. */
  offlineAfterMisses?: number;
  /** Wait between a setter's ack and its PIRI read-back (workflow §5: ≈0.5–1 s). Default 500. */
  settleMs?: number;
  crcVariant?: CrcVariant;
}

/** What became of one setter (the profile runner's view; `execute` folds it into an ExecuteResult). */
export interface SetterOutcome {
  command: string;
  /** 'ack' and the read-back matched; 'mismatch' acked but PIRI disagrees; 'nak' refused (^0 or (NAK);
   *  'timeout' no reply (PIRI read to see whether it took effect); 'corrupt' a reply failed its CRC;
   *  'link' the link was down or the write failed; 'readback-failed' acked, but PIRI could not be read. */
  outcome: 'ack' | 'mismatch' | 'nak' | 'timeout' | 'corrupt' | 'link' | 'readback-failed';
  /** Whether the read-back shows the setting in place (null when PIRI could not be read). */
  inPlace: boolean | null;
  readBack: Piri | null;
  /** Raw bytes of the reply, when there was one. */
  reply: Uint8Array | null;
  sent: Uint8Array | null;
  message: string;
}

export type QueryResult<T> = { ok: true; value: T; raw: Uint8Array } | { ok: false; code: Code; message: string; reason: 'nak' | 'timeout' | 'corrupt' | 'link' | 'invalid' };

/** Expected reply shape per query (pi18.md §4), so a stale reply of another kind is never taken. */
const SHAPES: Record<string, (payload: string) => boolean> = {
  PIRI: (p) => p.split(',').length >= 25,
  GS: (p) => p.split(',').length >= 28,
  MOD: (p) => /^\d{2}$/.test(p),
  FWS: (p) => p.split(',').length >= 17,
  ID: (p) => /^\d{20,}$/.test(p),
  VFW: (p) => /^\d+,\d+,\d+$/.test(p),
  MCHGCR: (p) => /^\d{3}(,\d{3})*$/.test(p),
  MUCHGCR: (p) => /^\d{3}(,\d{3})*$/.test(p),
  PGS: (p) => p.split(',').length >= 29,
  PI: (p) => /^\d{2}$/.test(p),
  ET: (p) => /^\d{8}$/.test(p),
  EY: (p) => /^\d{8}$/.test(p),
  EM: (p) => /^\d{8}$/.test(p),
  ED: (p) => /^\d{8}$/.test(p),
};

function isRefusal(f: Pi18Frame): boolean {
  return f.type === 'nak' || f.type === 'nak30';
}

export class Pi18Driver implements DeviceDriver<Pi18Command, Pi18Fact> {
  private readonly listeners = new Set<(o: Observation<Pi18Fact>) => void>();
  private readonly queue: RequestQueue<Pi18Frame>;
  private readonly offs: (() => void)[] = [];
  private timer: TimerHandle | undefined;
  private started = false;
  private polling: Promise<void> | null = null;
  private sessions = 0;
  private online = false;
  private misses = 0;
  private lastStatusAt = -Infinity;
  private lastFaultsAt = -Infinity;
  private lastSettingsAt = -Infinity;
  private needIdentity = true;
  /** null: not asked yet; false: the unit answered ET with ^0. */
  private energySupported: boolean | null = null;
  private wrongUnit: string | null = null;
  private rejectsInExchange = 0;
  private inFlight: string | null = null;
  private flagState = new Map<string, boolean>();
  private counters = { polls: 0, missedPolls: 0, drainedBytes: 0, invalidFrames: 0, staleFrames: 0, setters: 0 };
  readonly label: string;
  /** Last decoded values (for callers that want them without subscribing). */
  identity: Pi18Identity | null = null;
  settings: Piri | null = null;
  status: GeneralStatus | null = null;
  mode: Enum<WorkMode> | null = null;
  faults: FaultStatus | null = null;
  currentSteps: { charge: number[]; utility: number[] } | null = null;

  constructor(private readonly opts: Pi18DriverOptions) {
    this.label = opts.label ?? `inverter ${opts.deviceId}`;
    this.queue = new RequestQueue<Pi18Frame>({
      clock: opts.clock,
      device: this.label,
      timeoutMs: opts.timeoutMs ?? 2000,
      retries: opts.retries ?? 2,
      send: (frame) => this.write(frame),
    });
  }

  /** The framer's rejects (subscribed in start() when `framer` is given): recorded as invalid frames. */
  private readonly onReject = (r: Pi18Reject): void => {
    this.rejectsInExchange++;
    this.counters.invalidFrames++;
    this.emit({
      type: 'frame',
      at: this.opts.clock.now(),
      frame: this.record('rx', r.bytes, printable(r.bytes), 'invalid'),
      invalid: r.reason,
    });
  };

  onObservation(listener: (o: Observation<Pi18Fact>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(o: Observation<Pi18Fact>): void {
    for (const l of this.listeners) {
      try {
        l(o);
      } catch {
        // A listener's bug must not stop the driver.
      }
    }
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const { link, clock, framer } = this.opts;
    if (framer) this.offs.push(framer.onReject(this.onReject));
    this.offs.push(
      link.onFrame((f) => this.onFrame(f)),
      link.onState((state, detail) => {
        this.emit({ type: 'link', at: clock.now(), state, detail });
        if (state !== 'up') {
          this.queue.linkDown(`link ${state}: ${detail}`);
          this.setOffline(`link ${state}: ${detail}`);
          this.needIdentity = true;
        } else {
          this.schedulePoll();
        }
      }),
    );
    const tick = Math.min(this.opts.statusMs ?? 5000, this.opts.faultsMs ?? 10_000, this.opts.settingsMs ?? 60_000);
    this.timer = clock.setInterval(() => this.schedulePoll(), tick);
    if (link.state === 'up') this.schedulePoll();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.opts.clock.clearInterval(this.timer);
    this.timer = undefined;
    for (const off of this.offs.splice(0)) off();
    this.queue.dispose(`${this.label} stopped`);
  }

  stats(): Values {
    const q = this.queue.stats;
    return {
      ...this.counters,
      requests: q.requests,
      writes: q.writes,
      retries: q.retries,
      replies: q.replies,
      naks: q.naks,
      timeouts: q.timeouts,
      lateReplies: q.lateReplies,
      unsolicited: q.unsolicited,
      corruptBytes: this.opts.framer?.corruptBytes ?? 0,
      online: this.online ? 1 : 0,
    };
  }

  get isOnline(): boolean {
    return this.online;
  }

  // ---- wire ----

  private record(dir: 'rx' | 'tx', bytes: Uint8Array, text: string | null, kind: string, meta?: Record<string, unknown>): FrameRecord {
    return { protocol: 'pi18', dir, address: null, bytes, text, kind, deviceId: this.opts.deviceId, ...(meta ? { meta } : {}) };
  }

  private async write(frame: Pi18Frame) {
    const framer = this.opts.framer;
    if (framer) {
      const n = framer.drain();
      if (n) this.counters.drainedBytes += n;
    }
    this.rejectsInExchange = 0;
    if (this.opts.link.state === 'up') {
      let bytes: Uint8Array;
      try {
        // The link's framer writes the bytes; the record shows the same ones (same CRC variant).
        bytes = this.opts.framer ? this.opts.framer.encode(frame) : buildFrame(frame, this.opts.crcVariant);
      } catch {
        bytes = new Uint8Array(0);
      }
      const kind = frame.type === 'query' || frame.type === 'set' ? commandName(frame.command) : frame.type;
      this.emit({ type: 'frame', at: this.opts.clock.now(), frame: this.record('tx', bytes, frameText({ ...frame, raw: bytes }), kind) });
    }
    return this.opts.link.send(frame);
  }

  private onFrame(f: Pi18Frame): void {
    const disposition = this.queue.handleFrame(f);
    const bytes = f.raw ?? buildFrame(f, this.opts.crcVariant);
    let kind: string;
    const meta: Record<string, unknown> = {};
    if (disposition === 'reply') {
      kind = f.type === 'data' ? (this.inFlight ?? 'data') : f.type;
      if (this.inFlight) meta.command = this.inFlight;
    } else {
      this.counters.staleFrames++;
      kind = 'stale';
      meta.disposition = disposition;
    }
    if (f.type === 'data' && f.lengthMismatch) meta.lengthMismatch = true;
    this.emit({ type: 'frame', at: this.opts.clock.now(), frame: this.record('rx', bytes, frameText(f), kind, Object.keys(meta).length ? meta : undefined) });
  }

  private failure<T>(r: RequestResult<Pi18Frame> & { ok: false }, what: string): QueryResult<T> {
    if (r.code === 'NAK') return { ok: false, code: 'CONFLICT', message: `${this.label} refused ${what} (${r.reply?.type === 'nak30' ? '(NAK' : '^0'})`, reason: 'nak' };
    if (r.code === 'TIMEOUT') {
      if (this.rejectsInExchange > 0) {
        return { ok: false, code: 'DEVICE_OFFLINE', message: `${this.label}: the reply to ${what} failed its CRC — check the cable; the unit is being retried`, reason: 'corrupt' };
      }
      return { ok: false, code: 'DEVICE_OFFLINE', message: r.message, reason: 'timeout' };
    }
    return { ok: false, code: 'LINK_DOWN', message: r.message, reason: 'link' };
  }

  /**
   * One query (idempotent, retried) decoded with `decode`. `command` is the text after `^P005`
   * (e.g. "PIRI", "PGS1", "EY2026").
   */
  async query<T>(command: string, decode: (payload: string) => Decoded<T>): Promise<QueryResult<T>> {
    const name = commandName(command);
    const shape = SHAPES[name];
    const r = await this.exchange(command, {
      label: command,
      frame: { type: 'query', command },
      idempotent: true,
      match: (f) => isRefusal(f) || (f.type === 'data' && (!shape || shape(f.payload))),
      nak: isRefusal,
    });
    if (!r.ok) return this.failure(r, command);
    const reply = r.reply;
    if (reply.type !== 'data') return { ok: false, code: 'CONFLICT', message: `${this.label}: unexpected ${reply.type} to ${command}`, reason: 'invalid' };
    const d = decode(reply.payload);
    if (!d.ok) return { ok: false, code: 'CONFLICT', message: `${this.label}: ${d.reason}`, reason: 'invalid' };
    return { ok: true, value: d.value, raw: reply.raw ?? buildFrame(reply) };
  }

  private async exchange(command: string, spec: Parameters<RequestQueue<Pi18Frame>['request']>[0]): Promise<RequestResult<Pi18Frame>> {
    const wrapped = {
      ...spec,
      match: (f: Pi18Frame) => {
        const m = spec.match(f);
        if (m) this.inFlight = commandName(command);
        return m;
      },
    } as typeof spec;
    try {
      return await this.queue.request(wrapped);
    } finally {
      this.inFlight = null;
    }
  }

  readPiri(): Promise<QueryResult<Piri>> {
    return this.query('PIRI', decodePiri).then((r) => {
      if (r.ok) this.gotSettings(r.value);
      return r;
    });
  }

  /** Identity: ID, VFW and PIRI (serial, firmware, rated voltage and power). */
  async readIdentity(): Promise<QueryResult<Pi18Identity>> {
    const id = await this.query('ID', decodeId);
    if (!id.ok) return id;
    const vfw = await this.query('VFW', decodeVfw);
    if (!vfw.ok) return vfw;
    const piri = await this.readPiri();
    if (!piri.ok) return piri;
    const identity: Pi18Identity = {
      serial: id.value.serial,
      rawId: id.value.raw,
      firmware: vfw.value,
      batteryRatedVoltageV: piri.value.batteryRatedVoltageV,
      ratedPowerW: piri.value.acOutputRatedActivePowerW,
    };
    this.identity = identity;
    this.emitFact({ kind: 'identity', identity });
    return { ok: true, value: identity, raw: id.raw };
  }

  /** The selectable charging currents (MCHGCR, MUCHGCR; pi18.md §4.6). */
  async readCurrentSteps(): Promise<QueryResult<{ charge: number[]; utility: number[] }>> {
    const c = await this.query('MCHGCR', decodeCurrentList);
    if (!c.ok) return c;
    const u = await this.query('MUCHGCR', decodeCurrentList);
    if (!u.ok) return u;
    this.currentSteps = { charge: c.value, utility: u.value };
    this.emitFact({ kind: 'current-steps', ...this.currentSteps });
    return { ok: true, value: this.currentSteps, raw: u.raw };
  }

  async readStatus(): Promise<QueryResult<{ status: GeneralStatus; mode: Enum<WorkMode> }>> {
    const gs = await this.query('GS', decodeGs);
    if (!gs.ok) return gs;
    const mod = await this.query('MOD', decodeMod);
    if (!mod.ok) return mod;
    this.gotStatus(gs.value, mod.value.mode);
    return { ok: true, value: { status: gs.value, mode: mod.value.mode }, raw: gs.raw };
  }

  /** GS, FWS, MOD and VFW back to back, for a sync-check (workflow §7), with polling paused. */
  async readSync(): Promise<QueryResult<SyncSnapshot>> {
    return this.session(async () => {
      const st = await this.readStatus();
      if (!st.ok) return st;
      const fws = await this.readFaults();
      if (!fws.ok) return fws;
      const vfw = await this.query('VFW', decodeVfw);
      if (!vfw.ok) return vfw;
      const serial = this.identity?.serial;
      return {
        ok: true,
        value: { label: serial ? `${this.label} (${serial})` : this.label, status: st.value.status, mode: st.value.mode, faults: fws.value, firmware: vfw.value },
        raw: st.raw,
      };
    });
  }

  /**
   * ET, the total PV energy counter (pi18.md §4.6; kWh per the PDF, Wh per PM — unit uncertain,
   * so reported as a reply, not as telemetry). A unit that answers `^0` is not asked again.
   */
  async readEnergy(): Promise<QueryResult<{ energy: number }>> {
    const r = await this.query('ET', decodeEnergy);
    if (r.ok) {
      this.energySupported = true;
      this.emit({ type: 'reply', at: this.opts.clock.now(), deviceId: this.opts.deviceId, what: 'ET', values: { pvEnergyTotal: r.value.energy } });
    } else if (r.reason === 'nak') {
      this.energySupported = false;
    }
    return r;
  }

  async readFaults(): Promise<QueryResult<FaultStatus>> {
    const r = await this.query('FWS', decodeFws);
    if (r.ok) this.gotFaults(r.value);
    return r;
  }

  private emitFact(fact: Pi18Fact): void {
    this.emit({ type: 'fact', at: this.opts.clock.now(), deviceId: this.opts.deviceId, fact });
  }

  private gotSettings(piri: Piri): void {
    this.settings = piri;
    this.emit({ type: 'reply', at: this.opts.clock.now(), deviceId: this.opts.deviceId, what: 'PIRI', values: piriValues(piri) });
    this.emitFact({ kind: 'settings', piri });
  }

  private gotStatus(gs: GeneralStatus, mode: Enum<WorkMode>): void {
    this.status = gs;
    this.mode = mode;
    this.emit({ type: 'reading', at: this.opts.clock.now(), deviceId: this.opts.deviceId, values: readingValues(gs, mode) });
    this.emitFact({ kind: 'status', status: gs, mode });
  }

  private gotFaults(fws: FaultStatus): void {
    this.faults = fws;
    const now = new Map<string, { group: string; text: string; active: boolean }>();
    for (const [name, text] of WARNING_FLAGS) now.set(`warning:${name}`, { group: 'warning', text, active: fws.warnings[name] });
    if (fws.faultCode !== 0) now.set(`fault:fault_${String(fws.faultCode).padStart(2, '0')}`, { group: 'fault', text: fws.faultText, active: true });
    const changes: FlagChange[] = [];
    for (const [key, v] of now) {
      const was = this.flagState.get(key) ?? false;
      if (v.active !== was) changes.push({ group: v.group, name: key.slice(key.indexOf(':') + 1), text: v.text, active: v.active });
    }
    for (const [key, was] of this.flagState) {
      if (was && key.startsWith('fault:') && !now.has(key)) {
        changes.push({ group: 'fault', name: key.slice(6), text: `${key.slice(12)} cleared`, active: false });
      }
    }
    this.flagState = new Map([...now].map(([k, v]) => [k, v.active]));
    if (changes.length) this.emit({ type: 'flags', at: this.opts.clock.now(), deviceId: this.opts.deviceId, changes });
    this.emitFact({ kind: 'faults', faults: fws });
  }

  // ---- presence and polling ----

  private setOnline(): void {
    if (this.online || !this.identity) return;
    this.online = true;
    const id = this.identity;
    this.emit({
      type: 'presence',
      at: this.opts.clock.now(),
      deviceId: this.opts.deviceId,
      online: true,
      identity: {
        serial: id.serial,
        firmware: id.firmware.main,
        firmwareSlave1: id.firmware.slave1,
        firmwareSlave2: id.firmware.slave2,
        batteryRatedVoltageV: id.batteryRatedVoltageV,
        ratedPowerW: id.ratedPowerW,
        model: 'PI18',
      },
    });
  }

  private setOffline(reason: string): void {
    if (!this.online) return;
    this.online = false;
    this.emit({ type: 'presence', at: this.opts.clock.now(), deviceId: this.opts.deviceId, online: false, reason });
  }

  private schedulePoll(): void {
    if (!this.started || this.polling || this.sessions > 0 || this.opts.link.state !== 'up') return;
    this.polling = this.poll().finally(() => {
      this.polling = null;
    });
  }

  /** One round of the polling plan: whatever is due. */
  private async poll(): Promise<void> {
    const now = () => this.opts.clock.now();
    const results: QueryResult<unknown>[] = [];
    const ran = (r: QueryResult<unknown>) => {
      results.push(r);
      return r.ok;
    };
    this.counters.polls++;
    if (this.needIdentity || this.wrongUnit) {
      const id = await this.readIdentity();
      if (!ran(id)) return this.afterPoll(results);
      if (!id.ok) return;
      const want = this.opts.expectedSerial;
      if (want && id.value.serial !== want && id.value.rawId !== want) {
        this.wrongUnit = id.value.serial;
        this.setOffline(`wrong unit: serial ${id.value.serial}, expected ${want} — check which inverter is on this port`);
        return;
      }
      this.wrongUnit = null;
      this.needIdentity = false;
      this.lastSettingsAt = now();
      ran(await this.readCurrentSteps());
    }
    if (this.sessions > 0) return this.afterPoll(results);
    if (now() - this.lastStatusAt >= (this.opts.statusMs ?? 5000)) {
      this.lastStatusAt = now();
      if (!ran(await this.readStatus())) return this.afterPoll(results);
    }
    if (this.sessions > 0) return this.afterPoll(results);
    if (now() - this.lastFaultsAt >= (this.opts.faultsMs ?? 10_000)) {
      this.lastFaultsAt = now();
      if (!ran(await this.readFaults())) return this.afterPoll(results);
    }
    if (this.sessions > 0) return this.afterPoll(results);
    if (now() - this.lastSettingsAt >= (this.opts.settingsMs ?? 60_000)) {
      this.lastSettingsAt = now();
      if (ran(await this.readPiri()) && this.energySupported !== false) await this.readEnergy();
    }
    this.afterPoll(results);
  }

  private afterPoll(results: QueryResult<unknown>[]): void {
    const failed = results.find((r) => !r.ok) as (QueryResult<unknown> & { ok: false }) | undefined;
    if (!failed) {
      if (results.length) this.misses = 0;
      if (this.identity && !this.wrongUnit) this.setOnline();
      return;
    }
    if (failed.reason === 'timeout' || failed.reason === 'corrupt') {
      this.misses++;
      this.counters.missedPolls++;
      if (this.misses >= (this.opts.offlineAfterMisses ?? 3)) {
        this.setOffline(`no valid reply to ${this.misses} polls in a row (${failed.message})`);
        this.needIdentity = true;
      }
    }
  }

  /**
   * Runs `fn` with polling paused (a profile apply holds the unit's exchange slot for its whole
   * run, workflow §8 "Exclusive access"); polling resumes afterwards, also when `fn` throws.
   */
  async session<T>(fn: () => Promise<T>): Promise<T> {
    this.sessions++;
    try {
      // A poll round in progress stops after its current exchange (it checks `sessions`).
      if (this.polling) await this.polling;
      return await fn();
    } finally {
      this.sessions--;
      if (this.sessions === 0) this.schedulePoll();
    }
  }

  // ---- setters ----

  /**
   * Sends one setter and reads PIRI back. Never re-sends: after a timeout (or a corrupt reply)
   * PIRI is read to see whether the setting took effect (workflow §8 "Retries").
   */
  async writeSetting(setting: Pi18Setting, unit?: number): Promise<SetterOutcome> {
    if (unit === undefined && !this.status) await this.readStatus();
    const u = unit ?? this.status?.parallelId ?? 0;
    const enc = encodeSetting(setting, u);
    if (!enc.ok) return { command: '', outcome: 'nak', inPlace: null, readBack: null, reply: null, sent: null, message: `${this.label}: ${enc.reason}` };
    const command = enc.command;
    const sent = buildFrame({ type: 'set', command }, this.opts.crcVariant);
    this.counters.setters++;
    const r = await this.exchange(command, {
      label: command,
      frame: { type: 'set', command },
      match: (f) => f.type === 'ack' || isRefusal(f),
      nak: isRefusal,
    });
    const reply = r.ok ? (r.reply.raw ?? null) : (r.reply?.raw ?? null);
    const finish = (o: SetterOutcome): SetterOutcome => {
      this.emitFact({ kind: 'setter', command, outcome: o.outcome, readBack: o.readBack });
      return o;
    };
    if (!r.ok && r.code === 'NAK') {
      return finish({ command, outcome: 'nak', inPlace: null, readBack: null, reply, sent, message: `${this.label} refused ${command} (${r.reply?.type === 'nak30' ? '(NAK' : '^0'}) — the value is not allowed in the unit's current state` });
    }
    if (!r.ok && (r.code === 'LINK_DOWN' || r.code === 'WRITE_FAILED')) {
      return finish({ command, outcome: 'link', inPlace: null, readBack: null, reply, sent, message: r.message });
    }
    if (r.ok) await sleep(this.opts.clock, this.opts.settleMs ?? 500);
    const corrupt = !r.ok && this.rejectsInExchange > 0;
    const back = await this.readPiri();
    if (!back.ok) {
      const outcome = r.ok ? 'readback-failed' : corrupt ? 'corrupt' : 'timeout';
      return finish({ command, outcome, inPlace: null, readBack: null, reply, sent, message: `${this.label}: ${r.ok ? `acknowledged ${command} but` : `no valid reply to ${command} and`} its read-back failed (${back.message}); whether it took effect is unknown` });
    }
    const inPlace = settingMatchesPiri(setting, back.value);
    if (!r.ok) {
      return finish({
        command,
        outcome: corrupt ? 'corrupt' : 'timeout',
        inPlace,
        readBack: back.value,
        reply,
        sent,
        message: `${this.label}: ${corrupt ? 'the reply failed its CRC' : 'no reply'} to ${command}; the read-back shows it ${inPlace ? 'took effect' : 'did not take effect'} (not re-sent)`,
      });
    }
    return finish({
      command,
      outcome: inPlace ? 'ack' : 'mismatch',
      inPlace,
      readBack: back.value,
      reply,
      sent,
      message: inPlace ? `${this.label}: ${command} applied` : `${this.label} acknowledged ${command} but the read-back disagrees — the unit did not apply it`,
    });
  }

  async execute(cmd: AdmittedCommand<Pi18Command>): Promise<ExecuteResult> {
    if (this.opts.link.state !== 'up') return { ok: false, code: 'LINK_DOWN', message: `${this.label}: the link is ${this.opts.link.state}; nothing was sent — check the cable` };
    if (!this.online) return { ok: false, code: 'DEVICE_OFFLINE', message: `${this.label} is offline; nothing was sent — wait until it answers again` };
    const { unit, ...setting } = cmd as Pi18Command;
    const o = await this.writeSetting(setting as Pi18Setting, unit);
    const readBack = o.readBack ? piriValues(o.readBack) : undefined;
    switch (o.outcome) {
      case 'ack':
        return { ok: true, sent: true, readBack, message: o.message };
      case 'timeout':
      case 'corrupt':
        if (o.inPlace) return { ok: true, sent: true, readBack, message: o.message };
        return { ok: false, code: 'DEVICE_OFFLINE', message: o.message, readBack };
      case 'link':
        return { ok: false, code: 'LINK_DOWN', message: o.message };
      case 'nak':
      case 'mismatch':
      case 'readback-failed':
        return { ok: false, code: 'CONFLICT', message: o.message, readBack };
    }
  }
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => clock.setTimeout(r, ms)) : Promise.resolve();
}

/** Readings from GS + MOD (units in the names; battery current positive while charging). */
export function readingValues(gs: GeneralStatus, mode: Enum<WorkMode>): Values {
  return {
    acInputVoltageV: gs.gridVoltageV,
    acInputFrequencyHz: gs.gridFrequencyHz,
    acOutputVoltageV: gs.acOutputVoltageV,
    acOutputFrequencyHz: gs.acOutputFrequencyHz,
    acOutputPowerW: gs.acOutputActivePowerW,
    acOutputApparentPowerVA: gs.acOutputApparentPowerVA,
    loadPct: gs.outputLoadPct,
    batteryVoltageV: gs.batteryVoltageV,
    batteryCurrentA: gs.batteryChargeCurrentA - gs.batteryDischargeCurrentA,
    batterySocPct: gs.batteryCapacityPct,
    pvPowerW: gs.pv1PowerW + gs.pv2PowerW,
    pv1PowerW: gs.pv1PowerW,
    pv2PowerW: gs.pv2PowerW,
    pv1VoltageV: gs.pv1VoltageV,
    pv2VoltageV: gs.pv2VoltageV,
    heatSinkTempC: gs.heatSinkTempC,
    mppt1TempC: gs.mppt1TempC,
    mppt2TempC: gs.mppt2TempC,
    mode: enumText(mode),
    parallelIndex: gs.parallelId,
  };
}

/** PIRI as flat values (the `reply` observation and an execute read-back). */
export function piriValues(p: Piri): Values {
  return {
    batteryRatedVoltageV: p.batteryRatedVoltageV,
    batteryType: enumText(p.batteryType),
    cutoffVoltageV: p.cutoffVoltageV,
    stopDischargeVoltageV: p.stopDischargeVoltageV,
    stopChargeVoltageV: p.stopChargeVoltageV,
    bulkVoltageV: p.bulkVoltageV,
    floatVoltageV: p.floatVoltageV,
    maxChargingCurrentA: p.maxChargingCurrentA,
    maxUtilityChargingCurrentA: p.maxUtilityChargingCurrentA,
    outputSourcePriority: enumText(p.outputSourcePriority),
    chargerPriority: enumText(p.chargerPriority),
    solarPowerPriority: enumText(p.solarPowerPriority),
    machineType: enumText(p.machineType),
    outputMode: enumText(p.outputMode),
    parallelMaxNum: p.parallelMaxNum,
    acOutputRatedVoltageV: p.acOutputRatedVoltageV,
    acOutputRatedFrequencyHz: p.acOutputRatedFrequencyHz,
    acOutputRatedActivePowerW: p.acOutputRatedActivePowerW,
  };
}
