/**
 * Fan-out: Flatpack2 status frames at a fixed rate through the real driver and Engine to N
 * graphql-ws subscribers of `subscription { telemetry { deviceId at values } }` on a real
 * server, against a bare `ws` broadcast of the same JSON to N clients in the same run.
 * Reports frame → subscriber latency p50/p99, % delivered, gap markers, and the event-loop
 * delay p99 during each run. Env: PP_FANOUT_SUBS (100), PP_FANOUT_RATE (1000 frames/s),
 * PP_FANOUT_SECONDS (5), PP_FANOUT_RUNS (1: pairs of runs, alternating which goes first),
 * PP_FANOUT_WARMUP_SECONDS (1: the same rate first, not counted, so the
 * figures are a running server's, not its JIT warming up; the warm-up's own p99 is reported).
 *
 * A frame's latency runs from the moment it is handed to the driver to the moment its update
 * is read off the subscriber's socket. The generator is a 1-ms timer: when a tick comes late it
 * hands over every frame that came due meanwhile at once, as a serial read would. Frames stamped
 * at their due time instead (`latencyFromDueMs`) also count how late the timer was, i.e. the
 * generator's own jitter and any stall of the server's event loop.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { encodeStatus, encodeLoginRequest } from '../src/families/flatpack2/codec.js';
import { Store } from '../src/store/store.js';
import { FakeClock } from '../src/clock.js';
import { silentLogger } from '../src/log.js';
import { startServer } from '../src/server.js';
import { flatpack2Engine } from './ingest.js';
import { printJsonThenExit } from './proc.mjs';

const SUBS = Number(process.env.PP_FANOUT_SUBS ?? 100);
const RATE = Number(process.env.PP_FANOUT_RATE ?? 1000);
const SECONDS = Number(process.env.PP_FANOUT_SECONDS ?? 5);
const WARMUP_SECONDS = Number(process.env.PP_FANOUT_WARMUP_SECONDS ?? 1);
const SERIALS = ['192750001639', '163850019608', '132071181554', '111122223333'];

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(3);
}

/**
 * The server process's own figures over the measured part of a run: restart() where it begins
 * (after the warm-up), end() after the drain.
 */
function serverWindow() {
  let h = monitorEventLoopDelay({ resolution: 1 });
  let gc = gcWatch();
  let cpu0 = process.cpuUsage();
  let w0 = performance.now();
  let ru0 = process.resourceUsage();
  return {
    restart(): void {
      gc.stop();
      gc = gcWatch();
      h.disable();
      h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      cpu0 = process.cpuUsage();
      w0 = performance.now();
      ru0 = process.resourceUsage();
    },
    end() {
      h.disable();
      return {
        eventLoopDelayP99Ms: +(h.percentile(99) / 1e6).toFixed(3),
        // One long stall is one sample of the histogram: p99 can hide it, max does not.
        eventLoopDelayMaxMs: +(h.max / 1e6).toFixed(3),
        serverCpuPctOfOneCore: cpuPct(cpu0, w0),
        serverGc: gc.stop(),
        // Times the server was taken off a core it still wanted (another process ran): a loaded machine, not the server.
        serverInvoluntaryContextSwitches: process.resourceUsage().involuntaryContextSwitches - ru0.involuntaryContextSwitches,
      };
    },
  };
}

/** This process's CPU since `cpu0` (wall `w0`), as % of one core (includes the 5 s drain). */
function cpuPct(cpu0: NodeJS.CpuUsage, w0: number): number {
  const c = process.cpuUsage(cpu0);
  return +((100 * (c.user + c.system)) / 1000 / (performance.now() - w0)).toFixed(1);
}

interface Report {
  at: number[];
  recv: number[];
  gaps: number;
  missed: number;
  /** The subscriber process's own CPU (% of one core) and event-loop delay during the run. */
  client: { cpuPctOfOneCore: number; eventLoopDelayP99Ms: number; eventLoopDelayMaxMs: number; otherMessages: number; involuntaryContextSwitches: number };
}

/** Starts the subscribers in a child process; resolves once they are all connected. */
async function spawnClients(mode: 'graphql-ws' | 'ws', url: string): Promise<{ report: () => Promise<Report> }> {
  const child = fork(fileURLToPath(new URL('./fanout-clients.ts', import.meta.url)), [mode, url, String(SUBS)], { execArgv: ['--import', 'tsx'], serialization: 'advanced' });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (c) => reject(new Error(`subscriber process exited (${c})`)));
  });
  return {
    report: () =>
      new Promise<Report>((resolve) => {
        child.removeAllListeners('exit');
        child.once('message', (m) => resolve(m as Report));
        child.send({ report: true });
      }),
  };
}

