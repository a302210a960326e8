/**
 * The charger's part in the power flow: not a power path of its own (its rectifiers and the
 * battery carry the watts), so it adds one sentence and no watts to the totals.
 */
import type { Charger, Device } from '../types.js';
import type { FlowContext, FlowPart } from './types.js';
import { duration, timeToFullOrEmptyMs, watts } from '../flow/words.js';

const ACTIVE = new Set(['detect', 'ramp', 'CC', 'CV', 'paused']);

/** What the charger's rectifiers deliver now: summed current and power, mean voltage of the online ones. */
export function chargerActual(c: Pick<Charger, 'psus'>, devices: ReadonlyMap<string, Device>): { voltageV: number | null; currentA: number | null; powerW: number | null } {
  const on = c.psus.map((p) => devices.get(p.id)).filter((d): d is Device => !!d && d.online && d.outputVoltageV != null);
  if (!on.length) return { voltageV: null, currentA: null, powerW: null };
  const currentA = on.reduce((s, d) => s + (d.outputCurrentA ?? 0), 0);
  const voltageV = on.reduce((s, d) => s + (d.outputVoltageV ?? 0), 0) / on.length;
  const powerW = on.reduce((s, d) => s + (d.outputPowerW ?? (d.outputVoltageV ?? 0) * (d.outputCurrentA ?? 0)), 0);
  return { voltageV, currentA, powerW };
}

/**
 * Time to full of a running charge at the present rate: from the BMS's SOC and current when a
 * battery is linked, else from the charger's own SOC estimate and its rectifiers' current.
 */
export function chargeEtaMs(c: Charger, ctx: Pick<FlowContext, 'devices'>): number | null {
  if (!ACTIVE.has(c.phase) || c.phase === 'paused') return null;
  const b = c.batteryId ? ctx.devices.get(c.batteryId) : undefined;
  const cap = c.settings.capacityAh;
  if (b?.online && b.socPct != null && b.currentA != null) return timeToFullOrEmptyMs(b.socPct, cap, b.currentA);
  return timeToFullOrEmptyMs(c.socPct, cap, chargerActual(c, ctx.devices).currentA);
}

/** "Charging the house bank at 1.6 kW — full in about 2 h 10 min." and its like for every phase. */
export function chargerSentence(c: Charger, ctx: Pick<FlowContext, 'devices' | 'name'>): string {
  const what = c.batteryId ? ctx.name(c.batteryId) : 'the battery';
  const a = chargerActual(c, ctx.devices);
  const eta = chargeEtaMs(c, ctx);
  const etaText = eta != null ? ` — full in about ${duration(eta)}` : '';
  switch (c.phase) {
    case 'detect':
      return `${c.name} is checking that ${what} is connected.`;
    case 'ramp':
      return `${c.name} is raising the voltage step by step towards ${what} (${c.rampVoltageV?.toFixed(1) ?? '—'} V now).`;
    case 'CC':
      return `Charging ${what} at ${watts(a.powerW)} (${a.currentA?.toFixed(1) ?? '—'} A)${etaText}.`;
    case 'CV':
      return `Topping up ${what} at ${c.targetVoltageV.toFixed(1)} V; the current falls as it fills (${a.currentA?.toFixed(1) ?? '—'} A now)${etaText}.`;
    case 'paused':
      return `${c.name} is paused${c.stopReason ? `: ${c.stopReason}` : ''}; it resumes by itself when the cause clears.`;
    case 'done':
      // DONE is also where a stop lands: only a completed charge says "full".
      return c.stopReason && !/complete/i.test(c.stopReason)
        ? `${c.name} stopped: ${c.stopReason} (${c.deliveredAh.toFixed(1)} Ah this session).`
        : `${c.name} finished: ${what} is full (${c.deliveredAh.toFixed(1)} Ah this session).`;
    case 'error':
      return `${c.name} stopped on an error${c.stopReason ? `: ${c.stopReason}` : ''}. Check it, then start the charge again.`;
    default:
      return `${c.name} is idle${c.stopReason ? ` (last stop: ${c.stopReason})` : ''}.`;
  }
}

export function chargerFlow(c: Charger, ctx: FlowContext): FlowPart {
  const active = ACTIVE.has(c.phase) || c.phase === 'error';
  return { role: 'battery', watts: chargerActual(c, ctx.devices).powerW, active, sentence: chargerSentence(c, ctx), inTotals: false, etaMs: chargeEtaMs(c, ctx) };
}
