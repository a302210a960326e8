/**
 * A time-series chart (uPlot) with a dark theme, one or two y axes, vertical markers (the
 * CC→CV transition) and a CSV download of exactly the data it shows.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h, setText } from './dom.js';

export interface SeriesDef {
  label: string;
  unit: string;
  color: string;
  /** 'left' (default) or 'right' y axis. */
  axis?: 'left' | 'right';
  digits: number;
}

export interface Marker {
  atMs: number;
  label: string;
}

const AXIS = { stroke: '#9aa4b2', grid: { stroke: 'rgba(255,255,255,0.07)', width: 1 }, ticks: { stroke: 'rgba(255,255,255,0.15)', width: 1 } };

export class TimeChart {
  readonly el: HTMLElement;
  private readonly plotBox: HTMLElement;
  private readonly empty: HTMLElement;
  private plot: uPlot | null = null;
  private xsMs: number[] = [];
  private ys: Array<Array<number | null>> = [];
  private markers: Marker[] = [];
  private readonly resize: ResizeObserver;

  constructor(private readonly opts: { title: string; testId: string; series: SeriesDef[]; csvName: () => string; ranges?: { left?: [number, number]; right?: [number, number] };
    /** The time window [from, to] in ms every chart of a page shares; default: the data's own span. */
    window?: () => [number, number] }) {
    this.plotBox = h('div', { class: 'chart-plot' });
    this.empty = h('p', { class: 'chart-empty' }, 'No data in this window yet.');
    this.el = h('figure', { class: 'chart card', 'data-testid': opts.testId, 'data-points': 0 },
      h('figcaption', { class: 'chart-head' },
        h('span', { class: 'chart-title' }, opts.title),
        h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Download CSV: ${opts.title}`, onclick: () => this.download() }, 'CSV'),
      ),
      this.plotBox,
      this.empty,
    );
    this.ys = opts.series.map(() => []);
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(this.plotBox);
  }

  private fit(): void {
    const width = Math.floor(this.plotBox.clientWidth);
    if (width < 50) return;
    const height = Math.max(180, Math.min(280, Math.round(width * 0.55)));
    if (!this.plot) this.create(width, height);
    else if (this.plot.width !== width) this.plot.setSize({ width, height });
  }

  private create(width: number, height: number): void {
    const hasRight = this.opts.series.some((s) => s.axis === 'right');
    const leftUnit = this.opts.series.find((s) => s.axis !== 'right')?.unit ?? '';
    const rightUnit = this.opts.series.find((s) => s.axis === 'right')?.unit ?? '';
    const axes: uPlot.Axis[] = [
      { ...AXIS, space: 70, values: (_u, splits) => timeLabels(splits) },
      { ...AXIS, scale: 'left', size: 52, label: leftUnit, labelSize: 14, values: (_u, vals) => vals.map((v) => trim(v)) },
    ];
    if (hasRight) axes.push({ ...AXIS, scale: 'right', side: 1, size: 52, label: rightUnit, labelSize: 14, grid: { show: false }, values: (_u, vals) => vals.map((v) => trim(v)) });
    this.plot = new uPlot(
      {
        width,
        height,
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        scales: {
          x: this.opts.window ? { time: true, auto: false, range: () => { const [a, b] = this.opts.window!(); return [a / 1000, b / 1000]; } } : { time: true },
          left: this.opts.ranges?.left ? { auto: false, range: this.opts.ranges.left } : { auto: true },
          right: this.opts.ranges?.right ? { auto: false, range: this.opts.ranges.right } : { auto: true },
        },
        axes,
        series: [
          // Without a cursor the legend shows the latest values (the chart's "now").
          { label: 'time', value: (u, v, _s, idx) => fmtClock(idx == null ? lastOf(u.data[0]) : v) },
          ...this.opts.series.map((s) => ({
            label: `${s.label} (${s.unit})`,
            stroke: s.color,
            width: 1.5,
            scale: s.axis === 'right' ? 'right' : 'left',
            spanGaps: false,
            points: { show: false },
            value: (u: uPlot, v: number | null, sidx: number, idx: number | null) => {
              const x = idx == null ? lastOf(u.data[sidx] as Array<number | null>) : v;
              return x == null ? '—' : x.toFixed(s.digits);
            },
          })),
        ],
        hooks: { draw: [(u) => this.drawMarkers(u)] },
      },
      this.data(),
      this.plotBox,
    );
  }

  private data(): uPlot.AlignedData {
    return [this.xsMs.map((t) => t / 1000), ...this.ys] as uPlot.AlignedData;
  }

  private drawMarkers(u: uPlot): void {
    if (!this.markers.length) return;
    const { ctx, bbox } = u;
    ctx.save();
    ctx.strokeStyle = '#f5b83d';
    ctx.fillStyle = '#f5b83d';
    ctx.lineWidth = Math.max(1, devicePixelRatio);
    ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
    ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    for (const m of this.markers) {
      const x = u.valToPos(m.atMs / 1000, 'x', true);
      if (!(x >= bbox.left && x <= bbox.left + bbox.width)) continue;
      ctx.beginPath();
      ctx.moveTo(x, bbox.top);
      ctx.lineTo(x, bbox.top + bbox.height);
      ctx.stroke();
      const w = ctx.measureText(m.label).width;
      ctx.fillText(m.label, Math.min(x + 4 * devicePixelRatio, bbox.left + bbox.width - w), bbox.top + 12 * devicePixelRatio);
    }
    ctx.restore();
  }

  setData(xsMs: number[], ys: Array<Array<number | null>>): void {
    this.xsMs = xsMs;
    this.ys = ys;
    this.el.dataset.points = String(xsMs.length);
    this.empty.hidden = xsMs.length > 0;
    this.plot?.setData(this.data());
    if (this.opts.window) {
      const [a, b] = this.opts.window();
      this.el.dataset.windowFrom = String(a);
      this.el.dataset.windowTo = String(b);
    }
  }

  setMarkers(markers: Marker[]): void {
    this.markers = markers;
    this.el.dataset.markers = markers.map((m) => m.label).join(',');
    this.plot?.redraw(false, false);
  }

  setTitle(title: string): void {
    setText(this.el.querySelector('.chart-title')!, title);
  }

  toCsv(): string {
    const head = ['time', ...this.opts.series.map((s) => `${s.label} (${s.unit})`)];
    const rows = this.xsMs.map((t, i) => [new Date(t).toISOString(), ...this.ys.map((col, k) => (col[i] == null ? '' : col[i]!.toFixed(this.opts.series[k].digits + 2)))]);
    return [head, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
  }

  private download(): void {
    const blob = new Blob([this.toCsv()], { type: 'text/csv' });
    const a = h('a', { href: URL.createObjectURL(blob), download: `${this.opts.csvName()}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}

function lastOf(col: ArrayLike<number | null | undefined> | undefined): number | null {
  if (!col) return null;
  for (let i = col.length - 1; i >= 0; i--) if (col[i] != null) return col[i] as number;
  return null;
}

const pad = (n: number) => String(n).padStart(2, '0');

function fmtClock(sec: number | null): string {
  if (sec == null) return '—';
  const d = new Date(sec * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** 24-hour axis labels; the date appears when the window spans days. */
function timeLabels(splits: number[]): string[] {
  const span = splits.length > 1 ? splits[splits.length - 1] - splits[0] : 0;
  return splits.map((s) => {
    const d = new Date(s * 1000);
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (span > 36 * 3600) return `${d.getDate()}.${d.getMonth() + 1}. ${hm}`;
    return span < 600 ? `${hm}:${pad(d.getSeconds())}` : hm;
  });
}

function trim(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(3)));
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
