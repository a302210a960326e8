/**
 * The whole site over a simulated stretch of day (issue 17), in Debian's chromium against a real
 * HTTP/WebSocket server on the simulated rig with every family (rectifiers, BMS, charger, the
 * PI18 pair, the MultiPlus, the EVSE), driven by a FakeClock across a local midnight with a
 * charge running, then held still while the page is read:
 *  - the power flow's PV, load, grid, battery and source totals equal the devices' readings, and
 *    the PI18, MultiPlus and EVSE sentences carry those readings;
 *  - the energy card's today / 7-day figures equal a direct computation from the rollup tables
 *    (the page's `rollups_1m` rows read with SQL, each minute's average power × its length);
 *  - screenshots at phone and desktop sizes (test-artifacts/web/site-day-*.png).
 *
 * The browser runs in Asia/Kolkata (UTC+5:30) so that local midnight falls mid-hour. The stretch
 * is ENERGY_SIM_HOURS simulated hours (default 2: half an hour before local midnight, the rest
 * after it; 24 drives a whole simulated day, about ten minutes of test time on this machine).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { simulatedConfig } from '../../src/rig.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { decodeRollup } from '../../src/store/rollups.js';
import { energyFromSamples } from '../../src/store/energy.js';
import { energySources } from '../../src/families/registry.js';
import { watts } from '../../web-client/src/flow/words.js';
import { makeSimRig, tempDbPath, type TestRig } from '../helpers/rig.js';
import { ensureDashboardBuilt, launchBrowser, openDashboard, screenshot, type DashboardPage } from './browser.js';

const H = 3_600_000;
const TZ = 'Asia/Kolkata';
const TZ_MIN = 330;
/** 2026-06-02 00:00 in Kolkata. */
const MIDNIGHT = Date.UTC(2026, 5, 1, 18, 30);
const HOURS = Number(process.env.ENERGY_SIM_HOURS ?? 2);
const START = MIDNIGHT - 30 * 60_000;
const END = START + HOURS * H;
const poll = <T>(fn: () => T | Promise<T>, timeout = 20_000) => expect.poll(fn, { timeout, interval: 150 });

type Phase = { inVoltageV: number | null; inCurrentA: number | null; outVoltageV: number | null; outCurrentA: number | null };
type Dev = {
  id: string;
  kind: string;
  name: string;
  __typename: string;
  online: boolean;
  outputPowerW?: number | null;
  voltageV?: number | null;
  currentA?: number | null;
  powerW?: number | null;
  pvPowerW?: number | null;
  acOutputPowerW?: number | null;
  state?: string | null;
  ac?: Phase[];
  status?: string;
  sessionKWh?: number | null;
};
const DEVICES = `{ devices { id kind name __typename online
  ... on Flatpack2Psu { outputPowerW }
  ... on Battery { voltageV currentA powerW }
  ... on Inverter { pvPowerW acOutputPowerW }
  ... on InverterCharger { state ac { inVoltageV inCurrentA outVoltageV outCurrentA } }
  ... on EvCharger { status powerW sessionKWh } } }`;

