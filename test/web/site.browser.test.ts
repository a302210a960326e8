/**
 * The whole-site dashboard (issue 17) in Debian's chromium against a real server on the
 * simulated rig with the rectifiers, the battery (BMS) and the charger: the power flow equals
 * the devices' readings, the running charge's sentence and ETA, a disabled control with its
 * reason, an offline device with its age and reason on a phone, the energy card, first-load
 * transfer size, and screenshots of every page at phone and desktop sizes
 * (test-artifacts/web/site-*.png).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import { SIM_PSU_SERIALS } from '../../src/rig.js';
import { psuDeviceId } from '../../src/families/flatpack2/view.js';
import { ensureDashboardBuilt, goTo, launchBrowser, openDashboard, screenshot, type DashboardPage } from './browser.js';

const idA = psuDeviceId(SIM_PSU_SERIALS[0]);
const poll = <T>(fn: () => T | Promise<T>, timeout = 15_000) => expect.poll(fn, { timeout, interval: 150 });
const PAGES = ['Overview', 'Rectifiers', 'Charger', 'Battery', 'History', 'Events'] as const;

type Dev = { id: string; __typename: string; online: boolean; outputPowerW?: number | null; voltageV?: number | null; currentA?: number | null; powerW?: number | null };
const DEVICES = `{ devices { id __typename online ... on Flatpack2Psu { outputPowerW } ... on Battery { voltageV currentA powerW } } }`;

describe('site dashboard in chromium (issue 17)', () => {
  let s: LiveServer;
  let browser: Browser;
  let d: DashboardPage;
  let page: Page;
  let chargerId = '';

  beforeAll(async () => {
    ensureDashboardBuilt();
    [s, browser] = await Promise.all([startLiveServer({ speed: 10, bms: true, pack: { socPct: 40, capacityAh: 100 } }), launchBrowser()]);
    await waitFor(async () => {
      const r = await s.gql<{ devices: Dev[] }>(DEVICES);
      return (r.data?.devices ?? []).filter((x) => x.online).length >= 3;
    }, 'the PSUs and the battery online', 30_000);
    chargerId = (await s.gql<{ chargers: Array<{ id: string }> }>('{ chargers { id } }')).data!.chargers[0].id;
    d = await openDashboard(browser, s.url);
    page = d.page;
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  it('first load: what the page transfers, gzipped by the server', async () => {
    await poll(() => page.getByTestId('conn-state').textContent()).toBe('live');
    const sizes = await page.evaluate(() =>
      [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].map((e) => ({ name: e.name, transfer: (e as PerformanceResourceTiming).transferSize, body: (e as PerformanceResourceTiming).encodedBodySize })),
    );
    const total = sizes.reduce((a, x) => a + x.transfer, 0);
    const js = sizes.filter((x) => x.name.endsWith('.js'));
    console.log(`first load: ${sizes.length} requests, ${(total / 1024).toFixed(1)} KiB transferred (${sizes.map((x) => `${x.name.replace(s.url, '')} ${(x.transfer / 1024).toFixed(1)}`).join(', ')})`);
    // Served gzipped: the script's body on the wire is far below its 120+ KiB raw size.
    expect(js.length).toBeGreaterThan(0);
    for (const x of js) expect(x.body).toBeLessThan(80 * 1024);
    expect(total).toBeLessThan(150 * 1024);
  });

  it('the power flow equals the devices’ readings while a charge runs, with the charge’s sentence and ETA', async () => {
    const r = await s.gql(`mutation($id: ID!) { startCharge(chargerId: $id, currentA: 40) { phase } }`, { id: chargerId });
    expect(r.errors).toBeUndefined();
    await poll(async () => (await s.gql<{ chargers: Array<{ phase: string }> }>('{ chargers { phase } }')).data!.chargers[0].phase, 60_000).toMatch(/^(CC|CV)$/);
    const sources = page.getByTestId('flow-sources-w');
    const battery = page.getByTestId('flow-battery-w');
    // The shown totals track the API's readings (live values move; compare within a step).
    await poll(async () => {
      const api = (await s.gql<{ devices: Dev[] }>(DEVICES)).data!.devices;
      const psuW = api.filter((x) => x.__typename === 'Flatpack2Psu' && x.online).reduce((a, x) => a + (x.outputPowerW ?? 0), 0);
      const bat = api.find((x) => x.__typename === 'Battery')!;
      const batW = bat.powerW ?? (bat.voltageV ?? 0) * (bat.currentA ?? 0);
      const shownSrc = Number(await sources.getAttribute('data-watts'));
      const shownBat = Number(await battery.getAttribute('data-watts'));
      return Math.abs(shownSrc - psuW) <= Math.max(60, psuW * 0.05) && Math.abs(shownBat - batW) <= Math.max(60, Math.abs(batW) * 0.05) && psuW > 200;
    }, 30_000).toBe(true);
    expect(await page.getByTestId('flow-battery-sub').innerText()).toMatch(/charging · SOC \d+ % · full in \d/);
    const sentence = page.locator(`[data-testid="flow-sentence"][data-device-id="${chargerId}"]`);
    await poll(() => sentence.innerText()).toMatch(/^(Charging .+ at [\d.]+ k?W \([\d.]+ A\) — full in about \d+ (min|h|s)|Topping up .+)/);
    await poll(() => page.locator(`[data-testid="flow-sentence"][data-device-id="${idA}"]`).innerText()).toMatch(/delivers [\d.]+ k?W \([\d.]+ A at [\d.]+ V\) for /);
    await goTo(page, 'Charger');
    const card = page.locator(`[data-testid="charger-card"][data-device-id="${chargerId}"]`);
    await poll(() => card.getByTestId('charge-eta').innerText()).toMatch(/^about \d+/);
    await poll(() => card.getByTestId('actual-a').innerText()).toMatch(/^\d+\.\d A$/);
    expect(await card.locator('[data-step="error"]').isVisible()).toBe(false);
  }, 120_000);

  it('a control that cannot act now is disabled with its reason written beside it', async () => {
    await goTo(page, 'Rectifiers');
    const card = page.locator(`[data-testid="psu-card"][data-device-id="${idA}"]`);
    const set = card.getByRole('button', { name: /Set output of/ });
    await poll(() => set.isDisabled()).toBe(true);
    const reason = card.getByTestId('control-reason');
    expect(await reason.isVisible()).toBe(true);
    expect(await reason.innerText()).toMatch(/is being driven by .+: stop the charge on the Charger page/);
    expect(await set.getAttribute('aria-describedby')).toBe(await reason.getAttribute('id'));
    await screenshot(page, 'site-control-disabled-phone');
  });

  it('screenshots of every page at phone and desktop sizes', async () => {
    for (const p of PAGES) {
      await goTo(page, p);
      await page.waitForTimeout(600);
      await screenshot(page, `site-${p.toLowerCase()}-phone`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    for (const p of PAGES) {
      await goTo(page, p);
      await page.waitForTimeout(600);
      await screenshot(page, `site-${p.toLowerCase()}-desktop`);
    }
    await page.setViewportSize({ width: 390, height: 844 });
    await goTo(page, 'Overview');
    expect(await page.getByTestId('energy').isVisible()).toBe(true);
    await poll(() => page.getByTestId('energy-bars').locator('.bar-day').count()).toBe(14);
  }, 120_000);

  it('an offline device shows its age and reason on a phone, in the page text', async () => {
    await s.gql(`mutation($id: ID!) { stopCharge(chargerId: $id) { phase } }`, { id: chargerId });
    await goTo(page, 'Overview');
    s.rig.sim!.unplug('can0');
    const tile = page.locator(`[data-testid="device-tile"][data-device-id="${idA}"]`);
    await poll(() => tile.getByTestId('stale-note').isVisible(), 30_000).toBe(true);
    await poll(() => tile.getByTestId('stale-note').innerText()).toMatch(/^Offline — values from (just now|\d+ (s|min) ago): .+[.?!]$/);
    expect(await tile.evaluate((el) => el.classList.contains('stale'))).toBe(true);
    const sentence = page.locator(`[data-testid="flow-sentence"][data-device-id="${idA}"]`);
    await poll(() => sentence.innerText()).toMatch(/offline since \d\d:\d\d \(.+\): .+[.?!]$/);
    await screenshot(page, 'site-offline-phone');
    s.rig.sim!.replug('can0');
  }, 90_000);

  it('made no request to any other host', () => {
    expect(d.foreignRequests()).toEqual([]);
    expect(d.errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(e))).toEqual([]);
  });
});