interface Sent {
  /** When each measured frame was handed over, and when it came due, by its `at`. */
  at: Map<number, number>;
  due: Map<number, number>;
}

function latencies(r: Report, sent: Map<number, number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < r.at.length; i++) {
    const t = sent.get(r.at[i]);
    if (t !== undefined) out.push(r.recv[i] - t);
  }
  return out;
}

/**
 * Per frame, when its FIRST subscriber had it (the path through the server, before the fan-out
 * spreads it), and how long after that its LAST one did (the writes to every socket and the
 * subscriber process reading them all).
 */
function split(r: Report, sent: Map<number, number>): { firstSubscriberMs: number[]; spreadMs: number[] } {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  for (let i = 0; i < r.at.length; i++) {
    const a = r.at[i];
    if (!sent.has(a)) continue;
    const t = r.recv[i];
    if (!(first.get(a)! <= t)) first.set(a, t);
    if (!(last.get(a)! >= t)) last.set(a, t);
  }
  const firstSubscriberMs: number[] = [];
  const spreadMs: number[] = [];
  for (const [a, t] of first) {
    firstSubscriberMs.push(t - sent.get(a)!);
    spreadMs.push(last.get(a)! - t);
  }
  return { firstSubscriberMs, spreadMs };
}

/** The server's GC pauses while enabled (a scavenge stops everything, the fan-out included). */
function gcWatch(): { stop(): { scavenges: number; markSweeps: number; pauseMsTotal: number; pauseMsMax: number } } {
  let scavenges = 0;
  let markSweeps = 0;
  let total = 0;
  let max = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === 1) scavenges++;
      else markSweeps++;
      total += e.duration;
      max = Math.max(max, e.duration);
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  return {
    stop: () => {
      obs.disconnect();
      return { scavenges, markSweeps, pauseMsTotal: +total.toFixed(1), pauseMsMax: +max.toFixed(2) };
    },
  };
}

/**
 * Sends RATE frames a second (in 1-ms ticks), calling inject(i, measured) for each: first
 * WARMUP_SECONDS' worth (not measured), then `count` measured ones. Returns how the frames fell
 * into ticks (a late tick hands over all that came due meanwhile).
 */
async function drive(count: number, inject: (i: number, measured: boolean, dueAt: number) => void): Promise<{ ticks: number; maxFramesPerTick: number; ticksWithSeveralPct: number }> {
  const warm = Math.round(RATE * WARMUP_SECONDS);
  const total = warm + count;
  const t0 = performance.timeOrigin + performance.now();
  let i = 0;
  let ticks = 0;
  let several = 0;
  let maxK = 0;
  while (i < total) {
    const due = Math.min(total, Math.floor(((performance.timeOrigin + performance.now() - t0) / 1000) * RATE) + 1);
    const k = due - i;
    if (i >= warm && k > 0) {
      ticks++;
      if (k > 1) several++;
      maxK = Math.max(maxK, k);
    }
    for (; i < due; i++) inject(i, i >= warm, t0 + (i * 1000) / RATE);
    await new Promise((r) => setTimeout(r, 1));
  }
  return { ticks, maxFramesPerTick: maxK, ticksWithSeveralPct: +((100 * several) / Math.max(1, ticks)).toFixed(1) };
}

let stores = 0;

/**
 * The same frames through the same driver and Engine with no server and no subscriber: the
 * event-loop delay the control loop sees anyway, against which the fan-out run's is compared.
 */
async function engineOnlyRun(dir: string): Promise<Record<string, unknown>> {
  const store = Store.open({ path: path.join(dir, `fanout-${stores++}.db`) });
  const clock = new FakeClock(1_800_000_000_000);
  const { driver, feed } = flatpack2Engine(store, clock);
  driver.start();
  for (let u = 0; u < 4; u++) feed(encodeLoginRequest(SERIALS[u], u + 1));
  let h = monitorEventLoopDelay({ resolution: 1 });
  let cpu0 = process.cpuUsage();
  let w0 = performance.now();
  let warming = true;
  await drive(RATE * SECONDS, (i, measured) => {
    if (measured && warming) {
      warming = false;
      h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      cpu0 = process.cpuUsage();
      w0 = performance.now();
    }
    clock.advanceSync(1);
    const unit = i % 4;
    feed(encodeStatus({ addr: unit + 1, stateCode: 0x04, intakeTempC: 25, currentA: (i % 400) / 10, voltageV: 50 + (i % 700) / 100, inputVoltageV: 230, outputTempC: 35 }));
  });
  h.disable();
  const c = process.cpuUsage(cpu0);
  const result = {
    what: 'the same frames through the driver and Engine, no server, no subscriber (the control loop without the fan-out)',
    eventLoopDelayP99Ms: +(h.percentile(99) / 1e6).toFixed(3),
    eventLoopDelayMaxMs: +(h.max / 1e6).toFixed(3),
    // While the frames are sent (the other runs' serverCpuPctOfOneCore also count their 5 s drain).
    serverCpuPctOfOneCoreWhileSending: +((100 * (c.user + c.system)) / 1000 / (performance.now() - w0)).toFixed(1),
  };
  driver.stop();
  store.close();
  return result;
}

