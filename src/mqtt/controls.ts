/**
 * A family's controls for the MQTT bridge (Home Assistant selects, numbers, switches, buttons).
 * A family registers them next to its job commands (e.g. src/families/vebus/mqtt.ts, imported by
 * its family.ts), so a rig whose config names no such device loads and announces none.
 *
 * A control is the HA entity's config (without topics, ids and device, which the bridge adds),
 * its state (published retained at `<root>/<device>/<object>`) and the parse of a payload on
 * `<root>/<device>/<object>/set` into one of the family's named commands (registerDeviceCommand,
 * src/engine/scheduler/actions.ts). The bridge runs that command through `engine.command` with
 * the family's page of the gate, as the scheduler does; a control never talks to a driver.
 *
 * Pure and light: no MQTT client here, nothing but data from the device's view.
 */
import type { Code } from '../codes.js';
import type { DeviceViewBase } from '../families/types.js';

export type ParsedCommand = { ok: true; command: string; args: Record<string, unknown> } | { ok: false; code: Code; message: string };

export interface MqttControl {
  /** Home Assistant component: select, number, switch or button. */
  component: 'select' | 'number' | 'switch' | 'button';
  /** The topic segment and HA object id, e.g. "mode" → `<root>/<device>/mode/set`. */
  object: string;
  /** HA config fields other than topics, unique_id, availability and device (name, options, min, max, …). */
  config: Record<string, unknown>;
  /** The state to publish at `<root>/<device>/<object>` (retained); null: unknown, nothing published; undefined: stateless (a button). */
  state?: string | null;
  /** A payload sent to `…/<object>/set` → a named device command and its args, or a refusal. */
  parse(payload: string): ParsedCommand;
}

type ControlsOf = (device: DeviceViewBase) => MqttControl[];

const registered = new Map<string, ControlsOf>();

/** Registers a family's controls (the last registration for a kind wins). */
export function registerMqttControls(kind: string, controls: ControlsOf): () => void {
  registered.set(kind, controls);
  return () => void registered.delete(kind);
}

/** The MQTT controls of a device now (none for a family that registers none). */
export function mqttControlsOf(device: DeviceViewBase): MqttControl[] {
  return registered.get(device.kind)?.(device) ?? [];
}

/** `n` as a number from a payload ("16", " 16.0 "), or null. */
export function numberPayload(payload: string): number | null {
  const p = payload.trim();
  if (p === '') return null;
  const n = Number(p);
  return Number.isFinite(n) ? n : null;
}
