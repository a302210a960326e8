/**
 * The OpenEVSE driver: one board on one `Link<RapiFrame>` (serial 115200 8N1, or the WiFi
 * module's TCP bridge), one request in flight through a `RequestQueue`, async `$AT`/`$AB`/`$AN`
 * handled in between (the queue's unsolicited listener). It owns no policy: capacity ranges,
 * the circuit limit and admin-only commands are the gate's (check.ts); it carries out admitted
 * commands and reads back what the board made of them.
 *
 * Life of a connection (openevse-rapi.md, cited §n):
 *  1. Link up ⇒ `GV` without a sequence id (a board older than RAPI 3 would take `:SS` as an
 *     argument, §2); the protocol version gates the rest: sequence ids from 3.0.0, hex `GS` from
 *     5.0.0, the D9 set from 6.0.0 (§9) — a gated command is refused here, never sent.
 *  2. Initial reads: GE, GC, GS, GU, GF, GP, GY (an `$NK` is "not in this build", §12.8).
 *  3. Heartbeat supervision (§6): if `GY` shows a miss pending (trigger 2, the server was gone),
 *     acknowledge it with the cookie (`SY 165`, restores the saved capacity), then arm
 *     `SY interval fallback`, then pulse `SY` every `pulseMs`. A pulse answered `$NK i a 2`
 *     (a pulse came too late) is acknowledged at once; a refused acknowledgement is retried with
 *     the next pulse, and arming that got no reply is retried every `probeMs`. The armed state
 *     is a reading and a fact. `stop()` does not disarm: a server that stops (or dies) leaves
 *     the board to fall back to the safe current by itself, which is the point.
 *  4. Polling plan on its own cadences (GS, GG, GU, GP, GE+GC, GF); state also from `$AT`.
 *  5. `$AB` (or the forced `$AT 00` that precedes it, §4.1) = the board reset: polling stops,
 *     and when `$AB` arrives the whole initialisation runs again (the heartbeat is re-armed,
 *     since its trigger is volatile).
 *
 * Bad input: a reply with a bad checksum is counted (`badChecksums`); a query is asked again
 * (up to `retries` times), a setter is never re-sent blindly: its result is "unknown" and the
 * read-back says what the board did. A bare `$NK^21` to a query (the board saw a bad checksum,
 * §3) is retried the same way. Echoed command text (echo mode, §12.1) is ignored and counted.
 */
import type { Clock, TimerHandle } from '../../clock.js';
import type { Code } from '../../codes.js';
import type { AdmittedCommand, DeviceDriver, ExecuteResult, FlagChange, FrameRecord, Observation, Values } from '../contract.js';
import type { Link } from '../../link/types.js';
import { RequestQueue, type RequestResult } from '../../link/request-queue.js';
import {
  Rapi,
  RAPI_SEQ_IDS,
  VFLAGS,
  ECF,
  COMMANDS,
  commandTooLong,
  compareVersion,
  decodeAB,
  decodeAN,
  decodeAT,
  decodeGC,
  decodeGD,
  decodeGE,
  decodeGF,
  decodeGG,
  decodeGP,
  decodeGS,
  decodeGT,
  decodeGU,
  decodeGV,
  decodeHeartbeat,
  decodeNumber,
  decodeST,
  decodeWF,
  formatVersion,
  frameRequest,
  isResponseTo,
  stateInfo,
  versionGate,
  type RapiFrame,
  type RapiRequest,
  type RapiVersion,
} from './codec.js';
import type { EvseCommand, EvseFact, HeartbeatState } from './types.js';

export type PollItem = 'GS' | 'GG' | 'GU' | 'GP' | 'GE' | 'GF';

/** Default polling cadences, ms. GE also reads GC (the range moves with the level and `SC M`). */
export const DEFAULT_POLL_MS: Record<PollItem, number> = { GS: 2000, GG: 2000, GU: 10_000, GP: 30_000, GE: 30_000, GF: 60_000 };

export interface OpenEvseDriverOptions {
  link: Link<RapiFrame>;
  clock: Clock;
  /** The engine's device id (frames, readings, presence carry it). */
  deviceId: string;
  /** For messages: e.g. "EVSE garage (/dev/ttyUSB1)". Default: the device id. */
  name?: string;
  /**
   * Heartbeat supervision armed at connect (§6): if the server stops pulsing for `intervalS`,
   * the board lowers its capacity to `fallbackA` by itself. null = leave the board's setting
   * alone. Default { intervalS: 30, fallbackA: 6 }; pulses every intervalS/3 unless `pulseMs`.
   */
  heartbeat?: { intervalS: number; fallbackA: number; pulseMs?: number } | null;
  poll?: Partial<Record<PollItem, number>>;
  /** Per-attempt deadline. Default 1000 ms (the firmware's own sender waits 500 ms, §3). */
  timeoutMs?: number;
  /** Re-asks of a query after a timeout or a bad-checksum reply. Default 2. */
  retries?: number;
  /** Consecutive failed exchanges before the board is reported offline. Default 3. */
  offlineAfter?: number;
  /** How often an offline (or unidentified) board is probed with `GV`. Default 5000 ms. */
  probeMs?: number;
  /** For `stats()`: the link's framer counters, when the caller has them. */
  framer?: { readonly corruptBytes: number };
}

