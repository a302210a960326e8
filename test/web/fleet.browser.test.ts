/**
 * The fleet forwarding on the overview (issue 18) in Debian's chromium: a real server on the
 * simulated rig whose outbox forwards to a real nats-server. Connected → killed (the chip says
 * offline since when, how many rows wait, and why) → started again (the backlog drains to
 * nothing waiting). Hidden on a site without fleet:. Screenshots in test-artifacts/web/fleet-*.png.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { silentLogger } from '../../src/log.js';
import { fleetSchema } from '../../src/fleet/config.js';
import { FleetOutbox } from '../../src/fleet/outbox.js';
import { attachOutbox } from '../../src/fleet/attach.js';
import { startLiveServer, type LiveServer } from '../helpers/server.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { ensureDashboardBuilt, launchBrowser, openDashboard, screenshot, type DashboardPage } from './browser.js';

const poll = <T>(fn: () => T | Promise<T>, timeout = 30_000) => expect.poll(fn, { timeout, interval: 200 });

describe('fleet forwarding on the dashboard (issue 18)', () => {
  let browser: Browser;
  let live: LiveServer | undefined;
  let nats: NatsServer | undefined;
  let outbox: FleetOutbox | undefined;
  let d: DashboardPage | undefined;

  beforeAll(async () => {
    ensureDashboardBuilt();
    browser = await launchBrowser();
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await d?.context.close();
    await outbox?.stop();
    await live?.stop();
    await nats?.stop();
    d = live = nats = outbox = undefined;
  });

  it('hidden when fleet: is not configured', async () => {
    live = await startLiveServer({ speed: 10 });
    d = await openDashboard(browser, live.url);
    // The page's own fleet query answered (null) before looking.
    await poll(() => d!.page.getByTestId('fleet').getAttribute('data-answered')).toBe('');
    await poll(() => d!.page.getByTestId('bus-chip').count()).toBeGreaterThan(0);
    expect(await d.page.getByTestId('fleet').isHidden()).toBe(true);
    expect(d.errors).toEqual([]);
  });

  it('killed: the page shows the rows waiting, since when and why; back: they drain to nothing waiting', async () => {
    nats = await startNatsServer();
    const nc = await connect({ servers: nats.url });
    await (await jetstreamManager(nc)).streams.add({ name: 'POWERPLANE', subjects: ['pp.*.events', 'pp.*.samples', 'pp.*.sessions', 'pp.*.status'] });
    await nc.close();
    live = await startLiveServer({ speed: 10 });
    const fleet = fleetSchema.parse({ siteId: 'web-site', natsUrl: nats.url, statusIntervalS: 1 });
    outbox = new FleetOutbox({ store: live.store, clock: live.rig.engine.clock, log: silentLogger(), fleet, pollMs: 50, maxRetryMs: 300, ackTimeoutMs: 1000 });
    attachOutbox(live.rig.engine, outbox);
    outbox.start();
    d = await openDashboard(browser, live.url);
    const chip = d.page.getByTestId('fleet-chip');

    await poll(() => chip.getAttribute('data-state')).toBe('up');
    await poll(() => chip.textContent()).toMatch(/^Fleet \(site web-site\): connected to the fleet/);
    await screenshot(d.page, 'fleet-connected');

    await nats.kill();
    await poll(() => chip.getAttribute('data-state')).toBe('down');
    // Rows wait, and more of them as the rig samples on.
    const first = Number(await chip.getAttribute('data-backlog'));
    expect(first).toBeGreaterThan(0);
    await poll(async () => Number(await chip.getAttribute('data-backlog'))).toBeGreaterThan(first);
    const text = (await chip.textContent())!;
    expect(text).toMatch(/^Fleet \(site web-site\): offline since \d\d:\d\d \([^)]+\) — [\d,]+ rows? waiting \([^)]*samples?[^)]*\), the oldest from .+ ago; they are kept here and sent when the fleet is back\. .+/);
    // The reason names the server and says what happens (the connection is retried by itself).
    expect(text).toContain(`NATS at ${nats.url} did not acknowledge`);
    // The number shown is the API's, with its thousands separators.
    const shown = Number(/— ([\d,]+) rows? waiting/.exec(text)![1]!.replace(/,/g, ''));
    expect(shown).toBeGreaterThan(0);
    await screenshot(d.page, 'fleet-offline');

    await nats.start();
    await poll(() => chip.getAttribute('data-state')).toBe('up');
    await poll(() => chip.getAttribute('data-backlog')).toBe('0');
    expect(await chip.textContent()).toBe('Fleet (site web-site): connected to the fleet — nothing waiting');
    expect(outbox.backlog().lastError).toBeNull();
    await screenshot(d.page, 'fleet-drained');
    expect(d.errors).toEqual([]);
  });
});
