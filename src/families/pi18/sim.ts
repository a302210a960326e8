/**
 * The device side of an LVX6048 speaking PI18 (pi18.md), in bytes: it reads requests through
 * its own Pi18Framer and writes replies, so it can sit
 * - behind a fake node-hid device (`hidDevice()`, 8-byte reports, for HidTransport's opener seam),
 * - on any Transport (`attach`), e.g. the device end of a memory link or of a real pseudo-terminal
 *   (the 2400 Bd RS-232 variant),
 * - or be driven directly (`receive(bytes)` → reply bytes) by pure tests.
 *
 * Replies come from a state that setters change, with the unit's refusal rules as the reference
 * gives them (§5; pi18-profile-workflow.md §2): custom voltages (PSDV/BUCD/MCHGV) only with battery
 * type User, currents only from the MCHGCR/MUCHGCR step lists, ranges of a 48 V unit, `^0` for
 * anything out of range or unknown (also an unknown query, §1.3).
 *
 * Scripted behaviours (SimScript, subject = the request's command text):
 *   'nak'          answer a setter `^0` ('nak-query': a query)
 *   'nak30'        answer a PI30 `(NAK` (some firmware does, §1.3)
 *   'drop-reply'   answer nothing (a setter is applied first: the ack is what gets lost)
 *   'corrupt-crc'  answer with one CRC byte flipped
 *   'ignore'       acknowledge a setter `^1` but do not apply it (a read-back mismatch)
 *   'delay-reply'  answer after `delayReplyMs` on the sim's clock (a reply that arrives late)
 *   'fault-86'     from this exchange on, report fault 86 "parallel output setting different" (§4.4)
 *
 * A parallel pair (`createPi18Pair`) is two units of the same model with parallel indexes 0 and
 * 1 (GS #28), output mode "parallel", that answer PGSn for each other.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../../clock.js';
import type { HidDevice } from '../../link/transports/hid.js';
import { toHidReports } from '../../link/transports/hid.js';
import type { Transport } from '../../link/transports/types.js';
import { record } from '../../sim/record.js';
import { SimScript } from '../../sim/script.js';
import {
  buildFrame,
  commandName,
  decodeSetterCommand,
  encodeIdPayload,
  encodePiriPayload,
  isUnknown,
  DCAC_DIRECTIONS,
  LINE_DIRECTIONS,
  MPPT_STATUSES,
  POWER_DIRECTIONS,
  WARNING_FLAGS,
  WORK_MODES,
  applySettingToPiri,
  type CrcVariant,
  type Enum,
  type Firmware,
  type Pi18Frame,
  type Pi18Setting,
  type Piri,
  type WarningName,
  type WorkMode,
} from './codec.js';
import { Pi18Framer } from './framer.js';

export type Pi18SimBehaviour = 'nak' | 'nak-query' | 'nak30' | 'drop-reply' | 'corrupt-crc' | 'ignore' | 'delay-reply' | 'fault-86';

/** The live values GS reports (pi18.md §4.2), without the parallel index (that is the unit's). */
export interface Pi18SimStatus {
  gridVoltageV: number;
  gridFrequencyHz: number;
  acOutputVoltageV: number;
  acOutputFrequencyHz: number;
  acOutputApparentPowerVA: number;
  acOutputActivePowerW: number;
  outputLoadPct: number;
  batteryVoltageV: number;
  batteryDischargeCurrentA: number;
  batteryChargeCurrentA: number;
  batteryCapacityPct: number;
  heatSinkTempC: number;
  mppt1TempC: number;
  mppt2TempC: number;
  pv1PowerW: number;
  pv2PowerW: number;
  pv1VoltageV: number;
  pv2VoltageV: number;
  mode: WorkMode;
}

