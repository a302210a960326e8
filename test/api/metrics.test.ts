/** Prometheus /metrics: scraped from a real server process and from a server with tokens. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { gqlData, killServers, spawnServer, stopServer } from '../helpers/server-process.js';
import { startLiveServer, type LiveServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { createMetrics, metricKey, type Metrics } from '../../src/metrics.js';
import { sha256Hex } from '../../src/auth.js';
import { silentLogger } from '../../src/log.js';

afterEach(() => killServers());

/** The value of one series in Prometheus text format, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return undefined;
}

describe('metrics', () => {
  it('metric names from reading keys', () => {
    expect(metricKey('outputVoltageV')).toBe('output_voltage_v');
    expect(metricKey('socPct')).toBe('soc_pct');
    expect(metricKey('rxFrames')).toBe('rx_frames');
    expect(metricKey('cell.high-V')).toBe('cell_high_v');
  });

  it('a real server serves every device reading, link counters, setpoints by code, event-loop delay and store size', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-metrics-'));
    const s = await spawnServer(['--port', '0', '--db', join(dir, 'sim.db'), '--sim-speed', '10']);
    await waitFor(async () => (await gqlData<{ devices: Array<{ kind: string; online: boolean }> }>(s.url, '{ devices { kind online } }')).devices.filter((d) => d.online && (d.kind === 'flatpack2' || d.kind === 'bms')).length >= 3, 'the rectifiers and the BMS online', 20_000);
    await gqlData(s.url, 'mutation { setPsuOutput(input: { deviceId: "all", voltageV: 54, currentA: 5 }) { sent } }');
    const refused = await fetch(`${s.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'mutation { setPsuOutput(input: { deviceId: "all", voltageV: 70, currentA: 5 }) { sent } }' }) });
    expect(((await refused.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('OUT_OF_RANGE');

    const text = await waitFor(async () => {
      const r = await fetch(`${s.url}/metrics`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const t = await r.text();
      // Wait until the sampled readings of all three devices are in.
      return sample(t, 'powerplane_device_output_voltage_v', { device: 'fp2-192750001639' }) !== undefined && sample(t, 'powerplane_device_soc_pct', { device: 'bms0' }) !== undefined ? t : null;
    }, 'readings in /metrics', 20_000);
    // Per-device readings, labelled by id, kind and name (whatever the family samples).
    expect(sample(text, 'powerplane_device_output_voltage_v', { device: 'fp2-192750001639', kind: 'flatpack2', name: 'Rectifier A' })).toBeGreaterThan(40);
    expect(sample(text, 'powerplane_device_intake_temp_c', { device: 'fp2-163850019608' })).toBeGreaterThan(0);
    expect(sample(text, 'powerplane_device_soc_pct', { device: 'bms0', kind: 'bms' })).toBeGreaterThan(0);
    expect(sample(text, 'powerplane_device_online', { device: 'bms0' })).toBe(1);
    // Link counters and state.
    expect(sample(text, 'powerplane_link_frames_total', { link: 'can0' })).toBeGreaterThan(0); // frames received (the Waveshare decoder's count)
    expect(sample(text, 'powerplane_link_tx_frames_total', { link: 'can0' })).toBeGreaterThan(0);
    expect(text).toMatch(/^# TYPE powerplane_link_frames_total counter$/m);
    expect(sample(text, 'powerplane_link_up', { link: 'can1', kind: 'bms' })).toBe(1);
    // Setpoints by outcome and code, from the event log.
    expect(sample(text, 'powerplane_setpoints_total', { outcome: 'accepted' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'powerplane_setpoints_total', { outcome: 'rejected', code: 'OUT_OF_RANGE' })).toBe(1);
    expect(sample(text, 'powerplane_events_total', { type: 'setpoint.rejected' })).toBe(1);
    // The metrics are made after the server listens; what happened before (the links coming up) is counted too.
    expect(sample(text, 'powerplane_events_total', { type: 'link.changed' })).toBeGreaterThanOrEqual(2);
    // Event-loop delay, store, charger.
    expect(sample(text, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'powerplane_store_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'powerplane_store_writable')).toBe(1);
    expect(sample(text, 'powerplane_charger_target_voltage_v', { charger: 'charger1' })).toBeCloseTo(57.6);
    await stopServer(s.child, 'SIGTERM');
  });
});

describe('store write and job run metrics', () => {
  const PRELOAD = join(import.meta.dirname, '..', 'helpers', 'fail-writes-preload.mjs');

  it('a real server counts flushes in a latency histogram, failed writes by what failed, and job runs by job and outcome with the last run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-metrics-'));
    // While this file exists every INSERT/UPDATE/DELETE fails as on a full disk (the preload).
    const fullFlag = join(dir, 'disk-is-full.flag');
    const s = await spawnServer(['--port', '0', '--db', join(dir, 'sim.db'), '--sim-speed', '10'], {
      env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${PRELOAD}`.trim(), PP_FAIL_WRITES_FLAG: fullFlag },
    });
    const scrape = async () => (await fetch(`${s.url}/metrics`)).text();
    await waitFor(async () => (await gqlData<{ devices: Array<{ kind: string; online: boolean }> }>(s.url, '{ devices { kind online } }')).devices.filter((d) => d.online && d.kind === 'flatpack2').length >= 2, 'the rectifiers online', 20_000);

    // Batches of frames and samples: the histogram and the row counter move between two scrapes.
    const first = await waitFor(async () => {
      const t = await scrape();
      return (sample(t, 'powerplane_store_flush_seconds_count', { sync: 'normal' }) ?? 0) > 0 ? t : null;
    }, 'a batch flush', 20_000);
    expect(first).toMatch(/^# TYPE powerplane_store_flush_seconds histogram$/m);
    expect(sample(first, 'powerplane_store_flush_seconds_bucket', { sync: 'normal', le: '+Inf' })).toBe(sample(first, 'powerplane_store_flush_seconds_count', { sync: 'normal' }));
    expect(sample(first, 'powerplane_store_flush_seconds_sum', { sync: 'normal' })).toBeGreaterThan(0);
    const rows0 = sample(first, 'powerplane_store_flushed_rows_total')!;
    expect(rows0).toBeGreaterThan(0);
    await waitFor(async () => (sample(await scrape(), 'powerplane_store_flushed_rows_total') ?? 0) > rows0, 'more rows flushed');
    // A setpoint is a durable (fsynced) flush.
    const full0 = sample(first, 'powerplane_store_flush_seconds_count', { sync: 'full' }) ?? 0;
    await gqlData(s.url, 'mutation { setPsuOutput(input: { deviceId: "all", voltageV: 54, currentA: 5 }) { sent } }');
    expect(sample(await scrape(), 'powerplane_store_flush_seconds_count', { sync: 'full' })).toBeGreaterThan(full0);

    // Job runs: one that works, then one the gate refuses.
    const JOB = 'mutation($i: JobInput!) { createJob(input: $i) { id } }';
    const RUN = 'mutation($id: ID!) { runJobNow(id: $id) { outcome code } }';
    const ok = (await gqlData<{ createJob: { id: string } }>(s.url, JOB, { i: { name: 'standby all', cron: '0 0 1 1 *', actions: [{ type: 'dc-output-standby', target: 'all' }] } })).createJob.id;
    const bad = (await gqlData<{ createJob: { id: string } }>(s.url, JOB, { i: { name: 'too high', cron: '0 0 1 1 *', actions: [{ type: 'dc-output-set', target: 'all', voltageV: 70, currentA: 5 }] } })).createJob.id;
    expect((await gqlData<{ runJobNow: { outcome: string } }>(s.url, RUN, { id: ok })).runJobNow.outcome).toBe('OK');
    let t = await scrape();
    expect(sample(t, 'powerplane_job_runs_total', { job: ok, outcome: 'ok' })).toBe(1);
    expect(sample(t, 'powerplane_job_last_outcome', { job: ok, outcome: 'ok' })).toBe(1);
    expect(sample(t, 'powerplane_job_last_outcome', { job: ok, outcome: 'refused' })).toBe(0);
    const lastOk = sample(t, 'powerplane_job_last_run_timestamp_seconds', { job: ok })!;
    expect(lastOk).toBeGreaterThan(1.7e9); // Unix seconds
    expect((await gqlData<{ runJobNow: { outcome: string; code: string } }>(s.url, RUN, { id: bad })).runJobNow).toEqual({ outcome: 'REFUSED', code: 'OUT_OF_RANGE' });
    expect((await gqlData<{ runJobNow: { outcome: string } }>(s.url, RUN, { id: ok })).runJobNow.outcome).toBe('OK');
    t = await scrape();
    expect(sample(t, 'powerplane_job_runs_total', { job: ok, outcome: 'ok' })).toBe(2);
    expect(sample(t, 'powerplane_job_runs_total', { job: bad, outcome: 'refused' })).toBe(1);
    expect(sample(t, 'powerplane_job_runs_total', { job: bad, outcome: 'ok' })).toBeUndefined();
    expect(sample(t, 'powerplane_job_last_outcome', { job: bad, outcome: 'refused' })).toBe(1);
    expect(sample(t, 'powerplane_job_last_run_timestamp_seconds', { job: ok })).toBeGreaterThanOrEqual(lastOk);

    // The disk fills up: failed writes are counted by what failed; /metrics still answers.
    expect(sample(t, 'powerplane_store_write_failures_total', { where: 'writing queued rows' })).toBeUndefined();
    writeFileSync(fullFlag, '');
    const failed = await waitFor(async () => {
      const x = await scrape();
      return (sample(x, 'powerplane_store_write_failures_total', { where: 'writing queued rows' }) ?? 0) > 0 ? x : null;
    }, 'a failed flush counted', 20_000);
    expect(sample(failed, 'powerplane_store_writable')).toBe(0);
    rmSync(fullFlag);
    await waitFor(async () => sample(await scrape(), 'powerplane_store_writable') === 1, 'writes working again', 20_000);
    await stopServer(s.child, 'SIGTERM');
  });
});

describe('metrics made late', () => {
  it('count what happened before they existed (events and store writes handed over), once', async () => {
    const s = await startLiveServer();
    try {
      const early = { events: [{ id: 1, ts: 0, type: 'test.before-metrics', deviceId: null, busId: null, data: { code: 'X' } }], writes: [{ ok: false as const, where: 'test write' }, { ok: true as const, durationMs: 3, rows: 7, durable: true }] };
      const m = createMetrics({ engine: s.rig.engine, log: silentLogger(), defaults: false, early });
      const t = await m.text();
      expect(sample(t, 'powerplane_events_total', { type: 'test.before-metrics' })).toBe(1);
      expect(sample(t, 'powerplane_store_write_failures_total', { where: 'test write' })).toBe(1);
      expect(sample(t, 'powerplane_store_flush_seconds_count', { sync: 'full' })).toBeGreaterThanOrEqual(1);
      // Live ones still count after the hand-over.
      s.rig.engine.record({ type: 'test.before-metrics', data: {} });
      expect(sample(await m.text(), 'powerplane_events_total', { type: 'test.before-metrics' })).toBe(2);
      m.stop();
    } finally {
      await s.stop();
    }
  });
});

describe('metrics behind tokens', () => {
  let s: LiveServer;
  let m: Metrics;
  afterAll(async () => {
    m?.stop();
    await s?.stop();
  });

  it('needs a viewer token (401 with WWW-Authenticate otherwise); an offline device has no readings', async () => {
    const lazy = { contentType: 'text/plain; version=0.0.4; charset=utf-8', text: () => m.text() };
    s = await startLiveServer({ server: { metrics: lazy, tokens: [{ name: 'prometheus', role: 'viewer', sha256: sha256Hex('prometheus-token-0123456789') }] } });
    m = createMetrics({ engine: s.rig.engine, log: silentLogger(), defaults: false });
    const none = await fetch(`${s.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await none.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
    expect((await fetch(`${s.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    const auth = { authorization: 'Bearer prometheus-token-0123456789' };
    const text = await waitFor(async () => {
      const t = await (await fetch(`${s.url}/metrics`, { headers: auth })).text();
      return sample(t, 'powerplane_device_output_voltage_v', { device: 'fp2-192750001639' }) !== undefined ? t : null;
    }, 'a reading', 20_000);
    expect(text).not.toMatch(/nodejs_/); // defaults off here
    // The PSU goes silent: its readings leave /metrics, its online gauge says 0.
    s.rig.sim!.flatpack2.get('can0')!.setPresent('192750001639', false);
    const after = await waitFor(async () => {
      const t = await (await fetch(`${s.url}/metrics`, { headers: auth })).text();
      return sample(t, 'powerplane_device_online', { device: 'fp2-192750001639' }) === 0 ? t : null;
    }, 'the PSU offline', 20_000);
    expect(sample(after, 'powerplane_device_output_voltage_v', { device: 'fp2-192750001639' })).toBeUndefined();
    expect(sample(after, 'powerplane_device_output_voltage_v', { device: 'fp2-163850019608' })).toBeGreaterThan(40);
  });
});