describe('the site over a simulated day, every family (chromium, FakeClock)', () => {
  let r: TestRig;
  let server: RunningServer;
  let browser: Browser;
  let d: DashboardPage;
  let page: Page;
  const gql = async <T>(query: string, variables?: Record<string, unknown>): Promise<{ data?: T; errors?: unknown[] }> =>
    (await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) })).json() as never;

  beforeAll(async () => {
    ensureDashboardBuilt();
    const clock = new FakeClock(START);
    const dbPath = tempDbPath('pp-site-day-');
    r = makeSimRig({ dbPath, clock, config: simulatedConfig({ port: 0, dbPath, bms: true, evse: true, inverters: true, vebus: true }), pack: { socPct: 30, capacityAh: 280 } });
    [server, browser] = await Promise.all([startServer({ engine: r.rig.engine, log: silentLogger(), port: 0, host: '127.0.0.1' }), launchBrowser()]);
    await clock.advance(2 * 60_000);
    // A charge through the API, answered while simulated time moves on.
    let answer: { data?: unknown; errors?: unknown[] } | null = null;
    const started = gql(`mutation { startCharge(chargerId: "charger1", currentA: 40) { phase } }`).then((a) => (answer = a));
    for (let i = 0; i < 600 && answer === null; i++) {
      await clock.advance(200);
      await new Promise((res) => setTimeout(res, 5));
    }
    await started;
    expect(answer!.errors).toBeUndefined();
    while (clock.now() + 60_000 <= END) await clock.advance(60_000);
    if (clock.now() < END) await clock.advance(END - clock.now());
    r.store.flush();
    d = await openDashboard(browser, server.url, '#/overview', { timezoneId: TZ });
    page = d.page;
  }, 1_800_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await r?.stop();
  });

  it('the power flow equals the devices’ readings for the PI18 pair, the MultiPlus and the EVSE, with their sentences', async () => {
    const devs = (await gql<{ devices: Dev[] }>(DEVICES)).data!.devices;
    for (const kind of ['flatpack2', 'bms', 'pi18', 'vebus', 'openevse']) expect(devs.filter((x) => x.kind === kind && x.online).length, kind).toBeGreaterThan(0);
    const sum = (xs: Array<number | null | undefined>) => xs.reduce<number>((a, x) => a + (x ?? 0), 0);
    const of = (t: string) => devs.filter((x) => x.__typename === t && x.online);
    const multi = of('InverterCharger')[0]!;
    const acIn = sum(multi.ac!.map((p) => (p.inVoltageV ?? 0) * (p.inCurrentA ?? 0)));
    const acOut = sum(multi.ac!.map((p) => (p.outVoltageV ?? 0) * (p.outCurrentA ?? 0)));
    const ev = of('EvCharger')[0]!;
    const bms = of('Battery')[0]!;
    const want = {
      sources: sum(of('Flatpack2Psu').map((x) => x.outputPowerW)),
      pv: sum(of('Inverter').map((x) => x.pvPowerW)),
      // AC out of both inverters, the MultiPlus's AC out, the EV.
      loads: sum(of('Inverter').map((x) => x.acOutputPowerW)) + acOut + (ev.powerW ?? 0),
      // The MultiPlus on AC in (the simulated mains are present): its input.
      grid: acIn,
      // A BMS reports the bank: the inverters' battery sides stay out of the total.
      battery: bms.powerW ?? (bms.voltageV ?? 0) * (bms.currentA ?? 0),
    };
    expect(multi.state).toBe('charge');
    expect(want.pv).toBeGreaterThan(1000);
    for (const [box, w] of Object.entries(want)) {
      await poll(async () => Number(await page.getByTestId(`flow-${box}-w`).getAttribute('data-watts')), 20_000).toBeCloseTo(w, 1);
      expect(await page.getByTestId(`flow-${box}-w`).innerText(), box).toBe(watts(w));
    }
    const sentence = (id: string) => page.locator(`[data-testid="flow-sentence"][data-device-id="${id}"]`).innerText();
    for (const inv of of('Inverter')) expect(await sentence(inv.id)).toMatch(new RegExp(`^${inv.name} makes ${watts(inv.pvPowerW).replace('.', '\\.')} from PV, powers ${watts(inv.acOutputPowerW).replace('.', '\\.')} of AC loads`));
    expect(await sentence(multi.id)).toMatch(new RegExp(`^${multi.name} takes ${watts(acIn).replace('.', '\\.')} from AC in: charges the battery with `));
    if (ev.status === 'charging') expect(await sentence(ev.id)).toBe(`EV charging at ${watts(ev.powerW)}, ${ev.sessionKWh!.toFixed(1)} kWh this session (${ev.name}).`);
    await screenshot(page, 'site-day-overview-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
    await screenshot(page, 'site-day-overview-desktop');
    await page.setViewportSize({ width: 390, height: 844 });
  }, 120_000);

  it('energy today and over 7 days equal a direct computation from the rollup tables', async () => {
    const devs = (await gql<{ devices: Dev[] }>(DEVICES)).data!.devices;
    const kindOf = new Map(devs.map((x) => [x.id, x.kind]));
    const now = r.clock.now();
    // Each minute: the average of the kind's power reading × the minute's length (up to now).
    const perDevice = new Map<string, number>();
    const direct = (from: number, to: number, byDevice?: Map<string, number>): Map<string, number> => {
      const out = new Map<string, number>();
      const rows = r.store.db.prepare('SELECT device_id AS id, bucket, n, keys, stats FROM rollups_1m WHERE bucket >= ? AND bucket < ?').all(from, to) as Array<{ id: string; bucket: number; n: number; keys: string; stats: Buffer }>;
      for (const row of rows) {
        const kind = kindOf.get(row.id)!;
        const st = decodeRollup(row.id, row.bucket, row.n, row.keys, row.stats).stats;
        const avg = (k: string) => (st.get(k) ? st.get(k)!.sum / st.get(k)!.count : null);
        const w =
          kind === 'flatpack2' ? avg('outputPowerW')
          : kind === 'bms' ? (avg('powerW') ?? (avg('voltageV') !== null && avg('currentA') !== null ? avg('voltageV')! * avg('currentA')! : null))
          : kind === 'pi18' ? avg('pvPowerW')
          : kind === 'openevse' ? avg('powerW')
          : null;
        if (w === null) continue;
        const wh = (w * (Math.min(row.bucket + 60_000, to) - row.bucket)) / H;
        const what = wh >= 0 ? energySources[kind]!.what : 'taken from the battery';
        out.set(what, (out.get(what) ?? 0) + Math.abs(wh));
        if (wh > 0) byDevice?.set(row.id, (byDevice.get(row.id) ?? 0) + wh);
      }
      return out;
    };
    const today = direct(MIDNIGHT, now + 1, perDevice);
    const yesterday = direct(START - 60_000, MIDNIGHT);
    for (const what of ['delivered by the rectifiers', 'charged into the battery', 'produced by the solar panels', 'delivered to the EV']) expect(today.get(what) ?? 0, what).toBeGreaterThan(100);
    const table = page.getByTestId('energy-table');
    await poll(() => table.isVisible()).toBe(true);
    const shown = async (what: string, col: number) => Number(await table.locator(`tr[data-what="${what}"]:not(.energy-device) td`).nth(col).getAttribute('data-wh'));
    for (const [what, wh] of today) {
      if (wh < 0.05) continue;
      expect(Math.abs((await shown(what, 0)) - wh), `${what} today`).toBeLessThanOrEqual(0.051);
      expect(Math.abs((await shown(what, 1)) - (wh + (yesterday.get(what) ?? 0))), `${what} 7 days`).toBeLessThanOrEqual(0.051);
    }
    // Per device where two share a flow: each rectifier, each inverter of the pair.
    const shared = devs.filter((x) => x.kind === 'flatpack2' || x.kind === 'pi18');
    expect(shared.length).toBe(4);
    for (const x of shared) {
      const row = table.locator(`tr.energy-device[data-device-id="${x.id}"]`);
      expect(await row.locator('th').innerText()).toBe(x.name);
      expect(Math.abs(Number(await row.locator('td').first().getAttribute('data-wh')) - perDevice.get(x.id)!), `${x.name} today`).toBeLessThanOrEqual(0.051);
    }
    // How far the minute rollups are from integrating every raw sample, for the record.
    const devices = devs.map((x) => ({ id: x.id, kind: x.kind }));
    const raw = energyFromSamples(r.store, { from: MIDNIGHT, to: now + 1, tzOffsetMin: TZ_MIN, devices, sources: energySources });
    for (const [what, wh] of today) {
      const kinds = Object.entries(energySources).filter(([, s]) => s.what === what).map(([k]) => k);
      const s = raw.filter((x) => kinds.includes(x.kind)).reduce((a, x) => a + x.wh, 0);
      if (kinds.length) console.log(`energy today, ${what}: rollups ${wh.toFixed(1)} Wh, raw samples ${s.toFixed(1)} Wh (${(((wh - s) / s) * 100).toFixed(3)} %)`);
    }
    await table.scrollIntoViewIfNeeded();
    await screenshot(page, 'site-day-energy-phone', { fullPage: false });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.getByTestId('energy').scrollIntoViewIfNeeded();
    await screenshot(page, 'site-day-energy-desktop', { fullPage: false });
    await page.setViewportSize({ width: 390, height: 844 });
  }, 120_000);

  it('made no request to any other host and raised no page error', () => {
    expect(d.foreignRequests()).toEqual([]);
    expect(d.errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(e))).toEqual([]);
  });
});
