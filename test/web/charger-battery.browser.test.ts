/**
 * Charger and battery pages in a real browser against a real server on the simulated rig
 * (charger + BMS): start a charge through the confirmation dialog and watch the phases advance
 * on the charger card, delivered Ah/Wh and SOC charts with the CC→CV transition marked, the
 * session list with a per-session chart, stop with its reason, the battery card. Written
 * against the charger/battery GraphQL contract (chargers, startCharge, stopCharge,
 * chargeSessions, chargeSession, chargeProgress, batteries).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import { BATTERIES, CHARGERS, SESSIONS } from '../../web-client/src/queries.js';
import { ensureDashboardBuilt, goTo, launchBrowser, openDashboard, screenshot, type DashboardPage } from './browser.js';

const poll = <T>(fn: () => T | Promise<T>, timeout = 10_000) => expect.poll(fn, { timeout, interval: 100 });
const num = (text: string | null) => Number((text ?? '').replace(/[^0-9.\-]/g, ''));
const ACTIVE = ['detect', 'ramp', 'CC', 'CV', 'paused'];

type ChargerRow = { id: string; name: string; phase: string; batteryId: string | null };

describe('charger and battery pages in chromium on the simulated rig', () => {
  let s: LiveServer;
  let browser: Browser;
  let d: DashboardPage;
  let page: Page;
  let charger: ChargerRow;

  beforeAll(async () => {
    ensureDashboardBuilt();
    // A nearly full, small pack at 40× real time so a whole charge (detect → ramp → CC → CV) fits in seconds.
    [s, browser] = await Promise.all([startLiveServer({ speed: 40, pack: { socPct: 97, capacityAh: 10 } }), launchBrowser()]);
    // The dashboard's own documents must be valid against this server (a clear failure if the contract moved).
    for (const [name, q] of [['chargers', CHARGERS], ['batteries', BATTERIES], ['chargeSessions', SESSIONS]] as const) {
      const r = await s.gql(q, { first: 5 });
      expect(r.errors, `the dashboard's ${name} query against this server`).toBeUndefined();
    }
    charger = await waitFor(async () => {
      const r = await s.gql<{ chargers: ChargerRow[]; devices: Array<{ online: boolean }> }>('{ chargers { id name phase batteryId } devices { online } }');
      const c = r.data?.chargers[0];
      return c && r.data!.devices.some((x) => x.online) ? c : null;
    }, 'a charger and an online PSU on the simulated rig');
    // The simulated charger may auto-start: begin from a stopped charger.
    if (ACTIVE.includes(charger.phase)) await s.gql('mutation($id: ID!) { stopCharge(chargerId: $id) { phase } }', { id: charger.id });
    d = await openDashboard(browser, s.url);
    page = d.page;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  const card = () => page.locator(`[data-testid="charger-card"][data-device-id="${charger.id}"]`);

  it('overview shows the charger and the battery with live values', async () => {
    const chargerTile = page.getByTestId('charger-tile');
    const batteryTile = page.getByTestId('battery-tile');
    await poll(() => chargerTile.count()).toBeGreaterThan(0);
    await poll(() => batteryTile.count()).toBeGreaterThan(0);
    await poll(async () => (await batteryTile.first().innerText()).match(/SOC\s+\d+ %/) !== null).toBe(true);
    expect(await page.getByText(/No charger or battery configured/).count()).toBe(0);
  });

  it('refuses a charge current the rectifiers cannot deliver with the server\'s message', async () => {
    await goTo(page, 'Charger');
    await card().getByRole('button', { name: 'Start charge…' }).click();
    const dialog = page.getByTestId('start-charge-dialog');
    await dialog.getByLabel(/Charge current/).fill('1000');
    await dialog.getByRole('button', { name: 'Review' }).click();
    await dialog.getByRole('button', { name: 'Start charge' }).click();
    await poll(() => dialog.getByTestId('dialog-error').innerText()).toMatch(/Refused \(OUT_OF_RANGE\)/);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    const r = await s.gql<{ chargers: ChargerRow[] }>('{ chargers { id phase } }');
    expect(ACTIVE).not.toContain(r.data!.chargers.find((c) => c.id === charger.id)!.phase);
  });

  it('starts a charge through the confirmation dialog and the phases advance on the charger card', async () => {
    // Record every phase the card shows, as it changes.
    await page.evaluate(() => {
      const w = window as unknown as { __phases: string[] };
      w.__phases = [];
      const el = document.querySelector('[data-testid="charger-phase"]')!;
      new MutationObserver(() => {
        const p = el.getAttribute('data-phase')!;
        if (w.__phases[w.__phases.length - 1] !== p) w.__phases.push(p);
      }).observe(el, { attributes: true, attributeFilter: ['data-phase'] });
    });
    await card().getByRole('button', { name: 'Start charge…' }).click();
    const dialog = page.getByTestId('start-charge-dialog');
    await dialog.getByLabel(/Charge current/).fill('20');
    await dialog.getByRole('button', { name: 'Review' }).click();
    expect(await dialog.getByTestId('start-summary').innerText()).toMatch(/20\.0 A total/);
    await dialog.getByRole('button', { name: 'Start charge' }).click();
    await dialog.waitFor({ state: 'detached' });

    const phases = () => page.evaluate(() => (window as unknown as { __phases: string[] }).__phases);
    await poll(async () => (await phases()).includes('CV'), 60_000).toBe(true);
    const seen = await phases();
    const order = ['detect', 'ramp', 'CC', 'CV'].map((p) => seen.indexOf(p));
    expect(order.every((i) => i >= 0), `phases seen: ${seen.join(' → ')}`).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);

    expect(num(await card().getByTestId('delivered-ah').textContent())).toBeGreaterThan(0);
    expect(num(await card().getByTestId('delivered-wh').textContent())).toBeGreaterThan(0);
    expect(await card().locator('.steps [aria-current="step"]').textContent()).toBe('CV');
    const bar = card().getByTestId('charge-progress');
    expect(Number(await bar.getAttribute('aria-valuenow'))).toBeGreaterThan(0);
    if (charger.batteryId) expect(await bar.innerText()).toMatch(/SOC \d+ % \(BMS\)/);
    // Manual setpoints are refused while the charger owns the PSUs.
    expect(await card().getByRole('button', { name: 'Start charge…' }).isDisabled()).toBe(true);
    await screenshot(page, 'charger-charging');
  }, 90_000);

  it('history: delivered Ah/Wh and SOC charts have points and the CC→CV transition is marked; sessions have their own chart', async () => {
    await goTo(page, 'History');
    await page.getByRole('button', { name: '15 min' }).click();
    for (const key of ['ah', 'wh', 'battery', 'output']) {
      await poll(async () => Number(await page.getByTestId(`chart-${key}`).getAttribute('data-points'))).toBeGreaterThan(1);
    }
    // The output chart follows the charger by default.
    expect(await page.getByTestId('chart-output').innerText()).toContain(charger.name);
    await poll(async () => (await page.getByTestId('chart-ah').getAttribute('data-markers')) ?? '').toContain('CC→CV');

    const sessions = page.getByTestId('session-table').locator('tbody tr');
    await poll(() => sessions.count()).toBeGreaterThan(0);
    await sessions.first().getByRole('button', { name: /Show the charge session/ }).click();
    const sessionChart = page.getByTestId('chart-session');
    await poll(async () => Number(await sessionChart.getAttribute('data-points'))).toBeGreaterThan(1);
    await poll(async () => (await sessionChart.getAttribute('data-markers')) ?? '').toContain('CC→CV');
    await screenshot(page, 'history-charge');
  });

  it('stops the charge after a confirmation and shows the reason', async () => {
    await goTo(page, 'Charger');
    await card().getByRole('button', { name: 'Stop charge…' }).click();
    const dialog = page.getByTestId('stop-charge-dialog');
    await dialog.getByRole('button', { name: 'Stop charge' }).click();
    await dialog.waitFor({ state: 'detached' });
    await poll(() => card().getByTestId('charger-phase').getAttribute('data-phase')).toMatch(/^(done|idle)$/);
    await poll(() => card().getByTestId('stop-reason').isVisible()).toBe(true);
    expect((await card().getByTestId('stop-reason').innerText()).length).toBeGreaterThan('Last stop: '.length);
    await screenshot(page, 'charger');

    // The phase changes are in the event log, filterable by type.
    await goTo(page, 'Events');
    await page.getByLabel('Filter by type').selectOption('charger');
    await poll(() => page.getByTestId('event').count()).toBeGreaterThan(0);
  });

  it('battery page: SOC, SOH, voltage, current, cells, limits, modules, alarms and protections', async () => {
    await goTo(page, 'Battery');
    const b = page.getByTestId('battery-card').first();
    await b.waitFor();
    await poll(() => b.getByTestId('battery-soc').innerText()).toMatch(/^\d+ %$/);
    expect(await b.getByTestId('battery-voltage').innerText()).toMatch(/^\d+\.\d\d V$/);
    expect(await b.getByTestId('cell-delta').innerText()).toMatch(/^\d+ mV$/);
    for (const label of ['SOH', 'Cell high', 'Cell low', 'Charge V limit', 'Charge I limit', 'Discharge I limit']) {
      expect(await b.getByText(label, { exact: true }).count()).toBe(1);
    }
    expect(await b.getByTestId('module-table').locator('tbody tr').count()).toBeGreaterThan(0);
    expect(await b.getByTestId('battery-alarms').count()).toBe(1);
    expect(await b.getByTestId('battery-protections').count()).toBe(1);
    await screenshot(page, 'battery');
  });

  it('made no request to any other host, and logged no errors', () => {
    expect(d.foreignRequests()).toEqual([]);
    expect(d.errors).toEqual([]);
  });
});
