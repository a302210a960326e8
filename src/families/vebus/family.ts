/**
 * The VE.Bus family (a MultiPlus / Quattro behind an MK2/MK3): a stream family on a serial
 * line (2400 8N1) framed by Mk2Framer. The driver already speaks the contract's envelope; the
 * device view is the inverter/charger projection plus the configured named modes (data the
 * gate checks a mode against, and the dashboard shows as buttons).
 */
import type { DeviceFamily, FamilyLink } from '../types.js';
import type { DeviceDriver, Values } from '../contract.js';
import type { Link } from '../../link/types.js';
import type { VebusConfig } from './config.js';
import { DEFAULT_VEBUS_MODES, checkVebusCommand, type CheckResult, type VebusModeDef } from './check.js';
import type { Mk2Frame } from './codec.js';
import { VebusDriver, type VebusCommand, type VebusFact } from './driver.js';
import { Mk2Framer } from './framer.js';
import { checkContextOf, newInverterChargerView, projectInverterCharger, type InverterChargerView } from './project.js';
import { VebusSim } from './sim.js';

/** The device view the engine holds: the projection's view and the modes its config names. */
export type VebusDeviceView = InverterChargerView & { modes: Readonly<Record<string, VebusModeDef>> };

/** The family's page of the gate in the shape `engine.command` takes: the device's own scaling and modes from its view. */
export function vebusCheck(cmd: VebusCommand, ctx: { device: unknown }): CheckResult {
  const v = ctx.device as VebusDeviceView;
  return checkVebusCommand(cmd, { ...checkContextOf(v), modes: v.modes ?? DEFAULT_VEBUS_MODES });
}

const defaultName = (id: string) => `MultiPlus ${id}`;

export const family = {
  kind: 'vebus',
  linkNoun: 'VE.Bus link',
  eventPrefix: 'vebus',
  carrier: 'stream',
  createFramer: () => new Mk2Framer(),
  // The MK sends a V frame every ~1 s on its own: 10 s without a byte means the port is dead
  // (the driver reports the device offline after 3 s; the link is reopened after 10).
  linkSilenceMs: 10_000,
  restoreView({ row }): VebusDeviceView {
    const v = newInverterChargerView(row.id, row.busId ?? 'unknown', row.name ?? defaultName(row.id));
    v.lastSeen = row.lastSeen ?? null;
    if (typeof row.meta.mkVersion === 'number') v.mkVersion = row.meta.mkVersion;
    if (typeof row.meta.firmware === 'number') v.firmware = row.meta.firmware;
    return { ...v, modes: DEFAULT_VEBUS_MODES };
  },
  attach({ linkId, link, clock, cfg, known, log, framer }): FamilyLink<VebusDeviceView, VebusFact> {
    const name = cfg.name ?? known.find((d) => d.id === cfg.id)?.name ?? defaultName(cfg.id);
    const modes = cfg.modes as Record<string, VebusModeDef>;
    const corrupt = () => (framer as Mk2Framer | undefined)?.corruptBytes ?? 0;
    const linkStats = (): Values => {
      const s = (link as { stats?: () => object }).stats?.() ?? {};
      return { state: (link as Link<Mk2Frame>).state, ...(s as Values), corruptBytes: corrupt() };
    };
    const driver = new VebusDriver({
      link: link as Link<Mk2Frame>,
      clock,
      deviceId: cfg.id,
      name,
      address: cfg.address,
      pollIntervalMs: cfg.pollIntervalMs,
      compat: cfg.compat,
      persistentWritesPerHour: cfg.persistentWritesPerHour,
      linkStats,
    });
    driver.onObservation((o) => {
      if (o.type === 'fact' && o.fact.kind === 'session' && o.fact.state === 'ready') log.info({ device: cfg.id }, `${name} ready on ${linkId}`);
      if (o.type === 'flags') for (const c of o.changes) if (c.active) log.warn({ device: cfg.id }, `${name}: ${c.group} ${c.name}`);
    });
    const fresh = (): VebusDeviceView => ({ ...newInverterChargerView(cfg.id, linkId, name), modes });
    const remembered = known.find((d) => d.id === cfg.id) as VebusDeviceView | undefined;
    return {
      driver: driver as DeviceDriver<unknown, VebusFact>,
      configuredViews: () => [remembered ? { ...remembered, name, busId: linkId, modes } : fresh()],
      adopt: (v) => ({ ...v, name: v.id === cfg.id ? name : v.name, modes }),
      newView: (deviceId) => (deviceId === cfg.id ? fresh() : null),
      project: (v, o) => projectInverterCharger(v, o) as VebusDeviceView,
      stats: () => driver.stats(),
      corruptTotal: corrupt,
    };
  },
  createSim({ clock, device }) {
    return new VebusSim({ clock, transport: device });
  },
} as const satisfies DeviceFamily<VebusConfig, VebusSim, VebusDeviceView>;
import './jobs.js';
import './mqtt.js';
