/**
 * The contract every device family implements (issue 10; DESIGN.md "Device families").
 *
 *   driver ──Observation──▶ engine (generic: events, samples, frame records, presence)
 *                             └─▶ family.project(view, observation) → view   (pure)
 *   API / controller ──Command──▶ gate (generic interlocks + family.check) ──AdmittedCommand──▶ driver.execute
 *
 * The engine names no family: it routes observations by their envelope and hands the family's
 * own facts to the family's projection. Only the gate can make an AdmittedCommand (the brand
 * below is not exported), so a driver cannot be handed an unchecked value and a check cannot
 * be skipped or run twice.
 */
import type { LinkState } from '../link/types.js';
import type { Code } from '../codes.js';

/** One frame as the store keeps it, for every protocol (CAN, PI18, MK2, RAPI). */
export interface FrameRecord {
  /** 'can' | 'pi18' | 'mk2' | 'rapi' … : how `bytes` are to be read. */
  protocol: string;
  dir: 'rx' | 'tx';
  /** Who the frame is addressed to or from, in the protocol's own terms: a CAN id in hex, an MK2 address, a RAPI sequence id; null when the link has one device. */
  address: string | null;
  /** The frame's bytes: a CAN frame's data field, a whole ASCII line (with checksum) for PI18/RAPI, an MK2 frame. */
  bytes: Uint8Array;
  /** Human-readable decoding, e.g. "^P005PIRI", "status 53.50 V 12.3 A"; null when there is nothing better than the bytes. */
  text: string | null;
  /** The decoded message kind ('status', 'PIRI', 'nak', 'invalid', …). */
  kind: string;
  /** The engine device id the frame belongs to, when known. */
  deviceId: string | null;
  /** Protocol extras worth keeping (CAN: extended/remote flags). */
  meta?: Record<string, unknown>;
}

/** Values of one reading; units in the names (voltageV, currentA, tempC, …). */
export type Values = Record<string, number | string | null>;

/**
 * Everything a driver reports, in one envelope. The engine handles the generic variants itself
 * (events, samples, frame records, device rows) and passes every observation, generic or the
 * family's own `fact`, to the family's pure projection.
 */
export type Observation<Fact = never> =
  /** The link's state changed (the engine records `link.changed`). */
  | { type: 'link'; at: number; state: LinkState; detail: string }
  /** A frame went out or came in (the engine records it; `invalid` also records `frame.invalid`). */
  | { type: 'frame'; at: number; frame: FrameRecord; invalid?: string }
  /** A device appeared or went away; `identity` is what it says about itself (serial, firmware, model). */
  | { type: 'presence'; at: number; deviceId: string; online: boolean; reason?: string; identity?: Values }
  /** What a device says about itself (serial, address, firmware, model): the engine keeps it in the device row; `event` is recorded when given. */
  | { type: 'identity'; at: number; deviceId: string; identity: Values; event?: { type: string; data: Record<string, unknown>; durable?: boolean } }
  /** A reading; `sample: false` keeps it out of the telemetry history (shown live only). */
  | { type: 'reading'; at: number; deviceId: string; values: Values; sample?: boolean }
  /** Named flags (faults, warnings, alarms) that changed: the engine records one event per change. */
  | { type: 'flags'; at: number; deviceId: string; changes: FlagChange[] }
  /** A reply or read-back a command asked for (settings read, version, …). */
  | { type: 'reply'; at: number; deviceId: string; what: string; values: Values }
  /**
   * The family's own fact, for its projection and its controllers (e.g. Flatpack2 "obeying").
   * With `deviceId: null` it is about the link: every device of the link is projected, after
   * the devices in `mentions` are created if new. `event` is recorded when given.
   */
  | { type: 'fact'; at: number; deviceId: string | null; fact: Fact; mentions?: string[]; event?: { type: string; data: Record<string, unknown>; durable?: boolean } };

export interface FlagChange {
  /** The flag's group, e.g. 'fault', 'warning', 'alarm', 'protection'. */
  group: string;
  /** Stable machine name, e.g. 'over_temperature'. */
  name: string;
  /** Words for people. */
  text?: string;
  active: boolean;
}

/** Command results are values; a refusal carries a code from the one list (src/codes.ts). */
export type ExecuteResult<R = Values> =
  | { ok: true; sent: boolean; readBack?: R; message?: string }
  | { ok: false; code: Code; message: string; readBack?: R };

declare const admittedBrand: unique symbol;
/**
 * A command the gate admitted. The brand is a type-level fact only the gate module can assert
 * (see src/engine/gate.ts `admit`): nothing else can construct one without a cast that review
 * will catch.
 */
export type AdmittedCommand<C> = C & { readonly [admittedBrand]: true };

/** A family's driver on one link. */
export interface DeviceDriver<Cmd = never, Fact = never> {
  start(): void;
  stop(): void | Promise<void>;
  /** Subscribes to every observation, in order; returns an unsubscribe function. */
  onObservation(listener: (o: Observation<Fact>) => void): () => void;
  /** Carries out a command the gate admitted; may carry read-back values. Never rejects. */
  execute(cmd: AdmittedCommand<Cmd>): Promise<ExecuteResult>;
  /** Counters for the API and the corrupt-bytes report (framer's corruptBytes, queue stats…). */
  stats(): Values;
}

/** A family's check of a command: its page of the gate. Pure. */
export type FamilyCheck<Cmd, Ctx> = (cmd: Cmd, ctx: Ctx) => { ok: true; value: Cmd; notes: string[] } | { ok: false; code: Code; message: string };

/** A family's projection: the device's view after an observation. Pure: returns a new object or the same one. */
export type Projection<View, Fact = never> = (view: View, o: Observation<Fact>) => View;

/** The latest frame per address on a link, decoded: what the frame inspector shows. */
export interface InspectedFrame {
  address: string | null;
  dir: 'rx' | 'tx';
  bytes: Uint8Array;
  kind: string;
  /** The decoded fields (the family's message, as JSON). */
  decoded: Record<string, unknown>;
  seenAt: number;
  /** Frames seen at this address so far. */
  count: number;
}
