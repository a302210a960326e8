/**
 * The inverter tiles and the profile page in a real browser against a real server on the
 * simulated rig with the LVX6048 pair (issue 11 §8): tiles with the power flow and faults in
 * words; pick a saved profile → diff and plan → apply through a confirmation that shows the
 * frames → progress step by step → the audit trail; sync-check as a table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import type { Pi18SimNode } from '../../src/families/pi18/family.js';
import { ensureDashboardBuilt, goTo, launchBrowser, openDashboard, screenshot, type DashboardPage } from './browser.js';

const poll = <T>(fn: () => T | Promise<T>, timeout = 15_000) => expect.poll(fn, { timeout, interval: 100 });

describe('inverters in the dashboard (chromium, simulated LVX6048 pair)', () => {
  let s: LiveServer;
  let browser: Browser;
  let d: DashboardPage;
  let page: Page;
  const sim = (link: 'inv0' | 'inv1') => (s.rig.sim!.pi18.get(link) as Pi18SimNode).sim;

  beforeAll(async () => {
    ensureDashboardBuilt();
    [s, browser] = await Promise.all([startLiveServer({ speed: 10, inverters: true }), launchBrowser()]);
    await waitFor(async () => {
      const r = await s.gql<{ inverters: { online: boolean; settings: unknown }[] }>('{ inverters { online settings { batteryType } } }');
      return r.data?.inverters.length === 2 && r.data.inverters.every((i) => i.online && i.settings);
    }, 'both inverters online', 30_000);
    // A saved profile that changes two currents on the slave.
    const yaml = 'max_charging_current: 40\nmax_utility_charging_current: 20\n';
    const saved = await s.gql(`mutation($y: String!) { saveProfile(name: "evening", yaml: $y) { name } }`, { y: yaml });
    expect(saved.errors).toBeUndefined();
    d = await openDashboard(browser, s.url);
    page = d.page;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  it('overview: an inverter tile per unit with the power flow, mode, role, and faults in words', async () => {
    const master = page.locator('[data-testid="inverter-tile"][data-device-id="inv-master"]');
    const slave = page.locator('[data-testid="inverter-tile"][data-device-id="inv-slave"]');
    await poll(() => master.locator('.badge').textContent()).toBe('online');
    await poll(() => master.getByTestId('inv-flow').textContent()).toMatch(/^PV \d+ W → .*load/);
    await poll(() => master.getByTestId('inv-role').textContent()).toMatch(/master/);
    await poll(() => slave.getByTestId('inv-role').textContent()).toMatch(/slave/);
    sim('inv1').setFault(86);
    try {
      await poll(() => slave.getByTestId('inv-faults').textContent()).toMatch(/parallel output setting different/i);
      await screenshot(page, 'inverters-overview');
    } finally {
      sim('inv1').setFault(0);
    }
    await poll(() => slave.getByTestId('inv-faults').textContent()).toBe('');
  });

  it('profile page: pick a saved profile, diff and plan, apply through a confirmation showing the frames, progress step by step, audit trail', async () => {
    await goTo(page, 'Inverters');
    await poll(() => page.getByTestId('inv-profile').locator('option').allTextContents()).toEqual(expect.arrayContaining([expect.stringMatching(/^evening/)]));
    await page.getByTestId('inv-unit').selectOption('inv-slave');
    await page.getByTestId('inv-profile').selectOption('evening');
    const sent = sim('inv1').applied.length;
    await page.getByTestId('plan-btn').click();
    const plan = page.getByTestId('plan-table');
    await poll(() => plan.locator('tbody tr').count()).toBe(2);
    expect(await page.getByTestId('diff-table').textContent()).toMatch(/max_charging_current/);
    expect(sim('inv1').applied.length).toBe(sent); // planning sends nothing
    await page.getByTestId('apply-btn').click();
    const dialog = page.getByTestId('apply-profile-dialog');
    await dialog.waitFor();
    const frames = await dialog.getByTestId('apply-frame').allTextContents();
    expect(frames.length).toBe(2);
    expect(frames.join(' ')).toMatch(/\^S\d{3}MCHGC1,040/);
    expect(frames.join(' ')).toMatch(/\^S\d{3}MUCHGC1,020/);
    await screenshot(page, 'inverters-apply-confirm', { fullPage: false });
    await dialog.getByTestId('apply-confirm').click();
    await poll(() => page.getByTestId('apply-result').getAttribute('data-result')).toBe('applied');
    await poll(() => page.getByTestId('apply-progress').locator('li[data-phase="step"]').count()).toBe(2);
    expect(await page.getByTestId('apply-progress').locator('li[data-phase="step"]').allTextContents()).toEqual([expect.stringMatching(/step 1\/2 .*: ack/), expect.stringMatching(/step 2\/2 .*: ack/)]);
    expect(sim('inv1').piri.maxChargingCurrentA).toBe(40);
    expect(sim('inv1').piri.maxUtilityChargingCurrentA).toBe(20);
    const audit = page.getByTestId('audit-table');
    await poll(() => audit.locator('tbody tr').first().getAttribute('data-audit-result')).toBe('applied');
    expect(await audit.locator('tbody tr').first().textContent()).toMatch(/apply.*local.*evening/);
    await screenshot(page, 'inverters-profile-applied');
    expect(d.errors).toEqual([]);
  });

  it('sync-check and compare of the pair as tables', async () => {
    await goTo(page, 'Inverters');
    await page.getByTestId('sync-btn').click();
    await poll(() => page.getByTestId('sync-verdict').textContent()).toMatch(/in sync/i);
    await page.getByTestId('compare-btn').click();
    // The slave's currents were changed above: the compare shows them differing.
    await poll(() => page.getByTestId('compare-table').textContent()).toMatch(/max_charging_current.*differs/);
    expect(d.foreignRequests()).toEqual([]);
  });
});
