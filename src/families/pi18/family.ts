/**
 * The PI18 inverter family (Voltronic LVX6048 and kin over USB-HID or RS-232): one unit per link,
 * its driver on the SupervisedLink the rig built with this family's framer, the inverter
 * projection, and the family's two commands through the gate:
 *
 * - a single setter (`Pi18Command`, checked by checkPi18 on the merged state);
 * - a profile apply (`Pi18ApplyCommand`): every step of the plan checked together on the merged
 *   state before any I/O, then run by apply.ts with polling paused (driver.session) — it holds
 *   the unit's exchange slot for its whole run, nothing else is stopped.
 *
 * The simulator is an Pi18Sim on the device end of the link's memory cable; a unit whose config
 * names a `simulate.peer` is paired with that unit's simulator (PGS answers, parallel index).
 */
import type { Clock } from '../../clock.js';
import type { Code } from '../../codes.js';
import type { DeviceFamily, FamilyLink, FamilySim } from '../types.js';
import type { AdmittedCommand, DeviceDriver, ExecuteResult, Observation } from '../contract.js';
import type { Link } from '../../link/types.js';
import type { Transport } from '../../link/transports/types.js';
import { Pi18Framer } from './framer.js';
import type { Pi18Frame } from './codec.js';
import { Pi18Driver, type Pi18Command, type Pi18Fact } from './driver.js';
import { emptyInverterView, projectInverter, type InverterView } from './project.js';
import { Pi18Sim } from './sim.js';
import { pi18SerialFactory } from './probe.js';
import { HidTransport } from '../../link/transports/hid.js';
import { applyPlan, type ApplyProgress, type ApplyReport } from './apply.js';
import type { Plan } from './profile.js';
import { checkPi18, checkSettings, type Pi18CheckContext } from './check.js';
import { pi18DeviceId, type Pi18Config } from './config.js';

/** A profile apply as one family command: the whole plan is admitted (or refused) at once. */
export interface Pi18ApplyCommand {
  op: 'apply';
  plan: Plan;
  confirm: boolean;
  onProgress?: (p: ApplyProgress) => void;
  /** Filled by the driver with the full report (the ExecuteResult carries its summary). */
  out: { report: ApplyReport | null };
}

export type Pi18FamilyCommand = Pi18Command | Pi18ApplyCommand;

export const isApplyCommand = (c: unknown): c is Pi18ApplyCommand => typeof c === 'object' && c !== null && (c as { op?: unknown }).op === 'apply';

/** The check context of a unit as the engine holds it (its decoded PIRI, current steps, rating). */
export function checkContextOf(v: InverterView): Pi18CheckContext {
  return {
    device: `${v.name} (${v.serial ?? v.id})`,
    settings: v.settings,
    currentSteps: v.currentSteps,
    batteryRatedVoltageV: v.batteryRatedVoltageV ?? undefined,
    parallelMaxNum: v.settings?.parallelMaxNum,
  };
}

/**
 * The family's page of the gate for both commands. An apply is refused without a confirm, for a
 * plan made for another serial, on an active fault, and on every range, step or cross-field
 * violation of its steps together on the merged state (device settings overlaid with the plan).
 */
