/**
 * The power-flow parts of the inverter families and the EV charger, pure (no DOM) so they are
 * tested in node (test/web/flow-parts.test.ts): the PI18 inverter (PV in, AC out, its battery
 * side), the MultiPlus (AC in as a source or AC out as a load by its state, its battery side)
 * and the EVSE (the EV as a load), each with its watts on each path and one plain sentence.
 *
 * An inverter's battery side counts in the battery total only where no battery monitor (a BMS,
 * `Battery`) reports the bank: the monitor measures the whole bank, the inverter's current is a
 * part of what it sees, so adding both would count it twice.
 */
import type { Device } from '../types.js';
import type { FlowContext, FlowPart, FlowPath } from '../devices/types.js';
import { offlineSentence } from './offline.js';
import { watts } from './words.js';

/** Below this a path counts as idle (noise of a reading at rest). */
const ACTIVE_W = 10;

const finite = (x: number | null | undefined): x is number => x != null && Number.isFinite(x);

/** V × I when both are known. */
export function vi(v: number | null | undefined, a: number | null | undefined): number | null {
  return finite(v) && finite(a) ? v * a : null;
}

/** True when a battery monitor (BMS) reports the bank: the inverters' battery sides stay out of the battery total. */
export function bankMonitored(ctx: Pick<FlowContext, 'devices'>): boolean {
  for (const d of ctx.devices.values()) if (d.__typename === 'Battery') return true;
  return false;
}

/** "charges its battery with 1.2 kW" / "takes 800 W from its battery" / "" (idle or unknown). */
function batteryWords(w: number | null, whose: string): string {
  if (w == null || Math.abs(w) < ACTIVE_W) return '';
  return w > 0 ? `charges ${whose} battery with ${watts(w)}` : `takes ${watts(-w)} from ${whose} battery`;
}

