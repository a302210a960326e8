/**
 * The dashboard's live picture of the rig: one snapshot query per part, then subscriptions
 * keep it current. Pages listen to topics; notifications are coalesced to one per animation
 * frame so a 50 Hz simulated rig does not re-render 50 times a second.
 */
import { gql, isUnsupported, onConnection, subscribe, ApiError, setApiToken } from './api.js';
import * as Q from './queries.js';
import type { Battery, Bus, Charger, Device, EventRecord, Feature, Loaded, SystemInfo, TelemetryPoint } from './types.js';

export type Topic = 'system' | 'devices' | 'buses' | 'chargers' | 'batteries' | 'events' | 'conn';

const EVENT_CAP = 500;

export const state = {
  system: null as SystemInfo | null,
  /** Last error of the snapshot query (shown on the overview). */
  loadError: null as string | null,
  devices: new Map<string, Device>(),
  buses: [] as Bus[],
  chargers: { status: 'loading' } as Loaded<Charger>,
  batteries: { status: 'loading' } as Feature<Battery>,
  /** Newest first. */
  events: [] as EventRecord[],
  /** The latest server timestamp seen (ms). The simulated rig's clock can run faster than real time. */
  serverNow: null as number | null,
  /**
   * Set while the picture on screen is the last known state kept in this browser (the server
   * has not answered since the page opened): when it was saved, in browser time.
   */
  cachedAt: null as number | null,
};

const SNAPSHOT_KEY = 'powerplane.lastState';
/** The lists on screen that came from the kept picture, not from the server yet. */
const fromSnapshot = new Set<'chargers' | 'batteries'>();
let lastSave = 0;

/** Keeps the last known state in this browser (at most every 5 s), for a page opened while the server is away. */
function saveSnapshot(): void {
  if (state.cachedAt !== null || Date.now() - lastSave < 5000 || !state.devices.size) return;
  lastSave = Date.now();
  try {
    localStorage.setItem(SNAPSHOT_KEY, JSON.stringify({
      savedAt: Date.now(),
      serverNow: state.serverNow,
      system: state.system,
      devices: [...state.devices.values()],
      buses: state.buses,
      chargers: state.chargers.status === 'ok' ? state.chargers.items : null,
      batteries: state.batteries.status === 'ok' ? state.batteries.items : null,
    }));
  } catch {
    /* storage full or disabled: nothing kept */
  }
}

/** Shows the last known state kept in this browser until the server answers; true when there was one. */
export function restoreSnapshot(): boolean {
  try {
    const raw = localStorage.getItem(SNAPSHOT_KEY);
    if (!raw) return false;
    const s = JSON.parse(raw) as { savedAt: number; serverNow: number | null; system: SystemInfo | null; devices: Device[]; buses: Bus[]; chargers: Charger[] | null; batteries: Battery[] | null };
    state.cachedAt = s.savedAt;
    state.system = s.system;
    // Every device of a kept picture is shown as not live: its values are as old as the picture.
    state.devices = new Map(s.devices.map((d) => [d.id, { ...d, online: false }]));
    state.buses = s.buses;
    if (s.chargers) {
      state.chargers = { status: 'ok', items: s.chargers };
      fromSnapshot.add('chargers');
    }
    if (s.batteries) {
      state.batteries = { status: 'ok', items: s.batteries };
      fromSnapshot.add('batteries');
    }
    state.serverNow = s.serverNow;
    for (const t of ['system', 'devices', 'buses', 'chargers', 'batteries', 'conn'] as const) notify(t);
    return true;
  } catch {
    return false;
  }
}

const listeners = new Map<Topic, Set<() => void>>();
const pending = new Set<Topic>();
let frame = 0;

export function listen(topics: Topic[], fn: () => void): () => void {
  for (const t of topics) {
    if (!listeners.has(t)) listeners.set(t, new Set());
    listeners.get(t)!.add(fn);
  }
  return () => {
    for (const t of topics) listeners.get(t)?.delete(fn);
  };
}