export function checkPi18FamilyCommand(cmd: Pi18FamilyCommand, ctx: { device: unknown }): { ok: true; value: Pi18FamilyCommand; notes: string[] } | { ok: false; code: Code; message: string } {
  const v = ctx.device as InverterView;
  if (v.kind !== 'pi18') return { ok: false, code: 'NOT_FOUND', message: `${v.id} is not a PI18 inverter` };
  const c = checkContextOf(v);
  if (!isApplyCommand(cmd)) {
    const r = checkPi18(cmd, c);
    return r.ok ? { ok: true, value: cmd, notes: r.notes } : r;
  }
  const plan = cmd.plan;
  if (cmd.confirm !== true) return { ok: false, code: 'BAD_USER_INPUT', message: `${c.device}: an apply writes to the inverter and needs confirm: true; review the plan's frames first` };
  if (plan.serial && v.serial && plan.serial !== v.serial) {
    return { ok: false, code: 'CONFLICT', message: `${c.device} is serial ${v.serial}, but the plan was made for ${plan.serial}; nothing was sent — make a plan for this unit` };
  }
  if (v.faultCode !== null && v.faultCode !== 0) {
    return { ok: false, code: 'CONFLICT', message: `${c.device} has an active fault ${String(v.faultCode).padStart(2, '0')} (${v.faultText ?? 'fault'}); nothing was sent — clear the fault first` };
  }
  if (v.batteryRatedVoltageV !== null && Math.round(v.batteryRatedVoltageV) !== Math.round(plan.batteryRatedVoltageV)) {
    return { ok: false, code: 'CONFLICT', message: `${c.device} is a ${v.batteryRatedVoltageV} V unit but the plan is for ${plan.batteryRatedVoltageV} V; nothing was sent` };
  }
  const violations = checkSettings(
    plan.steps.map((s) => ({ setting: s.setting, unit: plan.unit })),
    c,
  );
  if (violations.length) {
    const code: Code = violations.some((x) => x.code === 'OUT_OF_RANGE') ? 'OUT_OF_RANGE' : 'CONFLICT';
    return { ok: false, code, message: violations.map((x) => x.message).join('; ') };
  }
  return { ok: true, value: cmd, notes: c.settings ? [] : [`${c.device}: settings not read yet; the apply re-reads them before writing`] };
}

/** The unit's driver as the engine holds it: the PI18 driver, whose execute also runs an admitted apply. */
export class Pi18LinkDriver implements DeviceDriver<Pi18FamilyCommand, Pi18Fact> {
  constructor(readonly unit: Pi18Driver) {}
  start(): void {
    this.unit.start();
  }
  stop(): Promise<void> {
    return this.unit.stop();
  }
  onObservation(l: (o: Observation<Pi18Fact>) => void): () => void {
    return this.unit.onObservation(l);
  }
  stats() {
    return this.unit.stats();
  }
  async execute(cmd: AdmittedCommand<Pi18FamilyCommand>): Promise<ExecuteResult> {
    if (!isApplyCommand(cmd)) return this.unit.execute(cmd as AdmittedCommand<Pi18Command>);
    const report = await applyPlan(this.unit, cmd.plan, { confirm: cmd.confirm, onProgress: cmd.onProgress });
    cmd.out.report = report;
    const summary = { result: report.result, steps: report.steps.length, abortedAtStep: report.abortedAtStep ?? null, rolledBack: report.rollback ? (report.rollback.held ? 'held' : 'failed') : null };
    if (report.result === 'applied' || report.result === 'nothing-to-do') return { ok: true, sent: report.steps.length > 0, readBack: summary, message: report.message };
    return { ok: false, code: report.code ?? 'CONFLICT', message: report.message, readBack: summary };
  }
}

/** The simulated unit on the device end of its cable. */
export class Pi18SimNode implements FamilySim {
  private detach: (() => void) | null = null;
  constructor(
    readonly sim: Pi18Sim,
    private readonly device: Transport,
  ) {}
  start(): void {
    if (!this.detach) this.detach = this.sim.attach(this.device);
  }
  stop(): void {
    this.detach?.();
    this.detach = null;
  }
}

/** Simulated units per clock (one rig), by serial, so the two halves of a pair find each other. */
const simsByClock = new WeakMap<Clock, Map<string, Pi18Sim>>();

