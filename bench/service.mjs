#!/usr/bin/env node
/**
 * How powerplane runs as a service, as JSON: time from `node dist/cli.js serve` to its first
 * answered GraphQL request, RSS once it has settled (the simulated rig, idle and then
 * charging), and the size of a production install (npm ci --omit=dev) next to the built
 * output. Goals (issue 16): ≤ 1.5 s to the first answer, ≤ 150 MB RSS.
 *
 *   node bench/service.mjs [--runs 3] [--settle-s 10] [--no-install]
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listeningPort } from './proc.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const runs = arg('runs', 3);
const settleS = arg('settle-s', 10);

spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--if-stale'], { stdio: 'inherit' });

const rssMb = (pid) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : null;
};
const gql = async (url, query) => {
  const r = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  return r.json();
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function oneRun(measureRss) {
  const dir = mkdtempSync(join(tmpdir(), 'pp-bench-svc-'));
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(root, 'dist', 'cli.js'), 'serve', '--port', '0', '--db', join(dir, 'sim.db'), '--sim-speed', '10'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  try {
    // Poll for the port: the server logs it at info, so read it from /proc instead of the log.
    const url = await new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`no answer in 30 s:\n${out}`)), 30_000);
      const tick = async () => {
        const port = listeningPort(child.pid);
        if (port) {
          try {
            const u = `http://127.0.0.1:${port}`;
            const body = await gql(u, '{ system { simulated } }');
            if (body.data?.system) {
              clearTimeout(timer);
              return res(u);
            }
          } catch {
            /* not yet */
          }
        }
        setTimeout(tick, 10);
      };
      tick();
    });
    const firstAnswerMs = Math.round(performance.now() - t0);
    // CPU the server used up to its first answer: unlike the wall time, it hardly depends on
    // what else the machine is doing (the wall time at load 10 is 2–5× the idle one).
    const result = { firstAnswerMs, cpuMsToFirstAnswer: cpuMs(child.pid) };
    if (measureRss) {
      await sleep(settleS * 1000);
      result.rssIdleMb = rssMb(child.pid);
      await gql(url, 'mutation { startCharge(chargerId: "charger1", currentA: 20) { phase } }');
      for (let i = 0; i < 20; i++) {
        await gql(url, '{ devices { id name online } chargers { phase deliveredAh } }');
        await sleep((settleS * 1000) / 20);
      }
      result.rssChargingMb = rssMb(child.pid);
    }
    return result;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** User + system CPU time of a process so far, in ms (/proc/<pid>/stat, clock ticks of 10 ms). */
function cpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return null;
  }
}


function du(path) {
  const r = spawnSync('du', ['-sk', path], { encoding: 'utf8' });
  return r.status === 0 ? Math.round(Number(r.stdout.split('\t')[0]) / 102.4) / 10 : null;
}

function productionInstall() {
  const dir = mkdtempSync(join(tmpdir(), 'pp-bench-prod-'));
  try {
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(root, f), join(dir, f));
    const t0 = performance.now();
    // --ignore-scripts: the packages as published (the native builds add ~5 MB: better-sqlite3's binary, node-hid's prebuilds are already in the package).
    const r = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) return { error: (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ') };
    const packages = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: dir, encoding: 'utf8' }).stdout.trim().split('\n').length - 1;
    return { nodeModulesMb: du(join(dir, 'node_modules')), packages, installS: Math.round(performance.now() - t0) / 1000, distMb: du(join(root, 'dist')), webClientDistMb: existsSync(join(root, 'web-client', 'dist')) ? du(join(root, 'web-client', 'dist')) : null };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const starts = [];
const cpus = [];
let rss = null;
for (let i = 0; i < runs; i++) {
  const r = await oneRun(i === runs - 1);
  starts.push(r.firstAnswerMs);
  cpus.push(r.cpuMsToFirstAnswer);
  if (r.rssIdleMb !== undefined) rss = { idleMb: r.rssIdleMb, chargingMb: r.rssChargingMb };
}
const sorted = [...starts].sort((a, b) => a - b);
const result = {
  bench: 'service',
  node: process.version,
  startToFirstAnswerMs: { runs: starts, median: sorted[Math.floor(sorted.length / 2)], goal: 1500 },
  cpuMsToFirstAnswer: { runs: cpus, median: [...cpus].sort((a, b) => a - b)[Math.floor(cpus.length / 2)] },
  loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
  rss: { ...rss, settleS, goalMb: 150 },
  productionInstall: process.argv.includes('--no-install') ? 'skipped (--no-install)' : productionInstall(),
};
console.log(JSON.stringify(result, null, 2));
