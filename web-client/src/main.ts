/**
 * powerplane dashboard: a client of the server's own GraphQL API, live through graphql-ws
 * subscriptions. Vanilla TypeScript modules (no framework): the pages are a handful of cards
 * whose values are updated in place, which keeps the bundle small and focus stable while
 * values change many times a second.
 */
import './styles.css';
import { connectionState, startConnection } from './api.js';
import { h, setAttr, setText } from './dom.js';
import { listen, startStore, state } from './store.js';
import { overviewPage } from './pages/overview.js';
import { rectifiersPage } from './pages/rectifiers.js';
import { chargerPage } from './pages/charger.js';
import { batteryPage } from './pages/battery.js';
import { historyPage } from './pages/history.js';
import { eventsPage } from './pages/events.js';
import { schedulePage } from './pages/schedule.js';
import { invertersPage } from './pages/inverters.js';
import type { Page } from './page.js';
import { age } from './flow/words.js';

const pages: Page[] = [overviewPage, rectifiersPage, chargerPage, batteryPage, invertersPage, historyPage, eventsPage, schedulePage];

const CONN_TEXT = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…' } as const;

function shell(): { main: HTMLElement; links: Map<string, HTMLAnchorElement> } {
  const conn = h('span', { class: 'conn', 'data-testid': 'conn-state', role: 'status', 'aria-live': 'polite' });
  const banner = h('div', { class: 'banner banner-sim', 'data-testid': 'sim-banner', hidden: true },
    h('strong', {}, 'Simulated rig'), ' — the built-in simulator is running; nothing here drives real hardware.');
  // When the server is away, say so in words, with the age of what is on screen.
  const offline = h('div', { class: 'banner banner-offline', 'data-testid': 'offline-banner', role: 'status', hidden: true });
  const links = new Map<string, HTMLAnchorElement>();
  const nav = h('nav', { class: 'tabs', 'aria-label': 'Pages' },
    pages.map((p) => {
      const a = h('a', { href: `#/${p.path}`, class: 'tab' }, p.title);
      links.set(p.path, a);
      return a;
    }),
  );
  const main = h('main', { id: 'page', tabindex: '-1' });
  const header = h('header', { class: 'top' },
    h('a', { class: 'brand', href: '#/overview', 'aria-label': 'powerplane overview' }, h('span', { class: 'bolt', 'aria-hidden': 'true' }, '⚡'), 'powerplane'),
    conn,
  );
  document.getElementById('app')!.append(h('div', { class: 'chrome' }, header, nav), offline, banner, main);

  const paint = () => {
    const s = connectionState();
    setText(conn, CONN_TEXT[s]);
    setAttr(conn, 'data-state', s);
    document.body.dataset.conn = s;
    banner.hidden = !state.system?.simulated;
    // Not while the first connection is simply being made.
    const away = (s === 'reconnecting' || (s === 'connecting' && performance.now() > 4000)) && (state.cachedAt !== null || state.devices.size > 0);
    offline.hidden = !away;
    if (away) {
      const since = state.cachedAt ?? lastLive;
      setText(offline, `The server cannot be reached — showing the last known state${since ? ` from ${age(Date.now() - since)}` : ''}. It updates by itself when the server is back.`);
    } else lastLive = Date.now();
  };
  let lastLive = 0;
  listen(['conn', 'system', 'devices'], paint);
  setInterval(paint, 5000);
  paint();
  return { main, links };
}

function start(): void {
  const { main, links } = shell();
  let unmount: (() => void) | null = null;
  const route = () => {
    const path = location.hash.replace(/^#\/?/, '').split('?')[0] || 'overview';
    const page = pages.find((p) => p.path === path) ?? pages[0];
    unmount?.();
    main.replaceChildren();
    main.dataset.page = page.path;
    for (const [p, a] of links) setAttr(a, 'aria-current', p === page.path ? 'page' : null);
    document.title = `${page.title} · powerplane`;
    unmount = page.mount(main);
  };
  window.addEventListener('hashchange', route);
  // The app shell works without the server (web-client/public/sw.js); the API is never cached.
  if ('serviceWorker' in navigator && window.isSecureContext) void navigator.serviceWorker.register('/sw.js').catch(() => {});
  startConnection();
  startStore();
  route();
}

start();