export interface Pi18SimOptions {
  /** The serial number ID reports (14 digits on an LVX6048). */
  serial?: string;
  firmware?: Firmware;
  /** Settings and ratings to start from (a 48 V LVX6048 with User battery type by default). */
  piri?: Partial<Piri>;
  status?: Partial<Pi18SimStatus>;
  /** MCHGCR list (pi18.md §4.6). Default 10…80 step 10. */
  chargeCurrents?: number[];
  /** MUCHGCR list. Default 2, 10…80 step 10. */
  utilityCurrents?: number[];
  /** Parallel index (GS #28). Default 0. */
  parallelIndex?: number;
  /** Whether EY/EM/ED are answered (LV5048 answers `^0`, §4.6). Default true. */
  energyPerPeriod?: boolean;
  /** Refuse setters that would leave cutoff ≥ stop-discharge or utility current > total current. Default false (not confirmed on hardware). */
  enforceCrossField?: boolean;
  /** For 'delay-reply'. */
  clock?: Clock;
  delayReplyMs?: number;
  crcVariant?: CrcVariant;
}

/** A 48 V LVX6048 as the PIRI example of pi18.md §4.1 describes it, with 6 kW ratings and 2 MPPTs. */
export function defaultPiri(): Piri {
  return {
    acInputRatedVoltageV: 230,
    acInputRatedCurrentA: 26.1,
    acOutputRatedVoltageV: 230,
    acOutputRatedFrequencyHz: 50,
    acOutputRatedCurrentA: 26.1,
    acOutputRatedApparentPowerVA: 6000,
    acOutputRatedActivePowerW: 6000,
    batteryRatedVoltageV: 48,
    stopDischargeVoltageV: 48,
    stopChargeVoltageV: 53,
    cutoffVoltageV: 44,
    bulkVoltageV: 56.4,
    floatVoltageV: 54,
    batteryType: 'user',
    maxUtilityChargingCurrentA: 30,
    maxChargingCurrentA: 60,
    inputVoltageRange: 'ups',
    outputSourcePriority: 'solar_battery_utility',
    chargerPriority: 'solar_and_utility',
    parallelMaxNum: 9,
    machineType: 'off_grid',
    topology: 'transformerless',
    outputMode: 'single',
    solarPowerPriority: 'load_battery_utility',
    mpptStrings: 2,
    extra: ['00'],
  };
}

export function defaultStatus(): Pi18SimStatus {
  return {
    gridVoltageV: 230.1,
    gridFrequencyHz: 50,
    acOutputVoltageV: 230,
    acOutputFrequencyHz: 50,
    acOutputApparentPowerVA: 1406,
    acOutputActivePowerW: 1376,
    outputLoadPct: 23,
    batteryVoltageV: 52.8,
    batteryDischargeCurrentA: 0,
    batteryChargeCurrentA: 12,
    batteryCapacityPct: 78,
    heatSinkTempC: 41,
    mppt1TempC: 38,
    mppt2TempC: 37,
    pv1PowerW: 1820,
    pv2PowerW: 640,
    pv1VoltageV: 310.4,
    pv2VoltageV: 287.9,
    mode: 'hybrid',
  };
}

const DEFAULT_CHARGE = [10, 20, 30, 40, 50, 60, 70, 80];
const DEFAULT_UTILITY = [2, 10, 20, 30, 40, 50, 60, 70, 80];

/** The ranges of a 48 V unit (§5). Steps in tenths of a volt. */
function voltageRule(s: Pi18Setting): string | null {
  const t = (v: number) => Math.round(v * 10);
  switch (s.key) {
    case 'cutoff_voltage': {
      const v = t(s.volts);
      return v >= 400 && v <= 480 ? null : 'PSDV outside 40.0–48.0 V';
    }
    case 'battery_thresholds': {
      const d = t(s.stopDischargeV);
      if (d < 440 || d > 510 || d % 10) return 'BUCD stop-discharge not in 44…51 V';
      if (s.stopChargeV === 'full') return null;
      const c = t(s.stopChargeV);
      return c >= 480 && c <= 580 && c % 10 === 0 ? null : 'BUCD stop-charge not full or 48…58 V';
    }
    case 'charge_voltages': {
      const b = t(s.bulkV);
      const f = t(s.floatV);
      return b >= 480 && b <= 584 && f >= 480 && f <= 584 ? null : 'MCHGV outside 48.0–58.4 V';
    }
    default:
      return null;
  }
}

