/**
 * The PI18 family's tables (drizzle/schema.ts: inverter_profiles, inverter_audits; migration
 * 0012_pi18_profiles): saved profiles and the append-only audit of dry runs and applies.
 */
import { and, desc, eq, lt } from 'drizzle-orm';
import type { Store } from '../../store/store.js';
import { inverterAudits, inverterProfiles } from '../../../drizzle/schema.js';

export interface SavedProfile {
  name: string;
  yaml: string;
  savedBy: string;
  savedAt: number;
  createdAt: number;
}

export type AuditRow = typeof inverterAudits.$inferSelect;
export type NewAudit = Omit<typeof inverterAudits.$inferInsert, 'id'>;

export class Pi18Records {
  constructor(private readonly store: Store) {}

  saveProfile(p: Omit<SavedProfile, 'createdAt'>): SavedProfile {
    const existing = this.profile(p.name);
    const row: SavedProfile = { ...p, createdAt: existing?.createdAt ?? p.savedAt };
    this.store.orm
      .insert(inverterProfiles)
      .values(row)
      .onConflictDoUpdate({ target: inverterProfiles.name, set: { yaml: row.yaml, savedBy: row.savedBy, savedAt: row.savedAt } })
      .run();
    return row;
  }

  profile(name: string): SavedProfile | null {
    return this.store.orm.select().from(inverterProfiles).where(eq(inverterProfiles.name, name)).get() ?? null;
  }

  profiles(): SavedProfile[] {
    return this.store.orm.select().from(inverterProfiles).orderBy(inverterProfiles.name).all();
  }

  deleteProfile(name: string): boolean {
    return this.store.orm.delete(inverterProfiles).where(eq(inverterProfiles.name, name)).run().changes > 0;
  }

  /** Appends an audit record and answers it with its id (throws when the store cannot write: the caller refuses). */
  append(a: NewAudit): AuditRow {
    return this.store.orm.insert(inverterAudits).values(a).returning().get();
  }

  audit(id: number): AuditRow | null {
    return this.store.orm.select().from(inverterAudits).where(eq(inverterAudits.id, id)).get() ?? null;
  }

  /** Newest first; `before` pages back by id. */
  audits(opts: { deviceId?: string; action?: string; before?: number; limit?: number } = {}): AuditRow[] {
    const where = [
      opts.deviceId ? eq(inverterAudits.deviceId, opts.deviceId) : undefined,
      opts.action ? eq(inverterAudits.action, opts.action) : undefined,
      opts.before ? lt(inverterAudits.id, opts.before) : undefined,
    ].filter((x) => x !== undefined);
    return this.store.orm
      .select()
      .from(inverterAudits)
      .where(where.length ? and(...where) : undefined)
      .orderBy(desc(inverterAudits.id))
      .limit(Math.min(Math.max(opts.limit ?? 50, 1), 500))
      .all();
  }
}
