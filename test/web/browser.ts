/**
 * Browser-test helpers: Debian's chromium driven by playwright-core (no browser download),
 * a phone-sized page that records every request it makes, and screenshots as test artifacts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(root, 'test-artifacts', 'web');

/** Builds web-client/dist when it is missing or stale (pretest does the same; this covers `npx vitest run test/web`). */
export function ensureDashboardBuilt(): void {
  execFileSync(process.execPath, [join(root, 'scripts', 'ensure-web-build.mjs')], { cwd: root, stdio: 'inherit' });
  if (!existsSync(join(root, 'web-client', 'dist', 'index.html'))) throw new Error('the dashboard did not build (web-client/dist/index.html missing)');
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/ensure-chromium.sh (npm test does it in pretest)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

export interface DashboardPage {
  context: BrowserContext;
  page: Page;
  /** Every URL the page requested, in order. */
  requests: string[];
  /** Requests to anything but the dashboard's own server. */
  foreignRequests(): string[];
  /** Uncaught page errors and console errors. */
  errors: string[];
}

/** A phone-sized page (iPhone 12-class viewport) on the dashboard at `baseUrl`. */
export async function openDashboard(browser: Browser, baseUrl: string, path = '#/overview', opts: { timezoneId?: string } = {}): Promise<DashboardPage> {
  // The dashboard registers a service worker (offline shell); once it controls the page,
  // page.route no longer sees every request (Playwright: block service workers to route), so
  // the tests that answer requests themselves were flaky. No test relies on the worker.
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, acceptDownloads: true, serviceWorkers: 'block', ...(opts.timezoneId ? { timezoneId: opts.timezoneId } : {}) });
  const page = await context.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('websocket', (ws) => requests.push(ws.url()));
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(`${baseUrl}/${path}`);
  const origin = new URL(baseUrl).origin;
  const wsOrigin = origin.replace(/^http/, 'ws');
  return {
    context,
    page,
    requests,
    errors,
    foreignRequests: () => requests.filter((u) => !(u.startsWith(`${origin}/`) || u.startsWith(`${wsOrigin}/`) || u.startsWith('blob:') || u.startsWith('data:'))),
  };
}

/** Saves test-artifacts/web/<name>.png: the whole page from the top, or just the viewport (e.g. with a dialog open). */
export async function screenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  const fullPage = opts.fullPage ?? true;
  // A full-page capture of a scrolled page draws the sticky header mid-page.
  if (fullPage) await page.evaluate(() => window.scrollTo(0, 0));
  // Toasts are transient; keep them out of the pictures of the pages.
  await page.evaluate(() => document.getElementById('toasts')?.replaceChildren());
  await page.screenshot({ path, fullPage });
  return path;
}

/** Navigates with the dashboard's own nav (as a person would) and waits for the page to mount. */
export async function goTo(page: Page, name: 'Overview' | 'Rectifiers' | 'Charger' | 'Battery' | 'Inverters' | 'History' | 'Events' | 'Schedule'): Promise<void> {
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name, exact: true }).click();
  await page.locator(`main[data-page="${name.toLowerCase()}"]`).waitFor();
}
