/**
 * The EV charger card in a real browser against a real server on the simulated rig with an
 * OpenEVSE board (its car driven by the test): state in words, power and session kWh live, the
 * current slider bounded by the allowed range (board range capped at the circuit limit) with a
 * confirmation that says what will be sent, and the EV session in the session history with its
 * own chart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import { OVERVIEW, SESSIONS, SESSION } from '../../web-client/src/queries.js';
import { ensureDashboardBuilt, goTo, launchBrowser, openDashboard, screenshot, type DashboardPage } from './browser.js';
import type { OpenEvseSim } from '../../src/families/openevse/sim.js';

const poll = <T>(fn: () => T | Promise<T>, timeout = 15_000) => expect.poll(fn, { timeout, interval: 100 });

describe('EV charger card in chromium on the simulated rig', () => {
  let s: LiveServer;
  let browser: Browser;
  let d: DashboardPage;
  let page: Page;
  let sim: OpenEvseSim;

  beforeAll(async () => {
    ensureDashboardBuilt();
    [s, browser] = await Promise.all([startLiveServer({ speed: 5, bms: false, evse: { demoCar: false } }), launchBrowser()]);
    for (const [name, q] of [['overview', OVERVIEW], ['chargeSessions', SESSIONS]] as const) {
      const r = await s.gql(q, { first: 5 });
      expect(r.errors, `the dashboard's ${name} query against this server`).toBeUndefined();
    }
    const bad = await s.gql(SESSION, { id: 'none', maxPoints: 10 });
    expect(bad.errors).toBeUndefined();
    sim = s.rig.sim!.openevse.get('evse')!;
    await waitFor(async () => {
      const r = await s.gql<{ evChargers: Array<{ online: boolean; allowedRange: unknown; heartbeat: { armed: boolean } }> }>('{ evChargers { online allowedRange { maxA } heartbeat { armed } } }');
      const e = r.data?.evChargers[0];
      return e?.online && e.allowedRange && e.heartbeat.armed ? e : null;
    }, 'the EVSE online with its range read and its heartbeat armed', 20_000);
    d = await openDashboard(browser, s.url);
    page = d.page;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  const tile = () => page.locator('[data-testid="evse-tile"][data-device-id="evse0"]');

  it('overview shows the EV charger in words: ready, heartbeat armed', async () => {
    await poll(() => tile().count()).toBe(1);
    expect(await tile().innerText()).toContain('Garage EVSE');
    await poll(() => tile().getByTestId('evse-state').innerText()).toBe('Ready — no vehicle');
    await poll(() => tile().getByTestId('evse-heartbeat').innerText()).toMatch(/armed, 6 A fallback/);
    // its link is a RAPI serial line, not a CAN bus
    await poll(() => page.getByTestId('bus-chip').allInnerTexts()).toContain('RAPI link evse: link up');
  });

  it('a car plugs in and charges: the card says so, with power and session kWh', async () => {
    sim.act('plug-in');
    await poll(() => tile().getByTestId('evse-state').innerText()).toBe('Plugged in');
    sim.act('request-charge');
    await poll(() => tile().getByTestId('evse-state').innerText()).toBe('Charging');
    await poll(async () => (await tile().getByTestId('evse-power').innerText()).endsWith('kW')).toBe(true);
    await poll(async () => Number((await tile().getByTestId('evse-session').innerText()).replace(/[^0-9.]/g, ''))).toBeGreaterThan(0);
    await screenshot(page, 'evse-charging');
  });

  it('the current slider is bounded by the allowed range; Cancel sends nothing; a confirmed value reaches the board', async () => {
    const before = sim.received.filter((l) => l.startsWith('$SC')).length;
    await tile().getByTestId('evse-set-current').click();
    const dialog = page.getByTestId('evse-current-dialog');
    const slider = dialog.getByTestId('evse-current-slider');
    expect(await slider.getAttribute('min')).toBe('6');
    expect(await slider.getAttribute('max')).toBe('32');
    expect(await dialog.getByTestId('evse-range-hint').innerText()).toMatch(/6–32 A allowed \(.*circuit limit 32 A\)/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect(sim.received.filter((l) => l.startsWith('$SC')).length).toBe(before);

    await tile().getByTestId('evse-set-current').click();
    await slider.fill('16');
    expect(await dialog.getByTestId('evse-current-value').innerText()).toBe('16 A');
    await dialog.getByRole('button', { name: 'Review' }).click();
    expect(await dialog.getByTestId('evse-current-summary').innerText()).toMatch(/16 A/);
    // still nothing sent before the confirmation
    expect(sim.received.filter((l) => l.startsWith('$SC')).length).toBe(before);
    await dialog.getByRole('button', { name: 'Send' }).click();
    await dialog.waitFor({ state: 'detached' });
    await poll(() => sim.snapshot.capacityA).toBe(16);
    await poll(() => tile().innerText()).toMatch(/16 A \(max 32\)/);
  });

  it('history lists the EV session once the car leaves, with its own chart', async () => {
    sim.act('unplug');
    await poll(() => tile().getByTestId('evse-state').innerText()).toBe('Ready — no vehicle');
    await goTo(page, 'History');
    const row = page.getByTestId('session-table').locator('tbody tr[data-session-kind="ev"]');
    await poll(() => row.count()).toBeGreaterThan(0);
    await poll(() => row.first().innerText()).toMatch(/unplugged/);
    expect(await row.first().innerText()).toMatch(/kWh/);
    expect(await row.first().innerText()).toMatch(/EV · Garage EVSE/);
    await row.first().getByRole('button', { name: /Show the charge session/ }).click();
    const chart = page.getByTestId('chart-session');
    await poll(async () => Number(await chart.getAttribute('data-points'))).toBeGreaterThan(1);
    expect(await chart.innerText()).toContain('EV session (Garage EVSE)');
    await screenshot(page, 'evse-history');
  });

  it('made no request to any other host, and logged no errors', () => {
    expect(d.foreignRequests()).toEqual([]);
    expect(d.errors).toEqual([]);
  });
});
