/**
 * GET /api/telemetry.csv?deviceId=…&from=…&to=…&resolution=raw|1m|1h|auto&maxPoints=…
 *
 * One device's telemetry over any window as CSV, streamed page by page (a year of minute
 * rollups or 90 days of raw samples never sit in memory, and the event loop is free between
 * pages). `from`/`to` are ISO dates or ms; the default window is the last hour. `auto` (the
 * default) picks what the telemetry query would for maxPoints (default 10,000). Raw rows have
 * one column per reading; rolled-up rows have samples and, per reading, _min _max _avg _last
 * _count. Needs the viewer role (a token on a server that requires one).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine } from '../engine/engine.js';
import { roleAtLeast, type Principal } from '../auth.js';
import type { Code } from '../codes.js';
import { DAY_MS, HOUR_MS } from '../store/rollups.js';

const PAGE = 5000;

type Fail = (status: number, code: Code, message: string) => void;

function parseTime(v: string | null, name: string, fail: Fail): number | null | undefined {
  if (v === null || v === '') return null;
  const n = /^-?\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) {
    fail(400, 'BAD_USER_INPUT', `${name} must be an ISO date (2026-01-31T12:00:00Z) or ms since 1970, got "${v.slice(0, 40)}"`);
    return undefined;
  }
  return n;
}

const cell = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

async function write(res: ServerResponse, chunk: string): Promise<void> {
  if (!res.write(chunk)) await new Promise<void>((r) => res.once('drain', () => r()));
  else await new Promise((r) => setImmediate(r));
}

export async function telemetryCsv(req: IncomingMessage, res: ServerResponse, engine: Engine, who: Principal, fail: Fail): Promise<void> {
  if (req.method !== 'GET') return fail(405, 'BAD_USER_INPUT', 'use GET for /api/telemetry.csv');
  if (who.role === null) return fail(401, 'UNAUTHENTICATED', 'this export needs a token: send "Authorization: Bearer <token>" (viewer role or above)');
  if (!roleAtLeast(who.role, 'viewer')) return fail(403, 'FORBIDDEN', "the token's role does not allow this export");
  const q = new URL(req.url ?? '/', 'http://x').searchParams;
  const deviceId = q.get('deviceId');
  if (!deviceId) return fail(400, 'BAD_USER_INPUT', 'name the device: /api/telemetry.csv?deviceId=<id>&from=<ISO date>&to=<ISO date>');
  const toQ = parseTime(q.get('to'), 'to', fail);
  const fromQ = parseTime(q.get('from'), 'from', fail);
  if (toQ === undefined || fromQ === undefined) return;
  const to = toQ ?? engine.clock.now();
  const from = fromQ ?? to - HOUR_MS;
  if (!(to > from)) return fail(400, 'BAD_USER_INPUT', '"to" must be after "from"');
  const res0 = q.get('resolution') ?? 'auto';
  if (!['auto', 'raw', '1m', '1h', '1d'].includes(res0)) return fail(400, 'BAD_USER_INPUT', `resolution must be raw, 1m, 1h, 1d or auto, got "${res0.slice(0, 20)}"`);
  const maxPoints = Math.max(2, Math.min(1_000_000, Number(q.get('maxPoints') ?? 10_000) || 10_000));
  const store = engine.store;
  const plan = res0 === 'auto' ? store.telemetryPlan(deviceId, from, to, maxPoints).resolution : (res0 as 'raw' | '1m' | '1h' | '1d');
  // The readings: every numeric one the hourly rollups saw in the window (cheap: one row an hour).
  const keys = new Set<string>();
  for (const h of store.rollups(deviceId, '1h', from, to)) for (const k of h.stats.keys()) keys.add(k);
  const safeName = deviceId.replace(/[^A-Za-z0-9._-]/g, '_');
  res.writeHead(200, {
    'content-type': 'text/csv; charset=utf-8',
    'content-disposition': `attachment; filename="${safeName}-${plan}.csv"`,
    'cache-control': 'no-store',
  });
  const iso = (ts: number) => new Date(ts).toISOString();
  if (plan === 'raw' || plan === 'raw-averaged') {
    if (plan === 'raw-averaged') {
      const rows = store.telemetry(deviceId, from, to, maxPoints);
      for (const r of rows) for (const k of Object.keys(r.values)) keys.add(k);
      const cols = [...keys].sort();
      await write(res, `at,ts_ms,device_id,${cols.map(cell).join(',')}\n`);
      for (let i = 0; i < rows.length; i += PAGE) {
        await write(res, rows.slice(i, i + PAGE).map((r) => [iso(r.ts), r.ts, cell(deviceId), ...cols.map((k) => cell(r.values[k]))].join(',')).join('\n') + '\n');
      }
      return void res.end();
    }
    let page = store.rawSamplesPage(deviceId, from, to, PAGE);
    for (const r of page) for (const k of Object.keys(r.values)) keys.add(k);
    const cols = [...keys].sort();
    await write(res, `at,ts_ms,device_id,${cols.map(cell).join(',')}\n`);
    while (page.length > 0 && !res.destroyed) {
      await write(res, page.map((r) => [iso(r.ts), r.ts, cell(deviceId), ...cols.map((k) => cell(r.values[k]))].join(',')).join('\n') + '\n');
      if (page.length < PAGE) break;
      const last = page[page.length - 1];
      page = store.rawSamplesPage(deviceId, from, to, PAGE, [last.ts, last.id]);
    }
    return void res.end();
  }
  const cols = [...keys].sort();
  const stat = ['min', 'max', 'avg', 'last', 'count'] as const;
  await write(res, `at,ts_ms,device_id,samples,${cols.flatMap((k) => stat.map((s) => cell(`${k}_${s}`))).join(',')}\n`);
  const width = plan === '1m' ? 60_000 : plan === '1d' ? DAY_MS : HOUR_MS;
  const span = PAGE * width;
  for (let t = from; t <= to && !res.destroyed; t += span) {
    const rows = store.rollups(deviceId, plan, t, Math.min(to, t + span - 1)).filter((r) => t === from || r.bucket >= t);
    if (rows.length === 0) continue;
    await write(
      res,
      rows
        .map((r) =>
          [
            iso(r.bucket),
            r.bucket,
            cell(deviceId),
            r.n,
            ...cols.flatMap((k) => {
              const s = r.stats.get(k);
              return s ? [s.min, s.max, s.sum / s.count, s.last, s.count].map(cell) : ['', '', '', '', ''];
            }),
          ].join(','),
        )
        .join('\n') + '\n',
    );
  }
  res.end();
}
