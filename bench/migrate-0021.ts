/**
 * How long migration 0021 (compact rows) takes on a store of the previous schema:
 * `npx tsx bench/migrate-0021.ts [rows]` (default 200,000 frames and as many samples) builds a
 * store with the migrations up to 0020 and rows of the old shape, then times Store.open (the SQL
 * migration: frames converted, samples copied) and the background rewrite of the samples' values,
 * and the file size before and after (VACUUM). Prints JSON; cleans up after itself.
 */
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../src/store/store.js';
import { canFrames, rigSamples } from './row-bytes.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));

export async function benchMigrate0021(rows: number): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'powerplane-migrate-0021-'));
  try {
    const migrations = path.join(dir, 'migrations');
    fs.cpSync(path.join(REPO, 'migrations'), migrations, { recursive: true });
    const journalPath = path.join(migrations, 'meta', '_journal.json');
    const journal = JSON.parse(fs.readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
    journal.entries = journal.entries.slice(0, journal.entries.findIndex((e) => e.tag === '0020_fleet_outbox') + 1);
    fs.writeFileSync(journalPath, JSON.stringify(journal));
    const file = path.join(dir, 'old.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    migrate(drizzle({ client: db }), { migrationsFolder: migrations });
    const f = db.prepare('INSERT INTO frames (ts, protocol, link, dir, address, bytes, text, kind, device_id, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const s = db.prepare('INSERT INTO samples (ts, device_id, "values") VALUES (?, ?, ?)');
    db.transaction(() => {
      for (const r of canFrames(rows)) f.run(r.ts, r.protocol, r.link, r.dir, r.address, r.bytes, r.text, r.kind, r.deviceId, r.meta ? JSON.stringify(r.meta) : null);
      for (const r of rigSamples(rows)) s.run(r.ts, r.deviceId, JSON.stringify(r.values));
    })();
    db.exec('VACUUM');
    db.close();
    const before = fs.statSync(file).size;

    let t0 = performance.now();
    const store = Store.open({ path: file, backfillRollups: false });
    const openMs = performance.now() - t0;
    t0 = performance.now();
    await store.compactLegacySamples();
    const rewriteMs = performance.now() - t0;
    store.close();
    const v = new Database(file);
    v.exec('VACUUM');
    v.close();
    const after = fs.statSync(file).size;
    return { frames: rows, samples: rows, migrateOpenMs: Math.round(openMs), samplesRewriteMs: Math.round(rewriteMs), fileBytesBefore: before, fileBytesAfter: after };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  console.log(JSON.stringify({ migrate0021: await benchMigrate0021(Number(process.argv[2] ?? 200_000)) }, null, 2));
}
