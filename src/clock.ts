/**
 * The one injectable clock. Every timer in the data path goes through a Clock so that
 * tests run a 20-hour charge without sleeping and the demo rig can run faster than life.
 */
export type TimerHandle = { readonly timerId: number };

export interface Clock {
  /** Milliseconds since the Unix epoch, in this clock's time. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

/** Wall-clock time, optionally running `speed` times faster than real time. */
export class RealClock implements Clock {
  private readonly startReal = Date.now();
  private readonly startVirtual: number;
  private nextId = 1;
  private readonly timers = new Map<number, NodeJS.Timeout>();

  constructor(readonly speed = 1, startAt = Date.now()) {
    if (!(speed > 0)) throw new Error(`clock speed must be > 0, got ${speed}`);
    this.startVirtual = startAt;
  }

  now(): number {
    return this.startVirtual + (Date.now() - this.startReal) * this.speed;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timerId = this.nextId++;
    const t = setTimeout(() => {
      this.timers.delete(timerId);
      fn();
    }, Math.max(0, ms / this.speed));
    t.unref?.();
    this.timers.set(timerId, t);
    return { timerId };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.timers.get(handle.timerId);
    if (t) clearTimeout(t);
    this.timers.delete(handle.timerId);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const timerId = this.nextId++;
    const t = setInterval(fn, Math.max(1, ms / this.speed));
    t.unref?.();
    this.timers.set(timerId, t);
    return { timerId };
  }

  clearInterval(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.timers.get(handle.timerId);
    if (t) clearInterval(t);
    this.timers.delete(handle.timerId);
  }
}

interface FakeTimer {
  id: number;
  due: number;
  fn: () => void;
  intervalMs?: number;
  seq: number;
}

/**
 * Manual time for tests. `advance(ms)` fires due timers in time order (ties in creation
 * order), yielding to pending promises/immediates between timers so that async I/O
 * (in-memory transports, awaited writes) settles as it would in real time.
 */
export class FakeClock implements Clock {
  private current: number;
  private nextId = 1;
  private seq = 0;
  private readonly timers = new Map<number, FakeTimer>();

  constructor(startAt = Date.UTC(2026, 0, 1, 0, 0, 0)) {
    this.current = startAt;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, due: this.current + Math.max(0, ms), fn, seq: this.seq++ });
    return { timerId: id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.timers.delete(handle.timerId);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    const every = Math.max(1, ms);
    this.timers.set(id, { id, due: this.current + every, fn, intervalMs: every, seq: this.seq++ });
    return { timerId: id };
  }

  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }

  /** Number of timers still scheduled (for leak checks in tests). */
  pendingTimers(): number {
    return this.timers.size;
  }

  private nextDue(limit: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers.values()) {
      if (t.due > limit) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    return best;
  }

  private fire(t: FakeTimer): void {
    this.current = Math.max(this.current, t.due);
    if (t.intervalMs !== undefined) {
      // Like Node: an interval that fired late (after a stall) is rescheduled from now, once.
      t.due = (t.due < this.current ? this.current : t.due) + t.intervalMs;
      t.seq = this.seq++;
    } else {
      this.timers.delete(t.id);
    }
    t.fn();
  }

  /** Advance time by `ms`, firing timers and letting async work settle between them. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    for (;;) {
      const t = this.nextDue(target);
      if (!t) break;
      this.fire(t);
      await settle();
    }
    this.current = target;
    await settle();
  }

  /**
   * The event loop was blocked for `ms`: time moves on but no timer fires and no I/O is read.
   * The overdue timers fire on the next `advance`, late and in due order, an interval once
   * (as Node does after a long synchronous task).
   */
  stall(ms: number): void {
    this.current += Math.max(0, ms);
  }

  /** Synchronous variant for pure code with no async I/O. */
  advanceSync(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const t = this.nextDue(target);
      if (!t) break;
      this.fire(t);
    }
    this.current = target;
  }
}

/** Let queued microtasks and immediates run (in-memory transports deliver on them). */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

