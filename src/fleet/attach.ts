/**
 * Which fleet outbox forwards an engine's log: the API asks here (the engine itself knows
 * nothing of the fleet). Absent when forwarding is not configured.
 */
import type { Engine } from '../engine/engine.js';
import type { FleetOutbox } from './outbox.js';

const outboxes = new WeakMap<Engine, FleetOutbox>();

export function attachOutbox(engine: Engine, outbox: FleetOutbox): void {
  outboxes.set(engine, outbox);
}

export function outboxOf(engine: Engine): FleetOutbox | undefined {
  return outboxes.get(engine);
}
