// CSV export of a telemetry window over real HTTP: raw samples and rollups, viewer role.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLiveServer, type LiveServer } from '../helpers/server.js';

let s: LiveServer;
const T0 = 1_800_000_000_000;
const auth = { authorization: 'Bearer viewer-token-1234567890' };

beforeAll(async () => {
  s = await startLiveServer({ speed: 1, server: { tokens: [{ name: 'v', role: 'viewer', token: 'viewer-token-1234567890' }] } });
  // Two hours of a made-up device, a sample every 10 s, with a text reading.
  for (let i = 0; i < 720; i++) s.store.appendSample({ ts: T0 + i * 10_000, deviceId: 'csv-dev', values: { v: i, mode: i % 2 ? 'cc' : 'cv,x' } });
  s.store.flush();
});
afterAll(async () => {
  await s.stop();
});

const get = (q: string, headers: Record<string, string> = auth) => fetch(`${s.url}/api/telemetry.csv?${q}`, { headers });

describe('telemetry CSV export', () => {
  it('refuses a request without a token (UNAUTHENTICATED)', async () => {
    const r = await get(`deviceId=csv-dev&from=${T0}&to=${T0 + 3_600_000}`, {});
    expect(r.status).toBe(401);
    expect((await r.json()).errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('exports raw samples of a window, one column per reading, text quoted', async () => {
    const r = await get(`deviceId=csv-dev&from=${new Date(T0).toISOString()}&to=${T0 + 60_000 - 1}&resolution=raw`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await r.text()).trim().split('\n');
    expect(lines[0]).toBe('at,ts_ms,device_id,mode,v');
    expect(lines.slice(1)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `${new Date(T0 + i * 10_000).toISOString()},${T0 + i * 10_000},csv-dev,${i % 2 ? 'cc' : '"cv,x"'},${i}`));
  });

  it('exports minute rollups (min, max, avg, last, count per reading) of a long window', async () => {
    const r = await get(`deviceId=csv-dev&from=${T0}&to=${T0 + 2 * 3_600_000 - 1}&resolution=1m`);
    const lines = (await r.text()).trim().split('\n');
    expect(lines[0]).toBe('at,ts_ms,device_id,samples,v_min,v_max,v_avg,v_last,v_count');
    expect(lines).toHaveLength(121);
    expect(lines[1]).toBe(`${new Date(T0).toISOString()},${T0},csv-dev,6,0,5,2.5,5,6`);
    expect(lines[120]).toBe(`${new Date(T0 + 119 * 60_000).toISOString()},${T0 + 119 * 60_000},csv-dev,6,714,719,716.5,719,6`);
  });

  it('exports daily rollups (UTC days) of a long window', async () => {
    const DAY = 86_400_000;
    const r = await get(`deviceId=csv-dev&from=${T0 - 3 * DAY}&to=${T0 + 3 * DAY}&resolution=1d`);
    expect(r.status).toBe(200);
    const lines = (await r.text()).trim().split('\n');
    expect(lines[0]).toBe('at,ts_ms,device_id,samples,v_min,v_max,v_avg,v_last,v_count');
    const day = Math.floor(T0 / DAY) * DAY;
    expect(lines.slice(1)).toEqual([`${new Date(day).toISOString()},${day},csv-dev,720,0,719,359.5,719,720`]);
  });

  it('refuses a bad time with BAD_USER_INPUT', async () => {
    const r = await get('deviceId=csv-dev&from=yesterday');
    expect(r.status).toBe(400);
    expect((await r.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });
});
