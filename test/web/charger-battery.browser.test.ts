/**
 * Battery and BMS-guided charging in a real browser against a real server on the simulated
 * rig with its BMS: battery tile and page (SOC, SOH, cells, limits, modules, alarms and
 * protections), the charger's progress bar showing the BMS state of charge, BMS caps shown
 * while they apply, and the SOC / cell-delta history chart.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import { BATTERIES, CHARGERS } from '../../web-client/src/queries.js';
import { ensureDashboardBuilt, goTo, launchBrowser, openDashboard, screenshot, type DashboardPage } from './browser.js';

const poll = <T>(fn: () => T | Promise<T>, timeout = 10_000) => expect.poll(fn, { timeout, interval: 100 });
const ACTIVE = ['detect', 'ramp', 'CC', 'CV', 'paused'];

type BatteryRow = { id: string; name: string; online: boolean; socPct: number | null; modules: unknown[] };
type ChargerRow = { id: string; name: string; phase: string; batteryId: string | null; bmsCaps: { reason: string | null } | null };

describe('battery and BMS-guided charging in chromium on the simulated rig', () => {
  let s: LiveServer;
  let browser: Browser;
  let d: DashboardPage;
  let page: Page;
  let battery: BatteryRow;
  let charger: ChargerRow;

  beforeAll(async () => {
    ensureDashboardBuilt();
    // A 10 Ah pack at 90 %: the simulated BMS allows about 1 C (10 A), less than the 20 A we start with, so its caps apply.
    [s, browser] = await Promise.all([startLiveServer({ speed: 20, bms: true, pack: { socPct: 90, capacityAh: 10 } }), launchBrowser()]);
    for (const [name, q] of [['chargers', CHARGERS], ['batteries', BATTERIES]] as const) {
      const r = await s.gql(q);
      expect(r.errors, `the dashboard's ${name} query against this server`).toBeUndefined();
    }
    battery = await waitFor(async () => {
      const r = await s.gql<{ batteries: BatteryRow[] }>('{ batteries { id name online socPct modules { index } } }');
      const b = r.data?.batteries[0];
      return b?.online && b.socPct !== null && b.modules.length ? b : null;
    }, 'the simulated BMS online with its modules');
    charger = await waitFor(async () => (await s.gql<{ chargers: ChargerRow[] }>('{ chargers { id name phase batteryId bmsCaps { reason } } }')).data?.chargers[0], 'a charger');
    expect(charger.batteryId).toBe(battery.id);
    d = await openDashboard(browser, s.url);
    page = d.page;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  const card = () => page.locator(`[data-testid="charger-card"][data-device-id="${charger.id}"]`);

  it('overview: the battery tile with live SOC, and the charger progress is the BMS state of charge', async () => {
    const tile = page.locator(`[data-testid="battery-tile"][data-device-id="${battery.id}"]`);
    await poll(async () => /SOC\s+\d+ %/.test(await tile.innerText())).toBe(true);
    await poll(() => tile.locator('.badge').textContent()).toBe('online');
    // The battery is also a Device: it is shown once, as a battery.
    expect(await page.locator(`[data-testid="device-tile"][data-device-id="${battery.id}"]`).count()).toBe(0);
    const bar = page.locator(`[data-testid="charger-tile"][data-device-id="${charger.id}"]`).getByTestId('charge-progress');
    await poll(() => bar.innerText()).toMatch(/^SOC \d+ % \(BMS\)$/);
    await screenshot(page, 'overview-bms');
  });

  it('battery page: SOC, SOH, voltage, current, cells, limits, modules, alarms and protections', async () => {
    await goTo(page, 'Battery');
    const b = page.locator(`[data-testid="battery-card"][data-device-id="${battery.id}"]`);
    await b.waitFor();
    await poll(() => b.getByTestId('battery-soc').innerText()).toMatch(/^\d+ %$/);
    const api = await s.gql<{ batteries: Array<{ socPct: number; voltageV: number }> }>('{ batteries { socPct voltageV } }');
    expect(Math.abs(parseFloat(await b.getByTestId('battery-soc').innerText()) - api.data!.batteries[0].socPct)).toBeLessThanOrEqual(1);
    expect(await b.getByTestId('battery-voltage').innerText()).toMatch(/^\d+\.\d\d V$/);
    expect(await b.getByTestId('cell-delta').innerText()).toMatch(/^\d+ mV$/);
    for (const label of ['SOH', 'Cell high', 'Cell low', 'Charge V limit', 'Charge I limit', 'Discharge I limit']) {
      expect(await b.getByText(label, { exact: true }).count()).toBe(1);
    }
    expect(await b.getByTestId('module-table').locator('tbody tr').count()).toBe(battery.modules.length);
    expect(await b.getByTestId('battery-alarms').locator('li').count()).toBeGreaterThan(0);
    expect(await b.getByTestId('battery-protections').locator('li').count()).toBeGreaterThan(0);
    await screenshot(page, 'battery');
  });

  it('charger card shows the BMS caps while they apply', async () => {
    await goTo(page, 'Charger');
    await card().getByRole('button', { name: 'Start charge…' }).click();
    const dialog = page.getByTestId('start-charge-dialog');
    await dialog.getByLabel(/Charge current/).fill('20');
    await dialog.getByRole('button', { name: 'Review' }).click();
    await dialog.getByRole('button', { name: 'Start charge' }).click();
    await dialog.waitFor({ state: 'detached' });
    await poll(async () => ACTIVE.includes((await card().getByTestId('charger-phase').getAttribute('data-phase')) ?? '')).toBe(true);
    const caps = card().getByTestId('bms-caps');
    await poll(() => caps.isVisible(), 15_000).toBe(true);
    // One sentence, the server's reason in it, no raw BMS limits beside it to contradict it.
    expect(await caps.innerText()).toMatch(/^The battery's BMS holds this charge below its settings: BMS limits .+\.$/);
    // It is the server's reason, word for word (polled: the cap follows the SOC).
    await poll(async () => {
      const r = await s.gql<{ chargers: ChargerRow[] }>('{ chargers { bmsCaps { reason } } }');
      const reason = r.data?.chargers[0].bmsCaps?.reason;
      return !!reason && (await caps.innerText()).includes(reason);
    }).toBe(true);
    expect(await card().getByTestId('charge-progress').innerText()).toMatch(/^SOC \d+ % \(BMS\)$/);
    expect(await card().innerText()).toContain(`battery: ${battery.name}`);
    await screenshot(page, 'charger-bms');
  });

  it('history: the battery SOC and cell delta chart has points and exports them', async () => {
    await goTo(page, 'History');
    await page.getByRole('button', { name: '15 min' }).click();
    const chart = page.getByTestId('chart-battery');
    await poll(async () => Number(await chart.getAttribute('data-points'))).toBeGreaterThan(1);
    const [download] = await Promise.all([page.waitForEvent('download'), chart.getByRole('button', { name: /Download CSV/ }).click()]);
    const csv = readFileSync((await download.path())!, 'utf8').trim().split('\n');
    expect(csv[0]).toBe('time,SOC (%),Cell Δ (mV)');
    const soc = Number(csv[csv.length - 1].split(',')[1]);
    expect(soc).toBeGreaterThan(80);
    expect(soc).toBeLessThanOrEqual(100);
    await screenshot(page, 'history-battery');
    await s.gql('mutation($id: ID!) { stopCharge(chargerId: $id) { phase } }', { id: charger.id });
  });

  it('made no request to any other host, and logged no errors', () => {
    expect(d.foreignRequests()).toEqual([]);
    expect(d.errors).toEqual([]);
  });
});
