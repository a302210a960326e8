/**
 * The charger page in a real browser against a real server on the simulated rig without a
 * BMS (so the charge runs the charger's own CC/CV course): refusal of an impossible current
 * with the server's message, start through the confirmation dialog and watch the phases
 * advance on the charger card, delivered Ah/Wh charts with the CC→CV transition marked, the
 * session list with a per-session chart, stop with its reason, phase events in the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import { CHARGERS, SESSIONS } from '../../web-client/src/queries.js';
import { ensureDashboardBuilt, goTo, launchBrowser, openDashboard, screenshot, type DashboardPage } from './browser.js';

const poll = <T>(fn: () => T | Promise<T>, timeout = 10_000) => expect.poll(fn, { timeout, interval: 100 });
const num = (text: string | null) => Number((text ?? '').replace(/[^0-9.\-]/g, ''));
const ACTIVE = ['detect', 'ramp', 'CC', 'CV', 'paused'];

type ChargerRow = { id: string; name: string; phase: string; batteryId: string | null };

describe('charger page in chromium on the simulated rig', () => {
  let s: LiveServer;
  let browser: Browser;
  let d: DashboardPage;
  let page: Page;
  let charger: ChargerRow;

  beforeAll(async () => {
    ensureDashboardBuilt();
    // No BMS, a small pack at 90 % and 40× real time: a 20 A (2 C) charge goes detect → ramp → CC → CV in seconds.
    [s, browser] = await Promise.all([startLiveServer({ speed: 40, bms: false, pack: { socPct: 90, capacityAh: 10 } }), launchBrowser()]);
    // The dashboard's own documents must be valid against this server (a clear failure if the contract moved).
    for (const [name, q] of [['chargers', CHARGERS], ['chargeSessions', SESSIONS]] as const) {
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
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  const card = () => page.locator(`[data-testid="charger-card"][data-device-id="${charger.id}"]`);

  it('overview shows the charger', async () => {
    const tile = page.locator(`[data-testid="charger-tile"][data-device-id="${charger.id}"]`);
    await poll(() => tile.count()).toBe(1);
    expect(await tile.innerText()).toContain(charger.name);
    expect(await page.getByTestId('battery-tile').count()).toBe(0);
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

  it('starts with the configured current, stops after a confirmation and shows the reason', async () => {
    await goTo(page, 'Charger');
    // Start with the configured current (field left empty), then stop it early, long before it could finish.
    await card().getByRole('button', { name: 'Start charge…' }).click();
    const start = page.getByTestId('start-charge-dialog');
    await start.getByRole('button', { name: 'Review' }).click();
    expect(await start.getByTestId('start-summary').innerText()).toMatch(/configured \(30 A\)/);
    await start.getByRole('button', { name: 'Start charge' }).click();
    await start.waitFor({ state: 'detached' });
    await poll(async () => ACTIVE.includes((await card().getByTestId('charger-phase').getAttribute('data-phase')) ?? '')).toBe(true);
    await card().getByRole('button', { name: 'Stop charge…' }).click();
    const dialog = page.getByTestId('stop-charge-dialog');
    await dialog.getByRole('button', { name: 'Stop charge' }).click();
    await dialog.waitFor({ state: 'detached' });
    await poll(() => card().getByTestId('charger-phase').getAttribute('data-phase')).toMatch(/^(done|idle)$/);
    await poll(() => card().getByTestId('stop-reason').isVisible()).toBe(true);
    expect(await card().getByTestId('stop-reason').innerText()).toMatch(/^Last stop: .*stop/i);
    await screenshot(page, 'charger');

    // The phase changes are in the event log, filterable by type.
    await goTo(page, 'Events');
    await page.getByLabel('Filter by type').selectOption('charger');
    await poll(() => page.getByTestId('event').count()).toBeGreaterThan(0);
  });

  it('starts a charge through the confirmation dialog and the phases advance on the charger card', async () => {
    await goTo(page, 'Charger');
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
    // The small pack may already have finished (CV → done at the tail current).
    expect(['CV', 'done']).toContain(await card().locator('.steps [aria-current="step"]').textContent());
    const bar = card().getByTestId('charge-progress');
    expect(Number(await bar.getAttribute('aria-valuenow'))).toBeGreaterThan(0);
    expect(await bar.innerText()).not.toMatch(/BMS/);
    await screenshot(page, 'charger-charging');
  }, 90_000);

  it('history: delivered Ah/Wh and SOC charts have points and the CC→CV transition is marked; sessions have their own chart', async () => {
    await goTo(page, 'History');
    await page.getByRole('button', { name: '15 min' }).click();
    for (const key of ['ah', 'wh', 'output']) {
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
    // Without a battery the SOC chart says why it is empty.
    expect(await page.getByTestId('chart-battery').innerText()).toMatch(/No battery configured/);
    await screenshot(page, 'history-charge');
  });

  it('made no request to any other host, and logged no errors', () => {
    expect(d.foreignRequests()).toEqual([]);
    expect(d.errors).toEqual([]);
  });
});
