/**
 * State-of-charge estimate of a charge session (flatpack2-charger-behaviour.md §4.8):
 * OCV-table SOC at detection plus counted Ah, lifted in CV by how far the current has tapered.
 */
import type { ChargerSettings } from './settings.js';
import type { ChargerState } from './machine.js';

const ACTIVE_PHASES = new Set(['detect', 'ramp', 'CC', 'CV', 'paused']);

/**
 * SOC in % or null before the battery was first seen. A completed charge is 100; a stopped
 * or failed one keeps its counted value (the original said 100 for any 'done', including a
 * manual stop). Clamped to [0, 99.9] while active, [0, 100] otherwise.
 */
export function socEstimate(
  state: ChargerState,
  settings: Pick<ChargerSettings, 'capacityAh' | 'tailCurrentA'>,
  latestTotalCurrentA: number | null,
): number | null {
  if (state.phase === 'done' && state.outcome === 'done') return 100;
  if (state.socStartPct === null) return null;
  let soc = state.socStartPct + ((state.ah - state.socAhBase) / settings.capacityAh) * 100;
  if (state.phase === 'CV' && latestTotalCurrentA !== null && state.cvEntryCurrentA !== null) {
    const tail = settings.tailCurrentA;
    const span = Math.max(state.cvEntryCurrentA - tail, 0.1);
    const frac = Math.min(1, Math.max(0, (latestTotalCurrentA - tail) / span));
    soc = Math.max(soc, 100 - 5 * frac);
  }
  const hi = ACTIVE_PHASES.has(state.phase) ? 99.9 : 100;
  return Math.min(hi, Math.max(0, soc));
}
