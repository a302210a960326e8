/**
 * Charge sessions and their phase timeline. Writes are rare (a phase change, a progress
 * update every few seconds), so they go straight to SQLite — each one committed on return,
 * which is what a resume after SIGKILL reads back.
 */
import type Database from 'better-sqlite3';
import { decodeCursor, encodeCursor } from './cursor.js';
import type { EvSessionRecord } from '../engine/capabilities.js';

/** 'battery': a charger's pack charge; 'ev': an EVSE's vehicle (chargerId is the EVSE's device id). */
export type ChargeSessionKind = 'battery' | 'ev';

export interface ChargeSessionRow {
  id: string;
  kind: ChargeSessionKind;
  chargerId: string;
  startedAt: number;
  endedAt: number | null;
  outcome: string | null;
  reason: string | null;
  targetVoltageV: number;
  chargeCurrentA: number;
  deliveredAh: number;
  deliveredWh: number;
  peakCurrentA: number;
  ccToCvAt: number | null;
  chargingMs: number;
  rampStartedAt: number | null;
  socStartPct: number | null;
  resumes: number;
  settings: Record<string, unknown>;
  psuIds: string[];
  /** EV sessions: time-weighted average current while charging (null on battery sessions). */
  avgCurrentA: number | null;
  /** EV sessions: fault states entered, in order (empty on battery sessions). */
  faults: string[];
  /** EV sessions: resumes with reasons, and the family's state for a restart. */
  detail: { resumes?: Array<{ at: number; reason: string }>; state?: Record<string, unknown> } | null;
}

export interface ChargePhaseRow {
  phase: string;
  startedAt: number;
  endedAt: number | null;
  reason: string | null;
}

type Raw = Omit<ChargeSessionRow, 'settings' | 'psuIds' | 'faults' | 'detail'> & { settings: string; psuIds: string; faults: string | null; detail: string | null };

const COLS = `id, kind, charger_id AS chargerId, started_at AS startedAt, ended_at AS endedAt, outcome, reason,
  target_voltage_v AS targetVoltageV, charge_current_a AS chargeCurrentA, delivered_ah AS deliveredAh,
  delivered_wh AS deliveredWh, peak_current_a AS peakCurrentA, cc_to_cv_at AS ccToCvAt, charging_ms AS chargingMs,
  ramp_started_at AS rampStartedAt, soc_start_pct AS socStartPct, resumes, settings, psu_ids AS psuIds,
  avg_current_a AS avgCurrentA, faults, detail`;

const parse = (r: Raw | undefined): ChargeSessionRow | null =>
  r
    ? {
        ...r,
        settings: JSON.parse(r.settings) as Record<string, unknown>,
        psuIds: JSON.parse(r.psuIds) as string[],
        faults: r.faults ? (JSON.parse(r.faults) as string[]) : [],
        detail: r.detail ? (JSON.parse(r.detail) as ChargeSessionRow['detail']) : null,
      }
    : null;

/** How an EV session ended, in the battery sessions' words (the stop reason is kept as the reason). */
function evOutcome(stopReason: string | null): string | null {
  if (stopReason === null) return null;
  if (stopReason === 'sleep' || stopReason === 'disabled') return 'stopped';
  if (stopReason === 'board_reboot' || stopReason === 'board_counters_reset') return 'interrupted';
  return 'done';
}

/** The generic EV session of a stored row. */
export function evSessionOfRow(r: ChargeSessionRow): EvSessionRecord {
  return {
    id: r.id,
    deviceId: r.chargerId,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    energyWh: r.deliveredWh,
    chargingS: r.chargingMs / 1000,
    maxCurrentA: r.peakCurrentA,
    avgCurrentA: r.avgCurrentA ?? 0,
    stopReason: r.reason,
    faults: r.faults,
    resumes: r.detail?.resumes ?? [],
    state: r.detail?.state ?? {},
  };
}

/** Runs a write now or, while the store cannot write, keeps it for later (Store.write); never throws a write error. */
export type GuardedWrite = (where: string, run: () => void) => void;

