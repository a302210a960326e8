/**
 * Liveness and readiness, for people and for supervisors (systemd, Docker, a load balancer).
 *
 * - `/livez`: the process is up and serving (always 200 while it answers).
 * - `/healthz`: 503 when the server cannot do its job safely without a person: the database
 *   cannot be written (the fail-safe has stopped every charge). Its JSON carries the whole
 *   readiness detail below.
 * - `/readyz`: 503 unless everything is ready: the store writable, every CAN link up, no
 *   charger in ERROR; `reasons` lists what is not, each naming the part and what to do.
 */
import type { Engine } from './engine.js';

export interface HealthReport {
  /** /healthz verdict: the process is up and its store can write. */
  ok: boolean;
  live: true;
  /** /readyz verdict: store writable, every link up, no charger in ERROR. */
  ready: boolean;
  simulated: boolean;
  store: { writable: boolean; error: string | null; code: string | null; since: string | null; failures: number };
  links: Array<{ bus: string; kind: string; state: string; detail: string }>;
  chargers: Array<{ id: string; phase: string; stopReason: string | null }>;
  /** Why not ready (empty when ready). */
  reasons: string[];
}

export function healthReport(engine: Engine): HealthReport {
  const s = engine.storageHealth;
  const reasons: string[] = [];
  if (!s.writable) reasons.push(`store: the database cannot be written (${s.error}); every charge was stopped and every bus put in standby — free space on its disk or fix its permissions`);
  const links = engine.listBuses().map((b) => ({ bus: b.id, kind: b.kind, state: b.linkState, detail: b.linkDetail }));
  for (const l of links) if (l.state !== 'up') reasons.push(`link ${l.bus}: ${l.state}${l.detail ? ` (${l.detail})` : ''} — check the USB-CAN adapter and its cable`);
  const chargers = engine.listChargers().map((c) => ({ id: c.id, phase: c.phase, stopReason: c.stopReason }));
  for (const c of chargers) if (c.phase === 'error') reasons.push(`charger ${c.id}: ERROR (${c.stopReason ?? 'no reason recorded'}) — see its events, then start it again`);
  return {
    ok: s.writable,
    live: true,
    ready: reasons.length === 0,
    simulated: engine.simulated,
    store: { writable: s.writable, error: s.error, code: s.code, since: s.since === null ? null : new Date(s.since).toISOString(), failures: s.failures },
    links,
    chargers,
    reasons,
  };
}

/** The answer for a health path (`/livez`, `/healthz`, `/readyz`, query string ignored), or null for any other path. */
export function healthResponse(engine: Engine, url: string): { status: number; body: unknown } | null {
  const path = url.split('?', 1)[0];
  if (path === '/livez') return { status: 200, body: { ok: true, live: true } };
  if (path !== '/healthz' && path !== '/readyz') return null;
  const r = healthReport(engine);
  const pass = path === '/healthz' ? r.ok : r.ready;
  return { status: pass ? 200 : 503, body: r };
}
