/**
 * VE.Bus driver + simulator on one FakeClock, over the generic SupervisedLink (src/link/
 * supervisor.ts) with the MK2 framer, on the memory transport or a REAL pseudo-terminal pair
 * (serialport on both ends). Over the pty the clock advances only while
 * the wire is quiet (advanceQuiet), so timing does not depend on the machine's load.
 */
import { FakeClock } from '../../src/clock.js';
import type { Observation } from '../../src/families/contract.js';
import { letterOf, type Mk2Frame } from '../../src/families/vebus/codec.js';
import { VebusDriver, type VebusDriverOptions, type VebusFact } from '../../src/families/vebus/driver.js';
import { Mk2Framer } from '../../src/families/vebus/framer.js';
import { VebusSim, type VebusSimOptions } from '../../src/families/vebus/sim.js';
import { createMemoryLink, type MemoryLink } from '../../src/link/transports/memory.js';
import { SerialTransport } from '../../src/link/transports/serial.js';
import { recordTx, type TxRecorder } from './expect-tx.js';
import { openPtyPair, type PtyPair } from './pty-pair.js';
import { advanceQuiet, countingTransport } from './vebus-link.js';
import { SupervisedLink } from '../../src/link/supervisor.js';

export interface VebusRig {
  clock: FakeClock;
  sim: VebusSim;
  driver: VebusDriver;
  link: SupervisedLink<Mk2Frame>;
  framer: Mk2Framer;
  tx: TxRecorder<Mk2Frame>;
  obs: Observation<VebusFact>[];
  mem: MemoryLink | null;
  pty: PtyPair | null;
  /** Advances the FakeClock (quiet-wire steps over a pty). */
  advance(ms: number): Promise<void>;
  /** Advances in 10 ms steps until `pred` holds; throws with `what` after `maxMs`. */
  until(pred: () => boolean, what: string, maxMs?: number): Promise<void>;
  /** Advances the clock until `p` settles (a driver call that needs replies); returns its value. */
  run<T>(p: Promise<T>, maxMs?: number): Promise<T>;
  start(): Promise<void>;
  close(): Promise<void>;
  readings(): Array<Extract<Observation<VebusFact>, { type: 'reading' }>>;
  presence(): Array<Extract<Observation<VebusFact>, { type: 'presence' }>>;
}

export async function vebusRig(opts: { pty?: boolean; sim?: Partial<VebusSimOptions>; driver?: Partial<VebusDriverOptions>; simStarted?: boolean } = {}): Promise<VebusRig> {
  const clock = new FakeClock();
  let mem: MemoryLink | null = null;
  let pty: PtyPair | null = null;
  let hostRaw, devRaw;
  if (opts.pty) {
    pty = await openPtyPair();
    hostRaw = new SerialTransport({ path: pty.a, baudRate: 2400 });
    devRaw = new SerialTransport({ path: pty.b, baudRate: 2400 });
    await devRaw.open();
  } else {
    mem = createMemoryLink('vebus0');
    hostRaw = mem.host;
    devRaw = mem.device;
  }
  const host = countingTransport(hostRaw);
  const dev = countingTransport(devRaw, mem ? { peerOpen: () => mem!.host.isOpen } : {});
  const sim = new VebusSim({ clock, transport: dev, ...opts.sim });
  const framer = new Mk2Framer();
  const link = new SupervisedLink<Mk2Frame>(async () => host, framer, { id: 'vebus0', clock, name: 'MK3', backoff: { initialMs: 1000, maxMs: 5000 } });
  const driver = new VebusDriver({ link, clock, deviceId: 'multi', name: 'MultiPlus multi', linkStats: () => ({ corruptBytes: framer.corruptBytes }), ...opts.driver });
  const obs: Observation<VebusFact>[] = [];
  driver.onObservation((o) => obs.push(o));
  const tx = recordTx(link, clock);
  const advance = (ms: number) => advanceQuiet(clock, ms, host, dev, { stepMs: 5 });
  const rig: VebusRig = {
    clock,
    sim,
    driver,
    link,
    framer,
    tx,
    obs,
    mem,
    pty,
    advance,
    async until(pred, what, maxMs = 20_000) {
      for (let t = 0; t <= maxMs; t += 10) {
        if (pred()) return;
        await advance(10);
      }
      throw new Error(`timed out (fake ${maxMs} ms) waiting for ${what}; tx: ${tx.frames.map((f) => letterOf(f) ?? f.type.toString(16)).join(' ')}`);
    },
    async run<T>(p: Promise<T>, maxMs = 60_000): Promise<T> {
      let done = false;
      void p.then(
        () => (done = true),
        () => (done = true),
      );
      await rig.until(() => done, 'the call to settle', maxMs);
      return p;
    },
    async start() {
      driver.start();
      link.start();
      // The host port is open before the device speaks (a pty would otherwise hold the bytes).
      await rig.until(() => link.state === 'up', 'the link up', 5000);
      if (opts.simStarted !== false) sim.start();
      await advance(0);
    },
    async close() {
      driver.stop();
      sim.stop();
      await link.stop().catch(() => undefined);
      if (pty) {
        await devRaw.close().catch(() => undefined);
        await pty.close();
      }
    },
    readings: () => obs.filter((o): o is Extract<Observation<VebusFact>, { type: 'reading' }> => o.type === 'reading'),
    presence: () => obs.filter((o): o is Extract<Observation<VebusFact>, { type: 'presence' }> => o.type === 'presence'),
  };
  return rig;
}
