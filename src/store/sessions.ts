/**
 * Charge sessions and their phase timeline. Writes are rare (a phase change, a progress
 * update every few seconds), so they go straight to SQLite — each one committed on return,
 * which is what a resume after SIGKILL reads back.
 */
import type Database from 'better-sqlite3';
import { decodeCursor, encodeCursor } from './cursor.js';

export interface ChargeSessionRow {
  id: string;
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
}

export interface ChargePhaseRow {
  phase: string;
  startedAt: number;
  endedAt: number | null;
  reason: string | null;
}

type Raw = Omit<ChargeSessionRow, 'settings' | 'psuIds'> & { settings: string; psuIds: string };

const COLS = `id, charger_id AS chargerId, started_at AS startedAt, ended_at AS endedAt, outcome, reason,
  target_voltage_v AS targetVoltageV, charge_current_a AS chargeCurrentA, delivered_ah AS deliveredAh,
  delivered_wh AS deliveredWh, peak_current_a AS peakCurrentA, cc_to_cv_at AS ccToCvAt, charging_ms AS chargingMs,
  ramp_started_at AS rampStartedAt, soc_start_pct AS socStartPct, resumes, settings, psu_ids AS psuIds`;

const parse = (r: Raw | undefined): ChargeSessionRow | null =>
  r ? { ...r, settings: JSON.parse(r.settings) as Record<string, unknown>, psuIds: JSON.parse(r.psuIds) as string[] } : null;

/** Runs a write now or, while the store cannot write, keeps it for later (Store.write); never throws a write error. */
export type GuardedWrite = (where: string, run: () => void) => void;

export class ChargeSessionStore {
  /** `write` defaults to running the write directly (errors thrown); the engine passes Store.write. */
  constructor(
    private readonly db: Database.Database,
    private readonly write: GuardedWrite = (_where, run) => run(),
  ) {}

  create(s: Omit<ChargeSessionRow, 'endedAt' | 'outcome' | 'reason' | 'resumes'>): void {
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

  get(id: string): ChargeSessionRow | null {
    return parse(this.db.prepare(`SELECT ${COLS} FROM charge_sessions WHERE id = ?`).get(id) as Raw | undefined);
  }

  /** The session a crash left running (no end recorded), if any. */
  open(chargerId: string): ChargeSessionRow | null {
    return parse(
      this.db.prepare(`SELECT ${COLS} FROM charge_sessions WHERE charger_id = ? AND ended_at IS NULL ORDER BY started_at DESC LIMIT 1`).get(chargerId) as Raw | undefined,
    );
  }

  latest(chargerId: string): ChargeSessionRow | null {
    return parse(this.db.prepare(`SELECT ${COLS} FROM charge_sessions WHERE charger_id = ? ORDER BY started_at DESC LIMIT 1`).get(chargerId) as Raw | undefined);
  }

  phases(sessionId: string): ChargePhaseRow[] {
    return this.db
      .prepare('SELECT phase, started_at AS startedAt, ended_at AS endedAt, reason FROM charge_phases WHERE session_id = ? ORDER BY id')
      .all(sessionId) as ChargePhaseRow[];
  }

  /** Newest first, cursor = rowid. */
  list(
    f: { chargerId?: string; outcome?: string; from?: number; to?: number },
    first: number,
    after?: string | null,
  ): { items: ChargeSessionRow[]; cursors: string[]; endCursor: string | null; hasNextPage: boolean } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.chargerId) (where.push('charger_id = ?'), args.push(f.chargerId));
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