async function engineRun(dir: string): Promise<Record<string, unknown>> {
  const store = Store.open({ path: path.join(dir, `fanout-${stores++}.db`) });
  const clock = new FakeClock(1_800_000_000_000);
  const { engine, driver, feed } = flatpack2Engine(store, clock);
  driver.start();
  for (let u = 0; u < 4; u++) feed(encodeLoginRequest(SERIALS[u], u + 1));
  const server = await startServer({
    engine,
    log: silentLogger(),
    host: '127.0.0.1',
    port: 0,
    limits: { maxWsConnections: SUBS + 10, ratePerSecond: 100_000, rateBurst: 100_000 },
  });
  const sent: Sent = { at: new Map(), due: new Map() };
  const warmAt: Map<number, number> = new Map();
  const clients = await spawnClients('graphql-ws', `${server.url.replace('http', 'ws')}/graphql`);
  // Wait until every subscriber is in (the shared execution has them all).
  const deadline = Date.now() + 20_000;
  while (server.fanout.members < SUBS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const subscribed = server.fanout.members;
  const n = RATE * SECONDS;
  const win = serverWindow();
  let warming = true;
  const pacing = await drive(n, (i, measured, dueAt) => {
    if (measured && warming) {
      // The measured part starts here: event loop, GC and CPU from now on.
      warming = false;
      win.restart();
    }
    clock.advanceSync(1); // every frame its own ms: its sample's `at` names it
    (measured ? sent.at : warmAt).set(clock.now(), performance.timeOrigin + performance.now());
    if (measured) sent.due.set(clock.now(), dueAt);
    const unit = i % 4;
    feed(encodeStatus({ addr: unit + 1, stateCode: 0x04, intakeTempC: 25, currentA: (i % 400) / 10, voltageV: 50 + (i % 700) / 100, inputVoltageV: 230, outputTempC: 35 }));
  });
  await new Promise((r) => setTimeout(r, 5000)); // late updates still count as delivered (their latency says how late)
  const own = win.end();
  const rep = await clients.report();
  const lat = latencies(rep, sent.at);
  const fromDue = latencies(rep, sent.due);
  const warmLat = latencies(rep, warmAt);
  const result = {
    what: `Flatpack2 status frame → driver → Engine → telemetry subscription (graphql-ws, one shared execution) → ${SUBS} subscribers (clients in a child process)`,
    subscribers: subscribed,
    frames: n,
    latencyMs: { p50: pct(lat, 50), p99: pct(lat, 99), max: pct(lat, 100) },
    latencyFromDueMs: { p50: pct(fromDue, 50), p99: pct(fromDue, 99), max: pct(fromDue, 100) },
    ...(() => {
      const sp = split(rep, sent.at);
      return {
        firstSubscriberMs: { p50: pct(sp.firstSubscriberMs, 50), p99: pct(sp.firstSubscriberMs, 99), max: pct(sp.firstSubscriberMs, 100) },
        firstToLastSubscriberMs: { p50: pct(sp.spreadMs, 50), p99: pct(sp.spreadMs, 99), max: pct(sp.spreadMs, 100) },
      };
    })(),
    warmupLatencyMs: { p50: pct(warmLat, 50), p99: pct(warmLat, 99), max: pct(warmLat, 100) },
    deliveredPct: +((100 * lat.length) / (n * SUBS)).toFixed(2),
    pacing,
    gapMarkers: rep.gaps,
    missedAnnounced: rep.missed,
    accountedPct: +((100 * (lat.length + rep.missed)) / (n * SUBS)).toFixed(2),
    serverFanout: { ...server.fanout },
    ...own,
    clientProcess: rep.client,
  };
  await server.close();
  driver.stop();
  store.close();
  return result;
}

/** The same JSON messages broadcast by a bare ws server to N plain ws clients. */
async function bareRun(): Promise<Record<string, unknown>> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const port = (wss.address() as { port: number }).port;
  const sent: Sent = { at: new Map(), due: new Map() };
  const warmAt: Map<number, number> = new Map();
  const clients = await spawnClients('ws', `ws://127.0.0.1:${port}`);
  while (wss.clients.size < SUBS) await new Promise((r) => setTimeout(r, 5));
  const n = RATE * SECONDS;
  const win = serverWindow();
  let warming = true;
  let ts = 1_800_000_000_000;
  const pacing = await drive(n, (i, measured, dueAt) => {
    if (measured && warming) {
      // The measured part starts here: event loop, GC and CPU from now on.
      warming = false;
      win.restart();
    }
    ts++;
    (measured ? sent.at : warmAt).set(ts, performance.timeOrigin + performance.now());
    if (measured) sent.due.set(ts, dueAt);
    const msg = JSON.stringify({ id: '1', type: 'next', payload: { data: { telemetry: { deviceId: `fp2-${SERIALS[i % 4]}`, at: new Date(ts).toISOString(), values: { outputVoltageV: 53.5, outputCurrentA: 10.2, inputVoltageV: 230, intakeTempC: 25, outputTempC: 35, state: 'on' } } } } });
    for (const c of wss.clients) c.send(msg);
  });
  await new Promise((r) => setTimeout(r, 5000)); // late updates still count as delivered (their latency says how late)
  const own = win.end();
  const rep = await clients.report();
  const lat = latencies(rep, sent.at);
  const fromDue = latencies(rep, sent.due);
  const warmLat = latencies(rep, warmAt);
  await new Promise((r) => wss.close(() => r(null)));
  return {
    what: `bare ws broadcast of the same messages to ${SUBS} ws clients (one JSON.stringify per message; clients in a child process)`,
    frames: n,
    latencyMs: { p50: pct(lat, 50), p99: pct(lat, 99), max: pct(lat, 100) },
    latencyFromDueMs: { p50: pct(fromDue, 50), p99: pct(fromDue, 99), max: pct(fromDue, 100) },
    ...(() => {
      const sp = split(rep, sent.at);
      return {
        firstSubscriberMs: { p50: pct(sp.firstSubscriberMs, 50), p99: pct(sp.firstSubscriberMs, 99), max: pct(sp.firstSubscriberMs, 100) },
        firstToLastSubscriberMs: { p50: pct(sp.spreadMs, 50), p99: pct(sp.spreadMs, 99), max: pct(sp.spreadMs, 100) },
      };
    })(),
    warmupLatencyMs: { p50: pct(warmLat, 50), p99: pct(warmLat, 99), max: pct(warmLat, 100) },
    deliveredPct: +((100 * lat.length) / (n * SUBS)).toFixed(2),
    pacing,
    ...own,
    clientProcess: rep.client,
  };
}

