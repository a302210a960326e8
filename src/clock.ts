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
      t.due += t.intervalMs;
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
