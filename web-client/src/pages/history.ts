/**
 * History: Vout+Iout, delivered Ah, delivered Wh, battery SOC and cell delta over 15 min / 1 h
 * / 12 h / 7 d, with the CC→CV transition marked; charge sessions with a chart each; CSV of
 * any chart. A window is loaded downsampled from the server, then extended live from the
 * telemetry subscription at the same resolution.
 */
import { gql, isUnsupported, subscribe } from '../api.js';
import { TimeChart, type Marker, type SeriesDef } from '../chart.js';
import { fmt, fmtDate, fmtDateTime, fmtDuration, fmtTime, h, replaceChildren, setAttr, setText } from '../dom.js';
import * as Q from '../queries.js';
import { deviceName, listen, psus, seeServerTime, serverNow, state } from '../store.js';
import type { ChargeSessionDetail, ChargeSessionSummary, TelemetryPoint } from '../types.js';
import type { Page } from '../page.js';

const WINDOWS = [
  { key: '15m', label: '15 min', ms: 15 * 60_000 },
  { key: '1h', label: '1 h', ms: 3600_000 },
  { key: '12h', label: '12 h', ms: 12 * 3600_000 },
  { key: '7d', label: '7 d', ms: 7 * 24 * 3600_000 },
] as const;
type WindowKey = (typeof WINDOWS)[number]['key'];
const MAX_POINTS = 600;

let windowKey: WindowKey = '1h';
let sourceId: string | null = null;

type Values = TelemetryPoint['values'];
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** One device's telemetry over the window: loaded once, then appended live. */
class Feed {
  xs: number[] = [];
  vals: Values[] = [];
  loaded = false;
  private early: TelemetryPoint[] = [];
  private readonly stopSub: () => void;
  private readonly bucketMs: number;

  constructor(readonly deviceId: string, private readonly windowMs: number, private readonly changed: () => void) {
    this.bucketMs = windowMs / MAX_POINTS;
    this.stopSub = subscribe<{ telemetry: TelemetryPoint }>(Q.SUB_TELEMETRY, { id: deviceId }, ({ telemetry: p }) => {
      if (this.loaded) this.add(p);
      else this.early.push(p);
    });
  }

  async load(): Promise<void> {
    const from = new Date(serverNow() - this.windowMs).toISOString();
    try {
      const r = await gql<{ telemetry: { nodes: TelemetryPoint[] } }>(Q.TELEMETRY, { id: this.deviceId, from, maxPoints: MAX_POINTS });
      for (const p of r.telemetry.nodes) {
        this.xs.push(Date.parse(p.at));
        this.vals.push(p.values);
      }
    } catch {
      /* an unknown device or a server without this history: the chart says "no data" */
    }
    this.loaded = true;
    for (const p of this.early) this.add(p);
    this.early = [];
    this.changed();
  }

  private add(p: TelemetryPoint): void {
    const t = Date.parse(p.at);
    seeServerTime(p.at);
    const last = this.xs[this.xs.length - 1];
    // Keep the resolution of the loaded window: at most one live point per bucket.
    if (last !== undefined && t - last < this.bucketMs) return;
    this.xs.push(t);
    this.vals.push(p.values);
    const cutoff = t - this.windowMs;
    let drop = 0;
    while (drop < this.xs.length && this.xs[drop] < cutoff) drop++;
    if (drop) {
      this.xs.splice(0, drop);
      this.vals.splice(0, drop);
    }
    this.changed();
  }

  destroy(): void {
    this.stopSub();
  }
}

interface ChartSpec {
  key: string;
  title: string;
  series: SeriesDef[];
  /** Fixed axis ranges (a SOC reads best on 0–100 %). */
  ranges?: { left?: [number, number]; right?: [number, number] };
  /** The feed that supplies it and how to read each series from a point. */
  source: () => { deviceId: string; read: Array<(v: Values) => number | null> } | null;
  missing: () => string;
}

function isCharger(id: string | null): boolean {
  return !!id && state.chargers.status === 'ok' && state.chargers.items.some((c) => c.id === id);
}
const firstCharger = () => (state.chargers.status === 'ok' ? (state.chargers.items[0] ?? null) : null);
const firstBattery = () => (state.batteries.status === 'ok' ? (state.batteries.items[0] ?? null) : null);

const CHARGING = new Set(['detect', 'ramp', 'CC', 'CV', 'paused']);