export class ChargeSessionStore {
  /** `write` defaults to running the write directly (errors thrown); the engine passes Store.write. */
  constructor(
    private readonly db: Database.Database,
    private readonly write: GuardedWrite = (_where, run) => run(),
  ) {}

  create(s: Omit<ChargeSessionRow, 'endedAt' | 'outcome' | 'reason' | 'resumes' | 'kind' | 'avgCurrentA' | 'faults' | 'detail'>): void {
    this.write(`recording charge session ${s.id}`, () => this.db
      .prepare(
        `INSERT INTO charge_sessions (id, charger_id, started_at, target_voltage_v, charge_current_a, delivered_ah, delivered_wh,
          peak_current_a, cc_to_cv_at, charging_ms, ramp_started_at, soc_start_pct, resumes, settings, psu_ids)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
      )
      .run(s.id, s.chargerId, s.startedAt, s.targetVoltageV, s.chargeCurrentA, s.deliveredAh, s.deliveredWh, s.peakCurrentA, s.ccToCvAt, s.chargingMs, s.rampStartedAt, s.socStartPct, JSON.stringify(s.settings), JSON.stringify(s.psuIds)));
  }

  progress(id: string, p: { deliveredAh: number; deliveredWh: number; peakCurrentA: number; chargingMs: number; ccToCvAt: number | null; rampStartedAt: number | null; socStartPct: number | null; chargeCurrentA: number }): void {
    this.write(`recording progress of charge session ${id}`, () => this.db
      .prepare(
        `UPDATE charge_sessions SET delivered_ah = ?, delivered_wh = ?, peak_current_a = ?, charging_ms = ?, cc_to_cv_at = ?,
          ramp_started_at = ?, soc_start_pct = ?, charge_current_a = ? WHERE id = ?`,
      )
      .run(p.deliveredAh, p.deliveredWh, p.peakCurrentA, p.chargingMs, p.ccToCvAt, p.rampStartedAt, p.socStartPct, p.chargeCurrentA, id));
  }

  resumed(id: string): void {
    this.write(`recording the resume of charge session ${id}`, () => this.db.prepare('UPDATE charge_sessions SET resumes = resumes + 1 WHERE id = ?').run(id));
  }

  end(id: string, e: { endedAt: number; outcome: string; reason: string }): void {
    this.write(`recording the end of charge session ${id}`, () => this.db.transaction(() => {
      this.db.prepare('UPDATE charge_sessions SET ended_at = ?, outcome = ?, reason = ? WHERE id = ?').run(e.endedAt, e.outcome, e.reason, id);
      this.db.prepare('UPDATE charge_phases SET ended_at = ? WHERE session_id = ? AND ended_at IS NULL').run(e.endedAt, id);
    })());
  }

  /** Closes the open phase and opens the next one, in one transaction. */
  phase(sessionId: string, phase: string, at: number, reason: string | null): void {
    this.write(`recording a phase of charge session ${sessionId}`, () => this.db.transaction(() => {
      this.db.prepare('UPDATE charge_phases SET ended_at = ? WHERE session_id = ? AND ended_at IS NULL').run(at, sessionId);
      this.db.prepare('INSERT INTO charge_phases (session_id, phase, started_at, reason) VALUES (?, ?, ?, ?)').run(sessionId, phase, at, reason);
    })());
  }

  /** Writes an EV session as it is now (insert or update): one committed statement. */
  saveEv(s: EvSessionRecord): void {
    this.write(`recording EV charge session ${s.id}`, () =>
      this.db
        .prepare(
          `INSERT INTO charge_sessions (id, kind, charger_id, started_at, ended_at, outcome, reason, target_voltage_v, charge_current_a, delivered_ah,
             delivered_wh, peak_current_a, cc_to_cv_at, charging_ms, ramp_started_at, soc_start_pct, resumes, settings, psu_ids, avg_current_a, faults, detail)
           VALUES (?, 'ev', ?, ?, ?, ?, ?, 0, 0, 0, ?, ?, NULL, ?, NULL, NULL, ?, '{}', '[]', ?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET ended_at = excluded.ended_at, outcome = excluded.outcome, reason = excluded.reason,
             delivered_wh = excluded.delivered_wh, peak_current_a = excluded.peak_current_a, charging_ms = excluded.charging_ms,
             resumes = excluded.resumes, avg_current_a = excluded.avg_current_a, faults = excluded.faults, detail = excluded.detail`,
        )
        .run(
          s.id,
          s.deviceId,
          s.startedAt,
          s.endedAt,
          evOutcome(s.stopReason),
          s.stopReason,
          s.energyWh,
          s.maxCurrentA,
          Math.round(s.chargingS * 1000),
          s.resumes.length,
          s.avgCurrentA,
          JSON.stringify(s.faults),
          JSON.stringify({ resumes: s.resumes, state: s.state }),
        ),
    );
  }

  /** The EV session of a device that was running when the server stopped (no end recorded), if any. */
  openEv(deviceId: string): EvSessionRecord | null {
    const r = parse(
      this.db.prepare(`SELECT ${COLS} FROM charge_sessions WHERE kind = 'ev' AND charger_id = ? AND ended_at IS NULL ORDER BY started_at DESC LIMIT 1`).get(deviceId) as Raw | undefined,
    );
    return r ? evSessionOfRow(r) : null;
  }

  get(id: string): ChargeSessionRow | null {
    return parse(this.db.prepare(`SELECT ${COLS} FROM charge_sessions WHERE id = ?`).get(id) as Raw | undefined);
  }

  /** The session a crash left running (no end recorded), if any. */
  open(chargerId: string): ChargeSessionRow | null {
    return parse(
      this.db.prepare(`SELECT ${COLS} FROM charge_sessions WHERE kind = 'battery' AND charger_id = ? AND ended_at IS NULL ORDER BY started_at DESC LIMIT 1`).get(chargerId) as Raw | undefined,
    );
  }

  latest(chargerId: string): ChargeSessionRow | null {
    return parse(this.db.prepare(`SELECT ${COLS} FROM charge_sessions WHERE kind = 'battery' AND charger_id = ? ORDER BY started_at DESC LIMIT 1`).get(chargerId) as Raw | undefined);
  }

  phases(sessionId: string): ChargePhaseRow[] {
    return this.db
      .prepare('SELECT phase, started_at AS startedAt, ended_at AS endedAt, reason FROM charge_phases WHERE session_id = ? ORDER BY id')
      .all(sessionId) as ChargePhaseRow[];
  }

  /** Newest first, cursor = rowid. */
  list(
    f: { chargerId?: string; outcome?: string; from?: number; to?: number; kind?: ChargeSessionKind },
    first: number,
    after?: string | null,
  ): { items: ChargeSessionRow[]; cursors: string[]; endCursor: string | null; hasNextPage: boolean } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.chargerId) (where.push('charger_id = ?'), args.push(f.chargerId));
    if (f.kind) (where.push('kind = ?'), args.push(f.kind));
    if (f.outcome) (where.push('outcome = ?'), args.push(f.outcome));
    if (f.from !== undefined) (where.push('started_at >= ?'), args.push(f.from));
    if (f.to !== undefined) (where.push('started_at <= ?'), args.push(f.to));
    const afterRow = after ? decodeCursor(after) : null;
    if (afterRow !== null) (where.push('rowid < ?'), args.push(afterRow));
    const rows = this.db
      .prepare(`SELECT rowid AS _rowid, ${COLS} FROM charge_sessions ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY rowid DESC LIMIT ?`)
      .all(...args, first + 1) as Array<Raw & { _rowid: number }>;
    const page = rows.slice(0, first);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => {
        const { _rowid, ...rest } = r;
        void _rowid;
        return parse(rest)!;
      }),
      cursors: page.map((r) => encodeCursor(r._rowid)),
      endCursor: last ? encodeCursor(last._rowid) : null,
      hasNextPage: rows.length > first,
    };
  }
}
