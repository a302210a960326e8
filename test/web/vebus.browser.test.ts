/**
 * The MultiPlus card in a real browser against a real server on the demo rig's simulated MK3 +
 * MultiPlus: AC in → Multi → AC out, battery, state, LEDs; a mode switch through its
 * confirmation dialog (the button of the mode in force is pressed afterwards, the settings table
 * marks the RAM-only value); a cancelled confirmation sends nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import { OVERVIEW } from '../../web-client/src/queries.js';
import { SIM_MULTI_ID } from '../../src/rig.js';
import { ensureDashboardBuilt, launchBrowser, openDashboard, screenshot, type DashboardPage } from './browser.js';

const poll = <T>(fn: () => T | Promise<T>, timeout = 20_000) => expect.poll(fn, { timeout, interval: 100 });

describe('MultiPlus card in chromium on the simulated rig', () => {
  let s: LiveServer;
  let browser: Browser;
  let d: DashboardPage;
  let page: Page;

  beforeAll(async () => {
    ensureDashboardBuilt();
    [s, browser] = await Promise.all([startLiveServer({ speed: 2, bms: false, vebus: true }), launchBrowser()]);
    const r = await s.gql(OVERVIEW);
    expect(r.errors, "the dashboard's overview query against this server").toBeUndefined();
    // Ready, with the settings the modes write read (so the card knows which mode is in force).
    await waitFor(async () => {
      const q = await s.gql<{ inverterChargers: Array<{ session: string; modes: Array<{ active: boolean | null }> }> }>('{ inverterChargers { session modes { active } } }');
      const m = q.data?.inverterChargers[0];
      return m?.session === 'ready' && m.modes.every((x) => x.active !== null);
    }, 'the MultiPlus ready', 30_000);
    d = await openDashboard(browser, s.url);
    page = d.page;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  const tile = () => page.locator(`[data-testid="vebus-tile"][data-device-id="${SIM_MULTI_ID}"]`);

  it('shows AC in → Multi → AC out, the battery, state and LEDs', async () => {
    await poll(() => tile().count()).toBe(1);
    await poll(() => tile().getByTestId('vebus-ac-out').innerText()).toMatch(/^2\d\d V · \d+\.\d A$/);
    expect(await tile().getByTestId('vebus-ac-in').innerText()).toMatch(/^2\d\d V · -?\d+\.\d A$/);
    expect(await tile().getByTestId('vebus-battery').innerText()).toMatch(/^\d\d\.\d\d V · -?\d+\.\d A$/);
    expect(await tile().getByTestId('vebus-state').innerText()).not.toBe('—');
    await poll(() => tile().getByTestId('vebus-leds').locator('[data-led]').count()).toBeGreaterThan(0);
    expect(await tile().getByTestId('vebus-mode').allInnerTexts()).toEqual(['Prefer battery', 'Prefer AC', 'Charge']);
    expect(d.errors).toEqual([]);
  });

  it('a cancelled mode confirmation sends nothing', async () => {
    const before = s.store.listEvents({ types: ['command.requested'], deviceId: SIM_MULTI_ID }, 100).items.length;
    await tile().locator('[data-mode="prefer-battery"]').click();
    const dialog = page.getByTestId('vebus-mode-dialog');
    await dialog.waitFor();
    expect(await dialog.innerText()).toMatch(/VS_USAGE = 3 \(RAM only\)[\s\S]*set flag DISABLE_CHARGE \(RAM only\)/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect(s.store.listEvents({ types: ['command.requested'], deviceId: SIM_MULTI_ID }, 100).items.length).toBe(before);
  });

  it('switches mode through the confirmation: the mode is pressed, the RAM-only setting marked, one event', async () => {
    const prefer = tile().locator('[data-mode="prefer-battery"]');
    expect(await prefer.getAttribute('aria-pressed')).toBe('false');
    await prefer.click();
    const dialog = page.getByTestId('vebus-mode-dialog');
    await dialog.getByRole('button', { name: 'Apply Prefer battery' }).click();
    // Closed on success; a refusal stays in the dialog (and is the failure to report).
    await poll(async () => ((await dialog.count()) === 0 ? 'closed' : ((await dialog.getByTestId('dialog-error').isVisible()) ? await dialog.getByTestId('dialog-error').innerText() : 'open'))).toBe('closed');
    await poll(() => prefer.getAttribute('aria-pressed')).toBe('true');
    expect(await tile().locator('[data-mode="charge"]').getAttribute('aria-pressed')).toBe('false');
    // The settings table, opened as a person would.
    await tile().locator('details[data-testid="vebus-settings"] summary').click();
    const row = tile().locator('[data-testid="vebus-setting"][data-setting-id="15"]');
    await poll(() => row.getAttribute('data-ram-only')).toBe('true');
    expect(await row.locator('td').allInnerTexts()).toEqual(expect.arrayContaining(['VS_USAGE', '3 (RAM only)']));
    const done = s.store.listEvents({ types: ['command.done'], deviceId: SIM_MULTI_ID }, 100).items.filter((e) => String(e.data.command).startsWith('apply mode prefer-battery'));
    expect(done).toHaveLength(1);
    expect(done[0]!.data).toMatchObject({ origin: 'api' });
    expect(s.rig.sim!.vebus.get('vebus0')!.setting(15)).toMatchObject({ ram: 3, eeprom: 1 });
    await screenshot(page, 'vebus-multiplus-card');
    expect(d.errors).toEqual([]);
  }, 120_000);
});