/** The chosen source, else a charger that is charging, else the first charger (its last charge), else the first rectifier. */
function outputSource(): string | null {
  const chargers = state.chargers.status === 'ok' ? state.chargers.items : [];
  const options = [...chargers.map((c) => c.id), ...psus().map((p) => p.id)];
  if (sourceId && options.includes(sourceId)) return sourceId;
  return chargers.find((c) => CHARGING.has(c.phase))?.id ?? chargers[0]?.id ?? psus()[0]?.id ?? options[0] ?? null;
}

const CHARTS: ChartSpec[] = [
  {
    key: 'output',
    title: 'Output voltage and current',
    series: [
      { label: 'Vout', unit: 'V', color: '#5cc8ff', digits: 2 },
      { label: 'Iout', unit: 'A', color: '#f78c6c', axis: 'right', digits: 1 },
    ],
    source: () => {
      const id = outputSource();
      if (!id) return null;
      return isCharger(id)
        ? { deviceId: id, read: [(v) => num(v.voltageV), (v) => num(v.currentA)] }
        : { deviceId: id, read: [(v) => num(v.outputVoltageV), (v) => num(v.outputCurrentA)] };
    },
    missing: () => 'No rectifier or charger found yet.',
  },
  {
    key: 'ah',
    title: 'Delivered charge',
    series: [{ label: 'Delivered', unit: 'Ah', color: '#7fd962', digits: 2 }],
    source: () => (firstCharger() ? { deviceId: firstCharger()!.id, read: [(v) => num(v.ah)] } : null),
    missing: () => 'No charger configured: delivered Ah appear here while a charger runs.',
  },
  {
    key: 'wh',
    title: 'Delivered energy',
    series: [{ label: 'Delivered', unit: 'Wh', color: '#c792ea', digits: 0 }],
    source: () => (firstCharger() ? { deviceId: firstCharger()!.id, read: [(v) => num(v.wh)] } : null),
    missing: () => 'No charger configured: delivered Wh appear here while a charger runs.',
  },
  {
    key: 'battery',
    title: 'Battery SOC and cell delta',
    ranges: { left: [0, 100] },
    series: [
      { label: 'SOC', unit: '%', color: '#ffcb6b', digits: 1 },
      { label: 'Cell Δ', unit: 'mV', color: '#ff5370', axis: 'right', digits: 0 },
    ],
    source: () => {
      const b = firstBattery();
      return b ? { deviceId: b.id, read: [(v) => num(v.socPct), (v) => (num(v.cellDeltaV) === null ? null : num(v.cellDeltaV)! * 1000)] } : null;
    },
    missing: () => 'No battery configured: SOC and cell delta appear here when a BMS is linked.',
  },
];

function ccToCvMarkers(sessions: ChargeSessionSummary[]): Marker[] {
  return sessions.filter((s) => s.ccToCvAt).map((s) => ({ atMs: Date.parse(s.ccToCvAt!), label: 'CC→CV' }));
}