export function notify(t: Topic): void {
  pending.add(t);
  if (frame) return;
  const flush = () => {
    frame = 0;
    const fns = new Set<() => void>();
    for (const topic of pending) for (const fn of listeners.get(topic) ?? []) fns.add(fn);
    pending.clear();
    for (const fn of fns) fn();
  };
  // rAF does not run in a hidden tab; a timer keeps the picture current there too.
  frame = document.hidden ? (setTimeout(flush, 250) as unknown as number) : requestAnimationFrame(flush);
}

export function seeServerTime(iso: string | null | undefined): void {
  if (!iso) return;
  const t = Date.parse(iso);
  if (Number.isFinite(t) && (state.serverNow === null || t > state.serverNow)) state.serverNow = t;
}

/** Server "now" for history windows: the newest server timestamp seen, else the browser clock. */
export function serverNow(): number {
  return state.serverNow ?? Date.now();
}

export function deviceName(id: string | null | undefined): string {
  if (!id) return '';
  if (id === 'all') return 'all rectifiers';
  const d = state.devices.get(id);
  if (d) return d.name;
  if (state.chargers.status === 'ok') {
    const c = state.chargers.items.find((x) => x.id === id);
    if (c) return c.name;
  }
  if (state.batteries.status === 'ok') {
    const b = state.batteries.items.find((x) => x.id === id);
    if (b) return b.name;
  }
  return id;
}

export function psus(): Device[] {
  return [...state.devices.values()].filter((d) => d.__typename === 'Flatpack2Psu');
}