type Replier = (bytes: Uint8Array) => void;

export class Pi18Sim {
  readonly script = new SimScript<Pi18SimBehaviour, string>();
  piri: Piri;
  status: Pi18SimStatus;
  serial: string;
  firmware: Firmware;
  chargeCurrents: number[];
  utilityCurrents: number[];
  parallelIndex: number;
  faultCode = 0;
  warnings: Partial<Record<WarningName, boolean>> = {};
  totalEnergyKWh = 12345;
  /** The requests received, as command text ("PIRI", "MCHGC0,060"), oldest first: the most recent SIM_RECORD_LIMIT (src/sim/record.ts). */
  readonly received: { type: 'query' | 'set'; command: string }[] = [];
  /** Setters applied, in order (the most recent SIM_RECORD_LIMIT). */
  readonly applied: string[] = [];
  /** The other unit of a parallel pair (PGSn answers for it). */
  peer: Pi18Sim | null = null;
  private readonly framer: Pi18Framer;
  private readonly listeners = new Set<Replier>();
  private readonly detachers: (() => void)[] = [];

  constructor(private readonly opts: Pi18SimOptions = {}) {
    this.piri = { ...defaultPiri(), ...opts.piri };
    this.status = { ...defaultStatus(), ...opts.status };
    this.serial = opts.serial ?? '96142109100037';
    this.firmware = opts.firmware ?? { main: '05220', slave1: '03110', slave2: '00000' };
    this.chargeCurrents = opts.chargeCurrents ?? [...DEFAULT_CHARGE];
    this.utilityCurrents = opts.utilityCurrents ?? [...DEFAULT_UTILITY];
    this.parallelIndex = opts.parallelIndex ?? 0;
    this.framer = new Pi18Framer({ crcVariant: opts.crcVariant });
  }

  /** Bytes the framer gave up (bad CRC / length from the host). */
  get corruptBytes(): number {
    return this.framer.corruptBytes;
  }