export const historyPage: Page = {
  path: 'history',
  title: 'History',
  mount(root) {
    const windowButtons = WINDOWS.map((w) =>
      h('button', { type: 'button', class: 'seg', 'data-window': w.key, 'aria-pressed': String(w.key === windowKey), onclick: () => setWindow(w.key) }, w.label),
    );
    const sourceSelect = h('select', { id: 'history-source', 'aria-label': 'Source of the output chart' });
    sourceSelect.addEventListener('change', () => {
      sourceId = sourceSelect.value;
      rebuild();
    });
    const chartsBox = h('div', { class: 'charts' });
    const sessionsBox = h('section', { class: 'card', 'aria-labelledby': 'sessions-title' });
    const sessionChartBox = h('div', { class: 'session-detail' });
    root.append(
      h('h1', { class: 'page-title' }, 'History'),
      h('div', { class: 'toolbar-row' },
        h('div', { class: 'segmented', role: 'group', 'aria-label': 'Time window' }, windowButtons),
        h('label', { class: 'inline-label', for: 'history-source' }, 'Output of', sourceSelect),
      ),
      chartsBox,
      sessionsBox,
      sessionChartBox,
    );

    let feeds = new Map<string, Feed>();
    let charts: Array<{ spec: ChartSpec; chart: TimeChart | null; placeholder: HTMLElement | null }> = [];
    let sessions: ChargeSessionSummary[] = [];
    let sessionsSupported = true;
    let sessionChart: TimeChart | null = null;
    let frame = 0;
    let sig = '';

    const draw = () => {
      frame = 0;
      const markers = ccToCvMarkers(sessions);
      for (const c of charts) {
        if (!c.chart) continue;
        const src = c.spec.source();
        const feed = src && feeds.get(src.deviceId);
        if (!src || !feed) continue;
        c.chart.setData(feed.xs.slice(), src.read.map((r) => feed.vals.map(r)));
        c.chart.setMarkers(c.spec.key === 'battery' ? [] : markers);
      }
    };
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(draw);
    };

    const fillSources = () => {
      const opts = [
        ...(state.chargers.status === 'ok' ? state.chargers.items.map((c) => [c.id, `${c.name} (charger)`]) : []),
        ...psus().map((p) => [p.id, p.name]),
      ];
      const want = outputSource() ?? '';
      const s = JSON.stringify(opts);
      if (sourceSelect.dataset.sig !== s) {
        sourceSelect.dataset.sig = s;
        replaceChildren(sourceSelect, opts.map(([id, name]) => h('option', { value: id }, name)));
      }
      sourceSelect.value = want;
      sourceSelect.disabled = !opts.length;
    };

    /** (Re)creates the charts and feeds for the current window, sources and available devices. */
    const rebuild = () => {
      fillSources();
      const w = WINDOWS.find((x) => x.key === windowKey)!;
      const nextSig = JSON.stringify([windowKey, CHARTS.map((c) => c.source()?.deviceId ?? null)]);
      if (nextSig === sig) return;
      sig = nextSig;
      for (const f of feeds.values()) f.destroy();
      for (const c of charts) c.chart?.destroy();
      feeds = new Map();
      charts = CHARTS.map((spec) => {
        const src = spec.source();
        if (!src) return { spec, chart: null, placeholder: h('div', { class: 'card chart-missing', 'data-testid': `chart-${spec.key}` }, h('p', { class: 'chart-title' }, spec.title), h('p', { class: 'muted' }, spec.missing())) };
        const title = spec.key === 'output' ? `${spec.title} — ${deviceName(src.deviceId)}` : spec.title;
        // Every chart of the page on the same window, ending at the server's now.
        const chart = new TimeChart({ title, testId: `chart-${spec.key}`, series: spec.series, ranges: spec.ranges, csvName: () => `powerplane-${spec.key}-${windowKey}`, window: () => [serverNow() - w.ms, serverNow()] });
        if (!feeds.has(src.deviceId)) {
          const feed = new Feed(src.deviceId, w.ms, schedule);
          feeds.set(src.deviceId, feed);
          void feed.load();
        }
        return { spec, chart, placeholder: null };
      });
      replaceChildren(chartsBox, charts.map((c) => c.chart?.el ?? c.placeholder));
      schedule();
    };

    const setWindow = (key: WindowKey) => {
      windowKey = key;
      for (const b of windowButtons) setAttr(b, 'aria-pressed', String(b.dataset.window === key));
      rebuild();
    };

    const renderSessions = () => {
      if (!sessionsSupported) {
        replaceChildren(sessionsBox, h('h2', { id: 'sessions-title' }, 'Charge sessions'), h('p', { class: 'muted' }, 'No charge sessions (no charger configured).'));
        return;
      }
      // Four narrow columns so the list fits a phone without scrolling sideways.
      const rows = sessions.map((s) =>
        h('tr', { 'data-session-id': s.id, 'data-session-kind': s.kind },
          h('td', {}, fmtDate(s.startedAt), h('span', { class: 'block' }, fmtTime(s.startedAt)), h('span', { class: 'muted small block' }, s.endedAt ? fmtDuration(Date.parse(s.endedAt) - Date.parse(s.startedAt)) : 'running'),
            s.kind === 'ev' ? h('span', { class: 'muted small block' }, `EV · ${deviceName(s.chargerId)}`) : null),
          h('td', { class: 'wrap' }, s.outcome ?? (s.endedAt ? '—' : 'charging'), s.reason ? h('span', { class: 'muted small block' }, s.reason.replace(/_/g, ' ')) : null,
            s.faults.length ? h('span', { class: 'muted small block' }, `faults: ${s.faults.join(', ')}`) : null),
          s.kind === 'ev'
            ? h('td', { class: 'num' }, `${fmt(s.energyKWh, 2)} kWh`, h('span', { class: 'muted small block' }, `max ${fmt(s.peakCurrentA, 1)} A`), h('span', { class: 'muted small block' }, `avg ${fmt(s.avgCurrentA, 1)} A`))
            : h('td', { class: 'num' }, `${fmt(s.deliveredAh, 1)} Ah`, h('span', { class: 'muted small block' }, `${fmt(s.deliveredWh, 0)} Wh`), h('span', { class: 'muted small block' }, `peak ${fmt(s.peakCurrentA, 1)} A`)),
          h('td', {}, h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Show the charge session of ${fmtDateTime(s.startedAt)}`, onclick: () => void showSession(s) }, 'Chart')),
        ),
      );
      replaceChildren(sessionsBox,
        h('h2', { id: 'sessions-title' }, 'Charge sessions'),
        rows.length
          ? h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'session-table' },
              h('thead', {}, h('tr', {}, ['Started', 'Result', 'Delivered', ''].map((x) => h('th', { scope: 'col' }, x)))),
              h('tbody', {}, rows)))
          : h('p', { class: 'muted' }, 'No charge sessions yet.'),
      );
    };

    const loadSessions = async () => {
      try {
        const r = await gql<{ chargeSessions: { edges: Array<{ node: ChargeSessionSummary }> } }>(Q.SESSIONS, { first: 20 });
        sessions = r.chargeSessions.edges.map((e) => e.node);
        sessionsSupported = true;
      } catch (e) {
        if (isUnsupported(e)) sessionsSupported = false;
      }
      renderSessions();
      schedule();
    };

    const showSession = async (s: ChargeSessionSummary) => {
      sessionChart?.destroy();
      const ev = s.kind === 'ev';
      const chart = new TimeChart({
        title: `${ev ? `EV session (${deviceName(s.chargerId)})` : 'Session'} ${fmtDateTime(s.startedAt)}`,
        testId: 'chart-session',
        series: ev
          ? [
              { label: 'Power', unit: 'W', color: '#c792ea', digits: 0 },
              { label: 'Current', unit: 'A', color: '#f78c6c', axis: 'right', digits: 1 },
            ]
          : [
              { label: 'Voltage', unit: 'V', color: '#5cc8ff', digits: 2 },
              { label: 'Current', unit: 'A', color: '#f78c6c', axis: 'right', digits: 1 },
            ],
        csvName: () => `powerplane-session-${s.id}`,
      });
      sessionChart = chart;
      const phases = h('p', { class: 'muted small' }, 'Loading…');
      replaceChildren(sessionChartBox, chart.el, phases);
      chart.el.scrollIntoView({ block: 'nearest' });
      try {
        const r = await gql<{ chargeSession: ChargeSessionDetail | null }>(Q.SESSION, { id: s.id, maxPoints: 600 });
        const d = r.chargeSession;
        if (!d) throw new Error('this session is gone');
        chart.setData(d.samples.map((p) => Date.parse(p.at)), [d.samples.map((p) => (ev ? p.powerW : p.voltageV)), d.samples.map((p) => p.currentA)]);
        chart.setMarkers(d.ccToCvAt ? [{ atMs: Date.parse(d.ccToCvAt), label: 'CC→CV' }] : []);
        setText(
          phases,
          ev
            ? `${fmt(s.energyKWh, 2)} kWh · max ${fmt(s.peakCurrentA, 1)} A · avg ${fmt(s.avgCurrentA, 1)} A${s.reason ? ` · ended: ${s.reason.replace(/_/g, ' ')}` : ' · running'}${s.faults.length ? ` · faults: ${s.faults.join(', ')}` : ''}`
            : d.phases.map((p) => `${p.phase} ${fmtDateTime(p.startedAt)}`).join(' → ') || 'no phases recorded',
        );
      } catch (e) {
        setText(phases, `Cannot load the session: ${e instanceof Error ? e.message : String(e)}`);
      }
    };

    rebuild();
    void loadSessions();
    const stopListen = listen(['devices', 'chargers', 'batteries'], rebuild);
    // Sessions change when a charger changes phase or starts a new session, not on every progress tick.
    let chargerSig = '';
    const stopEvents = listen(['chargers'], () => {
      const s = state.chargers.status === 'ok' ? JSON.stringify(state.chargers.items.map((c) => [c.id, c.phase, c.session?.id])) : state.chargers.status;
      if (s === chargerSig) return;
      chargerSig = s;
      void loadSessions();
    });
    // EV sessions start and end with an EV charger's status (plugged, charging, …).
    let evSig = '';
    const stopEv = listen(['devices'], () => {
      const s = JSON.stringify([...state.devices.values()].filter((d) => d.__typename === 'EvCharger').map((d) => [d.id, d.status]));
      if (s === evSig) return;
      evSig = s;
      void loadSessions();
    });
    return () => {
      stopListen();
      stopEvents();
      stopEv();
      if (frame) cancelAnimationFrame(frame);
      for (const f of feeds.values()) f.destroy();
      for (const c of charts) c.chart?.destroy();
      sessionChart?.destroy();
    };
  },
};