const RUNS = Number(process.env.PP_FANOUT_RUNS ?? 1);

export async function benchFanout(): Promise<Record<string, unknown>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'powerplane-fanout-'));
  const load = () => os.loadavg().map((x) => +x.toFixed(2));
  try {
    const p99 = (r: Record<string, unknown>) => (r.latencyMs as { p99: number }).p99;
    const runs: Array<Record<string, unknown>> = [];
    for (let i = 0; i < RUNS; i++) {
      // Alternate which goes first, so neither always meets the machine in the same state.
      const loadBefore = load();
      let bare: Record<string, unknown>;
      let graphqlWs: Record<string, unknown>;
      if (i % 2 === 0) {
        bare = await bareRun();
        graphqlWs = await engineRun(dir);
      } else {
        graphqlWs = await engineRun(dir);
        bare = await bareRun();
      }
      const engineOnly = await engineOnlyRun(dir);
      runs.push({ graphqlWs, bareWs: bare, engineOnly, p99Ratio: +(p99(graphqlWs) / p99(bare)).toFixed(2), loadAverage: { before: loadBefore, after: load() } });
    }
    const base = { ratePerS: RATE, seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, subscribers: SUBS, targets: { p99Ms: 5, deliveredPct: 100 } };
    if (RUNS === 1) return { ...base, ...runs[0] };
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const lat = (side: string) => runs.map((r) => (r[side] as { latencyMs: { p99: number } }).latencyMs.p99);
    return { ...base, runs, p99MedianMs: { graphqlWs: med(lat('graphqlWs')), bareWs: med(lat('bareWs')) } };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === `file://${path.resolve(process.argv[1])}`) {
  printJsonThenExit(benchFanout());
}