/** "a, b and c". */
function list(xs: string[]): string {
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

/**
 * A PI18 inverter: its PV production on the PV path (the part's own watts), its AC output on the
 * load path, its battery side (+ charging, − discharging; V × I as it reports them).
 */
export function pi18Flow(d: Device, ctx: FlowContext): FlowPart {
  const bankInTotals = !bankMonitored(ctx);
  if (!d.online) {
    return { role: 'pv', watts: null, active: false, sentence: offlineSentence(d, ctx), paths: [{ role: 'load', watts: null }, { role: 'battery', watts: null, inTotals: bankInTotals }] };
  }
  const pv = finite(d.pvPowerW) ? d.pvPowerW : null;
  const load = finite(d.acOutputPowerW) ? d.acOutputPowerW : null;
  const bat = vi(d.batteryVoltageV, d.batteryCurrentA);
  const paths: FlowPath[] = [{ role: 'load', watts: load }];
  if (bat != null) paths.push({ role: 'battery', watts: bat, inTotals: bankInTotals });
  const did = [
    pv != null && pv >= ACTIVE_W ? `makes ${watts(pv)} from PV` : null,
    load != null && load >= ACTIVE_W ? `powers ${watts(load)} of AC loads${finite(d.loadPct) ? ` (${d.loadPct.toFixed(0)} % of its rating)` : ''}` : null,
    batteryWords(bat, 'its') || null,
  ].filter((x): x is string => x !== null);
  const soc = finite(d.batterySocPct) ? `, battery at ${d.batterySocPct.toFixed(0)} %` : '';
  const sentence = did.length ? `${d.name} ${list(did)}${soc}.` : `${d.name} is on, with no PV and no load${soc}.`;
  return { role: 'pv', watts: pv, active: did.length > 0, sentence, paths };
}

const INVERTING = new Set(['invert_full', 'invert_half', 'invert_aes']);

/** Sum over the phases of V × I; null when no phase has both. */
function acSum(ac: Device['ac'], side: 'in' | 'out'): number | null {
  let sum: number | null = null;
  for (const p of ac ?? []) {
    const w = side === 'in' ? vi(p.inVoltageV, p.inCurrentA) : vi(p.outVoltageV, p.outCurrentA);
    if (w != null) sum = (sum ?? 0) + w;
  }
  return sum;
}

/**
 * A MultiPlus / Quattro by its state: on AC in (charging, passing through, assisting) its AC
 * input is a source on the grid path; inverting, its AC output is a load; its battery side
 * (+ charging, − inverting) as V × I. AC watts are V × I of each phase (apparent power; the
 * MK3 reports no power factor).
 */
export function vebusFlow(d: Device, ctx: FlowContext): FlowPart {
  const bankInTotals = !bankMonitored(ctx);
  if (!d.online) return { role: 'load', watts: null, active: false, sentence: offlineSentence(d, ctx), paths: [{ role: 'battery', watts: null, inTotals: bankInTotals }] };
  const acIn = acSum(d.ac, 'in');
  const acOut = acSum(d.ac, 'out');
  const bat = vi(d.battery?.voltageV, d.battery?.currentA);
  const batPath: FlowPath[] = bat == null ? [] : [{ role: 'battery', watts: bat, inTotals: bankInTotals }];
  const state = d.state ?? '';
  const soc = finite(d.battery?.socPct) ? `, battery at ${d.battery.socPct.toFixed(0)} %` : '';
  if (INVERTING.has(state)) {
    const from = bat != null && bat <= -ACTIVE_W ? ` (${watts(-bat)} from the battery)` : ' from the battery';
    return { role: 'load', watts: acOut, active: true, sentence: `${d.name} is inverting: ${watts(acOut)} to AC out${from}${soc}.`, paths: batPath };
  }
  const onAcIn = state === 'charge' || state === 'bypass' || state === 'power_assist' || (acIn != null && acIn >= ACTIVE_W);
  if (onAcIn) {
    const sub = d.chargeSubState && d.chargeSubState !== 'unknown' ? ` (${d.chargeSubState})` : '';
    const words = [
      bat != null && bat >= ACTIVE_W ? `charges the battery with ${watts(bat)}${sub}` : null,
      state === 'power_assist' && bat != null && bat <= -ACTIVE_W ? `assists with ${watts(-bat)} from the battery` : null,
      acOut != null && acOut >= ACTIVE_W ? `passes ${watts(acOut)} through to AC out` : null,
    ].filter((x): x is string => x !== null);
    const sentence = `${d.name} takes ${watts(acIn)} from AC in${words.length ? `: ${list(words)}` : ''}${soc}.`;
    return { role: 'grid', watts: acIn, active: acIn != null && acIn >= ACTIVE_W, sentence, paths: [{ role: 'load', watts: acOut }, ...batPath] };
  }
  const what = state === 'off' || state === 'down' ? 'is off' : `is ${state ? state.replace(/_/g, ' ') : 'idle'}`;
  return { role: 'load', watts: acOut, active: false, sentence: `${d.name} ${what}${soc}.`, paths: batPath };
}

/** "4.3 kWh". */
function kwh(x: number | null | undefined): string | null {
  return finite(x) ? `${x.toFixed(1)} kWh` : null;
}

/** The EV on the load path: "EV charging at 7.2 kW, 4.3 kWh this session (Garage EVSE)." */
export function evseFlow(d: Device, ctx: FlowContext): FlowPart {
  if (!d.online) return { role: 'load', watts: null, active: false, sentence: offlineSentence(d, ctx) };
  const w = finite(d.powerW) ? d.powerW : null;
  const session = kwh(d.sessionKWh);
  const at = ` (${d.name})`;
  switch (d.status) {
    case 'charging':
      return { role: 'load', watts: w, active: true, sentence: `EV charging at ${watts(w)}${session ? `, ${session} this session` : ''}${at}.` };
    case 'fault':
      return { role: 'load', watts: w, active: true, sentence: `${d.name} has stopped on a fault${d.stateText ? `: ${d.stateText}` : ''}. Unplug the vehicle and plug it in again; if it stays, reset the EVSE.` };
    case 'plugged':
      return { role: 'load', watts: w, active: false, sentence: `EV plugged in, not charging${session ? `; ${session} this session` : ''}${at}.` };
    case 'sleeping':
    case 'disabled':
      return { role: 'load', watts: w, active: false, sentence: `${d.name} is ${d.status}${d.vehicleConnected ? ' with the EV plugged in' : ''}${session ? `; ${session} this session` : ''}.` };
    default:
      return { role: 'load', watts: w, active: false, sentence: `${d.name}: no EV plugged in.` };
  }
}