export interface SilenceWatchdogOptions {
  clock: Clock;
  /** Check period. */
  tickMs: number;
  /**
   * The decision: runs once per tick, never in the timer's own turn but after a yield
   * (`defer`), so input that arrived while the loop was busy is read first.
   */
  check: () => void;
  /**
   * Ticks further apart than this (default 2 × tickMs) mean the event loop was stalled: only
   * this much of the gap counts as silence, the rest was time in which nothing could be read.
   */
  maxGapMs?: number;
  /** Yield before deciding; default setImmediate (after the I/O poll phase of this loop turn). */
  defer?: (fn: () => void) => void;
}

/**
 * The one rule for every "no frame for N s" watchdog (BMS stack and modules, Flatpack2 status,
 * adapter link): silence is counted only in time in which the process could have read its
 * input. A blocked event loop (a long synchronous query, GC, a loaded 2-core machine at
 * `--sim-speed 100`) fires the timer late and reads the frames buffered meanwhile only after
 * it, so the wall-clock gap since the last frame overstates the silence:
 *
 * - each tick adds at most `maxGapMs` of "awake" time; the rest of a late tick's gap is a stall
 *   and is not counted (`stalls` / `stalledMs` count them);
 * - sources are stamped in awake time (`heard(key)`), and `silentMs(key)` is the awake time
 *   since, i.e. silence measured against the read opportunities, not against the wall clock;
 * - the decision (`check`) is deferred past the I/O phase, so pending input is read first.
 *
 * A real silence is still found: every tick while the loop runs adds up to `maxGapMs`, so a
 * source that stays quiet is declared silent after at most timeout/tickMs responsive ticks.
 * Under the FakeClock ticks land exactly on time and this is plain "now − last frame".
 */
export class SilenceWatchdog {
  /** Ticks that came late enough to count as an event-loop stall, and the time not counted. */
  stalls = 0;
  stalledMs = 0;
  private readonly clock: Clock;
  private readonly tickMs: number;
  private readonly maxGapMs: number;
  private readonly check: () => void;
  private readonly defer: (fn: () => void) => void;
  private readonly heardAt = new Map<string, number>();
  private awake = 0;
  private lastTickAt = 0;
  private timer: TimerHandle | undefined;
  private running = false;

  constructor(opts: SilenceWatchdogOptions) {
    if (!(opts.tickMs > 0)) throw new RangeError(`SilenceWatchdog: tickMs must be > 0, got ${opts.tickMs}`);
    this.clock = opts.clock;
    this.tickMs = opts.tickMs;
    this.maxGapMs = opts.maxGapMs ?? 2 * opts.tickMs;
    if (!(this.maxGapMs >= this.tickMs)) throw new RangeError(`SilenceWatchdog: maxGapMs must be ≥ tickMs, got ${opts.maxGapMs}`);
    this.check = opts.check;
    this.defer = opts.defer ?? ((fn) => void setImmediate(fn));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastTickAt = this.clock.now();
    this.timer = this.clock.setInterval(() => this.tick(), this.tickMs);
  }

  stop(): void {
    this.running = false;
    this.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A frame (or a fresh start, e.g. the link came up) from `key` now. */
  heard(key: string): void {
    this.heardAt.set(key, this.awakeNow());
  }

  forget(key: string): void {
    this.heardAt.delete(key);
  }

  /** Silence of `key` in time the process could have read it; null = never heard (or forgotten). */
  silentMs(key: string): number | null {
    const at = this.heardAt.get(key);
    return at === undefined ? null : Math.max(0, this.awakeNow() - at);
  }

  private awakeNow(): number {
    const gap = this.clock.now() - this.lastTickAt;
    return this.awake + (gap <= 0 ? 0 : gap < this.maxGapMs ? gap : this.maxGapMs);
  }

  private tick(): void {
    const now = this.clock.now();
    const gap = now - this.lastTickAt;
    if (gap > this.maxGapMs) {
      this.stalls++;
      this.stalledMs += gap - this.maxGapMs;
    }
    this.awake = this.awakeNow();
    this.lastTickAt = now;
    this.defer(() => {
      if (this.running) this.check();
    });
  }
}
