/**
 * Defect 8.8: a stalled event loop is not a dead device. A real pty pair carries frames from a
 * separate producer process, so frames keep arriving in the pty buffer while this process is
 * blocked synchronously for longer than the watchdog timeout. After the stall the buffered
 * frames must be read before any "offline" is decided; a real silence (producer killed) must
 * still be found. The shared helper (SilenceWatchdog) is also checked on the FakeClock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, RealClock, SilenceWatchdog } from '../../src/clock.js';
import { CanAdapterLink } from '../../src/families/can/adapter.js';
import type { CanFrame } from '../../src/families/can/types.js';
import { encodeFrame, type WaveshareFraming } from '../../src/families/can/waveshare.js';
import { BmsDriver, type BmsObservation } from '../../src/families/bms/driver.js';
import { BmsSim } from '../../src/families/bms/sim.js';
import { Flatpack2Driver, type Fp2Observation } from '../../src/families/flatpack2/driver.js';
import { encodeStatus } from '../../src/families/flatpack2/codec.js';
import { serialTransportFactory } from '../../src/link/transports/serial.js';
import { LiFePO4Pack } from '../../src/sim/lifepo4-pack.js';
import { openPtyPair } from '../helpers/pty-pair.js';
import { waitFor } from '../helpers/wait.js';

const stops: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (stops.length) await stops.pop()!();
});

/** Another process writing `bytes` to the pty every `everyMs`: it keeps going while we are blocked. */
function producer(path: string, bytes: Uint8Array, everyMs: number): { stop(): Promise<void> } {
  const code = `const fs=require('fs');const fd=fs.openSync(process.argv[1],'w');const b=Buffer.from(process.argv[2],'hex');` + `const w=()=>{try{fs.writeSync(fd,b)}catch{}};w();setInterval(w,Number(process.argv[3]));`;
  const child: ChildProcess = spawn(process.execPath, ['-e', code, path, Buffer.from(bytes).toString('hex'), String(everyMs)], { stdio: 'ignore' });
  let stopped: Promise<void> | null = null;
  const stop = () =>
    (stopped ??= new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }));
  stops.push(stop);
  return { stop };
}

/** Blocks the event loop for `ms` from inside a timer callback (a long synchronous task). */
function stallLoop(ms: number): Promise<void> {
  return new Promise((resolve) =>
    setTimeout(() => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        /* busy: nothing is read, no timer fires */
      }
      resolve();
    }, 0),
  );
}