type Outcome =
  | { ok: true; reply: RapiFrame }
  | { ok: false; code: 'TIMEOUT' | 'NAK' | 'LINK_DOWN' | 'WRITE_FAILED' | 'BAD_CHECKSUM' | 'GATED' | 'TOO_LONG'; message: string; reply?: RapiFrame };

const TICK_MS = 250;


/** Polled replies that each give one fact and a reading; `telemetry`: the reading is sampled. */
const FACT_REPLIES: Record<'GG' | 'GU' | 'GE' | 'GC' | 'GP' | 'GF', { fact(f: RapiFrame): EvseFact | null; telemetry: boolean }> = {
  GG: { fact: (f) => map(decodeGG(f), (m) => ({ kind: 'meter', currentMa: m.currentMa, voltageMv: m.voltageMv })), telemetry: true },
  GU: { fact: (f) => map(decodeGU(f), (e) => ({ kind: 'energy', sessionWs: e.sessionWs, lifetimeWh: e.lifetimeWh })), telemetry: true },
  GE: { fact: (f) => map(decodeGE(f), (e) => ({ kind: 'settings', capacityA: e.capacityA, ecf: e.ecf, level: e.level })), telemetry: false },
  GC: { fact: (f) => map(decodeGC(f), (c) => ({ kind: 'range', ...c })), telemetry: false },
  GP: { fact: (f) => map(decodeGP(f), (t) => ({ kind: 'temperatures', ...t })), telemetry: true },
  GF: { fact: (f) => map(decodeGF(f), (c) => ({ kind: 'faultCounters', ...c })), telemetry: false },
};

function map<T>(v: T | null | undefined, fn: (v: T) => EvseFact): EvseFact | null {
  return v ? fn(v) : null;
}

export class OpenEvseDriver implements DeviceDriver<EvseCommand, EvseFact> {
  private readonly opts: OpenEvseDriverOptions;
  private readonly clock: Clock;
  private readonly link: Link<RapiFrame>;
  private readonly name: string;
  private readonly listeners = new Set<(o: Observation<EvseFact>) => void>();
  private readonly offs: Array<() => void> = [];
  private queue: RequestQueue<RapiFrame> | null = null;
  private detachQueue: (() => void) | null = null;
  private tickTimer: TimerHandle | undefined;
  private started = false;
  private seq = 0;
  /** Bumped on every (re)initialisation: work of an older generation stops. */
  private generation = 0;
  private initialising = false;
  private ready = false;
  private online = false;
  private failures = 0;
  private nextProbeAt = 0;
  private protocol: RapiVersion | null = null;
  private firmware: string | null = null;
  private readonly pollMs: Record<PollItem, number>;
  private readonly pollDue = new Map<PollItem, number>();
  private readonly pollBusy = new Set<PollItem>();
  private hb: { state: HeartbeatState; intervalS: number | null; fallbackA: number | null; trigger: 0 | 1 | 2 | null } = { state: 'unknown', intervalS: null, fallbackA: null, trigger: null };
  private nextPulseAt = 0;
  private nextArmAt = 0;
  private armBusy = false;
  private pulseBusy = false;
  private readonly activeFlags = new Map<string, boolean>();
  private readonly counters = {
    badChecksums: 0,
    checksumNaks: 0,
    queryRetries: 0,
    echoFrames: 0,
    unmatchedReplies: 0,
    asyncFrames: 0,
    boots: 0,
    heartbeatPulses: 0,
    heartbeatMisses: 0,
    heartbeatAcks: 0,
    gatedCommands: 0,
    invalidReplies: 0,
  };

  constructor(opts: OpenEvseDriverOptions) {
    this.opts = opts;
    this.clock = opts.clock;
    this.link = opts.link;
    this.name = opts.name ?? opts.deviceId;
    this.pollMs = { ...DEFAULT_POLL_MS, ...(opts.poll ?? {}) };
  }

  // ================================================================ DeviceDriver

  start(): void {
    if (this.started) return;
    this.started = true;
    // frame records first: a frame is recorded before what it caused (facts, replies)
    this.offs.push(this.link.onFrame((f, ts) => this.emitFrame(f, 'rx', ts)));
    this.offs.push(this.link.onTx((f, ts) => this.emitFrame(f, 'tx', ts)));
    const { queue, detach } = RequestQueue.forLink(this.link, {
      clock: this.clock,
      device: `EVSE ${this.name}`,
      timeoutMs: this.opts.timeoutMs ?? 1000,
      retries: this.opts.retries ?? 2,
    });
    this.queue = queue;
    this.detachQueue = detach;
    this.offs.push(queue.onUnsolicited((f) => this.onUnsolicited(f)));
    this.offs.push(
      this.link.onState((state, detail) => {
        this.emit({ type: 'link', at: this.clock.now(), state, detail });
        if (state === 'up') this.initialise('link up');
        else this.lost(`link ${state}: ${detail}`);
      }),
    );
    this.tickTimer = this.clock.setInterval(() => this.tick(), TICK_MS);
    if (this.link.state === 'up') this.initialise('start');
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.generation++;
    this.clock.clearInterval(this.tickTimer);
    for (const off of this.offs.splice(0)) off();
    this.queue?.dispose('driver stopped');
    this.detachQueue?.();
    this.queue = null;
  }