  /** Subscribes to every reply the unit writes (bytes, one frame per call). */
  onReply(listener: Replier): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Host → device bytes; replies go to the `onReply` listeners (and are returned). */
  receive(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const frame of this.framer.push(chunk)) {
      if (frame.type !== 'query' && frame.type !== 'set') continue;
      record(this.received, { type: frame.type, command: frame.command });
      const reply = this.answer(frame);
      if (!reply) continue;
      if (reply.delayMs !== undefined) {
        const bytes = reply.bytes;
        this.opts.clock!.setTimeout(() => this.emit(bytes), reply.delayMs);
        continue;
      }
      out.push(reply.bytes);
      this.emit(reply.bytes);
    }
    return out;
  }

  private emit(bytes: Uint8Array): void {
    for (const l of this.listeners) l(bytes);
  }

  /** Speaks through a transport: its received bytes are requests, replies are written to it. */
  attach(transport: Transport): () => void {
    const offData = transport.onData((c) => this.receive(c));
    const offReply = this.onReply((b) => {
      transport.write(b).catch(() => undefined);
    });
    const detach = () => {
      offData();
      offReply();
    };
    this.detachers.push(detach);
    return detach;
  }

  /**
   * A fake node-hid device in front of this unit (for HidTransport's `opener`): output reports
   * (report id first unless `reportId: null`) feed the unit, replies come back as 8-byte input
   * reports padded with 0x00 (pi18.md §3.2), each emitted on its own microtask.
   */
  hidDevice(opts: { reportId?: number | null } = {}): FakePi18HidDevice {
    return new FakePi18HidDevice(this, opts.reportId === undefined ? 0x00 : opts.reportId);
  }

  stop(): void {
    for (const d of this.detachers.splice(0)) d();
  }

  /** Sets (or clears with 0) the fault code FWS reports; a fault puts the unit in fault mode. */
  setFault(code: number): void {
    this.faultCode = code;
    if (code !== 0) this.status.mode = 'fault';
    else if (this.status.mode === 'fault') this.status.mode = 'hybrid';
  }

  // ---- replies ----

  private frame(f: Pi18Frame): Uint8Array {
    return buildFrame(f, this.opts.crcVariant ?? 'bump-nul');
  }

  private data(payload: string): Uint8Array {
    return this.frame({ type: 'data', payload });
  }

  private answer(req: Pi18Frame & { type: 'query' | 'set' }): { bytes: Uint8Array; delayMs?: number } | null {
    const cmd = req.command;
    if (this.script.take('fault-86', cmd)) this.setFault(86);
    const isSetter = req.type === 'set';
    let bytes: Uint8Array;
    if (this.script.take('nak30', cmd)) {
      bytes = this.frame({ type: 'nak30', text: '(NAK' });
    } else if (isSetter ? this.script.take('nak', cmd) : this.script.take('nak-query', cmd)) {
      bytes = this.frame({ type: 'nak' });
    } else if (req.lengthMismatch) {
      bytes = this.frame({ type: 'nak' }); // firmware that checks the length refuses (§1.1)
    } else {
      bytes = isSetter ? this.set(cmd) : this.query(cmd);
    }
    // What happens to the reply on its way back: a setter has taken effect (or not) already.
    if (this.script.take('drop-reply', cmd)) return null;
    if (this.script.take('corrupt-crc', cmd)) {
      bytes = bytes.slice();
      bytes[bytes.length - 2] ^= 0x5a;
      if (bytes[bytes.length - 2] === 0x0d) bytes[bytes.length - 2] ^= 0x01;
    }
    if (this.opts.clock && this.script.take('delay-reply', cmd)) return { bytes, delayMs: this.opts.delayReplyMs ?? 1500 };
    return { bytes };
  }

  private query(cmd: string): Uint8Array {
    let m: RegExpExecArray | null;
    switch (cmd) {
      case 'PI':
        return this.data('18');
      case 'PIRI':
        return this.data(encodePiriPayload(this.piri));
      case 'GS':
        return this.data(this.gsPayload());
      case 'MOD':
        return this.data(String(WORK_MODES.indexOf(this.status.mode)).padStart(2, '0'));
      case 'FWS':
        return this.data(this.fwsPayload());
      case 'ID':
        return this.data(encodeIdPayload(this.serial));
      case 'VFW':
        return this.data(`${this.firmware.main},${this.firmware.slave1},${this.firmware.slave2}`);
      case 'ET':
        return this.data(String(this.totalEnergyKWh).padStart(8, '0'));
      case 'MCHGCR':
        return this.data(this.chargeCurrents.map((a) => String(a).padStart(3, '0')).join(','));
      case 'MUCHGCR':
        return this.data(this.utilityCurrents.map((a) => String(a).padStart(3, '0')).join(','));
    }
    if (/^E[YMD]\d+$/.test(cmd)) {
      const ok = (this.opts.energyPerPeriod ?? true) && /^(EY\d{4}|EM\d{6}|ED\d{8})$/.test(cmd);
      return ok ? this.data(String(Math.floor(this.totalEnergyKWh / (cmd[1] === 'Y' ? 2 : cmd[1] === 'M' ? 12 : 300))).padStart(8, '0')) : this.frame({ type: 'nak' });
    }
    if ((m = /^PGS(\d)$/.exec(cmd))) {
      const n = Number(m[1]);
      const unit = n === this.parallelIndex ? this : this.peer && this.peer.parallelIndex === n ? this.peer : null;
      return this.data(unit ? unit.pgsPayload(this) : '0,' + '0,'.repeat(27) + '000');
    }
    return this.frame({ type: 'nak' });
  }

  private set(cmd: string): Uint8Array {
    const nak = this.frame({ type: 'nak' });
    const ack = this.frame({ type: 'ack' });
    const d = decodeSetterCommand(cmd);
    if (!d.ok) return nak; // unknown or malformed setter; PF/ID/CLE/LON/V/F are not simulated
    const s = d.setting;
    if (d.unit !== null && d.unit !== this.parallelIndex) return nak;
    if (s.key === 'cutoff_voltage' || s.key === 'battery_thresholds' || s.key === 'charge_voltages') {
      if (this.piri.batteryType !== 'user') return nak; // custom voltages only for battery type User
      if (voltageRule(s)) return nak;
    }
    if (s.key === 'max_charging_current' && !this.chargeCurrents.includes(s.amps)) return nak;
    if (s.key === 'max_utility_charging_current' && !this.utilityCurrents.includes(s.amps)) return nak;
    const next = { ...this.piri };
    applySettingToPiri(next, s);
    if (this.opts.enforceCrossField) {
      if (!(next.cutoffVoltageV < next.stopDischargeVoltageV)) return nak;
      if (next.maxUtilityChargingCurrentA > next.maxChargingCurrentA) return nak;
    }
    if (this.script.take('ignore', cmd)) return ack;
    this.piri = next;
    record(this.applied, cmd);
    return ack;
  }

  private gsPayload(): string {
    const s = this.status;
    const idle = s.mode === 'standby' || s.mode === 'power_on' || s.mode === 'fault';
    const t = (v: number, w: number) => String(Math.round(v * 10)).padStart(w, '0');
    const n = (v: number, w: number) => String(Math.round(v)).padStart(w, '0');
    const outV = idle ? 0 : s.acOutputVoltageV;
    const outHz = idle ? 0 : s.acOutputFrequencyHz;
    return [
      t(s.gridVoltageV, 4),
      t(s.gridFrequencyHz, 3),
      t(outV, 4),
      t(outHz, 3),
      n(idle ? 0 : s.acOutputApparentPowerVA, 4),
      n(idle ? 0 : s.acOutputActivePowerW, 4),
      n(idle ? 0 : s.outputLoadPct, 3),
      t(s.batteryVoltageV, 3),
      t(s.batteryVoltageV, 3),
      t(s.pv2PowerW > 0 ? s.batteryVoltageV : 0, 3),
      n(s.batteryDischargeCurrentA, 3),
      n(s.batteryChargeCurrentA, 3),
      n(s.batteryCapacityPct, 3),
      n(s.heatSinkTempC, 3),
      n(s.mppt1TempC, 3),
      n(s.mppt2TempC, 3),
      n(s.pv1PowerW, 4),
      n(s.pv2PowerW, 4),
      t(s.pv1VoltageV, 4),
      t(s.pv2VoltageV, 4),
      '0',
      s.pv1PowerW > 0 ? '2' : '1',
      s.pv2PowerW > 0 ? '2' : '1',
      idle ? '0' : '1',
      s.batteryChargeCurrentA > 0 ? '1' : s.batteryDischargeCurrentA > 0 ? '2' : '0',
      s.batteryChargeCurrentA > 0 ? '1' : s.batteryDischargeCurrentA > 0 ? '2' : '0',
      s.gridVoltageV > 0 ? '1' : '0',
      String(this.parallelIndex),
    ].join(',');
  }

  private fwsPayload(): string {
    const flags = WARNING_FLAGS.map(([name]) => (this.warnings[name] ? '1' : '0'));
    return [String(this.faultCode).padStart(2, '0'), ...flags, '0'].join(',');
  }

  /** PGSn payload for this unit (§4.6), as `asker` reports it (totals over the pair). */
  private pgsPayload(asker: Pi18Sim): string {
    const s = this.status;
    const units = asker.peer ? [asker, asker.peer] : [asker];
    const sum = (f: (u: Pi18Sim) => number) => units.reduce((a, u) => a + f(u), 0);
    const t = (v: number, w: number) => String(Math.round(v * 10)).padStart(w, '0');
    const n = (v: number, w: number) => String(Math.round(v)).padStart(w, '0');
    const dir = (e: Enum<string>, list: readonly string[]) => String(isUnknown(e) ? 0 : list.indexOf(e));
    return [
      '1',
      String(WORK_MODES.indexOf(s.mode)),
      String(this.faultCode).padStart(2, '0'),
      t(s.gridVoltageV, 4),
      t(s.gridFrequencyHz, 3),
      t(s.acOutputVoltageV, 4),
      t(s.acOutputFrequencyHz, 3),
      n(s.acOutputApparentPowerVA, 4),
      n(s.acOutputActivePowerW, 4),
      n(sum((u) => u.status.acOutputApparentPowerVA), 5),
      n(sum((u) => u.status.acOutputActivePowerW), 5),
      n(s.outputLoadPct, 3),
      n(sum((u) => u.status.outputLoadPct) / units.length, 3),
      t(s.batteryVoltageV, 3),
      n(s.batteryDischargeCurrentA, 3),
      n(s.batteryChargeCurrentA, 3),
      n(sum((u) => u.status.batteryChargeCurrentA), 3),
      n(s.batteryCapacityPct, 3),
      n(s.pv1PowerW, 4),
      n(s.pv2PowerW, 4),
      t(s.pv1VoltageV, 4),
      t(s.pv2VoltageV, 4),
      dir(s.pv1PowerW > 0 ? 'charging' : 'not_charging', MPPT_STATUSES),
      dir(s.pv2PowerW > 0 ? 'charging' : 'not_charging', MPPT_STATUSES),
      '1',
      dir(s.batteryChargeCurrentA > 0 ? 'charge' : s.batteryDischargeCurrentA > 0 ? 'discharge' : 'none', POWER_DIRECTIONS),
      dir(s.batteryChargeCurrentA > 0 ? 'ac_to_dc' : 'dc_to_ac', DCAC_DIRECTIONS),
      dir(s.gridVoltageV > 0 ? 'input' : 'none', LINE_DIRECTIONS),
      n(Math.max(s.heatSinkTempC, s.mppt1TempC, s.mppt2TempC), 3),
    ].join(',');
  }
}