function encodeAll(frames: CanFrame[], framing: WaveshareFraming): Uint8Array {
  const parts = frames.map((f) => encodeFrame(f, framing));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One whole burst of a 2-module Deye stack, as the simulator would send it. */
async function deyeBurst(): Promise<CanFrame[]> {
  const clock = new FakeClock();
  const frames: CanFrame[] = [];
  const pack = new LiFePO4Pack({ cells: 16, capacityAh: 100, socPct: 50, internalResistanceOhm: 0.02 });
  const sim = new BmsSim({ clock, pack, dialect: 'deye', frameGapMs: 0, send: (f) => frames.push(f) });
  sim.start();
  await clock.advance(10);
  sim.stop();
  return frames;
}

describe('SilenceWatchdog (the shared rule of every silence watchdog)', () => {
  it('defect 8.8: time in which the loop was stalled is not silence; a real silence is still found', async () => {
    const clock = new FakeClock();
    const decided: Array<{ at: number; silentMs: number | null }> = [];
    const wd = new SilenceWatchdog({ clock, tickMs: 250, check: () => decided.push({ at: clock.now(), silentMs: wd.silentMs('dev') }) });
    wd.start();
    wd.heard('dev');
    await clock.advance(4000);
    expect(wd.silentMs('dev')).toBe(4000);
    // The loop is blocked for 60 s; the late tick counts at most 2 ticks (500 ms) of it.
    clock.stall(60_000);
    await clock.advance(1);
    expect(wd.stalls).toBe(1);
    expect(wd.stalledMs).toBe(59_500);
    expect(wd.silentMs('dev')).toBe(4000 + 500 + 1);
    // A frame read right after the stall resets it.
    wd.heard('dev');
    expect(wd.silentMs('dev')).toBe(0);
    // Real silence with the loop running: counted in full, found at the timeout.
    await clock.advance(10_000);
    expect(wd.silentMs('dev')).toBe(10_000);
    // The decision never runs in the timer's own turn: it ran for every tick, after a yield.
    expect(decided.length).toBeGreaterThan(40);
    wd.stop();
    const n = decided.length;
    await clock.advance(5000);
    expect(decided.length).toBe(n);
  });

  it('defect 8.8: a loop that is late on every tick still finds a silence (bounded, not never)', async () => {
    const clock = new FakeClock();
    const wd = new SilenceWatchdog({ clock, tickMs: 250, check: () => {} });
    wd.start();
    wd.heard('dev');
    // Every tick ~1 s late: only 500 ms (2 ticks) of each gap counts, but it does count.
    for (let i = 0; i < 30; i++) {
      clock.stall(1000);
      await clock.advance(1);
    }
    expect(wd.stalls).toBe(30);
    expect(wd.silentMs('dev')).toBe(30 * 500 + 1);
  });
});

describe('defect 8.8 on a real pty, with a producer process that keeps sending while we are blocked', () => {
  it('defect 8.8: a stall longer than the BMS timeout is not a dead BMS; a killed producer is', async () => {
    const pair = await openPtyPair();
    stops.push(() => pair.close());
    const clock = new RealClock();
    const link = new CanAdapterLink({ busId: 'bms0', factory: serialTransportFactory({ path: pair.a, baudRate: 2_000_000 }), framing: 'fixed', bitrate: 500_000, frameType: 'standard', clock, settleMs: 20 });
    const driver = new BmsDriver({ link, clock, dialect: 'deye', offlineAfterMs: 2000, moduleOfflineAfterMs: 2000 });
    const seen: BmsObservation[] = [];
    driver.onObservation((o) => seen.push(o));
    driver.start();
    link.start();
    stops.push(async () => {
      driver.stop();
      await link.stop();
    });
    const bms = producer(pair.b, encodeAll(await deyeBurst(), 'fixed'), 200);
    await waitFor(() => driver.snapshot().online && driver.snapshot().modules.filter((m) => m.online).length === 2, 'the BMS and both modules online', 10_000);
    const offline = () => seen.filter((o) => o.kind === 'offline' || o.kind === 'module-offline');

    // 5 s blocked (> the 2 s timeout): the producer keeps writing into the pty meanwhile. (A 1 s
    // timeout failed at load 15: the producer process itself was not scheduled for a second.)
    await stallLoop(5000);
    await new Promise((r) => setTimeout(r, 600));
    expect(offline()).toEqual([]);
    expect(driver.snapshot().online).toBe(true);

    // A real silence is still detected.
    await bms.stop();
    await waitFor(() => seen.some((o) => o.kind === 'offline'), 'the BMS to go offline after a real silence', 10_000);
    expect(seen.find((o) => o.kind === 'offline')).toMatchObject({ reason: expect.stringMatching(/no valid BMS frame for 2\.\d s/) });
  }, 120_000);

  it('defect 8.8: a stall longer than the Flatpack2 status timeout does not take the PSU offline; a killed producer does', async () => {
    const pair = await openPtyPair();
    stops.push(() => pair.close());
    const clock = new RealClock();
    const link = new CanAdapterLink({ busId: 'can0', factory: serialTransportFactory({ path: pair.a, baudRate: 2_000_000 }), framing: 'variable', bitrate: 125_000, clock, settleMs: 20 });
    const driver = new Flatpack2Driver({ link, clock, keepAliveMs: 1000, statusTimeoutMs: 2000, linkWatchdogMs: 3000, knownAddresses: new Map([['192750001639', 1]]) });
    const seen: Fp2Observation[] = [];
    driver.onObservation((o) => seen.push(o));
    driver.start();
    link.start();
    stops.push(async () => {
      driver.stop();
      await link.stop();
    });
    const status = encodeStatus({ addr: 1, stateCode: 0x04, intakeTempC: 25, currentA: 10, voltageV: 53.2, inputVoltageV: 230, outputTempC: 30 });
    const psu = producer(pair.b, encodeAll([status], 'variable'), 100);
    await waitFor(() => seen.some((o) => o.kind === 'online' && o.serial === '192750001639'), 'the PSU online', 10_000);

    // 6 s blocked: longer than the status timeout (2 s) and the link watchdog (3 s).
    await stallLoop(6000);
    await new Promise((r) => setTimeout(r, 600));
    expect(seen.filter((o) => o.kind === 'offline')).toEqual([]);
    expect(link.stats.reconnects).toBe(0);

    await psu.stop();
    await waitFor(() => seen.some((o) => o.kind === 'offline'), 'the PSU to go offline after a real silence', 10_000);
    expect(seen.find((o) => o.kind === 'offline')).toMatchObject({ reason: expect.stringMatching(/no status frame for \d+ s/) });
    // And the link watchdog still reopens a silent adapter.
    await waitFor(() => link.stats.reconnects > 0, 'the link watchdog to reopen the silent adapter', 10_000);
  }, 120_000);
});