export function busOf(deviceId: string): Bus | undefined {
  const d = state.devices.get(deviceId);
  return d ? state.buses.find((b) => b.id === d.busId) : state.buses[0];
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

let askedForToken = false;

async function loadOverview(): Promise<void> {
  try {
    const r = await gql<{ system: SystemInfo; devices: Device[]; buses: Bus[] }>(Q.OVERVIEW);
    state.system = r.system;
    state.cachedAt = null;
    state.devices = new Map(r.devices.map((d) => [d.id, d]));
    state.buses = r.buses;
    state.loadError = null;
    for (const d of r.devices) seeServerTime(d.lastSeen);
  } catch (e) {
    state.loadError = message(e);
    // A server with tokens refuses reads too: ask once for a token, keep it, load again.
    if (e instanceof ApiError && e.code === 'UNAUTHENTICATED' && !askedForToken) {
      askedForToken = true;
      const token = window.prompt('This powerplane server needs an API token (server.tokens in its config):')?.trim();
      if (token) {
        setApiToken(token);
        refreshAll();
        return;
      }
    }
  }
  notify('system');
  notify('devices');
  notify('buses');
}

export async function loadBuses(): Promise<void> {
  try {
    state.buses = (await gql<{ buses: Bus[] }>(Q.BUSES)).buses;
    notify('buses');
  } catch {
    /* the next snapshot retries */
  }
}

export async function loadChargers(): Promise<void> {
  try {
    const r = await gql<{ chargers: Charger[] }>(Q.CHARGERS);
    state.chargers = { status: 'ok', items: r.chargers };
    fromSnapshot.delete('chargers');
  } catch (e) {
    // A list kept from an earlier visit gives way to the server's answer when the server did answer
    // (whether or not the overview loaded first: that race left a refused list looking fine).
    if (state.chargers.status !== 'ok' || (fromSnapshot.has('chargers') && e instanceof ApiError && e.code !== 'NETWORK')) {
      state.chargers = { status: 'error', message: message(e) };
      fromSnapshot.delete('chargers');
    }
  }
  notify('chargers');
}

let lastBatteryLoad = 0;
let batteryLoadQueued = false;
export async function loadBatteries(): Promise<void> {
  lastBatteryLoad = Date.now();
  try {
    const r = await gql<{ batteries: Battery[] }>(Q.BATTERIES);
    state.batteries = { status: 'ok', items: r.batteries };
    fromSnapshot.delete('batteries');
  } catch (e) {
    if (isUnsupported(e)) state.batteries = { status: 'unsupported', message: message(e) };
    else if (state.batteries.status !== 'ok' || (fromSnapshot.has('batteries') && e instanceof ApiError && e.code !== 'NETWORK')) state.batteries = { status: 'error', message: message(e) };
    if (state.batteries.status !== 'ok') fromSnapshot.delete('batteries');
  }
  notify('batteries');
}

/** Battery values have no subscription of their own: refetch (at most once a second) when its telemetry moves. */
function batteryMoved(): void {
  if (batteryLoadQueued) return;
  const wait = Math.max(0, 1000 - (Date.now() - lastBatteryLoad));
  batteryLoadQueued = true;
  setTimeout(() => {
    batteryLoadQueued = false;
    void loadBatteries();
  }, wait);
}

export async function loadEvents(): Promise<void> {
  try {
    const r = await gql<{ events: { edges: Array<{ node: EventRecord }> } }>(Q.EVENTS, { first: 200 });
    mergeEvents(r.events.edges.map((e) => e.node));
  } catch {
    /* shown as empty; live events still arrive */
  }
}

/** Adds events (any order) to the newest-first buffer, without duplicates. */
export function mergeEvents(items: EventRecord[]): void {
  const byId = new Map(state.events.map((e) => [e.id, e]));
  for (const e of items) {
    byId.set(e.id, e);
    seeServerTime(e.at);
  }
  state.events = [...byId.values()].sort((a, b) => Number(b.id) - Number(a.id)).slice(0, EVENT_CAP);
  notify('events');
}

function refreshAll(): void {
  void loadOverview();
  void loadChargers();
  void loadBatteries();
  void loadEvents();
}

const batteryTelemetry = new Map<string, () => void>();
let chargerSubStop: (() => void) | null = null;

/** Starts the snapshot queries and the subscriptions that keep them live. */
export function startStore(): void {
  restoreSnapshot();
  refreshAll();
  listen(['devices', 'chargers'], saveSnapshot);
  onConnection((s, reconnected) => {
    notify('conn');
    // Anything may have happened while we were away (server restart, new devices): refetch.
    if (s === 'live' && reconnected) refreshAll();
  });

  subscribe<{ deviceChanged: Device }>(Q.SUB_DEVICES, undefined, ({ deviceChanged: d }) => {
    const known = state.devices.get(d.id);
    state.devices.set(d.id, { ...known, ...d });
    seeServerTime(d.lastSeen);
    notify('devices');
    // The broadcast setpoint and link state live on the bus; a device change is the cue.
    if (d.setpoint && known?.setpoint?.at !== d.setpoint.at) void loadBuses();
    // Battery values come from their own query; a change of the battery device is the cue.
    if (d.__typename === 'Battery') batteryMoved();
  });

  subscribe<{ events: EventRecord }>(Q.SUB_EVENTS, undefined, ({ events: e }) => {
    mergeEvents([e]);
    if (e.type.startsWith('link.')) void loadBuses();
    if (e.type.startsWith('charger.') || e.type.startsWith('charge.')) void loadChargers();
    if (e.type.startsWith('battery.') || e.type.startsWith('bms.')) batteryMoved();
  });

  // The battery part of the API may be missing on this server; its page then says so.
  listen(['chargers'], () => {
    if (state.chargers.status === 'ok' && !chargerSubStop) {
      chargerSubStop = subscribe<{ chargeProgress: Charger }>(Q.SUB_CHARGERS, undefined, ({ chargeProgress: c }) => {
        if (state.chargers.status !== 'ok') return;
        const items = state.chargers.items.filter((x) => x.id !== c.id);
        const at = state.chargers.items.findIndex((x) => x.id === c.id);
        items.splice(at < 0 ? items.length : at, 0, c);
        state.chargers = { status: 'ok', items };
        notify('chargers');
      });
    }
  });
  listen(['batteries'], () => {
    if (state.batteries.status !== 'ok') return;
    for (const b of state.batteries.items) {
      if (batteryTelemetry.has(b.id)) continue;
      batteryTelemetry.set(b.id, subscribe<{ telemetry: TelemetryPoint }>(Q.SUB_TELEMETRY, { id: b.id }, batteryMoved));
    }
  });
  // A slow safety net for anything without a subscription.
  setInterval(() => {
    void loadChargers();
    if (state.batteries.status !== 'unsupported') void loadBatteries();
  }, 10_000);
}

export { ApiError };
