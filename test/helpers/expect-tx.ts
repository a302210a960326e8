/**
 * `expectTx` in the zwave-js driver-test style: wait, on the FakeClock, for the driver to write a
 * frame that satisfies a predicate, and fail with what it did write when it does not. Works on
 * any `Link<F>` (its `onTx` hook) or any source of transmitted frames.
 *
 *   const tx = recordTx(link);
 *   await tx.expect((f) => f.text === '^P005PIRI', 2000);
 */
import type { FakeClock } from '../../src/clock.js';

type TxSource<F> = { onTx(listener: (frame: F, ts: number) => void): () => void };

export interface TxRecorder<F> {
  /** Every frame written since the recorder was made (or since `clear`), oldest first. */
  readonly frames: F[];
  /**
   * Resolves with the first frame written after the last one `expect` returned (or from the
   * start) that satisfies `predicate`, advancing the clock in `stepMs` steps up to `timeoutMs`;
   * rejects with a list of what was written instead.
   */
  expect(predicate: (frame: F) => boolean, timeoutMs: number, opts?: { stepMs?: number; describe?: (f: F) => string }): Promise<F>;
  /** Asserts nothing matching `predicate` is written within `ms`. */
  expectNone(predicate: (frame: F) => boolean, ms: number, opts?: { stepMs?: number; describe?: (f: F) => string }): Promise<void>;
  clear(): void;
  detach(): void;
}

export function recordTx<F>(source: TxSource<F>, clock: FakeClock): TxRecorder<F> {
  const frames: F[] = [];
  let cursor = 0;
  const off = source.onTx((f) => frames.push(f));
  const show = (describe: ((f: F) => string) | undefined) =>
    frames.map((f, i) => `  ${i}: ${describe ? describe(f) : JSON.stringify(f, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))}`).join('\n') || '  (nothing)';
  return {
    frames,
    async expect(predicate, timeoutMs, opts = {}) {
      const step = opts.stepMs ?? 10;
      for (let waited = 0; ; waited += step) {
        for (let i = cursor; i < frames.length; i++) {
          if (predicate(frames[i]!)) {
            cursor = i + 1;
            return frames[i]!;
          }
        }
        if (waited >= timeoutMs) break;
        await clock.advance(step);
      }
      throw new Error(`expectTx: no matching frame within ${timeoutMs} ms; written:\n${show(opts.describe)}`);
    },
    async expectNone(predicate, ms, opts = {}) {
      const start = frames.length;
      const step = opts.stepMs ?? 10;
      for (let waited = 0; waited < ms; waited += step) await clock.advance(step);
      const bad = frames.slice(start).find(predicate);
      if (bad !== undefined) throw new Error(`expectTx: a frame that should not have been written was:\n${show(opts.describe)}`);
    },
    clear() {
      frames.length = 0;
      cursor = 0;
    },
    detach: off,
  };
}
