/**
 * The overview's fleet chip: this site's forwarding to the fleet (connected, or offline since
 * when, and what waits), read with the `fleet` query every few seconds while the page is open.
 * Hidden when the server has no fleet: configured (the query answers null; then asked again
 * only after a reconnect or a minute) or no such field.
 */
import { gql, isUnsupported, onConnection } from './api.js';
import { h, setAttr, setText } from './dom.js';
import { fleetWords, type FleetView } from './flow/fleet-words.js';
import * as Q from './queries.js';
import { serverNow } from './store.js';
import type { FleetQuery } from './generated/graphql.js';

const EVERY_MS = 4000;
const IDLE_MS = 60_000;

export function fleetChip(): { el: HTMLElement; stop(): void } {
  const chip = h('span', { class: 'chip chip-fleet', 'data-testid': 'fleet-chip', role: 'status' });
  const el = h('div', { class: 'chips', 'data-testid': 'fleet', hidden: true }, chip);
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const paint = (f: FleetView | null) => {
    setAttr(el, 'data-answered', ''); // the server said (tests wait for it before looking)
    el.hidden = !f;
    if (!f) return;
    const w = fleetWords(f, serverNow());
    setText(chip, w.text);
    setAttr(chip, 'data-state', w.state);
    setAttr(chip, 'data-backlog', String(f.backlog));
  };
  let gen = 0; // one polling chain: a newer refresh (a reconnect) takes over from one in flight
  const refresh = async () => {
    clearTimeout(timer);
    const mine = ++gen;
    try {
      const f = (await gql<FleetQuery>(Q.FLEET)).fleet ?? null;
      if (mine !== gen || stopped) return;
      paint(f);
      // fleet: is read at the server's start, so a null stays (asked again after a reconnect, and
      // once a minute in case the page asked in the moment before the forwarding was attached).
      if (!f) {
        if (!stopped) timer = setTimeout(() => void refresh(), IDLE_MS);
        return;
      }
    } catch (e) {
      if (mine !== gen || stopped) return;
      // A server without this part of the API: nothing to show, nothing to ask again.
      if (isUnsupported(e)) {
        paint(null);
        return;
      }
      // Unreachable server or refused read: the chip keeps its last words; the page says why elsewhere.
    }
    if (!stopped) timer = setTimeout(() => void refresh(), EVERY_MS);
  };
  const offConn = onConnection((s, reconnected) => {
    if (s === 'live' && reconnected) void refresh();
  });
  void refresh();
  return {
    el,
    stop() {
      stopped = true;
      clearTimeout(timer);
      offConn();
    },
  };
}