/** A fake node-hid `HID` object in front of a simulated unit (see `Pi18Sim.hidDevice`). */
export class FakePi18HidDevice extends EventEmitter implements HidDevice {
  /** Output reports as written (report id included): the most recent SIM_RECORD_LIMIT. */
  readonly written: number[][] = [];
  closed = false;
  private readonly offReply: () => void;

  constructor(
    readonly sim: Pi18Sim,
    private readonly reportId: number | null,
  ) {
    super();
    this.offReply = sim.onReply((bytes) => this.sendReports(bytes));
  }

  write(report: number[]): number {
    if (this.closed) throw new Error('device closed');
    record(this.written, [...report]);
    const payload = this.reportId === null ? report : report.slice(1);
    this.sim.receive(Uint8Array.from(payload));
    return report.length;
  }

  /** Input reports straight from the "kernel queue": e.g. stale reports of an abandoned exchange. */
  injectReports(bytes: Uint8Array): void {
    this.sendReports(bytes);
  }

  private sendReports(bytes: Uint8Array): void {
    for (const r of toHidReports(bytes, 8, null)) {
      queueMicrotask(() => {
        if (!this.closed) this.emit('data', Buffer.from(r));
      });
    }
  }

  /** The cable is pulled: node-hid emits an error. */
  unplug(): void {
    this.emit('error', new Error('could not read from HID device'));
  }

  close(): void {
    this.closed = true;
    this.offReply();
  }
}

/**
 * A parallel pair of the same model: unit 0 is the master, unit 1 the slave (GS #28), output
 * mode parallel, each answering PGS0/PGS1. `opts` apply to both; `a` / `b` override per unit.
 */
export function createPi18Pair(opts: Pi18SimOptions = {}, a: Pi18SimOptions = {}, b: Pi18SimOptions = {}): [Pi18Sim, Pi18Sim] {
  const base = { ...opts, piri: { ...opts.piri, outputMode: 'parallel' as const } };
  const master = new Pi18Sim({ serial: '96142109100037', ...base, ...a, piri: { ...base.piri, ...a.piri }, parallelIndex: 0 });
  const slave = new Pi18Sim({ serial: '96142408100255', ...base, ...b, piri: { ...base.piri, ...b.piri }, parallelIndex: 1 });
  master.peer = slave;
  slave.peer = master;
  return [master, slave];
}
