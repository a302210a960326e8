/**
 * A server process that can be SIGKILLed and started again over the same SQLite file, while
 * the simulated hardware (adapters, PSUs, BMS, pack) keeps running on the fake clock — as a
 * real rectifier shelf does when the controller dies.
 */
import { FakeClock, type Clock, type TimerHandle } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { buildRig, buildSimHardware, type Rig, type SimHardware } from '../../src/rig.js';
import { families } from './families.js';
import { Store } from '../../src/store/store.js';
import type { PowerplaneConfig } from '../../src/config/schema.js';

/** The timers of one process on a shared clock; kill() drops them all at once, like SIGKILL. */
export class ProcessClock implements Clock {
  private readonly handles = new Set<TimerHandle>();
  private dead = false;
  constructor(private readonly base: Clock) {}
  now(): number {
    return this.base.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const h: TimerHandle = this.base.setTimeout(() => {
      this.handles.delete(h);
      if (!this.dead) fn();
    }, ms);
    if (!this.dead) this.handles.add(h);
    return h;
  }
  clearTimeout(h: TimerHandle | undefined): void {
    if (h) this.handles.delete(h);
    this.base.clearTimeout(h);
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    const h = this.base.setInterval(() => {
      if (!this.dead) fn();
    }, ms);
    if (!this.dead) this.handles.add(h);
    return h;
  }
  clearInterval(h: TimerHandle | undefined): void {
    if (h) this.handles.delete(h);
    this.base.clearInterval(h);
  }
  kill(): void {
    this.dead = true;
    for (const h of this.handles) {
      this.base.clearTimeout(h);
      this.base.clearInterval(h);
    }
    this.handles.clear();
  }
}

export interface CrashableRig {
  clock: FakeClock;
  hw: SimHardware;
  config: PowerplaneConfig;
  dbPath: string;
  logs: string[];
  /** The running server process (replaced by restart()). */
  rig: Rig;
  store: Store;
  /** SIGKILL: no graceful stop, no flush of batched rows; the hardware keeps running. */
  crash(): void;
  /** Start a new server process on the same database and hardware. */
  restart(config?: PowerplaneConfig): void;
  /** Graceful end of the test: server and hardware. */
  stop(): Promise<void>;
}

export function makeCrashableRig(opts: { config: PowerplaneConfig; dbPath: string; pack?: { socPct?: number; capacityAh?: number } }): CrashableRig {
  const clock = new FakeClock();
  const hw = buildSimHardware(opts.config, clock, families, opts.pack);
  hw.start();
  const logs: string[] = [];
  let proc: ProcessClock;
  let alive = false;
  const boot = (config: PowerplaneConfig) => {
    proc = new ProcessClock(clock);
    const store = Store.open({ path: opts.dbPath });
    const rig = buildRig({ config, clock: proc, store, log: silentLogger(logs), simulated: true, families, hardware: hw });
    rig.start();
    alive = true;
    return { rig, store };
  };
  let cur = boot(opts.config);
  const t: CrashableRig = {
    clock,
    hw,
    config: opts.config,
    dbPath: opts.dbPath,
    logs,
    get rig() {
      return cur.rig;
    },
    get store() {
      return cur.store;
    },
    crash() {
      if (!alive) return;
      alive = false;
      proc.kill();
      for (const end of hw.parts.hostEnds.values()) end.abandonHost();
      // The store's own flush timer and open file go with the process; batched rows are lost.
      const s = cur.store as unknown as { timer: NodeJS.Timeout; closed: boolean; db: { close(): void } };
      clearInterval(s.timer);
      s.closed = true;
      s.db.close();
    },
    restart(config = opts.config) {
      if (alive) t.crash();
      cur = boot(config);
    },
    async stop() {
      if (alive) {
        await cur.rig.stop();
        cur.store.close();
        alive = false;
      }
      hw.stop();
    },
  };
  return t;
}
