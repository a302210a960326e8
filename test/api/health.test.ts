/**
 * Liveness and readiness through a real HTTP server on the simulated rig (FakeClock):
 * /livez = the process is up; /healthz = up and the store writable (readiness detail in its
 * JSON); /readyz = store writable, every link up, no charger in ERROR, with reasons.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { SIM_PSU_SERIALS } from '../../src/rig.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { makeSimRig, type TestRig } from '../helpers/rig.js';

let t: TestRig | null = null;
let server: RunningServer | null = null;
afterEach(async () => {
  await server?.close();
  await t?.stop();
  server = null;
  t = null;
});

interface Report {
  ok: boolean;
  live: boolean;
  ready: boolean;
  store: { writable: boolean };
  links: Array<{ bus: string; kind: string; state: string; detail: string }>;
  chargers: Array<{ id: string; phase: string; stopReason: string | null }>;
  reasons: string[];
}

async function get(path: string): Promise<{ status: number; body: Report }> {
  const r = await fetch(`${server!.url}${path}`);
  expect(r.headers.get('content-type')).toMatch(/application\/json/);
  return { status: r.status, body: (await r.json()) as Report };
}

async function rig(): Promise<TestRig> {
  t = makeSimRig({ bms: true });
  server = await startServer({ engine: t.rig.engine, log: silentLogger(), host: '127.0.0.1', port: 0 });
  await t.clock.advance(10_000);
  return t;
}

describe('health endpoints', () => {
  it('defect 9.9: with every link up all three answer 200, with the detail', async () => {
    await rig();
    expect((await get('/livez')).status).toBe(200);
    const health = await get('/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ ok: true, live: true, ready: true, store: { writable: true }, reasons: [] });
    expect(health.body.links.map((l) => [l.bus, l.kind, l.state])).toEqual([
      ['can0', 'flatpack2', 'up'],
      ['can1', 'bms', 'up'],
    ]);
    expect(health.body.chargers).toEqual([{ id: 'charger1', phase: 'idle', stopReason: null }]);
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/readyz?verbose=1')).status).toBe(200);
  });

  it('defect 9.9: every link down is not ready (503 with the reasons); the process is still live', async () => {
    const r = await rig();
    r.rig.sim!.unplug('can0');
    r.rig.sim!.unplug('can1');
    await r.clock.advance(5_000);
    const ready = await get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.ready).toBe(false);
    expect(ready.body.links.every((l) => l.state !== 'up')).toBe(true);
    expect(ready.body.reasons.join('\n')).toMatch(/link can0: .*check the USB-CAN adapter/);
    expect(ready.body.reasons.join('\n')).toMatch(/link can1: /);
    // Liveness is the process: up. /healthz (store writable) stays 200 and carries the detail.
    expect((await get('/livez')).status).toBe(200);
    const health = await get('/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ ok: true, ready: false });
    expect(health.body.reasons).toEqual(ready.body.reasons);

    // Plugged back in: ready again.
    r.rig.sim!.replug('can0');
    r.rig.sim!.replug('can1');
    await r.clock.advance(30_000);
    expect((await get('/readyz')).status).toBe(200);
  });

  it('defect 9.9: a charger in ERROR is not ready, with its reason', async () => {
    const r = await rig();
    const charger = r.rig.engine.charger('charger1')!;
    expect(await charger.startCharge('api')).toMatchObject({ ok: true });
    await r.clock.advance(5_000);
    r.rig.sim!.flatpack2.get('can0')!.injectOverTemp(SIM_PSU_SERIALS[0], 'alarm');
    for (let i = 0; i < 60 && charger.phase !== 'error'; i++) await r.clock.advance(1000);
    expect(charger.phase).toBe('error');
    const ready = await get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.chargers[0]).toMatchObject({ id: 'charger1', phase: 'error' });
    expect(ready.body.reasons.join('\n')).toMatch(/charger charger1: ERROR \(.+\)/);
    expect((await get('/healthz')).status).toBe(200);
  });
});
