/**
 * Scripted simulator behaviours (the zwave-js test style): a test says what the device does
 * next — "NAK the next setter", "drop the next reply", "corrupt the next checksum" — instead of
 * each simulator growing one method per fault. A simulator asks `take(name, subject)` at the
 * point where the behaviour applies; a matching entry is consumed (or kept, for `always`).
 *
 *   sim.script.next('nak', { when: (cmd) => cmd.startsWith('MCHGV') });
 *   sim.script.next('drop-reply', { times: 2 });
 */
import { record } from './record.js';

export interface ScriptEntry<S> {
  behaviour: string;
  /** Applies only to subjects this accepts (a command, a frame); default: every subject. */
  when?: (subject: S) => boolean;
  /** How many times it applies; Infinity for `always`. */
  remaining: number;
}

export class SimScript<B extends string = string, S = unknown> {
  private readonly entries: ScriptEntry<S>[] = [];
  /** Behaviours applied so far, oldest first: what a test can assert on (the most recent SIM_RECORD_LIMIT). */
  readonly applied: { behaviour: B; subject: S }[] = [];

  /** The device does `behaviour` the next `times` (default 1) times it applies. */
  next(behaviour: B, opts: { when?: (subject: S) => boolean; times?: number } = {}): this {
    this.entries.push({ behaviour, when: opts.when, remaining: opts.times ?? 1 });
    return this;
  }

  /** The device does `behaviour` every time it applies, until `clear`. */
  always(behaviour: B, opts: { when?: (subject: S) => boolean } = {}): this {
    return this.next(behaviour, { ...opts, times: Infinity });
  }

  /** Called by the simulator: does `behaviour` apply to `subject` now? Consumes one use. */
  take(behaviour: B, subject: S): boolean {
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.behaviour !== behaviour) continue;
      if (e.when && !e.when(subject)) continue;
      if (--e.remaining <= 0) this.entries.splice(i, 1);
      record(this.applied, { behaviour, subject });
      return true;
    }
    return false;
  }

  /** Behaviours still pending (a test can assert a scripted fault was used). */
  pending(): B[] {
    return this.entries.map((e) => e.behaviour as B);
  }

  clear(): void {
    this.entries.length = 0;
  }
}