  onObservation(listener: (o: Observation<EvseFact>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): Values {
    const q = this.queue?.stats;
    return {
      ...this.counters,
      requests: q?.requests ?? 0,
      writes: q?.writes ?? 0,
      timeouts: q?.timeouts ?? 0,
      retries: q?.retries ?? 0,
      naks: q?.naks ?? 0,
      lateReplies: q?.lateReplies ?? 0,
      corruptBytes: this.opts.framer?.corruptBytes ?? null,
      protocol: this.protocol ? formatVersion(this.protocol) : null,
      firmware: this.firmware,
      heartbeat: this.hb.state,
    };
  }

  /** The protocol version the board reported (`GV`), or null before it answered. */
  get protocolVersion(): RapiVersion | null {
    return this.protocol;
  }

  get heartbeatState(): HeartbeatState {
    return this.hb.state;
  }

  async execute(admitted: AdmittedCommand<EvseCommand>): Promise<ExecuteResult> {
    try {
      return await this.run(admitted as EvseCommand);
    } catch (err) {
      // a builder refused a value the wire cannot carry (check.ts should have caught it)
      if (err instanceof RangeError) return { ok: false, code: 'OUT_OF_RANGE', message: `EVSE ${this.name}: ${err.message}; nothing was sent` };
      return { ok: false, code: 'INTERNAL', message: `EVSE ${this.name}: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  private async run(cmd: EvseCommand): Promise<ExecuteResult> {
    if (!this.ready) {
      return this.link.state !== 'up'
        ? { ok: false, code: 'LINK_DOWN', message: `EVSE ${this.name}: the link is ${this.link.state}; nothing was sent — check the cable or the WiFi bridge` }
        : { ok: false, code: 'DEVICE_OFFLINE', message: `EVSE ${this.name} has not answered yet (starting or offline); nothing was sent — retry in a few seconds` };
    }
    switch (cmd.kind) {
      case 'enable':
        return this.set(Rapi.enable(), [Rapi.getState()]);
      case 'disable':
        return this.set(Rapi.disable(), [Rapi.getState()]);
      case 'sleep':
        return this.set(Rapi.sleep(), [Rapi.getState()]);
      case 'setCurrent':
        return this.setCurrent(cmd.amps, cmd.volatile ? 'volatile' : 'saved');
      case 'setHardwareMax':
        return this.setCurrent(cmd.amps, 'hwmax');
      case 'setServiceLevel':
        return this.set(Rapi.serviceLevel(cmd.level), [Rapi.getSettings(), Rapi.getCapacityRange()]);
      case 'setLimits': {
        const reqs: RapiRequest[] = [];
        const reads: RapiRequest[] = [];
        if (cmd.timeMinutes !== undefined) {
          reqs.push(Rapi.timeLimit(cmd.timeMinutes === null ? 0 : Math.ceil(cmd.timeMinutes / 15)));
          reads.push(Rapi.getTimeLimit());
        }
        if (cmd.energyKWh !== undefined) {
          reqs.push(Rapi.chargeLimit(cmd.energyKWh === null ? 0 : Math.ceil(cmd.energyKWh)));
          reads.push(Rapi.getChargeLimit());
        }
        for (const r of reqs) {
          const res = await this.set(r, []);
          if (!res.ok) {
            return {
              ...res,
              message: `${res.message} (session limits exist only on boards built with TIME_LIMIT/CHARGE_LIMIT, and only while a vehicle is connected)`,
            };
          }
        }
        return this.readBack(reads, `EVSE ${this.name}: limits set`);
      }
      case 'lcdText':
        return this.set(Rapi.lcdText(cmd.x, cmd.y, cmd.text), []);
      case 'syncClock': {
        const d = new Date(cmd.at ?? this.clock.now());
        return this.set(
          Rapi.setClock({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() }),
          [Rapi.getClock()],
        );
      }
      case 'backlight':
        return this.set(Rapi.backlight(cmd.colour), []);
      case 'feature':
        return this.set(Rapi.feature(cmd.letter, cmd.on), [Rapi.getSettings()]);
      case 'delayTimer': {
        const [sh, sm] = cmd.start.split(':').map(Number);
        const [eh, em] = cmd.end.split(':').map(Number);
        return this.set(Rapi.delayTimer(sh!, sm!, eh!, em!), [Rapi.getDelayTimer()]);
      }
      case 'cancelDelayTimer':
        return this.set(Rapi.cancelDelayTimer(), [Rapi.getDelayTimer()]);
      case 'setVoltage':
        return this.set(Rapi.setVoltage(Math.round(cmd.voltageV * 1000)), [Rapi.getCurrentVoltage()]);
      case 'heartbeat': {
        const r = await this.exchange(Rapi.heartbeatArm(cmd.intervalS, cmd.fallbackA));
        const hb = r.ok ? decodeHeartbeat(r.reply) : null;
        if (!r.ok || !hb) {
          const readBack = await this.readValues([Rapi.getHeartbeat()]);
          if (r.ok) return { ok: false, code: 'CONFLICT', message: `EVSE ${this.name}: the reply to $SY (${r.reply.line}) cannot be read; see the read-back`, readBack };
          const message = r.code === 'NAK' ? `EVSE ${this.name} refused $SY (heartbeat supervision) — this firmware may not have it` : r.message;
          return { ok: false, code: this.codeFor(r), message, readBack };
        }
        this.setHeartbeat(hb.intervalS > 0 ? 'armed' : 'off', hb.intervalS, hb.fallbackA, hb.trigger);
        this.nextPulseAt = this.clock.now() + this.pulseMs(hb.intervalS);
        return this.readBack([Rapi.getHeartbeat()], `EVSE ${this.name}: heartbeat supervision ${hb.intervalS > 0 ? `armed (${hb.intervalS} s, fallback ${hb.fallbackA} A)` : 'off'}`);
      }
      case 'reset':
        return this.set(Rapi.restart(), []);
      case 'calibrateAmmeter':
        return this.set(Rapi.ammeterCal(cmd.scale, cmd.offset), [Rapi.getAmmeter()]);
      case 'setLifetimeEnergy':
        return this.set(Rapi.setLifetimeEnergy(cmd.wh), [Rapi.getEnergy()]);
      case 'resetFaultCounters':
        return this.set(Rapi.resetFaultCounters(), [Rapi.getFaultCounters()]);
      case 'relayRecovery':
        return this.set(Rapi.stuckRelayRecovery(), [Rapi.getState()], 35_000);
    }
  }

  // ================================================================ exchanges

  private nextSeq(): number {
    this.seq = (this.seq % 255) + 1;
    return this.seq;
  }

  /** One request/reply exchange: version gate, framing, the queue, bad-checksum handling. */
  private async exchange(req: RapiRequest, timeoutMs?: number): Promise<Outcome> {
    const gate = versionGate(req, this.protocol);
    if (gate) {
      this.counters.gatedCommands++;
      return { ok: false, code: 'GATED', message: `EVSE ${this.name}: ${gate}; nothing was sent` };
    }
    const queue = this.queue;
    if (!queue) return { ok: false, code: 'LINK_DOWN', message: `EVSE ${this.name}: the driver is stopped` };
    const useSeq = this.protocol !== null && compareVersion(this.protocol, RAPI_SEQ_IDS) >= 0;
    const retries = this.opts.retries ?? 2;
    for (let attempt = 0; ; attempt++) {
      const frame = frameRequest(req, { seq: useSeq ? this.nextSeq() : null });
      const tooLong = commandTooLong(frame);
      if (tooLong) return { ok: false, code: 'TOO_LONG', message: `EVSE ${this.name}: ${tooLong}; nothing was sent — shorten it` };
      const label = `$${req.cmd}${req.args.length ? ' ' + req.args.join(' ') : ''}`;
      const base = {
        label,
        frame,
        match: (f: RapiFrame) => isResponseTo(f, frame),
        nak: (f: RapiFrame) => f.kind === 'NK' && f.checksumOk,
        timeoutMs,
      };
      const res: RequestResult<RapiFrame> = req.query ? await queue.request({ ...base, idempotent: true, retries }) : await queue.request(base);
      if (res.ok && !res.reply.checksumOk) {
        this.counters.badChecksums++;
        if (req.query && attempt < retries) {
          this.counters.queryRetries++;
          continue;
        }
        return {
          ok: false,
          code: 'BAD_CHECKSUM',
          message: req.query
            ? `EVSE ${this.name}: the reply to ${label} failed its checksum ${attempt + 1} times — check the cable for noise`
            : `EVSE ${this.name}: the reply to ${label} failed its checksum; not re-sent (a setter) — the read-back tells what the board did`,
        };
      }
      if (!res.ok && res.code === 'NAK' && res.reply && res.reply.seq === null && res.reply.args.length === 0 && frame.seq !== null) {
        // `$NK^21` without our seq id: the board saw a bad checksum or too many tokens (§3)
        this.counters.checksumNaks++;
        if (req.query && attempt < retries) {
          this.counters.queryRetries++;
          continue;
        }
        return {
          ok: false,
          code: 'BAD_CHECKSUM',
          message: `EVSE ${this.name} received ${label} corrupted (it answered $NK^21: checksum or token error) and did not carry it out — check the cable for noise, then retry`,
          reply: res.reply,
        };
      }
      if (res.ok) {
        this.failures = 0;
        return { ok: true, reply: res.reply };
      }
      if (res.code === 'TIMEOUT') this.noteFailure(res.message);
      else if (res.code === 'NAK') this.failures = 0;
      return { ok: false, code: res.code, message: res.message, reply: res.reply };
    }
  }

  /** A query whose reply is decoded and reported; null on any failure (a NK = not in this build). */
  private async query(req: RapiRequest): Promise<RapiFrame | null> {
    const r = await this.exchange(req);
    if (!r.ok) return null;
    this.absorb(req.cmd, r.reply);
    return r.reply;
  }

  private codeFor(o: Extract<Outcome, { ok: false }>): Code {
    switch (o.code) {
      case 'LINK_DOWN':
      case 'WRITE_FAILED':
        return 'LINK_DOWN';
      case 'TIMEOUT':
      case 'BAD_CHECKSUM':
        return 'DEVICE_OFFLINE';
      case 'TOO_LONG':
        return 'OUT_OF_RANGE';
      case 'GATED':
      case 'NAK':
        return 'CONFLICT';
    }
  }

  /** A setter, then its read-back queries; results as values. */
  private async set(req: RapiRequest, readBack: RapiRequest[], timeoutMs?: number): Promise<ExecuteResult> {
    const r = await this.exchange(req, timeoutMs);
    const what = COMMANDS[req.cmd]?.what ?? req.cmd;
    if (!r.ok) {
      const rb = r.code === 'BAD_CHECKSUM' || r.code === 'TIMEOUT' ? await this.readValues(readBack) : undefined;
      const message =
        r.code === 'NAK'
          ? `EVSE ${this.name} refused $${req.cmd} (${what})${r.reply?.args.length ? `: it answered ${r.reply.args.join(' ')}` : ''} — this board's firmware may not have it, or the board's state does not allow it now`
          : r.message;
      return { ok: false, code: this.codeFor(r), message, readBack: rb };
    }
    return this.readBack(readBack, `EVSE ${this.name}: ${what} done`);
  }

  private async readBack(reqs: RapiRequest[], message: string): Promise<ExecuteResult> {
    const values = await this.readValues(reqs);
    return { ok: true, sent: true, readBack: values, message };
  }

  private async readValues(reqs: RapiRequest[]): Promise<Values | undefined> {
    if (!reqs.length) return undefined;
    const out: Values = {};
    for (const req of reqs) {
      const f = await this.query(req);
      if (!f) continue;
      Object.assign(out, this.valuesOf(req.cmd, f));
    }
    return out;
  }

  private async setCurrent(amps: number, mode: 'saved' | 'volatile' | 'hwmax'): Promise<ExecuteResult> {
    const r = await this.exchange(Rapi.setCurrent(amps, mode));
    if (!r.ok && !(r.code === 'NAK' && r.reply)) {
      return { ok: false, code: this.codeFor(r), message: r.message, readBack: await this.readValues([Rapi.getCapacityRange(), Rapi.getSettings()]) };
    }
    const readBack = (await this.readValues([Rapi.getCapacityRange(), Rapi.getSettings()])) ?? {};
    const applied = decodeNumber(r.reply!);
    if (!r.ok) {
      // `$NK n`: the board clamped and applied n (§7.1). The gate should have refused this.
      return {
        ok: false,
        code: 'OUT_OF_RANGE',
        message: `EVSE ${this.name} did not take ${amps} A and applied ${applied ?? '?'} A instead (its range is ${readBack.minA ?? '?'}–${readBack.maxA ?? '?'} A)`,
        readBack,
      };
    }
    return { ok: true, sent: true, readBack, message: `EVSE ${this.name}: current capacity ${applied} A` };
  }

  // ================================================================ connection life

  private initialise(reason: string): void {
    if (!this.started) return;
    const gen = ++this.generation;
    this.ready = false;
    this.initialising = true;
    this.pollDue.clear();
    this.pollBusy.clear();
    void this.runInit(gen, reason).finally(() => {
      if (gen === this.generation) this.initialising = false;
    });
  }

  private async runInit(gen: number, reason: string): Promise<void> {
    // the board may have been replaced or re-flashed: GV goes out as to an unknown board (no seq id)
    this.protocol = null;
    const gv = await this.exchange(Rapi.getVersion());
    if (gen !== this.generation) return;
    if (!gv.ok) {
      this.nextProbeAt = this.clock.now() + (this.opts.probeMs ?? 5000);
      return;
    }
    const v = decodeGV(gv.reply);
    if (!v) {
      this.counters.invalidReplies++;
      this.nextProbeAt = this.clock.now() + (this.opts.probeMs ?? 5000);
      return;
    }
    this.protocol = v.protocol;
    this.firmware = v.firmware;
    this.fact({ kind: 'identity', firmware: v.firmware, protocol: v.protocolText });
    for (const req of [Rapi.getSettings(), Rapi.getCapacityRange(), Rapi.getState(), Rapi.getEnergy(), Rapi.getFaultCounters(), Rapi.getTemperatures(), Rapi.getCurrentVoltage()]) {
      await this.query(req);
      if (gen !== this.generation) return;
    }
    await this.superviseAtConnect(gen);
    if (gen !== this.generation) return;
    this.ready = true;
    this.setOnline(true, reason);
    const now = this.clock.now();
    for (const item of Object.keys(this.pollMs) as PollItem[]) this.pollDue.set(item, now + this.pollMs[item]);
  }

  /** Heartbeat at connect (§6): read, acknowledge a pending miss, arm. */
  private async superviseAtConnect(gen: number): Promise<void> {
    const cfg = this.opts.heartbeat === undefined ? { intervalS: 30, fallbackA: 6 } : this.opts.heartbeat;
    const gy = await this.exchange(Rapi.getHeartbeat());
    if (gen !== this.generation) return;
    if (!gy.ok) {
      this.setHeartbeat(gy.code === 'NAK' || gy.code === 'GATED' ? 'unsupported' : 'unknown', null, null, null);
      return;
    }
    const st = decodeHeartbeat(gy.reply);
    if (!st) {
      this.counters.invalidReplies++;
      this.setHeartbeat('unknown', null, null, null);
      return;
    }
    if (st.trigger === 2) await this.acknowledgeMiss('pending at connect');
    if (gen !== this.generation) return;
    if (!cfg) {
      this.setHeartbeat(st.intervalS > 0 ? 'armed' : 'off', st.intervalS, st.fallbackA, st.trigger === 2 ? 1 : st.trigger);
      return;
    }
    const arm = await this.exchange(Rapi.heartbeatArm(cfg.intervalS, cfg.fallbackA));
    if (gen !== this.generation) return;
    const a = arm.ok ? decodeHeartbeat(arm.reply) : null;
    if (!a) {
      this.setHeartbeat(arm.ok || arm.code === 'NAK' ? 'unsupported' : 'unknown', st.intervalS, st.fallbackA, st.trigger);
      return;
    }
    this.setHeartbeat(a.intervalS > 0 ? 'armed' : 'off', a.intervalS, a.fallbackA, a.trigger);
    this.nextPulseAt = this.clock.now() + this.pulseMs(a.intervalS);
  }

  private pulseMs(intervalS: number): number {
    const cfg = this.opts.heartbeat;
    return cfg?.pulseMs ?? Math.max(1000, Math.floor((intervalS * 1000) / 3));
  }

  private async pulse(): Promise<void> {
    if (this.pulseBusy) return;
    this.pulseBusy = true;
    const gen = this.generation;
    try {
      this.counters.heartbeatPulses++;
      const r = await this.exchange(Rapi.heartbeatPulse());
      if (gen !== this.generation) return;
      const hb = r.reply ? decodeHeartbeat(r.reply) : null;
      if (!r.ok && r.code === 'NAK' && hb?.trigger === 2) {
        // a pulse came too late: the board is at the fallback current until acknowledged
        await this.acknowledgeMiss('pulse refused');
      } else if (r.ok && hb) {
        this.setHeartbeat(hb.intervalS > 0 ? 'armed' : 'off', hb.intervalS, hb.fallbackA, hb.trigger);
      }
    } finally {
      this.pulseBusy = false;
    }
  }

  private async acknowledgeMiss(why: string): Promise<void> {
    if (this.hb.state !== 'missed') {
      // a new miss (a retried acknowledgement of the same one is not counted again)
      this.counters.heartbeatMisses++;
      this.setHeartbeat('missed', this.hb.intervalS, this.hb.fallbackA, 2, {
        type: 'evse.heartbeat.missed',
        data: { deviceId: this.opts.deviceId, why },
      });
    }
    const ack = await this.exchange(Rapi.heartbeatAck());
    const hb = ack.ok ? decodeHeartbeat(ack.reply) : null;
    if (hb) {
      this.counters.heartbeatAcks++;
      this.setHeartbeat(hb.intervalS > 0 ? 'armed' : 'off', hb.intervalS, hb.fallbackA, hb.trigger, {
        type: 'evse.heartbeat.acknowledged',
        data: { deviceId: this.opts.deviceId, restored: hb.trigger === 1 },
      });
    }
  }

  private setHeartbeat(state: HeartbeatState, intervalS: number | null, fallbackA: number | null, trigger: 0 | 1 | 2 | null, event?: { type: string; data: Record<string, unknown> }): void {
    const changed = state !== this.hb.state || intervalS !== this.hb.intervalS || fallbackA !== this.hb.fallbackA || trigger !== this.hb.trigger;
    this.hb = { state, intervalS, fallbackA, trigger };
    if (!changed && !event) return;
    const at = this.clock.now();
    this.emit({ type: 'fact', at, deviceId: this.opts.deviceId, fact: { kind: 'heartbeat', state, intervalS, fallbackA, trigger, acknowledged: event?.type === 'evse.heartbeat.acknowledged' }, event });
    this.emit({
      type: 'reading',
      at,
      deviceId: this.opts.deviceId,
      sample: false,
      values: { heartbeatState: state, heartbeatArmed: state === 'armed' ? 1 : 0, heartbeatIntervalS: intervalS, heartbeatFallbackA: fallbackA, heartbeatTrigger: trigger },
    });
  }

  private lost(reason: string): void {
    this.generation++;
    this.ready = false;
    this.initialising = false;
    this.pollDue.clear();
    this.pollBusy.clear();
    this.setOnline(false, reason);
  }

  private noteFailure(message: string): void {
    this.failures++;
    if (this.failures >= (this.opts.offlineAfter ?? 3) && this.online) {
      this.generation++;
      this.ready = false;
      this.initialising = false;
      this.pollDue.clear();
      this.pollBusy.clear();
      this.setOnline(false, `no reply: ${message}`);
      this.nextProbeAt = this.clock.now() + (this.opts.probeMs ?? 5000);
    }
  }

  private setOnline(online: boolean, reason: string): void {
    if (online === this.online) return;
    this.online = online;
    this.emit({
      type: 'presence',
      at: this.clock.now(),
      deviceId: this.opts.deviceId,
      online,
      reason,
      identity: online ? { firmware: this.firmware, protocol: this.protocol ? formatVersion(this.protocol) : null, model: 'OpenEVSE' } : undefined,
    });
  }

  private tick(): void {
    if (!this.started || this.link.state !== 'up') return;
    const now = this.clock.now();
    if (!this.ready) {
      if (!this.initialising && now >= this.nextProbeAt) this.initialise('probe');
      return;
    }
    for (const [item, due] of this.pollDue) {
      if (now < due || this.pollBusy.has(item)) continue;
      this.pollDue.set(item, now + this.pollMs[item]);
      this.pollBusy.add(item);
      const gen = this.generation;
      const reqs = item === 'GE' ? [Rapi.getSettings(), Rapi.getCapacityRange()] : [{ cmd: item, args: [], query: true }];
      void (async () => {
        for (const r of reqs) {
          if (gen !== this.generation) break;
          await this.query(r);
        }
      })().finally(() => this.pollBusy.delete(item));
    }
    // arming failed at connect (no reply, unreadable reply): try again, supervision matters
    if (this.hb.state === 'unknown' && this.opts.heartbeat !== null && !this.armBusy && now >= this.nextArmAt) {
      this.nextArmAt = now + (this.opts.probeMs ?? 5000);
      this.armBusy = true;
      const gen = this.generation;
      void this.superviseAtConnect(gen).finally(() => (this.armBusy = false));
    }
    // 'missed': the acknowledgement was refused (e.g. over-temperature blocks the restore);
    // the next pulse is refused again and the acknowledgement retried
    if ((this.hb.state === 'armed' || this.hb.state === 'missed') && this.hb.intervalS && now >= this.nextPulseAt) {
      this.nextPulseAt = now + this.pulseMs(this.hb.intervalS);
      void this.pulse();
    }
  }

  // ================================================================ incoming

  private onUnsolicited(f: RapiFrame): void {
    if (f.kind === 'command') {
      this.counters.echoFrames++;
      return;
    }
    if (!f.checksumOk) {
      this.counters.badChecksums++;
      return;
    }
    if (f.kind === 'OK' || f.kind === 'NK') {
      this.counters.unmatchedReplies++;
      return;
    }
    this.counters.asyncFrames++;
    const at = this.clock.now();
    switch (f.kind) {
      case 'AT': {
        const s = decodeAT(f);
        if (!s) return void this.counters.invalidReplies++;
        if (s.state === 0) {
          // the forced `$AT 00` a booting board prints before `$AB` (§4.1)
          this.lost('board restarting ($AT 00)');
        }
        this.status('AT', s.state, s.pilot, s.vflags, s.capacityA, null);
        return;
      }
      case 'AB': {
        const b = decodeAB(f);
        if (!b) return void this.counters.invalidReplies++;
        this.counters.boots++;
        this.emit({
          type: 'fact',
          at,
          deviceId: this.opts.deviceId,
          fact: { kind: 'boot', state: b.state, firmware: b.firmware },
          event: { type: 'evse.boot', data: { deviceId: this.opts.deviceId, firmware: b.firmware, post: b.state === 0 ? 'ok' : stateInfo(b.state).name }, durable: true },
        });
        if (b.state !== 0) this.status('AT', b.state, 0, null, null, null);
        this.setHeartbeat(this.hb.state === 'unsupported' ? 'unsupported' : 'unknown', this.hb.intervalS, this.hb.fallbackA, null);
        // the board reset: a new session with it (volatile state, heartbeat trigger, echo) starts
        this.setOnline(false, 'board reset ($AB)');
        this.initialise('board reset ($AB)');
        return;
      }
      case 'ST': {
        const s = decodeST(f);
        if (s) this.status('ST', s.state, null, null, null, null);
        return;
      }
      case 'AN': {
        const b = decodeAN(f);
        if (b) this.fact({ kind: 'button', long: b.long });
        return;
      }
      case 'WF': {
        const w = decodeWF(f);
        if (w) this.fact({ kind: 'wifiRequest', mode: w.mode });
        return;
      }
      default:
        return;
    }
  }

  /** Decodes a reply to `cmd` into facts, readings and flags. */
  private absorb(cmd: string, f: RapiFrame): void {
    switch (cmd) {
      case 'GS': {
        const s = decodeGS(f, this.protocol);
        if (!s) return void this.counters.invalidReplies++;
        this.status('GS', s.state, s.pilot, s.vflags, null, s.elapsedS);
        return;
      }
      case 'GG':
      case 'GU':
      case 'GE':
      case 'GC':
      case 'GP':
      case 'GF': {
        const r = FACT_REPLIES[cmd];
        const fact = r.fact(f);
        if (!fact) return void this.counters.invalidReplies++;
        this.fact(fact);
        this.reading(this.valuesOf(cmd, f), r.telemetry);
        return;
      }
      case 'GY': {
        const h = decodeHeartbeat(f);
        if (h) this.emit({ type: 'reply', at: this.clock.now(), deviceId: this.opts.deviceId, what: 'heartbeat', values: this.valuesOf(cmd, f) });
        return;
      }
      default:
        this.emit({ type: 'reply', at: this.clock.now(), deviceId: this.opts.deviceId, what: cmd, values: this.valuesOf(cmd, f) });
    }
  }

  /** Values of a reply, units in the names. */
  private valuesOf(cmd: string, f: RapiFrame): Values {
    switch (cmd) {
      case 'GS': {
        const s = decodeGS(f, this.protocol);
        return s ? { state: s.state, stateName: stateInfo(s.state).name, elapsedS: s.elapsedS } : {};
      }
      case 'GG': {
        const m = decodeGG(f);
        if (!m) return {};
        const currentA = m.currentMa === null ? null : m.currentMa / 1000;
        return { currentA, voltageV: m.voltageMv / 1000, powerW: currentA === null ? null : Math.round(currentA * (m.voltageMv / 1000)) };
      }
      case 'GU': {
        const e = decodeGU(f);
        return e ? { sessionWs: e.sessionWs, sessionWh: Math.round((e.sessionWs / 3600) * 10) / 10, lifetimeKWh: e.lifetimeWh / 1000 } : {};
      }
      case 'GE': {
        const e = decodeGE(f);
        return e ? { capacityA: e.capacityA, serviceLevel: e.level, autoServiceLevel: e.ecf & ECF.AUTO_SVC_LEVEL_DISABLED ? 0 : 1, ecf: e.ecf } : {};
      }
      case 'GC': {
        const c = decodeGC(f);
        return c ? { minA: c.minA, maxA: c.maxA, pilotA: c.pilotA, configuredA: c.configuredA } : {};
      }
      case 'GP': {
        const t = decodeGP(f);
        return t ? { ds3231TempC: t.ds3231C, mcp9808TempC: t.mcp9808C, tmp007TempC: t.tmp007C } : {};
      }
      case 'GF': {
        const c = decodeGF(f);
        return c ? { gfiTrips: c.gfiTrips, noGroundTrips: c.noGroundTrips, stuckRelayTrips: c.stuckRelayTrips } : {};
      }
      case 'GY': {
        const h = decodeHeartbeat(f);
        return h ? { heartbeatIntervalS: h.intervalS, heartbeatFallbackA: h.fallbackA, heartbeatTrigger: h.trigger } : {};
      }
      case 'GT': {
        const t = decodeGT(f);
        return t ? { clock: `${t.year}-${String(t.month).padStart(2, '0')}-${String(t.day).padStart(2, '0')}T${String(t.hour).padStart(2, '0')}:${String(t.minute).padStart(2, '0')}:${String(t.second).padStart(2, '0')}Z` } : { clock: null };
      }
      case 'GD': {
        const d = decodeGD(f);
        return d ? { delayTimer: d.enabled ? `${d.startH}:${String(d.startM).padStart(2, '0')}-${d.endH}:${String(d.endM).padStart(2, '0')}` : null } : {};
      }
      case 'G3':
        return { timeLimitMin: (decodeNumber(f) ?? 0) * 15 || null };
      case 'GH':
        return { energyLimitKWh: decodeNumber(f) || null };
      default:
        return { reply: f.args.join(' ') };
    }
  }

  private status(source: 'AT' | 'GS' | 'ST', state: number, pilot: number | null, vflags: number | null, capacityA: number | null, elapsedS: number | null): void {
    const at = this.clock.now();
    const info = stateInfo(state);
    const prev = this.lastState;
    this.lastState = state;
    this.emit({
      type: 'fact',
      at,
      deviceId: this.opts.deviceId,
      fact: { kind: 'status', source, state, pilot, vflags, capacityA, elapsedS },
      event: prev !== state ? { type: 'evse.state', data: { deviceId: this.opts.deviceId, state: info.name, text: info.text, from: prev === null ? null : stateInfo(prev).name, source } } : undefined,
    });
    const values: Values = { state, stateName: info.name, stateText: info.text };
    if (pilot !== null) values.pilot = pilot;
    if (vflags !== null) {
      values.vflags = vflags;
      values.evConnected = vflags & VFLAGS.EV_CONNECTED ? 1 : 0;
      values.charging = vflags & VFLAGS.CHARGING_ON ? 1 : 0;
    }
    if (capacityA !== null) values.capacityA = capacityA;
    if (elapsedS !== null) values.elapsedS = elapsedS;
    this.reading(values, false);
    const changes: FlagChange[] = [];
    const flag = (group: string, name: string, text: string, active: boolean) => {
      if ((this.activeFlags.get(name) ?? false) === active) return;
      this.activeFlags.set(name, active);
      changes.push({ group, name, text, active });
    };
    // one fault flag per fault state; the board is in at most one at a time
    for (const code of [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]) {
      const i = stateInfo(code);
      if (state === code || this.activeFlags.get(i.name)) flag('fault', i.name, i.text, state === code);
    }
    if (vflags !== null) {
      flag('fault', 'hard_fault', 'hard fault: unplug the vehicle or reset the board', (vflags & VFLAGS.HARD_FAULT) !== 0);
      flag('warning', 'gfi_tripped_since_boot', 'a ground fault tripped since the board started', (vflags & VFLAGS.GFI_TRIPPED) !== 0);
      flag('warning', 'no_ground_tripped_since_boot', 'no ground tripped since the board started', (vflags & VFLAGS.NOGND_TRIPPED) !== 0);
      flag('warning', 'limit_sleep', 'sleeping: a session time or energy limit was reached', (vflags & VFLAGS.LIMIT_SLEEP) !== 0);
    }
    if (changes.length) this.emit({ type: 'flags', at, deviceId: this.opts.deviceId, changes });
    // async state changes refresh the counters that move with them at once
    if (source !== 'GS' && this.ready) {
      for (const item of ['GS', 'GU', 'GG'] as PollItem[]) if (this.pollDue.has(item)) this.pollDue.set(item, at);
    }
  }

  private lastState: number | null = null;

  private reading(values: Values, sample: boolean): void {
    this.emit({ type: 'reading', at: this.clock.now(), deviceId: this.opts.deviceId, values, sample });
  }

  private fact(fact: EvseFact): void {
    this.emit({ type: 'fact', at: this.clock.now(), deviceId: this.opts.deviceId, fact });
  }

  private emitFrame(f: RapiFrame, dir: 'rx' | 'tx', ts: number): void {
    const record: FrameRecord = {
      protocol: 'rapi',
      dir,
      address: f.seq === null ? null : f.seq.toString(16).toUpperCase().padStart(2, '0'),
      bytes: Buffer.from(f.line, 'latin1'),
      text: f.line,
      kind: f.kind === 'command' ? (dir === 'rx' ? 'echo' : f.cmd) : f.kind,
      deviceId: this.opts.deviceId,
    };
    this.emit({ type: 'frame', at: ts, frame: record, invalid: f.checksumOk ? undefined : 'bad checksum' });
  }

  private emit(o: Observation<EvseFact>): void {
    for (const l of this.listeners) {
      try {
        l(o);
      } catch {
        // a listener's bug must not stop the driver
      }
    }
  }
}