export const family = {
  kind: 'pi18',
  linkNoun: 'inverter link',
  eventPrefix: 'inverter',
  carrier: 'stream',
  createFramer: () => new Pi18Framer(),
  // 8-byte reports padded with NULs after the CR: the padding is dropped at the CR (pi18.md §3.2).
  hid: { dropAfterDelimiter: 0x0d },
  /**
   * A USB-HID link without a path finds its unit by serial: every 0665:5161 device (or the
   * configured usbId) is asked `^P005ID` in turn, on every connection attempt, so two units are
   * told apart and a unit moved to another port is found again (probe.ts). With a path (or on
   * serial), the rig's default transport, and the driver checks the serial.
   */
  transportFactory({ transport, cfg, clock }) {
    if (transport.type !== 'hid' || transport.path) return null;
    const [vid, pid] = (transport.usbId ?? '0665:5161').split(':').map((x) => parseInt(x, 16)) as [number, number];
    return pi18SerialFactory({
      serial: cfg.serial,
      clock,
      list: async () => {
        try {
          const hid = (await import('node-hid')) as unknown as { devicesAsync?: (v: number, p: number) => Promise<{ path?: string }[]>; default?: { devicesAsync: (v: number, p: number) => Promise<{ path?: string }[]> } };
          const list = hid.devicesAsync ?? hid.default?.devicesAsync;
          if (!list) throw new Error('node-hid has no devicesAsync (unsupported version?)');
          return (await list(vid, pid)).map((d) => d.path).filter((p): p is string => typeof p === 'string');
        } catch (e) {
          const m = e instanceof Error ? e.message : String(e);
          const hint = /libusb|shared object|dlopen/i.test(m) ? "node-hid's native part did not load — install libusb (sudo apt install libusb-1.0-0)" : 'USB-HID needs the package node-hid — run "npm install" in the powerplane folder';
          throw new Error(`cannot list the USB-HID devices to find inverter ${cfg.serial}: ${m}; ${hint}`);
        }
      },
      open: (path) => new HidTransport({ target: { path }, clock, dropAfterDelimiter: 0x0d }),
    });
  },
  restoreView: ({ row }) => ({ ...emptyInverterView(row.id, row.busId ?? 'unknown', row.name ?? row.id), serial: row.serial ?? null, lastSeen: row.lastSeen ?? null }),
  attach({ linkId, link, clock, cfg, framer, log, known }): FamilyLink<InverterView, Pi18Fact> {
    const id = pi18DeviceId(cfg);
    const name = cfg.name ?? known.find((d) => d.id === id)?.name ?? `Inverter ${cfg.serial}`;
    const unit = new Pi18Driver({
      deviceId: id,
      link: link as Link<Pi18Frame>,
      clock,
      framer: framer as Pi18Framer | undefined,
      expectedSerial: cfg.serial,
      label: `inverter ${name} (${linkId})`,
      statusMs: cfg.statusMs,
      faultsMs: cfg.faultsMs,
      settingsMs: cfg.settingsMs,
      timeoutMs: cfg.timeoutMs,
      settleMs: cfg.settleMs,
      offlineAfterMisses: cfg.offlineAfterMisses,
    });
    unit.onObservation((o) => {
      if (o.type === 'flags') for (const ch of o.changes) if (ch.active) log.warn({ device: id }, `inverter ${name}: ${ch.group} ${ch.text ?? ch.name}`);
      if (o.type === 'presence' && !o.online) log.warn({ device: id }, `inverter ${name} offline: ${o.reason ?? 'no reply'}`);
    });
    const driver = new Pi18LinkDriver(unit);
    const remembered = known.find((d) => d.id === id) as InverterView | undefined;
    return {
      driver: driver as DeviceDriver<unknown, Pi18Fact>,
      configuredViews: () => [{ ...(remembered?.kind === 'pi18' ? remembered : emptyInverterView(id, linkId, name)), busId: linkId, name, serial: cfg.serial, online: false }],
      newView: (deviceId) => (deviceId === id ? { ...emptyInverterView(id, linkId, name), serial: cfg.serial } : null),
      project: projectInverter,
      stats: () => unit.stats(),
      corruptTotal: () => (framer as Pi18Framer | undefined)?.corruptBytes ?? 0,
    };
  },
  createSim({ clock, device, cfg }) {
    const sims = simsByClock.get(clock) ?? new Map<string, Pi18Sim>();
    simsByClock.set(clock, sims);
    const parallel = cfg.simulate !== undefined;
    const sim = new Pi18Sim({ clock, serial: cfg.serial, parallelIndex: cfg.simulate?.parallelIndex ?? 0, ...(parallel ? { piri: { outputMode: 'parallel' as const } } : {}) });
    sims.set(cfg.serial, sim);
    const peer = cfg.simulate?.peer ? sims.get(cfg.simulate.peer) : undefined;
    if (peer) {
      sim.peer = peer;
      peer.peer = sim;
    }
    return new Pi18SimNode(sim, device);
  },
} as const satisfies DeviceFamily<Pi18Config, Pi18SimNode, InverterView>;
// The family's command for scheduled jobs (apply a saved profile).
import './jobs.js';
