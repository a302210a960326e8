#!/usr/bin/env node
/**
 * RSS of the simulated rig over time, as JSON: `node dist/cli.js serve` (built-in simulator)
 * at --sim-speed PP_MEM_SPEED (50), sampled every PP_MEM_EVERY_S seconds (10) for
 * PP_MEM_SECONDS (180; the goal is flat over 600), with a charge started so every
 * device is busy. Reports the RSS series, the first and last minute's medians, the slope of a
 * least-squares line over the second half (MiB per minute: ~0 when flat) and the load
 * average. Each point also splits the RSS into anonymous and file-backed memory
 * (/proc/<pid>/smaps_rollup), gives the V8 heap (used, total) and external memory from the
 * server's /metrics, and the sizes of the database and its WAL: a growth shows where it is (a
 * JS structure grows heapUsed after GC; native memory grows anon beyond heapTotal; an mmap or a
 * WAL that never checkpoints grows fileMiB / walMiB). Its database lives in a temp folder that
 * is removed at the end.
 *
 *   node bench/memory.mjs            PP_MEM_SECONDS=600 PP_MEM_SPEED=1 node bench/memory.mjs
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listeningPort, printJsonThenExit } from './proc.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.PP_MEM_SECONDS ?? 180);
const SPEED = Number(process.env.PP_MEM_SPEED ?? 50);
const EVERY_S = Number(process.env.PP_MEM_EVERY_S ?? 10);

spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--if-stale'], { stdio: 'inherit' });

const rssMiB = (pid) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : null;
};
/** The process's resident memory split by kind (/proc/<pid>/smaps_rollup), MiB. */
const smaps = (pid) => {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0);
  const mib = (x) => Math.round(x / 102.4) / 10;
  return { anonMiB: mib(kb('Anonymous')), fileMiB: mib(kb('Rss') - kb('Anonymous')) };
};
const fileMiB = (p) => {
  try {
    return Math.round(statSync(p).size / 104857.6) / 10;
  } catch {
    return 0;
  }
};
/** V8 heap and external memory from the server's own /metrics (prom-client defaults), MiB. */
async function heapOf(url) {
  try {
    const t = await (await fetch(`${url}/metrics`)).text();
    const v = (name) => {
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(t);
      return m ? Math.round(Number(m[1]) / 104857.6) / 10 : null;
    };
    return { heapUsedMiB: v('nodejs_heap_size_used_bytes'), heapTotalMiB: v('nodejs_heap_size_total_bytes'), externalMiB: v('nodejs_external_memory_bytes') };
  } catch {
    return {};
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : null;
};


async function gql(url, query) {
  const r = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  return r.json();
}

/** Least-squares slope of y over x. */
function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return null;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'pp-bench-mem-'));
  const child = spawn(process.execPath, [join(root, 'dist', 'cli.js'), 'serve', '--port', '0', '--db', join(dir, 'sim.db'), '--sim-speed', String(SPEED)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  let out = '';
  child.stdout.on('data', (b) => (out = (out + b).slice(-20_000)));
  child.stderr.on('data', (b) => (out = (out + b).slice(-20_000)));
  try {
    let url = null;
    for (let i = 0; i < 600 && !url; i++) {
      const port = listeningPort(child.pid);
      if (port) {
        try {
          const u = `http://127.0.0.1:${port}`;
          if ((await gql(u, '{ system { simulated } }')).data?.system) url = u;
        } catch {
          /* not yet */
        }
      }
      if (!url) await sleep(50);
    }
    if (!url) throw new Error(`the server did not answer in 30 s:\n${out}`);
    // The simulated adapters come up a moment after the API (longer at speed 1): retry while
    // the charge is refused, for up to 30 s, so that every run measures a charging rig.
    let start;
    for (let i = 0; i < 60; i++) {
      start = await gql(url, 'mutation { startCharge(chargerId: "charger1", currentA: 20) { phase } }');
      if (start.data?.startCharge) break;
      await sleep(500);
    }
    const t0 = performance.now();
    const series = [];
    for (;;) {
      const s = (performance.now() - t0) / 1000;
      const db = join(dir, 'sim.db');
      series.push({ s: Math.round(s), rssMiB: rssMiB(child.pid), ...smaps(child.pid), ...(await heapOf(url)), dbMiB: fileMiB(db), walMiB: fileMiB(`${db}-wal`) });
      if (s >= SECONDS) break;
      await sleep(Math.min(EVERY_S * 1000, (SECONDS - s) * 1000 + 10));
    }
    const half = series.filter((p) => p.s >= SECONDS / 2);
    const firstMin = series.filter((p) => p.s <= 60).map((p) => p.rssMiB);
    const lastMin = series.filter((p) => p.s >= SECONDS - 60).map((p) => p.rssMiB);
    // After the warm-up: at speed 50 the first old-generation GC comes at about 100 s, and RSS
    // climbs to it (V8 pages and the malloc arena) and drops there.
    const thirdMin = series.filter((p) => p.s >= 120 && p.s <= 180).map((p) => p.rssMiB);
    const perS = slope(half.map((p) => p.s), half.map((p) => p.rssMiB));
    return {
      what: `built-in simulated rig (node dist/cli.js serve) at --sim-speed ${SPEED}, charging, RSS every ${EVERY_S} s for ${SECONDS} s (env PP_MEM_SECONDS, PP_MEM_SPEED, PP_MEM_EVERY_S)`,
      chargeStarted: start.data?.startCharge?.phase ?? start.errors?.[0]?.message ?? null,
      rssFirstMinuteMedianMiB: median(firstMin),
      rssThirdMinuteMedianMiB: SECONDS >= 240 ? median(thirdMin) : null,
      rssLastMinuteMedianMiB: median(lastMin),
      rssMaxMiB: Math.max(...series.map((p) => p.rssMiB)),
      lastToFirstMinuteRatio: median(firstMin) ? +(median(lastMin) / median(firstMin)).toFixed(3) : null,
      secondHalfSlopeMiBPerMin: perS === null ? null : +(perS * 60).toFixed(2),
      series,
      loadAverage: loadavg().map((x) => +x.toFixed(2)),
      targets: { flatOver10MinAtSpeed50: true, rssMiBAtSpeed1: 150 },
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

printJsonThenExit(main());
